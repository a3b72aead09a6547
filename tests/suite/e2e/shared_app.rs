//! A shared multi-tenant app (`AzureAdApplication`) against a real kube-apiserver, with the
//! built operator under the chart's RBAC: a connector of a bound tenant syncs with no Entra
//! Secret in its namespace once the customer's admin consents (before that: `ConsentMissing`
//! with the admin-consent URL, in the connector's and the app's status); a connector naming a
//! tenant the app does not bind to its namespace is `Ready=False/TenantNotBound`, and not one
//! token request names its tenant.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::e2e::{Cluster, NAME, Operator, cluster_with_sample, eventually};
use pbconnector::resources::{
    ANNOTATION_SYNC_REQUESTED_AT, ANNOTATION_VERIFY_REQUESTED_AT, AzureAdConnectorStatus,
    Connection,
};

const MINUTE: Duration = Duration::from_secs(60);
const APP_SECRET: &str = "msp-app-secret-value";

fn ready(status: &AzureAdConnectorStatus) -> Option<(String, String, String)> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// A connector `name` in `ns` for `tenant` through the shared app `app`.
fn connector(ns: &str, name: &str, tenant: &str, app: &str, sample: &Value) -> Value {
    let mut spec = sample["spec"].clone();
    spec["azure"] = json!({"tenantId": tenant, "applicationRef": {"name": app}});
    json!({
        "apiVersion": "passwordboss.com/v1alpha1",
        "kind": "AzureAdConnector",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    })
}

async fn wait_reason(
    cluster: &Cluster,
    ns: &str,
    name: &str,
    reason: &str,
) -> AzureAdConnectorStatus {
    let api = cluster.connectors(ns);
    eventually(&format!("{ns}/{name} Ready=False/{reason}"), MINUTE, || {
        let api = api.clone();
        async move {
            let status = api.get(name).await.ok()?.status?;
            let (value, r, _) = ready(&status)?;
            (value == "False" && r == reason).then_some(status)
        }
    })
    .await
}

async fn app_status(cluster: &Cluster, app: &str) -> Value {
    let out = cluster
        .kubectl
        .ok(&["get", "aadapp", app, "-o", "json"])
        .await;
    serde_json::from_str::<Value>(&out).expect("JSON")["status"].clone()
}

