//! `kubectl aadc …` as users run it: the real kubectl finds the built binary through a
//! `kubectl-aadc` link on PATH, against the real API server with the operator (the built
//! binary) running. The plugin runs as a user who may only get, list and patch connectors — no
//! Secret — so every verb shows it needs nothing else.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::support::e2e::{Cluster, NAME, Operator, eventually, sample};
use crate::support::kubectl::find_kubectl;
use pbconnector::resources::{ANNOTATION_APPROVE_DEPROVISIONS, Connection};
use pbconnector_simulators::passwordboss::wire::UserStatus;

const MINUTE: Duration = Duration::from_secs(60);

/// A directory holding `kubectl-aadc`, a link to the built binary, as the README installs it.
fn plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_pbconnector"),
        dir.path().join("kubectl-aadc"),
    )
    .expect("ln -s");
    dir
}

/// A user who may get, list and patch connectors, nothing else (no Secret), and its kubeconfig.
async fn connector_user(cluster: &Cluster, ns: &str) -> PathBuf {
    let rbac = format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: aadc-user, namespace: {ns}}}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: aadc-user-{ns}}}\n\
         rules:\n- apiGroups: [passwordboss.com]\n  resources: [azureadconnectors]\n  verbs: [get, list, patch]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: aadc-user-{ns}}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: aadc-user-{ns}}}\n\
         subjects:\n- {{kind: ServiceAccount, name: aadc-user, namespace: {ns}}}\n"
    );
    cluster.apply(&rbac).await;
    let token = cluster
        .kubectl
        .ok(&["create", "token", "aadc-user", "-n", ns, "--duration=1h"])
        .await;
    cluster
        .server()
        .kubeconfig_for_token(&format!("aadc-user-{ns}"), ns, token.trim())
}

struct Plugin {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Plugin {
    /// `kubectl aadc args…` with no terminal on stdin.
    async fn run(&self, args: &[&str]) -> Out {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![self.dir.path().to_owned()];
        paths.extend(std::env::split_paths(&path));
        let out = tokio::process::Command::new(find_kubectl())
            .arg("aadc")
            .args(args)
            .env("PATH", std::env::join_paths(paths).unwrap())
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .expect("kubectl runs");
        let out = Out {
            code: out.status.code().expect("exited normally"),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(
            !out.stderr.contains("Forbidden") && !out.stderr.contains("forbidden"),
            "the plugin needs no more than connectors: {}",
            out.stderr
        );
        out
    }
}

fn shown(out: &Out) -> String {
    format!("exit {}\n{}\n{}", out.code, out.stdout, out.stderr)
}

/// On an API server of its own: `-A` reaches every connector of the cluster, and must not
/// touch other tests'.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verb_works_through_kubectl_against_the_operator() {
    let cluster = Cluster::owned().await;
    cluster.install_crd().await;
    let ns = cluster.namespace("plugin").await;
    let env = sample(30, "5m").await;
    let operator =
        Operator::start(&cluster.operator_kubeconfig().await, &["--namespace", &ns]).await;
    cluster.apply(&env.manifests(&ns)).await;
    cluster
        .wait_connection(&ns, Connection::Connected, MINUTE)
        .await;
    let plugin = Plugin {
        dir: plugin_dir(),
        kubeconfig: connector_user(&cluster, &ns).await,
    };
    let one = |verb: &'static str| [verb, NAME, "-n", ns.as_str()];

    // status: one in full, and -A as a table.
    let status = plugin.run(&one("status")).await;
    assert_eq!(status.code, 0, "{}", shown(&status));
    assert!(
        status.stdout.contains(&format!("{ns}/{NAME}"))
            && status.stdout.contains("Connection:    Connected")
            && status.stdout.contains("Held back:     nothing"),
        "{}",
        shown(&status)
    );
    let table = plugin.run(&["status", "-A"]).await;
    assert_eq!(table.code, 0, "{}", shown(&table));
    let row = table
        .stdout
        .lines()
        .find(|l| l.starts_with(&ns))
        .unwrap_or_else(|| panic!("a row for {ns}: {}", shown(&table)));
    assert!(
        row.contains(NAME) && row.contains("Connected") && row.contains("True/Synced"),
        "{row}"
    );
    assert!(table.stdout.starts_with("NAMESPACE"), "{}", table.stdout);

