//! Shared by tests/e2e_*.rs: a Kubernetes API (the in-process fake, or a real cluster), the real
//! kubectl against it, the operator (the built binary, or `controller::run` in-process), and
//! polling with deadlines.
// Each tests/*.rs file is its own crate and uses only part of this module.
#![allow(dead_code)]

#[path = "../support/kubectl.rs"]
pub mod kubectl;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_apiserver::FakeApiServer;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client, CustomResourceExt};
use pbconnector::controller::{
    ConnectorKey, ControllerConfig, PipelineEngine, SyncEngine, SyncRequest,
};
use pbconnector::resources::{AzureAdConnector, AzureAdConnectorStatus, Connection};
use pbconnector::simulators::sample::{SampleEnvironment, SampleOptions};
use pbconnector::sync::report::SyncReport;

use kubectl::{Kubectl, find_kubectl};

pub const NAME: &str = "contoso";

/// Polls `check` every 100 ms until it returns `Some`, or fails the test after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The Kubernetes API the test drives: the in-process fake (with its fault injection), or the
/// real cluster of `$KUBECONFIG` (real-cluster tests only).
pub struct Cluster {
    pub fake: Option<FakeApiServer>,
    kubeconfig: PathBuf,
    pub kubectl: Kubectl,
    pub client: Client,
    /// Namespaces this test created (deleted at the end on a real cluster).
    namespaces: Mutex<Vec<String>>,
}

impl Cluster {
    /// The fake API server; `None` (test skipped, reason printed) without kubectl.
    pub async fn fake() -> Option<Self> {
        let bin = find_kubectl()?;
        let server = FakeApiServer::start()
            .await
            .expect("fake API server starts");
        let kubeconfig = server.kubeconfig_path().to_owned();
        let client = server.client().expect("client");
        Some(Self {
            kubectl: Kubectl::new(bin, &kubeconfig),
            kubeconfig,
            client,
            fake: Some(server),
            namespaces: Mutex::default(),
        })
    }

    /// The cluster of `$KUBECONFIG`; `None` (skipped) when it is not set or kubectl is missing.
    pub async fn real() -> Option<Self> {
        let Some(kubeconfig) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) else {
            eprintln!("skipping: KUBECONFIG is not set (this test runs against a real cluster)");
            return None;
        };
        let bin = find_kubectl()?;
        let kubeconfig = PathBuf::from(kubeconfig);
        let client = Client::try_default().await.expect("client for $KUBECONFIG");
        Some(Self {
            kubectl: Kubectl::new(bin, &kubeconfig),
            kubeconfig,
            client,
            fake: None,
            namespaces: Mutex::default(),
        })
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    pub fn server(&self) -> &FakeApiServer {
        self.fake
            .as_ref()
            .expect("this test needs the fake API server")
    }

    /// `kubectl apply -f crds/`, as the README's install without Helm.
    pub async fn install_crd(&self) {
        self.kubectl.ok(&["apply", "-f", "crds/"]).await;
    }

    /// The CRD without its interval minimum (10s), for in-process tests that need many
    /// intervals in a few seconds. The controller honours any interval the API accepts.
    pub async fn install_crd_without_interval_minimum(&self) {
        let mut crd = serde_json::to_value(AzureAdConnector::crd()).expect("CRD serializes");
        let interval = crd
            .pointer_mut(
                "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/interval",
            )
            .and_then(|v| v.as_object_mut())
            .expect("the CRD has spec.interval");
        assert!(
            interval.remove("x-kubernetes-validations").is_some(),
            "the minimum is a CEL rule on spec.interval"
        );
        let crd: CustomResourceDefinition = serde_json::from_value(crd).expect("a CRD");
        Api::<CustomResourceDefinition>::all(self.client.clone())
            .create(&PostParams::default(), &crd)
            .await
            .expect("the CRD is created");
    }

