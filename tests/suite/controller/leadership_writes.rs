//! A replica that loses the leader lease mid-sync stops writing to Password Boss at once: the
//! sync in flight is dropped (`controller::while_leading`), so no write starts after the loss. And
//! what it kept between syncs does not outlive its term: another replica may have written to
//! Password Boss meanwhile. What a sync spends of the safety budget is in the connector's status
//! before its first destructive write, written on the condition of the resourceVersion it read.

use std::time::Duration;

use crate::support::e2e::{Cluster, CountingEngine, InProcess, NAME, eventually, sample};
use crate::support::log_capture::Capture;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use pbconnector::controller::safety_store::StatusSafetyStore;
use pbconnector::controller::status_writer::apply_status;
use pbconnector::controller::while_leading::sync_while_leading;
use pbconnector::controller::{LeaderElection, Leadership, PipelineEngine};
use pbconnector::passwordboss::DEFAULT_CONCURRENCY;
use pbconnector::resources::WriteOutcome;
use pbconnector::resources::{
    AzureAdConnectorSpec, AzureAdConnectorStatus, Connection, SafetyRecord, SpentChanges,
};
use pbconnector::sync::spending::{SafetyStore, SafetyStoreError, SafetyStoreHandle};
use pbconnector::sync::state::{AUDIT_TARGET, ConnectorState, REASON_LEADERSHIP_LOST};
use pbconnector::sync::status::failure::FailureReason;
use pbconnector::sync::status::status_from_report;
use pbconnector::sync::{ConnectorKey, SyncRequest, read_credentials, run_sync};
use pbconnector_simulators::sample::{SampleEnvironment, SampleOptions};
use tracing::instrument::WithSubscriber;

fn request(env: &SampleEnvironment) -> SyncRequest {
    SyncRequest {
        uid: "uid-1".into(),
        secrets: env.secrets(),
        ..SyncRequest::new(
            ConnectorKey::new("msp-contoso", "contoso"),
            serde_json::from_value(env.spec_json()).unwrap(),
        )
    }
}

