//! The controller's reconcile against a scripted API server (tower-test) and a scripted engine:
//! what it writes, when it syncs, what it passes to the engine.

use std::sync::Arc;
use std::time::Duration;

use crate::support::controller::*;
use pbconnector::controller::reconcile::reconcile;
use pbconnector::resources::{
    ANNOTATION_APPROVE_DEPROVISIONS, ANNOTATION_FLUX_REQUESTED_AT, ANNOTATION_SYNC_REQUESTED_AT,
    AzureAdConnectorStatus, Connection,
};

fn setup() -> (Arc<ApiState>, Arc<ScriptedEngine>) {
    let api = Arc::new(ApiState::default());
    api.add_secret("entra-app", "100", &[("client-secret", "s3cr3t")]);
    api.add_secret("passwordboss", "200", &[("token", "pb-token")]);
    (api, Arc::new(ScriptedEngine::default()))
}

fn condition<'a>(
    status: &'a AzureAdConnectorStatus,
    kind: &str,
) -> &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == kind)
        .unwrap_or_else(|| panic!("no {kind} condition"))
}

#[tokio::test]
async fn a_new_connector_gets_waiting_then_the_synced_status_by_server_side_apply() {
    let (api, engine) = setup();
    let ctx = context(api.clone(), engine.clone());

    reconcile(connector(None, |_| {}), ctx.clone())
        .await
        .unwrap();

    let patches = api.status_patches();
    assert_eq!(patches.len(), 2, "waiting, then synced");
    for patch in &patches {
        assert_eq!(patch.content_type, "application/apply-patch+yaml");
        assert!(
            patch.query.contains("fieldManager=pbconnector"),
            "{}",
            patch.query
        );
        assert!(patch.query.contains("force=true"), "{}", patch.query);
        assert_eq!(patch.body["apiVersion"], "passwordboss.com/v1alpha1");
        assert_eq!(patch.body["kind"], "AzureAdConnector");
    }
    assert_eq!(
        patches[0].body["status"]["connection"],
        "WaitingForConnection"
    );
    let status = api.last_status();
    assert_eq!(status.connection, Connection::Connected);
    assert_eq!(status.observed_generation, Some(1));
    let ready = condition(&status, "Ready");
    assert_eq!(ready.status, "True");
    assert_eq!(ready.observed_generation, Some(1));

    // The waiting status went out before the sync's result.
    let seen = api.seen();
    let first_patch = seen.iter().position(|s| s.path == STATUS_PATH).unwrap();
    let secret_read = seen
        .iter()
        .position(|s| s.path.contains("/secrets/"))
        .unwrap();
    assert!(first_patch < secret_read);

    let requests = engine.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.key.to_string(), "msp/contoso");
    assert!(!request.dry_run);
    assert_eq!(request.approval, None);
    assert_eq!(
        request.secrets["passwordboss"]["token"],
        b"pb-token".to_vec()
    );
    assert_eq!(
        request.secrets["entra-app"]["client-secret"],
        b"s3cr3t".to_vec()
    );

    let events = api.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["reason"], "Connected");
    assert_eq!(events[0]["type"], "Normal");
    assert_eq!(events[0]["regarding"]["name"], NAME);
    assert_eq!(ctx.metrics.status_writes.get(), 2);
}

#[tokio::test(start_paused = true)]
async fn its_own_status_write_runs_no_sync_and_idle_intervals_write_nothing() {
    let (api, engine) = setup();
    let ctx = context(api.clone(), engine.clone());
    reconcile(connector(None, |_| {}), ctx.clone())
        .await
        .unwrap();
    let written = api.last_status();
    assert_eq!(api.status_patches().len(), 2);

    // The watch delivers the object with the status just written: no sync, no request at all.
    api.clear();
    let current = connector(Some(&written), |_| {});
    reconcile(current.clone(), ctx.clone()).await.unwrap();
    assert_eq!(engine.requests().len(), 1);
    assert!(api.seen().is_empty(), "{:?}", api.seen());

    // 100 intervals with nothing to change: 100 syncs, no status write.
    for _ in 0..100 {
        tokio::time::advance(Duration::from_secs(64)).await;
        reconcile(current.clone(), ctx.clone()).await.unwrap();
    }
    assert_eq!(engine.requests().len(), 101);
    assert!(api.status_patches().is_empty());
    assert!(api.events().is_empty());
    assert_eq!(ctx.metrics.status_writes.get(), 2);
}

#[tokio::test]
async fn a_status_from_an_earlier_run_that_still_holds_is_not_rewritten() {
    let (api, engine) = setup();
    let ctx = context(api.clone(), engine.clone());
    reconcile(connector(None, |_| {}), ctx.clone())
        .await
        .unwrap();
    let written = api.last_status();

    // A new process (fresh context) syncs once on start; the result says nothing new.
    let (api2, engine2) = setup();
    let ctx2 = context(api2.clone(), engine2.clone());
    reconcile(connector(Some(&written), |_| {}), ctx2)
        .await
        .unwrap();
    assert_eq!(engine2.requests().len(), 1);
    assert!(api2.status_patches().is_empty());
}

