//! Faults under a fleet, the suite's small version of the scenario at scale
//! (`scripts/fault-scenario.sh`): 20 connectors split over two shards (two operator processes,
//! each with its shard Lease), one etcd SIGKILL while every sync that can run has a Password
//! Boss write on the wire; and one operator SIGKILLed mid-apply. The built operator runs as a process of its own against
//! a real kube-apiserver + etcd of this test's own, with the chart's RBAC.
//!
//! What must hold afterwards (`support::faults`): each intended change applied exactly once (the
//! simulators' write logs), the safety record counting every destructive write applied, every
//! status converged, the operator alive and not spinning, and its lists and watches after the
//! fault a few per resource, not one per connector (the API server's audit log).

use std::path::Path;
use std::time::Duration;

use crate::support::e2e::Cluster;
use crate::support::faults::{Fleet, OperatorProcess, OperatorRequests};

/// The operators of a fleet: one replica, or two shards (each with leader election on its own
/// shard Lease, with exactly the chart's RBAC for `shards: 2`).
#[derive(Clone, Copy)]
enum Operators {
    One,
    TwoShards,
}

impl Operators {
    fn count(self) -> usize {
        match self {
            Operators::One => 1,
            Operators::TwoShards => 2,
        }
    }

    /// The chart values whose RBAC the operators run with.
    fn values(self) -> &'static [&'static str] {
        match self {
            Operators::One => &[],
            Operators::TwoShards => &["shards=2", "leaderElection.enabled=true"],
        }
    }

    /// Each operator's extra flags.
    fn flags(self, lease_namespace: &str) -> Vec<Vec<String>> {
        match self {
            Operators::One => vec![vec![]],
            Operators::TwoShards => (0..2)
                .map(|shard| {
                    [
                        "--leader-elect",
                        "--lease-namespace",
                        lease_namespace,
                        "--shards",
                        "2",
                        "--shard",
                        &shard.to_string(),
                    ]
                    .map(str::to_owned)
                    .to_vec()
                })
                .collect(),
        }
    }
}

/// `--max-concurrent-syncs` as shipped: a sync whose write is held keeps its slot, so at most
/// this many companies per operator have a write on the wire at once.
const SLOTS: usize = 16;

/// Bounds on a hung fleet, not measurements.
const START: Duration = Duration::from_secs(120);
const CONVERGE: Duration = Duration::from_secs(120);

/// The CPU a spinning process would add over a window of two sync rounds, beyond three times
/// what the same window took before the fault (seconds).
const CPU_SLACK: f64 = 1.0;

const CONNECTORS: usize = 20;

/// A cluster of the test's own (its etcd or operators are killed), the fleet, and its operators,
/// every connector first synced; 2 s intervals keep syncs running.
async fn fleet_with_operators(which: Operators) -> (Cluster, Fleet, Vec<OperatorProcess>) {
    let cluster = Cluster::owned().await;
    cluster.install_crd_without_interval_minimum().await;
    let identity = cluster.operator_identity(which.values()).await;
    let kubeconfig = identity.kubeconfig.clone();
    let mut fleet = Fleet::create(&cluster.client, "fault", CONNECTORS, 25, "2s").await;
    let log = cluster.server().dir().join("operator.log");
    let binary = Path::new(env!("CARGO_BIN_EXE_pbconnector"));
    let mut operators: Vec<OperatorProcess> = which
        .flags(&identity.namespace)
        .iter()
        .map(|extra| {
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            OperatorProcess::start(binary, &kubeconfig, &log, &extra)
        })
        .collect();
    for operator in &mut operators {
        operator.wait_ready(START).await;
    }
    fleet.wait_converged(&cluster.client, 0, START).await;
    (cluster, fleet, operators)
}

/// Round 1 begun and every sync that can run mid-apply: a write held at each of those
/// companies. Returns the write-log lengths before the round.
async fn mid_apply(fleet: &Fleet, operators: usize) -> Vec<usize> {
    let logged = fleet.begin_round(1);
    fleet
        .wait_writes_held(CONNECTORS.min(SLOTS * operators), CONVERGE)
        .await;
    logged
}

