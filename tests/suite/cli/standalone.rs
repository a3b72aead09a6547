//! The standalone command line as cron jobs and scripts run it, through the built binary against
//! the simulators: credentials from the environment and standard input (no Secret in any file),
//! `spec.suspend` honoured, the safety record kept between `--once` runs in a state file
//! (written before the first destructive write, failing closed, locked against an overlapping
//! run, taking precedence over the manifest's status), and an example in every `--help`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::support::cli::{self, Run, rewrite, sample};
use pbconnector_simulators::passwordboss::wire::UserStatus;
use pbconnector_simulators::sample::SampleEnvironment;

/// Runs `pbconnector args` with `env` set and `stdin` written to its standard input.
async fn run_with_stdin(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pbconnector"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the pbconnector binary runs");
    let mut input = child.stdin.take().expect("piped");
    input.write_all(stdin.as_bytes()).await.expect("stdin");
    drop(input);
    let out = child.wait_with_output().await.expect("exit status");
    Run {
        code: out.status.code().expect("exited normally"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The connector alone (JSON is YAML), no Secret beside it.
fn connector_only(env: &SampleEnvironment, dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("contoso-connector.yaml");
    let text = serde_json::to_string_pretty(&env.connector_json("msp-contoso")).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn credentials_come_from_the_environment_and_stdin_never_from_a_file() {
    let (env, dir, _) = sample(5).await;
    let file = connector_only(&env, dir.path());
    let f = file.to_str().unwrap();
    let secret = env.client_secret.clone();
    let token = env.password_boss.token().to_owned();

    // Without them: exit 2, saying how to give them.
    let missing = cli::run(&["sync", "-f", f, "--once"], &[]).await;
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("--secret-from-env"),
        "{}",
        missing.stderr
    );
    // A variable that is not set is named, and nothing is sent.
    let unset = cli::run(
        &[
            "sync",
            "-f",
            f,
            "--once",
            "--secret-from-env",
            "entra-app/client-secret=NOT_EXPORTED",
        ],
        &[],
    )
    .await;
    assert_eq!(unset.code, 2, "{}", unset.stderr);
    assert!(
        unset.stderr.contains("NOT_EXPORTED is not set"),
        "{}",
        unset.stderr
    );
    assert_eq!(env.password_boss.requests().total(), 0);

    let args = [
        "sync",
        "-f",
        f,
        "--once",
        "--secret-from-env",
        "entra-app/client-secret=ENTRA_CLIENT_SECRET",
        "--secret-from-stdin",
        "passwordboss/token",
    ];
    let run = run_with_stdin(
        &args,
        &[("ENTRA_CLIENT_SECRET", &secret)],
        &format!("{token}\n"),
    )
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(env.password_boss.azure_users().len(), 7, "{}", run.stdout);
    for out in [&run.stdout, &run.stderr] {
        assert!(!out.contains(&secret) && !out.contains(&token), "{out}");
    }

    // verify takes them the same way.
    let verify = run_with_stdin(
        &[
            "verify",
            "-f",
            f,
            "--secret-from-env",
            "entra-app/client-secret=ENTRA_CLIENT_SECRET",
            "--secret-from-stdin",
            "passwordboss/token",
        ],
        &[("ENTRA_CLIENT_SECRET", &secret)],
        &token,
    )
    .await;
    assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
}

#[tokio::test]
async fn a_suspended_connector_does_not_sync_and_says_so() {
    let (env, _dir, file) = sample(5).await;
    let suspended = rewrite(&file, "suspend: false", "suspend: true");
    let run = cli::run(&["sync", "-f", suspended.to_str().unwrap(), "--once"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("suspended (spec.suspend is true)"),
        "{}",
        run.stdout
    );
    let json = cli::run(
        &["sync", "-f", suspended.to_str().unwrap(), "-o", "json"],
        &[],
    )
    .await;
    assert_eq!(json.code, 0, "a loop exits too: {}", json.stderr);
    let status: pbconnector::resources::AzureAdConnectorStatus =
        serde_json::from_str(&json.stdout).expect("the status object");
    assert!(
        status.message.starts_with("Suspended"),
        "{}",
        status.message
    );
    assert_eq!(env.password_boss.requests().total(), 0);
    assert_eq!(
        env.graph.requests().total_http(),
        0,
        "nothing is read either"
    );
}

fn state(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("the state file")).expect("JSON")
}

fn spent(path: &std::path::Path) -> u64 {
    state(path)["safety"]["spent"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["changes"].as_u64().unwrap())
        .sum()
}

/// Takes the regular members `range` out of the sync group (none through the nested group).
fn remove(env: &SampleEnvironment, members: impl IntoIterator<Item = usize>) {
    for i in members {
        assert_ne!(i % 5, 4, "member {i} is in the nested group");
        env.tenant
            .remove_member(&env.sync_group_id, &env.members[i]);
    }
}

#[tokio::test]
async fn once_runs_keep_the_safety_record_in_a_locked_state_file() {
    let (env, dir, file) = sample(30).await;
    let f = file.to_str().unwrap();
    let state_file = dir.path().join("contoso.state.json");
    let s = state_file.to_str().unwrap();
    let once = ["sync", "-f", f, "--once", "--state-file", s];

    let first = cli::run(&once, &[]).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(state(&state_file)["connector"], "msp-contoso/contoso");
    assert_eq!(
        state(&state_file)["safety"]["ownedGroups"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );

    // Four leave. The record is in the file before the first destructive write: with the
    // writes held at the server, the file already counts them; an overlapping run is refused.
    remove(&env, [0, 1, 2, 3]);
    env.password_boss.faults().hold_writes();
    let second = tokio::spawn({
        let once: Vec<String> = once.iter().map(|a| (*a).to_owned()).collect();
        async move {
            let args: Vec<&str> = once.iter().map(String::as_str).collect();
            cli::run(&args, &[]).await
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while env.password_boss.faults().writes_waiting() == 0 {
        assert!(Instant::now() < deadline, "the second run never wrote");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(spent(&state_file), 4, "{}", state(&state_file));
    let overlapping = cli::run(&once, &[]).await;
    assert_eq!(overlapping.code, 1, "{}", overlapping.stderr);
    assert!(
        overlapping.stderr.contains("holds this state file's lock"),
        "{}",
        overlapping.stderr
    );
    env.password_boss.faults().release_writes();
    let second = second.await.unwrap();
    assert_eq!(second.code, 0, "{}", second.stderr);
    let disabled = || {
        env.password_boss
            .azure_users()
            .iter()
            .filter(|u| u.status == UserStatus::Disabled)
            .count()
    };
    assert_eq!(disabled(), 4);

    // Four more: within the limits on their own, over them with the four of the window
    // (8 of 32 > 20%). Without the state file each run forgets the window.
    remove(&env, [5, 6, 7, 8]);
    let forgetful = cli::run(&["plan", "-f", f], &[]).await;
    assert_eq!(forgetful.code, 0, "{}", forgetful.stdout);
    let held = cli::run(&once, &[]).await;
    assert_eq!(held.code, 4, "{}\n{}", held.stdout, held.stderr);
    assert!(
        held.stdout.contains("maxDeprovisionPercent"),
        "{}",
        held.stdout
    );
    assert_eq!(disabled(), 4);

    // The state file takes precedence over a status in the manifest (here one that never
    // spent anything).
    let with_status = dir.path().join("with-status.yaml");
    let mut text = std::fs::read_to_string(&file).unwrap();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("status:\n  safety:\n    approvalsUsed: [\"0-00000000\"]\n");
    std::fs::write(&with_status, text).unwrap();
    let w = with_status.to_str().unwrap();
    let still_held = cli::run(&["sync", "-f", w, "--once", "--state-file", s], &[]).await;
    assert_eq!(still_held.code, 4, "{}", still_held.stdout);
    let from_status = cli::run(&["plan", "-f", w], &[]).await;
    assert_eq!(from_status.code, 0, "{}", from_status.stdout);

    // Failing closed: a state file that cannot be read stops the run before any write.
    std::fs::write(&state_file, "{not json").unwrap();
    let writes = env.password_boss.requests().writes();
    let broken = cli::run(&once, &[]).await;
    assert_eq!(broken.code, 1, "{}", broken.stderr);
    assert!(
        broken.stderr.contains("not a pbconnector state file"),
        "{}",
        broken.stderr
    );
    assert_eq!(env.password_boss.requests().writes(), writes);
    assert_eq!(disabled(), 4);
}

#[tokio::test]
async fn every_help_has_examples() {
    let mut commands = vec![
        vec!["--help"],
        vec!["run", "--help"],
        vec!["crd", "--help"],
        vec!["sync", "--help"],
        vec!["plan", "--help"],
        vec!["verify", "--help"],
    ];
    if cfg!(feature = "demo") {
        commands.push(vec!["demo", "--help"]);
    }
    for args in commands {
        let help = cli::run(&args, &[]).await;
        assert_eq!(help.code, 0, "{args:?}: {}", help.stderr);
        assert!(
            help.stdout.contains("Examples:\n  "),
            "{args:?}:\n{}",
            help.stdout
        );
    }
}
