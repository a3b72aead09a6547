//! The Helm chart, driven through the real helm 4 and checked with kubernetes-validate: it lints
//! strictly, renders valid Kubernetes 1.35 manifests in every mode, runs the operator with the
//! flags it serves its probes on, grants exactly the RBAC the operator uses, runs restricted, and
//! its values schema rejects typos.

use std::collections::BTreeSet;

use crate::support::helm;
use crate::support::helm::{
    Helm, RELEASE_NAMESPACE, chart_dir, kind, name, of_kind, one, root, tool,
    validate_with_kubernetes,
};
use serde_json::Value;

const WATCHED: &str = "msp-contoso";
const SINGLE_NAMESPACE: &str = "watchNamespace: msp-contoso\n";
const TWO_REPLICAS: &str = "replicaCount: 2\nserviceMonitor:\n  enabled: true\n\
    prometheusRule:\n  enabled: true\ngrafanaDashboard:\n  enabled: true\n";
/// The least-privilege mode: a list of namespaces (plus the older single one), a NetworkPolicy,
/// allowed endpoint hosts.
const HARDENED: &str = "watchNamespaces: [msp-fabrikam, msp-contoso]\nwatchNamespace: msp-adatum\n\
networkPolicy:\n  enabled: true\n  metricsFrom:\n    - namespaceSelector:\n        matchLabels:\n          \
kubernetes.io/metadata.name: monitoring\n\
allowedEndpointHosts: [graph.proxy.example, pb.internal:8443]\n";
const HARDENED_NAMESPACES: [&str; 3] = ["msp-adatum", "msp-contoso", "msp-fabrikam"];

/// (name, values) of the modes every check runs against.
const MODES: [(&str, &str); 4] = [
    ("default", ""),
    ("single namespace", SINGLE_NAMESPACE),
    (
        "two replicas with ServiceMonitor, alerts and dashboard",
        TWO_REPLICAS,
    ),
    ("namespaces, NetworkPolicy, allowed hosts", HARDENED),
];

fn container(docs: &[Value]) -> &Value {
    let containers = &one(docs, "Deployment")["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers.as_array().map(Vec::len), Some(1));
    &containers[0]
}

fn args(docs: &[Value]) -> Vec<String> {
    container(docs)["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_owned())
        .collect()
}

/// The value of `--flag=value` or `--flag value` in the operator's arguments.
fn flag(args: &[String], flag: &str) -> Option<String> {
    let eq = format!("{flag}=");
    args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix(&eq)
            .map(str::to_owned)
            .or_else(|| (a == flag).then(|| args.get(i + 1).cloned().unwrap_or_default()))
    })
}

/// The container port a probe or Service refers to, by name or number.
fn resolve_port(container: &Value, port: &Value) -> u64 {
    let ports = container["ports"].as_array().expect("container ports");
    let found = ports.iter().find(|p| match port {
        Value::String(n) => p["name"].as_str() == Some(n),
        _ => p["containerPort"] == *port,
    });
    found
        .unwrap_or_else(|| panic!("{port} is not a port the container exposes"))
        .get("containerPort")
        .and_then(Value::as_u64)
        .expect("containerPort")
}

#[test]
fn chart_lints_clean_in_strict_mode_in_every_mode() {
    let helm = Helm::find();
    let chart = chart_dir();
    for (mode, values) in MODES {
        let image = helm::image_values();
        let out = helm.run(
            &[
                "lint",
                "--strict",
                chart.to_str().unwrap(),
                "-f",
                image.to_str().unwrap(),
                "-f",
                "-",
            ],
            values,
        );
        assert!(
            out.status.success(),
            "helm lint --strict ({mode}) failed:\n{}{}",
            helm::text(&out.stdout),
            helm::text(&out.stderr)
        );
    }
}

#[test]
fn chart_crd_is_byte_identical_to_the_crds_directory() {
    let files = [
        "passwordboss.com_azureadapplications.yaml",
        "passwordboss.com_azureadconnectors.yaml",
    ];
    for file in files {
        let source = std::fs::read(root().join("crds").join(file)).expect("crds/ holds the CRD");
        let chart = std::fs::read(chart_dir().join("crds").join(file)).expect("the chart holds it");
        assert!(
            source == chart,
            "charts/pbconnector/crds/{file} differs from crds/{file}: copy it over"
        );
    }
    let mut chart_crds: Vec<_> = std::fs::read_dir(chart_dir().join("crds"))
        .expect("chart crds/")
        .map(|e| e.expect("entry").file_name())
        .collect();
    chart_crds.sort();
    assert_eq!(chart_crds, files, "the chart's crds/ holds only the CRDs");
}

