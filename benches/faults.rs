//! The fault scenario at scale (issue 28): the release operator as a process of its own, a real
//! kube-apiserver and etcd, one sample tenant and company (both simulators, in this process) per
//! connector, each connector in a namespace of its own, cluster-wide mode. Four faults one after
//! another, each struck while syncs are mid-apply (every company holds the writes that arrive
//! until as many syncs as the operator has slots have one on the wire):
//!
//! 1. etcd SIGKILLed and started again on the same data directory and port;
//! 2. kube-apiserver stopped and started again on the same port;
//! 3. the operator SIGKILLed and a new process started (a pod restarted by its kubelet);
//! 4. kube-apiserver restarted with `--max-requests-inflight=1 --max-mutating-requests-inflight=1`
//!    (the test server runs without priority and fairness, so this is the filter that answers
//!    429 to what does not fit; the admin is exempt as system:masters, the operator is not).
//!
//! After each: the invariants of `tests/suite/support/faults.rs` (each intended change applied
//! once, the safety record counting every destructive write, every status converged, lists and
//! watches per watched resource), the operator alive, its CPU in a quiet window, its requests by
//! verb from the API server's audit log.
//!
//!   scripts/fault-scenario.sh                         # 1,000 connectors, into bench-results/faults/
//!   cargo bench --bench faults -- --connectors 200 --out target/faults-small
//!
//! Needs kube-apiserver and etcd (scripts/build-apiserver.sh), kubectl and helm ($KUBECTL,
//! $HELM, else .tools/bin/).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;

// Both files are the suite's, included as they are; this scenario uses part of apiserver.rs.
#[allow(dead_code)]
#[path = "../tests/suite/support/apiserver.rs"]
mod apiserver;
#[path = "../tests/suite/support/faults.rs"]
mod faults;
/// The suite's paths (`crate::support::…`), which the included files use.
mod support {
    pub(crate) use super::apiserver;
}
#[path = "sync_support/machine.rs"]
mod machine;

use apiserver::TestApiServer;
use faults::{Fleet, OperatorProcess, OperatorRequests, is_create, is_disable};
use pbconnector_simulators::passwordboss::WriteRecord;

/// `--max-concurrent-syncs` as shipped: at most this many syncs hold a write on the wire.
const SLOTS: usize = 16;
/// A bound on a hung run (the held writes), not a measurement.
const HELD: Duration = Duration::from_secs(300);
struct Args {
    connectors: usize,
    users: usize,
    interval: String,
    /// The quiet window before the first fault and after each recovery in which the operator's
    /// CPU is measured.
    quiet: Duration,
    /// A bound on a hung fleet (every connector converged), not a measurement.
    converge: Duration,
    out: PathBuf,
}

