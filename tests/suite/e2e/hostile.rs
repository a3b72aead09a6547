//! One operator, 20 connectors, one of each hostile server kind among them (huge bodies,
//! paging cycles, endless paging, servers that never answer, on the Graph side and on the
//! Password Boss side): every hostile connector fails with its own reason, every other
//! connector keeps its interval, and the process's memory stays bounded.
//!
//! In-process (`controller::run` with the real sync engine, counted) against the test API
//! server; intervals shorter than the CRD's 10 s minimum, as in e2e/scale.rs.

use std::time::{Duration, Instant};

use crate::support::e2e::{Cluster, CountingEngine, InProcess, NAME, eventually, sample};
use pbconnector::resources::{CONDITION_READY, Connection};
use pbconnector::sync::ConnectorKey;
use pbconnector_simulators::hostile::Hostile;
use pbconnector_simulators::sample::SampleEnvironment;

const CONNECTORS: usize = 20;
/// How long the healthy connectors may take for five more syncs at their 1 s interval (a bound
/// on a hung test, not a measurement).
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(30);
/// Each sync's deadline, both services together.
const SYNC_DEADLINE: Duration = Duration::from_secs(3);
/// The chart's memory limit: the operator must stay well within it.
const MEMORY_LIMIT_KIB: u64 = 256 * 1024;

#[derive(Clone, Copy, Debug)]
enum Side {
    Graph,
    PasswordBoss,
}

/// The hostile connectors: (side, behaviour, the reasons its sync may fail with).
const HOSTILE: [(Side, Hostile, &[&str]); 8] = [
    (
        Side::Graph,
        Hostile::HugeBody(800 << 20),
        &["ResponseTooLarge"],
    ),
    (
        Side::PasswordBoss,
        Hostile::HugeBody(800 << 20),
        &["ResponseTooLarge"],
    ),
    (Side::Graph, Hostile::CyclicPaging, &["PagingCycle"]),
    (Side::PasswordBoss, Hostile::CyclicPaging, &["PagingCycle"]),
    // 20,000 pages may take longer than the deadline: either bound stops it.
    (
        Side::Graph,
        Hostile::EndlessPaging,
        &["TooManyPages", "SyncDeadlineExceeded"],
    ),
    (
        Side::PasswordBoss,
        Hostile::EndlessPaging,
        &["TooManyPages", "SyncDeadlineExceeded"],
    ),
    (Side::Graph, Hostile::NeverAnswer, &["SyncDeadlineExceeded"]),
    (
        Side::PasswordBoss,
        Hostile::NeverAnswer,
        &["SyncDeadlineExceeded"],
    ),
];

/// The peak resident set of this process so far, KiB (`VmHWM`). The suite's other tests share
/// the process: what they allocate beside this one only makes the bound stricter.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

fn make_hostile(env: &SampleEnvironment, side: Side, hostile: Hostile) {
    match side {
        Side::Graph => env.graph.faults().set_hostile(Some(hostile)),
        Side::PasswordBoss => env.password_boss.faults().set_hostile(Some(hostile)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_servers_fail_only_their_own_connector() {
    // Twenty namespaces watched cluster-wide: a server of this test's own.
    let cluster = Cluster::owned().await;
    cluster.install_crd_without_interval_minimum().await;
    let mut envs = Vec::with_capacity(CONNECTORS);
    let mut manifests = String::new();
    for i in 0..CONNECTORS {
        let env = sample(10, "1s").await;
        let ns = format!("msp-{i:02}");
        manifests.push_str(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n---\n{}\n---\n",
            env.manifests(&ns)
        ));
        envs.push((ns, env));
    }
    for ((_, env), (side, hostile, _)) in envs.iter().zip(HOSTILE) {
        make_hostile(env, side, hostile);
    }
    let healthy = &envs[HOSTILE.len()..];

    let peak_before = peak_rss_kib();
    let engine = CountingEngine::default();
    let operator =
        InProcess::start_configured(cluster.client.clone(), engine.clone(), 16, None, |config| {
            config.sync_deadline = SYNC_DEADLINE
        });
    cluster.apply(&manifests).await;

    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut waiting = Vec::new();
        for (i, (ns, _)) in envs.iter().enumerate() {
            let status = cluster
                .connectors(ns)
                .get(NAME)
                .await
                .expect("connector")
                .status;
            let ready_reason = status.as_ref().and_then(|s| {
                s.conditions
                    .iter()
                    .find(|c| c.type_ == CONDITION_READY)
                    .map(|c| c.reason.clone())
            });
            let done = match HOSTILE.get(i) {
                Some((_, _, reasons)) => {
                    status.as_ref().map(|s| s.connection) == Some(Connection::Error)
                        && ready_reason
                            .as_deref()
                            .is_some_and(|r| reasons.contains(&r))
                }
                None => status.as_ref().map(|s| s.connection) == Some(Connection::Connected),
            };
            if !done {
                waiting.push((
                    ns.clone(),
                    status.map(|s| (s.connection, s.message)),
                    ready_reason,
                ));
            }
        }
        if waiting.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not settled after 90 s: {waiting:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Every healthy connector goes on syncing while the hostile ones fail: five more syncs each.
    let keys: Vec<ConnectorKey> = healthy
        .iter()
        .map(|(ns, _)| ConnectorKey::new(ns, NAME))
        .collect();
    let targets: Vec<usize> = keys.iter().map(|k| engine.syncs(k) + 5).collect();
    eventually(
        "five more syncs of every healthy connector",
        PROGRESS_TIMEOUT,
        || {
            let behind: Vec<String> = keys
                .iter()
                .zip(&targets)
                .filter(|(k, target)| engine.syncs(k) < **target)
                .map(|(k, _)| k.to_string())
                .collect();
            async move { behind.is_empty().then_some(()) }
        },
    )
    .await;
    let peak_after = peak_rss_kib();
    operator.stop().await;

    // Healthy companies were provisioned; hostile ones got no write at all.
    for (ns, env) in healthy {
        assert!(
            env.password_boss.requests().applied_writes() > 0,
            "{ns} was provisioned"
        );
    }
    for ((ns, env), (side, hostile, _)) in envs.iter().zip(HOSTILE) {
        assert_eq!(
            env.password_boss.requests().writes(),
            0,
            "{ns} ({side:?} {hostile:?}) wrote nothing to Password Boss"
        );
    }
    eprintln!(
        "peak RSS: {} MiB before the operator, {} MiB after",
        peak_before / 1024,
        peak_after / 1024
    );
    assert!(
        peak_after.saturating_sub(peak_before) < MEMORY_LIMIT_KIB,
        "the operator's peak memory grew by {} MiB (limit {} MiB)",
        (peak_after - peak_before) / 1024,
        MEMORY_LIMIT_KIB / 1024
    );
    cluster.cleanup().await;
}
