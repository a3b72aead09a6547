//! kube-rs (client and kube-runtime) against the fake API server: watchers that live through a
//! forced 410 Gone and dropped connections, status-subresource semantics, optimistic concurrency,
//! server-side apply of status, pagination and selectors, CRD discovery, faults and the log.

#[path = "support/connector_json.rs"]
mod connector_json;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use fake_apiserver::FakeApiServer;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, ResourceExt};
use pbconnector::resources::{AzureAdConnector, crd};
use serde_json::{Value, json};

const NS: &str = "default";

async fn server_with_crd() -> (FakeApiServer, Client) {
    let server = FakeApiServer::start().await.expect("server starts");
    let client = server.client().expect("client");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &crd())
        .await
        .expect("the CRD is accepted");
    (server, client)
}

fn connector(name: &str) -> AzureAdConnector {
    serde_json::from_value(json!({
        "apiVersion": "passwordboss.com/v1alpha1",
        "kind": "AzureAdConnector",
        "metadata": {"name": name},
        "spec": connector_json::minimal_spec()
    }))
    .expect("a valid connector")
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn names(store: &reflector::Store<AzureAdConnector>) -> BTreeSet<String> {
    store.state().iter().map(|c| c.name_any()).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn api_error(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(status) => (status.code, status.reason.clone()),
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test]
async fn watchers_recover_from_410_gone_and_dropped_connections() {
    let (server, client) = server_with_crd().await;
    let api: Api<AzureAdConnector> = Api::namespaced(client, NS);
    let pp = PostParams::default();
    for name in ["a", "b"] {
        api.create(&pp, &connector(name)).await.expect("create");
    }
    // One classic list+watch reflector and one using streaming lists (sendInitialEvents).
    let mut stores = Vec::new();
    for config in [
        watcher::Config::default(),
        watcher::Config::default().streaming_lists(),
    ] {
        let (reader, writer) = reflector::store();
        let stream = reflector(writer, watcher(api.clone(), config).default_backoff());
        tokio::spawn(stream.applied_objects().for_each(|_| async {}));
        reader.wait_until_ready().await.expect("the store fills");
        stores.push(reader);
    }
    for store in &stores {
        eventually("both stores hold a and b", || {
            names(store) == set(&["a", "b"])
        })
        .await;
    }

    // A dropped connection: the watchers resume from their resourceVersion.
    let lists_before = server
        .request_log()
        .matching("list", "azureadconnectors")
        .len();
    server.drop_watches();
    api.create(&pp, &connector("c")).await.expect("create");
    for store in &stores {
        eventually("the stores see c", || names(store) == set(&["a", "b", "c"])).await;
    }
    assert_eq!(
        server
            .request_log()
            .matching("list", "azureadconnectors")
            .len(),
        lists_before,
        "resuming after a dropped watch needs no new list"
    );

    // A forced 410: history compacted, connections dropped, changes made meanwhile.
    server.compact_history();
    server.drop_watches();
    api.delete("a", &DeleteParams::default())
        .await
        .expect("delete");
    api.create(&pp, &connector("d")).await.expect("create");
    for store in &stores {
        eventually("the stores hold b, c, d", || {
            names(store) == set(&["b", "c", "d"])
        })
        .await;
    }
    assert!(
        server
            .request_log()
            .matching("list", "azureadconnectors")
            .len()
            > lists_before,
        "the classic watcher relisted after 410 Gone"
    );
    let watches = server.request_log().matching("watch", "azureadconnectors");
    assert!(
        watches
            .iter()
            .any(|r| r.query.contains("sendInitialEvents=true")),
        "the streaming-list watcher used sendInitialEvents"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_watch_from_a_compacted_resource_version_gets_an_expired_error_event() {
    let (server, client) = server_with_crd().await;
    let api: Api<AzureAdConnector> = Api::namespaced(client, NS);
    let created = api
        .create(&PostParams::default(), &connector("a"))
        .await
        .expect("create");
    let rv = created.resource_version().expect("a resourceVersion");
    server.compact_history();
    let mut events = api
        .watch(&WatchParams::default().timeout(5), &rv)
        .await
        .expect("the watch starts")
        .boxed();
    match events.try_next().await.expect("an event") {
        Some(WatchEvent::Error(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    // From the current resourceVersion the watch works and sees new changes.
    let current = server.resource_version().to_string();
    let mut events = api
        .watch(&WatchParams::default().timeout(5), &current)
        .await
        .expect("the watch starts")
        .boxed();
    api.create(&PostParams::default(), &connector("b"))
        .await
        .expect("create");
    match events.try_next().await.expect("an event") {
        Some(WatchEvent::Added(c)) => assert_eq!(c.name_any(), "b"),
        other => panic!("expected ADDED b, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn status_subresource_separates_spec_and_status() {
    let (server, client) = server_with_crd().await;
    let api: Api<AzureAdConnector> = Api::namespaced(client, NS);
    let mut with_status = serde_json::to_value(connector("c")).expect("serializes");
    with_status["status"] = json!({"connection": "Connected", "message": "forged"});
    let created = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(with_status).expect("valid"),
        )
        .await
        .expect("create");
    assert!(created.status.is_none(), "status is dropped on create");
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(created.spec.interval, "1m", "defaults are applied");

    // A status write ignores spec and keeps the generation.
    let patched = api
        .patch_status(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"interval": "5m"}, "status": {"message": "synced"}})),
        )
        .await
        .expect("status patch");
    assert_eq!(patched.spec.interval, "1m");
    assert_eq!(
        patched.status.as_ref().map(|s| s.message.as_str()),
        Some("synced")
    );
    assert_eq!(patched.metadata.generation, Some(1));

    // A main-resource write ignores status; only spec changes bump the generation.
    let patched = api
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"x": "y"}}, "status": {"message": "ignored"}}),
            ),
        )
        .await
        .expect("patch");
    assert_eq!(
        patched.status.as_ref().map(|s| s.message.as_str()),
        Some("synced")
    );
    assert_eq!(patched.metadata.generation, Some(1));
    let patched = api
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"interval": "5m"}})),
        )
        .await
        .expect("patch");
    assert_eq!(patched.spec.interval, "5m");
    assert_eq!(patched.metadata.generation, Some(2));
    server.shutdown().await;
}