#[test]
fn every_rendered_manifest_passes_the_kubernetes_1_35_schemas_strictly() {
    let helm = Helm::find();
    let validator = tool("bin/kubernetes-validate");
    for (mode, values) in MODES {
        let rendered = helm
            .try_template(values, &["--include-crds"])
            .unwrap_or_else(|e| panic!("helm template ({mode}): {e}"));
        let docs = helm::parse_documents(&rendered);
        assert!(docs.iter().any(|d| kind(d) == "CustomResourceDefinition"));
        // ServiceMonitor and PrometheusRule are the Prometheus Operator's CRDs: Kubernetes has
        // no schema for them (promtool checks the rules: tests/suite/helm/monitoring.rs).
        validate_with_kubernetes(&validator, &docs, &["ServiceMonitor", "PrometheusRule"]);
    }
}

#[test]
fn probes_and_services_point_at_the_port_the_operator_listens_on() {
    let helm = Helm::find();
    let custom_port = "port: 9464\nservice:\n  port: 80\nserviceMonitor:\n  enabled: true\n";
    for (mode, values) in MODES.into_iter().chain([("custom port", custom_port)]) {
        let docs = helm.template(values);
        let c = container(&docs);
        let listen = flag(&args(&docs), "--listen-addr").expect("--listen-addr is passed");
        let (host, port) = listen.rsplit_once(':').expect("addr:port");
        assert_eq!(host, "0.0.0.0", "{mode}: listens on every pod address");
        let port: u64 = port.parse().expect("numeric port");
        assert_eq!(c["ports"].as_array().map(Vec::len), Some(1), "{mode}");

        for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
            let get = &c[probe]["httpGet"];
            assert_eq!(get["path"], path, "{mode}: {probe} path");
            assert_eq!(resolve_port(c, &get["port"]), port, "{mode}: {probe} port");
            assert!(get.get("scheme").is_none_or(|s| s == "HTTP"), "{mode}");
        }

        let service = one(&docs, "Service");
        let service_port = &service["spec"]["ports"][0];
        assert_eq!(resolve_port(c, &service_port["targetPort"]), port, "{mode}");
        let pod_labels = &one(&docs, "Deployment")["spec"]["template"]["metadata"]["labels"];
        for (k, v) in service["spec"]["selector"].as_object().expect("selector") {
            assert_eq!(
                &pod_labels[k], v,
                "{mode}: the Service selects the operator pods"
            );
        }
        for monitor in of_kind(&docs, "ServiceMonitor") {
            let endpoint = &monitor["spec"]["endpoints"][0];
            assert_eq!(endpoint["port"], service_port["name"], "{mode}");
            assert_eq!(endpoint["path"], "/metrics", "{mode}");
            for (k, v) in monitor["spec"]["selector"]["matchLabels"]
                .as_object()
                .expect("matchLabels")
            {
                assert_eq!(&service["metadata"]["labels"][k], v, "{mode}");
            }
        }
    }
}

/// Every permission granted, as "Kind[/namespace] apiGroup resource[/name] verb".
fn grants(docs: &[Value]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for role in docs
        .iter()
        .filter(|d| matches!(kind(d), "Role" | "ClusterRole"))
    {
        let scope = match role["metadata"]["namespace"].as_str() {
            Some(ns) => format!("{}/{ns}", kind(role)),
            None => kind(role).to_owned(),
        };
        for rule in role["rules"].as_array().expect("rules") {
            let strings = |key: &str| -> Vec<String> {
                rule[key]
                    .as_array()
                    .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
                    .unwrap_or_default()
            };
            let names = strings("resourceNames");
            for group in strings("apiGroups") {
                for resource in strings("resources") {
                    for verb in strings("verbs") {
                        if names.is_empty() {
                            out.insert(format!("{scope} {group} {resource} {verb}"));
                        }
                        for n in &names {
                            out.insert(format!("{scope} {group} {resource}/{n} {verb}"));
                        }
                    }
                }
            }
        }
    }
    out
}

fn operator_grants(scope: &str) -> Vec<String> {
    [
        "passwordboss.com azureadconnectors get",
        "passwordboss.com azureadconnectors list",
        "passwordboss.com azureadconnectors watch",
        "passwordboss.com azureadconnectors/status patch",
        "passwordboss.com azureadconnectors/status update",
        " secrets get",
        " secrets list",
        " secrets watch",
        " serviceaccounts/token create",
        "events.k8s.io events create",
        "events.k8s.io events patch",
        " events create",
        " events patch",
    ]
    .iter()
    .map(|g| format!("{scope} {g}"))
    .collect()
}

/// The company claims: Leases in the release namespace, whatever is watched; the shared apps'
/// credential Secrets, read from the release namespace only; and the shared apps themselves
/// (cluster-scoped, so a ClusterRole in every mode, without any Secret access).
fn claim_grants() -> Vec<String> {
    let scope = format!("Role/{RELEASE_NAMESPACE} coordination.k8s.io leases");
    let mut grants: Vec<String> = ["get", "list", "watch", "create", "update", "delete"]
        .iter()
        .map(|verb| format!("{scope} {verb}"))
        .collect();
    grants.push(format!("Role/{RELEASE_NAMESPACE}  secrets get"));
    grants.extend(application_grants());
    grants
}

