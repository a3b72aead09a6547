//! `pbconnector sync | plan | verify` as users run them: the built binary, real HTTP, the Graph and
//! Password Boss simulators, manifests on disk. One test per exit code (0, 1, 2, 3, 4).

use crate::support::cli;

use pbconnector::resources::{AzureAdConnectorStatus, Connection};
use pbconnector_simulators::passwordboss::wire::UserStatus;
use pbconnector_simulators::sample::SampleEnvironment;

use cli::{Run, rewrite, sample};

async fn pbconnector(args: &[&str]) -> Run {
    cli::run(args, &[]).await
}

fn status(run: &Run) -> AzureAdConnectorStatus {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "-o json prints the status object ({e}):\n{}\n{}",
            run.stdout, run.stderr
        )
    })
}

#[tokio::test]
async fn first_sync_of_2500_users_then_a_second_run_writes_nothing() {
    let (env, _dir, file) = sample(2_500).await;
    let f = file.to_str().unwrap();

    let first = pbconnector(&["sync", "-f", f, "--once", "-o", "json"]).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    let s = status(&first);
    assert_eq!(s.connection, Connection::Connected);
    // 2,500 members + guest + disabled + no-mail + two duplicates.
    assert_eq!(s.users.in_scope, 2_505);
    // Every member, the guest and the no-mail user; not the disabled user nor the duplicates.
    assert_eq!(s.users.active, 2_502);
    assert_eq!(s.last_sync.created + s.last_sync.adopted, 2_502);
    assert_eq!(
        s.last_sync.adopted, 1,
        "the portal user with a member's email is adopted"
    );
    assert_eq!(s.last_sync.groups_created, 3);
    assert_eq!(s.last_sync.conflicts, 2, "the two users sharing an email");
    assert_eq!(env.password_boss.azure_users().len(), 2_502);
    let company = s.company.as_ref().expect("status.company");
    assert_eq!(company.name, "Contoso");
    assert!(company.id.starts_with("c_"), "{company:?}");
    // Every write, none omitted (the controller's status keeps 100).
    let l = &s.last_sync;
    let applied =
        l.created + l.adopted + l.updated + l.enabled + l.groups_created + l.groups_updated;
    assert_eq!(l.actions.len() as u32, applied);
    assert!(l.actions.len() > pbconnector::resources::MAX_STATUS_ACTIONS);
    assert_eq!(l.actions_omitted, 0);
    assert!(
        l.actions
            .iter()
            .all(|a| a.outcome == pbconnector::resources::WriteOutcome::Applied),
        "{:?}",
        l.actions
            .iter()
            .find(|a| a.outcome != pbconnector::resources::WriteOutcome::Applied)
    );
    let adopted = l
        .actions
        .iter()
        .find(|a| a.action == "AdoptUser")
        .expect("the adoption");
    assert!(
        adopted.password_boss_id.is_some() && adopted.entra_id.is_some(),
        "{adopted:?}"
    );
    let ready = s
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert_eq!(ready.status, "True");

    let writes_before = env.password_boss.requests().writes();
    let second = pbconnector(&["sync", "-f", f, "--once"]).await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(second.stdout.contains("Connected"), "{}", second.stdout);
    assert_eq!(
        env.password_boss.requests().writes(),
        writes_before,
        "no Password Boss write"
    );
}

#[tokio::test]
async fn plan_changes_nothing_and_prints_the_actions() {
    let (env, _dir, file) = sample(20).await;
    let f = file.to_str().unwrap();
    let run = pbconnector(&["plan", "-f", f]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("CreateUser"), "{}", run.stdout);
    assert!(run.stdout.contains("nothing was written"), "{}", run.stdout);
    assert_eq!(env.password_boss.requests().writes(), 0);
    let json = pbconnector(&["plan", "-f", f, "-o", "json"]).await;
    let plan: pbconnector::plan::Plan = serde_json::from_str(&json.stdout).expect("plan JSON");
    assert_eq!(plan.counts.created + plan.counts.adopted, 22);
}

