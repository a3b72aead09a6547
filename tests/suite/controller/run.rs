//! `controller::run` in-process against a scripted API server that serves lists and watches:
//! readiness, the first sync, Secret rotation, own status writes, deletion, graceful shutdown.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::controller::*;
use axum::body::Body as AxumBody;
use futures::channel::mpsc::{UnboundedSender, unbounded};
use http::{Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use pbconnector::controller::{ControllerConfig, run};
use pbconnector::sync::ConnectorKey;
use serde_json::{Value, json};

const CONNECTORS: &str = "/apis/passwordboss.com/v1alpha1/namespaces/msp/azureadconnectors";
const SECRETS: &str = "/api/v1/namespaces/msp/secrets";

type Chunk = Result<Vec<u8>, std::io::Error>;

/// The API server: the connector as stored, Secrets, and the open watches.
struct Cluster {
    api: Arc<ApiState>,
    connector: Mutex<Option<Value>>,
    version: Mutex<u64>,
    watches: Mutex<BTreeMap<&'static str, Vec<UnboundedSender<Chunk>>>>,
}

impl Cluster {
    fn new(api: Arc<ApiState>) -> Arc<Self> {
        Arc::new(Self {
            api,
            connector: Mutex::new(Some(connector_json())),
            version: Mutex::new(300),
            watches: Mutex::default(),
        })
    }

    fn next_version(&self) -> String {
        let mut v = self.version.lock().unwrap();
        *v += 1;
        v.to_string()
    }

    fn push(&self, kind: &'static str, event: &str, object: Value) {
        let line = serde_json::to_vec(&json!({"type": event, "object": object})).unwrap();
        let mut watches = self.watches.lock().unwrap();
        for tx in watches.entry(kind).or_default() {
            let mut line = line.clone();
            line.push(b'\n');
            let _ = tx.unbounded_send(Ok(line));
        }
    }

    fn secret_meta(&self, name: &str, version: &str) -> Value {
        json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
               "metadata": {"name": name, "namespace": NS, "resourceVersion": version}})
    }

    /// Rotates a Secret: new data, new version, a MODIFIED event on the metadata watch.
    fn rotate_secret(&self, name: &str, key: &str, value: &str) {
        let version = self.next_version();
        self.api.add_secret(name, &version, &[(key, value)]);
        self.push("secrets", "MODIFIED", self.secret_meta(name, &version));
    }

    fn delete_connector(&self) {
        let object = self.connector.lock().unwrap().take().expect("a connector");
        self.push("connectors", "DELETED", object);
    }

    fn respond(&self, seen: &Seen) -> Response<AxumBody> {
        let watch = seen.query.contains("watch=true");
        let kind = match seen.path.as_str() {
            CONNECTORS => Some("connectors"),
            SECRETS => Some("secrets"),
            _ => None,
        };
        match (seen.method.as_str(), kind, watch) {
            ("GET", Some(kind), true) => {
                let (tx, rx) = unbounded::<Chunk>();
                self.watches
                    .lock()
                    .unwrap()
                    .entry(kind)
                    .or_default()
                    .push(tx);
                ok(AxumBody::from_stream(rx))
            }
            ("GET", Some("connectors"), false) => {
                let items: Vec<Value> = self.connector.lock().unwrap().iter().cloned().collect();
                let list = json!({"apiVersion": "passwordboss.com/v1alpha1", "kind": "AzureAdConnectorList",
                                  "metadata": {"resourceVersion": "300"}, "items": items});
                ok(AxumBody::from(serde_json::to_vec(&list).unwrap()))
            }
            ("GET", Some("secrets"), false) => {
                let items: Vec<Value> = self
                    .api
                    .secrets
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|(name, (version, _))| self.secret_meta(name, version))
                    .collect();
                let list = json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList",
                                  "metadata": {"resourceVersion": "300"}, "items": items});
                ok(AxumBody::from(serde_json::to_vec(&list).unwrap()))
            }
            _ => {
                let (status, mut value) = self.api.respond(seen);
                if seen.method == "PATCH" && seen.path == STATUS_PATH {
                    let mut stored = self.connector.lock().unwrap();
                    if let Some(object) = stored.as_mut() {
                        object["status"] = seen.body["status"].clone();
                        object["metadata"]["resourceVersion"] = self.next_version().into();
                        value = object.clone();
                        drop(stored);
                        self.push("connectors", "MODIFIED", value.clone());
                    }
                }
                Response::builder()
                    .status(status)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(AxumBody::from(serde_json::to_vec(&value).unwrap()))
                    .unwrap()
            }
        }
    }
}