fn application_grants() -> Vec<String> {
    [
        "ClusterRole passwordboss.com azureadapplications get",
        "ClusterRole passwordboss.com azureadapplications list",
        "ClusterRole passwordboss.com azureadapplications watch",
        "ClusterRole passwordboss.com azureadapplications/status patch",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Outside the default mode the only ClusterRole is the shared apps' one: no Secret (nor any
/// namespaced resource) cluster-wide.
fn assert_only_the_applications_cluster_role(docs: &[Value]) {
    let cluster_roles = of_kind(docs, "ClusterRole");
    assert_eq!(cluster_roles.len(), 1, "no Secret access cluster-wide");
    assert!(name(cluster_roles[0]).ends_with("-applications"));
    assert_eq!(of_kind(docs, "ClusterRoleBinding").len(), 1);
    let cluster_wide: BTreeSet<String> = grants(docs)
        .into_iter()
        .filter(|g| g.starts_with("ClusterRole "))
        .collect();
    assert_eq!(
        cluster_wide,
        application_grants().into_iter().collect::<BTreeSet<_>>()
    );
}

fn lease_grants() -> Vec<String> {
    let scope = format!("Role/{RELEASE_NAMESPACE} coordination.k8s.io leases");
    vec![
        format!("{scope} create"),
        format!("{scope}/pbconnector-leader get"),
        format!("{scope}/pbconnector-leader update"),
        format!("{scope}/pbconnector-leader patch"),
    ]
}

fn assert_bindings_tie_the_service_account_to_every_role(docs: &[Value]) {
    let sa = one(docs, "ServiceAccount");
    let roles: BTreeSet<(String, String, Option<String>)> = docs
        .iter()
        .filter(|d| matches!(kind(d), "Role" | "ClusterRole"))
        .map(|d| {
            let ns = d["metadata"]["namespace"].as_str().map(str::to_owned);
            (kind(d).to_owned(), name(d).to_owned(), ns)
        })
        .collect();
    let mut bound = BTreeSet::new();
    for binding in docs
        .iter()
        .filter(|d| matches!(kind(d), "RoleBinding" | "ClusterRoleBinding"))
    {
        let role_ref = &binding["roleRef"];
        let ns = binding["metadata"]["namespace"].as_str().map(str::to_owned);
        let target = (
            role_ref["kind"].as_str().unwrap().to_owned(),
            role_ref["name"].as_str().unwrap().to_owned(),
            ns,
        );
        assert!(
            roles.contains(&target),
            "{} binds a missing {target:?}",
            name(binding)
        );
        assert_eq!(
            binding["subjects"],
            serde_json::json!([{"kind": "ServiceAccount", "name": name(sa), "namespace": RELEASE_NAMESPACE}])
        );
        bound.insert(target);
    }
    assert_eq!(
        bound, roles,
        "every role is bound to the operator's ServiceAccount"
    );
    assert_eq!(
        one(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"],
        name(sa)
    );
}

#[test]
fn default_mode_grants_exactly_the_operators_permissions_cluster_wide() {
    let helm = Helm::find();
    let docs = helm.template("");
    let mut expected: BTreeSet<String> = operator_grants("ClusterRole").into_iter().collect();
    expected.extend(claim_grants());
    assert_eq!(grants(&docs), expected);
    assert_bindings_tie_the_service_account_to_every_role(&docs);
    let a = args(&docs);
    assert_eq!(flag(&a, "--namespace"), None, "all namespaces");
    assert!(
        !a.contains(&"--leader-elect".to_owned()),
        "one replica: no election"
    );
    let deployment = one(&docs, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(
        deployment["spec"]["strategy"]["type"], "Recreate",
        "without leader election two pods must never overlap in a rollout"
    );
    assert!(of_kind(&docs, "PodDisruptionBudget").is_empty());
    assert!(of_kind(&docs, "ServiceMonitor").is_empty());
}

#[test]
fn single_namespace_mode_grants_a_role_in_the_watched_namespace_only() {
    let helm = Helm::find();
    let docs = helm.template(SINGLE_NAMESPACE);
    assert_only_the_applications_cluster_role(&docs);
    let mut expected: BTreeSet<String> = operator_grants(&format!("Role/{WATCHED}"))
        .into_iter()
        .collect();
    expected.extend(claim_grants());
    assert_eq!(grants(&docs), expected);
    assert_bindings_tie_the_service_account_to_every_role(&docs);
    assert_eq!(flag(&args(&docs), "--namespace").as_deref(), Some(WATCHED));
}

#[test]
fn least_privilege_mode_grants_a_role_in_each_watched_namespace_and_nothing_cluster_wide() {
    let helm = Helm::find();
    let docs = helm.template(HARDENED);
    assert_only_the_applications_cluster_role(&docs);
    let mut expected: BTreeSet<String> = HARDENED_NAMESPACES
        .iter()
        .flat_map(|ns| operator_grants(&format!("Role/{ns}")))
        .collect();
    expected.extend(claim_grants());
    assert_eq!(grants(&docs), expected);
    // One per watched namespace, and the company claims' in the release namespace.
    assert_eq!(of_kind(&docs, "Role").len(), HARDENED_NAMESPACES.len() + 1);
    assert_eq!(
        of_kind(&docs, "RoleBinding").len(),
        HARDENED_NAMESPACES.len() + 1
    );
    assert_bindings_tie_the_service_account_to_every_role(&docs);
    assert_eq!(
        flag(&args(&docs), "--namespace").as_deref(),
        Some("msp-adatum,msp-contoso,msp-fabrikam"),
        "the operator watches exactly the namespaces it has a Role in"
    );

    // With leader election the Lease Role is added in the release namespace, nothing else.
    let docs = helm.template(&format!("{HARDENED}replicaCount: 2\n"));
    let mut expected = expected.clone();
    expected.extend(lease_grants());
    assert_eq!(grants(&docs), expected);
    assert_only_the_applications_cluster_role(&docs);
}

#[test]
fn endpoint_and_identity_policy_values_become_the_operators_flags() {
    let helm = Helm::find();
    let a = args(&helm.template(""));
    assert_eq!(
        flag(&a, "--allowed-endpoint-hosts"),
        None,
        "built-in hosts only"
    );
    assert!(
        !a.iter()
            .any(|f| f.starts_with("--allow-loopback-endpoints"))
    );
    assert!(
        !a.iter()
            .any(|f| f.starts_with("--allow-operator-workload-identity"))
    );

    let a = args(&helm.template(HARDENED));
    assert_eq!(
        flag(&a, "--allowed-endpoint-hosts").as_deref(),
        Some("graph.proxy.example,pb.internal:8443")
    );
    let a = args(&helm.template("allowOperatorWorkloadIdentity: true\n"));
    assert!(a.contains(&"--allow-operator-workload-identity".to_owned()));
}

#[test]
fn the_freeze_value_becomes_the_operators_freeze_flag() {
    let helm = Helm::find();
    let a = args(&helm.template(""));
    assert!(
        !a.iter().any(|f| f.starts_with("--freeze-destructive")),
        "no freeze by default: {a:?}"
    );
    let a = args(&helm.template("freezeDestructiveChanges: false\n"));
    assert!(!a.iter().any(|f| f.starts_with("--freeze-destructive")));
    // The README's command turns the freeze on with `--set`; render with what it sets.
    let command = crate::support::readme::command(
        "helm upgrade pbconnector charts/pbconnector --reuse-values --set freezeDestructiveChanges=true",
    );
    let set = command
        .split_once("--set ")
        .map(|(_, s)| s.split_whitespace().next().unwrap_or_default())
        .expect("the README's command sets a value");
    let (key, value) = set.split_once('=').expect("KEY=VALUE");
    let a = args(&helm.template(&format!("{key}: {value}\n")));
    assert_eq!(
        a.iter().filter(|f| *f == "--freeze-destructive").count(),
        1,
        "{a:?}"
    );
    // The flag the chart passes is one `pbconnector run` accepts.
    use clap::Parser;
    let parsed =
        pbconnector::cli::Cli::try_parse_from(std::iter::once("pbconnector".to_string()).chain(a));
    assert!(parsed.is_ok(), "{parsed:?}");
}

/// (protocol, port) of every egress rule, and the peers of each.
fn egress(policy: &Value) -> (BTreeSet<(String, u64)>, Vec<Value>) {
    let mut ports = BTreeSet::new();
    let mut peers = Vec::new();
    for rule in policy["spec"]["egress"].as_array().expect("egress rules") {
        for port in rule["ports"]
            .as_array()
            .expect("every egress rule names its ports")
        {
            ports.insert((
                port["protocol"].as_str().unwrap().to_owned(),
                port["port"].as_u64().expect("numeric port"),
            ));
        }
        peers.push(rule.get("to").cloned().unwrap_or(Value::Null));
    }
    (ports, peers)
}

#[test]
fn network_policy_is_opt_in_and_lets_through_only_dns_the_api_server_https_and_metrics() {
    let helm = Helm::find();
    for (mode, values) in [("default", ""), ("single namespace", SINGLE_NAMESPACE)] {
        assert!(
            of_kind(&helm.template(values), "NetworkPolicy").is_empty(),
            "{mode}"
        );
    }

    let docs = helm.template(HARDENED);
    let policy = one(&docs, "NetworkPolicy");
    assert_eq!(policy["metadata"]["namespace"], RELEASE_NAMESPACE);
    assert_eq!(
        policy["spec"]["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    let pod_labels = &one(&docs, "Deployment")["spec"]["template"]["metadata"]["labels"];
    let selector = policy["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .expect("selects by labels");
    assert!(!selector.is_empty());
    for (k, v) in selector {
        assert_eq!(&pod_labels[k], v, "the policy selects the operator's pods");
    }
    let tcp = |p: u64| ("TCP".to_owned(), p);
    let (ports, peers) = egress(policy);
    let expected: BTreeSet<_> = [("UDP".to_owned(), 53), tcp(53), tcp(443), tcp(6443)].into();
    assert_eq!(ports, expected);
    assert!(
        peers.iter().all(Value::is_null),
        "egressTo empty: any address, on those ports"
    );

    let ingress = policy["spec"]["ingress"].as_array().expect("ingress rules");
    assert_eq!(ingress.len(), 1);
    let container = container(&docs);
    assert_eq!(
        ingress[0]["ports"],
        serde_json::json!([{"protocol": "TCP", "port": resolve_port(container, &Value::from("http"))}]),
        "only the metrics/health port"
    );
    assert_eq!(
        ingress[0]["from"],
        serde_json::json!([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}])
    );

    // No metricsFrom: nothing may connect. Peers and extra ports as given.
    let values = "networkPolicy:\n  enabled: true\n  apiServerPorts: [443]\n  extraEgressPorts: [8443, 443]\n  \
egressTo:\n    - ipBlock: {cidr: 10.0.0.0/8}\nport: 9464\n";
    let docs = helm.template(values);
    let policy = one(&docs, "NetworkPolicy");
    assert_eq!(policy["spec"]["ingress"], serde_json::json!([]));
    let (ports, peers) = egress(policy);
    let expected: BTreeSet<_> = [("UDP".to_owned(), 53), tcp(53), tcp(443), tcp(8443)].into();
    assert_eq!(ports, expected);
    assert_eq!(
        peers,
        vec![
            Value::Null,
            serde_json::json!([{"ipBlock": {"cidr": "10.0.0.0/8"}}])
        ],
        "DNS anywhere; the rest only to egressTo"
    );
}

#[test]
fn two_replicas_elect_a_leader_through_a_lease_role_and_get_a_pdb() {
    let helm = Helm::find();
    for values in [TWO_REPLICAS, "leaderElection:\n  enabled: true\n"] {
        let docs = helm.template(values);
        let mut expected: BTreeSet<String> = operator_grants("ClusterRole").into_iter().collect();
        expected.extend(claim_grants());
        expected.extend(lease_grants());
        assert_eq!(grants(&docs), expected, "{values}");
        assert_bindings_tie_the_service_account_to_every_role(&docs);
        let a = args(&docs);
        assert!(a.contains(&"--leader-elect".to_owned()), "{values}");
        assert_eq!(
            flag(&a, "--lease-name").as_deref(),
            Some("pbconnector-leader")
        );
        assert_eq!(
            flag(&a, "--lease-namespace").as_deref(),
            Some(RELEASE_NAMESPACE)
        );
        let env = &container(&docs)["env"];
        assert!(
            env.as_array()
                .unwrap()
                .iter()
                .any(|e| e["name"] == "POD_NAME"
                    && e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"),
            "the lease holder identity comes from the downward API"
        );
        assert_eq!(
            one(&docs, "Deployment")["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
            0
        );
    }

    let docs = helm.template(TWO_REPLICAS);
    let pdb = one(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    let pod_labels = &one(&docs, "Deployment")["spec"]["template"]["metadata"]["labels"];
    for (k, v) in pdb["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&pod_labels[k], v, "the PDB selects the operator pods");
    }
    assert_eq!(of_kind(&docs, "ServiceMonitor").len(), 1);

    let without_pdb = helm.template("replicaCount: 2\npodDisruptionBudget:\n  enabled: false\n");
    assert!(of_kind(&without_pdb, "PodDisruptionBudget").is_empty());
}

#[test]
fn no_rbac_rule_uses_a_wildcard_in_any_mode() {
    let helm = Helm::find();
    for (mode, values) in MODES {
        for grant in grants(&helm.template(values)) {
            assert!(!grant.contains('*'), "{mode}: wildcard in {grant}");
        }
    }
}

#[test]
fn the_operator_runs_with_the_restricted_security_context_and_bounded_resources() {
    let helm = Helm::find();
    for (mode, values) in MODES {
        let docs = helm.template(values);
        let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
        let psc = &pod["securityContext"];
        assert_eq!(psc["runAsNonRoot"], true, "{mode}");
        assert_eq!(psc["runAsUser"], 65532, "{mode}");
        assert_eq!(psc["seccompProfile"]["type"], "RuntimeDefault", "{mode}");
        assert!(pod.get("hostNetwork").is_none() && pod.get("hostPID").is_none());
        let c = container(&docs);
        let sc = &c["securityContext"];
        assert_eq!(sc["runAsNonRoot"], true, "{mode}");
        assert_eq!(sc["runAsUser"], 65532, "{mode}");
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{mode}");
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{mode}");
        assert_eq!(sc["privileged"], false, "{mode}");
        assert_eq!(
            sc["capabilities"],
            serde_json::json!({"drop": ["ALL"]}),
            "{mode}"
        );
        assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{mode}");
        for bound in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                assert!(
                    c["resources"][bound][resource].is_string(),
                    "{mode}: resources.{bound}.{resource} is set"
                );
            }
        }
        // The memory limit reaches the operator through the downward API, in bytes: it sizes
        // the response budget (README "Memory budget").
        let limit = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "PBCONNECTOR_MEMORY_LIMIT")
            .unwrap_or_else(|| panic!("{mode}: PBCONNECTOR_MEMORY_LIMIT is set"));
        assert_eq!(
            limit["valueFrom"]["resourceFieldRef"],
            serde_json::json!({"containerName": "operator", "resource": "limits.memory", "divisor": "1"}),
            "{mode}"
        );
        assert!(c.get("volumeMounts").is_none(), "needs no writable volume");
        assert!(
            c["image"]
                .as_str()
                .unwrap()
                .ends_with(&format!(":{}", env!("CARGO_PKG_VERSION"))),
            "the image tag defaults to the chart's appVersion, kept equal to the crate version"
        );
    }
}

#[test]
fn every_object_carries_the_standard_labels() {
    let helm = Helm::find();
    for (mode, values) in MODES {
        for doc in helm.template(values) {
            let labels = &doc["metadata"]["labels"];
            for key in [
                "app.kubernetes.io/name",
                "app.kubernetes.io/instance",
                "app.kubernetes.io/version",
                "app.kubernetes.io/managed-by",
                "helm.sh/chart",
            ] {
                assert!(
                    labels[key].is_string(),
                    "{mode}: {} lacks {key}",
                    name(&doc)
                );
            }
        }
    }
}

#[test]
fn bad_values_are_rejected_by_the_schema_before_anything_renders() {
    let helm = Helm::find();
    let cases = [
        ("replicas: 2\n", "replicas"),
        ("image:\n  pullpolicy: Always\n", "pullpolicy"),
        ("serviceMonitor:\n  enable: true\n", "enable"),
        (
            "podDisruptionBudget:\n  enabled: true\n  minAvaliable: 1\n",
            "minAvaliable",
        ),
        ("replicaCount: two\n", "replicaCount"),
        ("port: \"8080\"\n", "port"),
        ("logging:\n  format: xml\n", "format"),
        ("watchNamespace: Not_A_Namespace\n", "watchNamespace"),
        (
            "watchNamespaces: [ok, Not_A_Namespace]\n",
            "watchNamespaces",
        ),
        (
            "allowedEndpointHosts: [\"https://evil.example/\"]\n",
            "allowedEndpointHosts",
        ),
        (
            "allowedEndpointHosts: [\"user@evil.example\"]\n",
            "allowedEndpointHosts",
        ),
        ("networkPolicy:\n  enable: true\n", "enable"),
        ("networkPolicy:\n  apiServerPorts: [0]\n", "apiServerPorts"),
        ("workloadIdentity:\n  enabled: true\n", "clientId"),
        (
            "tolerations:\n  - key: a\n    operater: Exists\n",
            "operater",
        ),
        ("affinity:\n  nodeAfinity: {}\n", "nodeAfinity"),
        ("syncDeadline: soon\n", "syncDeadline"),
        (
            "freezeDestructiveChanges: \"yes\"\n",
            "freezeDestructiveChanges",
        ),
        ("quarantine:\n  ceiling: daily\n", "ceiling"),
        ("quarantine:\n  ceilling: 1h\n", "ceilling"),
    ];
    for (values, field) in cases {
        let err = helm
            .try_template(values, &[])
            .expect_err(&format!("the schema should refuse {values:?}"));
        assert!(
            err.contains("schema") && err.contains(field),
            "the error for {values:?} should name {field}: {err}"
        );
    }
}

#[test]
fn pod_placement_and_metadata_values_reach_the_pod() {
    let helm = Helm::find();
    let values = r#"
image: {repository: registry.example.com/pbconnector, digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
imagePullSecrets: [{name: regcred}]
podAnnotations: {example.com/team: identity}
podLabels: {team: identity}
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: ops, effect: NoSchedule}]
affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/arch, operator: In, values: [amd64, arm64]}]}]}}}
topologySpreadConstraints: [{maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: ScheduleAnyway}]
priorityClassName: system-cluster-critical
logging: {format: text, level: debug}
maxConcurrentSyncs: 4
syncDeadline: 20m
quarantine: {ceiling: 6h}
"#;
    let docs = helm.template(values);
    let template = &one(&docs, "Deployment")["spec"]["template"];
    let pod = &template["spec"];
    assert_eq!(
        template["metadata"]["annotations"]["example.com/team"],
        "identity"
    );
    assert_eq!(template["metadata"]["labels"]["team"], "identity");
    assert_eq!(
        pod["imagePullSecrets"],
        serde_json::json!([{"name": "regcred"}])
    );
    assert_eq!(pod["nodeSelector"]["kubernetes.io/os"], "linux");
    assert_eq!(pod["tolerations"][0]["key"], "dedicated");
    assert!(pod["affinity"]["nodeAffinity"].is_object());
    assert_eq!(pod["topologySpreadConstraints"][0]["maxSkew"], 1);
    assert_eq!(pod["priorityClassName"], "system-cluster-critical");
    let c = container(&docs);
    assert_eq!(
        c["image"],
        "registry.example.com/pbconnector@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    );
    let a = args(&docs);
    assert_eq!(a[0], "run");
    assert_eq!(flag(&a, "--log-format").as_deref(), Some("text"));
    assert_eq!(flag(&a, "--log-level").as_deref(), Some("debug"));
    assert_eq!(flag(&a, "--max-concurrent-syncs").as_deref(), Some("4"));
    assert_eq!(flag(&a, "--sync-deadline").as_deref(), Some("20m"));
    assert_eq!(flag(&a, "--quarantine-ceiling").as_deref(), Some("6h"));
    // The default: one day.
    let a = args(&helm.template(""));
    assert_eq!(flag(&a, "--quarantine-ceiling").as_deref(), Some("24h"));
}

