//! A long sync's progress in `status.message`: the operator (the built binary) against a real
//! kube-apiserver and a slow Password Boss simulator.

use std::time::Duration;

use crate::support::e2e::{Operator, cluster_with_sample};
use pbconnector::resources::Connection;

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_first_sync_shows_its_progress_in_status_then_its_result() {
    let (cluster, ns, env) = cluster_with_sample("e2e-progress", 300, "5m").await;
    // Every Password Boss answer takes 100 ms: the 302 account writes take seconds.
    env.password_boss
        .faults()
        .set_latency(Duration::from_millis(100));
    let operator = Operator::start(
        &cluster.operator_kubeconfig().await,
        &["--namespace", &ns, "--progress-status-interval", "1"],
    )
    .await;
    cluster.apply(&env.manifests(&ns)).await;

    let during = cluster
        .wait_status(&ns, "progress in status.message", MINUTE, |s| {
            s.message.starts_with("Creating and updating accounts: ")
        })
        .await;
    assert!(during.message.ends_with(" of 302"), "{}", during.message);
    assert_eq!(during.connection, Connection::WaitingForConnection);

    let done = cluster
        .wait_connection(&ns, Connection::Connected, MINUTE)
        .await;
    assert!(
        !done.message.contains(" of 302"),
        "the result replaces the progress: {}",
        done.message
    );
    operator.stop().await;
    cluster.cleanup().await;
}
