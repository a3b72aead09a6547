//! Manifests are read within bounds: a huge file is refused without being read, deep nesting
//! is refused at once, and a connector with thousands of errors gets a short message.

use pbconnector::cli::manifest::{ManifestError, load};
use pbconnector::cli::manifest_yaml::MAX_MANIFEST_BYTES;

fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn a_223_mb_manifest_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("huge.yaml");
    // Sparse: 223 MB long, no data written, nothing to read quickly if it were read.
    std::fs::File::create(&path)
        .and_then(|f| f.set_len(223_000_000))
        .expect("sparse file");
    let err = load(&[path]).unwrap_err();
    assert!(matches!(err, ManifestError::Yaml { .. }), "{err}");
    assert!(
        err.to_string().contains(&MAX_MANIFEST_BYTES.to_string()),
        "{err}"
    );
}

#[test]
fn a_200_kb_deeply_nested_manifest_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let flow = format!(
        "kind: Secret\ndata: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let block: String = (0..440).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    for (name, text) in [("flow.yaml", flow), ("block.yaml", block)] {
        assert!(text.len() >= 95_000, "{name}: {} bytes", text.len());
        let path = file(&dir, name, &text);
        let err = load(&[path]).unwrap_err().to_string();
        assert!(err.contains("too deeply nested"), "{err}");
        // At once: refused where the nesting passed the limit, in the file's first 1 %, not
        // after parsing the rest.
        let at = refused_at(&text, &err);
        assert!(
            at < text.len() / 100,
            "{name}: refused at byte {at} of {}: {err}",
            text.len()
        );
    }
}

/// The byte offset in `text` of the error's "at line L, column C" (both from 1).
fn refused_at(text: &str, err: &str) -> usize {
    let position = err
        .split_once(" at line ")
        .and_then(|(_, rest)| rest.split_once(':'))
        .and_then(|(position, _)| position.split_once(", column "))
        .unwrap_or_else(|| panic!("no line and column in: {err}"));
    let line: usize = position.0.parse().expect("a line number");
    let column: usize = position.1.parse().expect("a column number");
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum();
    line_start + column - 1
}

#[test]
fn ten_thousand_invalid_groups_make_a_short_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let groups: String = (0..10_000)
        .map(|i| format!("    - {{displayName: g{i}, bogus: 1}}\n"))
        .collect();
    let text = format!(
        "apiVersion: passwordboss.com/v1alpha1\nkind: AzureAdConnector\nmetadata: {{name: c}}\n\
         spec:\n  azure:\n    tenantId: contoso.onmicrosoft.com\n    \
         clientId: 00000000-0000-0000-0000-000000000000\n    \
         clientSecretRef: {{name: s, key: k}}\n  passwordBoss:\n    \
         tokenSecretRef: {{name: p, key: t}}\n  syncGroup: {{displayName: Users}}\n  groups:\n{groups}"
    );
    let path = file(&dir, "groups.yaml", &text);
    let err = load(&[path]).unwrap_err().to_string();
    assert!(err.contains("… and "), "{err}");
    assert!(err.len() < 8_000, "{} bytes", err.len());
}
