//! The CRD in `crds/` is exactly what `pbconnector crd` prints, and its schema (OpenAPI + CEL,
//! evaluated the way the API server does) accepts good connectors and refuses bad ones.

use crate::support::connector_json;

use pbconnector::resources::validate::{FieldError, validate_connector};
use pbconnector::resources::{Connection, crd_yaml};
use serde_json::{Value, json};

fn good() -> Value {
    connector_json::connector("msp-contoso")
}

fn with(path: &[&str], value: Value) -> Value {
    connector_json::set_at(good(), path, value)
}

fn rejected(obj: Value) -> Vec<FieldError> {
    validate_connector(&obj).expect_err("the schema should refuse this connector")
}

fn assert_rejected_at(obj: Value, field: &str, needle: &str) {
    let errors = rejected(obj);
    assert!(
        errors
            .iter()
            .any(|e| e.field == field && e.message.contains(needle)),
        "expected an error at {field} containing {needle:?}, got {errors:?}"
    );
}

#[test]
fn crds_directory_holds_exactly_the_generated_crd() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crds/passwordboss.com_azureadconnectors.yaml"
    );
    let on_disk = std::fs::read_to_string(path).expect("crds/ holds the CRD");
    assert!(
        on_disk == crd_yaml(),
        "crds/ is stale: run `cargo run -- crd > crds/passwordboss.com_azureadconnectors.yaml`"
    );
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crds/passwordboss.com_azureadapplications.yaml"
    );
    let on_disk = std::fs::read_to_string(path).expect("crds/ holds the AzureAdApplication CRD");
    assert!(
        on_disk == pbconnector::resources::application_crd_yaml(),
        "crds/ is stale: run `cargo run -- crd --kind AzureAdApplication > \
         crds/passwordboss.com_azureadapplications.yaml`"
    );
}

#[test]
fn a_complete_connector_is_accepted_and_defaulted() {
    let c = validate_connector(&good()).expect("valid");
    let spec = &c.spec;
    assert_eq!(spec.interval, "1m");
    assert_eq!(spec.full_sync_interval, "1h");
    assert!(spec.nested_groups);
    assert_eq!(
        spec.password_boss.as_ref().map(|pb| pb.api_url.as_str()),
        Some("https://api.passwordboss.com")
    );
    assert_eq!(
        spec.rules().sync_rules.existing_user,
        pbconnector::plan::ExistingUserRule::Adopt,
        "Password Boss adopts portal users unless told otherwise"
    );
    assert_eq!(spec.safety.max_deprovisions_per_sync, 25);
    assert_eq!(spec.safety.max_deprovision_percent, 20);
    assert_eq!(spec.interval(), std::time::Duration::from_secs(60));
    assert!(
        c.status
            .is_none_or(|s| s.connection == Connection::WaitingForConnection)
    );
}

/// The connector `good()` turned to a SCIM service.
fn scim() -> Value {
    let mut obj = good();
    let spec = obj["spec"].as_object_mut().unwrap();
    spec.remove("passwordBoss");
    spec.insert(
        "scim".into(),
        json!({"baseUrl": "https://scim.example.com/v2", "tokenSecretRef": {"name": "scim", "key": "token"}}),
    );
    obj
}

#[test]
fn a_scim_connector_is_accepted_and_skips_existing_users_by_default() {
    let c = validate_connector(&scim()).expect("valid");
    assert!(c.spec.password_boss.is_none());
    assert_eq!(
        c.spec.scim.as_ref().map(|s| s.base_url.as_str()),
        Some("https://scim.example.com/v2")
    );
    assert_eq!(
        c.spec.rules().sync_rules.existing_user,
        pbconnector::plan::ExistingUserRule::Skip,
        "a SCIM service may hold admins and other provisioners' users"
    );
    let mut adopt = scim();
    adopt["spec"]["syncRules"] = json!({"existingUser": "Adopt", "userDeleted": "Delete"});
    let c = validate_connector(&adopt).expect("Adopt and Delete map to SCIM");
    assert_eq!(
        c.spec.rules().sync_rules.existing_user,
        pbconnector::plan::ExistingUserRule::Adopt
    );
}

