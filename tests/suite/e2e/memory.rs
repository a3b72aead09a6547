//! Eight connectors receiving large answers at once (issue 29): the built `pbconnector run`,
//! given the memory limit of the chart's Deployment the way the downward API gives it, stays
//! under that limit as measured from the process (peak RSS, `VmHWM`), every large answer fails
//! only its own connector with a reason, and a healthy connector beside them still syncs.

use std::time::Duration;

use crate::support::e2e::{Cluster, Operator, eventually, sample};
use crate::support::helm::{Helm, one, quantity_bytes};
use pbconnector::resources::{CONDITION_READY, Connection};
use pbconnector_simulators::hostile::Hostile;
use serde_json::Value;

/// Connectors whose Graph (token endpoint included) and Password Boss both answer every request
/// with a body far past the 32 MiB a response may hold: sixteen large answers at a time.
const LARGE: usize = 8;
/// Failed syncs to wait for: every large connector at least twice (their retries overlap).
const FAILURES: u64 = 2 * LARGE as u64;
/// The reasons a large connector may fail with: its answer passed the per-response cap, it
/// could not get its share of the process-wide budget within the bounded wait, or its waits
/// for the budget took it past its sync deadline.
const REASONS: [&str; 3] = [
    "ResponseTooLarge",
    "MemoryBudgetExhausted",
    "SyncDeadlineExceeded",
];

/// The chart's Deployment with its default values: the operator container.
fn chart_container() -> Value {
    let docs = Helm::find().template("");
    let deployment = one(&docs, "Deployment");
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "operator").cloned())
        .expect("the chart's Deployment has the operator container")
}