async fn wait_consent(cluster: &Cluster, app: &str, tenant: &str, consent: &str) -> Value {
    eventually(
        &format!("aadapp {app}: tenant {tenant} consent {consent}"),
        MINUTE,
        || async move {
            let status = app_status(cluster, app).await;
            let entry = status["tenants"]
                .as_array()?
                .iter()
                .find(|t| t["tenantId"] == tenant)?
                .clone();
            (entry["consent"] == consent).then_some(entry)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_app_serves_only_the_tenants_it_binds_to_each_namespace() {
    let (cluster, ns, env) = cluster_with_sample("e2e-app", 5, "10s").await;
    let other_ns = cluster.namespace("e2e-app-other").await;
    let identity = cluster.operator_identity(&[]).await;
    let operator_ns = identity.namespace.clone();
    let app = format!("{ns}-msp");

    // The MSP's multi-tenant app, registered in its own tenant; the customer (the sample's
    // tenant) has not consented yet.
    let msp = env.graph.add_tenant(&format!("{ns}-msp.onmicrosoft.com"));
    let client_id = env.graph.add_multi_tenant_app(&msp);
    msp.add_secret(&client_id, APP_SECRET, false);
    let customer = env.tenant.id().to_owned();

    let secret_name = format!("{app}-credential");
    cluster
        .apply(
            &json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": secret_name, "namespace": operator_ns},
                "stringData": {"client-secret": APP_SECRET},
            })
            .to_string(),
        )
        .await;
    cluster
        .apply(
            &json!({
                "apiVersion": "passwordboss.com/v1alpha1",
                "kind": "AzureAdApplication",
                "metadata": {"name": app},
                "spec": {
                    "clientId": client_id,
                    "authorityHost": env.graph.url(),
                    "graphEndpoint": env.graph.url(),
                    "clientSecretRef": {"namespace": operator_ns, "name": secret_name, "key": "client-secret"},
                    "tenants": [{"tenantId": customer, "namespaces": [ns]}],
                },
            })
            .to_string(),
        )
        .await;

    let operator = Operator::start(&identity.kubeconfig, &[]).await;

    // Before consent: the app's status has the tenant's admin-consent URL...
    let consent_url = format!(
        "{}/{customer}/adminconsent?client_id={client_id}",
        env.graph.url()
    );
    let entry = wait_consent(&cluster, &app, &customer, "Missing").await;
    assert_eq!(entry["adminConsentUrl"], consent_url.as_str());

    // ... and so has the connector's, with no Entra Secret in the customer's namespace.
    let sample = env.connector_json(&ns);
    cluster
        .apply(
            &json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "passwordboss", "namespace": ns},
                "stringData": {"token": env.password_boss.token()},
            })
            .to_string(),
        )
        .await;
    cluster
        .apply(&connector(&ns, NAME, &customer, &app, &sample).to_string())
        .await;
    // Missing consent quarantines the connector at once (`Ready=False/Quarantined`), the
    // failure's message (URL, AADSTS700016) in the quarantine's.
    let status = wait_reason(&cluster, &ns, NAME, "Quarantined").await;
    assert_eq!(status.connection, Connection::Unauthorized);
    assert_eq!(
        status.quarantine.as_ref().map(|q| q.reason.as_str()),
        Some("ConsentMissing")
    );
    let (_, _, message) = ready(&status).expect("Ready");
    assert!(message.contains(&consent_url), "{message}");
    assert!(message.contains("AADSTS700016"), "{message}");

    // The customer's admin consents; the next verify turns the connector Connected.
    env.graph.grant_consent(&client_id, &customer);
    cluster
        .kubectl
        .ok(&[
            "-n",
            &ns,
            "annotate",
            &format!("aadc/{NAME}"),
            "--overwrite",
            &format!("{ANNOTATION_VERIFY_REQUESTED_AT}=after-consent"),
        ])
        .await;
    let status = cluster
        .wait_status(&ns, "Connected after the verify", MINUTE, |s| {
            s.connection == Connection::Connected
                && s.verify
                    .as_ref()
                    .is_some_and(|v| v.requested_at == "after-consent")
        })
        .await;
    assert!(
        status.verify.expect("verify").checks.iter().all(|c| c.ok),
        "every check passes"
    );
    assert!(status.users.in_scope > 0, "the bound tenant synced");
    wait_consent(&cluster, &app, &customer, "Granted").await;
    let app_now = app_status(&cluster, &app).await;
    assert_eq!(app_now["boundTenants"], 1);
    assert_eq!(app_now["consentedTenants"], 1);
    let secrets = cluster
        .kubectl
        .ok(&["-n", &ns, "get", "secrets", "-o", "name"])
        .await;
    assert_eq!(
        secrets.trim(),
        "secret/passwordboss",
        "no Entra Secret in the customer's namespace"
    );

    // The bound connector holds its token now. A connector in another namespace naming the
    // same tenant, and one naming a tenant the app does not bind, are refused before any
    // token request.
    let before = env.graph.token_requests_for(&customer);
    let unbound = "5b0c36f5-0000-4000-8000-00000000beef";
    cluster
        .apply(
            &json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "passwordboss", "namespace": other_ns},
                "stringData": {"token": env.password_boss.token()},
            })
            .to_string(),
        )
        .await;
    cluster
        .apply(&connector(&other_ns, "intruder", &customer, &app, &sample).to_string())
        .await;
    cluster
        .apply(&connector(&ns, "unbound", unbound, &app, &sample).to_string())
        .await;
    let status = wait_reason(&cluster, &other_ns, "intruder", "TenantNotBound").await;
    let (_, _, message) = ready(&status).expect("Ready");
    assert!(message.contains(&app), "{message}");
    assert!(message.contains(&format!("not to {other_ns}")), "{message}");
    let status = wait_reason(&cluster, &ns, "unbound", "TenantNotBound").await;
    let (_, _, message) = ready(&status).expect("Ready");
    assert!(
        message.contains(&format!("binds no tenant {unbound}")),
        "{message}"
    );
    // A verify of the refused connector is refused the same way, before any token request.
    cluster
        .kubectl
        .ok(&[
            "-n",
            &other_ns,
            "annotate",
            "aadc/intruder",
            &format!("{ANNOTATION_VERIFY_REQUESTED_AT}=try"),
        ])
        .await;
    let api = cluster.connectors(&other_ns);
    let verify = eventually("the refused connector's verify", MINUTE, || {
        let api = api.clone();
        async move {
            let verify = api.get("intruder").await.ok()?.status?.verify?;
            (verify.requested_at == "try").then_some(verify)
        }
    })
    .await;
    assert!(
        verify
            .checks
            .iter()
            .any(|c| !c.ok && c.message.contains(&format!("not to {other_ns}"))),
        "{:?}",
        verify.checks
    );
    assert_eq!(
        env.graph.token_requests_for(&customer),
        before,
        "no token request for the tenant of a connector the app does not bind to its namespace"
    );
    assert_eq!(env.graph.token_requests_for(unbound), 0);

    // The bound connector is Connected with a cached token. Quiet it first: one requested sync
    // with a long interval, so no sync is in flight or due when the binding goes.
    let quiet = json!({
        "metadata": {"annotations": {ANNOTATION_SYNC_REQUESTED_AT: "quiet"}},
        "spec": {"interval": "1h"},
    });
    cluster
        .kubectl
        .ok(&[
            "-n",
            &ns,
            "patch",
            &format!("aadc/{NAME}"),
            "--type",
            "merge",
            "-p",
            &quiet.to_string(),
        ])
        .await;
    cluster
        .wait_status(&ns, "the quiet sync handled", MINUTE, |s| {
            s.connection == Connection::Connected
                && s.last_handled_sync_request.as_deref() == Some("quiet")
        })
        .await;
    // The MSP drops the customer's namespace from the app; a requested sync is refused before
    // any token or Graph request for the tenant.
    let tokens = env.graph.token_requests_for(&customer);
    let graph = env.graph.requests().graph_http();
    let unbind = json!({"spec": {"tenants": [{"tenantId": unbound, "namespaces": [ns]}]}});
    cluster
        .kubectl
        .ok(&[
            "patch",
            "aadapp",
            &app,
            "--type",
            "merge",
            "-p",
            &unbind.to_string(),
        ])
        .await;
    cluster
        .kubectl
        .ok(&[
            "-n",
            &ns,
            "annotate",
            &format!("aadc/{NAME}"),
            "--overwrite",
            &format!("{ANNOTATION_SYNC_REQUESTED_AT}=after-unbind"),
        ])
        .await;
    let status = cluster
        .wait_status(
            &ns,
            "Ready=False/TenantNotBound after the unbind",
            MINUTE,
            |s| {
                s.last_handled_sync_request.as_deref() == Some("after-unbind")
                    && ready(s).is_some_and(|(v, r, _)| v == "False" && r == "TenantNotBound")
            },
        )
        .await;
    let (_, _, message) = ready(&status).expect("Ready");
    assert!(message.contains(&app), "{message}");
    assert_eq!(
        env.graph.token_requests_for(&customer),
        tokens,
        "no token request for a tenant whose binding was removed"
    );
    assert_eq!(
        env.graph.requests().graph_http(),
        graph,
        "no Graph request with the cached token of a tenant whose binding was removed"
    );

    let logs = operator.logs();
    assert!(!logs.contains(APP_SECRET), "the app's secret was logged");
    operator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_whose_secret_is_outside_the_operators_namespace_is_refused_with_nothing_sent() {
    let (cluster, ns, env) = cluster_with_sample("e2e-app-secretns", 5, "10s").await;
    let identity = cluster.operator_identity(&[]).await;
    let operator_ns = identity.namespace.clone();
    let app = format!("{ns}-msp");
    let msp = env.graph.add_tenant(&format!("{ns}-msp.onmicrosoft.com"));
    let client_id = env.graph.add_multi_tenant_app(&msp);
    msp.add_secret(&client_id, APP_SECRET, false);
    let customer = env.tenant.id().to_owned();
    env.graph.grant_consent(&client_id, &customer);

    // The credential Secret sits in the tenant's namespace, not the operator's.
    let secret_name = format!("{app}-credential");
    for manifest in [
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": secret_name, "namespace": ns},
            "stringData": {"client-secret": APP_SECRET},
        }),
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "passwordboss", "namespace": ns},
            "stringData": {"token": env.password_boss.token()},
        }),
        json!({
            "apiVersion": "passwordboss.com/v1alpha1",
            "kind": "AzureAdApplication",
            "metadata": {"name": app},
            "spec": {
                "clientId": client_id,
                "authorityHost": env.graph.url(),
                "graphEndpoint": env.graph.url(),
                "clientSecretRef": {"namespace": ns, "name": secret_name, "key": "client-secret"},
                "tenants": [{"tenantId": customer, "namespaces": [ns]}],
            },
        }),
    ] {
        cluster.apply(&manifest.to_string()).await;
    }
    let operator = Operator::start(&identity.kubeconfig, &[]).await;
    let sample = env.connector_json(&ns);
    cluster
        .apply(&connector(&ns, NAME, &customer, &app, &sample).to_string())
        .await;

    let status = wait_reason(&cluster, &ns, NAME, "InvalidConfiguration").await;
    let (_, _, message) = ready(&status).expect("Ready");
    assert!(
        message.contains(&format!("credential Secret is in namespace {ns}")),
        "{message}"
    );
    assert!(
        message.contains(&format!("clientSecretRef.namespace: {operator_ns}")),
        "{message}"
    );
    assert_eq!(
        env.graph.token_requests_for(&customer),
        0,
        "no token request with a credential from outside the operator's namespace"
    );
    assert_eq!(
        env.graph.requests().total_http(),
        0,
        "nothing sent to Entra"
    );
    assert_eq!(
        env.password_boss.requests().writes(),
        0,
        "nothing written to Password Boss"
    );
    let logs = operator.logs();
    assert!(!logs.contains(APP_SECRET), "the app's secret was logged");
    operator.stop().await;
}