/// Ordered by events, not by the clock: the simulator holds the writes that arrive, so once as
/// many are held as the executor may have in flight, none is on the wire and the sync can start
/// no other; leadership is lost there, the held writes are let go, and not one more write may
/// arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_boss_write_starts_after_leadership_is_lost() {
    // The audit lines of the sync (which runs on a task of its own).
    let capture = Capture::default();
    let logs = pbconnector::telemetry::logging::json_subscriber(
        &format!("{AUDIT_TARGET}=info"),
        capture.clone(),
    );
    // 60 users to create, each write slowed down: the sync writes for seconds.
    let env = SampleEnvironment::start(SampleOptions {
        users: 60,
        ..SampleOptions::default()
    })
    .await
    .expect("simulators start");
    let faults = env.password_boss.faults();
    faults.set_latency(Duration::from_millis(200));
    let (leading, watched) = tokio::sync::watch::channel(true);
    let leadership = Leadership::following(watched);
    let engine = PipelineEngine::new();
    let sync = {
        let request = request(&env);
        let leadership = leadership.clone();
        tokio::spawn(
            async move { sync_while_leading(&engine, request, &leadership).await }
                .with_subscriber(logs),
        )
    };

    // Writing: from now on every write that arrives is held, unanswered.
    eventually("the sync writes", Duration::from_secs(60), || {
        let arrived = env.password_boss.requests().writes_arrived;
        async move { (arrived > 0).then_some(()) }
    })
    .await;
    faults.hold_writes();
    eventually(
        "every write the executor may have in flight held",
        Duration::from_secs(60),
        || {
            let held = faults.writes_waiting();
            async move { (held == DEFAULT_CONCURRENCY as u64).then_some(()) }
        },
    )
    .await;
    let arrived_before_loss = env.password_boss.requests().writes_arrived;

    leading.send(false).expect("the sync watches leadership");
    let report = tokio::time::timeout(Duration::from_secs(10), sync)
        .await
        .expect("the sync stops when leadership is lost")
        .expect("the sync task");
    let failure = report
        .failure
        .as_ref()
        .expect("a stopped sync is a failure");
    assert_eq!(failure.reason, FailureReason::LeadershipLost, "{failure}");
    // Every write it made is reported: the answered ones with their outcome, the ones in flight
    // (sent, their answer abandoned) as failed with reason LeadershipLost — one audit line each.
    let abandoned: Vec<_> = report
        .actions
        .iter()
        .filter(|r| r.reason.as_deref() == Some(REASON_LEADERSHIP_LOST))
        .collect();
    assert_eq!(abandoned.len(), DEFAULT_CONCURRENCY, "{:?}", report.actions);
    assert!(
        abandoned
            .iter()
            .all(|r| r.outcome == WriteOutcome::Failed && r.action == "CreateUser")
    );
    let answered = report
        .actions
        .iter()
        .filter(|r| r.outcome == WriteOutcome::Applied)
        .count();
    assert_eq!(
        answered + abandoned.len(),
        report.actions.len(),
        "nothing else was sent"
    );
    let lines: Vec<serde_json::Value> = capture
        .text()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let abandoned_lines = lines
        .iter()
        .filter(|l| l["reason"] == REASON_LEADERSHIP_LOST && l["outcome"] == "failed")
        .count();
    assert_eq!(abandoned_lines, DEFAULT_CONCURRENCY, "one audit line each");

    // The held writes are handled now (their answers go nowhere); a sync still running would
    // be answered and start more. It is given every chance to: the simulator is left to
    // handle all it was sent, and a while more.
    faults.release_writes();
    eventually("the held writes handled", Duration::from_secs(30), || {
        let held = faults.writes_waiting();
        async move { (held == 0).then_some(()) }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        env.password_boss.requests().writes_arrived,
        arrived_before_loss,
        "a write started after leadership was lost"
    );
    let made: Vec<String> = env
        .password_boss
        .users()
        .iter()
        .filter(|u| u.managed_by == "Azure AD")
        .map(|u| u.email.clone())
        .collect();
    let created = made.len();
    assert!(
        created < 60,
        "the sync was stopped before it created every user ({created} created)"
    );
    // Whether the server applied a write whose answer was abandoned is its affair; whatever it
    // made is in the report and the audit trail.
    for email in &made {
        assert!(
            report.actions.iter().any(|r| r
                .email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(email))),
            "{email} was made but is not in the report: {:?}",
            report.actions
        );
    }

    // Without leadership a new sync does not even start.
    let before = env.password_boss.requests().total();
    let report = sync_while_leading(&PipelineEngine::new(), request(&env), &leadership).await;
    assert_eq!(
        report.failure.unwrap().reason,
        FailureReason::LeadershipLost
    );
    assert_eq!(env.password_boss.requests().total(), before);
}

/// Sets the Lease's holder, renewed now for `seconds`.
async fn hand_lease(leases: &Api<Lease>, name: &str, holder: &str, seconds: i32) {
    // MicroTime: the API server takes exactly six fractional digits.
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
        k8s_openapi::jiff::Timestamp::now(),
    );
    let patch = serde_json::json!({"spec": {
        "holderIdentity": holder,
        "leaseDurationSeconds": seconds,
        "acquireTime": now,
        "renewTime": now,
    }});
    leases
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("the Lease is patched");
}