/// The sum of a counter family's samples in Prometheus text whose line starts with `prefix`.
fn counter_sum(metrics: &str, prefix: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_large_answers_at_once_stay_under_the_charts_memory_limit() {
    let container = chart_container();
    let limit = container["resources"]["limits"]["memory"]
        .as_str()
        .expect("the chart sets resources.limits.memory");
    let limit_bytes = quantity_bytes(limit);
    // The variable the chart fills from the pod's limit through the downward API.
    let limit_env = container["env"]
        .as_array()
        .and_then(|env| {
            env.iter().find(|e| {
                e["valueFrom"]["resourceFieldRef"]["resource"] == "limits.memory"
                    && e["valueFrom"]["resourceFieldRef"]["divisor"]
                        .as_str()
                        .is_none_or(|d| d == "1")
            })
        })
        .and_then(|e| e["name"].as_str())
        .expect("the chart passes limits.memory to the operator through the downward API")
        .to_owned();

    let cluster = Cluster::shared().await;
    cluster.install_crd().await;
    let mut namespaces = Vec::new();
    let mut envs = Vec::new();
    for i in 0..=LARGE {
        let ns = cluster.namespace(&format!("e2e-memory-{i}")).await;
        let env = sample(10, "10s").await;
        if i < LARGE {
            env.graph
                .faults()
                .set_hostile(Some(Hostile::HugeBody(800 << 20)));
            env.password_boss
                .faults()
                .set_hostile(Some(Hostile::HugeBody(800 << 20)));
        }
        namespaces.push(ns);
        envs.push(env);
    }
    let healthy = &namespaces[LARGE];

    let kubeconfig = cluster.operator_kubeconfig().await;
    let watched = namespaces.join(",");
    let limit_value = limit_bytes.to_string();
    let operator = Operator::launch_with_env(
        &kubeconfig,
        "pbconnector-e2e",
        &[
            "--allow-loopback-endpoints",
            "--namespace",
            &watched,
            // Every sync ends within this of SIGTERM, so the operator stops in time.
            "--sync-deadline",
            "10s",
        ],
        &[(&limit_env, &limit_value)],
    );
    operator.wait_ready(Duration::from_secs(20)).await;
    let manifests: String = namespaces
        .iter()
        .zip(&envs)
        .map(|(ns, env)| format!("{}\n---\n", env.manifests(ns)))
        .collect();
    cluster.apply(&manifests).await;

    // Every large connector fails with its own reason, twice over between them, and the healthy
    // one connects.
    for ns in &namespaces[..LARGE] {
        cluster
            .wait_status(
                ns,
                "a large answer's failure",
                Duration::from_secs(120),
                |s| {
                    s.connection == Connection::Error
                        && s.conditions.iter().any(|c| {
                            c.type_ == CONDITION_READY && REASONS.contains(&c.reason.as_str())
                        })
                },
            )
            .await;
    }
    eventually(
        "two failed syncs per large connector",
        Duration::from_secs(120),
        || {
            let operator = &operator;
            async move {
                let metrics = operator.metrics().await;
                let failed: u64 = REASONS
                    .iter()
                    .map(|r| {
                        counter_sum(
                            &metrics,
                            &format!("pbconnector_sync_failures_total{{reason=\"{r}\",target=\"passwordboss\"}}"),
                        )
                    })
                    .sum();
                (failed >= FAILURES).then_some(())
            }
        },
    )
    .await;
    cluster
        .wait_connection(healthy, Connection::Connected, Duration::from_secs(120))
        .await;

    let peak = operator.peak_rss_bytes();
    let metrics = operator.metrics().await;
    eprintln!(
        "peak RSS of the operator: {} MiB; the chart's limit: {limit} ({} MiB)",
        peak >> 20,
        limit_bytes >> 20
    );
    assert!(
        peak < limit_bytes,
        "the operator's peak RSS, {} MiB, passed the chart's memory limit {limit}",
        peak >> 20
    );
    // Nothing was written for a company whose reads failed; the healthy one was provisioned.
    for (ns, env) in namespaces.iter().zip(&envs).take(LARGE) {
        assert_eq!(
            env.password_boss.requests().writes(),
            0,
            "{ns} wrote nothing to Password Boss"
        );
    }
    assert!(
        envs[LARGE].password_boss.requests().applied_writes() > 0,
        "the healthy connector was provisioned"
    );
    // The budget the limit gave: a third of it.
    assert_eq!(
        counter_sum(&metrics, "pbconnector_response_buffer_budget_bytes "),
        limit_bytes / 3,
        "the response budget is a third of the chart's limit"
    );
    let status = operator.stop().await;
    assert!(status.success(), "the operator stops cleanly: {status:?}");
}

/// The peak RSS of `pbconnector run` syncing `connectors` sample companies of `users` members
/// each, from their first sync (every user created: the largest plan) through a second one.
async fn peak_rss_of_fleet(cluster: &Cluster, connectors: usize, users: usize) -> u64 {
    let mut namespaces = Vec::new();
    let mut envs = Vec::new();
    for i in 0..connectors {
        namespaces.push(cluster.namespace(&format!("e2e-sizing-{i}")).await);
        envs.push(sample(users, "10s").await);
    }
    let kubeconfig = cluster.operator_kubeconfig().await;
    let watched = namespaces.join(",");
    let operator = Operator::start(&kubeconfig, &["--namespace", &watched]).await;
    let manifests: String = namespaces
        .iter()
        .zip(&envs)
        .map(|(ns, env)| format!("{}\n---\n", env.manifests(ns)))
        .collect();
    cluster.apply(&manifests).await;
    for ns in &namespaces {
        cluster
            .wait_status(
                ns,
                "two syncs of every user",
                Duration::from_secs(600),
                |s| {
                    s.connection == Connection::Connected
                        && s.users.in_scope as usize >= users
                        && s.last_sync.created == 0
                },
            )
            .await;
    }
    let peak = operator.peak_rss_bytes();
    let status = operator.stop().await;
    assert!(status.success(), "the operator stops cleanly: {status:?}");
    peak
}

/// The measurements behind the README's sizing formula: `pbconnector run`'s peak RSS with N
/// connectors × M users. A measurement (minutes, and machine-dependent), so run on demand:
/// `cargo test --release --test suite e2e::memory::sizing -- --ignored --nocapture`. It fails
/// when a fleet passes what the formula gives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: refreshes the README's sizing table"]
async fn sizing() {
    use pbconnector::bounded::budget::sizing_without_buffers;
    let cluster = Cluster::shared().await;
    cluster.install_crd().await;
    let fleets = [(1, 10), (50, 10), (1, 20_000), (10, 2_000)];
    eprintln!("| connectors | users each | peak RSS MiB | formula without buffers MiB |");
    eprintln!("|---:|---:|---:|---:|");
    let mut over = Vec::new();
    for (connectors, users) in fleets {
        let peak = peak_rss_of_fleet(&cluster, connectors, users).await;
        let formula = sizing_without_buffers(connectors as u64, (connectors * users) as u64);
        eprintln!(
            "| {connectors} | {users} | {:.1} | {:.1} |",
            peak as f64 / f64::from(1 << 20),
            formula as f64 / f64::from(1 << 20)
        );
        if peak > formula {
            over.push((connectors, users, peak >> 20, formula >> 20));
        }
    }
    assert!(
        over.is_empty(),
        "fleets past the formula (N, M, peak MiB, formula MiB): {over:?}"
    );
}