/// After the fault (the audit log from `audit_from`) and convergence: the invariants, lists and
/// watches a few per resource, and the operators alive and not spinning (two sync rounds cost
/// at most three times `cpu_before` and `CPU_SLACK`).
async fn check_recovered(
    cluster: &Cluster,
    fleet: &Fleet,
    operators: &mut [OperatorProcess],
    logged: &[usize],
    audit_from: usize,
    cpu_before: f64,
) {
    let requests = OperatorRequests::of(&cluster.server().requests()[audit_from..]);
    eprintln!("operator requests from the fault to convergence: {requests:#?}");
    let violations = fleet.check_round(&cluster.client, logged).await;
    assert!(
        violations.is_empty(),
        "invariants broken after the fault: {violations:#?}"
    );
    // Watches resume or relist once each, not once per connector.
    assert!(
        (requests.most_per_watched_resource() as usize) < CONNECTORS / 4,
        "a watched resource listed or watched per connector after the fault: {requests:#?}"
    );
    let cpu_after = cpu_over_syncs(operators, 2 * CONNECTORS as u64).await;
    assert!(
        cpu_after <= 3.0 * cpu_before + CPU_SLACK,
        "two sync rounds took {cpu_after:.2} CPU-s after the fault, {cpu_before:.2} before"
    );
    for operator in operators {
        assert!(
            operator.alive(),
            "the operator exited:\n{}",
            operator.log_tail()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_connectors_on_two_shards_converge_after_etcd_is_sigkilled_mid_apply() {
    let which = Operators::TwoShards;
    let (cluster, mut fleet, mut operators) = fleet_with_operators(which).await;
    for operator in &operators {
        let syncs = operator.syncs().await.expect("/metrics answers");
        assert!(
            syncs > 0,
            "each shard syncs the connectors of its namespaces"
        );
    }
    let cpu_before = cpu_over_syncs(&mut operators, 2 * CONNECTORS as u64).await;
    let logged = mid_apply(&fleet, which.count()).await;
    let server = cluster.server();
    let audit_from = server.requests().len();
    tokio::task::block_in_place(|| server.kill_etcd());
    // The held writes reach Password Boss while etcd is gone: the syncs' status writes cannot.
    fleet.release_writes();
    tokio::task::block_in_place(|| server.start_etcd());
    fleet.wait_converged(&cluster.client, 1, CONVERGE).await;
    check_recovered(
        &cluster,
        &fleet,
        &mut operators,
        &logged,
        audit_from,
        cpu_before,
    )
    .await;
    drop(operators);
    cluster.cleanup().await;
}

/// The operator SIGKILLed while its writes are on the wire, the writes then answered to nobody,
/// and a new process started (a pod restarted by its kubelet): it finds what was applied and
/// applies each change once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_operator_mid_apply_is_replaced_without_repeating_a_write() {
    let which = Operators::One;
    let (cluster, mut fleet, mut operators) = fleet_with_operators(which).await;
    let cpu_before = cpu_over_syncs(&mut operators, 2 * CONNECTORS as u64).await;
    let logged = mid_apply(&fleet, which.count()).await;
    let audit_from = cluster.server().requests().len();
    for operator in &mut operators {
        operator.sigkill();
    }
    fleet.release_writes();
    for operator in &mut operators {
        operator.start_again();
        operator.wait_ready(START).await;
    }
    fleet.wait_converged(&cluster.client, 1, CONVERGE).await;
    check_recovered(
        &cluster,
        &fleet,
        &mut operators,
        &logged,
        audit_from,
        cpu_before,
    )
    .await;
    drop(operators);
    cluster.cleanup().await;
}

/// CPU seconds all `operators` used while they ended `syncs` more syncs together.
async fn cpu_over_syncs(operators: &mut [OperatorProcess], syncs: u64) -> f64 {
    let cpu = |ops: &[OperatorProcess]| ops.iter().map(OperatorProcess::cpu_seconds).sum::<f64>();
    let mut from = 0;
    for operator in operators.iter() {
        from += operator.syncs().await.expect("/metrics answers");
    }
    let start = cpu(operators);
    let deadline = std::time::Instant::now() + CONVERGE;
    loop {
        let mut now = 0;
        for operator in operators.iter_mut() {
            assert!(
                operator.alive(),
                "the operator exited:\n{}",
                operator.log_tail()
            );
            now += operator.syncs().await.unwrap_or(0);
        }
        if now >= from + syncs {
            return cpu(operators) - start;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {syncs} syncs within {CONVERGE:?}",
            now.saturating_sub(from)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
