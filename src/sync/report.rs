//! Step 4 of a sync, **report**: what one sync did, as one `SyncReport` — the input of the
//! status mapping, the CLI's output and the metrics.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::state::{AuditRecord, Clients, Executed, Planned, Trace};
pub use super::state::{Reached, StepTimings};
pub use super::status::failure::{FailureReason, Side, SyncFailure};
use crate::http_client::tally::status_delta;
use crate::plan::{ActionCounts, Approval, Conflict, Held, Plan, SafetyRecord};
use crate::resources::{CompanyRef, UserCounts};
pub use crate::sync::target::TargetKind;

/// The outcome of one sync attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncReport {
    pub started: Timestamp,
    pub finished: Timestamp,
    /// The kind of target the connector provisions (the `password_boss` fields below count
    /// that target's requests and answers, whichever it is).
    pub target: TargetKind,
    pub duration: Duration,
    /// How long each step took (zero for the steps not reached).
    pub timings: StepTimings,
    /// `None` when the sync completed (possibly with per-user conflicts).
    pub failure: Option<SyncFailure>,
    pub reached: Reached,
    /// True when this sync read Entra in full (not through delta queries).
    pub full_read: bool,
    /// False when the Entra read was partial: no deprovisioning was planned.
    pub snapshot_complete: bool,
    pub incomplete_reason: Option<String>,
    /// The plan, when planning happened.
    pub plan: Option<Plan>,
    /// True when the plan was not applied (dry run or `pbconnector plan`).
    pub dry_run: bool,
    /// What was applied (equal to the plan's counts minus failures; zero in a dry run).
    pub applied: ActionCounts,
    /// Every Password Boss write of this sync (attempted or not), with its outcome, in plan
    /// order; empty when nothing was applied.
    pub actions: Vec<AuditRecord>,
    /// The Password Boss company the token reaches, once `GET /v1/connector` answered.
    pub company: Option<CompanyRef>,
    /// Per-user conflicts: the planner's and the writes Password Boss refused.
    pub conflicts: Vec<Conflict>,
    /// Deprovisions held back by the safety limits.
    pub blocked_deprovisions: u32,
    /// Users as they are after the sync.
    pub users: UserCounts,
    pub groups: u32,
    pub graph_requests: u32,
    pub password_boss_requests: u32,
    pub password_boss_writes: u32,
    /// Planned changes that failed or were not attempted (retried by the next sync).
    pub failed_actions: u32,
    /// This sync's Graph and token answers by HTTP status (0: no response).
    pub graph_statuses: BTreeMap<u16, u32>,
    /// This sync's Password Boss answers by HTTP status (0: no response).
    pub password_boss_statuses: BTreeMap<u16, u32>,
}

impl SyncReport {
    /// A report for a sync that failed before planning.
    pub fn failed(started: Timestamp, failure: SyncFailure, reached: Reached) -> Self {
        let finished = Timestamp::now();
        Self {
            started,
            finished,
            target: TargetKind::PasswordBoss,
            duration: finished.duration_since(started).unsigned_abs(),
            timings: StepTimings::default(),
            failure: Some(failure),
            reached,
            full_read: false,
            snapshot_complete: false,
            incomplete_reason: None,
            plan: None,
            dry_run: false,
            applied: ActionCounts::default(),
            actions: Vec::new(),
            company: None,
            conflicts: Vec::new(),
            blocked_deprovisions: 0,
            users: UserCounts::default(),
            groups: 0,
            graph_requests: 0,
            password_boss_requests: 0,
            password_boss_writes: 0,
            failed_actions: 0,
            graph_statuses: BTreeMap::new(),
            password_boss_statuses: BTreeMap::new(),
        }
    }

    pub fn succeeded(&self) -> bool {
        self.failure.is_none()
    }

    /// What the safety limits held back, if anything.
    pub fn held(&self) -> Option<&Held> {
        self.plan.as_ref().and_then(|p| p.held.as_ref())
    }

    /// What became of the approval given for this sync.
    pub fn approval(&self) -> &Approval {
        self.plan.as_ref().map_or(&Approval::None, |p| &p.approval)
    }

    /// The safety record to keep: the plan's, unless nothing was applied (a dry run).
    pub fn safety_record(&self) -> Option<&SafetyRecord> {
        self.plan
            .as_ref()
            .filter(|_| !self.dry_run)
            .map(|p| &p.record)
    }
}

/// Step 4, **report**: what the steps did, as one `SyncReport`.
pub(super) fn build_report(
    started: Timestamp,
    trace: Trace,
    outcome: Result<(Planned, Option<Executed>), SyncFailure>,
    dry_run: bool,
) -> SyncReport {
    let (planned, executed) = match outcome {
        Ok(synced) => synced,
        Err(failure) => {
            let mut report = SyncReport::failed(started, failure, trace.reached);
            report.company = trace.company;
            report.timings = trace.timings;
            return report;
        }
    };
    let mut reached = trace.reached;
    let failure = executed.as_ref().and_then(|e| e.failure.clone());
    if executed
        .as_ref()
        .is_some_and(|e| e.execution.unauthorized.is_some())
    {
        // Password Boss refused the token.
        reached.password_boss = false;
    }
    let plan = planned.plan;
    let mut conflicts = plan.conflicts.clone();
    let (applied_counts, actions, failed_actions) = match executed {
        Some(Executed { execution, .. }) => {
            conflicts.extend(execution.conflicts);
            (
                execution.applied,
                execution.audit,
                execution.failed + execution.skipped,
            )
        }
        None => Default::default(),
    };
    let finished = Timestamp::now();
    SyncReport {
        started,
        finished,
        target: TargetKind::PasswordBoss,
        duration: finished.duration_since(started).unsigned_abs(),
        timings: trace.timings,
        failure,
        reached,
        full_read: trace.full_read,
        snapshot_complete: planned.summary.complete,
        incomplete_reason: planned.summary.incomplete_reason,
        dry_run,
        applied: applied_counts,
        actions,
        company: trace.company,
        conflicts,
        blocked_deprovisions: plan.blocked_deprovisions,
        users: plan.users.into(),
        groups: planned.summary.groups,
        failed_actions,
        plan: Some(plan),
        // Filled from the clients' counters.
        graph_requests: 0,
        password_boss_requests: 0,
        password_boss_writes: 0,
        graph_statuses: Default::default(),
        password_boss_statuses: Default::default(),
    }
}

/// The clients' request counters when the sync started.
pub(super) struct Counters {
    requests: (u64, u64, u64),
    graph_statuses: std::collections::BTreeMap<u16, u64>,
    password_boss_statuses: std::collections::BTreeMap<u16, u64>,
}

impl Counters {
    pub(super) fn of(clients: &Clients) -> Self {
        Self {
            requests: clients.requests(),
            graph_statuses: clients.graph.requests_by_status(),
            password_boss_statuses: clients.target.requests_by_status(),
        }
    }

    /// This sync's requests, into `report`.
    pub(super) fn since(&self, clients: &Clients, report: &mut SyncReport) {
        let (graph, reads, writes) = clients.requests();
        let (graph_before, reads_before, writes_before) = self.requests;
        report.graph_requests = (graph - graph_before) as u32;
        report.password_boss_requests = (reads + writes - reads_before - writes_before) as u32;
        report.password_boss_writes = (writes - writes_before) as u32;
        report.graph_statuses =
            status_delta(&clients.graph.requests_by_status(), &self.graph_statuses);
        report.password_boss_statuses = status_delta(
            &clients.target.requests_by_status(),
            &self.password_boss_statuses,
        );
    }
}
