//! An in-process Kubernetes API server for tests. kube-rs clients and the real `kubectl` work
//! against it over plain HTTP on 127.0.0.1: discovery, generic storage with one global
//! `resourceVersion`, watches (bookmarks, streaming lists, 410 Gone), Table output, CRDs with
//! schema and CEL validation, server-side apply, fault injection and a request log.
//! It is not a cluster: see `tests/README.md` for what it does not do.

mod admission;
mod apply;
mod catalog;
mod discovery;
mod error;
mod faults;
mod kubeconfig;
mod ops;
mod patch;
mod protobuf;
mod prune;
mod render;
mod route;
mod selector;
mod server;
mod store;
mod table;
mod watch;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

pub use faults::{FaultAction, Faults, RequestLog, RequestRecord};

use crate::server::Shared;
use crate::store::{EventType, ObjKey, Store};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("could not bind a loopback port for the fake API server: {0}")]
    Bind(std::io::Error),
    #[error("could not write the kubeconfig file: {0}")]
    Kubeconfig(std::io::Error),
    #[error("could not build a kube client for the fake API server: {0}")]
    Client(String),
}

/// A running fake API server. Dropping it stops the server.
pub struct FakeApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Namespaces a fresh cluster has.
const INITIAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

impl FakeApiServer {
    /// Starts a server on a free loopback port, with a kubeconfig for it in a temp directory.
    pub async fn start() -> Result<Self, StartError> {
        Self::start_with_bookmark_interval(Duration::from_secs(1)).await
    }

    /// Like `start`, with the period of BOOKMARK events on watches that allow them.
    pub async fn start_with_bookmark_interval(
        bookmark_interval: Duration,
    ) -> Result<Self, StartError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(StartError::Bind)?;
        let addr = listener.local_addr().map_err(StartError::Bind)?;
        let mut store = Store::default();
        for ns in INITIAL_NAMESPACES {
            let ts = jiff::Timestamp::now()
                .round(jiff::Unit::Second)
                .map(|t| t.to_string())
                .unwrap_or_default();
            store.commit(
                ObjKey::namespace_of(ns),
                EventType::Added,
                json!({
                    "apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": ns, "uid": uuid::Uuid::new_v4().to_string(),
                                 "creationTimestamp": ts,
                                 "labels": {"kubernetes.io/metadata.name": ns}},
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"},
                }),
            );
        }
        let (dropped, _) = tokio::sync::watch::channel(0);
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            faults: Faults::default(),
            log: RequestLog::default(),
            dropped,
            bookmark_interval,
            address: addr.to_string(),
        });
        let dir = tempfile::tempdir().map_err(StartError::Kubeconfig)?;
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig::render(&format!("http://{addr}")))
            .map_err(StartError::Kubeconfig)?;
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(shared.clone());
        let controller = tokio::spawn(namespace_controller(Arc::downgrade(&shared)));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            // Serving ends only on shutdown; an I/O error there leaves nothing to report to.
            let _ = serve.await;
            controller.abort();
        });
        Ok(Self {
            shared,
            addr,
            kubeconfig,
            _dir: dir,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig file (no credentials, namespace `default`) pointing at this server.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// A kube client for this server (default namespace `default`).
    pub fn client(&self) -> Result<kube::Client, StartError> {
        let uri: http::Uri = self
            .url()
            .parse()
            .map_err(|e: http::uri::InvalidUri| StartError::Client(e.to_string()))?;
        // kube's TLS stack needs a process-wide crypto provider even for plain http; two are
        // compiled in, so one is chosen here unless the process already chose.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Losing a race with another installer is fine: a provider is then installed.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let config = kube::Config::new(uri);
        kube::Client::try_from(config).map_err(|e| StartError::Client(e.to_string()))
    }

    /// Fault injection: fail or delay the next requests matching a verb and resource.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// The log of served requests.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.log.all()
    }

    /// The request log itself, for filtering.
    pub fn request_log(&self) -> &RequestLog {
        &self.shared.log
    }

    /// Forgets the watch history: a watch (or list continuation) from any resourceVersion
    /// issued so far is answered with 410 Gone.
    pub fn compact_history(&self) {
        self.shared.store().compact();
    }

    /// Ends every open watch stream (clients see the connection end and re-watch).
    pub fn drop_watches(&self) {
        self.shared.dropped.send_modify(|n| *n += 1);
    }

    /// The current (latest issued) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store().current_rv()
    }

    /// Stops the server: open watches end, then the listener closes.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        self.drop_watches();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            // Connections still open after two seconds are cut.
            if tokio::time::timeout(Duration::from_secs(2), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

/// Finishes namespace deletions a moment after they are requested, until the server is gone.
async fn namespace_controller(shared: std::sync::Weak<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.store().finalize_namespaces();
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.drop_watches();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
