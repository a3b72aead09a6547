//! Quarantine in the controller's reconcile, against a scripted API server and engine on a paused
//! clock: attempts of a connector whose credentials are refused are counted as virtual time
//! passes; a spec change ends the quarantine, a sync request buys one attempt paced like verify,
//! and an operator that has just started honours `status.quarantine` instead of trying at once.

use std::sync::Arc;
use std::time::Duration;

use crate::support::controller::*;
use pbconnector::controller::reconcile::reconcile;
use pbconnector::resources::{ANNOTATION_SYNC_REQUESTED_AT, AzureAdConnectorStatus, Connection};

const MINUTE: Duration = Duration::from_secs(60);

fn setup() -> (Arc<ApiState>, Arc<ScriptedEngine>) {
    let api = Arc::new(ApiState::default());
    api.add_secret("entra-app", "100", &[("client-secret", "s3cr3t")]);
    api.add_secret("passwordboss", "200", &[("token", "pb-token")]);
    (api, Arc::new(ScriptedEngine::default()))
}

fn failures(status: &AzureAdConnectorStatus) -> u32 {
    status.quarantine.as_ref().map_or(0, |q| q.failures)
}

fn ready_reason(status: &AzureAdConnectorStatus) -> String {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.reason.clone())
        .expect("Ready")
}

/// Refused every time, interval 1 m: attempts at 0, 1, 3 and 7 minutes (the wait 1, 2, 4 m),
/// none in between; a transient failure would have been retried after 5 s.
#[tokio::test(start_paused = true)]
async fn refused_credentials_are_retried_at_the_interval_doubling() {
    let (api, engine) = setup();
    for _ in 0..5 {
        engine.script(unauthorized_report());
    }
    let ctx = context(api.clone(), engine.clone());
    reconcile(connector(None, |_| {}), ctx.clone())
        .await
        .unwrap();
    assert_eq!(engine.requests().len(), 1);
    let status = api.last_status();
    assert_eq!(failures(&status), 1);
    assert_eq!(ready_reason(&status), "Quarantined");
    assert_eq!(status.connection, Connection::Unauthorized);

    // Each step: (seconds to advance, attempts expected after reconciling then).
    let steps = [
        (5, 1),
        (54, 1),
        (1, 2),   // 1 m
        (119, 2), // 2 m 59 s
        (1, 3),   // 3 m
        (239, 3), // 6 m 59 s
        (1, 4),   // 7 m
    ];
    for (advance, attempts) in steps {
        tokio::time::advance(Duration::from_secs(advance)).await;
        let current = connector(Some(&api.last_status()), |_| {});
        reconcile(current, ctx.clone()).await.unwrap();
        assert_eq!(
            engine.requests().len(),
            attempts,
            "after advancing {advance} s"
        );
        assert_eq!(failures(&api.last_status()), attempts as u32);
    }
}

