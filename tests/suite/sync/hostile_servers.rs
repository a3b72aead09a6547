//! Hostile or broken servers, one kind at a time, against the simulators: each fails only the
//! connector's sync, with a closed reason, in bounded time and memory, and never writes to
//! Password Boss (so never deprovisions).

use std::time::Duration;

use pbconnector::resources::AzureAdConnectorSpec;
use pbconnector::sync::report::SyncReport;
use pbconnector::sync::state::ConnectorState;
use pbconnector::sync::status::failure::FailureReason;
use pbconnector::sync::{ConnectorKey, SyncRequest, read_credentials, run_sync};
use pbconnector_simulators::hostile::Hostile;
use pbconnector_simulators::sample::{SampleEnvironment, SampleOptions};

/// Far more than the 32 MiB cap: the simulator makes it as it sends it.
const HUGE: u64 = 800 * 1024 * 1024;

async fn sample() -> SampleEnvironment {
    SampleEnvironment::start(SampleOptions {
        users: 5,
        ..SampleOptions::default()
    })
    .await
    .expect("simulators start")
}

async fn sync(
    env: &SampleEnvironment,
    state: &mut ConnectorState,
    deadline: Duration,
) -> SyncReport {
    let spec: AzureAdConnectorSpec = serde_json::from_value(env.spec_json()).unwrap();
    let secrets = env.secrets();
    let credentials = read_credentials(&spec, "msp-contoso", |n| secrets.get(n).cloned());
    let request = SyncRequest {
        deadline,
        ..SyncRequest::new(ConnectorKey::new("msp-contoso", "contoso"), spec)
    };
    run_sync(&request, credentials, state).await
}

/// The sync failed with `reason`, changed nothing in Password Boss and deprovisioned no one.
fn assert_failed_without_writes(
    env: &SampleEnvironment,
    report: &SyncReport,
    reason: FailureReason,
    writes_before: u64,
) {
    let failure = report.failure.as_ref().expect("the sync fails");
    assert_eq!(failure.reason, reason, "{failure}");
    assert_eq!(
        env.password_boss.requests().writes(),
        writes_before,
        "no Password Boss write after {reason}"
    );
    let a = &report.applied;
    assert_eq!((a.disabled, a.removed, a.deleted), (0, 0, 0));
}

/// A first sync that works: the token is cached and the company is provisioned.
async fn synced_once(env: &SampleEnvironment) -> (ConnectorState, u64) {
    let mut state = ConnectorState::default();
    let report = sync(env, &mut state, Duration::from_secs(60)).await;
    assert!(report.succeeded(), "{:?}", report.failure);
    (state, env.password_boss.requests().writes())
}

#[tokio::test]
async fn a_huge_graph_body_is_cut_off_at_the_cap() {
    let env = sample().await;
    let (mut state, writes) = synced_once(&env).await;
    env.graph
        .faults()
        .set_hostile(Some(Hostile::HugeBody(HUGE)));
    let report = sync(&env, &mut state, Duration::from_secs(120)).await;
    assert_failed_without_writes(&env, &report, FailureReason::ResponseTooLarge, writes);
    let message = report.failure.unwrap().to_string();
    assert!(
        message.contains("Microsoft Graph") && message.contains("33554432"),
        "{message}"
    );
}

#[tokio::test]
async fn a_huge_token_endpoint_body_is_cut_off_at_the_cap() {
    let env = sample().await;
    env.graph
        .faults()
        .set_hostile(Some(Hostile::HugeBody(HUGE)));
    let mut state = ConnectorState::default();
    let writes = env.password_boss.requests().writes();
    let report = sync(&env, &mut state, Duration::from_secs(120)).await;
    assert_failed_without_writes(&env, &report, FailureReason::ResponseTooLarge, writes);
    assert!(
        report
            .failure
            .unwrap()
            .to_string()
            .contains("token endpoint")
    );
}

