//! The safety limits over whole syncs, as `pbconnector sync` runs them (the same pipeline, one
//! connector state kept between syncs), against both simulators: only owned groups are
//! deleted, small batches add up in the rolling window, what a sync spends is stored before its
//! first destructive write (and a sync that cannot store it writes nothing destructive; one
//! whose record was stored meanwhile plans again from it), a single leaver of a small company
//! passes, `Remove`/`Delete` wait for the grace period (kept across a restart through the
//! record in status), and an approval applies once.

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use pbconnector::domain::AccountStatus;
use pbconnector::passwordboss::{PasswordBossClient, PasswordBossConfig};
use pbconnector::plan::{Approval, LeaveReason};
use pbconnector::resources::{LeaveRule, SafetyRecord, SpentChanges};
use pbconnector::sync::spending::{SafetyStore, SafetyStoreError, SafetyStoreHandle, StoredRecord};
use pbconnector::sync::state::ConnectorState;
use pbconnector::sync::status::failure::FailureReason;
use pbconnector_simulators::passwordboss::wire::{MANAGED_BY_AZURE_AD, UserStatus};

use crate::support::sync_run;

use sync_run::Run;

impl Run {
    /// Takes the i-th regular member out of the sync group.
    fn remove_member(&self, i: usize) {
        let parent = if i % 5 == 4 {
            &self.env.nested_group_id
        } else {
            &self.env.sync_group_id
        };
        self.env.tenant.remove_member(parent, &self.env.members[i]);
    }

    /// Takes the regular members of `range` out of the sync group.
    fn remove_members(&self, range: std::ops::Range<usize>) {
        range.for_each(|i| self.remove_member(i));
    }

    fn disabled(&self) -> usize {
        self.env
            .password_boss
            .azure_users()
            .iter()
            .filter(|u| u.status == UserStatus::Disabled)
            .count()
    }
}

#[tokio::test]
async fn dropping_a_group_from_the_spec_deletes_that_group_only_never_another_connectors() {
    let mut run = Run::start(30).await;
    // A group another connector (or the hosted one) made: managed by Azure AD, another group id.
    let theirs = run
        .env
        .password_boss
        .add_group(
            "Finance (other tenant)",
            MANAGED_BY_AZURE_AD,
            Some("99999999-9999-9999-9999-999999999999"),
            &[],
        )
        .unwrap();
    let first = run.sync().await;
    assert_eq!(first.applied.groups_created, 3);
    let record = first.plan.as_ref().unwrap().record.clone();
    assert_eq!(record.owned_groups.len(), 3, "{record:?}");
    assert!(
        !record
            .owned_groups
            .contains(&theirs.external_id.clone().unwrap())
    );

    // HR is dropped from spec.groups: kept for the grace period (24 h in the sample), with
    // the time it left in the record; a restart a day later with that record deletes it.
    run.spec
        .groups
        .retain(|g| g.display_name.as_deref() != Some("HR"));
    let waiting = run.sync().await;
    assert_eq!(waiting.applied.groups_deleted, 0, "{:?}", waiting.plan);
    let message = pbconnector::sync::status::status_from_report(None, &waiting, None, None).message;
    assert!(
        message.contains("1 groups dropped from spec.groups are kept until"),
        "{message}"
    );
    assert!(run.env.password_boss.group_by_name("HR").is_some());
    let mut later = waiting.plan.as_ref().unwrap().record.clone();
    assert_eq!(later.leaving_groups.len(), 1, "{later:?}");
    later.leaving_groups[0].since = Timestamp::now() - SignedDuration::from_hours(25);
    run.state = ConnectorState::default();
    run.request.safety_record = Some((&later).into());
    let dropped = run.sync().await;
    assert_eq!(dropped.applied.groups_deleted, 1, "{:?}", dropped.plan);
    let names: Vec<String> = run
        .env
        .password_boss
        .groups()
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert!(!names.contains(&"HR".to_string()), "{names:?}");
    assert!(names.contains(&"Engineering".to_string()), "{names:?}");
    assert!(
        names.contains(&theirs.name),
        "another connector's group is never deleted: {names:?}"
    );
    let record = dropped.plan.as_ref().unwrap().record.clone();
    assert_eq!(record.owned_groups.len(), 2);

    // A restart: a new state seeded from status knows what it owns; one seeded with nothing
    // (a connector that never made Sales) leaves Sales alone when it is dropped.
    run.spec
        .groups
        .retain(|g| g.display_name.as_deref() != Some("Sales"));
    run.state = ConnectorState::default();
    run.request.safety_record = Some(SafetyRecord::default());
    let stranger = run.sync().await;
    assert_eq!(stranger.applied.groups_deleted, 0, "not owned: not deleted");
    assert!(run.env.password_boss.group_by_name("Sales").is_some());
}

