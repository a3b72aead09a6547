//! Quarantine on the real API server, in-process (`controller::run` with the real sync engine)
//! against the Graph simulator: a wrong client secret (AADSTS7000215) quarantines the connector,
//! its attempts follow the backoff, a sync request buys exactly one attempt that resumes the
//! count, and fixing the Secret ends the quarantine at once.
//!
//! The interval is 2 s, shorter than the CRD's 10 s minimum (the CRD is installed without that
//! one rule, as in `scale.rs`), so the backoff is 2, 4, 8, 16 s. The test asserts on what the
//! operator counted and wrote (`status.quarantine`, its timestamps) and on the token requests the
//! simulator received, never on time measured by the test.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use pbconnector::resources::{
    ANNOTATION_SYNC_REQUESTED_AT, ANNOTATION_VERIFY_REQUESTED_AT, AzureAdConnectorStatus,
    CONDITION_READY, Connection, QuarantineStatus,
};
use pbconnector_simulators::graph::PathKind;

use crate::support::e2e::{Cluster, CountingEngine, InProcess, NAME, sample};

const INTERVAL: Duration = Duration::from_secs(2);
/// A bound on a hung test, not a measurement.
const TIMEOUT: Duration = Duration::from_secs(60);

fn ready(status: &AzureAdConnectorStatus) -> (&str, &str, &str) {
    let c = status
        .conditions
        .iter()
        .find(|c| c.type_ == CONDITION_READY)
        .expect("a Ready condition");
    (c.status.as_str(), c.reason.as_str(), c.message.as_str())
}

