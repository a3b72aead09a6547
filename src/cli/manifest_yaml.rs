//! Reading manifest files as YAML documents, within bounds: the file size is checked before
//! anything is read, and the parser refuses deep nesting, too many nodes or documents, and alias
//! storms as soon as it meets them (serde-saphyr's budget). Parse errors name the line and
//! column only: the text there may be a Secret's value.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

/// The largest manifest file read: 4 MiB (a connector and its Secrets take a few KiB).
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
/// The deepest nesting of mappings and sequences accepted (a connector needs about 6).
pub const MAX_MANIFEST_DEPTH: usize = 32;
/// At most this many YAML documents in one file.
pub const MAX_MANIFEST_DOCUMENTS: usize = 256;
/// At most this many YAML nodes in one file.
pub const MAX_MANIFEST_NODES: usize = 100_000;

/// Why a file's documents could not be read.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "larger than the {MAX_MANIFEST_BYTES}-byte limit for manifests; pass only the connector and its Secrets"
    )]
    TooLarge,
    #[error("not UTF-8 text")]
    NotText,
    #[error("not valid YAML{at}: {what}")]
    Invalid { at: String, what: String },
}

/// The documents of the YAML file at `path`, empty ones left out.
pub fn read_documents(path: &Path) -> Result<Vec<Value>, YamlError> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.len() > MAX_MANIFEST_BYTES {
        return Err(YamlError::TooLarge);
    }
    // Not every file has a length (a pipe, /dev/zero): read one byte past the limit at most.
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(YamlError::TooLarge);
    }
    let text = String::from_utf8(bytes).map_err(|_| YamlError::NotText)?;
    parse_documents(&text)
}

/// The documents of `text`, empty ones left out.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, YamlError> {
    serde_saphyr::from_multiple_with_options::<Value>(text, options()).map_err(|e| invalid(&e))
}

fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_MANIFEST_DEPTH;
    budget.max_documents = MAX_MANIFEST_DOCUMENTS;
    budget.max_nodes = MAX_MANIFEST_NODES;
    budget.max_total_scalar_bytes = MAX_MANIFEST_BYTES as usize;
    budget.max_reader_input_bytes = Some(MAX_MANIFEST_BYTES as usize);
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.with_snippet = false;
    // As before (YAML 1.2): only true and false are booleans, `y` or `no` stay strings.
    options.strict_booleans = true;
    options
}

fn invalid(e: &serde_saphyr::Error) -> YamlError {
    let at = e
        .location()
        .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
        .unwrap_or_default();
    let limits = format!(
        "limits: depth {MAX_MANIFEST_DEPTH}, {MAX_MANIFEST_NODES} nodes, \
         {MAX_MANIFEST_DOCUMENTS} documents"
    );
    let what = match e {
        serde_saphyr::Error::Budget { breach, .. } => {
            format!("it is too large or too deeply nested ({breach:?}; {limits})")
        }
        // The scanner's own limit on nested flow collections ([[[…]]]); a fixed message.
        e if e.to_string().contains("recursion limit exceeded") => {
            format!("it is too deeply nested ({limits})")
        }
        // The parser's message may quote the text at the error, which may be a secret.
        _ => "fix the syntax there (the text is not shown: it may hold a secret)".to_owned(),
    };
    YamlError::Invalid { at, what }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_read_and_empty_ones_skipped() {
        let docs = parse_documents("a: 1\n---\n---\nb: [x, y]\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["b"][1], "y");
    }

    #[test]
    fn deep_nesting_is_refused_by_the_budget() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let err = parse_documents(&deep).unwrap_err();
        assert!(err.to_string().contains("too deeply nested"), "{err}");
        let block: String = (0..200).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
        let err = parse_documents(&block).unwrap_err();
        assert!(err.to_string().contains("too deeply nested"), "{err}");
    }

    #[test]
    fn syntax_errors_show_no_text_from_the_file() {
        let err = parse_documents("token: \"hunter2-secret\n  bad: [\n").unwrap_err();
        let shown = err.to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("line"), "{shown}");
    }
}