#[tokio::test]
async fn small_batches_add_up_in_the_rolling_window() {
    let mut run = Run::start(120).await;
    run.spec.safety.max_deprovision_percent = 100;
    run.sync().await;
    run.remove_members(0..20);
    assert_eq!(run.sync().await.applied.disabled, 20);
    run.remove_members(20..40);
    assert_eq!(run.sync().await.applied.disabled, 20);
    // 20 more would make 60 in the window: over maxDeprovisionsPerWindow (50).
    run.remove_members(40..60);
    let held = run.sync().await;
    assert_eq!(held.applied.disabled, 0);
    let h = held.held().expect("held by the window");
    assert!(h.limit.contains("maxDeprovisionsPerWindow"), "{}", h.limit);
    assert_eq!(run.disabled(), 40);

    // A day later the window is empty again: the same 20 go through.
    let mut record = held.plan.as_ref().unwrap().record.clone();
    for spent in &mut record.spent {
        spent.time -= SignedDuration::from_hours(25);
    }
    run.state = ConnectorState::default();
    run.request.safety_record = Some((&record).into());
    assert_eq!(run.sync().await.applied.disabled, 20);
    assert_eq!(run.disabled(), 60);
}

/// An in-memory `status.safety`, as the controller's store keeps it on the API server: a write
/// names the version it read, and another writer's record may land first.
struct MemoryStore {
    stored: Mutex<StoredRecord>,
    /// Stored by "another replica" just before this store's next write is answered.
    interloper: Mutex<Option<SafetyRecord>>,
    /// Every write fails (the API server refuses it).
    broken: bool,
    /// Password Boss as the connector sees it, read when each record is stored...
    password_boss: PasswordBossClient,
    /// ...and the disabled accounts found then.
    disabled_seen: Mutex<Vec<usize>>,
}

impl MemoryStore {
    fn new(run: &Run, broken: bool) -> Arc<Self> {
        Arc::new(Self {
            stored: Mutex::new(StoredRecord {
                record: run.request.safety_record.clone().unwrap_or_default(),
                version: "1".into(),
            }),
            interloper: Mutex::default(),
            broken,
            password_boss: PasswordBossClient::new(PasswordBossConfig::new(
                run.env.password_boss.url(),
                run.env.password_boss.token(),
            ))
            .unwrap(),
            disabled_seen: Mutex::default(),
        })
    }

    fn record(&self) -> SafetyRecord {
        self.stored.lock().unwrap().record.clone()
    }
}

/// A sync's handle on a `MemoryStore` the test keeps too.
struct Shared(Arc<MemoryStore>);

impl SafetyStore for Shared {
    fn read(&self) -> BoxFuture<'_, Result<StoredRecord, SafetyStoreError>> {
        Box::pin(async move { Ok(self.0.stored.lock().unwrap().clone()) })
    }

    fn write<'a>(
        &'a self,
        record: &'a SafetyRecord,
        version: &'a str,
    ) -> BoxFuture<'a, Result<(), SafetyStoreError>> {
        let store = &self.0;
        Box::pin(async move {
            if store.broken {
                return Err(SafetyStoreError::Failed("the API server refused".into()));
            }
            let state = store.password_boss.read_state().await.unwrap();
            let disabled = state
                .users
                .iter()
                .filter(|u| u.status == AccountStatus::Disabled)
                .count();
            let mut stored = store.stored.lock().unwrap();
            let bump = |stored: &mut StoredRecord, record: SafetyRecord| {
                let next = stored.version.parse::<u64>().unwrap() + 1;
                *stored = StoredRecord {
                    record,
                    version: next.to_string(),
                };
            };
            if let Some(theirs) = store.interloper.lock().unwrap().take() {
                bump(&mut stored, theirs);
            }
            if stored.version != version {
                return Err(SafetyStoreError::Conflict);
            }
            bump(&mut stored, record.clone());
            store.disabled_seen.lock().unwrap().push(disabled);
            Ok(())
        })
    }
}

impl Run {
    /// Syncs from here on store their spending in `store` first.
    fn store_in(&mut self, store: &Arc<MemoryStore>) {
        self.request.safety_store = Some(SafetyStoreHandle::new(Shared(store.clone())));
    }
}

