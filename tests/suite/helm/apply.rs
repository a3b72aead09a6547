//! The chart installed the ways users install it, against a real kube-apiserver
//! (tests/suite/support/apiserver.rs) with the real helm 4 and kubectl 1.35:
//! - `helm template … | kubectl apply -f -` (what a GitOps controller does) in every mode creates
//!   every object, and applying again changes nothing;
//! - every shell command of the install guides (README.md and charts/pbconnector/README.md) —
//!   `helm install/upgrade/uninstall`, `kubectl create secret`, `apply`, `get`, `wait`,
//!   `annotate`, `delete` — runs in order and succeeds, so the documentation cannot drift from
//!   what works.

use crate::support::apiserver;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::helm;
use crate::support::helm::{
    Helm, RELEASE, RELEASE_NAMESPACE, chart_dir, kind, name, root, text, tool,
};
use apiserver::TestApiServer;
use kube::Api;
use kube::api::{Patch, PatchParams};
use pbconnector::resources::AzureAdConnector;
use serde_json::{Value, json};

/// A minimal stand-in for the Prometheus Operator's ServiceMonitor CRD, which the chart's
/// `serviceMonitor.enabled` mode needs in the cluster (as it does in a real one).
const SERVICE_MONITOR_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: servicemonitors.monitoring.coreos.com}
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {plural: servicemonitors, singular: servicemonitor, kind: ServiceMonitor, listKind: ServiceMonitorList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

/// A shell whose `kubectl` and `helm` are the real binaries, talking to one test API server.
struct Shell {
    kubeconfig: PathBuf,
    path: String,
    dir: tempfile::TempDir,
}

impl Shell {
    /// A missing tool fails the test.
    fn new(server: &TestApiServer) -> Self {
        let kubectl = tool("bin/kubectl");
        tool("bin/helm");
        let bin = kubectl.parent().expect("bin dir").display().to_string();
        let dir = tempfile::tempdir().expect("temp dir");
        // The guides' paths are relative to a checkout of the project.
        for entry in ["charts", "crds", "examples"] {
            std::os::unix::fs::symlink(root().join(entry), dir.path().join(entry))
                .expect("symlink into the working directory");
        }
        Self {
            kubeconfig: server.kubeconfig_path().to_owned(),
            path: format!("{bin}:{}", std::env::var("PATH").unwrap_or_default()),
            dir,
        }
    }

    fn cwd(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `script` with bash (pipefail) on a blocking thread.
    async fn run(&self, script: &str) -> Output {
        let mut cmd = Command::new("bash");
        cmd.args(["-euo", "pipefail", "-c", script])
            .current_dir(self.cwd())
            .env("KUBECONFIG", &self.kubeconfig)
            .env("PATH", &self.path)
            .env("HOME", self.cwd());
        tokio::task::spawn_blocking(move || cmd.output().expect("bash runs"))
            .await
            .expect("the command thread")
    }

    /// Runs `script`, failing the test when it fails; returns stdout.
    async fn ok(&self, script: &str) -> String {
        let out = self.run(script).await;
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        eprintln!("$ {script}\n{stdout}{stderr}");
        assert!(
            out.status.success(),
            "`{script}` failed ({}):\n{stdout}{stderr}",
            out.status
        );
        stdout
    }
}

/// `helm template` of the chart with `args` (release namespace, `--set`s…).
fn template(args: &str) -> String {
    format!(
        "helm template {RELEASE} {} -f {} {args}",
        chart_dir().display(),
        helm::image_values().display()
    )
}

fn rendered(helm: &Helm, values: &str) -> Vec<Value> {
    let text = helm
        .try_template(values, &["--include-crds"])
        .expect("the chart renders");
    helm::parse_documents(&text)
}

/// kubectl's name for an object in apply output: `deployment.apps/pbc-pbconnector`.
fn kubectl_ref(doc: &Value) -> String {
    let group = doc["apiVersion"]
        .as_str()
        .and_then(|v| v.rsplit_once('/'))
        .map(|(group, _)| format!(".{group}"))
        .unwrap_or_default();
    format!("{}{group}/{}", kind(doc).to_lowercase(), name(doc))
}

/// Outside the default mode, the only cluster-wide grant is on the cluster-scoped shared apps
/// (`AzureAdApplication`): nothing namespaced, no Secret, cluster-wide.
fn assert_only_the_applications_cluster_role(docs: &[Value], mode: &str) {
    let cluster_roles: Vec<&Value> = docs.iter().filter(|d| kind(d) == "ClusterRole").collect();
    assert_eq!(cluster_roles.len(), 1, "{mode}: one ClusterRole");
    for rule in cluster_roles[0]["rules"].as_array().expect("rules") {
        for resource in rule["resources"].as_array().expect("resources") {
            let resource = resource.as_str().expect("a resource");
            assert!(
                resource.starts_with("azureadapplications"),
                "{mode}: cluster-wide grant on {resource}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_chart_applies_with_kubectl_in_every_mode_and_reapplies_unchanged() {
    let helm = Helm::find();
    let modes = [
        ("default", ""),
        ("single namespace", "watchNamespace: msp-contoso\n"),
        (
            "several namespaces",
            "watchNamespaces: [msp-contoso, msp-fabrikam]\nallowedEndpointHosts: [pb.internal:8443]\n\
             networkPolicy:\n  enabled: true\n  metricsFrom:\n  - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}\n",
        ),
        (
            "two replicas with ServiceMonitor",
            "replicaCount: 2\nserviceMonitor:\n  enabled: true\n",
        ),
        ("three shards", "shards: 3\nreplicaCount: 2\n"),
    ];
    for (mode, values) in modes {
        let server = start_server().await;
        let sh = Shell::new(&server);
        sh.ok(&format!("kubectl create namespace {RELEASE_NAMESPACE}"))
            .await;
        sh.ok("kubectl create namespace msp-contoso").await;
        sh.ok("kubectl create namespace msp-fabrikam").await;
        sh.ok(&format!(
            "cat <<'EOF' | kubectl apply -f -\n{SERVICE_MONITOR_CRD}\nEOF"
        ))
        .await;
        let values_file = sh.cwd().join("values.yaml");
        std::fs::write(&values_file, values).expect("values file");
        let apply = format!(
            "{} --namespace {RELEASE_NAMESPACE} --include-crds -f values.yaml | kubectl apply -f -",
            template("")
        );

        let out = sh.ok(&apply).await;
        let docs = rendered(&helm, values);
        assert!(docs.len() >= 6, "{mode}: the chart renders its objects");
        for doc in &docs {
            let line = format!("{} created", kubectl_ref(doc));
            assert!(out.contains(&line), "{mode}: missing `{line}` in:\n{out}");
            let namespace = doc["metadata"]["namespace"].as_str();
            let ns_arg = namespace.map(|ns| format!("-n {ns} ")).unwrap_or_default();
            let stored = sh
                .ok(&format!("kubectl get {ns_arg}{} -o json", kubectl_ref(doc)))
                .await;
            let stored: Value = serde_json::from_str(&stored).expect("kubectl prints JSON");
            assert_eq!(stored["metadata"]["name"], doc["metadata"]["name"]);
            // The server adds its defaults (clusterIP, termination policies…); everything the
            // chart wrote is stored as written.
            for field in ["spec", "rules", "subjects", "roleRef"] {
                if !doc[field].is_null() && kind(doc) != "CustomResourceDefinition" {
                    let at = format!("{mode}: {} {} .{field}", kind(doc), name(doc));
                    assert_written(&stored[field], &doc[field], &at);
                }
            }
        }
        let scoped = |k: &str| docs.iter().filter(|d| kind(d) == k).count();
        match mode {
            "single namespace" => {
                assert_only_the_applications_cluster_role(&docs, mode);
                let roles = sh.ok("kubectl -n msp-contoso get role -o name").await;
                assert!(roles.contains("role.rbac.authorization.k8s.io/"), "{roles}");
            }
            "several namespaces" => {
                assert_only_the_applications_cluster_role(&docs, mode);
                for ns in ["msp-contoso", "msp-fabrikam"] {
                    let roles = sh.ok(&format!("kubectl -n {ns} get role -o name")).await;
                    assert!(
                        roles.contains("role.rbac.authorization.k8s.io/"),
                        "{ns}: {roles}"
                    );
                    let bindings = sh
                        .ok(&format!("kubectl -n {ns} get rolebinding -o name"))
                        .await;
                    assert!(
                        bindings.contains("rolebinding.rbac.authorization.k8s.io/"),
                        "{ns}: {bindings}"
                    );
                }
            }
            "two replicas with ServiceMonitor" => {
                for k in ["PodDisruptionBudget", "ServiceMonitor"] {
                    assert_eq!(scoped(k), 1, "{mode}: one {k}");
                }
                // The leader Lease's and the company claims'.
                assert_eq!(scoped("Role"), 2, "{mode}: two Roles");
            }
            "three shards" => {
                for k in ["Deployment", "PodDisruptionBudget"] {
                    assert_eq!(scoped(k), 3, "{mode}: one {k} per shard");
                }
                assert_eq!(scoped("ServiceAccount"), 1, "{mode}: one ServiceAccount");
                assert_eq!(scoped("ClusterRole"), 2, "{mode}: two ClusterRoles");
                let deployments = sh
                    .ok(&format!(
                        "kubectl -n {RELEASE_NAMESPACE} get deployment -o name"
                    ))
                    .await;
                for i in 0..3 {
                    let line = format!("deployment.apps/pbc-pbconnector-shard-{i}");
                    assert!(deployments.contains(&line), "{deployments}");
                }
            }
            // The operator's, and the shared apps' (cluster-scoped).
            _ => assert_eq!(scoped("ClusterRole"), 2, "{mode}: two ClusterRoles"),
        }

        // What Argo CD or Flux does on every sync: nothing changes, nothing is rewritten.
        let before = resource_versions(&sh, &docs).await;
        let out = sh.ok(&apply).await;
        for doc in &docs {
            // kubectl always sends a PodDisruptionBudget's selector (its patch strategy is
            // `replace`), so it reports it `configured`; the server sees no change.
            let outcome = match kind(doc) {
                "PodDisruptionBudget" => "configured",
                _ => "unchanged",
            };
            let line = format!("{} {outcome}", kubectl_ref(doc));
            assert!(out.contains(&line), "{mode}: missing `{line}` in:\n{out}");
        }
        assert_eq!(
            resource_versions(&sh, &docs).await,
            before,
            "{mode}: re-applying the same manifests wrote nothing"
        );
        stop_server(server).await;
    }
}

/// `written` is kept in `stored`: every field it has is there with the same value (objects may
/// gain the server's defaults; lists keep their length and order).
fn assert_written(stored: &Value, written: &Value, at: &str) {
    match (stored, written) {
        (Value::Object(s), Value::Object(w)) => {
            for (key, value) in w {
                let got = s.get(key).unwrap_or(&Value::Null);
                assert_written(got, value, &format!("{at}.{key}"));
            }
        }
        (Value::Array(s), Value::Array(w)) => {
            assert_eq!(s.len(), w.len(), "{at}: {stored} stored for {written}");
            for (i, (s, w)) in s.iter().zip(w).enumerate() {
                assert_written(s, w, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(stored, written, "{at}"),
    }
}

/// A real API server of the test's own (each mode and guide installs cluster-wide objects).
async fn start_server() -> TestApiServer {
    tokio::task::spawn_blocking(TestApiServer::start)
        .await
        .expect("the API server starts")
}

async fn stop_server(server: TestApiServer) {
    tokio::task::spawn_blocking(move || drop(server))
        .await
        .expect("the API server stops");
}

/// The stored resourceVersion of each of `docs`: unchanged exactly when nothing was written.
async fn resource_versions(sh: &Shell, docs: &[Value]) -> Vec<String> {
    let mut versions = Vec::new();
    for doc in docs {
        let ns_arg = doc["metadata"]["namespace"]
            .as_str()
            .map(|ns| format!("-n {ns} "))
            .unwrap_or_default();
        versions.push(
            sh.ok(&format!(
                "kubectl get {ns_arg}{} -o jsonpath='{{.metadata.resourceVersion}}'",
                kubectl_ref(doc)
            ))
            .await,
        );
    }
    versions
}

/// The shell commands of a markdown guide in order: fenced `sh` blocks (continuation lines
/// joined, comments dropped) and inline `kubectl …` code spans in the prose.
fn guide_commands(markdown: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in markdown.replace("\\\n", " ").lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_sh = !in_sh && trimmed == "```sh";
            continue;
        }
        if in_sh {
            let command = strip_comment(trimmed);
            if !command.is_empty() {
                commands.push(command);
            }
        } else {
            commands.extend(
                trimmed
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .filter(|span| span.starts_with("kubectl "))
                    .map(str::to_owned),
            );
        }
    }
    commands
        .into_iter()
        .map(|c| c.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// Drops a trailing `# comment` (outside quotes) and returns the trimmed command.
fn strip_comment(line: &str) -> String {
    let mut quote = None;
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if previous.is_whitespace() => return line[..i].trim().to_owned(),
            _ => {}
        }
        previous = c;
    }
    line.trim().to_owned()
}

/// The operator's part, which this test does not run (tests/e2e_*.rs do): a Ready status, so
/// the guide's `kubectl wait --for=condition=Ready` and jsonpath commands have something to read.
async fn connector_reports_ready(server: &TestApiServer) {
    let api: Api<AzureAdConnector> = Api::namespaced(server.client().await, "msp-contoso");
    let generation = api
        .get("contoso")
        .await
        .expect("connector")
        .metadata
        .generation;
    let status = json!({"status": {
        "connection": "Connected",
        "message": "Dry run: 2 users would be created",
        "plan": [{"action": "CreateUser", "target": "ada@contoso.com"}],
        "conditions": [{"type": "Ready", "status": "True", "reason": "Synced",
            "message": "Dry run", "lastTransitionTime": "2026-11-25T00:00:00Z",
            "observedGeneration": generation}]}});
    api.patch_status("contoso", &PatchParams::default(), &Patch::Merge(status))
        .await
        .expect("status written");
}

/// Runs every command of `guide` in order against a fresh API server.
async fn walk_through(guide: &Path) {
    let markdown = std::fs::read_to_string(guide).expect("the guide exists");
    let commands = guide_commands(&markdown);
    assert!(
        commands.iter().any(|c| c.starts_with("helm install"))
            && commands
                .iter()
                .any(|c| c.starts_with("kubectl -n msp-contoso annotate")),
        "{} shows the install and the sync-now commands: {commands:#?}",
        guide.display()
    );
    let server = start_server().await;
    let sh = Shell::new(&server);
    // The files the guide tells the user to have: the connector it shows, a certificate pair.
    if let Some(yaml) = markdown
        .split("```yaml\n# contoso.yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
    {
        std::fs::write(sh.cwd().join("contoso.yaml"), yaml).expect("contoso.yaml");
    }
    for file in ["app.crt", "app.key", "proxy-ca.crt"] {
        std::fs::write(sh.cwd().join(file), "not a real PEM\n").expect("PEM stand-in");
    }
    sh.ok(&format!(
        "cat <<'EOF' | kubectl apply -f -\n{SERVICE_MONITOR_CRD}\nEOF"
    ))
    .await;

    for command in commands {
        if command.contains("wait --for=condition=Ready") {
            connector_reports_ready(&server).await;
        }
        let out = sh.ok(&command).await;
        if command.contains("get aadc -A") {
            assert!(out.contains("contoso"), "the connector is listed: {out}");
        }
        if command.contains("annotate aadc/contoso") {
            assert!(out.contains("annotated"), "{out}");
        }
        if command.starts_with("helm install") || command.starts_with("helm upgrade") {
            assert!(out.contains("STATUS: deployed"), "{out}");
        }
        if command.starts_with("helm uninstall") {
            let releases = sh.ok("helm list -A -q").await;
            assert!(
                releases.trim().is_empty(),
                "nothing left installed: {releases}"
            );
        }
    }
    if markdown.contains("kubectl delete crd azureadconnectors") {
        let left = sh.ok("kubectl get crd -o name").await;
        assert!(
            !left.contains("azureadconnectors"),
            "the guide ends uninstalled: {left}"
        );
    }
    stop_server(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_of_the_chart_install_guide_runs() {
    walk_through(&chart_dir().join("README.md")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_of_the_readme_install_summary_runs() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let install = readme
        .split("## Install in a cluster")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the README has an install section");
    let guide = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(guide.path(), install).expect("write the section");
    walk_through(guide.path()).await;
}

#[test]
fn guide_commands_are_read_as_a_shell_would() {
    let guide = "text `kubectl get x` more `other`\n```sh\nhelm install a ./c \\\n  --namespace n   # note\nkubectl annotate x a=\"$(date) # not a comment\"\n# a comment\n```\n```yaml\nkubectl: no\n```\n";
    assert_eq!(
        guide_commands(guide),
        [
            "kubectl get x",
            "helm install a ./c --namespace n",
            "kubectl annotate x a=\"$(date) # not a comment\"",
        ]
    );
}