/// A spec change ends the quarantine at once and starts the count over; a sync request buys one
/// attempt that counts on; a second request within verify's minute waits for it.
#[tokio::test(start_paused = true)]
async fn a_spec_change_ends_it_and_a_sync_request_buys_one_paced_attempt() {
    let (api, engine) = setup();
    for _ in 0..6 {
        engine.script(unauthorized_report());
    }
    let ctx = context(api.clone(), engine.clone());
    reconcile(connector(None, |_| {}), ctx.clone())
        .await
        .unwrap();
    tokio::time::advance(MINUTE).await;
    reconcile(connector(Some(&api.last_status()), |_| {}), ctx.clone())
        .await
        .unwrap();
    assert_eq!(failures(&api.last_status()), 2);

    // A sync request: one attempt now, the count goes on.
    let requested = |value: &str| {
        let status = api.last_status();
        let value = value.to_owned();
        connector(Some(&status), move |v| {
            annotate(v, ANNOTATION_SYNC_REQUESTED_AT, &value)
        })
    };
    reconcile(requested("r1"), ctx.clone()).await.unwrap();
    assert_eq!(engine.requests().len(), 3, "the request bought an attempt");
    let status = api.last_status();
    assert_eq!(failures(&status), 3, "the count resumes where it was");
    assert_eq!(status.last_handled_sync_request.as_deref(), Some("r1"));

    // Another request within the minute waits for it.
    reconcile(requested("r2"), ctx.clone()).await.unwrap();
    assert_eq!(engine.requests().len(), 3, "paced like verify");
    tokio::time::advance(MINUTE).await;
    reconcile(requested("r2"), ctx.clone()).await.unwrap();
    assert_eq!(engine.requests().len(), 4, "answered once the minute is up");
    assert_eq!(failures(&api.last_status()), 4);

    // A spec change: an attempt at once, the count starts over.
    let changed = connector(Some(&api.last_status()), |v| {
        annotate(v, ANNOTATION_SYNC_REQUESTED_AT, "r2");
        v["metadata"]["generation"] = 2.into();
        v["spec"]["nestedGroups"] = false.into();
    });
    reconcile(changed, ctx.clone()).await.unwrap();
    assert_eq!(engine.requests().len(), 5);
    assert_eq!(failures(&api.last_status()), 1, "the count starts over");

    // Fixed: a success ends the quarantine.
    let changed = connector(Some(&api.last_status()), |v| {
        annotate(v, ANNOTATION_SYNC_REQUESTED_AT, "r2");
        v["metadata"]["generation"] = 3.into();
    });
    engine.reports.lock().unwrap().clear();
    reconcile(changed, ctx).await.unwrap();
    let status = api.last_status();
    assert_eq!(status.quarantine, None);
    assert_eq!(status.connection, Connection::Connected);
    assert_eq!(ready_reason(&status), "Synced");
}

/// The credential source changing (the seam the shared app's watch calls) ends it at once.
#[tokio::test(start_paused = true)]
async fn a_credential_source_change_ends_it_at_once() {
    let (api, engine) = setup();
    engine.script(unauthorized_report());
    engine.script(unauthorized_report());
    let ctx = context(api.clone(), engine.clone());
    reconcile(connector(None, |_| {}), ctx.clone())
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(30)).await;
    reconcile(connector(Some(&api.last_status()), |_| {}), ctx.clone())
        .await
        .unwrap();
    assert_eq!(engine.requests().len(), 1, "waiting out the minute");
    ctx.credential_source_changed(&pbconnector::sync::ConnectorKey::new(NS, NAME));
    reconcile(connector(Some(&api.last_status()), |_| {}), ctx.clone())
        .await
        .unwrap();
    assert_eq!(engine.requests().len(), 2, "at once");
    assert_eq!(failures(&api.last_status()), 1, "the count starts over");
}

/// An operator that has just started knows the quarantine from the status alone: it waits for
/// `nextAttemptTime` rather than trying at once, unless the spec changed meanwhile.
#[tokio::test(start_paused = true)]
async fn a_restarted_operator_keeps_the_quarantine_from_the_status() {
    let (api, engine) = setup();
    engine.script(unauthorized_report());
    let first = context(api.clone(), engine.clone());
    reconcile(connector(None, |_| {}), first).await.unwrap();
    let quarantined = api.last_status();
    assert_eq!(failures(&quarantined), 1);

    let (api2, engine2) = setup();
    let restarted = context(api2.clone(), engine2.clone());
    let action = reconcile(connector(Some(&quarantined), |_| {}), restarted.clone())
        .await
        .unwrap();
    assert!(
        engine2.requests().is_empty(),
        "no attempt before nextAttemptTime"
    );
    assert!(
        format!("{action:?}").contains("requeue_after: Some"),
        "looks again when it is due: {action:?}"
    );
    let changed = connector(Some(&quarantined), |v| {
        v["metadata"]["generation"] = 2.into();
    });
    reconcile(changed, restarted).await.unwrap();
    assert_eq!(
        engine2.requests().len(),
        1,
        "a spec change while it was down"
    );
}
