//! The Password Boss state a connector keeps between syncs is what it read, never edited to
//! follow its own writes: a sync that wrote (or may have) makes the next one read Password Boss
//! afresh; a sync that changed nothing keeps it, and a sync that changes nothing then sends one
//! Graph request and no Password Boss request. A change in the portal is seen at the next full
//! read; what cannot be undone is decided on a fresh read.

use pbconnector::passwordboss::{PasswordBossClient, PasswordBossConfig};
use pbconnector::plan::DirectoryState;
use pbconnector::resources::AzureAdConnectorSpec;
use pbconnector::resources::LeaveRule;
use pbconnector::sync::report::SyncReport;
use pbconnector::sync::status::failure::FailureReason;
use pbconnector_simulators::graph::{Answer, PathKind};

/// The state in a canonical order.
fn canonical(mut state: DirectoryState) -> DirectoryState {
    state.users.sort_by(|a, b| a.id.cmp(&b.id));
    state.groups.sort_by(|a, b| a.id.cmp(&b.id));
    state
}

use crate::support::sync_run;

use sync_run::Run;

impl Run {
    async fn fresh(&self) -> DirectoryState {
        let client = PasswordBossClient::new(PasswordBossConfig::new(
            self.env.password_boss.url(),
            self.env.password_boss.token(),
        ))
        .unwrap();
        canonical(client.read_state().await.unwrap())
    }

    /// A connector of `users` members synced twice: its Password Boss state is kept, and the
    /// joiner it will be given next (not a member yet) with that joiner's email.
    async fn kept_with_a_joiner(users: usize) -> (Self, String, String) {
        let mut run = Run::start(users).await;
        run.sync().await;
        run.sync().await;
        assert!(run.state.kept_directory().is_some());
        let joiner = run.env.outsiders[0].clone();
        let email = run.env.tenant.user(&joiner).unwrap().mail.unwrap();
        (run, joiner, email)
    }

    /// The kept state was dropped (`why`): the next sync reads Password Boss in full, and what
    /// it keeps then, if it wrote nothing, is what a fresh read finds.
    async fn assert_next_sync_reads_afresh(&mut self, why: &str) {
        assert!(self.state.kept_directory().is_none(), "{why}");
        let next = self.sync().await;
        let reads = next.password_boss_requests - next.password_boss_writes;
        assert!(reads >= 3, "read in full: {next:?}");
        if next.password_boss_writes == 0 {
            self.assert_kept_is_fresh("after the re-read").await;
        } else {
            assert!(
                self.state.kept_directory().is_none(),
                "the re-reading sync wrote: dropped again"
            );
        }
    }

    async fn assert_kept_is_fresh(&self, what: &str) {
        let kept = canonical(self.state.kept_directory().expect("a kept state").clone());
        assert_eq!(kept, self.fresh().await, "{what}");
    }
}

/// After every kind of write (creates, adoptions, group creates, renames, disables, membership
/// changes, enables, removals, deletes, group deletes), the next sync reads Password Boss
/// afresh; a sync that writes nothing keeps what it read, and the sync after it sends no
/// Password Boss request.
#[tokio::test]
async fn every_sync_that_wrote_is_followed_by_a_fresh_read() {
    let mut run = Run::start(40).await;
    let spec: &mut AzureAdConnectorSpec = &mut run.spec;
    spec.safety.max_deprovisions_per_sync = 1_000;
    spec.safety.max_deprovision_percent = 100;
    spec.safety.removal_grace_period = "0s".into();
    let first = run.sync().await;
    assert!(first.applied.created > 0 && first.applied.groups_created > 0);
    assert!(
        first.applied.adopted > 0,
        "the sample has a portal user to adopt"
    );
    run.assert_next_sync_reads_afresh("after creates, adoptions and group creates")
        .await;

    // Renames, leavers under each rule, a member moved between mirrored groups.
    let t = run.env.tenant.clone();
    let members = run.env.members.clone();
    let sync_group = run.env.sync_group_id.clone();
    t.set_names(&members[0], "Renamed", "Person");
    t.remove_member(&sync_group, &members[1]);
    t.remove_member(&run.env.groups[0].1, &members[3]);
    t.add_member(&run.env.groups[1].1, &members[3]);
    let report = run.sync().await;
    assert!(report.applied.updated >= 1 && report.applied.disabled == 1);
    run.assert_next_sync_reads_afresh("after a rename, a disable and membership changes")
        .await;

    // Back in the group: enabled again. Then removed and deleted.
    t.add_member(&sync_group, &members[1]);
    assert_eq!(run.sync().await.applied.enabled, 1);
    run.assert_next_sync_reads_afresh("after an enable").await;
    run.spec.sync_rules.user_removed_from_group = LeaveRule::Remove;
    t.remove_member(&sync_group, &members[1]);
    assert_eq!(run.sync().await.applied.removed, 1);
    run.assert_next_sync_reads_afresh("after a removal").await;
    run.spec.sync_rules.user_removed_from_group = LeaveRule::Delete;
    t.remove_member(&sync_group, &members[2]);
    assert_eq!(run.sync().await.applied.deleted, 1);
    run.assert_next_sync_reads_afresh("after a delete").await;

    // A mirrored group dropped from the spec: deleted.
    let dropped = run.env.groups[2].0.clone();
    run.spec
        .groups
        .retain(|g| g.display_name.as_deref() != Some(dropped.as_str()));
    assert_eq!(run.sync().await.applied.groups_deleted, 1);
    run.assert_next_sync_reads_afresh("after a group delete")
        .await;

    // Nothing changed: one Graph delta request, no Password Boss request at all.
    let idle = run.sync().await;
    assert_eq!(
        (idle.graph_requests, idle.password_boss_requests),
        (1, 0),
        "{idle:?}"
    );
    assert!(idle.plan.as_ref().is_some_and(|p| p.actions.is_empty()));
}

