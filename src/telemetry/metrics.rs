//! Prometheus metrics of the operator (prometheus-client).

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::connector_metrics::ConnectorMetrics;
use crate::resources::Connection;
use crate::sync::report::{SyncReport, TargetKind};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: String,
    /// The target the connector provisions: `passwordboss` or `scim`.
    pub target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
    /// The target the change was applied to: `passwordboss` or `scim`.
    pub target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    /// HTTP status, or "none" when no response came.
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// A `FailureReason`, as status and Events name it.
    pub reason: String,
    /// The target the connector provisions: `passwordboss` or `scim`.
    pub target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabel {
    /// `graph_read`, `passwordboss_read` (`scim_read` for a SCIM target), `plan` or `apply`.
    pub step: String,
}

/// Buckets of the step durations: 5 ms to about 80 s.
/// Buckets of `sync_start_lateness_seconds`: fine below the jitter (up to 5 s), then up to a
/// whole interval and beyond.
const LATENESS_BUCKETS: [f64; 16] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0,
];

fn step_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShardLabel {
    /// This process's shard, 0 to `shards` - 1.
    pub shard: String,
    /// How many shards split the connectors.
    pub shards: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionLabel {
    pub connection: String,
}

/// Every metric the operator exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub sync_duration: Histogram,
    /// How long after it was due a sync on its interval got its slot and started.
    pub sync_start_lateness: Histogram,
    pub syncs: Family<ResultLabel, Counter>,
    pub sync_failures: Family<ReasonLabel, Counter>,
    pub step_duration: Family<StepLabel, Histogram, fn() -> Histogram>,
    pub actions: Family<KindLabel, Counter>,
    pub conflicts: Counter,
    pub blocked_deprovisions: Counter,
    pub graph_requests: Family<StatusLabel, Counter>,
    pub password_boss_requests: Family<StatusLabel, Counter>,
    pub scim_requests: Family<StatusLabel, Counter>,
    pub connectors: Family<ConnectionLabel, Gauge>,
    pub status_writes: Counter,
    /// 1, labelled with this process's shard (`set_shard`).
    pub shard: Family<ShardLabel, Gauge>,
    /// Per-connector gauges (`namespace`, `name`).
    pub fleet: ConnectorMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("pbconnector");
        let sync_duration = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        let syncs = Family::<ResultLabel, Counter>::default();
        let sync_start_lateness = Histogram::new(LATENESS_BUCKETS.iter().copied());
        let sync_failures = Family::<ReasonLabel, Counter>::default();
        let step_duration: Family<StepLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(step_histogram);
        let actions = Family::<KindLabel, Counter>::default();
        let conflicts = Counter::default();
        let blocked_deprovisions = Counter::default();
        let graph_requests = Family::<StatusLabel, Counter>::default();
        let password_boss_requests = Family::<StatusLabel, Counter>::default();
        let scim_requests = Family::<StatusLabel, Counter>::default();
        let connectors = Family::<ConnectionLabel, Gauge>::default();
        let status_writes = Counter::default();
        let shard = Family::<ShardLabel, Gauge>::default();
        registry.register(
            "shard_info",
            "1, labelled with the shard this process reconciles the connectors of and how many \
             shards there are",
            shard.clone(),
        );
        registry.register(
            "sync_duration_seconds",
            "Duration of one connector sync",
            sync_duration.clone(),
        );
        registry.register("syncs", "Syncs by result", syncs.clone());
        registry.register(
            "sync_start_lateness_seconds",
            "How long after it was due (the last sync's end plus the interval, before the up to \
             5% jitter) a sync on its interval got a slot and started",
            sync_start_lateness.clone(),
        );
        registry.register(
            "sync_failures",
            "Failed syncs by reason (the Ready condition's reason)",
            sync_failures.clone(),
        );
        registry.register(
            "sync_step_duration_seconds",
            "Duration of each step of a sync: the Graph read and the target's read (which run \
             at the same time), planning, and the apply",
            step_duration.clone(),
        );
        registry.register(
            "actions",
            "Changes applied to the target, by kind and target",
            actions.clone(),
        );
        registry.register(
            "conflicts",
            "Per-user conflicts reported by syncs",
            conflicts.clone(),
        );
        registry.register(
            "blocked_deprovisions",
            "Deprovisions held back by the safety limits",
            blocked_deprovisions.clone(),
        );
        registry.register(
            "graph_requests",
            "Microsoft Graph and Entra token requests, by HTTP status",
            graph_requests.clone(),
        );
        registry.register(
            "passwordboss_requests",
            "Password Boss API requests, by HTTP status",
            password_boss_requests.clone(),
        );
        registry.register(
            "scim_requests",
            "SCIM service requests, by HTTP status",
            scim_requests.clone(),
        );
        registry.register(
            "connectors",
            "Connectors by connection state",
            connectors.clone(),
        );
        registry.register(
            "status_writes",
            "Status patches written",
            status_writes.clone(),
        );
        // The process-wide budget of buffered response bodies (`bounded::budget`): its
        // metrics are shared by every registry, as the budget is by every sync.
        let budget = &crate::bounded::budget::GLOBAL_METRICS;
        registry.register(
            "response_buffer_budget_bytes",
            "The memory budget for buffered response bodies, all syncs together (a third of the \
             memory limit, at most 256 MiB)",
            budget.budget.clone(),
        );
        registry.register(
            "response_buffer_bytes",
            "Bytes of the response memory budget reserved by bodies being read or parsed",
            budget.in_use.clone(),
        );
        registry.register(
            "response_buffer_waits",
            "Response bodies that waited for room in the memory budget",
            budget.waits.clone(),
        );
        registry.register(
            "response_buffer_exhausted",
            "Response bodies that found no room in the memory budget within the wait; each \
             failed its sync with MemoryBudgetExhausted",
            budget.exhausted.clone(),
        );
        let fleet = ConnectorMetrics::register(&mut registry);
        Self {
            registry: Arc::new(registry),
            sync_duration,
            sync_start_lateness,
            syncs,
            sync_failures,
            step_duration,
            actions,
            conflicts,
            blocked_deprovisions,
            graph_requests,
            password_boss_requests,
            scim_requests,
            connectors,
            status_writes,
            shard,
            fleet,
        }
    }

    /// Records one sync.
    pub fn observe_sync(&self, report: &SyncReport) {
        let result = match &report.failure {
            None if report.dry_run => "dry_run",
            None => "success",
            Some(f) if f.unauthorized_side().is_some() => "unauthorized",
            Some(_) => "error",
        };
        let target = report.target;
        self.sync_duration.observe(report.duration.as_secs_f64());
        self.syncs
            .get_or_create(&ResultLabel {
                result: result.into(),
                target: target.as_str().into(),
            })
            .inc();
        if let Some(failure) = &report.failure {
            self.sync_failures
                .get_or_create(&ReasonLabel {
                    reason: failure.reason.as_str().into(),
                    target: target.as_str().into(),
                })
                .inc();
        }
        let t = &report.timings;
        let (target_read, target_requests) = match target {
            TargetKind::PasswordBoss => ("passwordboss_read", &self.password_boss_requests),
            TargetKind::Scim => ("scim_read", &self.scim_requests),
        };
        for (step, took) in [
            ("graph_read", t.graph_read),
            (target_read, t.password_boss_read),
            ("plan", t.planning),
            ("apply", t.apply),
        ] {
            if !took.is_zero() {
                self.step_duration
                    .get_or_create(&StepLabel { step: step.into() })
                    .observe(took.as_secs_f64());
            }
        }
        let a = &report.applied;
        for (kind, n) in [
            ("created", a.created),
            ("updated", a.updated),
            ("enabled", a.enabled),
            ("disabled", a.disabled),
            ("removed", a.removed),
            ("deleted", a.deleted),
            ("adopted", a.adopted),
            ("groups_created", a.groups_created),
            ("groups_updated", a.groups_updated),
            ("groups_deleted", a.groups_deleted),
        ] {
            if n > 0 {
                self.actions
                    .get_or_create(&KindLabel {
                        kind: kind.into(),
                        target: target.as_str().into(),
                    })
                    .inc_by(n.into());
            }
        }
        self.conflicts.inc_by(report.conflicts.len() as u64);
        self.blocked_deprovisions
            .inc_by(report.blocked_deprovisions.into());
        for (family, statuses) in [
            (&self.graph_requests, &report.graph_statuses),
            (target_requests, &report.password_boss_statuses),
        ] {
            for (status, n) in statuses {
                let status = if *status == 0 {
                    "none".to_string()
                } else {
                    status.to_string()
                };
                family
                    .get_or_create(&StatusLabel { status })
                    .inc_by((*n).into());
            }
        }
    }

    /// Says which shard this process is (`pbconnector_shard_info{shard, shards} 1`).
    pub fn set_shard(&self, index: u32, count: u32) {
        self.shard.clear();
        self.shard
            .get_or_create(&ShardLabel {
                shard: index.to_string(),
                shards: count.to_string(),
            })
            .set(1);
    }

    /// Sets the number of connectors in each connection state.
    pub fn set_connectors(&self, counts: &[(Connection, i64)]) {
        for (connection, n) in counts {
            self.connectors
                .get_or_create(&ConnectionLabel {
                    connection: connection.as_str().into(),
                })
                .set(*n);
        }
    }

    /// The exposition text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