fn args() -> Args {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // A debug build (`cargo test --all-targets` runs every bench) is the quick run: 20
    // connectors, short quiet windows, results under target/.
    let quick = cfg!(debug_assertions) || std::env::args().any(|a| a == "--quick");
    let mut args = if quick {
        Args {
            connectors: 20,
            users: 25,
            interval: "10s".into(),
            quiet: Duration::from_secs(10),
            converge: Duration::from_secs(180),
            out: root.join("target/bench-quick/faults"),
        }
    } else {
        Args {
            connectors: 1_000,
            users: 25,
            interval: "30s".into(),
            quiet: Duration::from_secs(30),
            converge: Duration::from_secs(900),
            out: root.join("bench-results/faults"),
        }
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--connectors" => args.connectors = value().parse().expect("--connectors: a number"),
            "--users" => args.users = value().parse().expect("--users: a number"),
            "--interval" => args.interval = value(),
            "--out" => args.out = PathBuf::from(value()),
            // `cargo bench` passes --bench; --quick is read above.
            "--bench" | "--quick" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

#[derive(Serialize)]
struct Results {
    command: String,
    machine: machine::Machine,
    /// `/proc/loadavg` (1, 5, 15 minutes) as the run started and ended: the machine is shared.
    load_at_start: String,
    load_at_end: String,
    connectors: usize,
    users_per_connector: usize,
    interval: String,
    /// Creating the namespaces, Secrets and connectors; then until every connector first synced.
    setup_seconds: f64,
    first_sync_seconds: f64,
    /// The operator in a quiet window before the first fault.
    quiet: Quiet,
    faults: Vec<FaultResult>,
    peak_rss_mib: f64,
}

#[derive(Serialize)]
struct FaultResult {
    fault: String,
    /// From the moment the fault struck (writes on the wire) until the control plane or the
    /// operator was back (ready).
    outage_seconds: f64,
    /// From the end of the outage until every connector converged on this round's changes.
    recovery_seconds: f64,
    /// The operator's requests to the API server from the fault until convergence.
    requests: OperatorRequests,
    /// The most lists and watches of one watched resource in that time.
    most_per_watched_resource: u64,
    /// Password Boss users created and disabled in the round (every company): one joiner and
    /// one leaver per connector.
    creates_applied: usize,
    disables_applied: usize,
    violations: Vec<String>,
    operator_alive: bool,
    /// The operator in a quiet window after convergence.
    quiet_after: Quiet,
}

fn main() {
    let args = args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let results = runtime.block_on(run(&args));
    std::fs::create_dir_all(&args.out).expect("the output directory");
    std::fs::write(
        args.out.join("results.json"),
        serde_json::to_string_pretty(&results).expect("results serialize"),
    )
    .expect("results.json");
    std::fs::write(args.out.join("RESULTS.md"), markdown(&results)).expect("RESULTS.md");
    eprintln!("wrote {}", args.out.display());
    let broken: usize = results.faults.iter().map(|f| f.violations.len()).sum();
    assert!(broken == 0, "{broken} invariants broken: see the results");
}

async fn run(args: &Args) -> Results {
    let load_at_start = loadavg();
    let server = tokio::task::spawn_blocking(TestApiServer::shared)
        .await
        .expect("the API server starts");
    let admin = server.client().await;
    let kubeconfig = tokio::task::spawn_blocking(|| operator_kubeconfig(TestApiServer::shared()))
        .await
        .expect("the operator's identity");

    eprintln!("== {} connectors × {} users", args.connectors, args.users);
    let started = Instant::now();
    let mut fleet = Fleet::create(&admin, "msp", args.connectors, args.users, &args.interval).await;
    let setup_seconds = started.elapsed().as_secs_f64();
    eprintln!("fleet created in {setup_seconds:.1} s");

    let log = server.dir().join("operator.log");
    let binary = Path::new(env!("CARGO_BIN_EXE_pbconnector"));
    let mut operator = OperatorProcess::start(binary, &kubeconfig, &log, &[]);
    operator.wait_ready(args.converge).await;
    let started = Instant::now();
    fleet.wait_converged(&admin, 0, args.converge).await;
    let first_sync_seconds = started.elapsed().as_secs_f64();
    eprintln!("every connector synced in {first_sync_seconds:.1} s");
    let quiet = quiet_cpu(&mut operator, args.quiet).await;
    eprintln!(
        "quiet: {:.2} CPU-s/min, {:.0} syncs/min",
        quiet.cpu_seconds_per_minute, quiet.syncs_per_minute
    );

    let mut faults = Vec::new();
    for (round, fault) in [
        "etcd SIGKILL",
        "kube-apiserver restart",
        "operator SIGKILL",
        "429",
    ]
    .into_iter()
    .enumerate()
    .map(|(i, f)| (i + 1, f))
    {
        eprintln!("== fault {round}: {fault}");
        let logged = fleet.begin_round(round);
        fleet
            .wait_writes_held(args.connectors.min(SLOTS), HELD)
            .await;
        let audit_from = server.requests().len();
        let struck = Instant::now();
        match fault {
            "etcd SIGKILL" => {
                tokio::task::block_in_place(|| server.kill_etcd());
                fleet.release_writes();
                tokio::task::block_in_place(|| server.start_etcd());
            }
            "kube-apiserver restart" => {
                tokio::task::block_in_place(|| server.stop_apiserver());
                fleet.release_writes();
                tokio::task::block_in_place(|| server.start_apiserver());
            }
            "operator SIGKILL" => {
                operator.sigkill();
                fleet.release_writes();
                operator.start_again();
                operator.wait_ready(args.converge).await;
            }
            "429" => {
                tokio::task::block_in_place(|| {
                    server.restart_apiserver_with(&[
                        "--max-requests-inflight=1",
                        "--max-mutating-requests-inflight=1",
                    ])
                });
                fleet.release_writes();
            }
            other => unreachable!("{other}"),
        }
        let outage_seconds = struck.elapsed().as_secs_f64();
        let back = Instant::now();
        fleet.wait_converged(&admin, round, args.converge).await;
        let recovery_seconds = back.elapsed().as_secs_f64();
        let requests = OperatorRequests::of(&server.requests()[audit_from..]);
        let violations = fleet.check_round(&admin, &logged).await;
        let applied = |kind: fn(&WriteRecord) -> bool| -> usize {
            fleet
                .members
                .iter()
                .zip(&logged)
                .map(|(m, &from)| {
                    m.env.password_boss.write_log()[from..]
                        .iter()
                        .filter(|w| w.applied() && kind(w))
                        .count()
                })
                .sum()
        };
        let (creates_applied, disables_applied) = (applied(is_create), applied(is_disable));
        if fault == "429" {
            // The limits go before the quiet window: it measures the operator, not the filter.
            tokio::task::block_in_place(|| server.restart_apiserver_with(&[]));
        }
        let operator_alive = operator.alive();
        let quiet_after = quiet_cpu(&mut operator, args.quiet).await;
        eprintln!(
            "{fault}: outage {outage_seconds:.1} s, recovered in {recovery_seconds:.1} s, \
             {} violations, {} throttled, quiet {:.2} CPU-s/min",
            violations.len(),
            requests.throttled,
            quiet_after.cpu_seconds_per_minute
        );
        faults.push(FaultResult {
            fault: fault.into(),
            outage_seconds,
            recovery_seconds,
            most_per_watched_resource: requests.most_per_watched_resource(),
            requests,
            creates_applied,
            disables_applied,
            violations,
            operator_alive,
            quiet_after,
        });
    }
    let peak_rss_mib = peak_rss_bytes(operator.pid()) as f64 / (1024.0 * 1024.0);
    Results {
        command: command(args),
        machine: machine::Machine::read(),
        load_at_start,
        load_at_end: loadavg(),
        connectors: args.connectors,
        users_per_connector: args.users,
        interval: args.interval.clone(),
        setup_seconds,
        first_sync_seconds,
        quiet,
        faults,
        peak_rss_mib,
    }
}

/// The operator's CPU-seconds and syncs per minute over `window` (a measurement: the scenario
/// reports it, the suite's test asserts on CPU per sync round instead).
async fn quiet_cpu(operator: &mut OperatorProcess, window: Duration) -> Quiet {
    let syncs = operator.syncs().await.expect("/metrics answers");
    let before = operator.cpu_seconds();
    tokio::time::sleep(window).await;
    assert!(
        operator.alive(),
        "the operator exited:\n{}",
        operator.log_tail()
    );
    let per_minute = 60.0 / window.as_secs_f64();
    let synced = operator.syncs().await.expect("/metrics answers") - syncs;
    Quiet {
        cpu_seconds_per_minute: (operator.cpu_seconds() - before) * per_minute,
        syncs_per_minute: synced as f64 * per_minute,
    }
}

/// The operator in a quiet window (no fault, no change): its CPU and its syncs (each
/// connector's interval) per minute.
#[derive(Serialize, Clone, Copy)]
struct Quiet {
    cpu_seconds_per_minute: f64,
    syncs_per_minute: f64,
}

/// The chart's ServiceAccount and RBAC (cluster-wide mode, `helm template` applied with
/// kubectl), and a kubeconfig with a token of that ServiceAccount (`kubectl create token`).
fn operator_kubeconfig(server: &TestApiServer) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tool = |env: &str, name: &str| {
        let path = std::env::var_os(env)
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".tools/bin").join(name));
        assert!(
            path.is_file(),
            "{name} not found at {} (set {env} or run scripts/install-test-tools.sh)",
            path.display()
        );
        path
    };
    let (helm, kubectl) = (tool("HELM", "helm"), tool("KUBECTL", "kubectl"));
    let release = "pbc-faults";
    let run = |cmd: &mut Command, input: Option<&[u8]>| -> String {
        use std::io::Write;
        let mut child = cmd
            .current_dir(&root)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the tool runs");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.unwrap_or_default()).expect("stdin");
        drop(stdin);
        let out = child.wait_with_output().expect("the tool ends");
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    let kubectl_cmd = || {
        let mut cmd = Command::new(&kubectl);
        cmd.arg("--kubeconfig").arg(server.kubeconfig_path());
        cmd
    };
    run(kubectl_cmd().args(["create", "namespace", release]), None);
    let rbac = run(
        Command::new(&helm).args([
            "template",
            release,
            "charts/pbconnector",
            "--namespace",
            release,
            "--show-only",
            "templates/serviceaccount.yaml",
            "--show-only",
            "templates/rbac.yaml",
            "-f",
            "tests/fixtures/values-image.yaml",
        ]),
        None,
    );
    run(
        kubectl_cmd().args(["apply", "-f", "-"]),
        Some(rbac.as_bytes()),
    );
    let token = run(
        kubectl_cmd().args([
            "create",
            "token",
            &format!("{release}-pbconnector"),
            "-n",
            release,
            "--duration=24h",
        ]),
        None,
    );
    server.kubeconfig_for_token(release, release, token.trim())
}

