//! The CRD as the real kube-apiserver applies it: every CEL rule and pattern of the schema
//! refuses what it should, with the field and the message users see from `kubectl apply`, and a
//! good connector is accepted and defaulted by the server. (tests/suite/kubernetes/crd_schema.rs checks the same
//! schema with the CLI's own validator, which `pbconnector sync -f` uses without a cluster.)

use crate::support::apiserver;
use crate::support::connector_json;

use apiserver::TestApiServer;
use kube::Api;
use kube::api::{DynamicObject, PostParams};
use kube::discovery::ApiResource;
use serde_json::{Value, json};

const NS: &str = "default";

fn good() -> Value {
    connector_json::connector(NS)
}

fn with(path: &[&str], value: Value) -> Value {
    connector_json::set_at(good(), path, value)
}

fn without(path: &[&str]) -> Value {
    connector_json::remove_at(good(), path)
}

/// The good connector with a SCIM target instead of Password Boss, and `value` at `path`.
fn scim_with(path: &[&str], value: Value) -> Value {
    let scim = connector_json::set_at(
        without(&["spec", "passwordBoss"]),
        &["spec", "scim"],
        json!({"baseUrl": "https://scim.example.com/v2",
               "tokenSecretRef": {"name": "scim", "key": "token"}}),
    );
    connector_json::set_at(scim, path, value)
}

async fn api() -> Api<DynamicObject> {
    let server = tokio::task::spawn_blocking(TestApiServer::shared)
        .await
        .expect("the API server starts");
    let resource = ApiResource {
        group: "passwordboss.com".into(),
        version: "v1alpha1".into(),
        api_version: "passwordboss.com/v1alpha1".into(),
        kind: "AzureAdConnector".into(),
        plural: "azureadconnectors".into(),
    };
    Api::namespaced_with(server.client().await, NS, &resource)
}

/// A dry-run create: what the server answers, without storing anything.
async fn create(obj: &Value) -> Result<DynamicObject, kube::Error> {
    let object: DynamicObject = serde_json::from_value(obj.clone()).expect("an object");
    let params = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    api().await.create(&params, &object).await
}

#[tokio::test]
async fn a_complete_connector_is_accepted_and_defaulted_by_the_server() {
    let stored = create(&good()).await.expect("the server accepts it");
    let spec = &stored.data["spec"];
    assert_eq!(spec["interval"], "1m");
    assert_eq!(spec["fullSyncInterval"], "1h");
    assert_eq!(spec["nestedGroups"], true);
    assert_eq!(
        spec["passwordBoss"]["apiUrl"],
        "https://api.passwordboss.com"
    );
    assert_eq!(spec["safety"]["maxDeprovisionsPerSync"], 25);
    assert_eq!(spec["safety"]["maxDeprovisionsPerWindow"], 50);
    assert_eq!(spec["safety"]["percentFloor"], 2);
    assert_eq!(spec["safety"]["window"], "24h");
    assert_eq!(spec["safety"]["removalGracePeriod"], "24h");
    create(&with(
        &["spec", "safety"],
        json!({"removalGracePeriod": "0s"}),
    ))
    .await
    .expect("0s removes at once");
    let ten = create(&with(&["spec", "interval"], json!("10s"))).await;
    ten.expect("10s is the minimum interval");
    for (path, value) in [
        (["spec", "interval"], "1h30m15s"),
        (["spec", "interval"], "604800s"),
        (["spec", "fullSyncInterval"], "1.5h"),
        (["spec", "interval"], "999999h999999h"),
    ] {
        create(&with(&path, json!(value)))
            .await
            .unwrap_or_else(|e| panic!("{value} is a duration the schema takes: {e}"));
    }
    for expiry in [
        "2028-11-25",
        "2028-11-25T10:00:00Z",
        "2028-11-25T10:00:00.5+02:00",
    ] {
        create(&with(
            &["spec", "azure", "clientSecretExpiresAt"],
            json!(expiry),
        ))
        .await
        .unwrap_or_else(|e| panic!("{expiry} is an RFC 3339 date: {e}"));
    }
}

/// The rules SCIM refuses do not refuse a SCIM connector with rules it can express.
#[tokio::test]
async fn a_scim_connector_with_rules_it_can_express_is_accepted_by_the_server() {
    let obj = scim_with(
        &["spec", "syncRules"],
        json!({"newUser": "Create", "userDisabled": "Disable", "userDeleted": "Delete",
               "userRemovedFromGroup": "Disable"}),
    );
    let stored = create(&obj).await.expect("the server accepts it");
    assert_eq!(
        stored.data["spec"]["scim"]["baseUrl"],
        "https://scim.example.com/v2"
    );
}

