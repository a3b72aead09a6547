//! Step 3 of a sync, **apply**: the plan's writes to Password Boss, in plan order; the Password
//! Boss state read for the plan is kept for the next sync only when the writes changed nothing
//! (see `directory_cache`).

use std::time::Instant;

use tracing::Instrument;

use super::decide::Decided;
use super::directory_cache::{CachedDirectory, unchanged_by};
use super::failure::FailureReason;
use super::pipeline::{ConnectorState, SyncOptions, Trace};
use super::progress::{Progress, Step};
use super::read::Clients;
use crate::passwordboss::{ApplyProgress, ExecutionReport, PasswordBossError, execute_reporting};

/// Why the apply step stopped before the end of the plan; the writes made before stay made,
/// the rest are retried by the next sync.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Password Boss refused the token; no write was attempted after it.
    #[error(transparent)]
    Unauthorized(PasswordBossError),
    /// Writes stopped after a run of transient failures (the service is down).
    #[error(transparent)]
    GaveUp(PasswordBossError),
}

impl ApplyError {
    pub fn reason(&self) -> FailureReason {
        match self {
            Self::Unauthorized(e) | Self::GaveUp(e) => FailureReason::of_password_boss(e),
        }
    }
}

/// What the apply step did.
pub(super) struct Applied {
    pub execution: ExecutionReport,
    pub error: Option<ApplyError>,
}

/// Applies `decided.plan` (nothing in a dry run) and keeps the Password Boss state read for it
/// (taken out of `decided`) for the next sync when the writes left it as it was.
pub(super) async fn apply(
    clients: &Clients,
    state: &mut ConnectorState,
    options: &SyncOptions,
    decided: &mut Decided,
    trace: &mut Trace,
) -> Option<Applied> {
    // The state goes to the cache; the report needs only the plan and the snapshot.
    let keep = CachedDirectory {
        key: clients.password_boss_key,
        read_at: decided.directory_read_at,
        connector: decided.connector.clone(),
        state: std::mem::take(&mut decided.directory),
    };
    if options.dry_run {
        state.directory = Some(keep);
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
        options.progress.send(Progress {
            step,
            done: p.done,
            total: p.total,
        });
    };
    let execution = execute_reporting(
        &clients.password_boss,
        &decided.plan,
        &options.sync_id,
        &options.connector,
        &report_progress,
    )
    .instrument(tracing::info_span!(
        "apply",
        actions = decided.plan.actions.len()
    ))
    .await;
    trace.timings.apply = started.elapsed();
    state.directory = unchanged_by(&decided.plan, &execution).then_some(keep);
    let error = match (&execution.unauthorized, &execution.gave_up) {
        (Some(e), _) => Some(ApplyError::Unauthorized(e.clone())),
        (None, Some(e)) => Some(ApplyError::GaveUp(e.clone())),
        (None, None) => None,
    };
    Some(Applied { execution, error })
}
