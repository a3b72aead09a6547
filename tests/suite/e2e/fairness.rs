//! No tenant can hold the sync slots: connectors whose endpoints hang (a loopback server that
//! accepts connections and never answers) in other namespaces, more of them than there are
//! slots, leave a healthy connector its syncs and its sync-now; deleting, suspending or changing
//! a hanging connector cancels its sync in flight at once; and a burst of verify requests runs
//! at most two verifies.
//!
//! In-process (`controller::run` with the real sync engine, counted) against the second shared
//! API server (intervals below the CRD's 10 s minimum, as in e2e/scale.rs). Everything waits for
//! events — a status, a count of connections at the hanging server, of requests at the
//! simulators; the timeouts only turn a hung test into a failure. The times printed are what the
//! README's Reliability section quotes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};
use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::support::e2e::{Cluster, CountingEngine, InProcess, NAME, eventually, sample};
use pbconnector::http_client::READ_TIMEOUT;
use pbconnector::resources::{
    ANNOTATION_SYNC_REQUESTED_AT, ANNOTATION_VERIFY_REQUESTED_AT, Connection,
};
use pbconnector::sync::ConnectorKey;
use pbconnector_simulators::graph::PathKind;
use pbconnector_simulators::sample::SampleEnvironment;

/// A bound on a hung test, not a measurement: a wait for a slot lasts at most one read timeout
/// of a hanging request, then its backoff gives the slot back.
fn bound() -> Duration {
    READ_TIMEOUT * 2 + Duration::from_secs(15)
}

