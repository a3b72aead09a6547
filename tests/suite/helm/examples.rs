//! The examples users copy: the connector is accepted by the CRD's schema and its Secrets carry
//! the keys it references; the Kubernetes manifests pass the 1.35 schemas; the GitOps examples
//! point at this chart with values its schema accepts; and the Argo CD health check, run by a real
//! Lua 5.1 interpreter, maps connector states to Healthy, Progressing, Degraded and Suspended.

use crate::support::held;

use std::path::Path;

use crate::support::helm;
use crate::support::helm::{Helm, kind, lua_python, name, of_kind, one, root, run, text, tool};
use k8s_openapi::jiff::Timestamp;
use pbconnector::plan::Plan;
use pbconnector::resources::AzureAdConnectorStatus;
use pbconnector::resources::validate::validate_connector;
use pbconnector::sync::report::{Reached, SyncFailure, SyncReport};
use pbconnector::sync::status::failure::FailureReason;
use pbconnector::sync::status::{status_from_report, suspended_status, waiting_status};
use serde_json::{Value, json};

fn load(relative: &str) -> Vec<Value> {
    let path = root().join("examples").join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    helm::parse_documents(&text)
}

const EXAMPLE_FILES: [&str; 6] = [
    "connector.yaml",
    "scim-connector.yaml",
    "gitops/argocd/applications.yaml",
    "gitops/argocd/health-check.yaml",
    "gitops/flux/pbconnector.yaml",
    "gitops/flux/connectors.yaml",
];

#[test]
fn example_scim_connector_is_accepted_and_its_secrets_hold_the_referenced_keys() {
    let docs = load("scim-connector.yaml");
    let raw = one(&docs, "AzureAdConnector");
    let connector = validate_connector(raw).unwrap_or_else(|errors| {
        panic!("examples/scim-connector.yaml is refused by the CRD schema: {errors:?}")
    });
    assert!(connector.spec.scim.is_some() && connector.spec.password_boss.is_none());
    let namespace = raw["metadata"]["namespace"].as_str().expect("namespaced");
    let refs = connector.spec.secret_refs();
    assert_eq!(refs.len(), 2, "the client secret and the SCIM token");
    for r in refs {
        let secret = of_kind(&docs, "Secret")
            .into_iter()
            .find(|s| name(s) == r.name && s["metadata"]["namespace"] == namespace)
            .unwrap_or_else(|| panic!("the example has no Secret {} in {namespace}", r.name));
        assert!(
            secret["stringData"][&r.key].is_string(),
            "Secret {} holds the key {}",
            r.name,
            r.key
        );
    }
}

#[test]
fn example_connector_is_accepted_and_its_secrets_hold_the_referenced_keys() {
    let docs = load("connector.yaml");
    let raw = one(&docs, "AzureAdConnector");
    let connector = validate_connector(raw).unwrap_or_else(|errors| {
        panic!("examples/connector.yaml is refused by the CRD schema: {errors:?}")
    });
    let namespace = raw["metadata"]["namespace"].as_str().expect("namespaced");
    assert_eq!(
        name(one(&docs, "Namespace")),
        namespace,
        "the example creates the connector's namespace"
    );
    let refs = connector.spec.secret_refs();
    assert_eq!(
        refs.len(),
        2,
        "the client secret and the Password Boss token"
    );
    for r in refs {
        let secret = of_kind(&docs, "Secret")
            .into_iter()
            .find(|s| name(s) == r.name)
            .unwrap_or_else(|| panic!("the example has no Secret {}", r.name));
        assert_eq!(secret["metadata"]["namespace"], namespace, "same namespace");
        assert!(
            secret["stringData"][&r.key].is_string(),
            "Secret {} lacks key {}",
            r.name,
            r.key
        );
    }
}

#[test]
fn example_manifests_pass_the_kubernetes_1_35_schemas() {
    let validator = tool("bin/kubernetes-validate");
    let docs: Vec<Value> = EXAMPLE_FILES.iter().flat_map(|f| load(f)).collect();
    // Custom resources: the connector is checked against its own CRD in the test above, the
    // GitOps kinds belong to Argo CD and Flux, whose schemas Kubernetes does not ship.
    helm::validate_with_kubernetes(
        &validator,
        &docs,
        &[
            "AzureAdConnector",
            "Application",
            "GitRepository",
            "HelmRelease",
            "Kustomization",
        ],
    );
}

