//! Issue 15 end to end, through kubectl and a real kube-apiserver: the operator as installed sends
//! credentials only where its administrator allows; a connector naming any other host is
//! refused (Ready=False, EndpointNotAllowed) with nothing sent; the operator watches exactly the
//! namespaces it is given; a workload identity can no longer name a file.

use std::time::Duration;

use crate::support::apiserver;
use crate::support::e2e::{Cluster, InProcess, NAME, Operator, sample};
use pbconnector::controller::PipelineEngine;
use pbconnector::resources::{ANNOTATION_VERIFY_REQUESTED_AT, AzureAdConnectorStatus, Connection};
use pbconnector_simulators::graph::{FederatedCredential, JwtAlgorithm};
use pbconnector_simulators::sample::SampleEnvironment;

const MINUTE: Duration = Duration::from_secs(60);

/// `manifests` with the connector's `field` set to `value` (the line that holds it replaced).
fn with_field(manifests: &str, field: &str, value: &str) -> String {
    let key = format!("{field}:");
    let mut out: Vec<String> = Vec::new();
    for line in manifests.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with(&key) {
            let indent = &line[..line.len() - trimmed.len()];
            out.push(format!("{indent}{key} {value}"));
        } else {
            out.push(line.to_owned());
        }
    }
    out.join("\n") + "\n"
}

fn ready_reason(status: &AzureAdConnectorStatus) -> Option<&str> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.reason.as_str())
}

fn nothing_sent(env: &SampleEnvironment) {
    assert_eq!(
        env.graph.requests().total_http(),
        0,
        "no token or Graph request"
    );
    assert_eq!(
        env.password_boss.requests().total(),
        0,
        "no Password Boss request"
    );
}

async fn refused(cluster: &Cluster, ns: &str) -> AzureAdConnectorStatus {
    cluster
        .wait_status(ns, "Ready=False/EndpointNotAllowed", MINUTE, |s| {
            ready_reason(s) == Some("EndpointNotAllowed")
        })
        .await
}

/// The built operator with its default flags, as the chart runs it: the simulators listen on
/// loopback, so a connector pointing at them — any listener an attacker runs — gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_as_installed_sends_nothing_to_a_host_it_does_not_allow() {
    let cluster = Cluster::shared().await;
    let ns = cluster.namespace("e2e-strict").await;
    let env = sample(10, "10s").await;
    let operator =
        Operator::start_strict(&cluster.operator_kubeconfig().await, &["--namespace", &ns]).await;
    cluster.apply(&env.manifests(&ns)).await;

    let status = refused(&cluster, &ns).await;
    assert_eq!(status.connection, Connection::Error);
    assert!(
        status.message.contains("--allow-loopback-endpoints"),
        "{}",
        status.message
    );
    nothing_sent(&env);
    assert!(operator.stop().await.success());
    cluster.cleanup().await;
}

/// Attack (2) replayed with each field, against an operator that does allow the simulators: the
/// instance metadata service, the API server and an attacker's host are all refused, the
/// message names the host and the flag that would allow it, and the simulators — where the
/// other endpoints of the same connector point — see nothing at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authority_graph_and_password_boss_hosts_outside_the_allow_list_are_refused() {
    let cluster = Cluster::shared().await;
    let namespaces = [
        cluster.namespace("e2e-endpoint").await,
        cluster.namespace("e2e-endpoint").await,
        cluster.namespace("e2e-endpoint").await,
    ];
    let mut config = InProcess::config(true);
    config.namespaces = namespaces.to_vec();
    let operator = InProcess::start_with(
        cluster.operator_client().await,
        PipelineEngine::new(),
        config,
    );
    for (ns, (field, url, host)) in namespaces.iter().zip([
        (
            "authorityHost",
            "https://169.254.169.254",
            "169.254.169.254",
        ),
        (
            "graphEndpoint",
            "https://kubernetes.default.svc",
            "kubernetes.default.svc",
        ),
        (
            "apiUrl",
            "https://attacker.example:8443",
            "attacker.example:8443",
        ),
    ]) {
        let env = sample(10, "10s").await;
        let manifests = env.manifests(ns);
        let edited = with_field(&manifests, field, url);
        assert_ne!(edited, manifests, "{field} was edited");
        cluster.apply(&edited).await;

        let status = refused(&cluster, ns).await;
        assert!(status.message.contains(host), "{field}: {}", status.message);
        assert!(
            status.message.contains("--allowed-endpoint-hosts")
                && status.message.contains("allowedEndpointHosts"),
            "{}",
            status.message
        );
        nothing_sent(&env);
    }
    operator.stop().await;
    cluster.cleanup().await;
}

/// Attack (1): `workloadIdentity.tokenFile` is gone; the API server refuses a connector naming a
/// file, and a ServiceAccount of another namespace cannot even be written down.
#[tokio::test]
async fn a_workload_identity_can_no_longer_name_a_file_or_another_namespace() {
    let cluster = Cluster::shared().await;
    let ns = cluster.namespace("e2e-wi").await;
    let connector = |identity: &str| {
        format!(
            "apiVersion: passwordboss.com/v1alpha1\nkind: AzureAdConnector\nmetadata:\n  \
             name: {NAME}\n  namespace: {ns}\nspec:\n  azure:\n    tenantId: contoso.onmicrosoft.com\n    \
             clientId: 00000000-0000-0000-0000-000000000000\n    workloadIdentity: {identity}\n  \
             passwordBoss:\n    tokenSecretRef: {{name: passwordboss, key: token}}\n  \
             syncGroup: {{displayName: Password Boss Users}}\n"
        )
    };
    for bad in [
        "{tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token}",
        "{serviceAccountName: kube-system/default}",
        "{}",
    ] {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), connector(bad)).expect("manifest written");
        let path = file.path().to_str().expect("UTF-8 path");
        let refused = cluster.kubectl.fails(&["apply", "-f", path]).await;
        assert!(!refused.is_empty(), "{bad}: kubectl says why");
    }
    cluster
        .kubectl
        .ok_stdin(
            &["apply", "-f", "-"],
            &connector("{serviceAccountName: pbconnector-contoso}"),
        )
        .await;
    cluster.cleanup().await;
}

