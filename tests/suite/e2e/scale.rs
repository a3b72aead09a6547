//! The operator's cost and isolation over many intervals and many connectors, in-process
//! (`controller::run` with the real sync engine wrapped to count syncs) over HTTP against the
//! test API server and the simulators.
//!
//! Intervals here are shorter than the CRD's 10 s minimum so that 100 intervals take seconds:
//! the tests install the CRD without that one CEL rule (everything else as shipped). The
//! controller honours whatever interval the API server accepted, so the code under test is the
//! same; only the clock runs faster.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::{WatchStreamExt, watcher};

use crate::support::e2e::{Cluster, CountingEngine, InProcess, NAME, eventually, sample};
use pbconnector::resources::Connection;
use pbconnector::sync::ConnectorKey;
use pbconnector::sync::status::refresh_period;
use pbconnector::telemetry::metrics::Metrics;

/// 100 idle intervals of a connector with nothing to change: no Password Boss write, and status
/// writes only to refresh `lastSuccessfulSyncTime`, at most one per the connector's own refresh
/// period (`refresh_period`: between half the longest and the longest, 10 to 20 minutes as
/// shipped, spread per connector so that a fleet does not refresh in bursts; the longest is 3 s
/// here, so that the refresh is seen happening within the test's seconds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_intervals_write_status_once_per_refresh_period_and_never_password_boss() {
    const REFRESH: Duration = Duration::from_secs(3);
    let cluster = Cluster::shared_without_interval_minimum().await;
    let ns = cluster.namespace("e2e-idle").await;
    let env = sample(50, "100ms").await;
    let engine = CountingEngine::default();
    let metrics = Metrics::new();
    let operator = InProcess::start_configured(
        cluster.operator_client().await,
        engine.clone(),
        4,
        Some(&ns),
        |config| {
            config.last_success_refresh = REFRESH;
            config.metrics = metrics.clone();
        },
    );
    cluster.apply(&env.manifests(&ns)).await;
    cluster
        .wait_connection(&ns, Connection::Connected, Duration::from_secs(30))
        .await;
    let key = ConnectorKey::new(&ns, NAME);
    // Let the first sync's own status write settle before counting.
    let settled = engine.syncs(&key) + 2;
    eventually("two more syncs", Duration::from_secs(10), || {
        let n = engine.syncs(&key);
        async move { (n >= settled).then_some(()) }
    })
    .await;

    let status_writes = || {
        cluster
            .server()
            .requests()
            .iter()
            .filter(|r| {
                r.namespace() == ns
                    && r.resource() == "azureadconnectors/status"
                    && matches!(r.verb.as_str(), "patch" | "update")
            })
            .count()
    };
    // Every lastSuccessfulSyncTime the operator writes, in order, as a watch sees it.
    let written: Arc<Mutex<Vec<Timestamp>>> = Arc::default();
    let watch = tokio::spawn({
        let written = written.clone();
        let mut stream = watcher(cluster.connectors(&ns), watcher::Config::default())
            .applied_objects()
            .boxed();
        async move {
            while let Some(Ok(c)) = stream.next().await {
                if let Some(time) = c.status.and_then(|s| s.last_successful_sync_time) {
                    let mut written = written.lock().unwrap();
                    if written.last() != Some(&time.0) {
                        written.push(time.0);
                    }
                }
            }
        }
    });
    let refreshes = || written.lock().unwrap().len();
    eventually("the watch's first status", Duration::from_secs(10), || {
        let seen = refreshes();
        async move { (seen > 0).then_some(()) }
    })
    .await;
    let writes_before = status_writes();
    let refreshes_before = refreshes();
    let pb_writes_before = env.password_boss.requests().writes();
    let graph_before = env.graph.requests().graph_http();
    let start = engine.syncs(&key);
    // At least 100 intervals, and three refreshes of lastSuccessfulSyncTime: the refresh does
    // happen, so a stuck connector is told from an idle one.
    eventually(
        "100 idle intervals and three refreshes",
        Duration::from_secs(60),
        || {
            let n = engine.syncs(&key);
            let refreshed = refreshes() - refreshes_before;
            async move { (n >= start + 100 && refreshed >= 3).then_some(()) }
        },
    )
    .await;
    let syncs = engine.syncs(&key) - start;
    // Every sync after the first ran on the interval: each one's start lateness is measured.
    let on_schedule = lateness_count(&metrics);
    assert!(
        on_schedule >= syncs,
        "{on_schedule} sync start lateness observations for {syncs} interval syncs"
    );
    let pb_written = env.password_boss.requests().writes() - pb_writes_before;
    let graph_requests = env.graph.requests().graph_http() - graph_before;
    operator.stop().await;

    // No status write but the refreshes (one more at most: a write in flight as counting
    // began), once the watch has seen what the stopped operator wrote.
    eventually(
        "no status write but the refreshes of lastSuccessfulSyncTime",
        Duration::from_secs(10),
        || {
            let status_written = status_writes() - writes_before;
            let refreshed = refreshes() - refreshes_before;
            async move { (status_written <= refreshed + 1).then_some(()) }
        },
    )
    .await;
    watch.abort();
    // ... and the refreshes the connector's refresh period apart at least, by the operator's own
    // clock, in the whole seconds a status time is written in (the next is due `period` after
    // the written one, itself cut to the second).
    let period = refresh_period(&key, REFRESH);
    assert!(period >= REFRESH / 2 && period < REFRESH, "{period:?}");
    let period = Duration::from_secs(period.as_secs());
    let written = written.lock().unwrap().clone();
    for pair in written[refreshes_before - 1..].windows(2) {
        let apart = pair[1].duration_since(pair[0]);
        assert!(
            apart.as_secs_f64() >= period.as_secs_f64(),
            "lastSuccessfulSyncTime written {apart:?} after the one before, within {period:?}: {written:?}"
        );
    }
    assert_eq!(
        pb_written, 0,
        "no Password Boss write in {syncs} idle syncs"
    );
    assert!(
        graph_requests as usize <= syncs,
        "at most one Graph request per idle sync: {graph_requests} for {syncs}"
    );
    cluster.cleanup().await;
}