/// Renders the chart with the values a GitOps example passes, so a typo there fails here.
fn assert_chart_accepts(helm: &Helm, chart_path: &str, values: &Value, example: &str) {
    assert!(
        root()
            .join(chart_path.trim_start_matches("./"))
            .join("Chart.yaml")
            .is_file(),
        "{example} points at {chart_path}, which is not this chart"
    );
    assert!(
        values["image"]["repository"].is_string(),
        "{example} must name the image (the chart has no default): {values:?}"
    );
    let values = serde_yaml::to_string(values).expect("values as YAML");
    let docs = helm::parse_documents(
        &helm
            .try_template(&values, &[])
            .unwrap_or_else(|e| panic!("the chart refuses the values of {example}: {e}")),
    );
    assert_eq!(one(&docs, "Deployment")["spec"]["replicas"], 2, "{example}");
}

#[test]
fn gitops_examples_install_this_chart_with_values_it_accepts() {
    let helm = Helm::find();

    let argo = load("gitops/argocd/applications.yaml");
    let operator = argo
        .iter()
        .find(|a| name(a) == "pbconnector")
        .expect("an Application for the operator");
    let source = &operator["spec"]["source"];
    assert_chart_accepts(
        &helm,
        source["path"].as_str().expect("path"),
        &source["helm"]["valuesObject"],
        "the Argo CD Application",
    );
    assert!(
        argo.iter().any(|a| a["spec"]["syncPolicy"]["syncOptions"]
            .as_array()
            .is_some_and(|o| o.contains(&json!("SkipDryRunOnMissingResource=true")))),
        "the connectors' Application must tolerate the CRD arriving in the same sync"
    );

    let flux = load("gitops/flux/pbconnector.yaml");
    let release = one(&flux, "HelmRelease");
    let chart = &release["spec"]["chart"]["spec"];
    assert_eq!(chart["sourceRef"]["kind"], "GitRepository");
    assert_eq!(
        name(one(&flux, "GitRepository")),
        chart["sourceRef"]["name"]
    );
    assert_chart_accepts(
        &helm,
        chart["chart"].as_str().expect("chart path"),
        &release["spec"]["values"],
        "the Flux HelmRelease",
    );
    assert_eq!(release["spec"]["upgrade"]["crds"], "CreateReplace");

    let kustomizations = load("gitops/flux/connectors.yaml");
    let connectors = kustomizations
        .iter()
        .find(|k| k["spec"]["dependsOn"].is_array())
        .expect("a connectors Kustomization that waits for the operator");
    let check = &connectors["spec"]["healthChecks"][0];
    assert_eq!(
        (check["apiVersion"].as_str(), check["kind"].as_str()),
        (Some("passwordboss.com/v1alpha1"), Some("AzureAdConnector"))
    );
}

const HEALTH_KEY: &str = "resource.customizations.health.passwordboss.com_AzureAdConnector";