#[tokio::test]
async fn a_wrong_azure_secret_exits_3_and_writes_nothing() {
    let (env, _dir, file) = sample(10).await;
    let bad = rewrite(&file, &env.client_secret, "not-the-secret");
    let run = pbconnector(&["sync", "-f", bad.to_str().unwrap(), "--once", "-o", "json"]).await;
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let s = status(&run);
    assert_eq!(s.connection, Connection::Unauthorized);
    assert!(s.message.contains("7000215"), "{}", s.message);
    assert_eq!(env.password_boss.requests().writes(), 0);
    assert!(!run.stdout.contains("not-the-secret") && !run.stderr.contains("not-the-secret"));
}

#[tokio::test]
async fn a_refused_password_boss_token_exits_3() {
    let (env, _dir, file) = sample(10).await;
    let token = env.password_boss.token().to_string();
    let bad = rewrite(&file, &token, "revoked-token");
    let run = pbconnector(&["sync", "-f", bad.to_str().unwrap(), "--once", "-o", "json"]).await;
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let s = status(&run);
    assert_eq!(s.connection, Connection::Unauthorized);
    assert!(
        s.message.contains("Password Boss token was refused"),
        "{}",
        s.message
    );
    assert_eq!(env.password_boss.requests().writes(), 0);
}

/// Every Password Boss group with its members, sorted.
fn groups_with_members(env: &SampleEnvironment) -> Vec<(String, String, Vec<String>)> {
    let pb = &env.password_boss;
    let mut groups: Vec<_> = pb
        .groups()
        .into_iter()
        .map(|g| {
            let mut members = pb.members(&g.id).unwrap_or_default();
            members.sort();
            (g.id, g.name, members)
        })
        .collect();
    groups.sort();
    groups
}

#[tokio::test]
async fn an_emptied_sync_group_holds_every_destructive_change_until_its_token_approves() {
    // 48 members + the guest + the no-mail user = 50 managed accounts.
    let (env, _dir, file) = sample(48).await;
    let f = file.to_str().unwrap();
    let first = pbconnector(&["sync", "-f", f, "--once"]).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(env.password_boss.azure_users().len(), 50);
    let groups_before = groups_with_members(&env);
    let mirrored = groups_before.iter().filter(|g| !g.2.is_empty()).count();
    assert!(
        mirrored >= 3,
        "the mirrored groups have members: {groups_before:?}"
    );

    env.empty_sync_group();
    let blocked = pbconnector(&["sync", "-f", f, "--once", "-o", "json"]).await;
    assert_eq!(blocked.code, 4, "{}\n{}", blocked.stdout, blocked.stderr);
    let s = status(&blocked);
    assert_eq!(s.last_sync.blocked_deprovisions, 50);
    let held = s.blocked.clone().expect("status.blocked");
    assert_eq!(held.deprovisions, 50);
    assert_eq!(
        held.group_changes, 0,
        "the mirrored groups are kept, never deleted for emptiness; their members leave them \
         with their deprovisions: {held:?}"
    );
    assert_eq!(held.users.len(), 50);
    assert!(held.users.iter().all(|u| u.reason == "RemovedFromGroup"));
    let condition = s
        .conditions
        .iter()
        .find(|c| c.type_ == "DeprovisionBlocked")
        .expect("condition");
    assert_eq!(condition.status, "True");
    let disabled = |env: &SampleEnvironment| {
        env.password_boss
            .azure_users()
            .iter()
            .filter(|u| u.status == UserStatus::Disabled)
            .count()
    };
    assert_eq!(disabled(&env), 0, "nothing deprovisioned while blocked");
    assert_eq!(
        groups_with_members(&env),
        groups_before,
        "no group deleted or shrunk while held"
    );

    // The text output names the held users and the token.
    let text = pbconnector(&["plan", "-f", f]).await;
    assert_eq!(text.code, 4, "{}", text.stderr);
    assert!(text.stdout.contains(&held.approval), "{}", text.stdout);
    assert!(
        text.stdout
            .contains(&format!("held Disable {}", held.users[0].email)),
        "{}",
        text.stdout
    );

    // A count, or a token of another set, approves nothing, and says so.
    for wrong in ["50", "50-00000000"] {
        let run = pbconnector(&["sync", "-f", f, "--once", "--approve-deprovisions", wrong]).await;
        assert_eq!(
            run.code, 4,
            "{wrong}: an approval of another set does nothing"
        );
        assert!(
            run.stdout.contains("APPROVAL NOT USED") && run.stdout.contains("does not match"),
            "{}",
            run.stdout
        );
        assert_eq!(disabled(&env), 0);
        assert_eq!(groups_with_members(&env), groups_before);
    }

    let approved = pbconnector(&[
        "sync",
        "-f",
        f,
        "--once",
        "--approve-deprovisions",
        &held.approval,
    ])
    .await;
    assert_eq!(approved.code, 0, "{}\n{}", approved.stdout, approved.stderr);
    assert_eq!(disabled(&env), 50);
    let groups_after = groups_with_members(&env);
    assert_eq!(
        groups_after.len(),
        groups_before.len(),
        "emptied groups are kept: {groups_after:?}"
    );
}

