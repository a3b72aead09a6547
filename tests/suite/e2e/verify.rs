//! `passwordboss.com/verify-requested-at`: the `pbconnector verify` checks run by the operator
//! (the built binary, with the chart's identity) against a real kube-apiserver, written into
//! `status.verify`.

use std::time::Duration;

use crate::support::e2e::{NAME, Operator, cluster_with_sample};
use pbconnector::resources::{ANNOTATION_VERIFY_REQUESTED_AT, Connection};

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verify_annotation_writes_each_check_and_the_consent_page_into_status() {
    let (cluster, ns, env) = cluster_with_sample("e2e-verify", 5, "5m").await;
    let operator =
        Operator::start(&cluster.operator_kubeconfig().await, &["--namespace", &ns]).await;
    cluster.apply(&env.manifests(&ns)).await;
    cluster
        .wait_connection(&ns, Connection::Connected, MINUTE)
        .await;

    let annotate = |value: &'static str| {
        let kubectl = &cluster.kubectl;
        let ns = ns.clone();
        async move {
            kubectl
                .ok(&[
                    "-n",
                    &ns,
                    "annotate",
                    &format!("aadc/{NAME}"),
                    "--overwrite",
                    &format!("{ANNOTATION_VERIFY_REQUESTED_AT}={value}"),
                ])
                .await;
        }
    };

    annotate("v1").await;
    let status = cluster
        .wait_status(&ns, "verify v1 answered", MINUTE, |s| {
            s.verify.as_ref().is_some_and(|v| v.requested_at == "v1")
        })
        .await;
    let first = status.verify.expect("verify");
    let next_allowed = first
        .next_allowed_time
        .clone()
        .expect("the status says when the next verify is allowed")
        .0;
    let checks = &first.checks;
    let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
    for start in [
        "Entra ID: token",
        "Sync group \"Password Boss Users\": found",
        "Members readable",
        "Password Boss: token accepted",
        "Licences:",
    ] {
        assert!(
            names.iter().any(|n| n.starts_with(start)),
            "{start:?} in {names:?}"
        );
    }

    // Consent revoked: the Entra check fails and names the tenant's admin-consent page. The
    // request comes within the minute: it is answered once the next verify is allowed.
    env.tenant.set_consent(&env.client_id, false);
    annotate("v2").await;
    let status = cluster
        .wait_status(&ns, "verify v2 answered", 3 * MINUTE, |s| {
            s.verify.as_ref().is_some_and(|v| v.requested_at == "v2")
        })
        .await;
    let second = status.verify.expect("verify");
    let ran = second.time.expect("when it ran").0;
    assert!(
        ran >= next_allowed,
        "the second verify ran at {ran}, before {next_allowed}"
    );
    let checks = second.checks;
    let entra = checks
        .iter()
        .find(|c| c.name.starts_with("Entra ID"))
        .expect("the Entra check");
    assert!(!entra.ok, "{entra:?}");
    let consent = format!(
        "/{}/adminconsent?client_id={}",
        env.tenant_domain, env.client_id
    );
    assert!(entra.message.contains(&consent), "{entra:?}");
    assert!(
        checks
            .iter()
            .any(|c| c.ok && c.name.starts_with("Password Boss: token accepted")),
        "the other side is still checked: {checks:?}"
    );
    let shown = serde_json::to_string(&checks).unwrap();
    assert!(!shown.contains(&env.client_secret), "no secret in status");

    operator.stop().await;
    cluster.cleanup().await;
}
