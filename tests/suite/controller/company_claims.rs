//! The company claims (`controller::companies`) on a real API server, with the chart's RBAC:
//! one Lease per company in the operator's namespace; the older connector wins, a younger holder
//! is displaced only when the older claims, a dry run takes no claim, a changed company releases
//! the old claim and a deleted connector releases its claims.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::{reflector, watcher};
use pbconnector::controller::companies::{ClaimError, Claimant, CompanyRegistry, claim_name};
use pbconnector::controller::reconcile::Watched;
use pbconnector::resources::{AzureAdConnector, CompanyRef};
use pbconnector::sync::ConnectorKey;
use pbconnector::telemetry::server::Readiness;

use crate::support::e2e::{Cluster, eventually};

fn connector(name: &str, created: i64, dry_run: bool) -> AzureAdConnector {
    let mut c = AzureAdConnector::new(
        name,
        serde_json::from_value(serde_json::json!({
            "azure": {"tenantId": "contoso.onmicrosoft.com",
                      "clientId": "00000000-0000-0000-0000-000000000000",
                      "clientSecretRef": {"name": "entra-app", "key": "client-secret"}},
            "passwordBoss": {"tokenSecretRef": {"name": "passwordboss", "key": "token"}},
            "syncGroup": {"displayName": "Password Boss Users"},
            "dryRun": dry_run
        }))
        .unwrap(),
    );
    c.metadata.namespace = Some(format!("msp-{name}"));
    c.metadata.uid = Some(uuid::Uuid::new_v4().to_string());
    c.metadata.creation_timestamp = Some(Time(Timestamp::from_second(created).unwrap()));
    c
}

fn new_company() -> CompanyRef {
    CompanyRef {
        id: format!("c_{}", uuid::Uuid::new_v4().simple()),
        name: "Contoso".into(),
    }
}

async fn holder(leases: &Api<Lease>, company: &CompanyRef) -> Option<String> {
    leases
        .get_opt(&claim_name(&company.id))
        .await
        .expect("the lease is readable")
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

fn uid(c: &AzureAdConnector) -> String {
    c.metadata.uid.clone().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_older_connector_holds_the_company_claim() {
    let cluster = Cluster::shared().await;
    let identity = cluster.operator_identity(&[]).await;
    let client = cluster.operator_client().await;
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), &identity.namespace);

    let older = connector("older", 100, false);
    let younger = connector("younger", 200, false);
    let youngest_dry = connector("dry", 300, true);
    let (store, mut writer) = reflector::store::<Watched>();
    for c in [&older, &younger, &youngest_dry] {
        writer.apply_watcher_event(&watcher::Event::Apply(DeserializeGuard(Ok(c.clone()))));
    }
    let listed = Readiness::default();
    listed.set(true);
    let registry = Arc::new(CompanyRegistry::new(client, &identity.namespace));
    registry.watch(vec![store], Arc::new(vec![listed]));
    let (o, y, d) = (
        Claimant::of(&older),
        Claimant::of(&younger),
        Claimant::of(&youngest_dry),
    );
    let company = new_company();

    // A dry run takes no claim.
    registry.claim(&d, &company, false).await.expect("free");
    assert_eq!(holder(&leases, &company).await, None);
    // The younger reaches the company first (the older's syncs were failing): it claims it.
    registry.claim(&y, &company, true).await.expect("free");
    assert_eq!(holder(&leases, &company).await, Some(uid(&younger)));
    registry.claim(&y, &company, true).await.expect("its own");
    // The older claims: the younger is displaced, and held from its next sync on.
    registry
        .claim(&o, &company, true)
        .await
        .expect("older wins");
    assert_eq!(holder(&leases, &company).await, Some(uid(&older)));
    match registry.claim(&y, &company, true).await {
        Err(ClaimError::Held(held)) => {
            assert_eq!(held.holder, ConnectorKey::new("msp-older", "older"));
            let message = held.to_string();
            assert!(
                message.contains("msp-older/older reaches the same Password Boss company")
                    && message.contains(&format!("Contoso ({})", company.id)),
                "{message}"
            );
        }
        other => panic!("the younger is held: {other:?}"),
    }
    assert!(matches!(
        registry.claim(&d, &company, false).await,
        Err(ClaimError::Held(_))
    ));
    // Through the sync's guard too.
    let why = registry
        .guard(&younger)
        .check(&company)
        .await
        .expect_err("held");
    assert!(why.contains("msp-older/older"), "{why}");

    // The older's token now reaches another company: its old claim is released.
    let other = new_company();
    registry.claim(&o, &other, true).await.expect("free");
    assert_eq!(holder(&leases, &other).await, Some(uid(&older)));
    assert_eq!(holder(&leases, &company).await, None, "released");
    registry
        .claim(&y, &company, true)
        .await
        .expect("free again");
    assert_eq!(holder(&leases, &company).await, Some(uid(&younger)));

    // The older is deleted: its claim is released (by the registry, at once).
    registry.forget(&o.key);
    let released = {
        let leases = leases.clone();
        let other = other.clone();
        eventually(
            "the deleted connector's claim released",
            Duration::from_secs(30),
            move || {
                let leases = leases.clone();
                let other = other.clone();
                async move { holder(&leases, &other).await.is_none().then_some(()) }
            },
        )
    };
    released.await;
}

