//! The container image, proven in a real container runtime, and the operator on an enterprise
//! network (a private CA, an HTTP CONNECT proxy).
//!
//! Needs what `scripts/test.sh` provides, and fails (never skips) without it:
//! - `PBCONNECTOR_IMAGE_ARCHIVE`: the OCI archive `scripts/build-image.sh` writes and prints
//!   (`target/image/pbconnector-<arch>.oci.tar`); this file tests that archive, whatever built it;
//! - root `podman` with `runc` (Debian's packages, from `scripts/install-test-tools.sh`), run with
//!   the repository's settings (`scripts/containers/`: vfs storage under `target/containers/`,
//!   cgroupfs, runc, no default ulimits), as CI does;
//! - the real API server (`PBCONNECTOR_K8S_BIN`), kubectl and helm, as the other e2e tests.
//!
//! The simulators sit behind TLS fronts whose certificates a private CA signed, under names
//! (`login.pbtest.example`, `passwordboss.pbtest.example`) that only the container's
//! `/etc/hosts` (`--add-host`) or the test's proxy resolve. A counting CONNECT proxy on loopback
//! records every tunnel it carried.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::support::e2e::{Cluster, eventually, helm_bin, sample};
use pbconnector::resources::Connection;
use pbconnector_simulators::passwordboss::wire::UserStatus;
use pbconnector_simulators::sample::SampleEnvironment;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MINUTE: Duration = Duration::from_secs(60);
const GRAPH_HOST: &str = "login.pbtest.example";
const PB_HOST: &str = "passwordboss.pbtest.example";
/// Where the chart mounts a ServiceAccount's token, CA and namespace in every pod.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Compressed layers of the image at most (the aim: under 20 MB).
const MAX_COMPRESSED_BYTES: u64 = 20 * 1000 * 1000;
/// The password in the proxy URL the chart takes from a Secret: never in the log.
const PROXY_PASSWORD: &str = "proxy-secret-4c1d";

pub(super) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(super) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The repository's container settings (scripts/containers/env.sh): `CONTAINERS_CONF` and
/// `CONTAINERS_STORAGE_CONF`, and podman's global flags naming the vfs storage under
/// `target/containers/`.
pub(super) fn container_settings() -> ([(&'static str, PathBuf); 2], Vec<String>) {
    let root = repo();
    let env = [
        (
            "CONTAINERS_CONF",
            root.join("scripts/containers/containers.conf"),
        ),
        (
            "CONTAINERS_STORAGE_CONF",
            root.join("scripts/containers/storage.conf"),
        ),
    ];
    let storage = root.join("target/containers");
    let flags = vec![
        "--root".to_owned(),
        storage.join("storage").display().to_string(),
        "--runroot".to_owned(),
        storage.join("run").display().to_string(),
        "--storage-driver".to_owned(),
        "vfs".to_owned(),
    ];
    (env, flags)
}

/// `podman` with the repository's container settings and storage.
fn podman(args: &[&str]) -> Output {
    let (env, flags) = container_settings();
    Command::new("podman")
        .envs(env)
        .args(flags)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("podman cannot run ({e}): install it with scripts/install-test-tools.sh")
        })
}

/// The label on every container these tests start; its value names the test.
const TEST_LABEL: &str = "pbconnector-test";

/// `--label=pbconnector-test=<test>` for `podman run`.
fn test_label(test: &str) -> String {
    format!("--label={TEST_LABEL}={test}")
}

/// Removes what an earlier run of `test` left (a killed run never reached its `Drop`): a
/// detached container on the host network would still hold its port. Only this test's label,
/// so that tests running in parallel keep their containers.
fn remove_leftovers(test: &str) {
    podman_ok(&[
        "rm",
        "--force",
        "--time",
        "0",
        "--filter",
        &format!("label={TEST_LABEL}={test}"),
    ]);
}

