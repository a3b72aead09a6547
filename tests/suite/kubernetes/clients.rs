//! The client libraries the operator builds on, against a real kube-apiserver: kube-runtime's
//! event Recorder (create, then merge-patch of a repeated event) and kube-lease-manager's leader
//! election (server-side apply without force, strategic merge patches, conflicts).

use crate::support::apiserver;

use std::time::Duration;

use apiserver::TestApiServer;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as KubeEvent;
use kube::Api;
use kube::api::ListParams;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube_lease_manager::LeaseManagerBuilder;

#[tokio::test]
async fn the_event_recorder_creates_and_then_counts_repeats() {
    let server = tokio::task::spawn_blocking(TestApiServer::shared)
        .await
        .expect("the API server starts");
    let client = server.client().await;
    let reporter = Reporter {
        controller: "pbconnector".into(),
        instance: Some("pbconnector-0".into()),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let reference = ObjectReference {
        api_version: Some("passwordboss.com/v1alpha1".into()),
        kind: Some("AzureAdConnector".into()),
        name: Some("contoso".into()),
        namespace: Some("default".into()),
        ..ObjectReference::default()
    };
    let event = Event {
        type_: EventType::Normal,
        reason: "Synced".into(),
        note: Some("Synced 812 users".into()),
        action: "Sync".into(),
        secondary: None,
    };
    recorder
        .publish(&event, &reference)
        .await
        .expect("first event");
    recorder.publish(&event, &reference).await.expect("repeat");
    let methods: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.resource() == "events" && r.namespace() == "default" && r.verb != "list")
        .map(|r| format!("{} {}", r.verb, r.code()))
        .collect();
    assert_eq!(methods, ["create 201", "patch 200"]);
    let events: Api<KubeEvent> = Api::namespaced(client, "default");
    let list = events.list(&ListParams::default()).await.expect("list");
    assert_eq!(list.items.len(), 1, "a repeat patches the same Event");
    let stored = &list.items[0];
    assert_eq!(stored.reason.as_deref(), Some("Synced"));
    assert_eq!(stored.series.as_ref().map(|s| s.count), Some(2));
}

#[tokio::test]
async fn lease_manager_leadership_passes_between_replicas() {
    let server = tokio::task::spawn_blocking(TestApiServer::shared)
        .await
        .expect("the API server starts");
    let client = server.client().await;
    let build = |identity: &str| {
        LeaseManagerBuilder::new(client.clone(), "pbconnector-leader")
            .with_namespace("default")
            .with_identity(identity)
            .with_duration(3)
            .with_grace(1)
            .build()
    };
    let first = build("replica-a").await.expect("first manager");
    let second = build("replica-b").await.expect("second manager");
    assert!(
        tokio::time::timeout(Duration::from_secs(5), first.changed())
            .await
            .expect("in time")
            .expect("no API error"),
        "the first replica becomes leader"
    );
    // The second cannot take a held lease: its attempts go on without success.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), second.changed())
            .await
            .is_err(),
        "the second replica does not become leader while the first holds the lease"
    );
    first.release().await.expect("release");
    assert!(
        tokio::time::timeout(Duration::from_secs(5), second.changed())
            .await
            .expect("in time")
            .expect("no API error"),
        "the second replica takes over after the release"
    );
}
