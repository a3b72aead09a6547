//! The operator on the real path, as pieces a scripted scenario calls (the scale benchmark,
//! `benches/scale.rs`; a fault scenario can include this module the same way, with
//! `#[path = "real_path/mod.rs"] mod real_path;`):
//!
//! - [`apiserver`]: etcd + kube-apiserver (the test suite's `tests/suite/support/apiserver.rs`,
//!   included as is: audit log of every request, RBAC, the CRD installed);
//! - [`Simulators`]: one Graph simulator with a tenant per connector and one Password Boss
//!   simulator listener serving a company per connector (`PbSim::start_many`), already in sync;
//! - [`operator_kubeconfig`]: the chart's cluster-wide ServiceAccount and RBAC (`helm template`,
//!   `kubectl apply`) and a token of it;
//! - [`create_fleet`]: a namespace, a Secret and a connector per customer, created in parallel;
//! - [`Operator`]: the release `pbconnector run` as its own process, its CPU and peak RSS from
//!   `/proc`, its `/metrics`;
//! - [`AuditCursor`]: the operator's requests to the API server by verb and resource, from the
//!   API server's audit log.

#[allow(dead_code)]
#[path = "../../tests/suite/support/apiserver.rs"]
pub mod apiserver;

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, PostParams};
use pbconnector::resources::AzureAdConnector;
use pbconnector_simulators::graph::{GraphSim, GraphSimulator};
use pbconnector_simulators::passwordboss::{PbSim, SeedUser, SimConfig};
use serde_json::{Value, json};

use apiserver::TestApiServer;

/// Where the operator's identity lives (the chart's release namespace).
pub const OPERATOR_NAMESPACE: &str = "pbconnector";
/// The chart's release name; its ServiceAccount is `bench-pbconnector`.
const RELEASE: &str = "bench";
/// The operator's user name in the API server's audit log.
pub const OPERATOR_USER: &str = "system:serviceaccount:pbconnector:bench-pbconnector";
/// Every customer's Secret: the Entra client secret and the Password Boss token.
const SECRET: &str = "credentials";
/// Every customer's connector.
pub const CONNECTOR: &str = "connector";
/// Objects created at once (server-side, in parallel).
const CREATES_AT_ONCE: usize = 64;

/// A customer's namespace.
pub fn namespace(i: usize) -> String {
    format!("msp-{i:05}")
}

/// The simulated services of `connectors` customers, each with `users` users in its sync group,
/// all already in Password Boss (linked to their Entra ids): a sync finds nothing to change.
pub struct Simulators {
    pub graph: GraphSim,
    pub password_boss: Vec<PbSim>,
    apps: Vec<String>,
}

impl Simulators {
    pub async fn start(connectors: usize, users: usize) -> Self {
        let graph = GraphSimulator::start().await.expect("Graph simulator");
        let configs = (0..connectors)
            .map(|_| SimConfig {
                license_total: (users + 10) as u32,
                ..SimConfig::default()
            })
            .collect();
        let password_boss = PbSim::start_many(SocketAddr::from(([127, 0, 0, 1], 0)), configs)
            .await
            .expect("Password Boss simulator");
        let mut apps = Vec::with_capacity(connectors);
        for (c, pb) in password_boss.iter().enumerate() {
            let tenant = graph.add_tenant(&domain(c));
            let app = tenant.add_app();
            tenant.add_secret(&app, &client_secret(c), false);
            let group = tenant.add_group("Password Boss Users");
            for u in 0..users {
                let mail = format!("u{u}@t{c}.com");
                let id = tenant.add_user(&format!("User Number{u}"), &mail);
                tenant.add_member(&group, &id);
                pb.add_user(SeedUser::new(&mail, "User", &format!("Number{u}")).azure(&id))
                    .expect("seeded");
            }
            apps.push(app);
        }
        Self {
            graph,
            password_boss,
            apps,
        }
    }

    /// Customer `c`'s connector, with `interval` (e.g. `60s`), in its namespace.
    pub fn connector(&self, c: usize, interval: &str) -> Value {
        let url = self.graph.url().trim_end_matches('/');
        json!({
            "apiVersion": "passwordboss.com/v1alpha1",
            "kind": "AzureAdConnector",
            "metadata": {"name": CONNECTOR, "namespace": namespace(c)},
            "spec": {
                "interval": interval,
                "azure": {
                    "tenantId": domain(c), "clientId": self.apps[c],
                    "authorityHost": url, "graphEndpoint": url,
                    "clientSecretRef": {"name": SECRET, "key": "client-secret"}
                },
                "passwordBoss": {
                    "apiUrl": self.password_boss[c].url().as_str().trim_end_matches('/'),
                    "tokenSecretRef": {"name": SECRET, "key": "token"}
                },
                "syncGroup": {"displayName": "Password Boss Users"}
            }
        })
    }