fn podman_ok(args: &[&str]) -> String {
    let out = podman(args);
    assert!(
        out.status.success(),
        "podman {args:?} failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The archive under test (`PBCONNECTOR_IMAGE_ARCHIVE`).
pub(super) fn archive() -> PathBuf {
    let path = std::env::var_os("PBCONNECTOR_IMAGE_ARCHIVE")
        .map(PathBuf::from)
        .expect(
            "PBCONNECTOR_IMAGE_ARCHIVE is not set: build the image with scripts/build-image.sh \
             and set it to the archive it prints (scripts/test.sh does both)",
        );
    assert!(
        path.is_file(),
        "PBCONNECTOR_IMAGE_ARCHIVE={} is not a file: run scripts/build-image.sh",
        path.display()
    );
    path
}

/// The archive loaded into the test storage, once per test binary: the image's ID.
fn image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let archive = archive();
        let out = podman_ok(&["load", "--quiet", "--input", archive.to_str().unwrap()]);
        let name = out
            .lines()
            .filter_map(|l| l.split_once(": "))
            .map(|(_, name)| name.trim().to_string())
            .next_back()
            .unwrap_or_else(|| panic!("podman load names the image: {out}"));
        // Earlier builds' images, untagged by this load, would only fill target/containers/.
        podman_ok(&["image", "prune", "--force"]);
        podman_ok(&["image", "inspect", "--format", "{{.Id}}", &name])
            .trim()
            .to_string()
    })
}

/// One member of the OCI archive (a tar), by path.
fn archive_member(member: &str) -> Vec<u8> {
    let out = Command::new("tar")
        .arg("-xOf")
        .arg(archive())
        .arg(member)
        .output()
        .expect("tar runs");
    assert!(
        out.status.success(),
        "{member} in the archive: {}",
        text(&out.stderr)
    );
    out.stdout
}

fn blob(digest: &str) -> Vec<u8> {
    archive_member(&format!("blobs/{}", digest.replacen(':', "/", 1)))
}

fn json_blob(digest: &str) -> Value {
    serde_json::from_slice(&blob(digest)).expect("a JSON blob")
}

/// The digest of the archive's one image manifest (what a registry names it by).
pub(super) fn manifest_digest() -> String {
    let index: Value = serde_json::from_slice(&archive_member("index.json")).expect("index.json");
    let manifests = index["manifests"].as_array().expect("index.manifests");
    assert_eq!(manifests.len(), 1, "one image in the archive: {index}");
    manifests[0]["digest"].as_str().expect("digest").to_owned()
}

/// The image's manifest and configuration, from the archive itself.
pub(super) fn manifest_and_config() -> (Value, Value) {
    let manifest = json_blob(&manifest_digest());
    let config = json_blob(
        manifest["config"]["digest"]
            .as_str()
            .expect("config digest"),
    );
    (manifest, config)
}

