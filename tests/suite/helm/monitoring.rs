//! The chart's fleet monitoring, rendered with the real helm 4: the PrometheusRule's alerts run
//! through the real `promtool test rules` (Debian's prometheus package, unpacked into .tools/ by
//! scripts/install-test-tools.sh; missing, the test fails), and the Grafana dashboard ConfigMap
//! is valid dashboard JSON, labelled for the sidecar, reading only metrics the operator exports.
//! Both are off by default.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use crate::support::helm::{Helm, RELEASE_NAMESPACE, of_kind, one, root, text, tool};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use pbconnector::resources::{AzureAdConnectorStatus, Connection};
use pbconnector::sync::report::{Reached, SyncFailure, SyncReport};
use pbconnector::sync::status::failure::FailureReason;
use pbconnector::telemetry::metrics::Metrics;
use serde_json::Value;

const ALERTS: &str = "prometheusRule:\n  enabled: true\n";
const DASHBOARD: &str = "grafanaDashboard:\n  enabled: true\n";

/// Every series name the operator exports, from its own registry with a connector observed.
fn exported_metric_names() -> BTreeSet<String> {
    let metrics = Metrics::new();
    let status = AzureAdConnectorStatus {
        connection: Connection::Connected,
        last_successful_sync_time: Some(Time(Timestamp::now())),
        ..Default::default()
    };
    metrics
        .fleet
        .observe("msp", "contoso", &status, Duration::from_secs(60));
    metrics
        .fleet
        .set_credential_expiry("msp", "contoso", Some(Timestamp::now()));
    metrics.fleet.set_quarantined(
        "msp",
        "contoso",
        pbconnector::sync::report::TargetKind::PasswordBoss,
        true,
    );
    // Families print only the series they have: one sync of every kind makes them all appear.
    let mut report = SyncReport::failed(
        Timestamp::now(),
        SyncFailure::new(FailureReason::GraphUnavailable, "x"),
        Reached::default(),
    );
    report.failure = None;
    report.applied.created = 1;
    report.graph_statuses = BTreeMap::from([(200, 1)]);
    report.password_boss_statuses = BTreeMap::from([(200, 1)]);
    metrics.observe_sync(&report);
    // And one of a SCIM connector (its requests have a family of their own).
    report.target = pbconnector::sync::report::TargetKind::Scim;
    metrics.observe_sync(&report);
    metrics.set_connectors(&[(Connection::Connected, 1)]);
    let mut names = BTreeSet::new();
    for line in metrics.encode().lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            _ => &[""],
        };
        names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
    }
    assert!(names.contains("pbconnector_connector_ready"), "{names:?}");
    names
}

/// The `pbconnector_*` metric names a PromQL expression reads.
fn metrics_in(expr: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("pbconnector_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        found.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    found
}

#[test]
fn monitoring_is_off_by_default() {
    let helm = Helm::find();
    let docs = helm.template("");
    assert!(of_kind(&docs, "PrometheusRule").is_empty());
    assert!(of_kind(&docs, "ConfigMap").is_empty());
}

#[test]
fn the_alerts_fire_as_promtool_unit_tests_expect() {
    let helm = Helm::find();
    let promtool = tool("bin/promtool");
    let docs = helm.template(&format!(
        "{ALERTS}  labels:\n    release: kube-prometheus\n"
    ));
    let rule = one(&docs, "PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["metadata"]["namespace"], RELEASE_NAMESPACE);
    assert_eq!(
        rule["metadata"]["labels"]["release"], "kube-prometheus",
        "the label Prometheus selects rules by"
    );
    let alerts: Vec<&str> = rule["spec"]["groups"][0]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r["alert"].as_str().expect("alert name"))
        .collect();
    assert_eq!(
        alerts,
        [
            "PBConnectorUnauthorized",
            "PBConnectorQuarantined",
            "PBConnectorNoRecentSuccess",
            "PBConnectorSyncFailing",
            "PBConnectorDeprovisionsHeld",
            "PBConnectorCredentialExpiring",
            "PBConnectorMemoryBudgetExhausted"
        ]
    );

    // promtool reads the PrometheusRule's spec as a rule file (JSON is YAML).
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("rules.yaml"), rule["spec"].to_string()).expect("rules");
    std::fs::copy(
        root().join("tests/fixtures/alerts.test.yaml"),
        dir.path().join("alerts.test.yaml"),
    )
    .expect("the promtool test");
    for args in [
        ["check", "rules", "rules.yaml"],
        ["test", "rules", "alerts.test.yaml"],
    ] {
        let out = Command::new(&promtool)
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("promtool runs");
        assert!(
            out.status.success(),
            "promtool {}:\n{}{}",
            args.join(" "),
            text(&out.stdout),
            text(&out.stderr)
        );
    }

    let exported = exported_metric_names();
    for r in rule["spec"]["groups"][0]["rules"]
        .as_array()
        .expect("rules")
    {
        let expr = r["expr"].as_str().expect("expr");
        let used = metrics_in(expr);
        assert!(!used.is_empty(), "{expr}");
        for metric in used {
            assert!(
                exported.contains(&metric),
                "{expr} reads {metric}, which the operator does not export"
            );
        }
    }
}

