//! The end-to-end tests' set-up: a real Kubernetes API server (kube-apiserver + etcd), the real
//! kubectl against it, the operator (the built binary, or `controller::run` in-process), and
//! polling with deadlines.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::PostParams;
use kube::{Api, Client, CustomResourceExt};
use pbconnector::controller::{
    ControllerConfig, CredentialPolicy, EndpointPolicy, PipelineEngine, SyncEngine,
};
use pbconnector::resources::{
    AzureAdConnector, AzureAdConnectorSpec, AzureAdConnectorStatus, Connection,
};
use pbconnector::sync::report::SyncReport;
use pbconnector::sync::verify::Checks;
use pbconnector::sync::{ConnectorKey, Credentials, SyncRequest};
use pbconnector_simulators::sample::{SampleEnvironment, SampleOptions};

use crate::support::apiserver::{self, TestApiServer};
use crate::support::kubectl::{self, Kubectl, find_kubectl};

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

/// The Kubernetes API a test drives: a real kube-apiserver + etcd (tests/suite/support/apiserver.rs),
/// either the test binary's shared one (a namespace per test) or one of the test's own.
pub struct Cluster {
    server: Server,
    pub kubectl: Kubectl,
    pub client: Client,
}

enum Server {
    Shared(&'static TestApiServer),
    Owned(Box<TestApiServer>),
}

impl Cluster {
    /// The test binary's shared API server (started on first use, the CRD installed).
    pub async fn shared() -> Self {
        let server = tokio::task::spawn_blocking(TestApiServer::shared)
            .await
            .expect("the API server starts");
        Self::with(Server::Shared(server)).await
    }

