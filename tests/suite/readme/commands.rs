//! Every shell command the README shows is run by a test. Each command matches exactly one
//! entry of `COVERAGE`, and each entry matches a command (a stale entry fails too):
//! - `Here`: this file runs it, as written, in `sh` against the shared real API server (with the
//!   built `pbconnector` on `PATH` and a kubeconfig whose namespace holds a connector `contoso`);
//! - `Walked`: a command of the "Install in a cluster" `sh` blocks, which
//!   `helm::apply::every_command_of_the_readme_install_summary_runs` runs in order against a
//!   fresh API server;
//! - `By(file)`: that test file takes the command's text from the README
//!   (`support::readme::command(marker)`), checked here by reading its source;
//! - `Script(file)`: a script CI runs holds the command verbatim;
//! - `Not(reason)`: cannot run here (the reader's own registry or Vault); the README says
//!   "on your workstation".

use std::path::Path;

use crate::support::e2e::{Cluster, NAME};
use crate::support::kubectl::find_kubectl;
use crate::support::readme::{self, commands, commands_of};
use kube::api::{Patch, PatchParams};
use serde_json::json;

enum Runs {
    Here,
    Walked,
    By(&'static str),
    Script(&'static str),
    Not(&'static str),
}

const COVERAGE: &[(&str, Runs)] = &[
    (
        "cargo run --release -- demo",
        Runs::By("tests/suite/cli/demo.rs"),
    ),
    (
        "scripts/test.sh",
        Runs::Not(
            "the test runner itself: CI runs exactly it (.ci/run), it cannot run inside the suite it runs",
        ),
    ),
    ("scripts/build-image.sh", Runs::Script("scripts/test.sh")),
    (
        "skopeo copy oci-archive:target/image/pbconnector-amd64.oci.tar docker://registry.example.com/",
        Runs::Not(
            "pushes to the reader's own registry; the chart README's push runs against an in-memory OCI registry in container::registry",
        ),
    ),
    (
        "helm install pbconnector ./charts/pbconnector",
        Runs::Walked,
    ),
    ("kubectl create namespace msp-contoso", Runs::Walked),
    ("kubectl -n msp-contoso create secret generic", Runs::Walked),
    ("kubectl apply -f examples/connector.yaml", Runs::Walked),
    ("kubectl get aadc -A", Runs::Walked),
    (
        "kubectl -n msp-contoso wait --for=condition=Ready",
        Runs::Walked,
    ),
    ("kubectl apply -f crds/", Runs::Here),
    (
        "kubectl apply --dry-run=server -f examples/connector-full.yaml",
        Runs::Here,
    ),
    (
        "kubectl get aadc/contoso -o jsonpath='{range .status.blocked.users",
        Runs::Here,
    ),
    (
        "kubectl annotate aadc/contoso --overwrite passwordboss.com/approve-deprovisions=",
        Runs::Here,
    ),
    (
        "kubectl annotate aadc/contoso --overwrite passwordboss.com/verify-requested-at=",
        Runs::Here,
    ),
    (
        "kubectl get aadc/contoso -o jsonpath='{range .status.verify.checks",
        Runs::Here,
    ),
    (
        "ln -s \"$(command -v pbconnector)\" ~/.local/bin/kubectl-aadc",
        Runs::Here,
    ),
    ("kubectl aadc status -A", Runs::Here),
    (
        "export ENTRA_CLIENT_SECRET=\"$(vault kv get",
        Runs::Not(
            "reads the reader's HashiCorp Vault; --secret-from-env and --secret-from-stdin run in cli::standalone",
        ),
    ),
    (
        "vault kv get -field=token secret/passwordboss | pbconnector sync",
        Runs::Not(
            "reads the reader's HashiCorp Vault; --secret-from-env and --secret-from-stdin run in cli::standalone",
        ),
    ),
    (
        "helm upgrade pbconnector charts/pbconnector --reuse-values --set freezeDestructiveChanges=true",
        Runs::By("tests/suite/helm/chart.rs"),
    ),
    (
        "kubectl create secret generic msp-app -n pbconnector-system",
        Runs::Here,
    ),
    ("kubectl apply -f examples/shared-app.yaml", Runs::Here),
    ("kubectl get aadapp -o wide", Runs::Here),
    ("pbconnector consent-url --client-id", Runs::Here),
    (
        "kubectl get aadapp msp-app -o jsonpath='{range .status.tenants",
        Runs::Here,
    ),
    (
        "kubectl -n msp-contoso annotate aadc/contoso passwordboss.com/verify-requested-at=",
        Runs::Here,
    ),
    ("kubectl -n msp-contoso get aadc", Runs::Here),
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn entry(command: &str) -> &'static (&'static str, Runs) {
    let matching: Vec<&(&str, Runs)> = COVERAGE
        .iter()
        .filter(|(marker, _)| command.starts_with(marker))
        .collect();
    match matching.as_slice() {
        [one] => one,
        [] => panic!(
            "the README shows `{command}`, which no test runs: run it in a test and add it to \
             COVERAGE in tests/suite/readme/commands.rs"
        ),
        many => panic!(
            "`{command}` matches several COVERAGE entries: {:?}",
            many.iter().map(|e| e.0).collect::<Vec<_>>()
        ),
    }
}

/// The install section's `sh` blocks: what the install walk-through runs.
fn walked() -> Vec<String> {
    let readme = std::fs::read_to_string(readme::path()).expect("README.md");
    let install = readme
        .split("## Install in a cluster")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the README has an install section");
    // Only `sh` blocks are walked: hide the other shell languages.
    let only_sh = install
        .replace("```bash", "```text")
        .replace("```console", "```text");
    commands_of(&only_sh)
}

#[test]
fn every_readme_command_is_run_by_a_test() {
    let all = commands();
    assert!(
        all.len() >= 15,
        "the README's commands were found: {all:#?}"
    );
    let walked = walked();
    for command in &all {
        let (marker, runs) = entry(command);
        match runs {
            Runs::Here => {}
            Runs::Not(reason) => {
                assert!(reason.len() > 20, "`{command}` is not run: say why");
                eprintln!("not run here: `{command}`: {reason}");
            }
            Runs::Walked => assert!(
                walked.contains(command),
                "`{command}` is not in an `sh` block of the install section, which the install \
                 walk-through runs"
            ),
            Runs::By(file) => {
                let source = std::fs::read_to_string(repo().join(file)).expect(file);
                let lookup = format!("readme::command({marker:?}");
                let squeeze = |s: &str| s.split_whitespace().collect::<String>();
                assert!(
                    squeeze(&source).contains(&squeeze(&lookup)),
                    "{file} should take `{command}` from the README with {lookup})"
                );
            }
            Runs::Script(file) => {
                let script = std::fs::read_to_string(repo().join(file)).expect(file);
                assert!(script.contains(command.as_str()), "{file} runs `{command}`");
            }
        }
    }
    for (marker, _) in COVERAGE {
        assert!(
            all.iter().any(|c| c.starts_with(marker)),
            "COVERAGE lists {marker:?}, which the README no longer shows: drop it"
        );
    }
    let not_run = COVERAGE
        .iter()
        .filter(|(_, r)| matches!(r, Runs::Not(_)))
        .count();
    assert!(not_run <= 6, "few commands may go unrun: {not_run}");
}

/// Runs `command` in `sh` in `dir`, with the built binary and kubectl on PATH, HOME=`dir`.
fn sh(dir: &Path, kubeconfig: &Path, command: &str) -> String {
    shell("sh", dir, kubeconfig, command)
}

/// Runs `command` in `bash` (a README `bash` block: process substitution), like [`sh`].
fn bash(dir: &Path, kubeconfig: &Path, command: &str) -> String {
    shell("bash", dir, kubeconfig, command)
}

fn shell(program: &str, dir: &Path, kubeconfig: &Path, command: &str) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_pbconnector"));
    let kubectl = find_kubectl();
    let path = format!(
        "{}:{}:{}:{}",
        dir.join(".local/bin").display(),
        bin.parent().expect("bin dir").display(),
        kubectl.parent().expect("kubectl dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new(program)
        .args(["-c", command])
        .current_dir(dir)
        .env("PATH", path)
        .env("HOME", dir)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .expect("sh runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "`{command}` failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The `Here` commands, as written, against the shared API server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_commands_run_here_succeed_as_written() {
    let cluster = Cluster::shared().await;
    let ns = cluster.namespace("readme").await;
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join(".local/bin")).expect("~/.local/bin");
    for sub in ["crds", "examples"] {
        std::os::unix::fs::symlink(repo().join(sub), dir.path().join(sub)).expect("link");
    }
    // The admin kubeconfig, with the test's namespace as the context's.
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::copy(cluster.server().kubeconfig_path(), &kubeconfig).expect("kubeconfig");
    sh(
        dir.path(),
        &kubeconfig,
        &format!("kubectl config set-context --current --namespace={ns}"),
    );
    let here = |marker: &str| {
        let command = readme::command(marker);
        assert!(matches!(entry(&command).1, Runs::Here));
        command
    };

    sh(dir.path(), &kubeconfig, &here("kubectl apply -f crds/"));
    let full = sh(
        dir.path(),
        &kubeconfig,
        &here("kubectl apply --dry-run=server -f examples/connector-full.yaml"),
    );
    assert!(full.contains("(server dry run)"), "{full}");

    // A connector `contoso` in the namespace, with a held set and verify answers in status.
    let connector = std::fs::read_to_string(repo().join("examples/connector.yaml"))
        .expect("examples/connector.yaml")
        .replace("namespace: msp-contoso", &format!("namespace: {ns}"));
    cluster.apply(&connector).await;
    let api = cluster.connectors(&ns);
    let status = json!({"status": {
        "connection": "Connected",
        "message": "1 deprovision held back",
        "blocked": {"approval": "1-0a1b2c3d", "deprovisions": 1, "groupChanges": 0,
            "users": [{"email": "ada@contoso.com", "action": "Disable", "reason": "RemovedFromGroup"}]},
        "verify": {"requestedAt": "v0", "checks": [
            {"name": "Entra token", "ok": true, "message": "issued"}]}}});
    api.patch_status(NAME, &PatchParams::default(), &Patch::Merge(status))
        .await
        .expect("status written");

    let held = sh(
        dir.path(),
        &kubeconfig,
        &here("kubectl get aadc/contoso -o jsonpath='{range .status.blocked.users"),
    );
    assert_eq!(held.trim(), "Disable ada@contoso.com RemovedFromGroup");
    sh(
        dir.path(),
        &kubeconfig,
        &here("kubectl annotate aadc/contoso --overwrite passwordboss.com/approve-deprovisions="),
    );
    let annotations = api.get(NAME).await.expect("connector").metadata.annotations;
    assert_eq!(
        annotations
            .as_ref()
            .and_then(|a| a.get("passwordboss.com/approve-deprovisions"))
            .map(String::as_str),
        Some("1-0a1b2c3d")
    );
    sh(
        dir.path(),
        &kubeconfig,
        &here("kubectl annotate aadc/contoso --overwrite passwordboss.com/verify-requested-at="),
    );
    let checks = sh(
        dir.path(),
        &kubeconfig,
        &here("kubectl get aadc/contoso -o jsonpath='{range .status.verify.checks"),
    );
    assert_eq!(checks.trim(), "true Entra token issued");

    sh(
        dir.path(),
        &kubeconfig,
        &here("ln -s \"$(command -v pbconnector)\" ~/.local/bin/kubectl-aadc"),
    );
    let listed = sh(dir.path(), &kubeconfig, &here("kubectl aadc status -A"));
    assert!(listed.contains(&ns) && listed.contains(NAME), "{listed}");
    cluster.cleanup().await;
}

/// The "MSP quick start" commands, as written (the first in `bash`: process substitution), on
/// an API server of their own: they write the cluster-wide names of the README (`msp-app`,
/// `pbconnector-system`, `msp-contoso`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_msp_quick_start_commands_run_as_written() {
    let cluster = Cluster::owned().await;
    let dir = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink(repo().join("examples"), dir.path().join("examples")).expect("link");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::copy(cluster.server().kubeconfig_path(), &kubeconfig).expect("kubeconfig");
    let here = |marker: &str| {
        let command = readme::command(marker);
        assert!(matches!(entry(&command).1, Runs::Here));
        command
    };
    std::os::unix::fs::symlink(repo().join("crds"), dir.path().join("crds")).expect("link");
    sh(dir.path(), &kubeconfig, &here("kubectl apply -f crds/"));
    sh(
        dir.path(),
        &kubeconfig,
        "kubectl create namespace pbconnector-system",
    );
    // The app's certificate and key, as the reader keeps them after uploading the certificate.
    let certified = rcgen::generate_simple_self_signed(vec!["msp-app".to_owned()]).expect("cert");
    std::fs::write(dir.path().join("msp-app.crt"), certified.cert.pem()).expect("crt");
    std::fs::write(
        dir.path().join("msp-app.key"),
        certified.signing_key.serialize_pem(),
    )
    .expect("key");

    bash(
        dir.path(),
        &kubeconfig,
        &here("kubectl create secret generic msp-app -n pbconnector-system"),
    );
    let secret: k8s_openapi::api::core::v1::Secret =
        kube::Api::namespaced(cluster.client.clone(), "pbconnector-system")
            .get("msp-app")
            .await
            .expect("the Secret msp-app");
    let pem = secret.data.expect("data")["tls.pem"].0.clone();
    let pem = String::from_utf8(pem).expect("PEM");
    assert!(
        pem.contains("BEGIN CERTIFICATE") && pem.contains("PRIVATE KEY"),
        "tls.pem holds the certificate and its key"
    );

    let applied = sh(
        dir.path(),
        &kubeconfig,
        &here("kubectl apply -f examples/shared-app.yaml"),
    );
    assert!(
        applied.contains("azureadapplication.passwordboss.com/msp-app created")
            && applied.contains("azureadconnector.passwordboss.com/contoso created"),
        "{applied}"
    );
    let listed = sh(dir.path(), &kubeconfig, &here("kubectl get aadapp -o wide"));
    assert!(
        listed.contains("msp-app") && listed.contains("11111111-2222-3333-4444-555555555555"),
        "{listed}"
    );

    let url = sh(
        dir.path(),
        &kubeconfig,
        &here("pbconnector consent-url --client-id"),
    );
    assert!(
        url.contains("7c0c36f5-1111-2222-3333-444444444444/adminconsent")
            && url.contains("client_id=11111111-2222-3333-4444-555555555555"),
        "{url}"
    );
    // The app's status as the operator writes it.
    let apps: kube::Api<pbconnector::resources::AzureAdApplication> =
        kube::Api::all(cluster.client.clone());
    let status = json!({"status": {"boundTenants": 1, "consentedTenants": 0, "tenants": [{
        "tenantId": "7c0c36f5-1111-2222-3333-444444444444", "consent": "Missing",
        "adminConsentUrl": url.trim()}]}});
    apps.patch_status("msp-app", &PatchParams::default(), &Patch::Merge(status))
        .await
        .expect("status written");
    let tenants = sh(
        dir.path(),
        &kubeconfig,
        &here("kubectl get aadapp msp-app -o jsonpath='{range .status.tenants"),
    );
    assert_eq!(
        tenants.trim(),
        format!(
            "7c0c36f5-1111-2222-3333-444444444444 Missing {}",
            url.trim()
        )
    );

    sh(
        dir.path(),
        &kubeconfig,
        &here("kubectl -n msp-contoso annotate aadc/contoso passwordboss.com/verify-requested-at="),
    );
    let connector = cluster
        .connectors("msp-contoso")
        .get(NAME)
        .await
        .expect("connector");
    let requested = connector
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("passwordboss.com/verify-requested-at"))
        .expect("the verify annotation");
    assert!(requested.parse::<u64>().is_ok(), "{requested}");
    let connectors = sh(
        dir.path(),
        &kubeconfig,
        &here("kubectl -n msp-contoso get aadc"),
    );
    assert!(connectors.contains(NAME), "{connectors}");
    cluster.cleanup().await;
}