#[test]
fn the_dashboard_is_grafana_json_for_the_sidecar_reading_only_exported_metrics() {
    let helm = Helm::find();
    let docs = helm.template(DASHBOARD);
    let map = one(&docs, "ConfigMap");
    assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(map["metadata"]["namespace"], RELEASE_NAMESPACE);
    let json = map["data"]["pbconnector-fleet.json"]
        .as_str()
        .expect("the dashboard JSON");
    let dashboard: Value = serde_json::from_str(json).expect("valid JSON");
    assert_eq!(dashboard["uid"], "pbconnector-fleet");
    assert!(dashboard["title"].as_str().is_some_and(|t| !t.is_empty()));
    let panels = dashboard["panels"].as_array().expect("panels");
    let fleet = &panels[0];
    assert_eq!(fleet["type"], "table", "the first panel is the fleet table");

    let exported = exported_metric_names();
    let mut exprs: Vec<&str> = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .map(|t| t["expr"].as_str().expect("every target has an expr"))
        .collect();
    exprs.extend(
        dashboard["templating"]["list"]
            .as_array()
            .expect("variables")
            .iter()
            .filter_map(|v| v["query"]["query"].as_str()),
    );
    let mut used = BTreeSet::new();
    for expr in &exprs {
        for metric in metrics_in(expr) {
            assert!(
                exported.contains(&metric),
                "{expr} reads {metric}, which the operator does not export"
            );
            used.insert(metric);
        }
    }
    for per_connector in [
        "pbconnector_connector_ready",
        "pbconnector_connector_connection",
        "pbconnector_connector_last_success_timestamp_seconds",
        "pbconnector_connector_held_deprovisions",
        "pbconnector_connector_conflicts",
        "pbconnector_connector_credential_expiry_timestamp_seconds",
    ] {
        assert!(
            used.contains(per_connector),
            "the dashboard shows {per_connector}"
        );
    }
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        let ids = panels.iter().filter(|q| q["id"] == panel["id"]).count();
        assert_eq!(ids, 1, "panel ids are unique: {}", panel["title"]);
        assert!(panel["gridPos"]["w"].as_u64().is_some_and(|w| w <= 24));
    }

    // The sidecar's label and namespace are the user's to choose (null drops the default).
    let custom = helm.template(&format!(
        "{DASHBOARD}  labels:\n    grafana_dashboard: null\n    dashboards: pbconnector\n  \
         namespace: monitoring\n  annotations:\n    grafana_folder: Password Boss\n"
    ));
    let map = one(&custom, "ConfigMap");
    assert_eq!(map["metadata"]["labels"]["dashboards"], "pbconnector");
    assert!(map["metadata"]["labels"].get("grafana_dashboard").is_none());
    assert_eq!(map["metadata"]["namespace"], "monitoring");
    assert_eq!(
        map["metadata"]["annotations"]["grafana_folder"],
        "Password Boss"
    );
}
