//! No token in any log line: a capturing subscriber at TRACE (with `log` records bridged)
//! watches successes, retries, dropped connections and a refused token.

use crate::support::log_capture;

use crate::support::passwordboss::*;
use log_capture::Capture;
use pbconnector::passwordboss::PasswordBossClient;
use pbconnector::sync::apply::execute;

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

/// The audit trail: one JSON line per Password Boss write under the target
/// `pbconnector::audit`, written by the operator's own JSON subscriber, with the connector, the
/// action, who (email or group, Entra id, Password Boss id), the outcome and the reason — for
/// applied, refused, failed and skipped writes alike, and never a token.
#[tokio::test]
async fn every_write_is_one_audit_line() {
    use pbconnector::plan::Deprovision;
    use pbconnector::sync::apply::execute_reporting;
    use pbconnector::sync::state::AUDIT_TARGET;
    use pbconnector_simulators::passwordboss::SeedUser;
    use serde_json::Value;

    let capture = Capture::default();
    // Only the audit target: the filter an operator would use to keep the trail alone.
    let subscriber = pbconnector::telemetry::logging::json_subscriber(
        &format!("{AUDIT_TARGET}=info"),
        capture.clone(),
    );
    let _default = tracing::subscriber::set_default(subscriber);

    let sim = sim(10).await;
    let leaver = sim
        .add_user(SeedUser::new("leaver@contoso.com", "Lea", "Ver").azure("e-leaver"))
        .expect("seeded");
    let one_at_a_time = |c: &mut pbconnector::passwordboss::PasswordBossConfig| c.concurrency = 1;
    let client = client_with(&sim, one_at_a_time);
    let connector = "msp-contoso/contoso";
    let report = execute_reporting(
        &client,
        &plan(vec![
            create(1),
            create_with("e-bad", "not-an-email"),
            deprovision(&leaver.id, "leaver@contoso.com", Deprovision::Disable),
        ]),
        "sync-audit-1",
        connector,
        &|_| {},
    )
    .await;
    assert_eq!(report.audit.len(), 3, "{report:?}");
    let created = sim.user_by_email("user1@contoso.com").expect("created");

    // Password Boss down for every retry: a failed write with an error code.
    sim.faults().fail_next(20, 503, None);
    let renamed = rename(&leaver.id, "e-leaver", "leaver@contoso.com", "Leah");
    execute_reporting(
        &client,
        &plan(vec![renamed]),
        "sync-audit-2",
        connector,
        &|_| {},
    )
    .await;
    sim.faults().clear();

    // A refused token: the first write fails, the next is not attempted. `execute` names no
    // connector.
    let wrong = "wrong-token-that-must-stay-secret";
    let refused = pbconnector::passwordboss::PasswordBossClient::new({
        let mut config = config_for(sim.url(), wrong);
        config.concurrency = 1;
        config
    })
    .unwrap();
    execute(&refused, &plan(vec![create(3), create(4)]), "sync-audit-3").await;

    let lines: Vec<Value> = capture
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for line in &lines {
        let text = line.to_string();
        assert!(
            !text.contains(sim.token()) && !text.contains(wrong),
            "token in: {text}"
        );
        assert_eq!(line["target"], AUDIT_TARGET, "{line}");
        assert_eq!(line["message"], "Password Boss write", "{line}");
    }
    let line = |email: &str| -> &Value {
        let found: Vec<&Value> = lines.iter().filter(|l| l["email"] == email).collect();
        assert_eq!(found.len(), 1, "one line for {email}: {lines:#?}");
        found[0]
    };
    assert_eq!(lines.len(), 6, "one line per write: {lines:#?}");

    let create_line = line("user1@contoso.com");
    assert_eq!(create_line["connector"], connector);
    assert_eq!(create_line["action"], "CreateUser");
    assert_eq!(create_line["entra_id"], "e1");
    assert_eq!(create_line["passwordboss_id"], created.id.as_str());
    assert_eq!(create_line["outcome"], "applied");
    assert!(create_line.get("reason").is_none(), "{create_line}");

    let refused_line = line("not-an-email");
    assert_eq!(refused_line["action"], "CreateUser");
    assert_eq!(refused_line["entra_id"], "e-bad");
    assert_eq!(refused_line["outcome"], "failed");
    assert_eq!(refused_line["reason"], "Rejected", "the conflict reason");
    assert!(
        refused_line.get("passwordboss_id").is_none(),
        "{refused_line}"
    );

    let leaver_lines: Vec<&Value> = lines
        .iter()
        .filter(|l| l["email"] == "leaver@contoso.com")
        .collect();
    assert_eq!(leaver_lines.len(), 2, "{lines:#?}");
    let disable = leaver_lines
        .iter()
        .find(|l| l["action"] == "DisableUser")
        .expect("the disable");
    assert_eq!(disable["connector"], connector);
    assert_eq!(disable["passwordboss_id"], leaver.id.as_str());
    assert_eq!(disable["outcome"], "applied");
    assert_eq!(disable["reason"], "RemovedFromGroup", "the leave reason");
    let update = leaver_lines
        .iter()
        .find(|l| l["action"] == "UpdateUser")
        .expect("the rename");
    assert_eq!(update["outcome"], "failed");
    assert_eq!(update["reason"], "unavailable", "the error code");
    assert_eq!(update["entra_id"], "e-leaver");

    let unauthorized = line("user3@contoso.com");
    assert_eq!(unauthorized["outcome"], "failed");
    assert_eq!(unauthorized["reason"], "invalid_token");
    assert!(unauthorized.get("connector").is_none(), "{unauthorized}");
    let skipped = line("user4@contoso.com");
    assert_eq!(skipped["outcome"], "skipped");
    assert_eq!(skipped["reason"], "NotAttempted");
}