/// A server on loopback that accepts every connection, reads what it is sent and never answers.
struct Hanging {
    url: String,
    accepted: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Hanging {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let (accepted, open) = (accepted.clone(), open.clone());
            async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    open.fetch_add(1, Ordering::SeqCst);
                    let open = open.clone();
                    tokio::spawn(async move {
                        let mut buffer = [0u8; 4096];
                        // Until the client closes the connection (or breaks it).
                        while matches!(socket.read(&mut buffer).await, Ok(n) if n > 0) {}
                        open.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            }
        });
        Self {
            url,
            accepted,
            open,
            task,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// `env`'s manifests for `ns`, with Entra and Graph at this server: each sync hangs in its
    /// first token request, one connection.
    fn manifests(&self, env: &SampleEnvironment, ns: &str) -> String {
        let graph = env.graph.url().trim_end_matches('/').to_string();
        env.manifests(ns).replace(&graph, &self.url)
    }

    /// Waits until `n` connections are open here: that many syncs hang in a request.
    async fn wait_open(&self, n: usize) {
        eventually(&format!("{n} hanging connections"), bound(), || {
            let open = self.open();
            async move { (open >= n).then_some(()) }
        })
        .await;
    }
}

impl Drop for Hanging {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn namespaces(cluster: &Cluster, prefix: &str, n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(cluster.namespace(prefix).await);
    }
    out
}

async fn patch_connector(cluster: &Cluster, ns: &str, patch: serde_json::Value) {
    cluster
        .connectors(ns)
        .patch(NAME, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("the connector is patched");
}

/// Three hanging connectors in three namespaces, two slots: a healthy connector in a fourth
/// namespace still syncs, keeps syncing at its interval and handles a sync-now, while the
/// hanging server holds connections; each wait for a slot is at most one read timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_connectors_in_other_namespaces_leave_a_healthy_connector_its_syncs() {
    const SLOTS: u16 = 2;
    const HANGING: usize = 3;
    let cluster = Cluster::shared_without_interval_minimum().await;
    let hanging = Hanging::start().await;
    let hanging_env = sample(3, "1s").await;
    let healthy_env = sample(5, "2s").await;
    let hanging_ns = namespaces(&cluster, "e2e-hang", HANGING).await;
    let healthy_ns = cluster.namespace("e2e-healthy").await;
    let engine = CountingEngine::default();
    let watched: Vec<String> = hanging_ns
        .iter()
        .cloned()
        .chain([healthy_ns.clone()])
        .collect();
    let operator = InProcess::start_configured(
        cluster.operator_client().await,
        engine.clone(),
        SLOTS,
        None,
        |config| config.namespaces = watched,
    );
    for ns in &hanging_ns {
        cluster.apply(&hanging.manifests(&hanging_env, ns)).await;
    }
    // Every slot is held by a hanging sync before the healthy connector arrives.
    hanging.wait_open(SLOTS.into()).await;

    let started = Instant::now();
    cluster.apply(&healthy_env.manifests(&healthy_ns)).await;
    cluster
        .wait_connection(&healthy_ns, Connection::Connected, bound())
        .await;
    let first_sync = started.elapsed();
    assert!(
        hanging.open() > 0,
        "the hanging server still holds connections"
    );

    // Its interval: two more syncs while the others hang.
    let key = ConnectorKey::new(&healthy_ns, NAME);
    let before = engine.syncs(&key);
    let started = Instant::now();
    eventually(
        "two more syncs of the healthy connector",
        bound() * 2,
        || {
            let n = engine.syncs(&key);
            async move { (n >= before + 2).then_some(()) }
        },
    )
    .await;
    let two_intervals = started.elapsed();

    // Sync now.
    let started = Instant::now();
    patch_connector(
        &cluster,
        &healthy_ns,
        json!({"metadata": {"annotations": {ANNOTATION_SYNC_REQUESTED_AT: "now-1"}}}),
    )
    .await;
    cluster
        .wait_status(&healthy_ns, "sync-now handled", bound(), |s| {
            s.last_handled_sync_request.as_deref() == Some("now-1")
        })
        .await;
    let sync_now = started.elapsed();
    assert!(
        hanging.open() > 0,
        "the hanging server still holds connections"
    );
    for ns in &hanging_ns {
        let status = cluster.connectors(ns).get(NAME).await.unwrap().status;
        assert_ne!(
            status.map(|s| s.connection),
            Some(Connection::Connected),
            "{ns} never reaches a service"
        );
    }
    println!(
        "{HANGING} hanging connectors, {SLOTS} slots, read timeout {READ_TIMEOUT:?}: healthy \
         first sync after {first_sync:?}, two 2 s intervals in {two_intervals:?}, sync-now in \
         {sync_now:?}"
    );
    operator.stop().await;
}

/// One slot, held by a hanging sync; a healthy connector waits for it. Deleting the hanging
/// connector cancels its sync at once: the healthy one syncs while the hanging request never
/// timed out (the server saw no second connection, which a retry would open).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_hanging_connector_frees_its_slot_at_once() {
    let cluster = Cluster::shared_without_interval_minimum().await;
    let hanging = Hanging::start().await;
    let hanging_env = sample(3, "1m").await;
    let healthy_env = sample(5, "1m").await;
    let hanging_ns = cluster.namespace("e2e-del-hang").await;
    let healthy_ns = cluster.namespace("e2e-del-ok").await;
    let watched = vec![hanging_ns.clone(), healthy_ns.clone()];
    let operator = InProcess::start_configured(
        cluster.operator_client().await,
        CountingEngine::default(),
        1,
        None,
        |config| config.namespaces = watched,
    );
    cluster
        .apply(&hanging.manifests(&hanging_env, &hanging_ns))
        .await;
    hanging.wait_open(1).await;
    cluster.apply(&healthy_env.manifests(&healthy_ns)).await;
    // The healthy connector's reconcile has reached its sync (its first status says it waits).
    cluster
        .wait_status(
            &healthy_ns,
            "the healthy connector waiting",
            bound(),
            |_| true,
        )
        .await;
    assert_eq!(healthy_env.graph.requests().total_http(), 0, "no slot yet");

    let started = Instant::now();
    cluster
        .kubectl
        .ok(&["-n", &hanging_ns, "delete", "aadc", NAME, "--wait=false"])
        .await;
    cluster
        .wait_connection(&healthy_ns, Connection::Connected, bound())
        .await;
    let freed = started.elapsed();
    assert_eq!(
        hanging.accepted(),
        1,
        "the hanging request was cancelled, not timed out and retried"
    );
    println!("slot freed by deleting the hanging connector: healthy connected {freed:?} after");
    operator.stop().await;
}

