//! Issue 15, replayed against the controller's reconcile (a tower-test API server, the real sync
//! engine and the simulators): a connector's endpoints and identity are untrusted. A connector
//! naming a host the operator does not allow gets Ready=False and nothing is sent, not even a
//! Secret read; a workload-identity connector presents a token of a ServiceAccount of its own
//! namespace, got through the TokenRequest API, and nothing else.

use crate::support::log_capture;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::controller::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use log_capture::Capture;
use pbconnector::azure::{FEDERATED_TOKEN_AUDIENCE, FederatedToken, FederatedTokenSource};
use pbconnector::controller::reconcile::{Watched, reconcile};
use pbconnector::controller::workload_identity::{ServiceAccountToken, TOKEN_EXPIRATION};
use pbconnector::controller::{CredentialPolicy, EndpointPolicy, PipelineEngine};
use pbconnector::resources::{AzureAdConnectorStatus, Connection, WorkloadIdentity};
use pbconnector_simulators::graph::{FederatedCredential, JwtAlgorithm, PathKind};
use pbconnector_simulators::sample::{SampleEnvironment, SampleOptions};
use serde_json::{Value, json};

const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
const SERVICE_ACCOUNT: &str = "pbconnector-contoso";

fn ready(status: &AzureAdConnectorStatus) -> (&str, &str, &str) {
    let c = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("a Ready condition");
    (c.status.as_str(), c.reason.as_str(), c.message.as_str())
}

fn loopback_policy() -> CredentialPolicy {
    CredentialPolicy {
        endpoints: EndpointPolicy::built_in_only().with_loopback(),
        operator_identity: false,
    }
}

async fn simulators() -> SampleEnvironment {
    SampleEnvironment::start(SampleOptions {
        users: 20,
        interval: "1m".into(),
        ..SampleOptions::default()
    })
    .await
    .expect("simulators start")
}

/// The sample connector (pointed at the simulators), with `edit` applied to its spec JSON.
fn connector_for(env: &SampleEnvironment, edit: impl FnOnce(&mut Value)) -> Arc<Watched> {
    let mut spec = env.spec_json();
    edit(&mut spec);
    connector(None, |c| c["spec"] = spec)
}

fn serve_secrets(api: &ApiState, env: &SampleEnvironment) {
    api.add_secret("entra-app", "1", &[("client-secret", &env.client_secret)]);
    api.add_secret("passwordboss", "2", &[("token", env.password_boss.token())]);
}

fn nothing_sent(env: &SampleEnvironment) {
    assert_eq!(
        env.graph.requests().total_http(),
        0,
        "no token or Graph request"
    );
    assert_eq!(
        env.password_boss.requests().total(),
        0,
        "no Password Boss request"
    );
}

/// A Kubernetes-like service-account token signed by `key`.
fn service_account_jwt(key: &rcgen::KeyPair, namespace: &str, name: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({"iss": ISSUER, "sub": format!("system:serviceaccount:{namespace}:{name}"),
                        "aud": [FEDERATED_TOKEN_AUDIENCE], "iat": now, "nbf": now, "exp": now + 600});
    let key = EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).expect("ec key");
    jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &key).expect("jwt")
}

/// The app's federated credential: this issuer, `subject`, the Entra audience.
fn federate(env: &SampleEnvironment, key: &rcgen::KeyPair, subject: &str) {
    env.tenant
        .add_federated_credential(
            &env.client_id,
            FederatedCredential {
                issuer: ISSUER.into(),
                subject: subject.into(),
                audience: FEDERATED_TOKEN_AUDIENCE.into(),
                issuer_key_pem: key.public_key_pem(),
                algorithm: JwtAlgorithm::ES256,
            },
        )
        .expect("the sample app exists");
}

fn workload_identity(spec: &mut Value, identity: WorkloadIdentity) {
    let azure = spec["azure"].as_object_mut().unwrap();
    azure.remove("clientSecretRef");
    azure.insert(
        "workloadIdentity".into(),
        serde_json::to_value(identity).unwrap(),
    );
}

