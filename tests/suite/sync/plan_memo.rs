//! A sync whose inputs did not change reuses the last plan (planning is skipped); a change on
//! either side, in the rules or in the approved deprovisions makes it plan again. Runs whole
//! syncs against both simulators.

use pbconnector::passwordboss::{PasswordBossClient, PasswordBossConfig};
use pbconnector::resources::LeaveRule;
use pbconnector::sync::report::SyncReport;
use pbconnector::telemetry::metrics::Metrics;
use pbconnector_simulators::graph::{Answer, PathKind};

use crate::support::sync_run;

use sync_run::Run;

impl Run {
    /// Syncs until one reuses its plan (the sync after a change plans; it may write, and then
    /// the next one plans again), at most four times.
    async fn settle(&mut self) -> SyncReport {
        for _ in 0..4 {
            let report = self.sync().await;
            if report.plan_reused {
                return report;
            }
        }
        panic!("four syncs of unchanged inputs and none reused its plan");
    }
}

#[tokio::test]
async fn unchanged_inputs_reuse_the_plan_and_any_change_plans_again() {
    let mut run = Run::start(20).await;
    let first = run.sync().await;
    assert!(!first.plan_reused);
    assert!(first.applied.created > 0);
    let planned = run.sync().await;
    assert!(
        !planned.plan_reused,
        "the first sync's writes changed Password Boss"
    );
    let plan = planned.plan.clone().expect("a plan");
    assert!(plan.actions.is_empty(), "in sync: {:?}", plan.actions);
    let reused = run.sync().await;
    assert!(reused.plan_reused, "nothing changed");
    assert_eq!(reused.plan.as_ref(), Some(&plan));
    assert_eq!(
        reused.conflicts, planned.conflicts,
        "the same conflicts reported"
    );
    assert_eq!(reused.users, planned.users);
    assert_eq!(reused.password_boss_writes, 0);
    assert_eq!(
        (reused.graph_requests, reused.password_boss_requests),
        (1, 0),
        "a no-change sync: one Graph delta request, the Password Boss state kept"
    );
    let metrics = Metrics::new();
    for report in [&first, &planned, &reused] {
        metrics.observe_sync(report);
    }
    assert!(
        metrics
            .encode()
            .lines()
            .any(|l| l == "pbconnector_plans_reused_total 1"),
        "{}",
        metrics.encode()
    );

    // Password Boss changed outside the connector: a managed account disabled in the portal.
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
    // The kept state does not see the portal until the next full read...
    let report = run.sync().await;
    assert!(report.plan_reused);
    assert_eq!(report.password_boss_requests, 0);
    // ...which corrects it.
    run.spec.full_sync_interval = "1s".into();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let report = run.sync().await;
    run.spec.full_sync_interval = "1h".into();
    assert!(!report.plan_reused);
    assert_eq!(report.applied.enabled, 1, "the account is enabled again");
    run.settle().await;

    // Entra changed: a member renamed.
    run.env.tenant.set_names(&member, "Renamed", "Person");
    let report = run.sync().await;
    assert!(!report.plan_reused);
    assert_eq!(report.applied.updated, 1);
    run.settle().await;

    // The rules changed.
    run.spec.sync_rules.user_removed_from_group = LeaveRule::Ignore;
    let report = run.sync().await;
    assert!(!report.plan_reused);
    run.settle().await;

    // An approval is not a planner input: the safety gate runs on every sync, after the memo.
    run.options.approval = Some("3-0a1b2c3d".into());
    let report = run.sync().await;
    assert!(report.plan_reused);
    assert_eq!(
        report.plan.as_ref().map(|p| p.approval.clone()),
        Some(pbconnector::plan::Approval::NotMatching {
            given: "3-0a1b2c3d".into(),
            expected: None
        })
    );
}

/// A plan is reused only when the same inputs would need nothing but the reads: a sync whose
/// departures needed a Graph lookup plans again next time, and one whose lookup failed asks
/// again (its read was incomplete), though nothing changed in Entra since.
#[tokio::test]
async fn a_sync_that_needed_a_lookup_is_not_reused_and_a_failed_lookup_is_asked_again() {
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
        !retried.plan_reused,
        "an incomplete read's plan is not kept"
    );
    assert!(
        retried.graph_requests >= 2,
        "the delta round and the lookup asked again: {retried:?}"
    );
    assert_eq!(retried.applied.deleted, 1, "{retried:?}");
    run.settle().await;
}

/// When the two leave rules differ, every departed account's user is looked up on every sync
/// (only the answer tells which rule applies), so such a sync's plan is never reused: a user
/// removed from the group and later deleted in Entra is then deleted by the next sync.
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
        assert!(!again.plan_reused, "{again:?}");
        assert!(again.graph_requests >= 2, "the lookup: {again:?}");
    }
    run.env.tenant.hard_delete_user(&leaver);
    let deleted = run.sync().await;
    assert_eq!(deleted.applied.deleted, 1, "{deleted:?}");
}
