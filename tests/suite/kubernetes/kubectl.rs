//! The real kubectl 1.35 against a real kube-apiserver (tests/suite/support/apiserver.rs): apply the CRD and an example connector with
//! its Secrets, read printer columns, annotate, get YAML, see invalid connectors refused with the
//! field named, wait for Ready through the status subresource, delete.

use crate::support::apiserver;
use crate::support::kubectl;

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use apiserver::TestApiServer;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kubectl::{Kubectl, find_kubectl, repo};
use pbconnector::resources::{AzureAdConnector, SyncCounts};
use serde_json::{Value, json};

const NS: &str = "msp-contoso";

fn fixture(name: &str) -> String {
    Path::new("tests/fixtures").join(name).display().to_string()
}

async fn write_status(api: &Api<AzureAdConnector>, status: Value) {
    api.patch_status(
        "contoso",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": status})),
    )
    .await
    .expect("the status subresource accepts the status");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_manages_connectors_end_to_end() {
    // A server of this test's own: it installs the CRD and a fixed namespace.
    let server = tokio::task::spawn_blocking(TestApiServer::start)
        .await
        .expect("the API server starts");
    let kubectl = Kubectl::new(find_kubectl(), server.kubeconfig_path());
    let api: Api<AzureAdConnector> = Api::namespaced(server.client().await, NS);

    let out = kubectl.ok(&["apply", "-f", "crds/"]).await;
    assert!(
        out.contains("customresourcedefinition.apiextensions.k8s.io/azureadconnectors.passwordboss.com created"),
        "{out}"
    );
    let out = kubectl
        .ok(&["apply", "-f", &fixture("connector.yaml")])
        .await;
    for created in [
        "namespace/msp-contoso created",
        "secret/entra-app created",
        "secret/passwordboss created",
        "azureadconnector.passwordboss.com/contoso created",
    ] {
        assert!(out.contains(created), "missing {created:?} in {out}");
    }
    // Secrets are stored as the real server stores them: stringData encoded into data.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(server.client().await, NS);
    let token = secrets
        .get("passwordboss")
        .await
        .expect("the Secret exists");
    let data = token.data.expect("data");
    assert_eq!(data["token"].0, b"not-a-real-token");
    assert!(token.string_data.is_none());

    // Applying again changes nothing and says so.
    let out = kubectl
        .ok(&["apply", "-f", &fixture("connector.yaml")])
        .await;
    assert!(
        out.contains("azureadconnector.passwordboss.com/contoso unchanged"),
        "{out}"
    );

    // Printer columns that triage, with Message (priority 1) only in the wide output.
    write_status(&api, json!({"connection": "Connected", "users": {"inScope": 812, "active": 800, "pending": 4, "disabled": 8},
        "conditions": [{"type": "Ready", "status": "False", "reason": "DeprovisionBlocked", "message": "held",
            "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        "blocked": {"deprovisions": 242},
        "lastSync": serde_json::to_value(SyncCounts { conflicts: 3, ..Default::default() }).expect("counts"),
        "lastSyncTime": "2026-01-01T00:00:00Z", "lastSuccessfulSyncTime": "2026-01-01T00:00:00Z",
        "message": "Synced 812 users"})).await;
    let out = kubectl.ok(&["get", "aadc", "-n", NS]).await;
    let header = out.lines().next().unwrap_or_default();
    let columns: Vec<&str> = header
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        columns,
        [
            "NAME",
            "CONNECTION",
            "READY",
            "USERS",
            "HELD",
            "CONFLICTS",
            "LAST SUCCESS",
            "AGE"
        ],
        "{out}"
    );
    let row: Vec<&str> = out
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        &row[..6],
        ["contoso", "Connected", "False", "812", "242", "3"],
        "{out}"
    );
    assert!(
        row[6].ends_with('d') || row[6].ends_with('y'),
        "Last Success is an age: {out}"
    );
    let wide = kubectl.ok(&["get", "aadc", "-n", NS, "-o", "wide"]).await;
    assert!(
        wide.contains("MESSAGE") && wide.contains("Synced 812 users"),
        "{wide}"
    );

    // kubectl get -w: watch events rendered as Table rows.
    let mut watching = kubectl
        .command(&["get", "aadc", "-n", NS, "-w"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl get -w starts");
    let mut lines = BufReader::new(watching.stdout.take().expect("stdout")).lines();
    let mut next_line = async || {
        tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("kubectl get -w prints in time")
            .expect("stdout reads")
            .expect("a line")
    };
    assert!(next_line().await.starts_with("NAME"));
    assert!(next_line().await.contains("Connected"));
    write_status(&api, json!({"connection": "Error"})).await;
    let changed = next_line().await;
    assert!(
        changed.starts_with("contoso") && changed.contains("Error"),
        "{changed}"
    );
    watching.kill().await.expect("kubectl get -w stops");

    // Annotate, then read it all back as YAML: defaults applied, annotation and status present.
    kubectl
        .ok(&[
            "annotate",
            "aadc/contoso",
            "-n",
            NS,
            "passwordboss.com/sync-requested-at=2026-11-25T10:00:00Z",
        ])
        .await;
    let yaml = kubectl
        .ok(&["get", "aadc", "contoso", "-n", NS, "-o", "yaml"])
        .await;
    let object: Value = serde_yaml::from_str(&yaml).expect("kubectl prints YAML");
    assert_eq!(
        object["metadata"]["annotations"]["passwordboss.com/sync-requested-at"],
        "2026-11-25T10:00:00Z"
    );
    assert_eq!(
        object["spec"]["interval"], "1m",
        "defaults applied on create"
    );
    assert_eq!(
        object["spec"]["passwordBoss"]["apiUrl"],
        "https://api.passwordboss.com"
    );
    assert_eq!(object["status"]["users"]["inScope"], 812);
    assert_eq!(
        object["metadata"]["generation"], 1,
        "annotations do not bump generation"
    );

    // Invalid connectors are refused at apply time, with the fields named.
    let err = kubectl
        .fails(&["apply", "-f", &fixture("connector-invalid.yaml")])
        .await;
    assert!(
        err.contains("spec.interval") && err.contains("must be at least 10s"),
        "{err}"
    );
    assert!(
        err.contains("spec.azure") && err.contains("exactly one credential"),
        "{err}"
    );
    let err = kubectl
        .fails(&["apply", "-f", &fixture("connector-unknown-field.yaml")])
        .await;
    assert!(err.contains("unknown field \"spec.intervall\""), "{err}");
    assert!(api.get_opt("broken").await.expect("get").is_none());
    assert!(api.get_opt("typo").await.expect("get").is_none());

    // kubectl wait: not Ready yet, then Ready once the status says so for this generation.
    let err = kubectl
        .fails(&[
            "wait",
            "--for=condition=Ready",
            "aadc/contoso",
            "-n",
            NS,
            "--timeout=1s",
        ])
        .await;
    assert!(err.contains("timed out"), "{err}");
    let waiting = kubectl
        .command(&[
            "wait",
            "--for=condition=Ready",
            "aadc/contoso",
            "-n",
            NS,
            "--timeout=20s",
        ])
        .output();
    let waiting = tokio::spawn(waiting);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let generation = api.get("contoso").await.expect("get").metadata.generation;
    write_status(
        &api,
        json!({"observedGeneration": generation, "conditions": [{
        "type": "Ready", "status": "True", "reason": "Synced", "message": "in sync",
        "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": generation}]}),
    )
    .await;
    let out = waiting.await.expect("join").expect("kubectl wait runs");
    assert!(
        out.status.success(),
        "kubectl wait failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("condition met"));

    // A changed spec is applied as a patch and bumps the generation.
    let changed = std::fs::read_to_string(repo().join(fixture("connector.yaml")))
        .expect("fixture")
        .replace("  groups:\n", "  interval: 5m\n  groups:\n");
    let out = kubectl.ok_stdin(&["apply", "-f", "-"], &changed).await;
    assert!(
        out.contains("azureadconnector.passwordboss.com/contoso configured"),
        "{out}"
    );
    let after = api.get("contoso").await.expect("get");
    assert_eq!(after.spec.interval, "5m");
    assert_eq!(after.metadata.generation, generation.map(|g| g + 1));

    let out = kubectl.ok(&["delete", "aadc", "contoso", "-n", NS]).await;
    assert!(
        out.contains("azureadconnector.passwordboss.com \"contoso\" deleted"),
        "{out}"
    );
    assert!(api.get_opt("contoso").await.expect("get").is_none());
    tokio::task::spawn_blocking(move || drop(server))
        .await
        .expect("the API server stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_the_built_in_kinds_of_an_operator_install() {
    // A server of this test's own: it installs the CRD and a fixed namespace.
    let server = tokio::task::spawn_blocking(TestApiServer::start)
        .await
        .expect("the API server starts");
    let kubectl = Kubectl::new(find_kubectl(), server.kubeconfig_path());
    let manifest = fixture("operator-install.yaml");
    let out = kubectl.ok(&["apply", "-f", &manifest]).await;
    for created in [
        "namespace/pbconnector-system created",
        "serviceaccount/pbconnector created",
        "clusterrole.rbac.authorization.k8s.io/pbconnector created",
        "clusterrolebinding.rbac.authorization.k8s.io/pbconnector created",
        "role.rbac.authorization.k8s.io/pbconnector-leader-election created",
        "rolebinding.rbac.authorization.k8s.io/pbconnector-leader-election created",
        "service/pbconnector-metrics created",
        "deployment.apps/pbconnector created",
        "poddisruptionbudget.policy/pbconnector created",
    ] {
        assert!(out.contains(created), "missing {created:?} in {out}");
    }
    // A changed container image goes out as a strategic merge patch keyed by container name.
    let changed = std::fs::read_to_string(repo().join(&manifest))
        .expect("fixture")
        .replace("pbconnector:0.1.0", "pbconnector:0.2.0");
    let out = kubectl.ok_stdin(&["apply", "-f", "-"], &changed).await;
    assert!(
        out.contains("deployment.apps/pbconnector configured"),
        "{out}"
    );
    assert!(
        out.contains("service/pbconnector-metrics unchanged"),
        "{out}"
    );
    let yaml = kubectl
        .ok(&[
            "get",
            "deployment",
            "pbconnector",
            "-n",
            "pbconnector-system",
            "-o",
            "yaml",
        ])
        .await;
    let deployment: Value = serde_yaml::from_str(&yaml).expect("YAML");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "ghcr.io/example/pbconnector:0.2.0");
    assert_eq!(
        container["args"],
        json!(["run"]),
        "the rest of the container is kept"
    );
    let log = server.requests();
    assert!(log.iter().any(|r| {
        r.verb == "patch"
            && r.resource() == "deployments"
            && r.object_ref
                .as_ref()
                .is_some_and(|o| o.name == "pbconnector")
            && r.code() == 200
    }));
    let out = kubectl
        .ok(&["get", "deployments,services", "-n", "pbconnector-system"])
        .await;
    assert!(
        out.contains("deployment.apps/pbconnector") && out.contains("service/pbconnector-metrics"),
        "{out}"
    );
    // Server-side apply by kubectl: a field manager of its own, conflicts reported.
    let out = kubectl.ok(&["apply", "--server-side", "-f", "crds/"]).await;
    assert!(out.contains("serverside-applied"), "{out}");
    let out = kubectl
        .ok(&["apply", "--server-side", "-f", &fixture("connector.yaml")])
        .await;
    assert!(
        out.contains("azureadconnector.passwordboss.com/contoso serverside-applied"),
        "{out}"
    );
    // No namespace controller runs (no kube-controller-manager): the namespace stays
    // Terminating, so kubectl does not wait for it to go.
    let out = kubectl
        .ok(&["delete", "--wait=false", "-f", &manifest])
        .await;
    assert!(
        out.contains("deployment.apps \"pbconnector\" deleted"),
        "{out}"
    );
    tokio::task::spawn_blocking(move || drop(server))
        .await
        .expect("the API server stops");
}

/// `kubectl get aadc -A` over a fleet tells which company needs attention and why: a healthy
/// connector, one Unauthorized, one holding deprovisions back, one whose syncs stopped (old Last
/// Success). The README's "Running a fleet" sample is this output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_across_namespaces_tells_which_company_needs_attention() {
    let server = tokio::task::spawn_blocking(TestApiServer::start)
        .await
        .expect("the API server starts");
    let kubectl = Kubectl::new(find_kubectl(), server.kubeconfig_path());
    let client = server.client().await;
    kubectl.ok(&["apply", "-f", "crds/"]).await;
    kubectl
        .ok(&[
            "wait",
            "--for=condition=Established",
            "crd/azureadconnectors.passwordboss.com",
        ])
        .await;
    let fixture = std::fs::read_to_string(repo().join(fixture("connector.yaml"))).expect("fixture");
    let ago = |minutes: i64| {
        let at = k8s_openapi::jiff::Timestamp::now()
            - k8s_openapi::jiff::SignedDuration::from_mins(minutes);
        at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    };
    let ready = |value: &str, reason: &str| {
        json!([{"type": "Ready", "status": value, "reason": reason, "message": reason,
            "lastTransitionTime": ago(60 * 24)}])
    };
    let counts = |conflicts: u32| {
        serde_json::to_value(SyncCounts {
            conflicts,
            ..Default::default()
        })
        .expect("counts")
    };
    let fleet = [
        (
            "contoso",
            json!({"connection": "Connected", "conditions": ready("True", "Synced"),
            "users": {"inScope": 812, "active": 800, "pending": 4, "disabled": 8}, "lastSync": counts(0),
            "lastSuccessfulSyncTime": ago(4), "message": "Synced 812 users, 4 groups"}),
        ),
        (
            "fabrikam",
            json!({"connection": "Unauthorized", "conditions": ready("False", "AzureUnauthorized"),
            "users": {"inScope": 140, "active": 140, "pending": 0, "disabled": 0}, "lastSync": counts(0),
            "lastSuccessfulSyncTime": ago(60 * 24 * 2),
            "message": "Microsoft Entra ID refused the credentials: AADSTS7000222: the client secret is expired"}),
        ),
        (
            "tailspin",
            json!({"connection": "Connected", "conditions": ready("False", "DeprovisionBlocked"),
            "users": {"inScope": 57, "active": 299, "pending": 0, "disabled": 0}, "lastSync": counts(3),
            "blocked": {"deprovisions": 242}, "lastSuccessfulSyncTime": ago(1),
            "message": "Synced 57 users, 2 groups; 242 deprovisions blocked by the safety limits"}),
        ),
        (
            "northwind",
            json!({"connection": "Connected", "conditions": ready("True", "Synced"),
            "users": {"inScope": 95, "active": 95, "pending": 0, "disabled": 0}, "lastSync": counts(0),
            "lastSuccessfulSyncTime": ago(180), "message": "Synced 95 users, 1 groups"}),
        ),
    ];
    for (company, status) in &fleet {
        let ns = format!("msp-{company}");
        let manifests = fixture
            .replace("msp-contoso", &ns)
            .replace("name: contoso", &format!("name: {company}"));
        kubectl.ok_stdin(&["apply", "-f", "-"], &manifests).await;
        let api: Api<AzureAdConnector> = Api::namespaced(client.clone(), &ns);
        api.patch_status(
            company,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .expect("the status subresource accepts the status");
    }

    let out = kubectl.ok(&["get", "aadc", "-A"]).await;
    let table = columns(&out);
    let row = |company: &str| {
        table
            .iter()
            .find(|r| r["NAME"] == company)
            .unwrap_or_else(|| panic!("no row for {company}: {out}"))
            .clone()
    };
    let expect = [
        // (name, connection, ready, users, held (empty: none held), conflicts, last success age)
        ("contoso", "Connected", "True", "812", "", "0", "4m"),
        ("fabrikam", "Unauthorized", "False", "140", "", "0", "2d"),
        ("tailspin", "Connected", "False", "57", "242", "3", "6"),
        ("northwind", "Connected", "True", "95", "", "0", "3h"),
    ];
    for (name, connection, ready, users, held, conflicts, success) in expect {
        let r = row(name);
        assert_eq!(r["NAMESPACE"], format!("msp-{name}"), "{out}");
        assert_eq!(
            [
                &r["CONNECTION"],
                &r["READY"],
                &r["USERS"],
                &r["HELD"],
                &r["CONFLICTS"]
            ],
            [connection, ready, users, held, conflicts],
            "{name}: {out}"
        );
        assert!(r["LAST SUCCESS"].starts_with(success), "{name}: {out}");
    }
    let wide = kubectl.ok(&["get", "aadc", "-A", "-o", "wide"]).await;
    assert!(wide.contains("AADSTS7000222"), "{wide}");
    tokio::task::spawn_blocking(move || drop(server))
        .await
        .expect("the API server stops");
}

/// The rows of a `kubectl get` table, cells by header (cut at the header's column starts, so
/// empty cells stay empty).
fn columns(table: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut lines = table.lines();
    let header = lines.next().unwrap_or_default();
    let mut starts = Vec::new();
    let mut previous = ' ';
    for (i, c) in header.char_indices() {
        // A column starts after two spaces (headers such as "LAST SUCCESS" hold one).
        if c != ' ' && (i == 0 || (previous == ' ' && header[..i].ends_with("  "))) {
            starts.push(i);
        }
        previous = c;
    }
    let cell = |line: &str, k: usize| {
        let from = starts[k].min(line.len());
        let to = starts.get(k + 1).map_or(line.len(), |&e| e.min(line.len()));
        line[from..to].trim().to_string()
    };
    lines
        .map(|line| {
            (0..starts.len())
                .map(|k| (cell(header, k), cell(line, k)))
                .collect()
        })
        .collect()
}
