//! The client libraries the operator builds on, against a real kube-apiserver: kube-runtime's
//! event Recorder (create, then merge-patch of a repeated event), the operator's own recorder
//! (the same, with the latest note) and kube-lease-manager's leader
//! election (server-side apply without force, strategic merge patches, conflicts).

use crate::support::apiserver;

use std::time::Duration;

use apiserver::TestApiServer;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as KubeEvent;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{ListParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube_lease_manager::LeaseManagerBuilder;
use pbconnector::controller::events::{EventKind, EventRecorder};

#[tokio::test]
async fn the_event_recorder_creates_and_then_counts_repeats() {
    let server = tokio::task::spawn_blocking(TestApiServer::shared)
        .await
        .expect("the API server starts");
    let client = server.client().await;
    // A namespace of its own: other tests' Events (a cluster-scoped AzureAdApplication's land
    // in `default`) must not be counted as this recorder's requests.
    let ns = format!("events-{}", uuid::Uuid::new_v4().simple());
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .expect("namespace");
    let reporter = Reporter {
        controller: "pbconnector".into(),
        instance: Some("pbconnector-0".into()),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let reference = ObjectReference {
        api_version: Some("passwordboss.com/v1alpha1".into()),
        kind: Some("AzureAdConnector".into()),
        name: Some("contoso".into()),
        namespace: Some(ns.clone()),
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
        .filter(|r| r.resource() == "events" && r.namespace() == ns && r.verb != "list")
        .map(|r| format!("{} {}", r.verb, r.code()))
        .collect();
    assert_eq!(methods, ["create 201", "patch 200"]);
    let events: Api<KubeEvent> = Api::namespaced(client, &ns);
    let list = events.list(&ListParams::default()).await.expect("list");
    assert_eq!(list.items.len(), 1, "a repeat patches the same Event");
    let stored = &list.items[0];
    assert_eq!(stored.reason.as_deref(), Some("Synced"));
    assert_eq!(stored.series.as_ref().map(|s| s.count), Some(2));
}

/// The operator's own recorder (`controller::events`): a repeat of the same note joins its
/// Event's series, as kube's does; another note (the API server keeps an Event's note
/// immutable) is an Event of its own, so the newest Event of a reason carries the latest note —
/// not the first occurrence's (issue 29: a stale group name after 15 other occurrences).
#[tokio::test]
async fn a_repeated_event_carries_the_latest_note() {
    let server = tokio::task::spawn_blocking(TestApiServer::shared)
        .await
        .expect("the API server starts");
    let client = server.client().await;
    let ns = format!("events-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .expect("a namespace");
    let recorder = EventRecorder::new(
        client.clone(),
        Reporter {
            controller: "pbconnector".into(),
            instance: Some("pbconnector-0".into()),
        },
    );
    let reference = ObjectReference {
        api_version: Some("passwordboss.com/v1alpha1".into()),
        kind: Some("AzureAdConnector".into()),
        name: Some("contoso".into()),
        namespace: Some(ns.clone()),
        ..ObjectReference::default()
    };
    let publish = |note: String| {
        let recorder = &recorder;
        let reference = &reference;
        async move {
            recorder
                .publish(
                    EventKind::Warning,
                    "GroupNotFound",
                    "Sync",
                    &note,
                    reference,
                )
                .await
                .expect("published");
        }
    };
    for _ in 0..16 {
        publish("group Team A not found".into()).await;
    }
    publish("group Team B not found".into()).await;
    let events: Api<KubeEvent> = Api::namespaced(client, &ns);
    let list = events.list(&ListParams::default()).await.expect("list");
    let notes = |list: &[KubeEvent]| {
        let mut by_time: Vec<(Timestamp, String, i32)> = list
            .iter()
            .map(|e| {
                let last = e
                    .series
                    .as_ref()
                    .map(|s| s.last_observed_time.0)
                    .or(e.event_time.as_ref().map(|t| t.0))
                    .expect("a time");
                let count = e.series.as_ref().map_or(1, |s| s.count);
                (last, e.note.clone().unwrap_or_default(), count)
            })
            .collect();
        by_time.sort();
        by_time
            .into_iter()
            .map(|(_, note, count)| (note, count))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        notes(&list.items),
        [
            ("group Team A not found".to_owned(), 16),
            ("group Team B not found".to_owned(), 1)
        ],
        "repeats of one note are one series; the newest Event carries the latest note"
    );
    assert!(
        list.items
            .iter()
            .all(|e| e.type_.as_deref() == Some("Warning")
                && e.reporting_instance.as_deref() == Some("pbconnector-0"))
    );
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
