//! Many connectors in one operator process: each its own tenant (one Graph simulator) and its
//! own Password Boss company, already in sync, synced by the controller's engine
//! (`PipelineEngine`, shared per-tenant pacing) at a fixed interval with the controller's default
//! concurrency (16). Time is compressed: `interval` stands for 60 s, so one round is one minute.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pbconnector::controller::{PipelineEngine, SyncEngine};
use pbconnector::sync::{ConnectorKey, SyncRequest};
use pbconnector_simulators::graph::GraphSimulator;
use pbconnector_simulators::passwordboss::{PbSim, SeedUser, SimConfig};
use pbconnector_testkit::{alloc, cpu_seconds};
use serde::Serialize;
use tokio::time::Instant;

use crate::report::{
    FLEET_CPU_SECONDS_PER_MINUTE, HEAP_BYTES_PER_USER, peak_rss_kb, reset_peak_rss,
};
use crate::world::{Latency, secrets, spec};

pub struct Shape {
    pub connectors: usize,
    pub users: usize,
    pub interval: Duration,
    pub rounds: usize,
}

impl Shape {
    pub fn quick() -> Self {
        Self {
            connectors: 20,
            users: 100,
            interval: Duration::from_secs(2),
            rounds: 3,
        }
    }

    pub fn full() -> Self {
        Self {
            connectors: 1_000,
            users: 1_000,
            interval: Duration::from_secs(15),
            rounds: 5,
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{} connectors × {} users, {} rounds at a {:?} interval (standing for 60 s)",
            self.connectors, self.users, self.rounds, self.interval
        )
    }
}

#[derive(Serialize, Default)]
pub struct FleetResult {
    pub connectors: usize,
    pub users_per_connector: usize,
    pub rounds: usize,
    pub interval_ms: u64,
    pub concurrency: usize,
    pub syncs: usize,
    pub failed_syncs: usize,
    /// Steady state (after each connector's first, full read).
    pub graph_requests_per_sync: f64,
    pub pb_requests_per_sync: f64,
    pub pb_writes: u64,
    pub cpu_seconds_per_round: f64,
    pub max_lateness_ms: f64,
    pub every_connector_kept_its_interval: bool,
    pub peak_rss_mib: f64,
    pub operator_bytes_per_user: f64,
}

struct Sample {
    round: usize,
    lateness: Duration,
    graph: u32,
    pb: u32,
    pb_writes: u32,
    ok: bool,
}

