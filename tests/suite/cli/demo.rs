//! `pbconnector demo` shows a first sync and then the scripted Entra changes being applied;
//! `pbconnector demo --serve` serves simulators that `verify`/`sync` can be pointed at.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_pbconnector");

/// The README's first command, `cargo run --release -- demo`: the binary with the arguments after
/// `--` (and a shorter run).
fn readme_demo_args() -> Vec<String> {
    let command = crate::support::readme::command("cargo run --release -- demo");
    let (_, args) = command.split_once(" -- ").expect("cargo run … -- ARGS");
    args.split_whitespace().map(str::to_owned).collect()
}

#[tokio::test]
async fn demo_creates_users_then_applies_the_scripted_changes() {
    let out = tokio::process::Command::new(BIN)
        .args(readme_demo_args())
        .args(["--users", "40", "--interval", "1s", "--syncs", "4"])
        .output()
        .await
        .expect("demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sync = |n: u32| {
        let start = stdout
            .find(&format!("sync #{n} "))
            .unwrap_or_else(|| panic!("sync #{n} in\n{stdout}"));
        let end = stdout[start..]
            .find("\n[")
            .map_or(stdout.len(), |e| start + e);
        stdout[start..end].to_string()
    };
    assert!(
        sync(1).contains("full read") && sync(1).contains("41 created, 1 adopted"),
        "{}",
        sync(1)
    );
    assert!(stdout.contains("Entra changes:"), "{stdout}");
    let second = sync(2);
    for expected in [
        "1 created",
        "1 updated",
        "2 disabled",
        "CreateUser",
        "last name → Liskov-Hopper",
        "(disabled in Entra)",
        "(removed from the sync group)",
    ] {
        assert!(
            second.contains(expected),
            "{expected:?} in sync #2:\n{second}"
        );
    }
    let third = sync(3);
    assert!(
        third.contains("re-enable") && third.contains("rename → Sales & Marketing"),
        "{third}"
    );
    let idle = sync(4);
    assert!(
        idle.contains("1 Graph requests") && idle.contains("(0 writes)"),
        "{idle}"
    );
}

#[tokio::test]
async fn demo_serve_prints_manifests_that_verify_and_sync_accept() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("contoso.yaml");
    let mut serve = tokio::process::Command::new(BIN)
        .args(["demo", "--serve", "--users", "10", "--write-manifests"])
        .arg(&manifests)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("demo --serve starts");
    let mut lines = BufReader::new(serve.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("Serving until Ctrl-C") {
                return true;
            }
        }
        false
    })
    .await
    .expect("demo --serve reports that it serves");
    assert!(ready);
    let f = manifests.to_str().unwrap();
    let verify = tokio::process::Command::new(BIN)
        .args(["verify", "-f", f])
        .output()
        .await
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let sync = tokio::process::Command::new(BIN)
        .args(["sync", "-f", f, "--once"])
        .output()
        .await
        .unwrap();
    assert!(
        sync.status.success(),
        "{}",
        String::from_utf8_lossy(&sync.stdout)
    );
    assert!(String::from_utf8_lossy(&sync.stdout).contains("11 created, 0 updated"));

    // Ctrl-C ends it cleanly.
    let pid = serve.id().expect("running").to_string();
    let kill = tokio::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(10), serve.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}