#[tokio::test]
async fn every_rule_and_pattern_is_enforced_by_the_server_with_its_message() {
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "two credentials",
            with(
                &["spec", "azure", "clientCertificateRef"],
                json!({"name": "cert", "key": "tls.pem"}),
            ),
            "spec.azure",
            "exactly one credential must be set",
        ),
        (
            "no credential",
            without(&["spec", "azure", "clientSecretRef"]),
            "spec.azure",
            "exactly one credential must be set",
        ),
        (
            "client secret expiry not an RFC 3339 date",
            with(
                &["spec", "azure", "clientSecretExpiresAt"],
                json!("11/25/2028"),
            ),
            "spec.azure.clientSecretExpiresAt",
            "should match",
        ),
        (
            "client secret expiry without a client secret",
            with(
                &["spec", "azure"],
                json!({"tenantId": "contoso.onmicrosoft.com", "clientId": "00000000-0000-0000-0000-000000000001",
                    "workloadIdentity": {}, "clientSecretExpiresAt": "2028-11-25"}),
            ),
            "spec.azure",
            "set it only with clientSecretRef",
        ),
        (
            "client id not a GUID",
            with(&["spec", "azure", "clientId"], json!("my-app")),
            "spec.azure.clientId",
            "should match",
        ),
        (
            "tenant neither GUID nor domain",
            with(&["spec", "azure", "tenantId"], json!("contoso")),
            "spec.azure.tenantId",
            "should match",
        ),
        (
            "scope domain with an @",
            with(
                &["spec", "scope"],
                json!({"emailDomains": ["@contoso.com"]}),
            ),
            "spec.scope.emailDomains[0]",
            "should match",
        ),
        (
            "scope domain with a wildcard",
            with(
                &["spec", "scope"],
                json!({"emailDomains": ["*.contoso.com"]}),
            ),
            "spec.scope.emailDomains[0]",
            "should match",
        ),
        (
            "interval under 10s",
            with(&["spec", "interval"], json!("1s")),
            "spec.interval",
            "must be at least 10s",
        ),
        (
            "interval not a duration",
            with(&["spec", "interval"], json!("one minute")),
            "spec.interval",
            "should match",
        ),
        (
            "interval overflowing a duration",
            with(&["spec", "interval"], json!("9999999999h")),
            "spec.interval",
            "must be a duration such as 90s, 5m or 1h30m whose numbers have at most 6 digits",
        ),
        (
            "a safety window of many hour parts",
            with(
                &["spec", "safety"],
                json!({"window": "999999h999999h999999h"}),
            ),
            "spec.safety.window",
            "under 2000000h in all",
        ),
        (
            "full sync interval under 1m",
            with(&["spec", "fullSyncInterval"], json!("30s")),
            "spec.fullSyncInterval",
            "must be at least 1m",
        ),
        (
            "sync group with id and name",
            with(
                &["spec", "syncGroup"],
                json!({"id": "11111111-1111-1111-1111-111111111111", "displayName": "X"}),
            ),
            "spec.syncGroup",
            "exactly one of id or displayName must be set",
        ),
        (
            "group with neither id nor name",
            with(&["spec", "groups"], json!([{}])),
            "spec.groups[0]",
            "exactly one of id or displayName must be set",
        ),
        (
            "group id not a GUID",
            with(&["spec", "syncGroup"], json!({"id": "not-a-guid"})),
            "spec.syncGroup.id",
            "should match",
        ),
        (
            "percent over 100",
            with(&["spec", "safety"], json!({"maxDeprovisionPercent": 101})),
            "spec.safety.maxDeprovisionPercent",
            "should be less than or equal to 100",
        ),
        (
            "a safety window under a minute",
            with(&["spec", "safety"], json!({"window": "30s"})),
            "spec.safety.window",
            "must be at least 1m",
        ),
        (
            "a grace period that is not a duration",
            with(&["spec", "safety"], json!({"removalGracePeriod": "a day"})),
            "spec.safety.removalGracePeriod",
            "should match",
        ),
        (
            "negative per-sync limit",
            with(&["spec", "safety"], json!({"maxDeprovisionsPerSync": -1})),
            "spec.safety.maxDeprovisionsPerSync",
            "should be greater than or equal to 0",
        ),
        (
            "plain http to a remote Password Boss",
            with(
                &["spec", "passwordBoss", "apiUrl"],
                json!("http://api.passwordboss.com"),
            ),
            "spec.passwordBoss.apiUrl",
            "should match",
        ),
        (
            "plain http to a remote Graph",
            with(
                &["spec", "azure", "graphEndpoint"],
                json!("http://graph.example.com"),
            ),
            "spec.azure.graphEndpoint",
            "should match",
        ),
        (
            "unknown rule value",
            with(&["spec", "syncRules"], json!({"userDeleted": "Destroy"})),
            "spec.syncRules.userDeleted",
            "Unsupported value: \"Destroy\"",
        ),
        (
            "missing sync group",
            without(&["spec", "syncGroup"]),
            "spec.syncGroup",
            "Required value",
        ),
        (
            "both targets",
            with(
                &["spec", "scim"],
                json!({"baseUrl": "https://scim.example.com/v2",
                       "tokenSecretRef": {"name": "scim", "key": "token"}}),
            ),
            "spec",
            "exactly one target must be set: passwordBoss or scim",
        ),
        (
            "no target",
            without(&["spec", "passwordBoss"]),
            "spec",
            "exactly one target must be set: passwordBoss or scim",
        ),
        (
            "SCIM with newUser: CreatePending",
            scim_with(&["spec", "syncRules"], json!({"newUser": "CreatePending"})),
            "spec",
            "spec.scim cannot express syncRules.newUser: CreatePending",
        ),
        (
            "SCIM with Remove for a disabled user",
            scim_with(&["spec", "syncRules"], json!({"userDisabled": "Remove"})),
            "spec",
            "spec.scim cannot express the Remove rule",
        ),
        (
            "SCIM with Remove for a deleted user",
            scim_with(&["spec", "syncRules"], json!({"userDeleted": "Remove"})),
            "spec",
            "spec.scim cannot express the Remove rule",
        ),
        (
            "SCIM with Remove for a user out of the group",
            scim_with(
                &["spec", "syncRules"],
                json!({"userRemovedFromGroup": "Remove"}),
            ),
            "spec",
            "spec.scim cannot express the Remove rule",
        ),
        (
            "Secret name not a DNS name",
            with(
                &["spec", "passwordBoss", "tokenSecretRef"],
                json!({"name": "../etc", "key": "token"}),
            ),
            "spec.passwordBoss.tokenSecretRef.name",
            "should match",
        ),
    ];
    let mut failures = Vec::new();
    for (case, obj, field, needle) in cases {
        match create(&obj).await {
            Ok(_) => failures.push(format!("{case}: accepted")),
            Err(kube::Error::Api(status)) => {
                let message = &status.message;
                // CEL's own evaluation errors are not messages for a person.
                let unclear =
                    message.contains("type conversion") || message.contains("evaluating rule");
                if status.code != 422
                    || !message.contains(field)
                    || !message.contains(needle)
                    || unclear
                {
                    failures.push(format!(
                        "{case}: expected 422 at {field} with {needle:?}, got {}: {message}",
                        status.code
                    ));
                }
            }
            Err(other) => failures.push(format!("{case}: {other}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const CUSTOMER: &str = "7c0c36f5-0000-4000-8000-000000000001";

/// The good connector using the shared app `msp-app` for `CUSTOMER`, with `value` at `path`.
fn shared_with(path: &[&str], value: Value) -> Value {
    let shared = with(
        &["spec", "azure"],
        json!({"tenantId": CUSTOMER, "applicationRef": {"name": "msp-app"}}),
    );
    connector_json::set_at(shared, path, value)
}

/// A dry-run create of an `AzureAdApplication` (cluster-scoped).
async fn create_app(obj: &Value) -> Result<DynamicObject, kube::Error> {
    let server = tokio::task::spawn_blocking(TestApiServer::shared)
        .await
        .expect("the API server starts");
    let resource = ApiResource {
        group: "passwordboss.com".into(),
        version: "v1alpha1".into(),
        api_version: "passwordboss.com/v1alpha1".into(),
        kind: "AzureAdApplication".into(),
        plural: "azureadapplications".into(),
    };
    let api: Api<DynamicObject> = Api::all_with(server.client().await, &resource);
    let object: DynamicObject = serde_json::from_value(obj.clone()).expect("an object");
    let params = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    api.create(&params, &object).await
}

fn app() -> Value {
    json!({
        "apiVersion": "passwordboss.com/v1alpha1",
        "kind": "AzureAdApplication",
        "metadata": {"name": "msp-app"},
        "spec": {
            "clientId": "11111111-2222-3333-4444-555555555555",
            "clientSecretRef": {"namespace": "pbconnector-system", "name": "msp-app", "key": "client-secret"},
            "tenants": [{"tenantId": CUSTOMER, "namespaces": ["msp-contoso"]}],
        },
    })
}

fn app_with(path: &[&str], value: Value) -> Value {
    connector_json::set_at(app(), path, value)
}

/// 422 at `field` with `needle` for each case, else a list of what went wrong.
async fn refused_cases<F, Fut>(create: F, cases: Vec<(&str, Value, &str, &str)>) -> Vec<String>
where
    F: Fn(Value) -> Fut,
    Fut: std::future::Future<Output = Result<DynamicObject, kube::Error>>,
{
    let mut failures = Vec::new();
    for (case, obj, field, needle) in cases {
        match create(obj).await {
            Ok(_) => failures.push(format!("{case}: accepted")),
            Err(kube::Error::Api(status))
                if status.code == 422
                    && status.message.contains(field)
                    && status.message.contains(needle) => {}
            Err(other) => failures.push(format!(
                "{case}: expected 422 at {field} with {needle:?}, got {other}"
            )),
        }
    }
    failures
}

#[tokio::test]
async fn a_connector_of_a_shared_app_names_no_client_credential_or_endpoint_of_its_own() {
    let stored = create(&shared_with(&["spec", "interval"], json!("1m")))
        .await
        .expect("a connector naming only its tenant and the app is accepted");
    let azure = &stored.data["spec"]["azure"];
    assert!(
        azure.get("cloud").is_none(),
        "no cloud defaulted beside applicationRef: {azure}"
    );
    let cases = vec![
        (
            "a client id beside the app",
            shared_with(
                &["spec", "azure", "clientId"],
                json!("00000000-0000-0000-0000-000000000000"),
            ),
            "spec.azure",
            "with applicationRef the client id and the credential are the AzureAdApplication's",
        ),
        (
            "a secret beside the app",
            shared_with(
                &["spec", "azure", "clientSecretRef"],
                json!({"name": "s", "key": "k"}),
            ),
            "spec.azure",
            "remove clientId, clientSecretRef",
        ),
        (
            "a workload identity beside the app",
            shared_with(
                &["spec", "azure", "workloadIdentity"],
                json!({"serviceAccountName": "sa"}),
            ),
            "spec.azure",
            "with applicationRef the client id and the credential",
        ),
        (
            "an authority host beside the app",
            shared_with(
                &["spec", "azure", "authorityHost"],
                json!("https://login.example.com"),
            ),
            "spec.azure",
            "with applicationRef the endpoints are the AzureAdApplication's",
        ),
        (
            "a Graph endpoint beside the app",
            shared_with(
                &["spec", "azure", "graphEndpoint"],
                json!("https://graph.example.com"),
            ),
            "spec.azure",
            "remove authorityHost, graphEndpoint and cloud",
        ),
        (
            "a cloud beside the app",
            shared_with(&["spec", "azure", "cloud"], json!("Public")),
            "spec.azure",
            "remove authorityHost, graphEndpoint and cloud",
        ),
        (
            "a domain as the tenant",
            shared_with(
                &["spec", "azure", "tenantId"],
                json!("contoso.onmicrosoft.com"),
            ),
            "spec.azure",
            "tenantId must be the customer tenant's GUID",
        ),
        (
            "neither a client id nor an app",
            without(&["spec", "azure", "clientId"]),
            "spec.azure",
            "clientId is required, unless applicationRef",
        ),
    ];
    let failures = refused_cases(|obj| async move { create(&obj).await }, cases).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_shared_app_has_exactly_one_credential_and_binds_guids_to_namespaces() {
    create_app(&app())
        .await
        .expect("a complete app is accepted");
    create_app(&connector_json::remove_at(
        app_with(&["spec", "operatorIdentity"], json!(true)),
        &["spec", "clientSecretRef"],
    ))
    .await
    .expect("the operator's identity is a credential");
    let cases = vec![
        (
            "no credential",
            connector_json::remove_at(app(), &["spec", "clientSecretRef"]),
            "spec",
            "exactly one credential must be set",
        ),
        (
            "two credentials",
            app_with(&["spec", "operatorIdentity"], json!(true)),
            "spec",
            "exactly one credential must be set",
        ),
        (
            "a domain as a bound tenant",
            app_with(
                &["spec", "tenants"],
                json!([{"tenantId": "contoso.com", "namespaces": ["a"]}]),
            ),
            "spec.tenants[0].tenantId",
            "should match",
        ),
        (
            "a tenant bound to no namespace",
            app_with(
                &["spec", "tenants"],
                json!([{"tenantId": CUSTOMER, "namespaces": []}]),
            ),
            "spec.tenants[0].namespaces",
            "should have at least 1 items",
        ),
        (
            "a namespace that is no DNS label",
            app_with(
                &["spec", "tenants"],
                json!([{"tenantId": CUSTOMER, "namespaces": ["Msp_Contoso"]}]),
            ),
            "spec.tenants[0].namespaces[0]",
            "should match",
        ),
        (
            "one tenant twice",
            app_with(
                &["spec", "tenants"],
                json!([{"tenantId": CUSTOMER, "namespaces": ["a"]}, {"tenantId": CUSTOMER, "namespaces": ["b"]}]),
            ),
            "spec.tenants[1]",
            "Duplicate value",
        ),
        (
            "a client id that is no GUID",
            app_with(&["spec", "clientId"], json!("msp-app")),
            "spec.clientId",
            "should match",
        ),
    ];
    let failures = refused_cases(|obj| async move { create_app(&obj).await }, cases).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