    /// A namespace unique to this test run (`kubectl create namespace`).
    pub async fn namespace(&self, prefix: &str) -> String {
        let ns = format!(
            "{prefix}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        self.kubectl.ok(&["create", "namespace", &ns]).await;
        self.namespaces.lock().unwrap().push(ns.clone());
        ns
    }

    pub fn connectors(&self, ns: &str) -> Api<AzureAdConnector> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// The connector's status once `accept` holds for it.
    pub async fn wait_status(
        &self,
        ns: &str,
        what: &str,
        timeout: Duration,
        accept: impl Fn(&AzureAdConnectorStatus) -> bool,
    ) -> AzureAdConnectorStatus {
        let api = self.connectors(ns);
        eventually(what, timeout, || {
            let api = api.clone();
            let accept = &accept;
            async move {
                let c = api.get(NAME).await.ok()?;
                c.status.filter(|s| accept(s))
            }
        })
        .await
    }

    pub async fn wait_connection(
        &self,
        ns: &str,
        connection: Connection,
        timeout: Duration,
    ) -> AzureAdConnectorStatus {
        self.wait_status(ns, connection.as_str(), timeout, |s| {
            s.connection == connection
        })
        .await
    }

    /// `kubectl apply -f` of `manifests` (the sample's Secrets and connector).
    pub async fn apply(&self, manifests: &str) -> String {
        self.kubectl
            .ok_stdin(&["apply", "-f", "-"], manifests)
            .await
    }

    /// Events (events.k8s.io/v1, what the operator's recorder writes) in `ns`, as JSON.
    pub async fn events(&self, ns: &str) -> Vec<serde_json::Value> {
        let out = self
            .kubectl
            .ok(&["get", "events.events.k8s.io", "-n", ns, "-o", "json"])
            .await;
        let list: serde_json::Value = serde_json::from_str(&out).expect("kubectl prints JSON");
        list["items"].as_array().cloned().unwrap_or_default()
    }

    /// Deletes the namespaces this test created (real clusters keep them otherwise).
    pub async fn cleanup(self) {
        if self.fake.is_none() {
            let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(self.client.clone());
            let namespaces: Vec<String> = self.namespaces.lock().unwrap().drain(..).collect();
            for ns in namespaces {
                let _ = api.delete(&ns, &DeleteParams::default()).await;
            }
        }
        if let Some(server) = self.fake {
            server.shutdown().await;
        }
    }
}

/// The fake API server with the CRD applied by kubectl, a fresh namespace `prefix-…`, and the
/// sample tenant and company; `None` (skipped) without kubectl.
pub async fn fake_cluster_with_sample(
    prefix: &str,
    users: usize,
    interval: &str,
) -> Option<(Cluster, String, SampleEnvironment)> {
    let cluster = Cluster::fake().await?;
    cluster.install_crd().await;
    let ns = cluster.namespace(prefix).await;
    Some((cluster, ns, sample(users, interval).await))
}

/// The sample tenant and company (both simulators) with `users` members and `interval`.
pub async fn sample(users: usize, interval: &str) -> SampleEnvironment {
    SampleEnvironment::start(SampleOptions {
        users,
        interval: interval.into(),
        ..SampleOptions::default()
    })
    .await
    .expect("simulators start")
}

/// The built `pbconnector run`, with `KUBECONFIG` pointing at the test's cluster.
pub struct Operator {
    child: tokio::process::Child,
    pub addr: String,
    log: tempfile::NamedTempFile,
}

impl Operator {
    /// Starts the operator and waits until `/readyz` answers 200.
    pub async fn start(kubeconfig: &Path, extra: &[&str]) -> Self {
        Self::start_as(kubeconfig, "pbconnector-e2e", extra).await
    }

    /// The same with `identity` (POD_NAME: the leader-election identity).
    pub async fn start_as(kubeconfig: &Path, identity: &str, extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let log = tempfile::NamedTempFile::new().expect("log file");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pbconnector"))
            .args(["run", "--listen-addr", &addr, "--log-format", "json"])
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAME", identity)
            .env_remove("RUST_LOG")
            .stdout(log.reopen().expect("log file"))
            .stderr(log.reopen().expect("log file"))
            .kill_on_drop(true)
            .spawn()
            .expect("pbconnector run starts");
        let operator = Self { child, addr, log };
        let url = format!("http://{}/readyz", operator.addr);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = reqwest::get(&url).await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the operator was not ready within 20 s; its log:\n{}",
                operator.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        operator
    }

    /// Everything the operator logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// `/metrics` as Prometheus text.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.addr))
            .await
            .expect("/metrics answers")
            .text()
            .await
            .expect("metrics text")
    }

    /// SIGTERM, then the exit status (the operator finishes in-flight syncs first).
    pub async fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running") as i32;
        // kill(1): SIGTERM without a libc binding.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the operator stops within 30 s of SIGTERM")
            .expect("exit status")
    }
}

/// When each connector synced: wraps the real engine for tests that count syncs.
#[derive(Default, Clone)]
pub struct CountingEngine {
    inner: Arc<PipelineEngine>,
    syncs: Arc<Mutex<HashMap<ConnectorKey, Vec<Instant>>>>,
}

impl CountingEngine {
    /// Counts syncs of a pipeline whose syncs end by `deadline` (both services together).
    pub fn with_deadline(deadline: Duration) -> Self {
        Self {
            inner: Arc::new(PipelineEngine::new().with_deadline(deadline)),
            syncs: Arc::default(),
        }
    }

    /// Syncs of `key` that ended so far.
    pub fn syncs(&self, key: &ConnectorKey) -> usize {
        self.syncs.lock().unwrap().get(key).map_or(0, Vec::len)
    }

    /// End times of `key`'s syncs.
    pub fn times(&self, key: &ConnectorKey) -> Vec<Instant> {
        self.syncs
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .unwrap_or_default()
    }
}

impl SyncEngine for CountingEngine {
    async fn sync(&self, request: SyncRequest) -> SyncReport {
        let key = request.key.clone();
        let report = self.inner.sync(request).await;
        self.syncs
            .lock()
            .unwrap()
            .entry(key)
            .or_default()
            .push(Instant::now());
        report
    }

    fn forget(&self, key: &ConnectorKey) {
        self.inner.forget(key);
    }
}

/// `controller::run` in this process, stopped (gracefully) on drop of the handle or by `stop`.
pub struct InProcess {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl InProcess {
    pub fn start<E: SyncEngine>(client: Client, engine: E, max_concurrent_syncs: u16) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut config = ControllerConfig::new("e2e-in-process");
        config.max_concurrent_syncs = max_concurrent_syncs;
        // A sync honouring a long Retry-After is abandoned this soon after `stop`.
        config.shutdown_timeout = Duration::from_secs(3);
        let task = tokio::spawn(async move {
            pbconnector::controller::run(client, config, engine, async move {
                let _ = stopped.await;
            })
            .await
            .expect("the controller runs until stopped");
        });
        Self {
            stop: Some(stop),
            task,
        }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), &mut self.task)
            .await
            .expect("the controller stops")
            .expect("the controller task");
    }
}