#[tokio::test]
async fn a_huge_password_boss_body_is_cut_off_at_the_cap() {
    let env = sample().await;
    let (_, writes) = synced_once(&env).await;
    // A new connector state reads Password Boss in full (a kept one would send no read).
    let mut state = ConnectorState::default();
    env.password_boss
        .faults()
        .set_hostile(Some(Hostile::HugeBody(HUGE)));
    let report = sync(&env, &mut state, Duration::from_secs(120)).await;
    assert_failed_without_writes(&env, &report, FailureReason::ResponseTooLarge, writes);
}

#[tokio::test]
async fn a_graph_nextlink_cycle_is_caught() {
    let env = sample().await;
    let (_, writes) = synced_once(&env).await;
    env.graph.faults().set_hostile(Some(Hostile::CyclicPaging));
    // A fresh state reads in full, following member pages (a delta read lists no members).
    let mut state = ConnectorState::default();
    let report = sync(&env, &mut state, Duration::from_secs(60)).await;
    assert_failed_without_writes(&env, &report, FailureReason::PagingCycle, writes);
    assert!(
        env.graph.requests().graph_http() < 50,
        "the cycle is caught at once, not followed"
    );
}

#[tokio::test]
async fn a_password_boss_cursor_cycle_is_caught() {
    let env = sample().await;
    let (_, writes) = synced_once(&env).await;
    // A new connector state reads Password Boss in full (a kept one would send no read).
    let mut state = ConnectorState::default();
    let reads = env.password_boss.requests().reads();
    env.password_boss
        .faults()
        .set_hostile(Some(Hostile::CyclicPaging));
    let report = sync(&env, &mut state, Duration::from_secs(60)).await;
    assert_failed_without_writes(&env, &report, FailureReason::PagingCycle, writes);
    assert!(
        env.password_boss.requests().reads() - reads < 10,
        "A → B → A is caught on its third page"
    );
}

#[tokio::test]
async fn endless_password_boss_paging_stops_at_the_page_cap() {
    let env = sample().await;
    let (_, writes) = synced_once(&env).await;
    // A new connector state reads Password Boss in full (a kept one would send no read).
    let mut state = ConnectorState::default();
    let reads = env.password_boss.requests().reads();
    env.password_boss
        .faults()
        .set_hostile(Some(Hostile::EndlessPaging));
    let report = sync(&env, &mut state, Duration::from_secs(300)).await;
    assert_failed_without_writes(&env, &report, FailureReason::TooManyPages, writes);
    let pages = env.password_boss.requests().reads() - reads;
    assert!(
        pages <= 2 * pbconnector::bounded::MAX_PAGES as u64 + 10,
        "{pages} pages read"
    );
}

#[tokio::test]
async fn a_graph_server_that_never_answers_ends_at_the_sync_deadline() {
    let env = sample().await;
    let (mut state, writes) = synced_once(&env).await;
    env.graph.faults().set_hostile(Some(Hostile::NeverAnswer));
    let report = sync_never_answered(&env, &mut state).await;
    assert_failed_without_writes(&env, &report, FailureReason::SyncDeadlineExceeded, writes);
}

#[tokio::test]
async fn a_password_boss_that_never_answers_ends_at_the_sync_deadline() {
    let env = sample().await;
    let (_, writes) = synced_once(&env).await;
    // A new connector state reads Password Boss in full (a kept one would send no read).
    let mut state = ConnectorState::default();
    env.password_boss
        .faults()
        .set_hostile(Some(Hostile::NeverAnswer));
    let report = sync_never_answered(&env, &mut state).await;
    assert_failed_without_writes(&env, &report, FailureReason::SyncDeadlineExceeded, writes);
}

/// A sync with a 2 s deadline against a server that never answers: only the deadline can end
/// it (the guard turns a sync that waits for the server into a failure, not a hung test).
async fn sync_never_answered(env: &SampleEnvironment, state: &mut ConnectorState) -> SyncReport {
    tokio::time::timeout(
        Duration::from_secs(120),
        sync(env, state, Duration::from_secs(2)),
    )
    .await
    .expect("the sync ends at its deadline, not with an answer")
}