/// A write refused for want of a licence changed nothing: the state read stays kept.
#[tokio::test]
async fn a_write_refused_for_want_of_a_licence_keeps_the_state() {
    let (mut run, _, _) = Run::kept_with_a_joiner(10).await;
    // A member leaves the company's groups (disabled), then every free licence is taken in the
    // portal, then the member comes back to the sync group only: the enable, the one write, is
    // refused.
    let member = run.env.members[0].clone();
    run.env
        .tenant
        .remove_member(&run.env.sync_group_id, &member);
    for (_, group) in run.env.groups.clone() {
        run.env.tenant.remove_member(&group, &member);
    }
    assert_eq!(run.sync().await.applied.disabled, 1);
    run.sync().await;
    assert!(run.state.kept_directory().is_some());
    let used = run.env.password_boss.licenses().used;
    run.env.password_boss.set_license_total(used);
    run.env.tenant.add_member(&run.env.sync_group_id, &member);
    let refused = run.sync().await;
    assert_eq!(refused.applied.enabled, 0, "{refused:?}");
    assert_eq!(refused.password_boss_writes, 1, "{refused:?}");
    assert!(
        run.state.kept_directory().is_some(),
        "a refusal for want of a licence keeps the state"
    );
}

#[tokio::test]
async fn a_refused_write_makes_the_next_sync_read_again() {
    let (mut run, joiner, email) = Run::kept_with_a_joiner(10).await;
    // Someone takes a joiner's email in the portal: the create is refused (409).
    run.env.tenant.add_member(&run.env.sync_group_id, &joiner);
    run.env
        .password_boss
        .add_user(
            pbconnector_simulators::passwordboss::SeedUser::new(&email, "Portal", "User")
                .managed_by("Active Directory"),
        )
        .unwrap();
    let refused = run.sync().await;
    assert!(refused.password_boss_requests > 0);
    run.assert_next_sync_reads_afresh("the state is not trusted after a refused write")
        .await;
}

/// A create that finds its account already made (by an earlier sync that was cut off, or by
/// another replica) succeeds, but the account is Password Boss's as it is (here pending, with
/// other names), not as planned: the kept state is dropped and the next sync reads again.
#[tokio::test]
async fn a_create_that_finds_its_account_already_made_makes_the_next_sync_read_again() {
    let (mut run, joiner, email) = Run::kept_with_a_joiner(10).await;
    run.env
        .password_boss
        .add_user(
            pbconnector_simulators::passwordboss::SeedUser::new(&email, "Earlier", "Sync")
                .azure(&joiner)
                .status(pbconnector_simulators::passwordboss::wire::UserStatus::Pending),
        )
        .unwrap();
    run.env.tenant.add_member(&run.env.sync_group_id, &joiner);
    let recovered = run.sync().await;
    assert_eq!(recovered.applied.created, 1, "{recovered:?}");
    run.assert_next_sync_reads_afresh(
        "the kept state does not guess what the recovered account holds",
    )
    .await;
}