#[test]
fn workload_identity_annotates_the_service_account_and_labels_the_pod() {
    let helm = Helm::find();
    let off = helm.template("");
    assert!(
        one(&off, "ServiceAccount")["metadata"]["annotations"].is_null()
            && one(&off, "Deployment")["spec"]["template"]["metadata"]["labels"]
                ["azure.workload.identity/use"]
                .is_null(),
        "workload identity is off by default"
    );

    let client = "11111111-2222-3333-4444-555555555555";
    let on = helm.template(&format!(
        "workloadIdentity:\n  enabled: true\n  clientId: {client}\nserviceAccount:\n  annotations:\n    example.com/owner: identity\n"
    ));
    let sa = &one(&on, "ServiceAccount")["metadata"]["annotations"];
    assert_eq!(sa["azure.workload.identity/client-id"], client);
    assert_eq!(sa["example.com/owner"], "identity");
    assert_eq!(
        one(&on, "Deployment")["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"],
        "true"
    );
}

#[test]
fn install_notes_tell_the_user_the_next_step() {
    let helm = Helm::find();
    let chart = chart_dir();
    let image = helm::image_values();
    let out = helm.run(
        &[
            "install",
            "pbc",
            chart.to_str().unwrap(),
            "--namespace",
            RELEASE_NAMESPACE,
            "--dry-run=client",
            "-f",
            image.to_str().unwrap(),
            "-f",
            "-",
        ],
        SINGLE_NAMESPACE,
    );
    let stdout = helm::text(&out.stdout);
    assert!(out.status.success(), "{}", helm::text(&out.stderr));
    let notes = stdout.split("NOTES:").nth(1).expect("helm prints NOTES");
    for needle in [
        "kubectl -n msp-contoso create secret generic entra-app",
        "kubectl -n msp-contoso create secret generic passwordboss",
        "kind: AzureAdConnector",
        "kubectl get aadc",
        "passwordboss.com/sync-requested-at",
        "kubectl apply --server-side -f",
    ] {
        assert!(notes.contains(needle), "NOTES lack {needle:?}:\n{notes}");
    }
}