    // verify: the checks the operator ran, from status.verify.
    let verify = plugin.run(&one("verify")).await;
    assert_eq!(verify.code, 0, "{}", shown(&verify));
    assert!(
        verify.stdout.contains("✓ Entra ID: token"),
        "{}",
        shown(&verify)
    );
    assert!(!verify.stdout.contains('✗'), "{}", shown(&verify));

    // Everyone leaves the sync group: over the limits, held back.
    env.empty_sync_group();
    let disabled = || {
        env.password_boss
            .azure_users()
            .iter()
            .filter(|u| u.status == UserStatus::Disabled)
            .count()
    };

    // plan: the operator's plan for now, changing nothing.
    let plan = plugin.run(&one("plan")).await;
    assert_eq!(plan.code, 0, "{}", shown(&plan));
    assert!(
        plan.stdout.contains("would be held back") && plan.stdout.contains("approve with"),
        "{}",
        shown(&plan)
    );
    assert_eq!(disabled(), 0, "a plan changes nothing");

    // sync-now --wait: handled, and held (exit 4).
    let sync = plugin.run(&["sync-now", NAME, "-n", &ns, "--wait"]).await;
    assert_eq!(sync.code, 4, "{}", shown(&sync));
    assert!(sync.stdout.contains("Connected"), "{}", shown(&sync));
    assert_eq!(disabled(), 0);

    // approve: shows the held set; without a terminal and without --yes it applies nothing.
    let asked = plugin.run(&one("approve")).await;
    assert_eq!(asked.code, 4, "{}", shown(&asked));
    assert!(
        asked.stdout.contains("approval token:") && asked.stdout.contains("not applied"),
        "{}",
        shown(&asked)
    );
    let first_user = env.password_boss.azure_users()[0].email.clone();
    assert!(
        asked.stdout.contains(&first_user) || asked.stdout.contains("more"),
        "{}",
        shown(&asked)
    );
    let connector = cluster.connectors(&ns).get(NAME).await.unwrap();
    assert!(
        !connector
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key(ANNOTATION_APPROVE_DEPROVISIONS)
    );
    let token = connector.status.unwrap().blocked.unwrap().approval;

    let approved = plugin.run(&["approve", NAME, "-n", &ns, "--yes"]).await;
    assert_eq!(approved.code, 0, "{}", shown(&approved));
    assert!(approved.stdout.contains(&token), "{}", shown(&approved));
    let total = env.password_boss.azure_users().len();
    eventually("the approved set applied", MINUTE, || async {
        (disabled() == total).then_some(())
    })
    .await;

    // -A: one request for every connector, waited for.
    let all = plugin.run(&["sync-now", "-A", "--wait"]).await;
    assert_eq!(all.code, 0, "{}", shown(&all));
    assert!(
        all.stdout.contains(&format!("{ns}/{NAME}: Connected")),
        "{}",
        shown(&all)
    );

    operator.stop().await;
    cluster.cleanup().await;
}

/// The README's install: `ln -s` the binary as `kubectl-aadc`, and kubectl runs it; every
/// verb's help has examples, and a verb needs NAME or -A.
#[tokio::test]
async fn installed_by_a_link_kubectl_lists_it_and_every_help_has_examples() {
    let dir = plugin_dir();
    let plugin = Plugin {
        kubeconfig: Path::new("/nonexistent-kubeconfig").to_owned(),
        dir,
    };
    for verb in ["sync-now", "approve", "verify", "plan", "status"] {
        let help = plugin.run(&[verb, "--help"]).await;
        assert_eq!(help.code, 0, "{}", shown(&help));
        assert!(
            help.stdout.contains("Examples:\n  kubectl aadc"),
            "{}",
            shown(&help)
        );
    }
    let help = plugin.run(&["--help"]).await;
    assert!(help.stdout.contains("ln -s"), "{}", shown(&help));
    let usage = plugin.run(&["status"]).await;
    assert_eq!(usage.code, 2, "NAME or -A: {}", shown(&usage));
}