/// The kept state serves syncs that create, update and add; a sync that would destroy anything
/// (here a leaver's disable) reads Password Boss afresh first, so that the decision and its
/// budget rest on a complete, current read.
#[tokio::test]
async fn what_cannot_be_undone_is_decided_on_a_fresh_read_and_a_disable_on_the_kept_state() {
    let mut run = Run::start(20).await;
    run.spec.safety.removal_grace_period = "0s".into();
    run.sync().await;
    run.sync().await;
    let reads = |r: &pbconnector::sync::report::SyncReport| {
        r.password_boss_requests - r.password_boss_writes
    };
    // A joiner: additive, served from the kept state.
    let joiner = run.env.outsiders[0].clone();
    run.env.tenant.add_member(&run.env.sync_group_id, &joiner);
    let joined = run.sync().await;
    assert_eq!(joined.applied.created, 1);
    assert_eq!(reads(&joined), 0, "{joined:?}");
    // The create dropped the kept state: the next sync reads and keeps it again.
    run.assert_next_sync_reads_afresh("after the create").await;
    // A leaver under the default rule is disabled: undone by the next sync that sees the user
    // back, so the kept state serves.
    let leaver = run.env.members[0].clone();
    run.env
        .tenant
        .remove_member(&run.env.sync_group_id, &leaver);
    let left = run.sync().await;
    assert_eq!(left.applied.disabled, 1);
    assert_eq!(reads(&left), 0, "{left:?}");
    run.assert_next_sync_reads_afresh("after the disable").await;
    // Meanwhile an administrator hands another leaver's account to the portal; the kept state
    // does not know. Deleting it cannot be undone, so the sync reads Password Boss first, and
    // the account, no longer the connector's, is left alone.
    let other = run.env.members[1].clone();
    let account = run
        .env
        .password_boss
        .azure_users()
        .into_iter()
        .find(|u| u.external_id.as_deref() == Some(other.as_str()))
        .expect("the member's account");
    let client = PasswordBossClient::new(PasswordBossConfig::new(
        run.env.password_boss.url(),
        run.env.password_boss.token(),
    ))
    .unwrap();
    let portal = pbconnector::passwordboss::model::UserPatch {
        managed_by: Some("Password Boss".into()),
        ..Default::default()
    };
    client.update_user(&account.id, &portal).await.unwrap();
    run.spec.sync_rules.user_removed_from_group = LeaveRule::Delete;
    run.env.tenant.remove_member(&run.env.sync_group_id, &other);
    assert!(run.state.kept_directory().is_some());
    let handed = run.sync().await;
    assert!(reads(&handed) >= 3, "connector, users, groups: {handed:?}");
    assert!(
        run.env
            .password_boss
            .user_by_email(&account.email)
            .is_some(),
        "the portal's account is not deleted"
    );
    // The first leaver's disabled account is the one deleted, on that fresh read.
    assert_eq!(handed.applied.deleted, 1, "{handed:?}");
    assert_eq!(
        run.env
            .password_boss
            .azure_users()
            .iter()
            .filter(|u| u.external_id.as_deref() == Some(leaver.as_str()))
            .count(),
        0
    );
    run.assert_next_sync_reads_afresh("after the delete").await;
}

impl Run {
    /// Syncs until one sends no Password Boss request (the sync after one that wrote reads
    /// Password Boss once), at most four times.
    async fn settle(&mut self) -> SyncReport {
        for _ in 0..4 {
            let report = self.sync().await;
            if report.password_boss_requests == 0 {
                return report;
            }
        }
        panic!("four syncs of unchanged inputs and each sent Password Boss requests");
    }
}