fn peak_rss_bytes(pid: u32) -> u64 {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no VmHWM in {path}"))
        * 1024
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn command(args: &Args) -> String {
    format!(
        "scripts/fault-scenario.sh --connectors {} --users {} --interval {}",
        args.connectors, args.users, args.interval
    )
}

fn markdown(r: &Results) -> String {
    let mut md = String::new();
    md.push_str("# Fault scenario results\n\n");
    md.push_str(&format!(
        "Reproduce with `{}` (`cargo bench --bench faults -- …`: the release operator as a \
         process, a real kube-apiserver {} and etcd, the simulators in the bench process; \
         see benches/faults.rs).\n\n",
        r.command,
        apiserver::K8S_VERSION
    ));
    md.push_str(&format!(
        "Machine: {} ({} cores), shared: load average {} at the start, {} at the end.\n\n",
        r.machine.cpu, r.machine.cores, r.load_at_start, r.load_at_end
    ));
    md.push_str(&format!(
        "Fleet: {} connectors (one per namespace, cluster-wide mode) × {} users, interval {}. \
         Set-up {:.0} s; every connector first synced {:.0} s after the operator was ready; \
         quiet, the operator used {:.2} CPU-s/min for {:.0} syncs/min; peak RSS {:.0} MiB.\n\n",
        r.connectors,
        r.users_per_connector,
        r.interval,
        r.setup_seconds,
        r.first_sync_seconds,
        r.quiet.cpu_seconds_per_minute,
        r.quiet.syncs_per_minute,
        r.peak_rss_mib
    ));
    md.push_str(
        "Each fault strikes while syncs are mid-apply (as many companies as the operator has \
         slots hold a Password Boss write on the wire), during a round in which every \
         connector's group gains one member (one create) and loses one (one disable, spending \
         the safety budget).\n\n",
    );
    md.push_str(
        "| fault | outage | recovery | operator requests (verb: count) | lists+watches of one watched resource (max) | 429s | users created / joiners | users disabled / leavers | invariants | alive | quiet after: CPU-s/min (syncs/min) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for f in &r.faults {
        let verbs: Vec<String> = f
            .requests
            .by_verb
            .iter()
            .map(|(v, n)| format!("{v} {n}"))
            .collect();
        md.push_str(&format!(
            "| {} | {:.1} s | {:.1} s | {} | {} | {} | {} / {} | {} / {} | {} | {} | {:.2} ({:.0}) |\n",
            f.fault,
            f.outage_seconds,
            f.recovery_seconds,
            verbs.join(", "),
            f.most_per_watched_resource,
            f.requests.throttled,
            f.creates_applied,
            r.connectors,
            f.disables_applied,
            r.connectors,
            if f.violations.is_empty() {
                "held".to_string()
            } else {
                format!("{} broken", f.violations.len())
            },
            if f.operator_alive { "yes" } else { "no" },
            f.quiet_after.cpu_seconds_per_minute,
            f.quiet_after.syncs_per_minute
        ));
    }
    md.push_str("\nLists and watches by resource during each recovery:\n\n");
    for f in &r.faults {
        let lw: BTreeMap<&String, &u64> = f.requests.lists_and_watches.iter().collect();
        md.push_str(&format!("- {}: {lw:?}\n", f.fault));
    }
    for f in r.faults.iter().filter(|f| !f.violations.is_empty()) {
        md.push_str(&format!("\n## {}: invariants broken\n\n", f.fault));
        for v in f.violations.iter().take(20) {
            md.push_str(&format!("- {v}\n"));
        }
    }
    md
}