#[test]
fn the_image_is_one_static_binary_run_as_65532_with_no_shell() {
    let (manifest, config) = manifest_and_config();
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "one layer: {manifest}");
    let compressed: u64 = layers.iter().map(|l| l["size"].as_u64().unwrap()).sum();
    println!(
        "image: {compressed} bytes compressed ({:.1} MB)",
        compressed as f64 / 1e6
    );
    assert!(
        compressed < MAX_COMPRESSED_BYTES,
        "the image's layers take {compressed} bytes compressed, over {MAX_COMPRESSED_BYTES}"
    );

    // Exactly one file, the binary, owned by root and not writable by anyone.
    let mut listing = Command::new("tar")
        .args(["-tvzf", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tar runs");
    let layer = blob(layers[0]["digest"].as_str().unwrap());
    listing
        .stdin
        .take()
        .unwrap()
        .write_all(&layer)
        .expect("layer to tar");
    let out = listing.wait_with_output().expect("tar lists the layer");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let entries: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(
        entries.len(),
        1,
        "only the binary in the image: {entries:#?}"
    );
    let fields: Vec<&str> = entries[0].split_whitespace().collect();
    assert_eq!(fields[0], "-r-xr-xr-x", "{entries:?}");
    assert_eq!(fields[1], "0/0", "owned by root: {entries:?}");
    assert_eq!(fields.last(), Some(&"pbconnector"), "{entries:?}");

    let c = &config["config"];
    assert_eq!(c["User"], "65532:65532", "runs as 65532 by default: {c}");
    assert_eq!(c["Entrypoint"], json!(["/pbconnector"]), "{c}");
    assert_eq!(c["Cmd"], json!(["run"]), "{c}");
    let labels = &c["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION"),
        "{labels}"
    );
    assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0");
    // The commit the archive was built from (build-image.sh never keeps an older archive): this
    // checkout's HEAD, marked `-modified` when tracked files differ from it.
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(repo())
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    };
    let mut revision = git(&["rev-parse", "HEAD"]);
    if !git(&["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        revision.push_str("-modified");
    }
    assert_eq!(
        labels["org.opencontainers.image.revision"], revision,
        "the revision label names this checkout (rebuild with scripts/build-image.sh): {labels}"
    );
    for label in ["source", "title"] {
        let value = labels[format!("org.opencontainers.image.{label}")]
            .as_str()
            .unwrap_or_default();
        assert!(!value.is_empty(), "label {label} is set: {labels}");
    }

    // The runtime runs it (hardened as the chart runs it), and there is no shell to run.
    let test = "static-binary";
    remove_leftovers(test);
    let label = test_label(test);
    let hardened = [
        "run",
        "--rm",
        &label,
        "--network=none",
        "--read-only",
        "--read-only-tmpfs=false",
        "--cap-drop=all",
        "--security-opt=no-new-privileges",
    ];
    let mut version = hardened.to_vec();
    version.extend([image(), "--version"]);
    let out = podman_ok(&version);
    assert!(
        out.contains(env!("CARGO_PKG_VERSION")),
        "pbconnector --version: {out}"
    );
    for shell in ["/bin/sh", "/bin/bash", "/busybox"] {
        let mut args = hardened.to_vec();
        args.extend(["--entrypoint", shell, image(), "-c", "true"]);
        let out = podman(&args);
        assert!(!out.status.success(), "{shell} ran in the image");
        let err = text(&out.stderr);
        assert!(
            err.contains("no such file or directory") || err.contains("not found"),
            "{shell} fails because it is not there: {err}"
        );
    }
    // No demo command: built with --no-default-features (no simulators, no fake token endpoint).
    let mut demo = hardened.to_vec();
    demo.extend([image(), "demo", "--help"]);
    assert!(
        !podman(&demo).status.success(),
        "the image has no demo command"
    );
}

/// A private CA and a serving certificate for the simulators' names.
struct PrivateCa {
    ca_pem: String,
    server: Arc<tokio_rustls::rustls::ServerConfig>,
}

impl PrivateCa {
    fn new() -> Self {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "pbconnector test proxy CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, &ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec![GRAPH_HOST.into(), PB_HOST.into()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let server = tokio_rustls::rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .expect("a serving configuration");
        Self {
            ca_pem: ca_cert.pem(),
            server: Arc::new(server),
        }
    }
}

/// HTTPS on loopback in front of a simulator's plain listener; counts the connections.
struct TlsFront {
    port: u16,
    connections: Arc<Mutex<usize>>,
}

impl TlsFront {
    async fn start(ca: &PrivateCa, backend: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = tokio_rustls::TlsAcceptor::from(ca.server.clone());
        let connections = Arc::new(Mutex::new(0));
        let count = connections.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                *count.lock().unwrap() += 1;
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    if let Ok(mut plain) = TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    }
                });
            }
        });
        Self { port, connections }
    }

    fn connections(&self) -> usize {
        *self.connections.lock().unwrap()
    }
}

/// An HTTP CONNECT proxy on loopback that records the target of every tunnel it opens. It
/// resolves the test's names (`*.pbtest.example`) to loopback itself, as a corporate proxy
/// resolves names its clients cannot.
struct ConnectProxy {
    port: u16,
    tunnels: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tunnels = Arc::new(Mutex::new(Vec::new()));
        let log = tunnels.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let _ = Self::tunnel(stream, log).await;
                });
            }
        });
        Self { port, tunnels }
    }

    async fn tunnel(mut client: TcpStream, log: Arc<Mutex<Vec<String>>>) -> std::io::Result<()> {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if client.read(&mut byte).await? == 0 || head.len() > 8192 {
                return Ok(());
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let mut words = head.split_whitespace();
        let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
            client
                .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
                .await?;
            return Ok(());
        };
        log.lock().unwrap().push(target.to_string());
        let (host, port) = target.rsplit_once(':').unwrap_or((target, "443"));
        let address = if host.ends_with(".pbtest.example") {
            format!("127.0.0.1:{port}")
        } else {
            target.to_string()
        };
        let Ok(mut upstream) = TcpStream::connect(address).await else {
            client
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
                .await?;
            return Ok(());
        };
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await?;
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        Ok(())
    }

    fn tunnels(&self) -> Vec<String> {
        self.tunnels.lock().unwrap().clone()
    }
}