/// The kept state does not see a change made in the portal until the next full read, which
/// corrects it.
#[tokio::test]
async fn a_portal_change_is_seen_at_the_next_full_read() {
    let mut run = Run::start(20).await;
    run.settle().await;
    let pb = PasswordBossClient::new(PasswordBossConfig::new(
        run.env.password_boss.url(),
        run.env.password_boss.token(),
    ))
    .unwrap();
    let member = run.env.members[1].clone();
    let account = run
        .env
        .password_boss
        .azure_users()
        .into_iter()
        .find(|u| u.external_id.as_deref() == Some(member.as_str()))
        .expect("the member's account");
    pb.disable_user(&account.id).await.unwrap();
    let unseen = run.sync().await;
    assert_eq!(unseen.password_boss_requests, 0, "{unseen:?}");
    run.spec.full_sync_interval = "1s".into();
    // Past the interval (the kept state's age is measured from its read).
    let read_at = run.state.kept_read_at().expect("a kept state");
    while read_at.elapsed() < std::time::Duration::from_secs(1) {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let corrected = run.sync().await;
    assert_eq!(corrected.applied.enabled, 1, "the account is enabled again");
}

/// A sync whose departures need a Graph lookup that fails asks again next time, though nothing
/// changed in Entra since.
#[tokio::test]
async fn a_failed_lookup_is_asked_again() {
    let mut run = Run::start(20).await;
    run.spec.sync_rules.user_deleted = LeaveRule::Delete;
    run.spec.safety.removal_grace_period = "0s".into();
    run.settle().await;
    let gone = run.env.members[2].clone();
    run.env.tenant.hard_delete_user(&gone);
    run.env
        .graph
        .faults()
        .answer_next(PathKind::User, 100, Answer::Status(500));
    let failed = run.sync().await;
    run.env
        .graph
        .faults()
        .answer_next(PathKind::User, 0, Answer::Status(500));
    assert!(!failed.snapshot_complete, "{failed:?}");
    assert_eq!(failed.applied.deleted, 0);
    let retried = run.sync().await;
    assert!(
        retried.graph_requests >= 2,
        "the delta round and the lookup asked again: {retried:?}"
    );
    assert_eq!(retried.applied.deleted, 1, "{retried:?}");
    run.settle().await;
}

/// When the two leave rules differ, every departed account's user is looked up on every sync
/// (only the answer tells which rule applies): a user removed from the group and later deleted
/// in Entra is then deleted by the next sync.
#[tokio::test]
async fn departures_that_need_a_lookup_every_sync_are_looked_up_every_sync() {
    let mut run = Run::start(20).await;
    run.spec.sync_rules.user_deleted = LeaveRule::Delete;
    run.spec.sync_rules.user_removed_from_group = LeaveRule::Ignore;
    run.spec.safety.removal_grace_period = "0s".into();
    run.settle().await;
    let leaver = run.env.members[3].clone();
    run.env
        .tenant
        .remove_member(&run.env.sync_group_id, &leaver);
    let removed = run.sync().await;
    assert_eq!(removed.applied.deleted, 0, "removed, not deleted: ignored");
    for _ in 0..2 {
        let again = run.sync().await;
        assert!(again.graph_requests >= 2, "the lookup: {again:?}");
    }
    run.env.tenant.hard_delete_user(&leaver);
    let deleted = run.sync().await;
    assert_eq!(deleted.applied.deleted, 1, "{deleted:?}");
}

/// The Graph root is part of what is kept: a connector whose `graphEndpoint` (and authority)
/// changes syncs at the next attempt, with a full read from the new root, instead of replaying
/// delta links of the old one (issue 29).
#[tokio::test]
async fn a_changed_graph_endpoint_syncs_at_the_next_attempt_with_a_full_read() {
    let mut run = Run::start(10).await;
    run.sync().await;
    let delta = run.sync().await;
    assert!(!delta.full_read, "the second sync reads the delta");
    let port = run.env.graph.local_addr().port();
    let renamed = format!("http://localhost:{port}");
    assert_ne!(run.env.graph.url(), renamed);
    run.env.graph.set_public_url(&renamed);
    run.spec.azure.graph_endpoint = Some(renamed.clone());
    run.spec.azure.authority_host = Some(renamed);
    let moved = run.try_sync().await;
    assert!(moved.succeeded(), "{:?}", moved.failure);
    assert!(moved.full_read, "read in full from the new root");
    let next = run.sync().await;
    assert!(!next.full_read, "and deltas from the new root after it");
}

/// A delta link outside the Graph root in one answer fails that sync (nothing is kept from it)
/// and the next sync reads in full and succeeds — no failure loop until the next full read is
/// due.
#[tokio::test]
async fn a_foreign_link_fails_that_sync_and_the_next_reads_in_full() {
    let mut run = Run::start(10).await;
    run.sync().await;
    run.sync().await;
    let root = run.env.graph.url().to_owned();
    run.env
        .graph
        .set_public_url("http://graph.elsewhere.example");
    let poisoned = run.try_sync().await;
    let failure = poisoned
        .failure
        .as_ref()
        .expect("the foreign link fails the sync");
    assert_eq!(
        failure.reason,
        FailureReason::GraphProtocolError,
        "{failure}"
    );
    assert!(
        failure.to_string().contains("outside"),
        "says why: {failure}"
    );
    run.env.graph.set_public_url(&root);
    let next = run.sync().await;
    assert!(next.full_read, "the next sync reads in full");
    assert!(!run.sync().await.full_read, "then deltas again");
}