#[test]
fn helm_commands_in_the_chart_readme_use_values_the_chart_accepts() {
    let helm = Helm::find();
    let readme = std::fs::read_to_string(chart_dir().join("README.md")).expect("README.md");
    let commands: Vec<String> = readme
        .replace("\\\n", " ")
        .lines()
        .filter(|l| l.trim_start().starts_with("helm install") || l.contains("helm upgrade"))
        .map(str::to_owned)
        .collect();
    assert!(
        commands.len() >= 3,
        "the README shows install and upgrade commands"
    );
    for command in commands {
        let sets: Vec<&str> = command
            .split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| w[0] == "--set")
            .map(|w| w[1])
            .collect();
        let mut extra = Vec::new();
        for set in &sets {
            extra.extend(["--set", set]);
        }
        helm.try_template("", &extra)
            .unwrap_or_else(|e| panic!("the chart refuses `{command}`: {e}"));
    }
}

#[test]
fn without_an_image_the_install_fails_at_once_saying_what_to_set() {
    let helm = Helm::find();
    let chart = chart_dir();
    for command in ["template", "install"] {
        let mut args = vec![command, "pbconnector", chart.to_str().unwrap()];
        if command == "install" {
            // Nothing reaches a cluster: the render fails before.
            args.extend(["--dry-run=client", "--kubeconfig", "/nonexistent"]);
        }
        let out = helm.run(&args, "");
        let err = helm::text(&out.stderr);
        assert!(
            !out.status.success(),
            "helm {command} without an image: {err}"
        );
        assert!(
            err.contains("image.repository is not set")
                && err.contains("scripts/build-image.sh")
                && err.contains("--set image.repository="),
            "helm {command} says what to set: {err}"
        );
    }
}