#[tokio::test]
async fn a_sync_request_annotation_syncs_before_the_interval_and_is_echoed() {
    let (api, engine) = setup();
    let ctx = context(api.clone(), engine.clone());
    reconcile(connector(None, |_| {}), ctx.clone())
        .await
        .unwrap();
    let written = api.last_status();
    api.clear();

    let requested = connector(Some(&written), |v| {
        annotate(v, ANNOTATION_SYNC_REQUESTED_AT, "2026-11-25T10:00:00Z")
    });
    reconcile(requested, ctx.clone()).await.unwrap();
    assert_eq!(engine.requests().len(), 2, "synced at once");
    let echoed = api.last_status();
    assert_eq!(
        echoed.last_handled_sync_request.as_deref(),
        Some("2026-11-25T10:00:00Z")
    );

    // Handled: the object with the echo does not sync again.
    api.clear();
    let handled = connector(Some(&echoed), |v| {
        annotate(v, ANNOTATION_SYNC_REQUESTED_AT, "2026-11-25T10:00:00Z")
    });
    reconcile(handled, ctx.clone()).await.unwrap();
    assert_eq!(engine.requests().len(), 2);
    assert!(api.seen().is_empty());

    // Flux's annotation is honoured the same way.
    let flux = connector(Some(&echoed), |v| {
        annotate(v, ANNOTATION_SYNC_REQUESTED_AT, "2026-11-25T10:00:00Z");
        annotate(v, ANNOTATION_FLUX_REQUESTED_AT, "flux-1");
    });
    reconcile(flux, ctx.clone()).await.unwrap();
    assert_eq!(engine.requests().len(), 3);
    assert_eq!(
        api.last_status().last_handled_sync_request.as_deref(),
        Some("flux-1")
    );
}

#[tokio::test]
async fn an_approval_syncs_at_once_and_is_passed_to_the_engine_once_per_value() {
    let (api, engine) = setup();
    engine.script(blocked_report(30));
    let ctx = context(api.clone(), engine.clone());
    reconcile(connector(None, |_| {}), ctx.clone())
        .await
        .unwrap();
    let blocked = api.last_status();
    assert_eq!(blocked.last_sync.blocked_deprovisions, 30);
    let held = blocked.blocked.clone().expect("status.blocked");
    assert_eq!(held.deprovisions, 30);
    assert_eq!(held.users.len(), 30, "the held users are listed");
    assert!(held.approval.starts_with("30-"), "{}", held.approval);
    assert!(
        api.events()
            .iter()
            .any(|e| e["reason"] == "DeprovisionBlocked" && e["type"] == "Warning")
    );

    // The annotation's value goes to the sync, which applies exactly the set it names (the
    // planner's tests cover the matching); the controller syncs at once for a new value.
    let approved = connector(Some(&blocked), |v| {
        annotate(v, ANNOTATION_APPROVE_DEPROVISIONS, &held.approval)
    });
    reconcile(approved.clone(), ctx.clone()).await.unwrap();
    let requests = engine.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[1].approval.as_deref(),
        Some(held.approval.as_str())
    );
    assert_eq!(
        requests[1].safety_record, blocked.safety,
        "the sync plans from the record in status"
    );
    assert!(
        requests[1].safety_store.is_some(),
        "and stores what it spends there first"
    );
    assert_eq!(api.last_status().last_sync.blocked_deprovisions, 0);

    // The same approval on the same object does not sync again.
    reconcile(approved, ctx.clone()).await.unwrap();
    assert_eq!(engine.requests().len(), 2);
}

#[tokio::test]
async fn a_suspended_connector_does_not_sync_and_says_so() {
    let (api, engine) = setup();
    let ctx = context(api.clone(), engine.clone());
    let suspended = connector(None, |v| v["spec"]["suspend"] = true.into());
    reconcile(suspended.clone(), ctx.clone()).await.unwrap();

    assert!(engine.requests().is_empty());
    let status = api.last_status();
    let ready = condition(&status, "Ready");
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason, "Suspended");
    assert!(status.message.contains("Suspended"), "{}", status.message);

    // Nothing new to say the next time.
    api.clear();
    let with_status = connector(Some(&status), |v| v["spec"]["suspend"] = true.into());
    reconcile(with_status, ctx.clone()).await.unwrap();
    assert!(api.seen().is_empty());
    assert!(engine.requests().is_empty());
}

