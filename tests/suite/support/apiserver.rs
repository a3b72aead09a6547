//! A real Kubernetes control plane for tests, as controller-runtime's envtest starts one:
//! etcd and kube-apiserver (built by `scripts/build-apiserver.sh`) on loopback ports of their own,
//! with serving certificates, a service-account signing key and an admin client certificate made
//! here, RBAC authorization and no kubelet or controllers.
//!
//! `TestApiServer::shared()` is one server per test binary (tests use namespaces of their own);
//! `TestApiServer::start()` is a server owned by one test, stopped on drop. Both processes are
//! killed with the test binary (`PR_SET_PDEATHSIG`), and their logs stay in the server's
//! directory under `target/tmp` until the next run of that test binary.
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// The Kubernetes version `scripts/build-apiserver.sh` builds (k8s-openapi's `latest`).
pub const K8S_VERSION: &str = "1.35.4";
const ETCD_VERSION: &str = "3.6.16";

/// The issuer of the service-account tokens the servers sign (`--service-account-issuer`).
pub const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// How long etcd and kube-apiserver may take to become ready on a loaded 2-core machine.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// The directory holding `kube-apiserver` and `etcd`: `$PBCONNECTOR_K8S_BIN`, else the build
/// script's default cache. Missing binaries fail the test with what to run.
pub fn binaries() -> PathBuf {
    let dir = std::env::var_os("PBCONNECTOR_K8S_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("PBCONNECTOR_K8S_CACHE")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("XDG_CACHE_HOME")
                        .map(|c| PathBuf::from(c).join("pbconnector/k8s"))
                })
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                        .join(".cache/pbconnector/k8s")
                });
            cache.join(format!("v{K8S_VERSION}-etcd{ETCD_VERSION}/bin"))
        });
    for bin in ["kube-apiserver", "etcd"] {
        assert!(
            dir.join(bin).is_file(),
            "{bin} not found in {}: run scripts/build-apiserver.sh (scripts/test.sh does) or set \
             PBCONNECTOR_K8S_BIN to the directory holding kube-apiserver and etcd",
            dir.display()
        );
    }
    dir
}

/// `N` distinct free loopback ports. Every listener is held until all are chosen: two
/// bind-and-release calls in a row may be handed the same port, and etcd then fails to bind its
/// peer port to the one its client port already has (seen in CI).
fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().expect("a bound address").port())
}

/// How many times a control plane is started on fresh ports when one of its processes lost a
/// port to another process between `free_ports` and its own bind.
const START_ATTEMPTS: usize = 3;

/// Spawns every control-plane process from one thread that lives as long as the test binary, so
/// `PR_SET_PDEATHSIG` (which fires when the spawning *thread* ends) kills them exactly when the
/// test process exits, even when statics are never dropped. Other servers the tests run as
/// processes (`scim.rs`) are spawned here too.
pub fn spawn(mut cmd: Command) -> Child {
    type Request = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("control-plane-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
                // The channel lives in a static and never closes: park forever.
                loop {
                    std::thread::park();
                }
            })
            .expect("spawner thread");
        Mutex::new(tx)
    });
    pbconnector_testkit::die_with_parent(&mut cmd);
    let (tx, rx) = mpsc::channel();
    spawner
        .lock()
        .unwrap()
        .send((cmd, tx))
        .expect("spawner runs");
    rx.recv()
        .expect("spawner answers")
        .expect("control-plane process starts")
}

/// Certificates and keys of one control plane.
struct Pki {
    ca_pem: String,
    serving_cert: String,
    serving_key: String,
    admin_cert: String,
    admin_key: String,
    sa_public: String,
    sa_private: String,
}

impl Pki {
    fn new() -> Self {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "pbconnector-test-ca");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();

