//! The Password Boss state a connector keeps between syncs, followed from the answers to its own
//! writes, is what a fresh read finds: after creates, adoptions, renames, enables, disables,
//! removals, deletes, group creates, membership changes and group deletes. A sync that changes
//! nothing then sends no Password Boss request; a refused write makes the next sync read again.

use pbconnector::passwordboss::{PasswordBossClient, PasswordBossConfig};
use pbconnector::plan::DirectoryState;
use pbconnector::resources::AzureAdConnectorSpec;
use pbconnector::resources::LeaveRule;

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
    /// it keeps then is what a fresh read finds.
    async fn assert_next_sync_reads_afresh(&mut self, why: &str) {
        assert!(self.state.kept_directory().is_none(), "{why}");
        let next = self.sync().await;
        assert!(next.password_boss_requests >= 3, "read in full: {next:?}");
        self.assert_kept_is_fresh("after the re-read").await;
    }

    async fn assert_kept_is_fresh(&self, what: &str) {
        let kept = canonical(self.state.kept_directory().expect("a kept state").clone());
        assert_eq!(kept, self.fresh().await, "{what}");
    }
}

#[tokio::test]
async fn the_kept_state_follows_every_kind_of_write() {
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
    run.assert_kept_is_fresh("after creates, adoptions and group creates")
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
    run.assert_kept_is_fresh("after a rename, a disable and membership changes")
        .await;

    // Back in the group: enabled again. Then removed and deleted.
    t.add_member(&sync_group, &members[1]);
    assert_eq!(run.sync().await.applied.enabled, 1);
    run.assert_kept_is_fresh("after an enable").await;
    run.spec.sync_rules.user_removed_from_group = LeaveRule::Remove;
    t.remove_member(&sync_group, &members[1]);
    assert_eq!(run.sync().await.applied.removed, 1);
    run.assert_kept_is_fresh("after a removal").await;
    run.spec.sync_rules.user_removed_from_group = LeaveRule::Delete;
    t.remove_member(&sync_group, &members[2]);
    assert_eq!(run.sync().await.applied.deleted, 1);
    run.assert_kept_is_fresh("after a delete").await;

    // A mirrored group dropped from the spec: deleted.
    let dropped = run.env.groups[2].0.clone();
    run.spec
        .groups
        .retain(|g| g.display_name.as_deref() != Some(dropped.as_str()));
    assert_eq!(run.sync().await.applied.groups_deleted, 1);
    run.assert_kept_is_fresh("after a group delete").await;

    // Nothing changed: no Password Boss request at all.
    let idle = run.sync().await;
    assert_eq!(idle.password_boss_requests, 0, "{idle:?}");
    assert!(idle.plan.as_ref().is_some_and(|p| p.actions.is_empty()));
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
    // A leaver under the default rule is disabled: undone by the next sync that sees the user
    // back, so the kept state serves.
    let leaver = run.env.members[0].clone();
    run.env
        .tenant
        .remove_member(&run.env.sync_group_id, &leaver);
    let left = run.sync().await;
    assert_eq!(left.applied.disabled, 1);
    assert_eq!(reads(&left), 0, "{left:?}");
    run.assert_kept_is_fresh("after the disable").await;
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
    run.assert_kept_is_fresh("after the fresh read and the delete")
        .await;
}