#[test]
fn extra_ca_certificates_and_proxy_values_reach_the_operator() {
    let helm = Helm::find();
    let docs = helm.template(
        "extraCACertificates: {configMapName: corp-ca}\n\
         proxy: {https: 'http://proxy.corp.example:3128', http: 'http://proxy.corp.example:3128', noProxy: '.corp.example'}\n",
    );
    let c = container(&docs);
    let env: Vec<(String, String)> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| Some((e["name"].as_str()?.into(), e["value"].as_str()?.into())))
        .collect();
    let dir = "/etc/pbconnector/ca-certificates";
    for (name, value) in [
        ("SSL_CERT_DIR", dir),
        ("HTTPS_PROXY", "http://proxy.corp.example:3128"),
        ("HTTP_PROXY", "http://proxy.corp.example:3128"),
        ("NO_PROXY", ".corp.example"),
    ] {
        assert!(
            env.contains(&(name.into(), value.into())),
            "{name}={value} in {env:?}"
        );
    }
    assert_eq!(c["volumeMounts"][0]["mountPath"], dir);
    assert_eq!(c["volumeMounts"][0]["readOnly"], true);
    let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["volumes"][0]["configMap"]["name"], "corp-ca");

    let secret = helm.template("extraCACertificates: {secretName: corp-ca}\n");
    let pod = &one(&secret, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["volumes"][0]["secret"]["secretName"], "corp-ca");

    let both = helm
        .try_template(
            "extraCACertificates: {configMapName: a, secretName: b}\n",
            &[],
        )
        .unwrap_err();
    assert!(both.contains("not both"), "{both}");
    let bad = helm
        .try_template("proxy: {https: 'proxy.corp.example:3128'}\n", &[])
        .unwrap_err();
    assert!(
        bad.contains("proxy"),
        "a proxy without a scheme is refused: {bad}"
    );
    // Credentials never sit in plain values (Deployment, helm values, release Secret).
    for value in [
        "proxy: {https: 'http://user:pass@proxy.corp.example:3128'}\n",
        "proxy: {http: 'http://user@proxy.corp.example:3128'}\n",
    ] {
        let refused = helm.try_template(value, &[]).unwrap_err();
        assert!(
            refused.contains("/proxy/http"),
            "a proxy URL with a userinfo part is refused ({value}): {refused}"
        );
    }

    // A proxy with credentials: from a Secret, by reference; no literal value anywhere.
    let secret_proxy = helm.template(
        "proxy: {existingSecret: {name: corp-proxy, httpsKey: https-url, httpKey: http-url}, noProxy: '.corp.example'}\n",
    );
    let c = container(&secret_proxy);
    for (name, key) in [("HTTPS_PROXY", "https-url"), ("HTTP_PROXY", "http-url")] {
        let var = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {}", c["env"]));
        assert!(
            var.get("value").is_none(),
            "{name} has no literal value: {var}"
        );
        assert_eq!(
            var["valueFrom"]["secretKeyRef"]["name"], "corp-proxy",
            "{var}"
        );
        assert_eq!(var["valueFrom"]["secretKeyRef"]["key"], key, "{var}");
    }
    // One key is enough; the other variable may stay a plain (credential-free) value.
    let mixed = helm.template(
        "proxy: {http: 'http://proxy.corp.example:3128', existingSecret: {name: corp-proxy, httpsKey: url}}\n",
    );
    let env = &container(&mixed)["env"];
    let https = env
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "HTTPS_PROXY")
        .unwrap();
    assert_eq!(https["valueFrom"]["secretKeyRef"]["key"], "url");
    let http = env
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "HTTP_PROXY")
        .unwrap();
    assert_eq!(http["value"], "http://proxy.corp.example:3128");
    for (values, says) in [
        (
            "proxy: {https: 'http://p:3128', existingSecret: {name: s, httpsKey: k}}\n",
            "not both",
        ),
        ("proxy: {existingSecret: {name: s}}\n", "httpsKey"),
        (
            "proxy: {existingSecret: {httpKey: k}}\n",
            "existingSecret.name",
        ),
    ] {
        let refused = helm.try_template(values, &[]).unwrap_err();
        assert!(refused.contains(says), "{values}: {refused}");
    }

    // Nothing set: no proxy variable, no mount.
    let plain = helm.template("");
    let c = container(&plain);
    let names: Vec<&str> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["POD_NAME", "POD_NAMESPACE", "PBCONNECTOR_MEMORY_LIMIT"]
    );
    assert!(c.get("volumeMounts").is_none());
}

/// The chart's default memory request and limit come from the README's sizing formula for the
/// fleet the README says they fit: 20 connectors, 10,000 users in all.
#[test]
fn the_default_memory_fits_the_fleet_the_formula_sizes_it_for() {
    use pbconnector::bounded::budget::{memory_limit_for, sizing_without_buffers};
    let docs = Helm::find().template("");
    let c = container(&docs);
    let limit = helm::quantity_bytes(c["resources"]["limits"]["memory"].as_str().unwrap());
    let request = helm::quantity_bytes(c["resources"]["requests"]["memory"].as_str().unwrap());
    let (connectors, users) = (20, 10_000);
    assert!(
        limit >= memory_limit_for(connectors, users),
        "limits.memory {limit} is below the formula's {}",
        memory_limit_for(connectors, users)
    );
    assert!(
        request >= sizing_without_buffers(connectors, users) && request <= limit,
        "requests.memory {request} holds R = {} and is within the limit",
        sizing_without_buffers(connectors, users)
    );
}
