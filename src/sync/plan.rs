//! Step 2 of a sync, **plan**: the company guard, then the snapshot built from the Graph state,
//! scoped, its departures settled by Graph lookups, planned and guarded by the safety gate.
//!
//! Two rules make what cannot be undone rest on current facts:
//! - a plan that would remove or delete a user or delete a group is made again from a fresh
//!   Password Boss read when the read step took the kept state;
//! - a plan that changes the safety record (spends the budget, uses an approval, starts a
//!   leaver's grace period, owns or gives up a group, lets spending leave the window) has its
//!   record stored first (`spending`): from a fresh read of the stored record, written on the
//!   condition that nobody wrote it since. A stored record other than the one planned from means
//!   another sync changed it meanwhile: the plan is made again from it. No record stored, no
//!   write at all. The record is never written anywhere else (the controller's status writes
//!   carry the stored one), so a record planned from a stale copy can never replace it.

use std::time::Instant;

use super::SyncRequest;
use super::company::company_of;
use super::departures::classify_departures;
use super::progress::{Progress, Step};
use super::spending::SafetyStoreError;
use super::state::{Clients, ConnectorState, Planned, Reads, SnapshotSummary, Trace};
use super::status::failure::{FailureReason, SyncFailure};
use super::target::TargetError;
use crate::domain::{DirectoryState, EntraSnapshot};
use crate::plan::{self, Rules, SafetyInput};
use crate::resources::{AzureAdConnectorSpec, SafetyRecord};

/// How many times the stored record may change under a sync recording its spending before the
/// sync gives up (the next sync tries again).
const MAX_RECORD_CONFLICTS: u32 = 3;

/// Why the plan step stopped; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// An older connector reaches the same Password Boss company.
    #[error("{0}")]
    CompanyConflict(String),
    /// The fresh Password Boss read a destructive plan needs failed.
    #[error(transparent)]
    Reread(TargetError),
    /// What the plan would spend could not be recorded first.
    #[error(
        "nothing destructive was written: the safety record could not be stored first: {0}; \
         the next sync tries again"
    )]
    Record(SafetyStoreError),
}

impl PlanError {
    pub fn reason(&self) -> FailureReason {
        match self {
            Self::CompanyConflict(_) => FailureReason::CompanyConflict,
            Self::Reread(e) => FailureReason::of_target(e),
            Self::Record(_) => FailureReason::SafetyRecordNotWritten,
        }
    }
}

/// Step 2: the plan for what was read, its safety record stored first when it changes it.
pub(super) async fn make_plan(
    spec: &AzureAdConnectorSpec,
    clients: &Clients,
    state: &mut ConnectorState,
    request: &SyncRequest,
    reads: Reads,
    trace: &mut Trace,
) -> Result<Planned, PlanError> {
    let Reads {
        mut connector,
        mut directory,
        mut directory_read_at,
        mut kept,
    } = reads;
    let company = company_of(&connector);
    trace.company = Some(company.clone());
    request
        .company_guard
        .check(&company)
        .await
        .map_err(PlanError::CompanyConflict)?;
    let rules = spec.rules();
    request.progress.send(Progress::step(Step::Planning));
    let started = Instant::now();
    let now = k8s_openapi::jiff::Timestamp::now();
    let mut record = request.safety_record.clone().unwrap_or_default();
    // The version of the stored record `record` was read at, when it was read for this plan.
    let mut version: Option<String> = None;
    let mut conflicts = 0;
    let mut snapshot = settled_snapshot(spec, clients, state, &rules, &directory).await;
    let plan = loop {
        let input = SafetyInput {
            now,
            record: (&record).into(),
            approval: request.approval.clone(),
            frozen: request.freeze_destructive,
        };
        let plan = {
            let _span = tracing::info_span!("plan").entered();
            plan::plan(&snapshot, &directory, &rules, &input)
        };
        if kept && plan::irreversible(&plan) {
            // A portal change since the last read (an account made admin, handed to another
            // source) counts in what cannot be undone.
            directory_read_at = Instant::now();
            (connector, directory) = clients.target.read().await.map_err(PlanError::Reread)?;
            kept = false;
            snapshot = settled_snapshot(spec, clients, state, &rules, &directory).await;
            continue;
        }
        let planned: SafetyRecord = (&plan.record).into();
        let store = match &request.safety_store {
            Some(store) if !request.dry_run && planned != record => store.store(),
            _ => break plan,
        };
        let read_at = match version.take() {
            Some(read_at) => read_at,
            None => {
                let stored = store.read().await.map_err(PlanError::Record)?;
                if stored.record != record {
                    // Another sync stored a record since this one's was read.
                    record = stored.record;
                    version = Some(stored.version);
                    continue;
                }
                stored.version
            }
        };
        match store.write(&planned, &read_at).await {
            Ok(()) => break plan,
            Err(SafetyStoreError::Conflict) if conflicts < MAX_RECORD_CONFLICTS => {
                conflicts += 1;
                tracing::info!(
                    conflicts,
                    "the safety record changed while this sync stored it; planning again"
                );
            }
            Err(e) => return Err(PlanError::Record(e)),
        }
    };
    trace.timings.planning = started.elapsed();
    Ok(Planned {
        plan,
        summary: SnapshotSummary::of(&snapshot),
        connector,
        directory,
        directory_read_at,
    })
}

impl From<PlanError> for SyncFailure {
    fn from(e: PlanError) -> Self {
        SyncFailure::new(e.reason(), e.to_string())
    }
}

/// The snapshot built from the Graph state, scoped, its departures settled against `directory`
/// (by Graph lookups where the state does not tell).
async fn settled_snapshot(
    spec: &AzureAdConnectorSpec,
    clients: &Clients,
    state: &mut ConnectorState,
    rules: &Rules,
    directory: &DirectoryState,
) -> EntraSnapshot {
    let mut snapshot = state.graph_state.snapshot();
    plan::apply_scope(&mut snapshot, &rules.scope, rules.email_attribute);
    classify_departures(
        spec,
        &clients.graph,
        &mut state.graph_state,
        &mut snapshot,
        directory,
    )
    .await;
    snapshot
}