/// Suspending a connector cancels its hanging sync (its status says Suspended while the request
/// never timed out); so does a new generation, whose sync then runs on the new spec.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspending_or_changing_a_connector_cancels_its_sync_in_flight() {
    let cluster = Cluster::shared_without_interval_minimum().await;
    let hanging = Hanging::start().await;
    let env = sample(5, "1m").await;
    let ns = cluster.namespace("e2e-cancel").await;
    let operator = InProcess::start_configured(
        cluster.operator_client().await,
        CountingEngine::default(),
        1,
        Some(&ns),
        |_| {},
    );
    cluster.apply(&hanging.manifests(&env, &ns)).await;
    hanging.wait_open(1).await;

    patch_connector(&cluster, &ns, json!({"spec": {"suspend": true}})).await;
    cluster
        .wait_status(&ns, "Suspended", bound(), |s| {
            s.message.starts_with("Suspended")
        })
        .await;
    assert_eq!(
        hanging.accepted(),
        1,
        "cancelled, not timed out and retried"
    );

    // Resumed: a new sync hangs again (a second connection). Then the endpoints are mended: the
    // spec's new generation cancels the hanging sync, and the next one connects.
    patch_connector(&cluster, &ns, json!({"spec": {"suspend": false}})).await;
    eventually("the resumed sync hanging", bound(), || {
        let accepted = hanging.accepted();
        async move { (accepted >= 2).then_some(()) }
    })
    .await;
    let graph = env.graph.url().trim_end_matches('/').to_string();
    patch_connector(
        &cluster,
        &ns,
        json!({"spec": {"azure": {"authorityHost": graph, "graphEndpoint": graph}}}),
    )
    .await;
    cluster
        .wait_connection(&ns, Connection::Connected, bound())
        .await;
    assert_eq!(
        hanging.accepted(),
        2,
        "the hanging sync was cancelled by the new generation, not timed out and retried"
    );
    operator.stop().await;
}

/// 40 verify requests in quick succession run at most two verifies (counted at the Graph
/// simulator), through one token (the connector's token cache), and the status names when the
/// next verify is allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_verify_requests_run_at_most_two_verifies() {
    const VERIFY_INTERVAL: Duration = Duration::from_secs(3);
    let cluster = Cluster::shared_without_interval_minimum().await;
    let env = sample(5, "1m").await;
    let ns = cluster.namespace("e2e-verify-burst").await;
    let operator = InProcess::start_configured(
        cluster.operator_client().await,
        CountingEngine::default(),
        4,
        Some(&ns),
        |config| config.verify_interval = VERIFY_INTERVAL,
    );
    // Suspended: no sync runs, so every Graph request is a verify's. (The connector as JSON,
    // which is YAML too, after the sample's Secrets.)
    let mut connector = env.connector_json(&ns);
    connector["spec"]["suspend"] = json!(true);
    let manifests = env.manifests(&ns);
    let (secrets, _) = manifests
        .rsplit_once("---")
        .expect("Secrets, then the connector");
    cluster.apply(&format!("{secrets}---\n{connector}\n")).await;
    let verify = |value: String| {
        let cluster = &cluster;
        let ns = ns.clone();
        async move {
            patch_connector(
                cluster,
                &ns,
                json!({"metadata": {"annotations": {ANNOTATION_VERIFY_REQUESTED_AT: value}}}),
            )
            .await
        }
    };

    // One verify alone: what it costs at the Graph simulator.
    verify("v0".into()).await;
    let status = cluster
        .wait_status(&ns, "verify v0 answered", bound(), |s| {
            s.verify.as_ref().is_some_and(|v| v.requested_at == "v0")
        })
        .await;
    let one = env.graph.requests().graph_http();
    assert!(one > 0);
    let first = status.verify.expect("verify");
    assert!(first.checks.iter().all(|c| c.ok), "{:?}", first.checks);
    let next = first.next_allowed_time.expect("the next allowed time").0;
    let ran = first.time.expect("when it ran").0;
    assert!(
        next > ran && next.duration_since(ran).as_secs() <= VERIFY_INTERVAL.as_secs() as i64,
        "next allowed one interval after it started: ran {ran}, next {next}"
    );

    for i in 1..=40 {
        verify(format!("v{i}")).await;
    }
    let status = cluster
        .wait_status(&ns, "verify v40 answered", bound(), |s| {
            s.verify.as_ref().is_some_and(|v| v.requested_at == "v40")
        })
        .await;
    let burst = env.graph.requests().graph_http() - one;
    assert!(
        burst >= one && burst <= 2 * one,
        "40 requests ran {burst} Graph requests, one verify costs {one}: at most two verifies"
    );
    assert_eq!(
        env.graph.requests().http(PathKind::Token),
        1,
        "every verify used the connector's cached token"
    );
    let last = status.verify.expect("verify");
    assert!(
        last.next_allowed_time
            .as_ref()
            .expect("the next allowed time")
            .0
            > last.time.as_ref().expect("when it ran").0,
        "{last:?}"
    );
    operator.stop().await;
}
