//! Step 3 of a sync, **apply**: the plan's writes to Password Boss, in a safe order with bounded
//! concurrency (`execute`), each action turned into the client's calls (`writes`) with its
//! `Idempotency-Key` (`idempotency`). The Password Boss state read for the plan is kept for the
//! next sync only when the writes changed nothing (see `state::kept`).

mod execute;
mod idempotency;
mod lookup;
mod scim_writes;
mod writes;

use std::time::Instant;

use tracing::Instrument;

use self::execute::execute_on;
pub use self::execute::{ApplyProgress, execute, execute_reporting};
pub use self::idempotency::idempotency_key;
use super::SyncRequest;
use super::progress::{Progress, Step};
use super::state::kept::{KeptState, unchanged_by};
use super::state::{Clients, ConnectorState, Executed, ExecutionReport, Planned, Trace};
use super::status::failure::{FailureReason, SyncFailure};
use super::target::TargetError;

/// Why the apply step stopped before the end of the plan; the writes made before stay made,
/// the rest are retried by the next sync.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The target refused the token; no write was attempted after it.
    #[error(transparent)]
    Unauthorized(TargetError),
    /// Writes stopped after a run of transient failures (the service is down).
    #[error(transparent)]
    GaveUp(TargetError),
}

impl ApplyError {
    pub fn reason(&self) -> FailureReason {
        match self {
            Self::Unauthorized(e) | Self::GaveUp(e) => FailureReason::of_target(e),
        }
    }

    /// Why `execution` stopped before the end of its plan, if it did.
    fn of(execution: &ExecutionReport) -> Option<Self> {
        match (&execution.unauthorized, &execution.gave_up) {
            (Some(e), _) => Some(Self::Unauthorized(e.clone())),
            (None, Some(e)) => Some(Self::GaveUp(e.clone())),
            (None, None) => None,
        }
    }
}

impl From<&ApplyError> for SyncFailure {
    fn from(e: &ApplyError) -> Self {
        SyncFailure::new(e.reason(), e.to_string())
    }
}

/// Applies `planned.plan` (nothing in a dry run) and keeps the Password Boss state read for it
/// (taken out of `planned`) for the next sync when the writes left it as it was.
pub(super) async fn apply(
    clients: &Clients,
    state: &mut ConnectorState,
    request: &SyncRequest,
    planned: &mut Planned,
    trace: &mut Trace,
) -> Option<Executed> {
    // The state goes to the kept state; the report needs only the plan and the snapshot.
    let keep = KeptState {
        key: clients.target_key,
        read_at: planned.directory_read_at,
        connector: planned.connector.clone(),
        state: std::mem::take(&mut planned.directory),
    };
    if request.dry_run {
        state.kept = Some(keep);
        return None;
    }
    let started = Instant::now();
    let report_progress = |p: ApplyProgress| {
        let step = match p.phase {
            0 => Step::Accounts,
            1 => Step::Groups,
            2 => Step::GroupDeletes,
            _ => Step::Deprovisions,
        };
        request.progress.send(Progress {
            step,
            done: p.done,
            total: p.total,
        });
    };
    let plan = &planned.plan;
    let execution = execute_on(
        &clients.target,
        Some(&keep.state),
        plan,
        &request.sync_id,
        &request.connector,
        &report_progress,
        &request.writes_in_flight,
    )
    .instrument(tracing::info_span!(
        "apply",
        actions = planned.plan.actions.len()
    ))
    .await;
    trace.timings.apply = started.elapsed();
    state.kept = unchanged_by(&planned.plan, &execution).then_some(keep);
    let failure = ApplyError::of(&execution).as_ref().map(SyncFailure::from);
    Some(Executed { execution, failure })
}
