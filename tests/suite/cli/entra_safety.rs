//! Issue 16 (safety), the Entra side, as users meet it: the built `pbconnector sync` against the
//! Graph and Password Boss simulators. A user is deprovisioned as deleted only when Graph says so
//! on a lookup; a lookup without evidence deprovisions nothing; one mirrored group that cannot be
//! read does not stop the rest. Some cases need the Graph state of a running connector (delta
//! reads, the group cache): they run `sync` without `--once` and watch one sync per interval.

use crate::support::cli;

use std::time::Duration;

use pbconnector::resources::{AzureAdConnectorStatus, Connection};
use pbconnector_simulators::graph::{Answer, PathKind};
use pbconnector_simulators::passwordboss::wire::{User, UserStatus};
use pbconnector_simulators::sample::SampleEnvironment;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

use cli::{Run, rewrite, sample};

fn status(run: &Run) -> AzureAdConnectorStatus {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "-o json prints the status object ({e}):\n{}\n{}",
            run.stdout, run.stderr
        )
    })
}

/// The Password Boss account of Entra user `id`, if it still exists.
fn account(env: &SampleEnvironment, id: &str) -> Option<User> {
    env.password_boss
        .users()
        .into_iter()
        .find(|u| u.external_id.as_deref() == Some(id))
}

/// `pbconnector sync -f FILE -o json` without `--once`: one status object per interval.
struct Looping {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Looping {
    fn start(file: &std::path::Path) -> Self {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pbconnector"))
            .args(["sync", "-f", file.to_str().unwrap(), "-o", "json"])
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("sync starts");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, lines }
    }

    /// The status printed by the next sync (pretty JSON: it ends with a `}` line).
    async fn next(&mut self) -> AzureAdConnectorStatus {
        let mut text = String::new();
        loop {
            let line = tokio::time::timeout(Duration::from_secs(40), self.lines.next_line())
                .await
                .expect("a sync within one interval")
                .expect("stdout readable")
                .unwrap_or_else(|| panic!("sync exited; printed so far:\n{text}"));
            text.push_str(&line);
            text.push('\n');
            if line == "}" {
                return serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("a status object ({e}):\n{text}"));
            }
        }
    }
}