#[tokio::test]
async fn a_sync_group_that_does_not_exist_exits_1_naming_it() {
    let (_env, _dir, file) = sample(5).await;
    let bad = rewrite(
        &file,
        "displayName: Password Boss Users",
        "displayName: Password Boss Userz",
    );
    let run = pbconnector(&["sync", "-f", bad.to_str().unwrap(), "--once", "-o", "json"]).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let s = status(&run);
    assert_eq!(s.connection, Connection::Error);
    assert!(s.message.contains("Password Boss Userz"), "{}", s.message);
}

#[tokio::test]
async fn a_malformed_manifest_exits_2_naming_the_file_and_field() {
    let (_env, _dir, file) = sample(5).await;
    let bad = rewrite(&file, "interval: 10s", "interval: 1s");
    let run = pbconnector(&["sync", "-f", bad.to_str().unwrap(), "--once"]).await;
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(bad.to_str().unwrap()), "{}", run.stderr);
    assert!(run.stderr.contains("spec.interval"), "{}", run.stderr);

    let yaml = rewrite(
        &file,
        "kind: AzureAdConnector",
        "kind: AzureAdConnector\n  - broken: [",
    );
    let run = pbconnector(&["plan", "-f", yaml.to_str().unwrap()]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("not valid YAML"), "{}", run.stderr);

    let missing = pbconnector(&["sync", "-f", "/nonexistent/contoso.yaml", "--once"]).await;
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("/nonexistent/contoso.yaml"));
}

#[tokio::test]
async fn a_missing_secret_is_a_usage_error_naming_the_secret_and_key() {
    let (_env, _dir, file) = sample(5).await;
    let bad = rewrite(&file, "key: token", "key: api-token");
    let run = pbconnector(&["sync", "-f", bad.to_str().unwrap(), "--once"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("secret `passwordboss` has no key `api-token`"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn verify_checks_each_side_on_its_own_line() {
    let (env, _dir, file) = sample(5).await;
    let ok = pbconnector(&["verify", "-f", file.to_str().unwrap()]).await;
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    for line in [
        "✓ Entra ID: token",
        "✓ Sync group",
        "✓ Group",
        "✓ Members readable",
        "✓ Password Boss: token accepted",
        "✓ Licences:",
    ] {
        assert!(ok.stdout.contains(line), "{line:?} in\n{}", ok.stdout);
    }
    let bad = rewrite(&file, &env.client_secret, "wrong");
    let run = pbconnector(&["verify", "-f", bad.to_str().unwrap()]).await;
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert!(
        run.stdout.contains("✗ Entra ID") && run.stdout.contains("7000215"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("✓ Password Boss"), "{}", run.stdout);
}

#[tokio::test]
async fn without_once_sync_loops_until_interrupted_then_exits_cleanly() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let (env, _dir, file) = sample(5).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pbconnector"))
        .args(["sync", "-f", file.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("sync starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await
        .expect("a first sync is reported")
        .unwrap()
        .unwrap_or_default();
    assert!(first.contains("Connected"), "{first}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running, waiting for the next interval"
    );
    let pid = child.id().unwrap().to_string();
    assert!(
        tokio::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .await
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
        .await
        .expect("exits after Ctrl-C")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(env.password_boss.azure_users().len(), 7);
}