/// The lease taken by another replica: this one syncs nothing; once it leads again, its first
/// sync reads Password Boss afresh instead of trusting the state it kept (the other replica may
/// have written since). No safety record is kept in memory: every sync that spends stored its
/// record in the status first (`sync::spending`, tested below).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_loses_the_lease_forgets_what_it_kept() {
    const LEASE: &str = "pbconnector-lease-test";
    let cluster = Cluster::shared_without_interval_minimum().await;
    let ns = cluster.namespace("lease-forget").await;
    let env = sample(20, "300ms").await;
    let engine = CountingEngine::default();
    let operator = InProcess::start_with(cluster.server().client().await, engine.clone(), {
        let mut config = InProcess::config(true);
        config.namespaces = vec![ns.clone()];
        config.identity = "replica-a".into();
        config.leader_election = Some(LeaderElection::new(LEASE, ns.as_str()));
        config
    });
    cluster.apply(&env.manifests(&ns)).await;
    cluster
        .wait_connection(&ns, Connection::Connected, Duration::from_secs(60))
        .await;
    let key = ConnectorKey::new(&ns, NAME);
    // Steady state: the kept Password Boss state stands in, no Password Boss request a sync.
    let settled = engine.syncs(&key) + 3;
    eventually("three more syncs", Duration::from_secs(20), || {
        let n = engine.syncs(&key);
        async move { (n >= settled).then_some(()) }
    })
    .await;
    let reads = env.password_boss.requests().reads();
    let steady = engine.syncs(&key) + 2;
    eventually("two steady syncs", Duration::from_secs(20), || {
        let n = engine.syncs(&key);
        async move { (n >= steady).then_some(()) }
    })
    .await;
    assert_eq!(
        env.password_boss.requests().reads(),
        reads,
        "steady syncs rest on the kept state"
    );

    // Another replica takes the lease (as after this one's renewals failed): syncs stop.
    let leases: Api<Lease> = Api::namespaced(cluster.server().client().await, &ns);
    hand_lease(&leases, LEASE, "replica-b", 3600).await;
    let syncs = eventually("no sync for 2 s", Duration::from_secs(30), || {
        let before = engine.syncs(&key);
        let (engine, key) = (engine.clone(), key.clone());
        async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let after = engine.syncs(&key);
            (after == before).then_some(after)
        }
    })
    .await;

    // The other replica is gone; this one takes the lease again and reads Password Boss afresh.
    let reads = env.password_boss.requests().reads();
    hand_lease(&leases, LEASE, "replica-b", 1).await;
    eventually("a sync in the new term", Duration::from_secs(60), || {
        let n = engine.syncs(&key);
        async move { (n > syncs).then_some(()) }
    })
    .await;
    assert!(
        env.password_boss.requests().reads() > reads,
        "the new term's first sync read Password Boss"
    );
    operator.stop().await;
}

/// A connector of a sample of `users` in a namespace of its own, no operator running: the
/// cluster, the namespace, the sample and the object's uid.
async fn connector_object(
    prefix: &str,
    users: usize,
) -> (Cluster, String, SampleEnvironment, String) {
    let cluster = Cluster::shared().await;
    let ns = cluster.namespace(prefix).await;
    let env = sample(users, "1h").await;
    cluster.apply(&env.manifests(&ns)).await;
    let object = cluster.connectors(&ns).get(NAME).await.unwrap();
    let uid = object.metadata.uid.expect("the API server sets a uid");
    (cluster, ns, env, uid)
}

/// The connector's status as the API server holds it.
async fn status_of(cluster: &Cluster, ns: &str) -> AzureAdConnectorStatus {
    let object = cluster.connectors(ns).get(NAME).await.unwrap();
    object.status.expect("a status")
}

/// A record of `changes` spent now, to the microsecond (as the status keeps times).
fn spent(changes: &[u32]) -> SafetyRecord {
    SafetyRecord {
        spent: changes
            .iter()
            .map(|&changes| SpentChanges {
                time: MicroTime(
                    Timestamp::from_microsecond(Timestamp::now().as_microsecond()).unwrap(),
                ),
                changes,
            })
            .collect(),
        ..SafetyRecord::default()
    }
}

/// The controller's safety store on the real API server: a write names the resourceVersion it
/// read, so one made over another writer's record is refused (409) and the record read again
/// holds both; the rest of the status stays as it was; an object made again under the same name
/// is not written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_store_never_writes_over_a_record_it_did_not_read() {
    let (cluster, ns, _sample, uid) = connector_object("safety-store", 5).await;
    let status = AzureAdConnectorStatus {
        message: "as the last sync left it".into(),
        ..Default::default()
    };
    apply_status(&Api::namespaced(cluster.client.clone(), &ns), NAME, &status)
        .await
        .unwrap();
    let ours = StatusSafetyStore::new(cluster.client.clone(), &ns, NAME, &uid);
    let theirs = StatusSafetyStore::new(cluster.client.clone(), &ns, NAME, &uid);

    let read = ours.read().await.unwrap();
    assert_eq!(read.record, SafetyRecord::default());
    let their_read = theirs.read().await.unwrap();
    let their_record = spent(&[5]);
    theirs
        .write(&their_record, &their_read.version)
        .await
        .unwrap();
    let refused = ours.write(&spent(&[20]), &read.version).await;
    assert!(
        matches!(refused, Err(SafetyStoreError::Conflict)),
        "{refused:?}"
    );
    let again = ours.read().await.unwrap();
    assert_eq!(
        again.record, their_record,
        "the other writer's record is kept"
    );
    let mut both = their_record.clone();
    both.spent.extend(spent(&[20]).spent);
    ours.write(&both, &again.version).await.unwrap();
    let written = status_of(&cluster, &ns).await;
    assert_eq!(written.safety.as_ref().map(|s| s.spent.len()), Some(2));
    assert_eq!(
        written.message, status.message,
        "the rest of the status is kept"
    );

    let stranger = StatusSafetyStore::new(cluster.client.clone(), &ns, NAME, "another-object");
    assert!(matches!(
        stranger.read().await,
        Err(SafetyStoreError::Failed(_))
    ));
}