#[test]
fn exactly_one_target_is_set() {
    let mut both = scim();
    both["spec"]["passwordBoss"] = good()["spec"]["passwordBoss"].clone();
    assert_rejected_at(both, "spec", "exactly one target");
    let mut neither = scim();
    neither["spec"].as_object_mut().unwrap().remove("scim");
    assert_rejected_at(neither, "spec", "exactly one target");
    let mut plain_http = scim();
    plain_http["spec"]["scim"]["baseUrl"] = json!("http://scim.example.com/v2");
    assert!(!rejected(plain_http).is_empty());
}

#[test]
fn rules_scim_cannot_express_are_refused_with_a_message() {
    for rule in ["userDisabled", "userDeleted", "userRemovedFromGroup"] {
        let mut obj = scim();
        obj["spec"]["syncRules"] = json!({ rule: "Remove" });
        assert_rejected_at(obj, "spec", "cannot express the Remove rule");
    }
    let mut pending = scim();
    pending["spec"]["syncRules"] = json!({"newUser": "CreatePending"});
    assert_rejected_at(
        pending,
        "spec",
        "cannot express syncRules.newUser: CreatePending",
    );
    // The same rules stay Password Boss's to use.
    let mut pb = good();
    pb["spec"]["syncRules"] = json!({"newUser": "CreatePending", "userDeleted": "Remove"});
    validate_connector(&pb).expect("Password Boss has pending accounts and Remove");
}

#[test]
fn two_credentials_are_refused() {
    let obj = with(
        &["spec", "azure", "workloadIdentity"],
        json!({"serviceAccountName": "pbconnector-contoso"}),
    );
    assert_rejected_at(obj, "spec.azure", "exactly one credential");
}

/// Issue 15: a connector could name any file as its federated token (the operator's own
/// service-account token, for one). The field is gone; an identity is a ServiceAccount name.
#[test]
fn workload_identity_names_a_service_account_of_the_namespace_never_a_file() {
    let wi = |value: serde_json::Value| {
        let mut obj = good();
        let azure = obj["spec"]["azure"].as_object_mut().unwrap();
        azure.remove("clientSecretRef");
        azure.insert("workloadIdentity".into(), value);
        obj
    };
    let c = validate_connector(&wi(json!({"serviceAccountName": "pbconnector-contoso"})))
        .expect("a ServiceAccount name");
    let identity = c.spec.azure.workload_identity.unwrap();
    assert_eq!(
        identity.service_account_name.as_deref(),
        Some("pbconnector-contoso")
    );
    validate_connector(&wi(json!({"operatorIdentity": true}))).expect("the operator's own");

    let file = wi(json!({"tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"}));
    assert!(validate_connector(&file).is_err(), "tokenFile is refused");
    for other_namespace in [
        "kube-system/default",
        "system:serviceaccount:kube-system:default",
        "../default",
        "Default",
    ] {
        let obj = wi(json!({"serviceAccountName": other_namespace}));
        assert_rejected_at(
            obj,
            "spec.azure.workloadIdentity.serviceAccountName",
            "should match",
        );
    }
    for neither in [
        json!({}),
        json!({"operatorIdentity": false}),
        json!({"serviceAccountName": "a", "operatorIdentity": true}),
    ] {
        assert_rejected_at(
            wi(neither),
            "spec.azure.workloadIdentity",
            "set exactly one: serviceAccountName",
        );
    }
}

#[test]
fn no_credential_is_refused() {
    let mut obj = good();
    obj["spec"]["azure"]
        .as_object_mut()
        .unwrap()
        .remove("clientSecretRef");
    assert_rejected_at(obj, "spec.azure", "exactly one credential");
}

#[test]
fn a_client_id_that_is_not_a_guid_is_refused() {
    let obj = with(&["spec", "azure", "clientId"], json!("my-app"));
    assert_rejected_at(obj, "spec.azure.clientId", "should match");
}

#[test]
fn a_tenant_that_is_neither_guid_nor_domain_is_refused() {
    let obj = with(&["spec", "azure", "tenantId"], json!("contoso"));
    assert_rejected_at(obj, "spec.azure.tenantId", "should match");
}