fn ok(body: AxumBody) -> Response<AxumBody> {
    Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap()
}

fn cluster_client(cluster: Arc<Cluster>) -> Client {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<AxumBody>>();
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            let seen = Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
                query: parts.uri.query().unwrap_or_default().to_string(),
                content_type: String::new(),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            let response = cluster.respond(&seen);
            cluster.api.seen.lock().unwrap().push(seen);
            send.send_response(response);
        }
    });
    Client::new(service, "default")
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn config() -> ControllerConfig {
    let mut config = ControllerConfig::new("test-0");
    config.namespaces = vec![NS.into()];
    config.shutdown_timeout = Duration::from_secs(5);
    config.prune_interval = Duration::from_millis(200);
    config
}

#[tokio::test]
async fn run_syncs_follows_secret_rotation_and_stops_gracefully() {
    let api = Arc::new(ApiState::default());
    api.add_secret("entra-app", "100", &[("client-secret", "s3cr3t")]);
    api.add_secret("passwordboss", "200", &[("token", "pb-token")]);
    api.add_secret("unrelated", "250", &[("x", "y")]);
    let cluster = Cluster::new(api.clone());
    let engine = Arc::new(ScriptedEngine::default());
    let config = config();
    let readiness = config.readiness.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(run(
        cluster_client(cluster.clone()),
        config,
        SharedEngine(engine.clone()),
        async move {
            let _ = stopped.await;
        },
    ));

    eventually("ready", || readiness.is_ready()).await;
    eventually("first sync written", || {
        api.status_patches()
            .last()
            .is_some_and(|p| p.body["status"]["connection"] == "Connected")
    })
    .await;
    assert_eq!(engine.requests().len(), 1);

    // Our own status writes came back through the watch: still one sync.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(engine.requests().len(), 1);

    // An unrelated Secret changes: nothing. The token rotates: a sync with the new value.
    cluster.rotate_secret("unrelated", "x", "z");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(engine.requests().len(), 1);
    cluster.rotate_secret("passwordboss", "token", "pb-token-2");
    eventually("sync after rotation", || engine.requests().len() == 2).await;
    assert_eq!(
        engine.requests()[1].secrets["passwordboss"]["token"],
        b"pb-token-2".to_vec()
    );

    // A sync in flight when shutdown comes is finished, then run returns.
    *engine.delay.lock().unwrap() = Duration::from_millis(500);
    cluster.rotate_secret("entra-app", "client-secret", "s3cr3t-2");
    eventually("third sync started", || engine.requests().len() == 3).await;
    stop.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), controller)
        .await
        .expect("run returns after shutdown")
        .expect("run does not panic");
    assert!(result.is_ok());
    assert_eq!(engine.completed(), 3, "the in-flight sync finished");
    assert!(!readiness.is_ready());
}

#[tokio::test]
async fn a_deleted_connector_is_forgotten() {
    let api = Arc::new(ApiState::default());
    api.add_secret("passwordboss", "200", &[("token", "pb-token")]);
    let cluster = Cluster::new(api.clone());
    let engine = Arc::new(ScriptedEngine::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(run(
        cluster_client(cluster.clone()),
        config(),
        SharedEngine(engine.clone()),
        async move {
            let _ = stopped.await;
        },
    ));
    eventually("first sync", || engine.completed() == 1).await;
    cluster.delete_connector();
    eventually("forgotten", || {
        engine
            .forgotten
            .lock()
            .unwrap()
            .contains(&ConnectorKey::new(NS, NAME))
    })
    .await;
    stop.send(()).unwrap();
    controller.await.unwrap().unwrap();
}

/// The scripted engine, shared with the test.
struct SharedEngine(Arc<ScriptedEngine>);

impl pbconnector::controller::SyncEngine for SharedEngine {
    async fn sync(
        &self,
        request: pbconnector::sync::SyncRequest,
    ) -> pbconnector::sync::report::SyncReport {
        self.0.sync(request).await
    }

    fn forget(&self, key: &ConnectorKey) {
        self.0.forget(key)
    }

    fn forget_all(&self) {
        self.0.forget_all()
    }
}
