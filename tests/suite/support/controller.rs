//! A scripted Kubernetes API (tower-test mock) and a scripted SyncEngine for the controller's
//! reconcile tests.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use http::{Request, Response, StatusCode};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::client::Body;
use kube::runtime::events::Reporter;
use pbconnector::controller::events::EventRecorder;
use pbconnector::controller::reconcile::{Context, Watched};
use pbconnector::controller::secrets::SecretRegistry;
use pbconnector::controller::{CredentialPolicy, SyncEngine};
use pbconnector::resources::{AzureAdConnectorStatus, UserCounts};
use pbconnector::sync::report::{Reached, SyncFailure, SyncReport};
use pbconnector::sync::status::failure::FailureReason;
use pbconnector::sync::{ConnectorKey, SyncRequest};
use pbconnector::telemetry::metrics::Metrics;
use serde_json::{Value, json};

use crate::support::{connector_json, held};

pub const NS: &str = "msp";
pub const NAME: &str = "contoso";
pub const OBJECT_PATH: &str =
    "/apis/passwordboss.com/v1alpha1/namespaces/msp/azureadconnectors/contoso";
pub const STATUS_PATH: &str =
    "/apis/passwordboss.com/v1alpha1/namespaces/msp/azureadconnectors/contoso/status";
pub const EVENTS_PATH: &str = "/apis/events.k8s.io/v1/namespaces/msp/events";
pub const SERVICE_ACCOUNTS_PATH: &str = "/api/v1/namespaces/msp/serviceaccounts/";

/// One request the API server received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Value,
}

/// A Secret as served: resource version and data.
type ServedSecret = (String, BTreeMap<String, String>);

/// The fake API server's state: Secrets it serves and every request it saw.
#[derive(Default)]
pub struct ApiState {
    pub secrets: Mutex<BTreeMap<String, ServedSecret>>,
    /// ServiceAccounts of the namespace, by name, with the token a TokenRequest returns.
    pub service_account_tokens: Mutex<BTreeMap<String, String>>,
    pub seen: Mutex<Vec<Seen>>,
}

impl ApiState {
    pub fn add_secret(&self, name: &str, version: &str, data: &[(&str, &str)]) {
        let data = data
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.secrets
            .lock()
            .unwrap()
            .insert(name.into(), (version.into(), data));
    }

    /// A ServiceAccount whose TokenRequests return `token`.
    pub fn add_service_account(&self, name: &str, token: &str) {
        self.service_account_tokens
            .lock()
            .unwrap()
            .insert(name.into(), token.into());
    }