impl Drop for Looping {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Replication lag: a member removed from the sync group and added back, whom the users delta
/// does not list yet, is no deleted user: with `userDeleted: Delete` its account stays.
#[tokio::test]
async fn a_rejoining_member_the_users_delta_misses_is_not_deleted() {
    let (env, _dir, file) = sample(20).await;
    let rules = rewrite(&file, "userDeleted: Disable", "userDeleted: Delete");
    let rules = rewrite(
        &rules,
        "userRemovedFromGroup: Disable",
        "userRemovedFromGroup: Ignore",
    );
    // A direct member of the sync group (every fifth comes through the nested group).
    let member = env.members[0].clone();
    let mut sync = Looping::start(&rules);
    let first = sync.next().await;
    assert_eq!(first.connection, Connection::Connected, "{}", first.message);
    assert!(account(&env, &member).is_some());

    env.tenant.remove_member(&env.sync_group_id, &member);
    let left = sync.next().await;
    assert_eq!(
        left.last_sync.deleted + left.last_sync.disabled,
        0,
        "{}",
        left.message
    );

    env.tenant.add_member(&env.sync_group_id, &member);
    env.graph.faults().lag_users_delta(&member, true);
    let back = sync.next().await;
    assert_eq!(back.connection, Connection::Connected, "{}", back.message);
    assert_eq!(back.last_sync.deleted, 0, "{}", back.message);
    let kept = account(&env, &member).expect("the account is not deleted");
    assert_eq!(kept.status, UserStatus::Active);
    assert!(
        env.graph.requests().in_batch(PathKind::User) >= 1,
        "the member was looked up"
    );
}

/// With rules that tell deleted from removed users apart, a lookup decides: soft- and
/// hard-deleted users follow `userDeleted` (the log says which, and until when a soft-deleted one
/// can be restored), a removed one `userRemovedFromGroup`. A lookup that gives no evidence (a 500,
/// a malformed answer) deprovisions nobody.
#[tokio::test]
async fn deleted_users_are_told_apart_by_lookup_and_a_failed_lookup_deprovisions_nothing() {
    let (env, _dir, file) = sample(20).await;
    let rules = rewrite(&file, "userDeleted: Disable", "userDeleted: Delete");
    // Deleted at once, not after the grace period (which has tests of its own).
    let rules = rewrite(&rules, "removalGracePeriod: 24h", "removalGracePeriod: 0s");
    let f = rules.to_str().unwrap();
    let first = cli::run(&["sync", "-f", f, "--once"], &[]).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    let (soft, hard, removed) = (&env.members[1], &env.members[2], &env.members[3]);
    env.tenant.soft_delete_user(soft);
    env.tenant.hard_delete_user(hard);
    env.tenant.remove_member(&env.sync_group_id, removed);

    for answer in [Answer::Status(500), Answer::Malformed] {
        env.graph.faults().answer_next(PathKind::User, 100, answer);
        let run = cli::run(&["sync", "-f", f, "--once", "-o", "json"], &[]).await;
        env.graph.faults().answer_next(PathKind::User, 0, answer);
        assert_eq!(run.code, 0, "{answer:?}: {}", run.stderr);
        let s = status(&run);
        assert!(
            s.message.contains("incomplete") && s.message.contains("nothing was deprovisioned"),
            "{answer:?}: {}",
            s.message
        );
        assert_eq!(s.last_sync.deleted + s.last_sync.disabled, 0, "{answer:?}");
        for id in [soft, hard, removed] {
            assert_eq!(account(&env, id).unwrap().status, UserStatus::Active);
        }
    }

    let run = cli::run(
        &[
            "sync",
            "-f",
            f,
            "--once",
            "-o",
            "json",
            "--log-level",
            "info",
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let s = status(&run);
    assert_eq!(s.last_sync.deleted, 2, "{}", s.message);
    assert_eq!(s.last_sync.disabled, 1, "{}", s.message);
    assert!(account(&env, soft).is_none() && account(&env, hard).is_none());
    assert_eq!(account(&env, removed).unwrap().status, UserStatus::Disabled);
    let logged = |id: &str, says: &str| {
        run.stderr
            .lines()
            .any(|l| l.contains(id) && l.contains(says))
    };
    assert!(
        logged(soft, "deleted in Entra (restorable until 20"),
        "{}",
        run.stderr
    );
    assert!(
        logged(hard, "deleted in Entra permanently"),
        "{}",
        run.stderr
    );
}

/// One mirrored group that does not exist: the users and the other groups still sync, the
/// group is a `GroupUnavailable` conflict naming it, and the exit code is that of a sync with
/// conflicts (0).
#[tokio::test]
async fn a_missing_mirrored_group_is_a_conflict_and_the_rest_still_syncs() {
    let (env, _dir, file) = sample(20).await;
    let missing = rewrite(&file, "displayName: HR", "displayName: Finance");
    let run = cli::run(
        &[
            "sync",
            "-f",
            missing.to_str().unwrap(),
            "--once",
            "-o",
            "json",
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let s = status(&run);
    assert_eq!(s.connection, Connection::Connected, "{}", s.message);
    // Every member, the guest and the no-mail user (as in cli_sync.rs).
    assert_eq!(
        s.last_sync.created + s.last_sync.adopted,
        22,
        "{}",
        s.message
    );
    assert_eq!(s.last_sync.groups_created, 2, "Engineering and Sales");
    for name in ["Engineering", "Sales"] {
        assert!(env.password_boss.group_by_name(name).is_some(), "{name}");
    }
    let unavailable: Vec<_> = s
        .conflicts
        .iter()
        .filter(|c| c.reason == "GroupUnavailable")
        .collect();
    assert_eq!(unavailable.len(), 1, "{:?}", s.conflicts);
    assert!(
        unavailable[0].message.contains("\"Finance\""),
        "{}",
        unavailable[0].message
    );
    assert_eq!(
        s.last_sync.conflicts, 3,
        "the two users sharing an email, and Finance"
    );
}

/// A mirrored group deleted and recreated under the same name while the connector runs: the
/// next sync resolves the name again and goes on (no restart), and the group ends up mirrored
/// from the new Entra group. (The old group's Password Boss group is deleted once
/// `removalGracePeriod` has passed, `0s` here; until then the new one's name is taken.)
#[tokio::test]
async fn a_mirrored_group_recreated_under_its_name_syncs_without_a_restart() {
    let (env, _dir, file) = sample(20).await;
    let file = rewrite(&file, "removalGracePeriod: 24h", "removalGracePeriod: 0s");
    let (_, old) = env.groups.iter().find(|(n, _)| n == "HR").unwrap().clone();
    let mut sync = Looping::start(&file);
    let first = sync.next().await;
    assert_eq!(first.connection, Connection::Connected, "{}", first.message);
    let hr = env.password_boss.group_by_name("HR").expect("HR mirrored");
    assert_eq!(hr.external_id.as_deref(), Some(old.as_str()));

    env.tenant.delete_group(&old);
    let new = env.tenant.add_group("HR");
    for id in env.members.iter().take(6) {
        env.tenant.add_member(&new, id);
    }
    let second = sync.next().await;
    assert_eq!(
        second.connection,
        Connection::Connected,
        "{}",
        second.message
    );
    assert!(
        !second
            .conflicts
            .iter()
            .any(|c| c.reason == "GroupUnavailable"),
        "{:?}",
        second.conflicts
    );
    // The old group's Password Boss group goes and the name is free for the new one on the
    // following sync (names freed by a plan are not reused in the same plan).
    let third = sync.next().await;
    assert_eq!(third.connection, Connection::Connected, "{}", third.message);
    let hr = env
        .password_boss
        .group_by_name("HR")
        .expect("HR mirrored again");
    assert_eq!(hr.external_id.as_deref(), Some(new.as_str()));
    assert_eq!(env.password_boss.members(&hr.id).unwrap().len(), 6);
}

/// An account managed by Azure AD for a user Graph does not know in this tenant (another
/// tenant's connector linked it) that holds a member's email: `OwnedByOther`, never re-linked to
/// the member, never deprovisioned.
#[tokio::test]
async fn an_account_linked_to_another_tenants_user_is_owned_by_other() {
    let (env, _dir, file) = sample(10).await;
    // A member the sample gives no Password Boss account of its own.
    let member = env.members[5].clone();
    let email = env.tenant.user(&member).unwrap().mail.unwrap();
    let foreign = "0f0f0f0f-0000-4000-8000-000000000001";
    env.password_boss
        .add_user(
            pbconnector_simulators::passwordboss::SeedUser::new(&email, "Other", "Tenant")
                .azure(foreign),
        )
        .unwrap();
    let run = cli::run(
        &["sync", "-f", file.to_str().unwrap(), "--once", "-o", "json"],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let s = status(&run);
    let conflict = s
        .conflicts
        .iter()
        .find(|c| c.email.as_deref() == Some(email.as_str()))
        .unwrap_or_else(|| panic!("a conflict for {email}: {:?}", s.conflicts));
    assert_eq!(conflict.reason, "OwnedByOther", "{}", conflict.message);
    assert!(conflict.message.contains(foreign), "{}", conflict.message);
    let kept = account(&env, foreign).expect("the account is still linked to its own user");
    assert_eq!(kept.status, UserStatus::Active, "never deprovisioned");
    assert!(account(&env, &member).is_none(), "never re-linked");
}
