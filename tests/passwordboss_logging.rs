//! No token in any log line: a capturing subscriber at TRACE (with `log` records bridged)
//! watches successes, retries, dropped connections and a refused token.

#[path = "support/log_capture.rs"]
mod log_capture;
mod passwordboss_support;

use log_capture::Capture;
use passwordboss_support::*;
use pbconnector::passwordboss::{PasswordBossClient, execute};

#[tokio::test]
async fn no_token_appears_in_any_log_line() {
    let capture = Capture::default();
    // try_init also bridges `log` records (reqwest's) into the capture.
    tracing_subscriber::util::SubscriberInitExt::try_init(capture.subscriber())
        .expect("the only subscriber of this test binary");

    let sim = sim(3).await;
    let client = client(&sim);
    client.read_state().await.unwrap();
    sim.faults().fail_next(2, 503, None);
    sim.faults().drop_next_writes_after_apply(1);
    let report = execute(&client, &plan((0..5).map(create).collect()), "sync-1").await;
    assert!(report.is_complete(), "{report:?}");

    let wrong = "wrong-token-that-must-stay-secret";
    let refused = PasswordBossClient::new(config_for(sim.url(), wrong)).unwrap();
    let report = execute(&refused, &plan(vec![create(9)]), "sync-2").await;
    let err = report.unauthorized.expect("401");
    for printed in [
        err.to_string(),
        format!("{err:?}"),
        format!("{client:?}"),
        format!("{:?}", config_for(sim.url(), sim.token())),
    ] {
        assert!(
            !printed.contains(sim.token()) && !printed.contains(wrong),
            "{printed}"
        );
    }

    let logs = capture.text();
    assert!(logs.contains("retrying Password Boss request"), "{logs}");
    assert!(logs.contains("Password Boss refused the token"), "{logs}");
    assert!(logs.lines().count() > 20, "TRACE captured: {logs}");
    for line in logs.lines() {
        assert!(!line.contains(sim.token()), "token in: {line}");
        assert!(!line.contains(wrong), "token in: {line}");
        assert!(
            !line.to_ascii_lowercase().contains("bearer "),
            "auth header in: {line}"
        );
    }
}