    /// A second shared API server whose CRD has no interval minimum (10 s), for in-process tests
    /// that need many intervals in a few seconds (a namespace per test). Kept apart from
    /// `shared()`, whose CRD is exactly the shipped one: the suite's tests run concurrently, and
    /// the shipped CRD's refusals are tested there.
    pub async fn shared_without_interval_minimum() -> Self {
        static SERVER: tokio::sync::OnceCell<&'static TestApiServer> =
            tokio::sync::OnceCell::const_new();
        let server = *SERVER
            .get_or_init(|| async {
                // Lives as long as the test binary, like `TestApiServer::shared()`: its processes
                // die with it.
                let server: &'static TestApiServer = Box::leak(Box::new(
                    tokio::task::spawn_blocking(TestApiServer::start)
                        .await
                        .expect("the API server starts"),
                ));
                let cluster = Self::with(Server::Shared(server)).await;
                cluster.install_crd_without_interval_minimum().await;
                server
            })
            .await;
        Self::with(Server::Shared(server)).await
    }

    /// An API server of this test's own, stopped at the end (no CRD installed), for tests that
    /// restart it or change cluster-wide objects.
    pub async fn owned() -> Self {
        let server = tokio::task::spawn_blocking(TestApiServer::start)
            .await
            .expect("the API server starts");
        Self::with(Server::Owned(Box::new(server))).await
    }

    async fn with(server: Server) -> Self {
        let api = match &server {
            Server::Shared(s) => *s,
            Server::Owned(s) => s,
        };
        let client = api.client().await;
        Self {
            kubectl: Kubectl::new(find_kubectl(), api.kubeconfig_path()),
            client,
            server,
        }
    }

    /// The API server (its audit log, logs, restarts).
    pub fn server(&self) -> &TestApiServer {
        match &self.server {
            Server::Shared(s) => s,
            Server::Owned(s) => s,
        }
    }

    /// The operator's identity as the chart installs it: the chart's RBAC (`helm template` with
    /// `values`, applied with kubectl) and a token of its ServiceAccount from the TokenRequest
    /// API (`kubectl create token`). Each distinct `values` is a release of its own (its own
    /// namespace, ServiceAccount and cluster-wide names), so tests can differ in what the
    /// operator may do.
    /// A token of the identity's ServiceAccount from the TokenRequest API (`kubectl create
    /// token`), valid for `duration` (e.g. `2h`).
    pub async fn service_account_token(&self, identity: &Identity, duration: &str) -> String {
        self.kubectl
            .ok(&[
                "create",
                "token",
                &identity.service_account,
                "-n",
                &identity.namespace,
                &format!("--duration={duration}"),
            ])
            .await
    }

    pub async fn operator_identity(&self, values: &[&str]) -> Identity {
        let release = format!("pbc-{:08x}", fnv(&values.join(",")));
        let identity = Identity {
            kubeconfig: self.server().dir().join(format!("kubeconfig-{release}")),
            service_account: format!("{release}-pbconnector"),
            namespace: release.clone(),
            release,
        };
        // Tests of one binary share the server: one identity per values, made once.
        static MADE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _made = MADE.lock().await;
        if identity.kubeconfig.is_file() {
            return identity;
        }
        self.kubectl
            .ok(&["create", "namespace", &identity.namespace])
            .await;
        let rbac = self.chart_rbac(&identity, values).await;
        self.kubectl.ok_stdin(&["apply", "-f", "-"], &rbac).await;
        let token = self.service_account_token(&identity, "2h").await;
        let path = self.server().kubeconfig_for_token(
            &identity.release,
            &identity.namespace,
            token.trim(),
        );
        assert_eq!(path, identity.kubeconfig);
        identity
    }

    /// The chart's ServiceAccount and RBAC for `identity`'s release with `values`.
    pub async fn chart_rbac(&self, identity: &Identity, values: &[&str]) -> String {
        let mut args: Vec<String> = [
            "template",
            &identity.release,
            "charts/pbconnector",
            "--namespace",
            &identity.namespace,
            "--show-only",
            "templates/serviceaccount.yaml",
            "--show-only",
            "templates/rbac.yaml",
            "-f",
            "tests/fixtures/values-image.yaml",
        ]
        .map(str::to_owned)
        .to_vec();
        if values.contains(&"leaderElection.enabled=true") {
            args.extend([
                "--show-only".into(),
                "templates/leader-election-rbac.yaml".into(),
            ]);
        }
        for v in values {
            args.extend(["--set".into(), (*v).to_string()]);
        }
        let out = tokio::process::Command::new(helm_bin())
            .args(&args)
            .current_dir(kubectl::repo())
            .output()
            .await
            .expect("helm runs");
        assert!(
            out.status.success(),
            "helm {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("helm prints UTF-8")
    }

    /// The chart's default identity (cluster-wide, no leader election).
    pub async fn operator_kubeconfig(&self) -> PathBuf {
        self.operator_identity(&[]).await.kubeconfig
    }

    /// A kube client with the chart's default operator identity.
    pub async fn operator_client(&self) -> Client {
        apiserver::client_for(&self.operator_kubeconfig().await).await
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
        let mut crd: CustomResourceDefinition = serde_json::from_value(crd).expect("a CRD");
        // Replaced whole (PUT), not applied: an apply would keep the rule another field manager
        // (the kubectl apply that installed the CRD) owns.
        let api = Api::<CustomResourceDefinition>::all(self.client.clone());
        let name = "azureadconnectors.passwordboss.com";
        match api.get_opt(name).await.expect("the CRD is read") {
            Some(current) => {
                crd.metadata.resource_version = current.metadata.resource_version;
                api.replace(name, &PostParams::default(), &crd)
                    .await
                    .expect("the CRD is replaced");
            }
            None => {
                api.create(&PostParams::default(), &crd)
                    .await
                    .expect("the CRD is created");
            }
        }
        self.kubectl
            .ok(&[
                "wait",
                "--for=condition=Established",
                &format!("crd/{name}"),
            ])
            .await;
    }

    /// A namespace unique to this test run (`kubectl create namespace`).
    pub async fn namespace(&self, prefix: &str) -> String {
        let ns = format!(
            "{prefix}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        self.kubectl.ok(&["create", "namespace", &ns]).await;
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

    /// The end of the test: an owned server stops (the shared one's namespaces stay; the
    /// server goes with the test binary).
    pub async fn cleanup(self) {
        if let Server::Owned(server) = self.server {
            tokio::task::spawn_blocking(move || drop(server))
                .await
                .expect("the API server stops");
        }
    }
}

/// The operator's Kubernetes identity: a release of the chart's RBAC and a token of its
/// ServiceAccount.
pub struct Identity {
    pub release: String,
    /// The release namespace (the ServiceAccount's, and the leader Lease's).
    pub namespace: String,
    pub service_account: String,
    pub kubeconfig: PathBuf,
}

/// `$HELM`, else `<repo>/.tools/bin/helm`; missing fails the test.
pub fn helm_bin() -> PathBuf {
    let path = std::env::var_os("HELM")
        .map(PathBuf::from)
        .unwrap_or_else(|| kubectl::repo().join(".tools/bin/helm"));
    assert!(
        path.is_file(),
        "helm not found at {} (set HELM or run scripts/install-test-tools.sh)",
        path.display()
    );
    path
}

/// A short stable hash (FNV-1a) naming a release namespace after its values.
fn fnv(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The shared API server with the CRD applied by kubectl, a fresh namespace `prefix-…`, and the
/// sample tenant and company.
pub async fn cluster_with_sample(
    prefix: &str,
    users: usize,
    interval: &str,
) -> (Cluster, String, SampleEnvironment) {
    let cluster = Cluster::shared().await;
    cluster.install_crd().await;
    let ns = cluster.namespace(prefix).await;
    (cluster, ns, sample(users, interval).await)
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
    /// Starts the operator, allowed to send credentials to the loopback simulators
    /// (`--allow-loopback-endpoints`), and waits until `/readyz` answers 200.
    pub async fn start(kubeconfig: &Path, extra: &[&str]) -> Self {
        Self::start_as(kubeconfig, "pbconnector-e2e", extra).await
    }

    /// The same with `identity` (POD_NAME: the leader-election identity).
    pub async fn start_as(kubeconfig: &Path, identity: &str, extra: &[&str]) -> Self {
        let mut args = vec!["--allow-loopback-endpoints"];
        args.extend_from_slice(extra);
        let operator = Self::launch(kubeconfig, identity, &args);
        operator.wait_ready(Duration::from_secs(20)).await;
        operator
    }

    /// The operator as installed: no loopback endpoints (the simulators are refused).
    pub async fn start_strict(kubeconfig: &Path, extra: &[&str]) -> Self {
        let operator = Self::launch(kubeconfig, "pbconnector-e2e", extra);
        operator.wait_ready(Duration::from_secs(20)).await;
        operator
    }

    /// Starts the operator with exactly `extra` (no loopback unless asked) without waiting for
    /// it to be ready.
    pub fn launch(kubeconfig: &Path, identity: &str, extra: &[&str]) -> Self {
        Self::launch_with_env(kubeconfig, identity, extra, &[])
    }

    /// `launch` with `env` set in the operator's environment (as the pod spec's `env` would).
    pub fn launch_with_env(
        kubeconfig: &Path,
        identity: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
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
            .envs(env.iter().copied())
            .env_remove("RUST_LOG")
            .stdout(log.reopen().expect("log file"))
            .stderr(log.reopen().expect("log file"))
            .kill_on_drop(true)
            .spawn()
            .expect("pbconnector run starts");
        Self { child, addr, log }
    }

    /// The operator's process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// The operator's peak resident set so far, bytes (`VmHWM` of `/proc/PID/status`).
    pub fn peak_rss_bytes(&self) -> u64 {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no VmHWM in {path}"));
        kib * 1024
    }

    /// Whether `/readyz` answers 200 now.
    pub async fn ready(&self) -> bool {
        reqwest::get(format!("http://{}/readyz", self.addr))
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    /// Waits until `/readyz` answers 200, failing the test with the log after `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.ready().await {
            assert!(
                Instant::now() < deadline,
                "the operator was not ready within {timeout:?}; its log:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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

/// How many syncs of each connector ended: wraps the real engine for tests that count syncs.
#[derive(Default, Clone)]
pub struct CountingEngine {
    inner: Arc<PipelineEngine>,
    syncs: Arc<Mutex<HashMap<ConnectorKey, usize>>>,
}

impl CountingEngine {
    /// Syncs of `key` that ended so far.
    pub fn syncs(&self, key: &ConnectorKey) -> usize {
        self.syncs.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

impl SyncEngine for CountingEngine {
    async fn sync(&self, request: SyncRequest) -> SyncReport {
        let key = request.key.clone();
        let report = self.inner.sync(request).await;
        *self.syncs.lock().unwrap().entry(key).or_default() += 1;
        report
    }

    async fn verify(
        &self,
        key: &ConnectorKey,
        spec: &AzureAdConnectorSpec,
        credentials: Credentials,
    ) -> Checks {
        self.inner.verify(key, spec, credentials).await
    }

    fn forget(&self, key: &ConnectorKey) {
        self.inner.forget(key);
    }

    fn forget_all(&self) {
        self.inner.forget_all();
    }
}

/// `controller::run` in this process, stopped (gracefully) on drop of the handle or by `stop`.
pub struct InProcess {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl InProcess {
    /// The controller watching `namespace`, or every namespace (`None`: only on a server of the
    /// test's own, as tests share the API server), allowed to send credentials to the loopback
    /// simulators.
    pub fn start<E: SyncEngine>(
        client: Client,
        engine: E,
        max_concurrent_syncs: u16,
        namespace: Option<&str>,
    ) -> Self {
        Self::start_configured(client, engine, max_concurrent_syncs, namespace, |_| {})
    }

    /// The same, with `configure` applied to the controller's configuration last.
    pub fn start_configured<E: SyncEngine>(
        client: Client,
        engine: E,
        max_concurrent_syncs: u16,
        namespace: Option<&str>,
        configure: impl FnOnce(&mut ControllerConfig),
    ) -> Self {
        let mut config = Self::config(true);
        config.namespaces = namespace.map(str::to_owned).into_iter().collect();
        config.max_concurrent_syncs = max_concurrent_syncs;
        configure(&mut config);
        Self::start_with(client, engine, config)
    }

    /// The in-process configuration; `loopback`: the simulators are allowed endpoints.
    pub fn config(loopback: bool) -> ControllerConfig {
        let mut config = ControllerConfig::new("e2e-in-process");
        // A sync honouring a long Retry-After is abandoned this soon after `stop`.
        config.shutdown_timeout = Duration::from_secs(3);
        config.policy = CredentialPolicy {
            endpoints: EndpointPolicy::new(Vec::<String>::new(), loopback).expect("no entries"),
            operator_identity: false,
        };
        config
    }

    /// `controller::run` with `config`.
    pub fn start_with<E: SyncEngine>(client: Client, engine: E, config: ControllerConfig) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
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