/// A claim left behind by a connector that is gone (the operator was down when it was deleted)
/// is taken over by the next connector of that company, however old its holder was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_of_a_deleted_connector_is_taken_over() {
    let cluster = Cluster::shared().await;
    let identity = cluster.operator_identity(&[]).await;
    let client = cluster.operator_client().await;
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), &identity.namespace);
    let gone = connector("gone", 100, false);
    let newer = connector("newer", 200, false);
    let company = new_company();

    // A first process: only the old connector exists; it claims.
    let (store, mut writer) = reflector::store::<Watched>();
    writer.apply_watcher_event(&watcher::Event::Apply(DeserializeGuard(Ok(gone.clone()))));
    let listed = Readiness::default();
    listed.set(true);
    let first = CompanyRegistry::new(client.clone(), &identity.namespace);
    first.watch(vec![store], Arc::new(vec![listed.clone()]));
    first
        .claim(&Claimant::of(&gone), &company, true)
        .await
        .expect("free");

    // A second process, after the old connector was deleted: the newer takes the claim over.
    let (store, mut writer) = reflector::store::<Watched>();
    writer.apply_watcher_event(&watcher::Event::Apply(DeserializeGuard(Ok(newer.clone()))));
    let second = CompanyRegistry::new(client, &identity.namespace);
    second.watch(vec![store], Arc::new(vec![listed]));
    second
        .claim(&Claimant::of(&newer), &company, true)
        .await
        .expect("the holder is gone");
    assert_eq!(holder(&leases, &company).await, Some(uid(&newer)));
}

/// Two connectors created in the same second (timestamps have whole seconds): the one that
/// claimed first keeps the claim, whichever uid sorts first — a newer connector never displaces
/// one that already wrote on the strength of a random uid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_created_in_one_second_the_first_claimant_keeps_the_claim() {
    let cluster = Cluster::shared().await;
    let identity = cluster.operator_identity(&[]).await;
    let client = cluster.operator_client().await;
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), &identity.namespace);

    let mut first = connector("first", 100, false);
    let mut second = connector("second", 100, false);
    // The second's uid sorts first: by uid it would be the "older".
    first.metadata.uid = Some(format!("ffffffff-{}", uuid::Uuid::new_v4()));
    second.metadata.uid = Some(format!("00000000-{}", uuid::Uuid::new_v4()));
    let (store, mut writer) = reflector::store::<Watched>();
    for c in [&first, &second] {
        writer.apply_watcher_event(&watcher::Event::Apply(DeserializeGuard(Ok(c.clone()))));
    }
    let listed = Readiness::default();
    listed.set(true);
    let registry = Arc::new(CompanyRegistry::new(client, &identity.namespace));
    registry.watch(vec![store], Arc::new(vec![listed]));
    let company = new_company();

    registry
        .claim(&Claimant::of(&first), &company, true)
        .await
        .expect("free");
    match registry.claim(&Claimant::of(&second), &company, true).await {
        Err(ClaimError::Held(held)) => {
            assert_eq!(held.holder, ConnectorKey::new("msp-first", "first"));
        }
        other => panic!("the second is held by the first claimant: {other:?}"),
    }
    assert_eq!(holder(&leases, &company).await, Some(uid(&first)));
}

