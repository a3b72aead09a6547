//! A replica that loses the leader lease mid-sync stops writing to Password Boss at once: the
//! sync in flight is dropped (`controller::sync_guard`), so no write starts after the loss. And
//! what it kept between syncs does not outlive its term: another replica may have spent the
//! safety budget and written to Password Boss meanwhile.

use std::time::{Duration, Instant};

use crate::support::e2e::{Cluster, CountingEngine, InProcess, NAME, eventually, sample};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams};
use pbconnector::controller::sync_guard::guarded_sync;
use pbconnector::controller::{
    ConnectorKey, LeaderElection, Leadership, PipelineEngine, SyncRequest,
};
use pbconnector::resources::Connection;
use pbconnector::sync::failure::FailureReason;
use pbconnector_simulators::sample::{SampleEnvironment, SampleOptions};

fn request(env: &SampleEnvironment) -> SyncRequest {
    SyncRequest {
        key: ConnectorKey::new("msp-contoso", "contoso"),
        uid: "uid-1".into(),
        spec: serde_json::from_value(env.spec_json()).unwrap(),
        secrets: env.secrets(),
        dry_run: false,
        approval: None,
        safety_record: None,
        federated_token: None,
        progress: Default::default(),
        company_guard: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_boss_write_starts_after_leadership_is_lost() {
    // 60 users to create, each write slowed down: the sync writes for seconds.
    let env = SampleEnvironment::start(SampleOptions {
        users: 60,
        ..SampleOptions::default()
    })
    .await
    .expect("simulators start");
    env.password_boss
        .faults()
        .set_latency(Duration::from_millis(200));
    let (leading, watched) = tokio::sync::watch::channel(true);
    let leadership = Leadership::following(watched);
    let engine = PipelineEngine::new();
    let sync = {
        let request = request(&env);
        let leadership = leadership.clone();
        tokio::spawn(async move {
            guarded_sync(&engine, request, Duration::from_secs(120), &leadership).await
        })
    };

    let deadline = Instant::now() + Duration::from_secs(60);
    while env.password_boss.requests().writes() == 0 {
        assert!(Instant::now() < deadline, "the sync never started writing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    leading.send(false).expect("the sync watches leadership");
    let lost_at = Instant::now();
    let report = tokio::time::timeout(Duration::from_secs(10), sync)
        .await
        .expect("the sync stops when leadership is lost")
        .expect("the sync task");
    let failure = report.failure.expect("a stopped sync is a failure");
    assert_eq!(failure.reason, FailureReason::LeadershipLost, "{failure}");

    // Writes already on the wire may land a moment later; none may arrive after that.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stats = env.password_boss.requests();
    let last = stats.last_write_arrived.expect("writes arrived");
    assert!(
        last <= lost_at + Duration::from_millis(50),
        "a write arrived {:?} after leadership was lost",
        last.saturating_duration_since(lost_at)
    );
    let created = env
        .password_boss
        .users()
        .iter()
        .filter(|u| u.managed_by == "Azure AD")
        .count();
    assert!(
        created < 60,
        "the sync was stopped before it created every user ({created} created)"
    );

    // Without leadership a new sync does not even start.
    let before = env.password_boss.requests().total();
    let report = guarded_sync(
        &PipelineEngine::new(),
        request(&env),
        Duration::from_secs(120),
        &leadership,
    )
    .await;
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
/// have written since). Its safety record is carried over and merged with the status's
/// (`SafetyRecord::carried_into`, `ConnectorState::begin_term`: unit-tested).
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