#[test]
fn an_interval_under_ten_seconds_is_refused() {
    let obj = with(&["spec", "interval"], json!("1s"));
    assert_rejected_at(obj, "spec.interval", "at least 10s");
    let ok = with(&["spec", "interval"], json!("10s"));
    validate_connector(&ok).expect("10s is the minimum");
    let garbage = with(&["spec", "interval"], json!("one minute"));
    assert_rejected_at(garbage, "spec.interval", "should match");
}

/// A duration too large for CEL's `duration()` is refused with a message for a person, not
/// CEL's type-conversion error; long but convertible durations still pass (issue 29).
#[test]
fn an_overflowing_duration_is_refused_with_a_clear_message() {
    for value in ["9999999999h", "999999h999999h999999h"] {
        let errors = rejected(with(&["spec", "interval"], json!(value)));
        assert!(
            errors.iter().any(|e| e.field == "spec.interval"
                && e.message.contains("whose numbers have at most 6 digits")),
            "{value}: {errors:?}"
        );
        assert!(
            !errors.iter().any(|e| e.message.contains("conversion")),
            "{value}: {errors:?}"
        );
    }
    for value in ["1h30m15s", "604800s", "999999h999999h", "1.5h"] {
        validate_connector(&with(&["spec", "interval"], json!(value)))
            .unwrap_or_else(|e| panic!("{value}: {e:?}"));
    }
}

#[test]
fn a_group_selector_needs_exactly_one_of_id_and_display_name() {
    let both = with(
        &["spec", "syncGroup"],
        json!({"id": "11111111-1111-1111-1111-111111111111", "displayName": "X"}),
    );
    assert_rejected_at(both, "spec.syncGroup", "exactly one of id or displayName");
    let neither = with(&["spec", "groups"], json!([{}]));
    assert_rejected_at(
        neither,
        "spec.groups[0]",
        "exactly one of id or displayName",
    );
    let bad_id = with(&["spec", "syncGroup"], json!({"id": "not-a-guid"}));
    assert_rejected_at(bad_id, "spec.syncGroup.id", "should match");
}

#[test]
fn thresholds_out_of_range_are_refused() {
    let pct = with(&["spec", "safety"], json!({"maxDeprovisionPercent": 101}));
    assert_rejected_at(pct, "spec.safety.maxDeprovisionPercent", "Invalid value");
    let neg = with(&["spec", "safety"], json!({"maxDeprovisionsPerSync": -1}));
    assert_rejected_at(neg, "spec.safety.maxDeprovisionsPerSync", "Invalid value");
}

#[test]
fn plain_http_is_accepted_for_loopback_only() {
    let lo = with(
        &["spec", "passwordBoss", "apiUrl"],
        json!("http://127.0.0.1:8080"),
    );
    validate_connector(&lo).expect("loopback http is allowed");
    let remote = with(
        &["spec", "passwordBoss", "apiUrl"],
        json!("http://api.passwordboss.com"),
    );
    assert_rejected_at(remote, "spec.passwordBoss.apiUrl", "should match");
    let graph = with(
        &["spec", "azure", "graphEndpoint"],
        json!("http://graph.example.com"),
    );
    assert_rejected_at(graph, "spec.azure.graphEndpoint", "should match");
}

#[test]
fn unknown_enum_values_and_misspelled_fields_are_refused() {
    let rule = with(&["spec", "syncRules"], json!({"userDeleted": "Destroy"}));
    assert_rejected_at(rule, "spec.syncRules.userDeleted", "Unsupported value");
    let typo = with(&["spec", "syncGrup"], json!({"displayName": "X"}));
    let errors = rejected(typo);
    assert!(
        errors.iter().any(|e| e.message.contains("syncGrup")),
        "{errors:?}"
    );
}

#[test]
fn missing_required_fields_are_named() {
    let mut obj = good();
    obj["spec"].as_object_mut().unwrap().remove("syncGroup");
    assert_rejected_at(obj, "spec.syncGroup", "Required value");
}
