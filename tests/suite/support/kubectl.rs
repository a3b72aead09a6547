//! The real kubectl 1.35 (`$KUBECTL`, else `<repo>/.tools/bin/kubectl`, installed by
//! scripts/install-test-tools.sh) as a client of one API server. Missing: the test fails.
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use tokio::io::AsyncWriteExt;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$KUBECTL`, else `<repo>/.tools/bin/kubectl`; missing fails the test.
pub fn find_kubectl() -> PathBuf {
    let path = std::env::var_os("KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".tools/bin/kubectl"));
    assert!(
        path.is_file(),
        "kubectl not found at {} (set KUBECTL or run scripts/install-test-tools.sh)",
        path.display()
    );
    path
}

/// kubectl with its own kubeconfig and discovery cache, run from the repository root.
pub struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    /// kubectl against the cluster of `kubeconfig`; the discovery cache sits next to it.
    pub fn new(bin: PathBuf, kubeconfig: &Path) -> Self {
        Self {
            bin,
            kubeconfig: kubeconfig.to_owned(),
            cache: kubeconfig.with_file_name("kubectl-cache"),
        }
    }

    /// The kubectl command, for tests that stream its output (`get -w`).
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.args(args)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .current_dir(repo())
            .env_remove("KUBECONFIG")
            .kill_on_drop(true);
        cmd
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .await
            .unwrap_or_else(|e| panic!("kubectl {args:?} could not run: {e}"))
    }

    /// Runs kubectl and returns stdout, failing the test when it fails.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!("$ kubectl {}\n{stdout}{stderr}", args.join(" "));
        assert!(
            out.status.success(),
            "kubectl {args:?} failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
            out.status
        );
        stdout
    }

    /// Runs kubectl with `input` on stdin, failing the test when it fails.
    pub async fn ok_stdin(&self, args: &[&str], input: &str) -> String {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl starts");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(input.as_bytes())
            .await
            .expect("stdin write");
        drop(stdin);
        let out = child.wait_with_output().await.expect("kubectl runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!("$ kubectl {} < input\n{stdout}{stderr}", args.join(" "));
        assert!(out.status.success(), "kubectl {args:?} failed: {stderr}");
        stdout
    }

    /// Runs kubectl expecting failure; returns stderr.
    pub async fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        eprintln!(
            "$ kubectl {} (expected to fail)\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !out.status.success(),
            "kubectl {args:?} should have failed; stdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}
