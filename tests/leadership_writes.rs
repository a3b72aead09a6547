//! A replica that loses the leader lease mid-sync stops writing to Password Boss at once: the
//! sync in flight is dropped (`controller::sync_guard`), so no write starts after the loss.

use std::time::{Duration, Instant};

use pbconnector::controller::sync_guard::guarded_sync;
use pbconnector::controller::{ConnectorKey, Leadership, PipelineEngine, SyncRequest};
use pbconnector::sync::failure::FailureReason;
use pbconnector_simulators::sample::{SampleEnvironment, SampleOptions};

fn request(env: &SampleEnvironment) -> SyncRequest {
    SyncRequest {
        key: ConnectorKey::new("msp-contoso", "contoso"),
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