        let serving_key = KeyPair::generate().unwrap();
        let mut serving = CertificateParams::new(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
            "kubernetes.default.svc".to_string(),
        ])
        .unwrap();
        serving
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving_cert = serving.signed_by(&serving_key, &ca).unwrap();

        // The admin: a client certificate in system:masters, as envtest's admin user.
        let admin_key = KeyPair::generate().unwrap();
        let mut admin = CertificateParams::new(Vec::<String>::new()).unwrap();
        admin.distinguished_name.push(DnType::CommonName, "admin");
        admin
            .distinguished_name
            .push(DnType::OrganizationName, "system:masters");
        admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let admin_cert = admin.signed_by(&admin_key, &ca).unwrap();

        let sa = KeyPair::generate().unwrap();
        Self {
            ca_pem: ca.pem(),
            serving_cert: serving_cert.pem(),
            serving_key: serving_key.serialize_pem(),
            admin_cert: admin_cert.pem(),
            admin_key: admin_key.serialize_pem(),
            sa_public: sa.public_key_pem(),
            sa_private: sa.serialize_pem(),
        }
    }
}

/// Every request at the Metadata level, once it is answered (watches once they start): the
/// server's own request log, read by `requests()`.
const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
";

/// One request as the API server's audit log records it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub verb: String,
    pub user: AuditUser,
    #[serde(default)]
    pub object_ref: Option<AuditObjectRef>,
    #[serde(default)]
    pub response_status: Option<AuditStatus>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct AuditUser {
    #[serde(default)]
    pub username: String,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditObjectRef {
    #[serde(default)]
    pub resource: String,
    #[serde(default)]
    pub subresource: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct AuditStatus {
    #[serde(default)]
    pub code: u16,
}

impl AuditEvent {
    /// `resource` or `resource/subresource`.
    pub fn resource(&self) -> String {
        match &self.object_ref {
            Some(r) if !r.subresource.is_empty() => format!("{}/{}", r.resource, r.subresource),
            Some(r) => r.resource.clone(),
            None => String::new(),
        }
    }

    pub fn namespace(&self) -> &str {
        self.object_ref
            .as_ref()
            .map_or("", |r| r.namespace.as_str())
    }

    pub fn code(&self) -> u16 {
        self.response_status.as_ref().map_or(0, |s| s.code)
    }
}

/// A running etcd + kube-apiserver pair.
pub struct TestApiServer {
    dir: PathBuf,
    url: String,
    etcd_url: String,
    kubeconfig: PathBuf,
    processes: Mutex<Processes>,
    ca_pem: String,
    /// Owned servers stop on drop; the shared one lives as long as the test binary.
    owned: bool,
}

struct Processes {
    etcd: Child,
    etcd_args: Vec<String>,
    apiserver: Child,
    apiserver_args: Vec<String>,
}

static SHARED: OnceLock<TestApiServer> = OnceLock::new();

impl TestApiServer {
    /// The test binary's shared server, started on first use with the CRD installed.
    pub fn shared() -> &'static TestApiServer {
        SHARED.get_or_init(|| {
            let server = Self::start_inner(false);
            server.install_crd();
            server
        })
    }

    /// A server of this test's own, stopped when dropped (for tests that restart it or change
    /// cluster-wide objects). The CRD is not installed.
    pub fn start() -> TestApiServer {
        Self::start_inner(true)
    }

    fn start_inner(owned: bool) -> TestApiServer {
        for attempt in 1..=START_ATTEMPTS {
            let server = Self::spawn_control_plane(owned);
            match server.try_wait_ready() {
                Ok(()) => return server,
                Err(why) if attempt < START_ATTEMPTS && server.lost_a_port() => {
                    eprintln!("control plane attempt {attempt} lost a port, retrying: {why}");
                    server.kill();
                }
                Err(why) => {
                    // The shared server is never dropped: stop what this attempt started.
                    server.kill();
                    panic!("{why}");
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Starts etcd and kube-apiserver on fresh ports and a fresh directory, without waiting.
    fn spawn_control_plane(owned: bool) -> TestApiServer {
        let bin = binaries();
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("apiserver");
        std::fs::create_dir_all(&root).expect("target/tmp/apiserver");
        remove_stale_dirs(&root);
        let dir = root.join(format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        std::fs::create_dir_all(dir.join("etcd")).expect("server directory");

        let pki = Pki::new();
        for (name, content) in [
            ("ca.crt", &pki.ca_pem),
            ("apiserver.crt", &pki.serving_cert),
            ("apiserver.key", &pki.serving_key),
            ("sa.pub", &pki.sa_public),
            ("sa.key", &pki.sa_private),
            ("admin.pem", &format!("{}{}", pki.admin_cert, pki.admin_key)),
            ("audit-policy.yaml", &AUDIT_POLICY.to_string()),
        ] {
            std::fs::write(dir.join(name), content).expect("PKI file");
        }

        let [etcd_port, peer_port, port] = free_ports();
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let etcd_args = vec![
            "--name=default".to_string(),
            format!("--data-dir={}", dir.join("etcd").display()),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=default={peer_url}"),
            "--unsafe-no-fsync=true".into(),
            "--log-level=warn".into(),
        ];
        let etcd = spawn(etcd_command(&bin, &dir, &etcd_args));

        let url = format!("https://127.0.0.1:{port}");
        let apiserver_args = vec![
            format!("--etcd-servers={etcd_url}"),
            format!("--cert-dir={}", dir.display()),
            format!("--tls-cert-file={}", dir.join("apiserver.crt").display()),
            format!(
                "--tls-private-key-file={}",
                dir.join("apiserver.key").display()
            ),
            format!("--client-ca-file={}", dir.join("ca.crt").display()),
            format!("--secure-port={port}"),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            "--endpoint-reconciler-type=none".into(),
            "--service-cluster-ip-range=10.0.0.0/24".into(),
            "--allow-privileged=true".into(),
            "--authorization-mode=RBAC".into(),
            format!(
                "--service-account-key-file={}",
                dir.join("sa.pub").display()
            ),
            format!(
                "--service-account-signing-key-file={}",
                dir.join("sa.key").display()
            ),
            format!("--service-account-issuer={SERVICE_ACCOUNT_ISSUER}"),
            "--disable-admission-plugins=ServiceAccount".into(),
            "--enable-priority-and-fairness=false".into(),
            format!(
                "--audit-policy-file={}",
                dir.join("audit-policy.yaml").display()
            ),
            format!("--audit-log-path={}", dir.join("audit.log").display()),
            "--audit-log-format=json".into(),
            "--audit-log-mode=blocking".into(),
            // Never rotated (the default rotates at 100 MB, which a fleet's run passes):
            // `requests()` reads one file, from the start.
            "--audit-log-maxsize=1000000".into(),
            "--v=0".into(),
        ];
        let apiserver = spawn(apiserver_command(&bin, &dir, &apiserver_args));

        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_yaml(&url, &pki)).expect("kubeconfig");
        TestApiServer {
            dir,
            url,
            etcd_url,
            kubeconfig,
            processes: Mutex::new(Processes {
                etcd,
                etcd_args,
                apiserver,
                apiserver_args,
            }),
            ca_pem: pki.ca_pem,
            owned,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The cluster CA's certificate (PEM): what a pod finds in its ServiceAccount's `ca.crt`.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A kubeconfig with the admin (system:masters) identity.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The directory with the logs (`etcd.log`, `kube-apiserver.log`), for failure messages.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every request the server has answered so far (its audit log), oldest first.
    pub fn requests(&self) -> Vec<AuditEvent> {
        std::fs::read_to_string(self.dir.join("audit.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The last lines of both logs, for failure messages.
    pub fn logs(&self) -> String {
        let tail = |name: &str| {
            let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        };
        format!(
            "--- {} (tail) ---\n{}\n--- {} (tail) ---\n{}",
            self.dir.join("etcd.log").display(),
            tail("etcd.log"),
            self.dir.join("kube-apiserver.log").display(),
            tail("kube-apiserver.log")
        )
    }

    /// A kube client with the admin identity.
    pub async fn client(&self) -> kube::Client {
        client_for(&self.kubeconfig).await
    }

    /// A kubeconfig for `token` (a ServiceAccount token from the TokenRequest API), written next
    /// to the admin one under `name`; its default namespace is `namespace` (the ServiceAccount's,
    /// as a pod's in-cluster configuration has it).
    pub fn kubeconfig_for_token(&self, name: &str, namespace: &str, token: &str) -> PathBuf {
        let path = self.dir.join(format!("kubeconfig-{name}"));
        let yaml = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\nusers:\n- name: {name}\n  user:\n    token: {token}\ncontexts:\n- name: test\n  context: {{cluster: test, user: {name}, namespace: {namespace}}}\ncurrent-context: test\n",
            url = self.url,
            ca = b64(&self.ca_pem),
        );
        std::fs::write(&path, yaml).expect("kubeconfig");
        path
    }

    /// `kubectl apply -f crds/` equivalent, waiting until the CRD is established.
    fn install_crd(&self) {
        let kubectl = kubectl_bin();
        let out = Command::new(&kubectl)
            .args(["apply", "-f", "crds/", "--kubeconfig"])
            .arg(&self.kubeconfig)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("kubectl runs");
        assert!(
            out.status.success(),
            "kubectl apply -f crds/ failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
        let out = Command::new(&kubectl)
            .args([
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd/azureadconnectors.passwordboss.com",
                "crd/azureadapplications.passwordboss.com",
                "--kubeconfig",
            ])
            .arg(&self.kubeconfig)
            .output()
            .expect("kubectl runs");
        assert!(
            out.status.success(),
            "the CRD was not established: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops kube-apiserver (etcd keeps running) until `start_apiserver` is called.
    pub fn stop_apiserver(&self) {
        let mut p = self.processes.lock().unwrap();
        let _ = p.apiserver.kill();
        let _ = p.apiserver.wait();
    }

    /// Starts kube-apiserver again after `stop_apiserver`.
    pub fn start_apiserver(&self) {
        let mut p = self.processes.lock().unwrap();
        p.apiserver = spawn(apiserver_command(&binaries(), &self.dir, &p.apiserver_args));
        drop(p);
        self.wait_ready();
    }

    /// Restarts kube-apiserver on the same port and etcd, with `extra` flags after its own (a
    /// later flag wins: e.g. `--max-requests-inflight=1`), and waits until it is ready. `&[]`
    /// restarts it as it was first started.
    // The 429 fault of the scenario at scale (benches/faults.rs); the suite's faults are etcd's
    // and the operator's.
    #[allow(dead_code)]
    pub fn restart_apiserver_with(&self, extra: &[&str]) {
        let mut p = self.processes.lock().unwrap();
        let _ = p.apiserver.kill();
        let _ = p.apiserver.wait();
        let mut args = p.apiserver_args.clone();
        args.extend(extra.iter().map(|a| (*a).to_string()));
        p.apiserver = spawn(apiserver_command(&binaries(), &self.dir, &args));
        drop(p);
        self.wait_ready();
    }

    /// SIGKILLs etcd (no shutdown of its own: what a node loss or an OOM kill does) and waits
    /// until it is gone; kube-apiserver keeps running, failing what needs etcd. `start_etcd`
    /// starts it again on the same data directory and ports.
    pub fn kill_etcd(&self) {
        let mut p = self.processes.lock().unwrap();
        // `Child::kill` is SIGKILL on Unix.
        let _ = p.etcd.kill();
        let _ = p.etcd.wait();
    }

    /// Starts etcd again after `kill_etcd`, on the same data directory and ports, and waits
    /// until kube-apiserver is ready again (it reconnects by itself).
    pub fn start_etcd(&self) {
        let mut p = self.processes.lock().unwrap();
        p.etcd = spawn(etcd_command(&binaries(), &self.dir, &p.etcd_args));
        drop(p);
        self.wait_ready();
    }

    /// Writes a key straight into etcd (its JSON gateway), moving etcd's revision past
    /// everything clients have seen; with `restart_apiserver` this makes their resourceVersions
    /// too old (410 Gone on the next watch), as after a compaction in a real cluster.
    pub fn advance_etcd_revision(&self) {
        let out = Command::new("curl")
            .args([
                "-sf",
                "-X",
                "POST",
                &format!("{}/v3/kv/put", self.etcd_url),
                "-d",
                r#"{"key":"L3BiY29ubmVjdG9yLXRlc3QvYnVtcA==","value":"MQ=="}"#,
            ])
            .output()
            .expect("curl runs");
        assert!(
            out.status.success(),
            "etcd put failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn wait_ready(&self) {
        if let Err(why) = self.try_wait_ready() {
            panic!("{why}");
        }
    }

    /// Waits for `/readyz`; the error says why not, with the tails of both logs.
    fn try_wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let readyz = format!("{}/readyz", self.url);
        loop {
            if let Some(status) = self.exited() {
                return Err(format!(
                    "the control plane exited ({status}) before it was ready\n{}",
                    self.logs()
                ));
            }
            let out = Command::new("curl")
                .args(["-sf", "--max-time", "2", "--cacert"])
                .arg(self.dir.join("ca.crt"))
                .args(["--cert"])
                .arg(self.admin_pem())
                .arg(&readyz)
                .output()
                .expect("curl runs");
            if out.status.success() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "kube-apiserver was not ready within {READY_TIMEOUT:?}\n{}",
                    self.logs()
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Whether a process of this control plane failed to bind a port another process took.
    fn lost_a_port(&self) -> bool {
        ["etcd.log", "kube-apiserver.log"].iter().any(|name| {
            std::fs::read_to_string(self.dir.join(name))
                .is_ok_and(|log| log.contains("address already in use"))
        })
    }

    /// Stops both processes now (a failed start; `Drop` does this only for owned servers).
    fn kill(&self) {
        let p = &mut *self.processes.lock().unwrap();
        for child in [&mut p.apiserver, &mut p.etcd] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The admin certificate and key in one PEM (curl's `--cert`).
    fn admin_pem(&self) -> PathBuf {
        self.dir.join("admin.pem")
    }

    fn exited(&self) -> Option<String> {
        let mut p = self.processes.lock().unwrap();
        if let Ok(Some(s)) = p.etcd.try_wait() {
            return Some(format!("etcd: {s}"));
        }
        if let Ok(Some(s)) = p.apiserver.try_wait() {
            return Some(format!("kube-apiserver: {s}"));
        }
        None
    }
}

impl Drop for TestApiServer {
    fn drop(&mut self) {
        if self.owned {
            self.kill();
        }
    }
}

fn etcd_command(bin: &Path, dir: &Path, args: &[String]) -> Command {
    let mut cmd = Command::new(bin.join("etcd"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(log_file(dir, "etcd.log"))
        .stderr(log_file(dir, "etcd.log"));
    cmd
}

fn apiserver_command(bin: &Path, dir: &Path, args: &[String]) -> Command {
    let mut cmd = Command::new(bin.join("kube-apiserver"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(log_file(dir, "kube-apiserver.log"))
        .stderr(log_file(dir, "kube-apiserver.log"));
    cmd
}

fn log_file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
        .expect("log file")
}

/// Removes server directories left by earlier runs whose process is gone.
fn remove_stale_dirs(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn b64(text: &str) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, text)
}

fn kubeconfig_yaml(url: &str, pki: &Pki) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\nusers:\n- name: admin\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\ncontexts:\n- name: test\n  context: {{cluster: test, user: admin, namespace: default}}\ncurrent-context: test\n",
        ca = b64(&pki.ca_pem),
        cert = b64(&pki.admin_cert),
        key = b64(&pki.admin_key),
    )
}

/// A kube client for the cluster and user of `kubeconfig`.
pub async fn client_for(kubeconfig: &Path) -> kube::Client {
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig parses"),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("kubeconfig is usable");
    kube::Client::try_from(config).expect("kube client")
}

/// `$KUBECTL`, else `<repo>/.tools/bin/kubectl`; missing fails the test.
fn kubectl_bin() -> PathBuf {
    let path = std::env::var_os("KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/kubectl"));
    assert!(
        path.is_file(),
        "kubectl not found at {} (set KUBECTL or run scripts/install-test-tools.sh)",
        path.display()
    );
    path
}