    /// The TokenRequests received (any namespace).
    pub fn token_requests(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.path.contains("/serviceaccounts/"))
            .collect()
    }

    /// Secret reads (any namespace).
    pub fn secret_reads(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.path.contains("/secrets"))
            .collect()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }

    pub fn status_patches(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "PATCH" && s.path == STATUS_PATH)
            .collect()
    }

    pub fn events(&self) -> Vec<Value> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "POST" && s.path == EVENTS_PATH)
            .map(|s| s.body)
            .collect()
    }

    pub fn last_status(&self) -> AzureAdConnectorStatus {
        let patch = self.status_patches().pop().expect("a status patch");
        serde_json::from_value(patch.body["status"].clone()).expect("a status")
    }

    pub fn respond(&self, seen: &Seen) -> (StatusCode, Value) {
        let secret_prefix = format!("/api/v1/namespaces/{NS}/secrets/");
        match (seen.method.as_str(), seen.path.as_str()) {
            ("GET", path) if path.starts_with(&secret_prefix) => {
                let name = &path[secret_prefix.len()..];
                match self.secrets.lock().unwrap().get(name) {
                    Some((version, data)) => {
                        let data: BTreeMap<_, _> = data
                            .iter()
                            .map(|(k, v)| {
                                (
                                    k.clone(),
                                    base64::engine::general_purpose::STANDARD.encode(v),
                                )
                            })
                            .collect();
                        let secret = json!({
                            "apiVersion": "v1", "kind": "Secret",
                            "metadata": {"name": name, "namespace": NS, "resourceVersion": version},
                            "data": data,
                        });
                        (StatusCode::OK, secret)
                    }
                    None => not_found(&format!("secrets \"{name}\" not found")),
                }
            }
            // The object as held: the status last applied (the controller reads it before each
            // status write, to carry its `safety`).
            ("GET", OBJECT_PATH) => {
                let mut object = connector_json();
                if let Some(patch) = self.status_patches().pop() {
                    object["status"] = patch.body["status"].clone();
                }
                (StatusCode::OK, object)
            }
            ("PATCH", STATUS_PATH) => {
                let mut object = connector_json();
                object["status"] = seen.body["status"].clone();
                (StatusCode::OK, object)
            }
            // The controller's permission check at start: everything is granted here.
            ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") => {
                let mut review = seen.body.clone();
                review["status"] = json!({"allowed": true});
                (StatusCode::CREATED, review)
            }
            ("POST", path)
                if path.starts_with(SERVICE_ACCOUNTS_PATH) && path.ends_with("/token") =>
            {
                let name = &path[SERVICE_ACCOUNTS_PATH.len()..path.len() - "/token".len()];
                match self.service_account_tokens.lock().unwrap().get(name) {
                    Some(token) => {
                        let seconds = seen.body["spec"]["expirationSeconds"]
                            .as_i64()
                            .unwrap_or(3600);
                        let expires = Timestamp::now() + SignedDuration::from_secs(seconds);
                        let mut answer = seen.body.clone();
                        answer["status"] =
                            json!({"token": token, "expirationTimestamp": expires.to_string()});
                        (StatusCode::CREATED, answer)
                    }
                    None => not_found(&format!("serviceaccounts \"{name}\" not found")),
                }
            }
            // The company claims' first list: none (their watch is not served here, so it
            // retries at its own pace; no claim is written in these tests).
            ("GET", path)
                if path.starts_with("/apis/coordination.k8s.io/v1/namespaces/")
                    && path.ends_with("/leases")
                    && !seen.query.contains("watch=true") =>
            {
                let list = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "LeaseList",
                                  "metadata": {"resourceVersion": "1"}, "items": []});
                (StatusCode::OK, list)
            }
            ("POST", EVENTS_PATH) => (StatusCode::CREATED, seen.body.clone()),
            ("PATCH", path) if path.starts_with(EVENTS_PATH) => (StatusCode::OK, seen.body.clone()),
            _ => not_found("no such path in this test"),
        }
    }
}

fn not_found(message: &str) -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        json!({"apiVersion": "v1", "kind": "Status", "status": "Failure",
               "reason": "NotFound", "code": 404, "message": message}),
    )
}

/// A client whose every request is answered by `state`.
pub fn mock_client(state: Arc<ApiState>) -> Client {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            let seen = Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
                query: parts.uri.query().unwrap_or_default().to_string(),
                content_type: parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string(),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            let (status, value) = state.respond(&seen);
            state.seen.lock().unwrap().push(seen);
            let response = Response::builder()
                .status(status)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(&value).unwrap()))
                .unwrap();
            send.send_response(response);
        }
    });
    Client::new(service, "default")
}

/// A SyncEngine that returns scripted reports and records every request.
#[derive(Default)]
pub struct ScriptedEngine {
    pub reports: Mutex<VecDeque<SyncReport>>,
    pub requests: Mutex<Vec<SyncRequest>>,
    pub forgotten: Mutex<Vec<ConnectorKey>>,
    /// Times every connector's state was forgotten (leadership lost).
    pub forgotten_all: std::sync::atomic::AtomicU32,
    /// How long each sync takes (virtual time in paused tests).
    pub delay: Mutex<Duration>,
    /// Syncs that ran to the end.
    pub completed: Mutex<u32>,
}

impl ScriptedEngine {
    pub fn script(&self, report: SyncReport) {
        self.reports.lock().unwrap().push_back(report);
    }

    pub fn requests(&self) -> Vec<SyncRequest> {
        self.requests.lock().unwrap().clone()
    }

    pub fn completed(&self) -> u32 {
        *self.completed.lock().unwrap()
    }
}

impl SyncEngine for ScriptedEngine {
    async fn sync(&self, request: SyncRequest) -> SyncReport {
        self.requests.lock().unwrap().push(request);
        let delay = *self.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let next = self.reports.lock().unwrap().pop_front();
        *self.completed.lock().unwrap() += 1;
        next.unwrap_or_else(|| ok_report(812))
    }