#[tokio::test]
async fn an_unauthorized_sync_publishes_a_warning_event() {
    let (api, engine) = setup();
    engine.script(unauthorized_report());
    let ctx = context(api.clone(), engine.clone());
    reconcile(connector(None, |_| {}), ctx.clone())
        .await
        .unwrap();

    let status = api.last_status();
    assert_eq!(status.connection, Connection::Unauthorized);
    let events = api.events();
    let warning = events
        .iter()
        .find(|e| e["reason"] == "PasswordBossUnauthorized")
        .expect("a PasswordBossUnauthorized event");
    assert_eq!(warning["type"], "Warning");
    assert!(
        warning["note"].as_str().unwrap().contains("Password Boss"),
        "{warning}"
    );
    assert_eq!(warning["reportingController"], "pbconnector");
}

#[tokio::test(start_paused = true)]
async fn a_failed_sync_is_retried_after_a_backoff_not_at_once() {
    let (api, engine) = setup();
    // A failure waiting may fix (refused credentials are quarantined instead:
    // tests/suite/controller/quarantine.rs).
    engine.script(unavailable_report());
    engine.script(unavailable_report());
    let ctx = context(api.clone(), engine.clone());
    reconcile(connector(None, |_| {}), ctx.clone())
        .await
        .unwrap();
    let failed = connector(Some(&api.last_status()), |_| {});

    reconcile(failed.clone(), ctx.clone()).await.unwrap();
    assert_eq!(
        engine.requests().len(),
        1,
        "the status write is no reason to retry"
    );
    tokio::time::advance(Duration::from_secs(5)).await;
    reconcile(failed.clone(), ctx.clone()).await.unwrap();
    assert_eq!(engine.requests().len(), 2, "first retry after 5 s");
    tokio::time::advance(Duration::from_secs(5)).await;
    reconcile(failed.clone(), ctx.clone()).await.unwrap();
    assert_eq!(engine.requests().len(), 2, "second retry waits 10 s");
    tokio::time::advance(Duration::from_secs(5)).await;
    reconcile(failed, ctx.clone()).await.unwrap();
    assert_eq!(engine.requests().len(), 3);
}

#[tokio::test]
async fn a_missing_secret_is_simply_absent_from_the_request() {
    let api = Arc::new(ApiState::default());
    api.add_secret("passwordboss", "200", &[("token", "pb-token")]);
    let engine = Arc::new(ScriptedEngine::default());
    let ctx = context(api.clone(), engine.clone());
    reconcile(connector(None, |_| {}), ctx).await.unwrap();

    let requests = engine.requests();
    assert_eq!(requests.len(), 1);
    assert!(!requests[0].secrets.contains_key("entra-app"));
    assert!(requests[0].secrets.contains_key("passwordboss"));
    assert!(
        api.seen()
            .iter()
            .any(|s| s.method == "GET" && s.path.ends_with("/secrets/entra-app"))
    );
}

#[tokio::test]
async fn dry_run_is_passed_to_the_engine() {
    let (api, engine) = setup();
    let ctx = context(api, engine.clone());
    let dry = connector(None, |v| v["spec"]["dryRun"] = true.into());
    reconcile(dry, ctx).await.unwrap();
    assert!(engine.requests()[0].dry_run);
}

#[tokio::test]
async fn a_spec_change_syncs_at_once() {
    let (api, engine) = setup();
    let ctx = context(api.clone(), engine.clone());
    reconcile(connector(None, |_| {}), ctx.clone())
        .await
        .unwrap();
    let written = api.last_status();
    let changed = connector(Some(&written), |v| {
        v["metadata"]["generation"] = 2.into();
        v["spec"]["nestedGroups"] = false.into();
    });
    reconcile(changed, ctx).await.unwrap();
    assert_eq!(engine.requests().len(), 2);
    let status = api.last_status();
    assert_eq!(status.observed_generation, Some(2));
    assert_eq!(condition(&status, "Ready").observed_generation, Some(2));
}

#[tokio::test]
async fn a_malformed_connector_is_reported_on_itself_once() {
    let (api, engine) = setup();
    let ctx = context(api.clone(), engine.clone());
    let broken = connector(None, |v| v["spec"]["interval"] = json_number());
    assert!(broken.0.is_err(), "the fixture must not deserialize");
    reconcile(broken.clone(), ctx.clone()).await.unwrap();
    reconcile(broken, ctx).await.unwrap();

    assert!(engine.requests().is_empty());
    let patches = api.status_patches();
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].body["status"]["connection"], "Error");
    let events = api.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["reason"], "InvalidSpec");
}

fn json_number() -> serde_json::Value {
    serde_json::json!(60)
}

#[tokio::test]
async fn forgetting_a_deleted_connector_reaches_the_engine() {
    let (api, engine) = setup();
    let ctx = context(api, engine.clone());
    reconcile(connector(None, |_| {}), ctx.clone())
        .await
        .unwrap();
    let key = pbconnector::sync::ConnectorKey::new(NS, NAME);
    assert!(ctx.ledger().entry(&key).is_some());
    ctx.forget(&key);
    assert!(ctx.ledger().entry(&key).is_none());
    assert_eq!(*engine.forgotten.lock().unwrap(), vec![key]);
}