/// How many sync starts `sync_start_lateness_seconds` has measured.
fn lateness_count(metrics: &Metrics) -> usize {
    let text = metrics.encode();
    text.lines()
        .find_map(|l| l.strip_prefix("pbconnector_sync_start_lateness_seconds_count "))
        .unwrap_or_else(|| panic!("no lateness histogram in\n{text}"))
        .trim()
        .parse()
        .expect("a count")
}

/// 50 connectors on one operator, one of them throttled hard by Graph (429, Retry-After 60 s):
/// every other connector keeps its interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_connectors_keep_their_interval_while_one_is_throttled() {
    const CONNECTORS: usize = 50;
    // A bound on a hung test, not a measurement: five 1 s intervals take about five seconds.
    const PROGRESS_TIMEOUT: Duration = Duration::from_secs(30);
    // Fifty namespaces watched cluster-wide: a server of this test's own.
    let cluster = Cluster::owned().await;
    cluster.install_crd_without_interval_minimum().await;
    let mut envs = Vec::with_capacity(CONNECTORS);
    let mut manifests = String::new();
    for i in 0..CONNECTORS {
        let env = sample(10, "1s").await;
        let ns = format!("msp-{i:02}");
        manifests.push_str(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n---\n{}\n---\n",
            env.manifests(&ns)
        ));
        envs.push((ns, env));
    }
    let (throttled_ns, throttled) = &envs[0];
    throttled
        .graph
        .faults()
        .throttle_tenant(throttled.tenant.id(), Some(60));

    let engine = CountingEngine::default();
    let operator = InProcess::start(cluster.operator_client().await, engine.clone(), 16, None);
    cluster.apply(&manifests).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut waiting = Vec::new();
        for (ns, _) in &envs[1..] {
            let c = cluster.connectors(ns).get(NAME).await.expect("connector");
            let connection = c.status.map(|s| (s.connection, s.message));
            if connection.as_ref().map(|c| c.0) != Some(Connection::Connected) {
                waiting.push((ns.clone(), connection));
            }
        }
        if waiting.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not connected after 60 s: {waiting:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Every other connector goes on syncing while the throttled one waits: five more syncs each.
    let throttled_key = ConnectorKey::new(throttled_ns, NAME);
    let keys: Vec<ConnectorKey> = envs[1..]
        .iter()
        .map(|(ns, _)| ConnectorKey::new(ns, NAME))
        .collect();
    let targets: Vec<usize> = keys.iter().map(|k| engine.syncs(k) + 5).collect();
    eventually(
        "five more syncs of every other connector",
        PROGRESS_TIMEOUT,
        || {
            let behind: Vec<String> = keys
                .iter()
                .zip(&targets)
                .filter(|(k, target)| engine.syncs(k) < **target)
                .map(|(k, _)| k.to_string())
                .collect();
            async move { behind.is_empty().then_some(()) }
        },
    )
    .await;
    assert!(
        engine.syncs(&throttled_key) <= 1,
        "the throttled connector honours Retry-After instead of hammering Graph"
    );
    let throttled_status = cluster
        .connectors(throttled_ns)
        .get(NAME)
        .await
        .expect("connector")
        .status
        .map(|s| s.connection);
    assert_ne!(throttled_status, Some(Connection::Connected));
    operator.stop().await;
    cluster.cleanup().await;
}