/// What a sync will spend is stored before the first destructive write, and what it stored is
/// what the next sync plans from.
#[tokio::test]
async fn spending_is_stored_before_the_first_destructive_write() {
    let mut run = Run::start(60).await;
    run.sync().await;
    let store = MemoryStore::new(&run, false);
    run.store_in(&store);
    // Nothing to spend: nothing stored.
    run.sync().await;
    assert!(store.disabled_seen.lock().unwrap().is_empty());
    run.remove_members(0..5);
    let report = run.sync().await;
    assert_eq!(report.applied.disabled, 5);
    assert_eq!(run.disabled(), 5);
    assert_eq!(
        *store.disabled_seen.lock().unwrap(),
        vec![0],
        "stored once, before any of the five disables"
    );
    let stored = store.record();
    assert_eq!(stored.spent.iter().map(|s| s.changes).sum::<u32>(), 5);
    assert_eq!(Some(stored), report.safety_record().map(Into::into));
}

/// A record that cannot be stored stops the sync before its first destructive write.
#[tokio::test]
async fn a_record_that_cannot_be_stored_means_no_destructive_write() {
    let mut run = Run::start(60).await;
    run.sync().await;
    run.sync().await;
    let store = MemoryStore::new(&run, true);
    run.store_in(&store);
    let before = store.record();
    run.remove_members(0..5);
    let writes_before = run.env.password_boss.requests().writes();
    let report = run.try_sync().await;
    let failure = report.failure.expect("the sync fails");
    assert_eq!(failure.reason, FailureReason::SafetyRecordNotWritten);
    assert!(
        failure.message.contains("nothing destructive was written"),
        "{failure}"
    );
    assert_eq!(run.env.password_boss.requests().writes(), writes_before);
    assert_eq!(run.disabled(), 0);
    assert_eq!(store.record(), before, "nothing stored");
}