#[tokio::test]
async fn errors_carry_the_real_reasons_and_codes() {
    let (server, client) = server_with_crd().await;
    let api: Api<AzureAdConnector> = Api::namespaced(client.clone(), NS);
    let pp = PostParams::default();
    let first = api.create(&pp, &connector("c")).await.expect("create");
    let (code, reason) = api_error(api.create(&pp, &connector("c")).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));
    let (code, reason) = api_error(api.get("missing").await.unwrap_err());
    assert_eq!((code, reason.as_str()), (404, "NotFound"));

    // Optimistic concurrency: an update from a stale copy is refused.
    let mut fresh = first.clone();
    fresh.spec.interval = "2m".into();
    let updated = api.replace("c", &pp, &fresh).await.expect("replace");
    assert_ne!(updated.resource_version(), first.resource_version());
    let mut stale = first.clone();
    stale.spec.interval = "3m".into();
    let (code, reason) = api_error(api.replace("c", &pp, &stale).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    let stale_patch = json!({"metadata": {"resourceVersion": first.resource_version()}, "spec": {"interval": "4m"}});
    let (code, _) = api_error(
        api.patch("c", &PatchParams::default(), &Patch::Merge(stale_patch))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 409);

    // Schema and CEL validation: 422 with the field in the causes.
    let mut bad = serde_json::to_value(connector("bad")).expect("serializes");
    bad["spec"]["interval"] = json!("1s");
    let raw: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client,
        NS,
        &kube::api::ApiResource::erase::<AzureAdConnector>(&()),
    );
    let err = raw
        .create(&pp, &serde_json::from_value(bad).expect("object"))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error");
    };
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert!(
        status.message.contains("spec.interval"),
        "{}",
        status.message
    );
    let (code, reason) = api_error(
        api.patch(
            "c",
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(json!([
                    {"op": "remove", "path": "/spec/nothing"}
                ]))
                .expect("json patch"),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (400, "BadRequest"));
    server.shutdown().await;
}