pub async fn run(shape: &Shape, latency: Latency) -> FleetResult {
    let graph = GraphSimulator::start().await.expect("Graph simulator");
    let mut connectors = Vec::with_capacity(shape.connectors);
    for c in 0..shape.connectors {
        let domain = format!("t{c}.onmicrosoft.com");
        let tenant = graph.add_tenant(&domain);
        let app = tenant.add_app();
        tenant.add_secret(&app, "bench-secret", false);
        let group = tenant.add_group("Password Boss Users");
        let pb = PbSim::start(SimConfig {
            license_total: (shape.users + 10) as u32,
            ..SimConfig::default()
        })
        .await
        .expect("Password Boss simulator");
        for u in 0..shape.users {
            let mail = format!("u{u}@t{c}.com");
            let id = tenant.add_user(&format!("User Number{u}"), &mail);
            tenant.add_member(&group, &id);
            pb.add_user(SeedUser::new(&mail, "User", &format!("Number{u}")).azure(&id))
                .expect("seeded");
        }
        pb.faults().set_latency(latency.password_boss);
        let request = SyncRequest {
            uid: format!("uid-{c}"),
            secrets: secrets("bench-secret", &pb),
            ..SyncRequest::new(
                ConnectorKey::new(format!("msp-{c}"), "connector"),
                spec(&graph, &domain, &app, &pb, &[]),
            )
        };
        connectors.push((pb, request));
    }
    graph.faults().set_delay(Some(latency.graph));

    let engine = Arc::new(PipelineEngine::new());
    let permits = Arc::new(tokio::sync::Semaphore::new(16));
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let start = Instant::now() + Duration::from_millis(100);
    let steady_from = start + shape.interval;
    reset_peak_rss();
    let cpu_probe = tokio::spawn(async move {
        tokio::time::sleep_until(steady_from).await;
        cpu_seconds()
    });
    let mut tasks = Vec::new();
    for (c, (_, request)) in connectors.iter().enumerate() {
        let offset = shape.interval.mul_f64(c as f64 / shape.connectors as f64);
        let (engine, permits, samples, request) = (
            engine.clone(),
            permits.clone(),
            samples.clone(),
            request.clone(),
        );
        let (interval, rounds) = (shape.interval, shape.rounds);
        tasks.push(tokio::spawn(async move {
            let mut due = start + offset;
            for round in 0..rounds {
                tokio::time::sleep_until(due).await;
                let _permit = permits.acquire().await.expect("semaphore");
                let lateness = Instant::now().saturating_duration_since(due);
                let report = engine.sync(request.clone()).await;
                samples.lock().unwrap().push(Sample {
                    round,
                    lateness,
                    graph: report.graph_requests,
                    pb: report.password_boss_requests,
                    pb_writes: report.password_boss_writes,
                    ok: report.succeeded(),
                });
                due += interval;
            }
        }));
    }
    for t in tasks {
        t.await.expect("connector loop");
    }
    let cpu_at_steady = cpu_probe.await.expect("cpu probe");
    let cpu_steady = cpu_seconds() - cpu_at_steady;
    let peak_rss = peak_rss_kb();

    let held = alloc::live();
    drop(engine);
    let released = held - alloc::live();
    let samples = samples.lock().unwrap();
    let steady: Vec<&Sample> = samples.iter().filter(|s| s.round > 0).collect();
    let mean = |f: fn(&Sample) -> u32| {
        steady.iter().map(|s| f(s) as f64).sum::<f64>() / steady.len().max(1) as f64
    };
    let max_lateness = samples.iter().map(|s| s.lateness).max().unwrap_or_default();
    let result = FleetResult {
        connectors: shape.connectors,
        users_per_connector: shape.users,
        rounds: shape.rounds,
        interval_ms: shape.interval.as_millis() as u64,
        concurrency: 16,
        syncs: samples.len(),
        failed_syncs: samples.iter().filter(|s| !s.ok).count(),
        graph_requests_per_sync: mean(|s| s.graph),
        pb_requests_per_sync: mean(|s| s.pb),
        pb_writes: steady.iter().map(|s| s.pb_writes as u64).sum(),
        cpu_seconds_per_round: cpu_steady / (shape.rounds - 1).max(1) as f64,
        max_lateness_ms: max_lateness.as_secs_f64() * 1e3,
        every_connector_kept_its_interval: samples.len() == shape.connectors * shape.rounds
            && max_lateness < shape.interval,
        peak_rss_mib: peak_rss as f64 / 1024.0,
        operator_bytes_per_user: released as f64 / (shape.connectors * shape.users) as f64,
    };
    eprintln!(
        "  {} syncs, {:.2} Graph and {:.2} PB requests per sync, {:.2} CPU s per round, max lateness {:.0} ms",
        result.syncs,
        result.graph_requests_per_sync,
        result.pb_requests_per_sync,
        result.cpu_seconds_per_round,
        result.max_lateness_ms
    );
    drop(connectors);
    result
}

impl FleetResult {
    pub fn markdown(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "\n## {} connectors × {} users in one process\n",
            self.connectors, self.users_per_connector
        );
        let _ = writeln!(
            t,
            "Each connector its own tenant and Password Boss company, already in sync; synced by the controller's \
             engine with {} syncs at a time, {} rounds at a {} ms interval standing for 60 s (one round = one \
             minute). Steady state = every round after each connector's first (full) read. CPU includes the \
             simulators (same process), so it is an upper bound for the operator.\n",
            self.concurrency, self.rounds, self.interval_ms
        );
        let _ = writeln!(t, "| measure | value | target |\n|---|---:|---|");
        let rows = [
            (
                "connector-syncs (failed)",
                format!("{} ({})", self.syncs, self.failed_syncs),
                "".to_string(),
            ),
            (
                "Graph requests per connector-sync",
                format!("{:.2}", self.graph_requests_per_sync),
                "1 (lower bound)".into(),
            ),
            (
                "Password Boss requests per connector-sync",
                format!("{:.2}", self.pb_requests_per_sync),
                "reads only".into(),
            ),
            (
                "Password Boss writes (steady state)",
                self.pb_writes.to_string(),
                "0".into(),
            ),
            (
                "CPU seconds per minute (per round)",
                format!("{:.2}", self.cpu_seconds_per_round),
                format!("≤ {FLEET_CPU_SECONDS_PER_MINUTE} (issue 25)"),
            ),
            (
                "max lateness of a sync start",
                format!("{:.0} ms", self.max_lateness_ms),
                format!("< {} ms", self.interval_ms),
            ),
            (
                "every connector kept its interval",
                self.every_connector_kept_its_interval.to_string(),
                "true".into(),
            ),
            (
                "peak RSS (simulators included)",
                format!("{:.0} MiB", self.peak_rss_mib),
                "".into(),
            ),
            (
                "operator heap per managed user",
                format!("{:.0} bytes", self.operator_bytes_per_user),
                format!("≤ {HEAP_BYTES_PER_USER:.0} bytes (issue 25)"),
            ),
        ];
        for (k, v, target) in rows {
            let _ = writeln!(t, "| {k} | {v} | {target} |");
        }
        t
    }
}