/// Another replica stores its spending between this sync's read of the record and its write:
/// the write is refused, the sync plans again from the stored record, and both spendings count
/// (the window's next batch is held by their sum).
#[tokio::test]
async fn a_record_stored_meanwhile_is_planned_from_and_both_spendings_count() {
    let mut run = Run::start(120).await;
    run.spec.safety.max_deprovision_percent = 100;
    run.sync().await;
    let store = MemoryStore::new(&run, false);
    run.store_in(&store);
    run.remove_members(0..20);
    assert_eq!(run.sync().await.applied.disabled, 20);
    // The other replica spends 5 and stores it first.
    let mut theirs = store.record();
    theirs.spent.push(SpentChanges {
        time: MicroTime(Timestamp::now()),
        changes: 5,
    });
    *store.interloper.lock().unwrap() = Some(theirs);
    run.remove_members(20..40);
    let report = run.sync().await;
    assert_eq!(report.applied.disabled, 20, "20 + 5 + 20 is within the 50");
    let spent: Vec<u32> = store.record().spent.iter().map(|s| s.changes).collect();
    assert_eq!(spent, vec![20, 5, 20], "the other replica's 5 are kept");
    // 45 spent: 20 more are held.
    run.remove_members(40..60);
    let held = run.sync().await;
    assert_eq!(held.applied.disabled, 0, "{held:?}");
    let h = held.held().expect("held by the window");
    assert!(h.limit.contains("maxDeprovisionsPerWindow"), "{}", h.limit);
    assert_eq!(store.disabled_seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_single_leaver_of_a_small_company_needs_no_approval() {
    // Three members, plus the guest and the user without mail: five managed accounts.
    let mut run = Run::start(3).await;
    run.sync().await;
    run.remove_member(0);
    let report = run.sync().await;
    assert!(report.held().is_none(), "{:?}", report.held());
    assert_eq!(report.applied.disabled, 1);
    // Two more in the same window pass the floor (2) and 20 % of five: held.
    run.remove_member(1);
    run.remove_member(2);
    let report = run.sync().await;
    assert!(report.held().is_some());
}

/// A mirrored group whose last member leaves it in Entra is kept in Password Boss, emptied
/// through the safety budget (the member removals are held over the limits and go ahead once
/// approved), never deleted: the vault items shared with it stay shared.
#[tokio::test]
async fn an_emptied_mirrored_group_is_kept_with_its_sharing() {
    let mut run = Run::start(30).await;
    run.sync().await;
    let hr = run
        .env
        .password_boss
        .group_by_name("HR")
        .expect("HR is made");
    let members = run.env.password_boss.members(&hr.id).unwrap();
    assert_eq!(members.len(), 10);
    run.env
        .password_boss
        .share_item(&hr.id, "Payroll portal")
        .unwrap();

    let hr_entra = &run.env.groups.iter().find(|(n, _)| n == "HR").unwrap().1;
    for i in (1..30).step_by(3) {
        run.env.tenant.remove_member(hr_entra, &run.env.members[i]);
    }
    let held = run.sync().await;
    let token = held
        .held()
        .expect("10 removals are over 20% of 32")
        .token
        .clone();
    assert_eq!(held.held().unwrap().group_changes, 10);
    assert_eq!(run.env.password_boss.members(&hr.id).unwrap().len(), 10);

    run.request.approval = Some(token);
    let emptied = run.sync().await;
    assert_eq!(emptied.applied.groups_deleted, 0, "{:?}", emptied.plan);
    assert_eq!(run.env.password_boss.members(&hr.id), Some(Vec::new()));
    assert_eq!(
        run.env.password_boss.shared_items(&hr.id),
        Some(vec!["Payroll portal".to_string()])
    );

    // Later syncs leave the empty group as it is.
    let after = run.sync().await;
    assert!(after.plan.as_ref().unwrap().actions.is_empty());
    assert_eq!(
        run.env.password_boss.shared_items(&hr.id),
        Some(vec!["Payroll portal".to_string()])
    );
}

#[tokio::test]
async fn remove_and_delete_wait_for_the_grace_period_and_disable_meanwhile() {
    let mut run = Run::start(20).await;
    run.spec.sync_rules.user_removed_from_group = LeaveRule::Delete;
    run.sync().await;
    let leaving = run
        .env
        .password_boss
        .azure_users()
        .into_iter()
        .find(|u| u.external_id.as_deref() == Some(run.env.members[0].as_str()))
        .expect("the member's account");
    run.remove_member(0);

    let first = run.sync().await;
    assert_eq!(first.applied.disabled, 1, "disabled at once");
    assert_eq!(
        first.applied.deleted, 0,
        "not deleted before the grace period"
    );
    assert_eq!(first.plan.as_ref().unwrap().waiting_for_grace, 1);
    let account = run.env.password_boss.user_by_email(&leaving.email);
    assert_eq!(account.map(|u| u.status), Some(UserStatus::Disabled));

    // Still within the grace period: nothing more (the account is already disabled).
    let second = run.sync().await;
    assert!(second.plan.as_ref().unwrap().actions.is_empty());

    // Back in the group within the period: enabled again, the vault was never at risk.
    // Out again, and a restart 25 hours later with the record from status: deleted.
    let record = second.plan.as_ref().unwrap().record.clone();
    assert_eq!(record.leavers.len(), 1);
    assert_eq!(record.leavers[0].entra_id, run.env.members[0]);
    let mut later = record.clone();
    later.leavers[0].since = Timestamp::now() - SignedDuration::from_hours(25);
    run.state = ConnectorState::default();
    run.request.safety_record = Some((&later).into());
    let third = run.sync().await;
    assert_eq!(third.applied.deleted, 1, "{:?}", third.plan);
    assert!(
        run.env
            .password_boss
            .user_by_email(&leaving.email)
            .is_none()
    );
    let reason = third
        .plan
        .as_ref()
        .unwrap()
        .actions
        .iter()
        .find_map(|a| match a {
            pbconnector::plan::Action::DeprovisionUser { reason, .. } => Some(*reason),
            _ => None,
        });
    assert_eq!(reason, Some(LeaveReason::RemovedFromGroup));
}

#[tokio::test]
async fn an_approval_applies_its_set_once() {
    let mut run = Run::start(60).await;
    run.sync().await;
    for i in 0..30 {
        run.remove_member(i);
    }
    let held = run.sync().await;
    let token = held
        .held()
        .expect("30 of 62 is over the limits")
        .token
        .clone();
    run.request.approval = Some(token.clone());
    let approved = run.sync().await;
    assert_eq!(approved.applied.disabled, 30);
    assert_eq!(
        approved.plan.as_ref().unwrap().approval,
        Approval::Applied(token.clone())
    );
    // The token stays given; nothing is held: it is quietly ignored.
    let quiet = run.sync().await;
    assert_eq!(quiet.plan.as_ref().unwrap().approval, Approval::None);
    // Another held set: the used token approves nothing.
    for i in 30..60 {
        run.remove_member(i);
    }
    let again = run.sync().await;
    assert_eq!(again.applied.disabled, 0);
    assert!(again.held().is_some());
    assert_eq!(
        again.plan.as_ref().unwrap().approval,
        Approval::AlreadyUsed(token)
    );
}