    /// Customer `c`'s Secret.
    pub fn secret(&self, c: usize) -> Secret {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": SECRET, "namespace": namespace(c)},
            "stringData": {
                "client-secret": client_secret(c),
                "token": self.password_boss[c].token(),
            }
        }))
        .expect("a Secret")
    }

    /// Graph and token requests answered so far.
    pub fn graph_requests(&self) -> u64 {
        self.graph.requests().total_http()
    }

    /// Password Boss requests answered so far, and of them writes.
    pub fn password_boss_requests(&self) -> (u64, u64) {
        self.password_boss.iter().fold((0, 0), |(all, writes), pb| {
            let r = pb.requests();
            (all + r.total(), writes + r.writes())
        })
    }
}

fn domain(c: usize) -> String {
    format!("t{c}.onmicrosoft.com")
}

fn client_secret(c: usize) -> String {
    format!("bench-secret-{c}")
}

fn tool(variable: &str, fallback: &str) -> PathBuf {
    std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(fallback))
}

fn run(cmd: &mut Command, stdin: Option<&str>) -> String {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?} starts: {e}"));
    if let Some(input) = stdin {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("stdin written");
    }
    let out = child.wait_with_output().expect("the command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The chart's cluster-wide identity (its ServiceAccount, ClusterRole and Role in
/// [`OPERATOR_NAMESPACE`], as `helm install` with default values makes them), and a kubeconfig
/// with a token of it.
pub fn operator_kubeconfig(server: &TestApiServer) -> PathBuf {
    let kubectl = tool("KUBECTL", ".tools/bin/kubectl");
    let helm = tool("HELM", ".tools/bin/helm");
    let admin = server.kubeconfig_path();
    let kubectl_cmd = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = Command::new(&kubectl);
        cmd.args(args).arg("--kubeconfig").arg(admin);
        run(&mut cmd, stdin)
    };
    kubectl_cmd(&["create", "namespace", OPERATOR_NAMESPACE], None);
    let rbac = run(
        Command::new(&helm)
            .args(["template", RELEASE, "charts/pbconnector", "--namespace"])
            .arg(OPERATOR_NAMESPACE)
            .args([
                "--show-only",
                "templates/serviceaccount.yaml",
                "--show-only",
                "templates/rbac.yaml",
                "-f",
                "tests/fixtures/values-image.yaml",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR")),
        None,
    );
    kubectl_cmd(&["apply", "-f", "-"], Some(&rbac));
    let token = kubectl_cmd(
        &[
            "create",
            "token",
            &format!("{RELEASE}-pbconnector"),
            "-n",
            OPERATOR_NAMESPACE,
            "--duration=12h",
        ],
        None,
    );
    server.kubeconfig_for_token("operator", OPERATOR_NAMESPACE, token.trim())
}

/// Creates every customer's namespace, Secret and connector (with `interval`) with the admin
/// `client`, at most [`CREATES_AT_ONCE`] requests in flight; how long it took.
pub async fn create_fleet(
    client: &kube::Client,
    simulators: &Simulators,
    interval: &str,
) -> Duration {
    let started = Instant::now();
    let n = simulators.password_boss.len();
    stream::iter(0..n)
        .map(|c| {
            let client = client.clone();
            async move {
                let pp = PostParams::default();
                let ns: Namespace =
                    serde_json::from_value(json!({"metadata": {"name": namespace(c)}}))
                        .expect("a Namespace");
                Api::<Namespace>::all(client.clone())
                    .create(&pp, &ns)
                    .await?;
                Api::<Secret>::namespaced(client.clone(), &namespace(c))
                    .create(&pp, &simulators.secret(c))
                    .await?;
                let connector: AzureAdConnector =
                    serde_json::from_value(simulators.connector(c, interval)).expect("a connector");
                Api::<AzureAdConnector>::namespaced(client, &namespace(c))
                    .create(&pp, &connector)
                    .await?;
                Ok::<_, kube::Error>(())
            }
        })
        .buffer_unordered(CREATES_AT_ONCE)
        .try_collect::<Vec<()>>()
        .await
        .expect("the fleet is created");
    started.elapsed()
}

/// The release operator, cluster-wide, as its own process.
pub struct Operator {
    child: Child,
    log: PathBuf,
    /// Where this process's lines start in the log.
    log_start: u64,
    pub metrics_url: String,
    http: reqwest::Client,
}

/// Clock ticks per second of `/proc/PID/stat` (`getconf CLK_TCK`: 100 on Linux).
const CLOCK_TICKS: f64 = 100.0;

impl Operator {
    /// Starts `binary run` with `kubeconfig`, logging to `log`, metrics on a free port.
    pub fn start(binary: &Path, kubeconfig: &Path, log: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log_path = log.to_path_buf();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("operator log");
        let log_start = log.metadata().expect("operator log").len();
        let mut cmd = Command::new(binary);
        cmd.args([
            "run",
            "--allow-loopback-endpoints",
            "--lease-namespace",
            OPERATOR_NAMESPACE,
            "--listen-addr",
            &format!("127.0.0.1:{port}"),
        ])
        .env("KUBECONFIG", kubeconfig)
        .env("POD_NAME", "pbconnector-bench")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
        pbconnector_testkit::die_with_parent(&mut cmd);
        let child = cmd.spawn().expect("the operator starts");
        Self {
            child,
            log: log_path,
            log_start,
            metrics_url: format!("http://127.0.0.1:{port}/metrics"),
            http: reqwest::Client::new(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User + system CPU seconds so far (`/proc/PID/stat`).
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("stat");
        // Fields after the command name (which is in parentheses): utime is the 14th field.
        let rest = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 =
            fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
        ticks / CLOCK_TICKS
    }

    /// Peak resident set (`VmHWM`), MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("status");
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM");
        kib / 1024.0
    }

    /// The operator's metrics, once it answers.
    pub async fn metrics(&self) -> Metrics {
        loop {
            if let Ok(response) = self.http.get(&self.metrics_url).send().await
                && let Ok(text) = response.text().await
            {
                return Metrics(text);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// How many connectors this process has finished a successful sync of (its log's `sync
    /// finished` lines, each in its connector's span).
    pub fn connectors_synced(&self) -> usize {
        let mut file = std::fs::File::open(&self.log).expect("operator log");
        file.seek(SeekFrom::Start(self.log_start)).expect("seek");
        let mut text = String::new();
        file.read_to_string(&mut text).expect("operator log read");
        let synced: std::collections::HashSet<String> = text
            .lines()
            .filter(|l| l.contains("\"message\":\"sync finished\""))
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|line| line["span"]["namespace"].as_str().map(str::to_owned))
            .collect();
        synced.len()
    }

    /// SIGINT, as Kubernetes' SIGTERM: a graceful stop; waits for the exit.
    pub fn stop(mut self) {
        pbconnector_testkit::interrupt(self.pid()).expect("SIGINT");
        let status = self.child.wait().expect("the operator exits");
        assert!(status.success(), "the operator exited with {status}");
    }
}

/// One scrape of the operator's `/metrics`.
pub struct Metrics(pub String);

impl Metrics {
    /// The sum of every sample of `name` (any labels) whose labels contain `filter`.
    pub fn sum(&self, name: &str, filter: &str) -> f64 {
        self.0
            .lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
                    && l.contains(filter)
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// The cumulative buckets of histogram `name`: (upper bound, count).
    pub fn buckets(&self, name: &str) -> Vec<(f64, f64)> {
        let prefix = format!("{name}_bucket{{le=\"");
        self.0
            .lines()
            .filter_map(|l| {
                let rest = l.strip_prefix(&prefix)?;
                let (le, count) = rest.split_once("\"}")?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((le, count.trim().parse().ok()?))
            })
            .collect()
    }
}

/// Reads the API server's audit log from where the last read stopped.
pub struct AuditCursor {
    path: PathBuf,
    offset: u64,
}

/// The operator's requests in one stretch of the audit log: by `verb resource`.
#[derive(Default, Debug, Clone)]
pub struct Requests {
    pub by_verb: BTreeMap<String, u64>,
}

impl Requests {
    /// Requests that change something (create, update, patch, delete).
    pub fn writes(&self) -> u64 {
        self.by_verb
            .iter()
            .filter(|(k, _)| {
                ["create ", "update ", "patch ", "delete "]
                    .iter()
                    .any(|v| k.starts_with(v))
            })
            .map(|(_, n)| n)
            .sum()
    }

    pub fn total(&self) -> u64 {
        self.by_verb.values().sum()
    }
}

impl AuditCursor {
    /// From the end of the log as it is now.
    pub fn at_end(server: &TestApiServer) -> Self {
        let path = server.dir().join("audit.log");
        let offset = std::fs::metadata(&path).map_or(0, |m| m.len());
        Self { path, offset }
    }

    /// The operator's requests logged since the last read: each counted once (a watch when it
    /// starts, anything else when answered).
    pub fn read(&mut self) -> Requests {
        let mut file = std::fs::File::open(&self.path).expect("audit log");
        file.seek(SeekFrom::Start(self.offset)).expect("seek");
        let mut text = String::new();
        file.read_to_string(&mut text).expect("audit log read");
        // Only whole lines; a line being written is read next time.
        let whole = text.rfind('\n').map_or(0, |i| i + 1);
        self.offset += whole as u64;
        let mut requests = Requests::default();
        for line in text[..whole].lines() {
            let Ok(event) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if event["user"]["username"] != OPERATOR_USER {
                continue;
            }
            let verb = event["verb"].as_str().unwrap_or_default();
            let stage = event["stage"].as_str().unwrap_or_default();
            let counted = if verb == "watch" {
                stage == "ResponseStarted"
            } else {
                stage == "ResponseComplete"
            };
            if !counted {
                continue;
            }
            let object = &event["objectRef"];
            let mut resource = object["resource"].as_str().unwrap_or_default().to_string();
            if let Some(sub) = object["subresource"].as_str() {
                resource = format!("{resource}/{sub}");
            }
            *requests
                .by_verb
                .entry(format!("{verb} {resource}"))
                .or_default() += 1;
        }
        requests
    }
}
