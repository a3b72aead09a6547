//! The shell commands the README shows, for the tests that run them: every command of a fenced
//! `sh`, `bash`, `shell` or `console` block (continuation lines joined, comments dropped, a
//! `$ ` prompt removed), in order. A test that runs a README command takes its text from here
//! with `command(marker)`, so a README change the test does not run fails it.

use std::path::PathBuf;

/// README.md at the repository's root.
pub fn path() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
}

/// Every shell command of `markdown`'s fenced shell blocks, whitespace collapsed.
pub fn commands_of(markdown: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut fence: Option<bool> = None;
    for line in markdown.replace("\\\n", " ").lines() {
        let trimmed = line.trim();
        if let Some(lang) = trimmed.strip_prefix("```") {
            fence = match fence {
                Some(_) => None,
                None => Some(matches!(lang.trim(), "sh" | "bash" | "shell" | "console")),
            };
            continue;
        }
        if fence == Some(true) {
            let line = trimmed.strip_prefix("$ ").unwrap_or(trimmed);
            let command = strip_comment(line);
            if !command.is_empty() {
                commands.push(command.split_whitespace().collect::<Vec<_>>().join(" "));
            }
        }
    }
    commands
}

/// Every shell command the README shows.
pub fn commands() -> Vec<String> {
    let readme = std::fs::read_to_string(path()).expect("README.md");
    commands_of(&readme)
}

/// The one README command that starts with `marker`; fails when there is none or several.
pub fn command(marker: &str) -> String {
    let found: Vec<String> = commands()
        .into_iter()
        .filter(|c| c.starts_with(marker))
        .collect();
    match found.as_slice() {
        [one] => one.clone(),
        [] => {
            panic!("the README shows no command starting with {marker:?}: update the test with it")
        }
        many => panic!("the README shows several commands starting with {marker:?}: {many:?}"),
    }
}

/// Drops a trailing `# comment` (outside quotes) and returns the trimmed command.
fn strip_comment(line: &str) -> String {
    let mut quote = None;
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if previous.is_whitespace() || i == 0 => {
                return line[..i].trim().to_owned();
            }
            _ => {}
        }
        previous = c;
    }
    line.trim().to_owned()
}
