//! What one sync did: the input of the status mapping, the CLI's output and the metrics.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

pub use super::failure::{FailureReason, Side, SyncFailure};
use crate::passwordboss::AuditRecord;
use crate::plan::{ActionCounts, Approval, Conflict, Held, Plan, SafetyRecord};
use crate::resources::{CompanyRef, UserCounts};

/// How long each step of a sync took; the two reads run at the same time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepTimings {
    /// Reading Entra through Graph (scope applied).
    pub graph_read: Duration,
    /// Reading Password Boss (near zero when the kept state stood in).
    pub password_boss_read: Duration,
    /// The plan step: departures settled, the planner and the safety gate (and storing what it spends).
    pub planning: Duration,
    /// Applying the plan's writes.
    pub apply: Duration,
}

/// Which sides the sync reached with accepted credentials (for the authorization conditions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reached {
    pub azure: bool,
    pub password_boss: bool,
}

/// The outcome of one sync attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncReport {
    pub started: Timestamp,
    pub finished: Timestamp,
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