fn time(q: &QuarantineStatus) -> (Timestamp, Timestamp) {
    (
        q.since.as_ref().expect("since").0,
        q.next_attempt_time.as_ref().expect("nextAttemptTime").0,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_back_off_a_sync_request_buys_one_attempt_and_a_secret_fix_ends_it() {
    let cluster = Cluster::shared_without_interval_minimum().await;
    let ns = cluster.namespace("e2e-quarantine").await;
    let env = sample(5, "2s").await;
    let token_requests = || env.graph.requests().http(PathKind::Token);
    let engine = CountingEngine::default();
    let mut config = InProcess::config(true);
    config.namespaces = vec![ns.clone()];
    let metrics = config.metrics.clone();
    let operator = InProcess::start_with(cluster.operator_client().await, engine.clone(), config);

    // A wrong client secret: Entra answers AADSTS7000215 to every attempt.
    let good = env.manifests(&ns);
    let wrong = good.replace(&env.client_secret, "not-the-secret-value");
    assert_ne!(good, wrong);
    cluster.apply(&wrong).await;

    // Three attempts, one token request each, the wait doubling from the interval: the operator
    // writes when the next attempt is due, 2, 4 and 8 s after each attempt ended.
    let mut seen = Vec::new();
    for n in 1..=3u32 {
        let status = cluster
            .wait_status(&ns, &format!("quarantine failure {n}"), TIMEOUT, |s| {
                s.quarantine.as_ref().is_some_and(|q| q.failures >= n)
            })
            .await;
        let q = status.quarantine.clone().expect("quarantined");
        assert_eq!(q.failures, n, "each attempt is seen: {q:?}");
        assert_eq!(q.reason, "AzureUnauthorized");
        let (_, next) = time(&q);
        let attempt_ended = status.last_sync_time.as_ref().expect("lastSyncTime").0;
        assert_eq!(
            next.duration_since(attempt_ended),
            SignedDuration::try_from(INTERVAL * (1 << (n - 1))).unwrap(),
            "attempt {n}: the next one is the interval doubled {} times later",
            n - 1
        );
        assert_eq!(status.connection, Connection::Unauthorized);
        let (value, reason, message) = ready(&status);
        assert_eq!((value, reason), ("False", "Quarantined"));
        for part in ["AADSTS7000215", "Next attempt at", "Secret", "sync-now"] {
            assert!(message.contains(part), "{part} in {message}");
        }
        seen.push(q);
    }
    // Still waiting out the 8 s: exactly one token request per attempt, nothing in between
    // (without quarantine a 2 s interval would have retried every 2 s).
    assert_eq!(token_requests(), 3, "one token request per attempt");
    assert_eq!(engine.syncs(&cluster_key(&ns)), 3);
    let since = time(&seen[0]).0;
    assert!(
        seen.iter().all(|q| time(q).0 == since),
        "since the first failure: {seen:?}"
    );
    let text = metrics.encode();
    let gauge = format!(
        "pbconnector_connector_quarantined{{namespace=\"{ns}\",name=\"{NAME}\",target=\"passwordboss\"}} 1"
    );
    assert!(text.contains(&gauge), "{gauge} in\n{text}");

    // A sync request buys one attempt now; the same failure resumes the count (4, not 1) and
    // the next wait doubles again (16 s).
    cluster
        .kubectl
        .ok(&[
            "-n",
            &ns,
            "annotate",
            &format!("aadc/{NAME}"),
            "--overwrite",
            &format!("{ANNOTATION_SYNC_REQUESTED_AT}=quarantine-1"),
        ])
        .await;
    let status = cluster
        .wait_status(&ns, "the requested attempt", TIMEOUT, |s| {
            s.last_handled_sync_request.as_deref() == Some("quarantine-1")
        })
        .await;
    let q = status.quarantine.clone().expect("still quarantined");
    assert_eq!(q.failures, 4, "the count resumes where it was: {q:?}");
    assert_eq!(time(&q).0, since);
    let (_, next) = time(&q);
    let attempt_ended = status.last_sync_time.as_ref().expect("lastSyncTime").0;
    assert_eq!(
        next.duration_since(attempt_ended),
        SignedDuration::from_secs(16)
    );
    assert!(
        attempt_ended < time(&seen[2]).1,
        "the requested attempt came before the backoff's own"
    );
    assert_eq!(
        token_requests(),
        4,
        "the request bought exactly one attempt"
    );

    // Fixing the Secret ends the quarantine at once: the next token request comes without
    // waiting 16 s for nextAttemptTime, and the connector connects.
    cluster.apply(&good).await;
    let status = cluster
        .wait_connection(&ns, Connection::Connected, TIMEOUT)
        .await;
    assert_eq!(status.quarantine, None);
    assert_eq!(ready(&status).0, "True");
    let success = status
        .last_successful_sync_time
        .as_ref()
        .expect("lastSuccessfulSyncTime")
        .0;
    assert!(
        success < next,
        "the fixed Secret was tried at once ({success}), not at the next attempt ({next})"
    );
    assert!(
        token_requests() >= 5,
        "the fixed Secret reached the token endpoint"
    );
    let text = metrics.encode();
    let cleared = gauge.replace("} 1", "} 0");
    assert!(text.contains(&cleared), "{cleared} in\n{text}");

    operator.stop().await;
    let events = cluster.events(&ns).await;
    assert!(
        events.iter().any(|e| e["reason"] == "Quarantined"),
        "a Quarantined Event: {events:#?}"
    );
    cluster.cleanup().await;
}

/// Fixed upstream, nothing changed in the cluster (here: the secret the connector sends becomes
/// one of the app's in Entra): the backoff goes on waiting, and a verify request whose checks
/// pass ends the quarantine and syncs at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passing_verify_ends_the_quarantine_and_syncs_at_once() {
    let cluster = Cluster::shared_without_interval_minimum().await;
    let ns = cluster.namespace("e2e-quarantine-verify").await;
    let env = sample(5, "2s").await;
    let mut config = InProcess::config(true);
    config.namespaces = vec![ns.clone()];
    let operator = InProcess::start_with(
        cluster.operator_client().await,
        CountingEngine::default(),
        config,
    );
    const SENT: &str = "the-secret-the-connector-sends";
    cluster
        .apply(&env.manifests(&ns).replace(&env.client_secret, SENT))
        .await;
    let status = cluster
        .wait_status(&ns, "two failures", TIMEOUT, |s| {
            s.quarantine.as_ref().is_some_and(|q| q.failures >= 2)
        })
        .await;
    let q = status.quarantine.clone().expect("quarantined");
    assert_eq!(q.failures, 2);
    let (_, next) = time(&q);

    env.tenant.add_secret(&env.client_id, SENT, false);
    cluster
        .kubectl
        .ok(&[
            "-n",
            &ns,
            "annotate",
            &format!("aadc/{NAME}"),
            "--overwrite",
            &format!("{ANNOTATION_VERIFY_REQUESTED_AT}=after-the-fix"),
        ])
        .await;
    let status = cluster
        .wait_connection(&ns, Connection::Connected, TIMEOUT)
        .await;
    let verify = status.verify.as_ref().expect("the verify answered");
    assert_eq!(verify.requested_at, "after-the-fix");
    assert!(verify.checks.iter().all(|c| c.ok), "{verify:?}");
    assert_eq!(status.quarantine, None);
    let success = status
        .last_successful_sync_time
        .as_ref()
        .expect("lastSuccessfulSyncTime")
        .0;
    assert!(
        success < next,
        "synced at once after the verify ({success}), not at the next attempt ({next})"
    );
    operator.stop().await;
    cluster.cleanup().await;
}

fn cluster_key(ns: &str) -> pbconnector::sync::ConnectorKey {
    pbconnector::sync::ConnectorKey::new(ns, NAME)
}