/// A change to the shared app ends its connectors' quarantine at once: a connector quarantined
/// for missing consent syncs as soon as the app's spec changes (after the consent was granted),
/// long before its `nextAttemptTime`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_to_the_shared_app_ends_the_quarantine_at_once() {
    let (cluster, ns, env) = cluster_with_sample("e2e-app-quar", 3, "10s").await;
    let identity = cluster.operator_identity(&[]).await;
    let operator_ns = identity.namespace.clone();
    let app = format!("{ns}-msp");
    let msp = env.graph.add_tenant(&format!("{ns}-msp.onmicrosoft.com"));
    let client_id = env.graph.add_multi_tenant_app(&msp);
    msp.add_secret(&client_id, APP_SECRET, false);
    let customer = env.tenant.id().to_owned();
    let secret_name = format!("{app}-credential");
    cluster
        .apply(
            &json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": secret_name, "namespace": operator_ns},
                "stringData": {"client-secret": APP_SECRET},
            })
            .to_string(),
        )
        .await;
    let app_object = |namespaces: Vec<String>| {
        json!({
            "apiVersion": "passwordboss.com/v1alpha1",
            "kind": "AzureAdApplication",
            "metadata": {"name": app},
            "spec": {
                "clientId": client_id,
                "authorityHost": env.graph.url(),
                "graphEndpoint": env.graph.url(),
                "clientSecretRef": {"namespace": operator_ns, "name": secret_name, "key": "client-secret"},
                "tenants": [{"tenantId": customer, "namespaces": namespaces}],
            },
        })
        .to_string()
    };
    cluster.apply(&app_object(vec![ns.clone()])).await;
    let operator = Operator::start(&identity.kubeconfig, &[]).await;
    cluster
        .apply(
            &json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "passwordboss", "namespace": ns},
                "stringData": {"token": env.password_boss.token()},
            })
            .to_string(),
        )
        .await;
    let sample = env.connector_json(&ns);
    cluster
        .apply(&connector(&ns, NAME, &customer, &app, &sample).to_string())
        .await;

    // Quarantined for the missing consent, its second failure (the next attempt 20 s away).
    let status = cluster
        .wait_status(&ns, "quarantined after two failures", 2 * MINUTE, |s| {
            s.quarantine
                .as_ref()
                .is_some_and(|q| q.reason == "ConsentMissing" && q.failures >= 2)
        })
        .await;
    let next_attempt = status
        .quarantine
        .and_then(|q| q.next_attempt_time)
        .expect("nextAttemptTime")
        .0;

    // The customer consents and the MSP edits the app (another namespace bound): the connector
    // syncs at once, before its nextAttemptTime.
    env.graph.grant_consent(&client_id, &customer);
    cluster
        .apply(&app_object(vec![ns.clone(), format!("{ns}-more")]))
        .await;
    let status = cluster
        .wait_status(&ns, "Connected after the app changed", MINUTE, |s| {
            s.connection == Connection::Connected
        })
        .await;
    assert!(status.quarantine.is_none(), "the quarantine ended");
    let synced = status.last_sync_time.expect("lastSyncTime").0;
    assert!(
        synced < next_attempt,
        "the sync ran at the app's change ({synced}), not at nextAttemptTime ({next_attempt})"
    );
    operator.stop().await;
    cluster.cleanup().await;
}
