//! No token in any log line: a capturing subscriber at TRACE (with `log` records bridged)
//! watches successes, retries, dropped connections and a refused token.

mod passwordboss_support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use passwordboss_support::*;
use pbconnector::passwordboss::{PasswordBossClient, execute};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn no_token_appears_in_any_log_line() {
    let capture = Capture::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(capture.clone())
        .try_init()
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

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
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