/// The least-privilege mode: the operator watches exactly the namespaces it is given — a
/// connector elsewhere is neither synced nor written to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_watches_exactly_the_namespaces_it_is_given() {
    let cluster = Cluster::shared().await;
    let watched = [
        cluster.namespace("e2e-watched-a").await,
        cluster.namespace("e2e-watched-b").await,
    ];
    let other = cluster.namespace("e2e-unwatched").await;
    let mut config = InProcess::config(true);
    config.namespaces = watched.to_vec();
    let operator = InProcess::start_with(
        cluster.operator_client().await,
        PipelineEngine::new(),
        config,
    );
    let mut envs = Vec::new();
    for ns in watched.iter().chain([&other]) {
        let env = sample(10, "10s").await;
        cluster.apply(&env.manifests(ns)).await;
        envs.push(env);
    }
    for ns in &watched {
        cluster
            .wait_connection(ns, Connection::Connected, MINUTE)
            .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let unwatched = cluster
        .connectors(&other)
        .get(NAME)
        .await
        .expect("connector");
    assert!(
        unwatched.status.is_none(),
        "no status written outside the watched namespaces"
    );
    nothing_sent(&envs[2]);
    operator.stop().await;
    cluster.cleanup().await;
}

/// Workload identity per tenant through the real TokenRequest API: the operator (with the
/// chart's RBAC) asks for a token of the connector's own ServiceAccount, audience
/// api://AzureADTokenExchange, and that token — signed by the cluster's service-account key,
/// for `system:serviceaccount:<ns>:<name>` — is the client assertion Entra accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connectors_own_service_account_token_is_its_federated_credential() {
    let cluster = Cluster::shared().await;
    let ns = cluster.namespace("e2e-wi-token").await;
    let env = sample(10, "10s").await;
    let account = "pbconnector-contoso";
    let issuer_key = std::fs::read_to_string(cluster.server().dir().join("sa.pub"))
        .expect("the API server's service-account key");
    env.tenant
        .add_federated_credential(
            &env.client_id,
            FederatedCredential {
                issuer: apiserver::SERVICE_ACCOUNT_ISSUER.into(),
                subject: format!("system:serviceaccount:{ns}:{account}"),
                audience: "api://AzureADTokenExchange".into(),
                issuer_key_pem: issuer_key,
                algorithm: JwtAlgorithm::ES256,
            },
        )
        .expect("the sample app exists");
    cluster
        .kubectl
        .ok(&["-n", &ns, "create", "serviceaccount", account])
        .await;
    let manifests = env.manifests(&ns).replace(
        "    clientSecretRef:\n      key: client-secret\n      name: entra-app\n",
        &format!("    workloadIdentity:\n      serviceAccountName: {account}\n"),
    );
    assert!(manifests.contains("workloadIdentity"), "{manifests}");
    let operator =
        Operator::start(&cluster.operator_kubeconfig().await, &["--namespace", &ns]).await;
    cluster.apply(&manifests).await;
    cluster
        .wait_connection(&ns, Connection::Connected, MINUTE)
        .await;
    let requests = cluster.server().requests();
    assert!(
        requests.iter().any(|r| r.verb == "create"
            && r.resource() == "serviceaccounts/token"
            && r.namespace() == ns
            && r.user.username.starts_with("system:serviceaccount:")
            && r.code() == 201),
        "the operator asked the TokenRequest API in the connector's namespace"
    );
    operator.stop().await;
    cluster.cleanup().await;
}

/// The verify annotation sends credentials too: it passes the same endpoint check as a sync.
/// A connector naming the instance metadata service and asking for a verify gets a failed check
/// naming the host, and nothing is sent anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verify_request_sends_nothing_to_a_host_the_operator_does_not_allow() {
    let cluster = Cluster::shared().await;
    let ns = cluster.namespace("e2e-verify-endpoint").await;
    let env = sample(10, "10m").await;
    let operator =
        Operator::start(&cluster.operator_kubeconfig().await, &["--namespace", &ns]).await;
    let edited = with_field(
        &env.manifests(&ns),
        "authorityHost",
        "https://169.254.169.254",
    );
    cluster.apply(&edited).await;
    refused(&cluster, &ns).await;
    cluster
        .kubectl
        .ok(&[
            "-n",
            &ns,
            "annotate",
            &format!("aadc/{NAME}"),
            &format!("{ANNOTATION_VERIFY_REQUESTED_AT}=now"),
        ])
        .await;
    let status = cluster
        .wait_status(&ns, "the verify answered", MINUTE, |s| {
            s.verify.as_ref().is_some_and(|v| v.requested_at == "now")
        })
        .await;
    let checks = status.verify.expect("verify").checks;
    // Refused by the endpoint check (which names the flag that would allow the host), not
    // tried and failed on the network.
    assert!(
        checks.iter().any(|c| !c.ok
            && c.message.contains("169.254.169.254")
            && c.message.contains("--allowed-endpoint-hosts")),
        "{checks:#?}"
    );
    nothing_sent(&env);
    operator.stop().await;
    cluster.cleanup().await;
}