/// The sample tenant and company served as `https://login.pbtest.example:<port>` and
/// `https://passwordboss.pbtest.example:<port>` with certificates of `ca`.
struct NamedSimulators {
    env: SampleEnvironment,
    graph: TlsFront,
    password_boss: TlsFront,
}

impl NamedSimulators {
    async fn start(ca: &PrivateCa, users: usize) -> Self {
        let mut env = sample(users, "1h").await;
        let graph = TlsFront::start(ca, env.graph.local_addr()).await;
        let pb_url = env.password_boss.url();
        let pb_addr: SocketAddr =
            format!("{}:{}", pb_url.host_str().unwrap(), pb_url.port().unwrap())
                .parse()
                .unwrap();
        let password_boss = TlsFront::start(ca, pb_addr).await;
        env.graph
            .set_public_url(&format!("https://{GRAPH_HOST}:{}", graph.port));
        Self {
            env,
            graph,
            password_boss,
        }
    }

    fn graph_host(&self) -> String {
        format!("{GRAPH_HOST}:{}", self.graph.port)
    }

    fn pb_host(&self) -> String {
        format!("{PB_HOST}:{}", self.password_boss.port)
    }

    /// The connector and its Secrets in `namespace`, as the YAML documents (JSON ones) that
    /// `kubectl apply -f` and `pbconnector sync -f` read.
    fn manifests(&self, namespace: &str) -> String {
        let mut connector = self.env.connector_json(namespace);
        connector["spec"]["passwordBoss"]["apiUrl"] = json!(format!("https://{}", self.pb_host()));
        let mut items: Vec<Value> = self
            .env
            .secrets()
            .into_iter()
            .map(|(name, data)| {
                let data: BTreeMap<String, String> = data
                    .into_iter()
                    .map(|(k, v)| (k, String::from_utf8(v).expect("UTF-8 secret")))
                    .collect();
                json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                       "metadata": {"name": name, "namespace": namespace},
                       "stringData": data})
            })
            .collect();
        items.push(connector);
        items
            .iter()
            .map(|item| serde_json::to_string_pretty(item).unwrap())
            .collect::<Vec<_>>()
            .join("\n---\n")
    }

    fn active_users(&self) -> usize {
        self.env
            .password_boss
            .azure_users()
            .iter()
            .filter(|u| u.status == UserStatus::Active)
            .count()
    }
}

/// A directory (and its files) the container's UID 65532 may read.
fn readable_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for (name, content) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

/// The chart's Deployment rendered with `values` (`--set`s).
async fn chart_deployment(values: &[String]) -> Value {
    let mut args: Vec<String> = [
        "template",
        "pbconnector",
        "charts/pbconnector",
        "--show-only",
        "templates/deployment.yaml",
    ]
    .map(str::to_owned)
    .to_vec();
    for v in values {
        args.extend(["--set".into(), v.clone()]);
    }
    let out = tokio::process::Command::new(helm_bin())
        .args(&args)
        .current_dir(repo())
        .output()
        .await
        .expect("helm runs");
    assert!(out.status.success(), "helm template: {}", text(&out.stderr));
    serde_yaml::from_slice(&out.stdout).expect("the Deployment as YAML")
}

/// A container removed when the test ends, passed or not.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman(&["rm", "--force", "--time", "0", &self.0]);
    }
}