/// Runs the health check from the example argocd-cm on each object, as Argo CD would.
fn argo_health(python: &Path, objects: &[Value]) -> Vec<(String, String)> {
    let cm = load("gitops/argocd/health-check.yaml");
    let cm = one(&cm, "ConfigMap");
    assert_eq!(name(cm), "argocd-cm");
    let script = cm["data"][HEALTH_KEY]
        .as_str()
        .expect("the ConfigMap holds the health check under the key Argo CD looks up");
    let runner = root().join("tests/argocd_health.py");
    let request = json!({"script": script, "objects": objects}).to_string();
    let out = run(python, &[runner.to_str().expect("utf-8 path")], &request);
    assert!(
        out.status.success(),
        "the Lua failed: {}",
        text(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON results");
    results
        .iter()
        .map(|r| {
            let field = |k: &str| r[k].as_str().expect("status and message").to_owned();
            (field("status"), field("message"))
        })
        .collect()
}

/// A connector at `generation` with a status the operator wrote (its own status mapping).
fn connector(generation: i64, suspend: bool, status: Option<AzureAdConnectorStatus>) -> Value {
    let mut docs = load("connector.yaml");
    let index = docs
        .iter()
        .position(|d| kind(d) == "AzureAdConnector")
        .expect("connector");
    let mut obj = docs.swap_remove(index);
    obj["metadata"]["generation"] = json!(generation);
    obj["spec"]["suspend"] = json!(suspend);
    if let Some(status) = status {
        obj["status"] = serde_json::to_value(status).expect("status serializes");
    }
    obj
}

fn at() -> Timestamp {
    "2026-11-25T10:00:00Z".parse().expect("timestamp")
}

/// A sync that reached both sides; `plan` is what the planner decided.
fn report(plan: Option<Plan>, failure: Option<SyncFailure>) -> SyncReport {
    let reached = Reached {
        azure: true,
        password_boss: failure
            .as_ref()
            .is_none_or(|f| f.reason != FailureReason::PasswordBossUnauthorized),
    };
    let placeholder = SyncFailure::new(FailureReason::GraphUnavailable, String::new());
    let mut r = SyncReport::failed(at(), placeholder, reached);
    r.failure = failure;
    r.snapshot_complete = true;
    if let Some(plan) = plan {
        r.users = plan.users.into();
        r.blocked_deprovisions = plan.blocked_deprovisions;
        r.plan = Some(plan);
    }
    r
}

/// The status the operator writes after `report`, for `generation`.
fn written(report: &SyncReport, generation: i64) -> Option<AzureAdConnectorStatus> {
    Some(status_from_report(None, report, Some(generation), None))
}

#[test]
fn argocd_health_check_maps_connector_states() {
    let python = lua_python();
    let synced = report(Some(held::leavers_plan(0, 812)), None);
    let held = report(Some(held::leavers_plan(242, 570)), None);
    let unauthorized = report(
        None,
        Some(SyncFailure::new(
            FailureReason::AzureUnauthorized,
            "Entra refused the client secret (AADSTS7000215)",
        )),
    );
    let not_found = report(
        None,
        Some(SyncFailure::new(
            FailureReason::GroupNotFound,
            "sync group Password Boss Users not found",
        )),
    );
    let mut ready_behind = written(&synced, 5).expect("status");
    ready_behind.observed_generation = Some(6);
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "connected and ready for the current generation",
            connector(3, false, written(&synced, 3)),
            "Healthy",
            "Synced 812 users",
        ),
        (
            "unauthorized",
            connector(3, false, written(&unauthorized, 3)),
            "Degraded",
            "AADSTS7000215",
        ),
        (
            "error",
            connector(2, false, written(&not_found, 2)),
            "Degraded",
            "not found",
        ),
        (
            "connected but deprovisions held back by the safety limits",
            connector(4, false, written(&held, 4)),
            "Degraded",
            "DeprovisionBlocked",
        ),
        (
            "no status yet",
            connector(1, false, None),
            "Progressing",
            "Waiting",
        ),
        (
            "waiting for the first connection",
            connector(1, false, Some(waiting_status(Some(1), at()))),
            "Progressing",
            "Waiting",
        ),
        (
            "status from an older generation, even if it said Unauthorized",
            connector(5, false, written(&unauthorized, 4)),
            "Progressing",
            "generation 5",
        ),
        (
            "connected, Ready condition not yet updated for this generation",
            connector(6, false, Some(ready_behind)),
            "Progressing",
            "Ready",
        ),
        (
            "suspended wins over everything",
            connector(3, true, written(&unauthorized, 3)),
            "Suspended",
            "suspend",
        ),
        (
            "suspended, as the operator writes it",
            connector(
                3,
                true,
                Some(suspended_status(
                    written(&synced, 2).as_ref(),
                    Some(3),
                    at(),
                )),
            ),
            "Suspended",
            "suspend",
        ),
        (
            "suspended before any status",
            connector(1, true, None),
            "Suspended",
            "suspend",
        ),
    ];
    let objects: Vec<Value> = cases.iter().map(|c| c.1.clone()).collect();
    let results = argo_health(&python, &objects);
    assert_eq!(results.len(), cases.len());
    for ((case, _, want_status, want_message), (got_status, got_message)) in
        cases.iter().zip(&results)
    {
        assert_eq!(got_status, want_status, "{case}: {got_message}");
        assert!(
            got_message.contains(want_message),
            "{case}: message {got_message:?} should mention {want_message:?}"
        );
    }
}

/// The MSP example: the app and the connector are accepted by their schemas, the app binds the
/// connector's tenant to its namespace, its credential Secret is named in the chart's default
/// release namespace, and the connector's only Secret is the Password Boss token.
#[test]
fn example_shared_app_binds_its_connectors_tenant_to_its_namespace() {
    use pbconnector::resources::{AzureAdApplication, binding};
    let docs = load("shared-app.yaml");
    let raw = one(&docs, "AzureAdConnector");
    let connector = validate_connector(raw).unwrap_or_else(|errors| {
        panic!("examples/shared-app.yaml's connector is refused by the CRD schema: {errors:?}")
    });
    let app: AzureAdApplication =
        serde_json::from_value(one(&docs, "AzureAdApplication").clone()).expect("an app");
    let namespace = raw["metadata"]["namespace"].as_str().expect("namespaced");
    assert_eq!(
        connector
            .spec
            .azure
            .application_ref
            .as_ref()
            .map(|r| r.name.as_str()),
        Some(app.metadata.name.as_deref().expect("named"))
    );
    binding(&app, namespace, &connector.spec.azure.tenant_id).expect("the app binds it");
    assert_eq!(
        app.spec
            .client_certificate_ref
            .as_ref()
            .map(|r| r.namespace.as_str()),
        Some("pbconnector-system")
    );
    let refs = connector.spec.secret_refs();
    assert_eq!(refs.len(), 1, "only the Password Boss token: {refs:?}");
    let secret = one(&docs, "Secret");
    assert_eq!(secret["metadata"]["namespace"], namespace);
    assert!(secret["stringData"][&refs[0].key].is_string());
}