/// The claims are read from one watch per process: N connectors' first claims in a fresh
/// process cost one LIST of the claims (and its WATCH), not a request per connector, and later
/// syncs read no claim from the API server at all. Counted from the API server's audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_are_read_from_one_watch_not_per_sync() {
    const CONNECTORS: usize = 20;
    let cluster = Cluster::shared().await;
    // An identity of its own, so every Lease request in its namespace is this test's.
    let identity = cluster
        .operator_identity(&["podAnnotations.claims-cache-test=requests"])
        .await;
    let client = crate::support::apiserver::client_for(&identity.kubeconfig).await;
    let user = format!(
        "system:serviceaccount:{}:{}",
        identity.namespace, identity.service_account
    );
    let lease_requests = |from: usize| -> (usize, Vec<String>) {
        let all = cluster.server().requests();
        let verbs = all[from.min(all.len())..]
            .iter()
            .filter(|r| {
                r.user.username == user
                    && r.resource() == "leases"
                    && r.namespace() == identity.namespace
            })
            .map(|r| r.verb.clone())
            .collect();
        (all.len(), verbs)
    };
    let count = |verbs: &[String], verb: &str| verbs.iter().filter(|v| *v == verb).count();

    let connectors: Vec<AzureAdConnector> = (0..CONNECTORS)
        .map(|i| connector(&format!("c{i}"), 100 + i as i64, false))
        .collect();
    let companies: Vec<CompanyRef> = (0..CONNECTORS).map(|_| new_company()).collect();
    let process = || {
        let (store, mut writer) = reflector::store::<Watched>();
        for c in &connectors {
            writer.apply_watcher_event(&watcher::Event::Apply(DeserializeGuard(Ok(c.clone()))));
        }
        let listed = Readiness::default();
        listed.set(true);
        let registry = Arc::new(CompanyRegistry::new(client.clone(), &identity.namespace));
        registry.watch(vec![store], Arc::new(vec![listed]));
        registry
    };
    let claim_all = |registry: Arc<CompanyRegistry>| {
        let claims: Vec<_> = connectors
            .iter()
            .zip(&companies)
            .map(|(c, company)| {
                let (registry, me, company) = (registry.clone(), Claimant::of(c), company.clone());
                async move { registry.claim(&me, &company, true).await }
            })
            .collect();
        futures::future::join_all(claims)
    };

    // A first process: no claim exists; each connector creates its own, all concurrently.
    let (start, _) = lease_requests(0);
    let first = process();
    for result in claim_all(first.clone()).await {
        result.expect("every company is free");
    }
    let (_, verbs) = lease_requests(start);
    assert_eq!(count(&verbs, "list"), 1, "one LIST for all: {verbs:?}");
    assert_eq!(count(&verbs, "create"), CONNECTORS, "{verbs:?}");
    assert_eq!(count(&verbs, "get"), 0, "no claim read by name: {verbs:?}");
    assert!(
        count(&verbs, "watch") >= 1,
        "the claims are watched: {verbs:?}"
    );
    drop(first);

    // A fresh process (the operator restarted): every connector's first claim in it, of a
    // claim it already holds, costs nothing but the one LIST and WATCH.
    let (start, _) = lease_requests(0);
    let second = process();
    for result in claim_all(second.clone()).await {
        result.expect("each connector holds its own company's claim");
    }
    let (start_steady, verbs) = lease_requests(start);
    assert_eq!(
        count(&verbs, "list"),
        1,
        "one LIST, not one per connector: {verbs:?}"
    );
    assert!(
        count(&verbs, "watch") >= 1,
        "the claims are watched: {verbs:?}"
    );
    assert_eq!(
        count(&verbs, "list") + count(&verbs, "watch"),
        verbs.len(),
        "nothing but the LIST and WATCH: {verbs:?}"
    );

    // Steady state: later syncs read and write no claim.
    for _ in 0..3 {
        for result in claim_all(second.clone()).await {
            result.expect("still held");
        }
    }
    let (_, verbs) = lease_requests(start_steady);
    assert!(
        verbs.iter().all(|v| v == "watch"),
        "no Lease request by a steady-state sync: {verbs:?}"
    );
    for (c, company) in connectors.iter().zip(&companies) {
        let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), &identity.namespace);
        assert_eq!(holder(&leases, company).await, Some(uid(c)));
    }
}
