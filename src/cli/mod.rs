//! The command line: argument parsing, manifest loading and output; no sync logic.

pub mod manifest;
pub mod output;
