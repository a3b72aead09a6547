//! `pbconnector sync` (looping) stops promptly on SIGTERM or SIGINT, even while a sync waits on
//! a server that never answers.

use std::process::Stdio;
use std::time::{Duration, Instant};

use pbconnector_simulators::hostile::Hostile;
use pbconnector_simulators::sample::{SampleEnvironment, SampleOptions};

async fn stops_mid_sync_on(signal: &str) {
    let env = SampleEnvironment::start(SampleOptions {
        users: 3,
        ..SampleOptions::default()
    })
    .await
    .expect("simulators start");
    env.password_boss
        .faults()
        .set_hostile(Some(Hostile::NeverAnswer));
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("contoso.yaml");
    std::fs::write(&file, env.manifests("msp-contoso")).expect("write manifests");
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pbconnector"))
        .args(["sync", "-f"])
        .arg(&file)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("pbconnector sync starts");
    // Mid-sync: the Password Boss read has reached the server, which never answers.
    let deadline = Instant::now() + Duration::from_secs(30);
    while env.password_boss.requests().reads() == 0 {
        assert!(
            Instant::now() < deadline,
            "the sync never reached Password Boss"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.id().expect("running").to_string();
    let sent = std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("pbconnector sync ignored {signal} mid-sync"))
        .expect("exit status");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_eq!(env.password_boss.requests().writes(), 0);
}

#[tokio::test]
async fn sigterm_stops_a_sync_in_flight() {
    stops_mid_sync_on("-TERM").await;
}

#[tokio::test]
async fn sigint_stops_a_sync_in_flight() {
    stops_mid_sync_on("-INT").await;
}