/// Takes the sample's regular members of `range` out of the sync group (every fifth is in it
/// through the nested group).
fn remove_members(env: &SampleEnvironment, range: std::ops::Range<usize>) {
    for i in range {
        let parent = if i % 5 == 4 {
            &env.nested_group_id
        } else {
            &env.sync_group_id
        };
        env.tenant.remove_member(parent, &env.members[i]);
    }
}

/// One sync of `env`'s connector in namespace `ns`, as the engine runs it.
async fn sync_once(
    env: &SampleEnvironment,
    spec: &AzureAdConnectorSpec,
    ns: &str,
    state: &mut ConnectorState,
    request: SyncRequest,
) -> pbconnector::sync::report::SyncReport {
    let secrets = env.secrets();
    let credentials = read_credentials(spec, ns, |n| secrets.get(n).cloned());
    let request = SyncRequest {
        spec: spec.clone(),
        ..request
    };
    run_sync(&request, credentials, state).await
}

/// A sync that spends stores its record in the status before its first destructive write: the
/// spending is there though the controller never wrote the sync's final status (as when the
/// lease is lost at the end of a sync), and a sync on another replica, starting from the status,
/// counts it. A record that cannot be stored (the object is another one) means no destructive
/// write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spending_is_in_the_status_before_it_is_spent() {
    let (cluster, ns, env, uid) = connector_object("safety-spend", 60).await;
    let mut spec: AzureAdConnectorSpec = serde_json::from_value(env.spec_json()).unwrap();
    spec.safety.max_deprovision_percent = 100;
    spec.safety.max_deprovisions_per_sync = 100;
    let options = |uid: &str| SyncRequest {
        safety_store: Some(SafetyStoreHandle::new(StatusSafetyStore::new(
            cluster.client.clone(),
            &ns,
            NAME,
            uid,
        ))),
        ..SyncRequest::new(ConnectorKey::new(ns.as_str(), NAME), spec.clone())
    };
    let mut first = ConnectorState::default();
    let created = sync_once(&env, &spec, &ns, &mut first, options(&uid)).await;
    assert!(created.succeeded(), "{created:?}");

    // A record that cannot be stored: nothing destructive is sent.
    remove_members(&env, 0..30);
    let writes = env.password_boss.requests().writes();
    let refused = sync_once(&env, &spec, &ns, &mut first, options("another-object")).await;
    let failure = refused.failure.expect("the sync fails");
    assert_eq!(
        failure.reason,
        FailureReason::SafetyRecordNotWritten,
        "{failure}"
    );
    assert_eq!(env.password_boss.requests().writes(), writes);

    // Stored: 30 spent, in the status though no final status was written.
    let spent_30 = sync_once(&env, &spec, &ns, &mut first, options(&uid)).await;
    assert_eq!(spent_30.applied.disabled, 30, "{spent_30:?}");
    let status = status_of(&cluster, &ns).await;
    let record = status.safety.expect("the record is in the status");
    assert_eq!(record.spent.iter().map(|s| s.changes).sum::<u32>(), 30);

    // Another replica, from the status: 25 more would make 55 in the window (over its 50).
    let mut second = ConnectorState::default();
    remove_members(&env, 30..55);
    let from_status = SyncRequest {
        safety_record: Some(record.clone()),
        ..options(&uid)
    };
    let writes = env.password_boss.requests().writes();
    let held = sync_once(&env, &spec, &ns, &mut second, from_status).await;
    assert_eq!(held.applied.disabled, 0, "{held:?}");
    assert!(held.held().is_some(), "held by the window: {held:?}");
    assert_eq!(env.password_boss.requests().writes(), writes);
    let status = status_of(&cluster, &ns).await;
    assert_eq!(status.safety, Some(record), "nothing more spent");
}

