//! Metrics after real syncs, and the health/metrics endpoints over HTTP.

use pbconnector::resources::AzureAdConnectorSpec;
use pbconnector::sync::state::ConnectorState;
use pbconnector::sync::{ConnectorKey, SyncRequest, read_credentials, run_sync};
use pbconnector::telemetry::metrics::Metrics;
use pbconnector::telemetry::server::{Readiness, serve};
use pbconnector_simulators::sample::{SampleEnvironment, SampleOptions};

fn line_value(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric line starting with {prefix:?} in\n{text}"))
}

#[tokio::test]
async fn syncs_are_counted_by_result_actions_by_kind_and_requests_by_status() {
    let env = SampleEnvironment::start(SampleOptions {
        users: 20,
        ..Default::default()
    })
    .await
    .unwrap();
    let spec: AzureAdConnectorSpec = serde_json::from_value(env.spec_json()).unwrap();
    let secrets = env.secrets();
    let metrics = Metrics::new();
    let mut state = ConnectorState::default();
    let request = SyncRequest::new(ConnectorKey::new("default", "contoso"), spec.clone());
    for _ in 0..2 {
        let credentials = read_credentials(&spec, "default", |n| secrets.get(n).cloned());
        let report = run_sync(&request, credentials, &mut state).await;
        assert!(report.succeeded(), "{:?}", report.failure);
        metrics.observe_sync(&report);
    }
    env.graph.faults().throttle_next(1, 1);
    let credentials = read_credentials(&spec, "default", |n| secrets.get(n).cloned());
    let throttled = run_sync(&request, credentials, &mut state).await;
    metrics.observe_sync(&throttled);

    let text = metrics.encode();
    assert_eq!(
        line_value(
            &text,
            "pbconnector_syncs_total{result=\"success\",target=\"passwordboss\"}"
        ),
        3.0
    );
    assert_eq!(
        line_value(
            &text,
            "pbconnector_actions_total{kind=\"created\",target=\"passwordboss\"}"
        ),
        21.0
    );
    assert_eq!(
        line_value(
            &text,
            "pbconnector_actions_total{kind=\"adopted\",target=\"passwordboss\"}"
        ),
        1.0
    );
    assert!(line_value(&text, "pbconnector_graph_requests_total{status=\"200\"}") >= 6.0);
    assert_eq!(
        line_value(&text, "pbconnector_graph_requests_total{status=\"429\"}"),
        1.0
    );
    assert!(
        line_value(
            &text,
            "pbconnector_passwordboss_requests_total{status=\"201\"}"
        ) >= 21.0
    );
    assert!(text.contains("pbconnector_sync_duration_seconds_bucket"));
    // Each step of the three syncs is timed; the first applied 22 writes, the others none.
    for step in ["graph_read", "passwordboss_read", "plan"] {
        assert_eq!(
            line_value(
                &text,
                &format!("pbconnector_sync_step_duration_seconds_count{{step=\"{step}\"}}")
            ),
            3.0,
            "{step}"
        );
    }
    assert!(
        line_value(
            &text,
            "pbconnector_sync_step_duration_seconds_count{step=\"apply\"}"
        ) >= 1.0
    );
    assert!(!text.contains(&env.client_secret) && !text.contains(env.password_boss.token()));
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served_on_one_address() {
    let readiness = Readiness::default();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let addr = serve(
        "127.0.0.1:0".parse().unwrap(),
        Metrics::new(),
        readiness.clone(),
        async move {
            let _ = stop_rx.await;
        },
    )
    .await
    .unwrap();
    let get = |path: &str| {
        let url = format!("http://{addr}{path}");
        async move { reqwest::get(url).await.unwrap() }
    };
    assert_eq!(get("/healthz").await.status(), 200);
    assert_eq!(get("/readyz").await.status(), 503);
    readiness.set(true);
    assert_eq!(get("/readyz").await.status(), 200);
    let metrics = get("/metrics").await;
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("openmetrics")
    );
    let body = metrics.text().await.unwrap();
    assert!(
        body.contains("pbconnector_sync_duration_seconds_count 0"),
        "{body}"
    );
    let _ = stop_tx.send(());
}