/// Attack (2) of issue 15: authorityHost, graphEndpoint, apiUrl or a SCIM baseUrl naming the
/// instance metadata service, the API server or any other host. Each is refused with the host and the fix named,
/// before any Secret is read; the engine never runs and the simulators see nothing.
#[tokio::test]
async fn a_connector_naming_a_host_the_operator_does_not_allow_sends_nothing() {
    let env = simulators().await;
    for (field, host) in [
        ("authorityHost", "https://169.254.169.254"),
        ("graphEndpoint", "https://kubernetes.default.svc"),
        ("apiUrl", "https://attacker.example:8443/v1"),
        // A SCIM target has no built-in host: one the administrator did not allow is refused
        // before its token Secret is read.
        ("baseUrl", "https://scim.attacker.example/v2"),
    ] {
        let api = Arc::new(ApiState::default());
        serve_secrets(&api, &env);
        let engine = Arc::new(ScriptedEngine::default());
        let ctx = context_with(api.clone(), engine.clone(), loopback_policy());
        let object = connector_for(&env, |spec| match field {
            "apiUrl" => spec["passwordBoss"]["apiUrl"] = host.into(),
            "baseUrl" => {
                let spec = spec.as_object_mut().unwrap();
                spec.remove("passwordBoss");
                spec.insert(
                    "scim".into(),
                    json!({"baseUrl": host, "tokenSecretRef": {"name": "scim", "key": "token"}}),
                );
            }
            _ => spec["azure"][field] = host.into(),
        });

        reconcile(object, ctx).await.unwrap();

        let status = api.last_status();
        assert_eq!(status.connection, Connection::Error);
        let (ready, reason, message) = ready(&status);
        assert_eq!((ready, reason), ("False", "EndpointNotAllowed"), "{field}");
        let shown_host = host
            .trim_start_matches("https://")
            .split('/')
            .next()
            .unwrap();
        assert!(message.contains(shown_host), "{message}");
        assert!(message.contains(field), "{message}");
        assert!(message.contains("--allowed-endpoint-hosts"), "{message}");
        assert!(message.contains("allowedEndpointHosts"), "{message}");
        assert!(api.secret_reads().is_empty(), "{field}: no Secret read");
        assert!(engine.requests().is_empty(), "{field}: no sync");
        let event = api.events().pop().expect("a Warning Event");
        assert_eq!(event["type"], "Warning");
    }
    nothing_sent(&env);
}

/// The simulators are loopback listeners: an operator started without
/// --allow-loopback-endpoints (as the chart installs it) sends them nothing; the administrator's
/// allow-list admits a host, and then the sync runs.
#[tokio::test]
async fn loopback_and_other_hosts_only_as_the_administrator_allows() {
    let env = simulators().await;
    let api = Arc::new(ApiState::default());
    serve_secrets(&api, &env);
    let engine = Arc::new(PipelineEngine::new());
    let ctx = context_with(api.clone(), engine, CredentialPolicy::default());
    reconcile(connector_for(&env, |_| {}), ctx).await.unwrap();
    let status = api.last_status();
    let (_, reason, message) = ready(&status);
    assert_eq!(reason, "EndpointNotAllowed");
    assert!(message.contains("--allow-loopback-endpoints"), "{message}");
    assert!(api.secret_reads().is_empty());
    nothing_sent(&env);

    let api = Arc::new(ApiState::default());
    serve_secrets(&api, &env);
    let engine = Arc::new(ScriptedEngine::default());
    let allowed = CredentialPolicy {
        endpoints: EndpointPolicy::new(["pb.internal:8443"], true).unwrap(),
        operator_identity: false,
    };
    let ctx = context_with(api.clone(), engine.clone(), allowed);
    let object = connector_for(&env, |spec| {
        spec["passwordBoss"]["apiUrl"] = "https://PB.internal:8443/".into();
    });
    reconcile(object, ctx).await.unwrap();
    assert_eq!(engine.requests().len(), 1, "an allowed host syncs");
}

