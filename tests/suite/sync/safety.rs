//! The safety limits over whole syncs, as `pbconnector sync` runs them (the same pipeline, one
//! connector state kept between syncs), against both simulators: only owned groups are
//! deleted, small batches add up in the rolling window, a single leaver of a small company
//! passes, `Remove`/`Delete` wait for the grace period (kept across a restart through the
//! record in status), and an approval applies once.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use pbconnector::plan::{Approval, LeaveReason};
use pbconnector::resources::{LeaveRule, SafetyRecord};
use pbconnector::sync::pipeline::ConnectorState;
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

    // HR is dropped from spec.groups.
    run.spec
        .groups
        .retain(|g| g.display_name.as_deref() != Some("HR"));
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
    run.options.safety_record = Some(SafetyRecord::default());
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
        spent.time = MicroTime(spent.time.0 - SignedDuration::from_hours(25));
    }
    run.state = ConnectorState::default();
    run.options.safety_record = Some(record);
    assert_eq!(run.sync().await.applied.disabled, 20);
    assert_eq!(run.disabled(), 60);
}

/// A replica spends 20 of the window's 50 and loses the lease before its status write; another
/// replica, starting from the status (which never got those 20), spends 20 more. When the first
/// leads again, its record from the lost term is merged with the status's: 40 are spent, and
/// 20 more are held, as one replica would have held them.
#[tokio::test]
async fn spending_of_a_lost_leadership_term_still_counts_in_the_window() {
    let mut run = Run::start(120).await;
    run.spec.safety.max_deprovision_percent = 100;
    let first = run.sync().await;
    let status_before = first.plan.as_ref().unwrap().record.clone();
    run.remove_members(0..20);
    assert_eq!(run.sync().await.applied.disabled, 20);
    // Leadership lost: the status still says what it said before those 20.
    run.state.begin_term(1);
    // The other replica's sync, from that status.
    let mut other = ConnectorState::default();
    std::mem::swap(&mut run.state, &mut other);
    run.options.safety_record = Some(status_before);
    run.remove_members(20..40);
    let others = run.sync().await;
    assert_eq!(others.applied.disabled, 20);
    let status_after = others.plan.as_ref().unwrap().record.clone();
    std::mem::swap(&mut run.state, &mut other);
    // Back to the first replica, which reads the other's status.
    run.options.safety_record = Some(status_after);
    run.state.begin_term(2);
    run.remove_members(40..60);
    let held = run.sync().await;
    assert_eq!(held.applied.disabled, 0, "{held:?}");
    let h = held.held().expect("held by the window");
    assert!(h.limit.contains("maxDeprovisionsPerWindow"), "{}", h.limit);
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
    later.leavers[0].since = Time(Timestamp::now() - SignedDuration::from_hours(25));
    run.state = ConnectorState::default();
    run.options.safety_record = Some(later);
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
    run.options.approval = Some(token.clone());
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