    fn forget(&self, key: &ConnectorKey) {
        self.forgotten.lock().unwrap().push(key.clone());
    }

    fn forget_all(&self) {
        self.forgotten_all
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The reconcile context over the mock API and the scripted engine.
pub fn context(api: Arc<ApiState>, engine: Arc<ScriptedEngine>) -> Arc<Context<ScriptedEngine>> {
    context_with(api, engine, CredentialPolicy::default())
}

/// The reconcile context over the mock API, any engine, under `policy`.
pub fn context_with<E: SyncEngine>(
    api: Arc<ApiState>,
    engine: Arc<E>,
    policy: CredentialPolicy,
) -> Arc<Context<E>> {
    let client = mock_client(api);
    let recorder = EventRecorder::new(
        client.clone(),
        Reporter {
            controller: "pbconnector".into(),
            instance: Some("test-0".into()),
        },
    );
    Arc::new(
        Context::new(
            client,
            engine,
            recorder,
            Metrics::new(),
            Arc::new(SecretRegistry::default()),
        )
        .with_policy(policy),
    )
}

/// The connector as the API server stores it (no status).
pub fn connector_json() -> Value {
    json!({
        "apiVersion": "passwordboss.com/v1alpha1",
        "kind": "AzureAdConnector",
        "metadata": {"name": NAME, "namespace": NS, "generation": 1, "resourceVersion": "10",
                     "uid": "7d1f3c9e-0000-4000-8000-000000000001"},
        "spec": connector_json::spec_with(json!({"interval": "1m"}))
    })
}

/// A connector object, optionally with a status and annotations, and edits to its JSON.
pub fn connector(
    status: Option<&AzureAdConnectorStatus>,
    edit: impl FnOnce(&mut Value),
) -> Arc<Watched> {
    let mut value = connector_json();
    if let Some(status) = status {
        value["status"] = serde_json::to_value(status).unwrap();
    }
    edit(&mut value);
    Arc::new(serde_json::from_value(value).expect("a connector object"))
}

pub fn annotate(value: &mut Value, key: &str, annotation: &str) {
    value["metadata"]["annotations"][key] = json!(annotation);
}

/// A successful sync of `in_scope` users.
pub fn ok_report(in_scope: u32) -> SyncReport {
    let finished = Timestamp::now();
    let mut r = SyncReport::failed(
        finished - SignedDuration::from_millis(120),
        SyncFailure::new(FailureReason::GraphUnavailable, String::new()),
        Reached {
            azure: true,
            password_boss: true,
        },
    );
    r.failure = None;
    r.finished = finished;
    r.duration = Duration::from_millis(120);
    r.snapshot_complete = true;
    r.users = UserCounts {
        in_scope,
        active: in_scope,
        pending: 0,
        disabled: 0,
    };
    r.groups = 4;
    r.graph_requests = 1;
    r.password_boss_requests = 3;
    r
}

/// A successful sync that held back `blocked` deprovisions (of 812 managed users), planned by
/// the real planner.
pub fn blocked_report(blocked: u32) -> SyncReport {
    let mut r = ok_report(812);
    let plan = held::leavers_plan(blocked as usize, 812 - blocked as usize);
    r.blocked_deprovisions = plan.blocked_deprovisions;
    assert_eq!(
        r.blocked_deprovisions, blocked,
        "the limits hold them all back"
    );
    r.users = plan.users.into();
    r.plan = Some(plan);
    r
}

/// A sync Password Boss refused.
pub fn unauthorized_report() -> SyncReport {
    SyncReport::failed(
        Timestamp::now(),
        SyncFailure::new(
            FailureReason::PasswordBossUnauthorized,
            "Password Boss refused the token (401): check the Authentication token",
        ),
        Reached {
            azure: true,
            password_boss: false,
        },
    )
}

/// A sync Password Boss did not answer (a failure waiting may fix).
pub fn unavailable_report() -> SyncReport {
    SyncReport::failed(
        Timestamp::now(),
        SyncFailure::new(
            FailureReason::PasswordBossUnavailable,
            "Password Boss is unavailable (503)",
        ),
        Reached {
            azure: true,
            password_boss: false,
        },
    )
}