/// The residual race of a leader change: replica A stores its spending; replica B, whose copy of
/// the object is older than that (its watch lags), syncs from that copy's record, spends nothing
/// and writes its final status as the controller does (`status_from_report` over its copy, then
/// `status_writer::apply_status`). A's spending is still in `status.safety` afterwards, and the
/// next plan counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_status_from_a_stale_copy_keeps_the_spending_stored_since() {
    let (cluster, ns, env, uid) = connector_object("safety-stale", 60).await;
    let api = Api::namespaced(cluster.client.clone(), &ns);
    let mut spec: AzureAdConnectorSpec = serde_json::from_value(env.spec_json()).unwrap();
    spec.safety.max_deprovision_percent = 100;
    spec.safety.max_deprovisions_per_sync = 100;
    let options = |record: Option<SafetyRecord>| SyncRequest {
        safety_record: record,
        safety_store: Some(SafetyStoreHandle::new(StatusSafetyStore::new(
            cluster.client.clone(),
            &ns,
            NAME,
            &uid,
        ))),
        ..SyncRequest::new(ConnectorKey::new(ns.as_str(), NAME), spec.clone())
    };
    let mut a = ConnectorState::default();
    let created = sync_once(&env, &spec, &ns, &mut a, options(None)).await;
    assert!(created.succeeded(), "{created:?}");
    // A record that changes without spending (the groups it made are its own now) is stored by
    // the sync too, not left to the final status.
    let owned = &created.safety_record().expect("a record").owned_groups;
    assert!(!owned.is_empty());
    assert_eq!(
        status_of(&cluster, &ns)
            .await
            .safety
            .map(|s| s.owned_groups),
        Some(owned.clone())
    );
    let first = status_from_report(None, &created, Some(1), None);
    apply_status(&api, NAME, &first).await.unwrap();
    // B's copy of the object: the status as A's first sync left it.
    let stale = status_of(&cluster, &ns).await;

    // A spends 30 (stored before the disables), and loses the lease before its final status.
    remove_members(&env, 0..30);
    let spent_30 = sync_once(&env, &spec, &ns, &mut a, options(stale.safety.clone())).await;
    assert_eq!(spent_30.applied.disabled, 30, "{spent_30:?}");
    let stored = status_of(&cluster, &ns)
        .await
        .safety
        .expect("A's record is stored");
    assert_eq!(stored.spent.iter().map(|s| s.changes).sum::<u32>(), 30);

    // B leads now, from its stale copy: nothing left to do, nothing spent; its final status.
    let mut b = ConnectorState::default();
    let writes = env.password_boss.requests().writes();
    let idle = sync_once(&env, &spec, &ns, &mut b, options(stale.safety.clone())).await;
    assert!(idle.succeeded(), "{idle:?}");
    assert_eq!(
        env.password_boss.requests().writes(),
        writes,
        "B spends nothing"
    );
    let last = status_from_report(Some(&stale), &idle, Some(1), None);
    apply_status(&api, NAME, &last).await.unwrap();
    let status = status_of(&cluster, &ns).await;
    assert_eq!(status.message, last.message, "B's status is written");
    assert_eq!(
        status.safety.as_ref(),
        Some(&stored),
        "A's spending survives B's final status"
    );

    // And still counts: 25 more would make 55 in the window (over its 50).
    remove_members(&env, 30..55);
    let writes = env.password_boss.requests().writes();
    let held = sync_once(&env, &spec, &ns, &mut b, options(status.safety.clone())).await;
    assert_eq!(held.applied.disabled, 0, "{held:?}");
    assert!(held.held().is_some(), "held by the window: {held:?}");
    assert_eq!(env.password_boss.requests().writes(), writes);
}