#[tokio::test]
async fn server_side_apply_writes_status_per_field_manager() {
    let (server, client) = server_with_crd().await;
    let api: Api<AzureAdConnector> = Api::namespaced(client, NS);
    api.create(&PostParams::default(), &connector("c"))
        .await
        .expect("create");
    let ready = |status: &str| {
        json!({"type": "Ready", "status": status, "reason": "Synced", "message": "m",
               "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1})
    };
    let apply = PatchParams::apply("pbconnector").force();
    let first = json!({
        "apiVersion": "passwordboss.com/v1alpha1", "kind": "AzureAdConnector",
        "status": {"connection": "Connected", "lastSyncTime": "2026-01-01T00:00:00Z",
                   "conditions": [ready("False")]}
    });
    let obj = api
        .patch_status("c", &apply, &Patch::Apply(&first))
        .await
        .expect("apply status");
    let status = serde_json::to_value(obj.status.expect("status")).expect("json");
    assert_eq!(status["connection"], "Connected");
    assert_eq!(status["conditions"][0]["status"], "False");

    // Applying again replaces the condition by type and drops what is no longer applied.
    let second = json!({
        "apiVersion": "passwordboss.com/v1alpha1", "kind": "AzureAdConnector",
        "status": {"connection": "Connected", "conditions": [ready("True")]}
    });
    let obj = api
        .patch_status("c", &apply, &Patch::Apply(&second))
        .await
        .expect("apply status");
    assert_eq!(obj.metadata.generation, Some(1));
    let status = serde_json::to_value(obj.status.expect("status")).expect("json");
    assert_eq!(status["conditions"].as_array().map(Vec::len), Some(1));
    assert_eq!(status["conditions"][0]["status"], "True");
    assert_eq!(status.get("lastSyncTime"), None);

    // Another manager changing an owned field without force conflicts.
    let other = json!({
        "apiVersion": "passwordboss.com/v1alpha1", "kind": "AzureAdConnector",
        "status": {"connection": "Error"}
    });
    let (code, reason) = api_error(
        api.patch_status(
            "c",
            &PatchParams::apply("someone-else"),
            &Patch::Apply(&other),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    let (code, _) = api_error(
        api.patch_status("c", &PatchParams::default(), &Patch::Apply(&other))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 400, "apply without a field manager is a bad request");
    server.shutdown().await;
}

#[tokio::test]
async fn lists_paginate_select_by_label_and_expire_continue_tokens() {
    let server = FakeApiServer::start().await.expect("server starts");
    let api: Api<ConfigMap> = Api::namespaced(server.client().expect("client"), NS);
    for i in 0..5 {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": format!("cm-{i}"), "labels": {"parity": if i % 2 == 0 { "even" } else { "odd" }}},
            "data": {"i": i.to_string()}
        }))
        .expect("configmap");
        api.create(&PostParams::default(), &cm)
            .await
            .expect("create");
    }
    let mut seen = Vec::new();
    let mut params = ListParams::default().limit(2);
    let mut pages = 0;
    loop {
        let page = api.list(&params).await.expect("list");
        pages += 1;
        seen.extend(page.items.iter().map(|c| c.name_any()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["cm-0", "cm-1", "cm-2", "cm-3", "cm-4"]);
    let even = api
        .list(&ListParams::default().labels("parity=even"))
        .await
        .expect("list");
    assert_eq!(even.items.len(), 3);
    let odd = api
        .list(&ListParams::default().labels("parity in (odd),parity!=even"))
        .await
        .expect("list");
    assert_eq!(odd.items.len(), 2);

    let first = api
        .list(&ListParams::default().limit(2))
        .await
        .expect("list");
    server.compact_history();
    let token = first.metadata.continue_.expect("a continue token");
    let (code, reason) = api_error(
        api.list(&ListParams::default().limit(2).continue_token(&token))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (410, "Expired"));
    server.shutdown().await;
}

#[tokio::test]
async fn created_crds_appear_in_discovery_and_deleting_them_removes_their_objects() {
    let (server, client) = server_with_crd().await;
    let discovery = kube::Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    let group = discovery
        .get("passwordboss.com")
        .expect("the CRD's group is discovered");
    let (resource, caps) = group
        .recommended_kind("AzureAdConnector")
        .expect("the kind");
    assert_eq!(resource.plural, "azureadconnectors");
    assert!(caps.subresources.iter().any(|(s, _)| s.plural == "status"));

    let api: Api<AzureAdConnector> = Api::namespaced(client.clone(), NS);
    api.create(&PostParams::default(), &connector("c"))
        .await
        .expect("create");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let established = crds.get(&crd().name_any()).await.expect("get CRD");
    let conditions: Value = serde_json::to_value(established.status).expect("json");
    assert!(conditions["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
    }));
    crds.delete(&crd().name_any(), &DeleteParams::default())
        .await
        .expect("delete CRD");
    let (code, _) = api_error(api.get("c").await.unwrap_err());
    assert_eq!(code, 404);
    let discovery = kube::Discovery::new(client).run().await.expect("discovery");
    assert!(discovery.get("passwordboss.com").is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn injected_faults_and_the_request_log() {
    let server = FakeApiServer::start().await.expect("server starts");
    let api: Api<ConfigMap> = Api::namespaced(server.client().expect("client"), NS);
    server.faults().fail_next("list", "configmaps", 1, 500);
    let (code, reason) = api_error(api.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (500, "InternalError"));
    api.list(&ListParams::default())
        .await
        .expect("the next list succeeds");

    server
        .faults()
        .delay_next("get", "configmaps", 1, Duration::from_millis(300));
    let started = Instant::now();
    let (code, _) = api_error(api.get("nothing").await.unwrap_err());
    assert_eq!(code, 404);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the get was delayed"
    );

    let log = server.requests();
    let lists: Vec<_> = log
        .iter()
        .filter(|r| r.verb.as_deref() == Some("list"))
        .map(|r| (r.method.as_str(), r.path.as_str(), r.status))
        .collect();
    assert_eq!(
        lists,
        [
            ("GET", "/api/v1/namespaces/default/configmaps", 500),
            ("GET", "/api/v1/namespaces/default/configmaps", 200)
        ]
    );
    assert!(
        log.iter()
            .any(|r| r.path == "/api/v1/namespaces/default/configmaps/nothing" && r.status == 404)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn watches_send_bookmarks_and_end_after_their_timeout() {
    let server = FakeApiServer::start_with_bookmark_interval(Duration::from_millis(100))
        .await
        .expect("server starts");
    let api: Api<ConfigMap> = Api::namespaced(server.client().expect("client"), NS);
    let rv = server.resource_version().to_string();
    let started = Instant::now();
    let events: Vec<WatchEvent<ConfigMap>> = api
        .watch(&WatchParams::default().timeout(1), &rv)
        .await
        .expect("the watch starts")
        .try_collect()
        .await
        .expect("the stream ends cleanly");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "ends at timeoutSeconds"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, WatchEvent::Bookmark(b) if b.metadata.resource_version == rv)),
        "bookmarks carry the watch's resourceVersion: {events:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let server = FakeApiServer::start().await.expect("server starts");
    let api: Api<ConfigMap> = Api::namespaced(server.client().expect("client"), NS);
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "dry"}})).expect("configmap");
    let pp = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let returned = api.create(&pp, &cm).await.expect("dry-run create");
    assert_eq!(returned.name_any(), "dry");
    assert!(api.get_opt("dry").await.expect("get").is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn metadata_only_reads_and_watches_work_for_secrets() {
    use k8s_openapi::api::core::v1::Secret;
    let server = FakeApiServer::start().await.expect("server starts");
    let api: Api<Secret> = Api::namespaced(server.client().expect("client"), NS);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "creds", "labels": {"app": "pb"}},
        "stringData": {"token": "t"}
    }))
    .expect("secret");
    api.create(&PostParams::default(), &secret)
        .await
        .expect("create");
    let meta = api.get_metadata("creds").await.expect("get_metadata");
    assert_eq!(
        meta.metadata.labels.as_ref().map(|l| l["app"].as_str()),
        Some("pb")
    );
    let list = api
        .list_metadata(&ListParams::default())
        .await
        .expect("list_metadata");
    assert_eq!(list.items.len(), 1);
    // On the wire: metadata only, no secret data.
    let body: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/namespaces/{NS}/secrets", server.url()))
        .header(
            "Accept",
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
        )
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(body["kind"], "PartialObjectMetadataList");
    assert_eq!(body["items"][0]["kind"], "PartialObjectMetadata");
    assert!(body["items"][0].get("data").is_none());

    let (reader, writer) = reflector::store();
    let metadata_api: Api<kube::core::PartialObjectMeta<Secret>> =
        Api::namespaced(server.client().expect("client"), NS);
    let stream = reflector(writer, watcher(metadata_api, watcher::Config::default()));
    tokio::spawn(stream.applied_objects().for_each(|_| async {}));
    reader.wait_until_ready().await.expect("the store fills");
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "second"}})).expect("secret"),
    )
    .await
    .expect("create");
    eventually("the metadata store sees both secrets", || {
        reader.state().len() == 2
    })
    .await;
    let lists = server.request_log().matching("list", "secrets").len();
    assert!(lists >= 2, "list_metadata and the metadata watcher listed");
    server.shutdown().await;
}