/// Workload identity per tenant, end to end: the controller asks the TokenRequest API for a
/// token of the named ServiceAccount in the connector's namespace, with the Entra audience and a
/// short expiry, and that token is the client assertion the token endpoint accepts.
#[tokio::test]
async fn workload_identity_presents_a_token_request_token_of_the_connectors_own_service_account() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.subscriber());
    let env = simulators().await;
    let issuer = rcgen::KeyPair::generate().unwrap();
    federate(
        &env,
        &issuer,
        &format!("system:serviceaccount:{NS}:{SERVICE_ACCOUNT}"),
    );
    let jwt = service_account_jwt(&issuer, NS, SERVICE_ACCOUNT);
    let api = Arc::new(ApiState::default());
    serve_secrets(&api, &env);
    api.add_service_account(SERVICE_ACCOUNT, &jwt);
    let ctx = context_with(
        api.clone(),
        Arc::new(PipelineEngine::new()),
        loopback_policy(),
    );
    let object = connector_for(&env, |spec| {
        workload_identity(spec, WorkloadIdentity::service_account(SERVICE_ACCOUNT))
    });

    reconcile(object, ctx).await.unwrap();

    let status = api.last_status();
    assert_eq!(
        status.connection,
        Connection::Connected,
        "{}",
        status.message
    );
    let requests = api.token_requests();
    assert_eq!(requests.len(), 1, "one TokenRequest");
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.path,
        format!("/api/v1/namespaces/{NS}/serviceaccounts/{SERVICE_ACCOUNT}/token")
    );
    assert_eq!(request.body["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(request.body["kind"], "TokenRequest");
    assert_eq!(
        request.body["spec"]["audiences"],
        json!([FEDERATED_TOKEN_AUDIENCE])
    );
    assert_eq!(
        request.body["spec"]["expirationSeconds"],
        json!(TOKEN_EXPIRATION.as_secs())
    );
    assert!(TOKEN_EXPIRATION <= Duration::from_secs(600));
    // The simulator accepts an assertion only when signed by the issuer's key for exactly that
    // subject and audience: the TokenRequest's token reached it as the client assertion.
    let counts = env.graph.requests();
    assert_eq!(counts.http_status(PathKind::Token, 200), 1);
    // Only the Password Boss token Secret was read: the identity is no Secret.
    let reads: Vec<String> = api.secret_reads().into_iter().map(|s| s.path).collect();
    assert_eq!(
        reads,
        [format!("/api/v1/namespaces/{NS}/secrets/passwordboss")]
    );
    for written in api.seen().iter().filter(|s| s.method != "GET") {
        assert!(
            !written.body.to_string().contains(&jwt),
            "the service-account token was written to {}",
            written.path
        );
    }
    let logs = capture.text();
    assert!(
        logs.contains("service account token issued"),
        "the capture works"
    );
    assert!(!logs.contains(&jwt), "the service-account token was logged");
}

/// A tenant cannot borrow another namespace's identity: the spec holds a name only (the schema
/// refuses `ns/name`), the token is always asked for in the connector's namespace, and Entra
/// then refuses it when the app federates only with the other namespace's ServiceAccount.
#[tokio::test]
async fn a_service_account_of_another_namespace_cannot_be_used() {
    let env = simulators().await;
    let issuer = rcgen::KeyPair::generate().unwrap();
    federate(
        &env,
        &issuer,
        &format!("system:serviceaccount:msp-other:{SERVICE_ACCOUNT}"),
    );
    let api = Arc::new(ApiState::default());
    serve_secrets(&api, &env);
    let jwt = service_account_jwt(&issuer, NS, SERVICE_ACCOUNT);
    api.add_service_account(SERVICE_ACCOUNT, &jwt);
    let ctx = context_with(
        api.clone(),
        Arc::new(PipelineEngine::new()),
        loopback_policy(),
    );
    let object = connector_for(&env, |spec| {
        workload_identity(spec, WorkloadIdentity::service_account(SERVICE_ACCOUNT))
    });

    reconcile(object, ctx).await.unwrap();

    let status = api.last_status();
    assert_eq!(status.connection, Connection::Unauthorized);
    assert!(status.message.contains("AADSTS70021"), "{}", status.message);
    assert!(!status.message.contains(&jwt));
    for request in api.seen() {
        assert!(
            !request.path.contains("msp-other"),
            "nothing asked of another namespace: {}",
            request.path
        );
    }
    assert_eq!(api.token_requests().len(), 1);
}

/// A ServiceAccount that does not exist: the status says which one and where to create it.
#[tokio::test]
async fn a_missing_service_account_is_reported_by_name() {
    let env = simulators().await;
    let api = Arc::new(ApiState::default());
    serve_secrets(&api, &env);
    let ctx = context_with(
        api.clone(),
        Arc::new(PipelineEngine::new()),
        loopback_policy(),
    );
    let object = connector_for(&env, |spec| {
        workload_identity(spec, WorkloadIdentity::service_account("nobody"))
    });
    reconcile(object, ctx).await.unwrap();
    let status = api.last_status();
    assert_eq!(status.connection, Connection::Error);
    assert!(
        status.message.contains("`nobody`") && status.message.contains(NS),
        "{}",
        status.message
    );
    assert_eq!(env.graph.requests().http(PathKind::Token), 0);
}

/// Attack (1) of issue 15 needed a file path; what remains is the operator's own identity,
/// which a connector gets only when the administrator started the operator so.
#[tokio::test]
async fn the_operators_own_identity_is_refused_unless_the_administrator_allows_it() {
    let env = simulators().await;
    let api = Arc::new(ApiState::default());
    serve_secrets(&api, &env);
    let engine = Arc::new(ScriptedEngine::default());
    let ctx = context_with(api.clone(), engine.clone(), loopback_policy());
    let operator_identity = WorkloadIdentity {
        service_account_name: None,
        operator_identity: Some(true),
    };
    let object = connector_for(&env, |spec| workload_identity(spec, operator_identity));

    reconcile(object.clone(), ctx).await.unwrap();

    let status = api.last_status();
    let (ready, reason, message) = ready(&status);
    assert_eq!((ready, reason), ("False", "OperatorIdentityNotAllowed"));
    assert!(
        message.contains("--allow-operator-workload-identity"),
        "{message}"
    );
    assert!(message.contains("serviceAccountName"), "{message}");
    assert!(api.secret_reads().is_empty());
    assert!(api.token_requests().is_empty());
    assert!(engine.requests().is_empty());
    nothing_sent(&env);
}

/// The TokenRequest token is reused while most of its lifetime remains, and never shown.
#[tokio::test]
async fn service_account_tokens_are_reused_within_their_lifetime_and_never_printed() {
    let api = Arc::new(ApiState::default());
    api.add_service_account(SERVICE_ACCOUNT, "sa-token-value");
    let client = mock_client(api.clone());
    let source = FederatedToken::new(ServiceAccountToken::new(client, NS, SERVICE_ACCOUNT));
    assert_eq!(source.token().await.unwrap(), "sa-token-value");
    assert_eq!(source.token().await.unwrap(), "sa-token-value");
    assert_eq!(api.token_requests().len(), 1, "reused");
    assert_eq!(
        source.id(),
        format!("serviceaccount {NS}/{SERVICE_ACCOUNT}")
    );
    assert!(!format!("{source:?}").contains("sa-token-value"));

    let missing = ServiceAccountToken::new(mock_client(api.clone()), NS, "nobody");
    let err = missing.token().await.unwrap_err().to_string();
    assert!(err.contains("does not exist in namespace `msp`"), "{err}");
    assert!(err.contains("ServiceAccount `nobody`"), "{err}");
    for debug in ["ApiError", "ErrorResponse", "Status {"] {
        assert!(!err.contains(debug), "no kube debug text ({debug}): {err}");
    }
}