fn proc_status(pid: &str, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_image_runs_as_the_chart_runs_it_and_syncs_by_name_over_a_private_ca_through_a_proxy() {
    let image = tokio::task::spawn_blocking(image).await.unwrap();
    let test = "runs-as-the-chart";
    tokio::task::spawn_blocking(move || remove_leftovers(test))
        .await
        .unwrap();
    let cluster = Cluster::shared().await;
    cluster.install_crd().await;
    let ns = cluster.namespace("image").await;
    let watch = format!("watchNamespaces={{{ns}}}");
    let identity = cluster.operator_identity(&[watch.as_str()]).await;
    let token = cluster.service_account_token(&identity, "1h").await;
    let ca = PrivateCa::new();
    let sims = NamedSimulators::start(&ca, 12).await;
    let proxy = ConnectProxy::start().await;
    cluster.apply(&sims.manifests(&ns)).await;

    // The Deployment exactly as the chart renders it for an MSP network: the proxy for
    // everything but Password Boss, its URL (with credentials) from a Secret, the private CA
    // from a ConfigMap, the names allowed.
    let proxy_secret = BTreeMap::from([(
        ("corp-proxy", "https"),
        format!("http://pbproxy:{PROXY_PASSWORD}@127.0.0.1:{}", proxy.port),
    )]);
    let port = free_port();
    let deployment = chart_deployment(&[
        "image.repository=localhost/pbconnector".into(),
        watch.clone(),
        format!("port={port}"),
        format!(
            "allowedEndpointHosts={{{},{}}}",
            sims.graph_host(),
            sims.pb_host()
        ),
        "extraCACertificates.configMapName=corp-ca".into(),
        "proxy.existingSecret.name=corp-proxy".into(),
        "proxy.existingSecret.httpsKey=https".into(),
        format!("proxy.noProxy={PB_HOST}"),
    ])
    .await;
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(security["runAsUser"], 65532);
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();

    // What the kubelet would provide: the ServiceAccount's files, the ConfigMap's, the env.
    let service_account = readable_dir(&[
        ("token", token.trim()),
        ("ca.crt", cluster.server().ca_pem()),
        ("namespace", &identity.namespace),
    ]);
    let ca_files = readable_dir(&[("proxy-ca.crt", &ca.ca_pem)]);
    let api = url::Url::parse(cluster.server().url()).unwrap();
    let mut run: Vec<String> = [
        "run",
        "--detach",
        &test_label(test),
        "--network=host",
        "--read-only",
        "--read-only-tmpfs=false",
        "--cap-drop=all",
        "--security-opt=no-new-privileges",
    ]
    .map(str::to_owned)
    .to_vec();
    run.push(format!("--add-host={GRAPH_HOST}:127.0.0.1"));
    run.push(format!("--add-host={PB_HOST}:127.0.0.1"));
    run.push(format!(
        "--volume={}:{SERVICE_ACCOUNT_DIR}:ro",
        service_account.path().display()
    ));
    let mount = &container["volumeMounts"][0];
    assert_eq!(mount["readOnly"], true);
    run.push(format!(
        "--volume={}:{}:ro",
        ca_files.path().display(),
        mount["mountPath"].as_str().unwrap()
    ));
    run.push(format!(
        "--env=KUBERNETES_SERVICE_HOST={}",
        api.host_str().unwrap()
    ));
    run.push(format!(
        "--env=KUBERNETES_SERVICE_PORT={}",
        api.port().unwrap()
    ));
    for env in container["env"].as_array().unwrap() {
        let name = env["name"].as_str().unwrap();
        let value = match name {
            "POD_NAME" => "pbconnector-image-test".to_string(),
            "POD_NAMESPACE" => identity.namespace.clone(),
            // What the kubelet does with a resourceFieldRef of limits.memory (divisor 1): the
            // container's limit in bytes.
            _ if env["valueFrom"]["resourceFieldRef"].is_object() => {
                let field = &env["valueFrom"]["resourceFieldRef"];
                assert_eq!(field["resource"], "limits.memory", "{env}");
                assert_eq!(field["divisor"], "1", "{env}");
                let limit = container["resources"]["limits"]["memory"]
                    .as_str()
                    .expect("the chart sets limits.memory");
                crate::support::helm::quantity_bytes(limit).to_string()
            }
            _ => match env["valueFrom"]["secretKeyRef"].as_object() {
                // What the kubelet does with a secretKeyRef: the Secret's value.
                Some(reference) => {
                    let key = (
                        reference["name"].as_str().unwrap(),
                        reference["key"].as_str().unwrap(),
                    );
                    proxy_secret
                        .get(&key)
                        .unwrap_or_else(|| panic!("{key:?} is a key of the test's Secret"))
                        .clone()
                }
                None => env["value"]
                    .as_str()
                    .unwrap_or_else(|| panic!("a value or a secretKeyRef for {name}: {env}"))
                    .to_string(),
            },
        };
        run.push(format!("--env={name}={value}"));
    }
    run.push(image.to_string());
    for arg in container["args"].as_array().unwrap() {
        run.push(arg.as_str().unwrap().to_string());
    }
    let env_names: Vec<&str> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for expected in ["SSL_CERT_DIR", "HTTPS_PROXY", "NO_PROXY"] {
        assert!(env_names.contains(&expected), "{expected} in {env_names:?}");
    }

    let args: Vec<&str> = run.iter().map(String::as_str).collect();
    let id = Container(podman_ok(&args).trim().to_string());
    let logs = || podman(&["logs", &id.0]);
    let log_text = || {
        let out = logs();
        format!("{}{}", text(&out.stdout), text(&out.stderr))
    };

    // The chart's probes, on the chart's port.
    let probe = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let readiness = container["readinessProbe"]["httpGet"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    let liveness = container["livenessProbe"]["httpGet"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    eventually("the readiness probe to answer 200", MINUTE, || {
        let url = probe(&readiness);
        async move {
            reqwest::get(url)
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        }
    })
    .await;
    let live = reqwest::get(probe(&liveness)).await.expect("liveness");
    assert!(live.status().is_success(), "{}", live.status());

    let status = cluster
        .wait_status(&ns, "a sync that made users active", MINUTE, |s| {
            s.connection == Connection::Connected && s.users.active > 0
        })
        .await;
    assert_eq!(
        sims.active_users(),
        status.users.active as usize,
        "every user the status counts is active in Password Boss"
    );
    assert!(sims.active_users() >= sims.env.members.len());
    let metrics = reqwest::get(probe("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("connector_connection") && metrics.contains(&ns),
        "/metrics reports the connector: {metrics}"
    );

    // The process as the kernel sees it.
    let pid = podman_ok(&["inspect", "--format", "{{.State.Pid}}", &id.0]);
    let pid = pid.trim();
    assert_eq!(proc_status(pid, "Uid"), "65532 65532 65532 65532");
    assert_eq!(proc_status(pid, "Gid"), "65532 65532 65532 65532");
    assert_eq!(proc_status(pid, "CapEff"), "0000000000000000");
    assert_eq!(proc_status(pid, "CapPrm"), "0000000000000000");
    assert_eq!(proc_status(pid, "NoNewPrivs"), "1");
    let read_only = podman_ok(&[
        "inspect",
        "--format",
        "{{.HostConfig.ReadonlyRootfs}}",
        &id.0,
    ]);
    assert_eq!(read_only.trim(), "true");

    // Graph and its token endpoint went through the proxy, by name; Password Boss (NO_PROXY)
    // and the API server (never proxied) did not.
    let tunnels = proxy.tunnels();
    assert!(
        tunnels.iter().any(|t| *t == sims.graph_host()),
        "Graph through the proxy: {tunnels:?}\n{}",
        log_text()
    );
    assert!(
        tunnels.iter().all(|t| *t == sims.graph_host()),
        "only Graph went through the proxy (Password Boss is in NO_PROXY, the API server is \
         reached directly): {tunnels:?}"
    );
    assert!(
        sims.password_boss.connections() > 0,
        "Password Boss reached directly by name"
    );
    assert!(sims.graph.connections() > 0);
    let log = log_text();
    assert!(
        log.contains("trusting these CA certificates") && log.contains("proxy-ca.crt"),
        "{log}"
    );
    assert!(
        !log.contains(token.trim())
            && !log.contains(sims.env.password_boss.token())
            && !log.contains(PROXY_PASSWORD),
        "no credential in the log"
    );
    assert_eq!(status.connection, Connection::Connected);

    // SIGTERM, and a clean exit within the chart's grace period (podman stop would SIGKILL
    // after it: exit code 137).
    podman_ok(&["stop", "--time", &grace.to_string(), &id.0]);
    let code = podman_ok(&["inspect", "--format", "{{.State.ExitCode}}", &id.0]);
    let log = log_text();
    assert_eq!(code.trim(), "0", "a clean exit on SIGTERM: {log}");
    assert!(log.contains("\"stopped\""), "{log}");
}

/// The binary outside any container, every request through the proxy: the names resolve only
/// there, so a request that skipped it would fail; the private CA comes from `SSL_CERT_FILE`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_token_and_password_boss_requests_go_through_the_proxy_and_trust_ssl_cert_file() {
    let ca = PrivateCa::new();
    let sims = NamedSimulators::start(&ca, 6).await;
    let proxy = ConnectProxy::start().await;
    let files = readable_dir(&[
        ("connector.yaml", &sims.manifests("msp-contoso")),
        ("ca.pem", &ca.ca_pem),
    ]);
    let sync = |env: &[(&str, String)]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_pbconnector"));
        command
            .args(["sync", "--once", "-o", "json", "-f"])
            .arg(files.path().join("connector.yaml"))
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .env_remove("SSL_CERT_DIR")
            .env("HTTPS_PROXY", format!("http://127.0.0.1:{}", proxy.port));
        for (k, v) in env {
            command.env(k, v);
        }
        command
    };

    // Without the CA: the proxy carries the tunnel, TLS refuses the private certificate.
    let before = sims.active_users();
    let refused = sync(&[]).output().await.expect("pbconnector runs");
    let said = format!("{}{}", text(&refused.stdout), text(&refused.stderr));
    assert!(
        !refused.status.success(),
        "a certificate of an unknown CA is refused: {said}"
    );
    assert!(
        said.contains("UnknownIssuer") || said.to_lowercase().contains("certificate"),
        "refused for its certificate, not for another reason: {said}"
    );
    assert!(
        !proxy.tunnels().is_empty(),
        "the refused sync went through the proxy: {}{}",
        text(&refused.stdout),
        text(&refused.stderr)
    );
    assert_eq!(
        sims.active_users(),
        before,
        "nothing was written without trusting the CA"
    );

    let ca_file = files.path().join("ca.pem").to_str().unwrap().to_string();
    let out = sync(&[("SSL_CERT_FILE", ca_file)])
        .output()
        .await
        .expect("pbconnector runs");
    assert!(
        out.status.success(),
        "sync through the proxy: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(sims.active_users() > before, "the sync made users active");
    let tunnels = proxy.tunnels();
    for host in [sims.graph_host(), sims.pb_host()] {
        assert!(
            tunnels.contains(&host),
            "{host} through the proxy: {tunnels:?}"
        );
    }
    assert!(
        tunnels.iter().all(|t| t.contains(".pbtest.example:")),
        "{tunnels:?}"
    );
}

/// `pbconnector run` (outside a container, from a kubeconfig) starts when a platform sets the
/// proxy variables, and reaches the API server directly: the ServiceAccount token never goes
/// through the proxy, although `NO_PROXY` does not name the API server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_starts_with_the_proxy_variables_set_and_reaches_the_api_server_directly() {
    let cluster = Cluster::shared().await;
    cluster.install_crd().await;
    let ns = cluster.namespace("proxied").await;
    let watch = format!("watchNamespaces={{{ns}}}");
    let identity = cluster.operator_identity(&[watch.as_str()]).await;
    let proxy = ConnectProxy::start().await;
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
    let addr = format!("127.0.0.1:{}", free_port());
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pbconnector"))
        .args(["run", "--listen-addr", &addr, "--namespace", &ns])
        .env("KUBECONFIG", &identity.kubeconfig)
        .env("HTTPS_PROXY", &proxy_url)
        .env("HTTP_PROXY", &proxy_url)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env_remove("RUST_LOG")
        .stdout(log.reopen().unwrap())
        .stderr(log.reopen().unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("pbconnector run starts");
    let logs = || std::fs::read_to_string(log.path()).unwrap_or_default();
    let ready = format!("http://{addr}/readyz");
    let mut exited = None;
    eventually("the operator to be ready", MINUTE, || {
        exited = exited.or_else(|| child.try_wait().ok().flatten());
        let ready = ready.clone();
        let exited = exited;
        async move {
            if let Some(status) = exited {
                return Some(Err(status));
            }
            reqwest::get(ready)
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| Ok(()))
        }
    })
    .await
    .unwrap_or_else(|status| panic!("pbconnector run exited ({status}):\n{}", logs()));
    assert_eq!(
        proxy.tunnels(),
        Vec::<String>::new(),
        "nothing to the API server went through the proxy"
    );
    assert!(logs().contains("reached directly"), "{}", logs());

    let pid = child.id().expect("running").to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let status = tokio::time::timeout(MINUTE, child.wait())
        .await
        .expect("stops after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}: {}", logs());
}
