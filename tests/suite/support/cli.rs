//! The built `pbconnector` binary as users run it, against the sample tenant and company of the
//! simulators, with the manifests on disk.
use std::path::{Path, PathBuf};
use std::process::Output;

use pbconnector_simulators::sample::{SampleEnvironment, SampleOptions};

/// What one run of the binary left: its exit code and output.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `pbconnector args` with `env` set (and neither `RUST_LOG` nor `NO_COLOR` inherited).
pub async fn run(args: &[&str], env: &[(&str, &str)]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = tokio::process::Command::new(env!("CARGO_BIN_EXE_pbconnector"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .output()
        .await
        .expect("the pbconnector binary runs");
    Run {
        code: status.code().expect("exited normally"),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// The simulators with `users` members, and their manifests written to `contoso.yaml` in a
/// temporary directory (kept as long as the returned `TempDir`).
pub async fn sample(users: usize) -> (SampleEnvironment, tempfile::TempDir, PathBuf) {
    let env = SampleEnvironment::start(SampleOptions {
        users,
        ..SampleOptions::default()
    })
    .await
    .expect("simulators start");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("contoso.yaml");
    std::fs::write(&path, env.manifests("msp-contoso")).expect("write manifests");
    (env, dir, path)
}

/// A copy of the manifests at `path` with `from` replaced by `to`.
pub fn rewrite(path: &Path, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(path).expect("read manifests");
    assert!(text.contains(from), "{from:?} is in the manifests");
    let out = path.with_file_name(format!("edited-{}.yaml", uuid::Uuid::new_v4().simple()));
    std::fs::write(&out, text.replace(from, to)).expect("write manifests");
    out
}
