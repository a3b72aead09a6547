//! Applies a plan: bounded concurrency, a safe order (user creates and updates; then group
//! creates and updates; then group deletes; deprovisions last), one outcome per action. A
//! refused object is a conflict and the rest goes on; a 401 stops every further write.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, stream};

use super::scim_writes::ScimApplier;
use super::writes::Applier;
use crate::domain::DirectoryState;
use crate::http_client::kind::ErrorKind;
use crate::plan::{Action, Conflict, ConflictKind, Plan};
use crate::sync::state::{Applied, AuditRecord, ExecutionReport, Outcome, WritesInFlight};
use crate::sync::target::{Target, TargetError, TargetKind};

/// The writes of one execution, for its target.
enum Writer<'a> {
    PasswordBoss(Applier<'a>),
    Scim(ScimApplier<'a>),
}

impl Writer<'_> {
    async fn apply(&self, action: &Action) -> Result<Applied, TargetError> {
        match self {
            Self::PasswordBoss(applier) => Ok(applier.apply(action).await?),
            Self::Scim(applier) => Ok(applier.apply(action).await?),
        }
    }
}

/// Execution phases, in order.
fn phase(action: &Action) -> usize {
    match action {
        Action::CreateUser { .. } | Action::UpdateUser { .. } => 0,
        Action::CreateGroup { .. } | Action::UpdateGroup { .. } => 1,
        Action::DeleteGroup { .. } => 2,
        Action::DeprovisionUser { .. } => 3,
    }
}

struct Run<'a> {
    applier: Writer<'a>,
    /// Which target the writes go to (audit lines name it).
    target: TargetKind,
    /// How audit lines name the connector (empty: they name none).
    connector: &'a str,
    /// Every write as it is sent and answered, for a sync stopped mid-write.
    in_flight: &'a WritesInFlight,
    /// Set by a 401 or a run of transient failures: nothing more is attempted.
    stop: AtomicBool,
    unauthorized: Mutex<Option<TargetError>>,
    gave_up: Mutex<Option<TargetError>>,
    /// Transient/throttled failures since the last success.
    failing: AtomicU32,
    failing_limit: u32,
}

/// How far the apply is: phase (0 accounts, 1 groups, 2 group deletes, 3 deprovisions), and how
/// many of that phase's actions are done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApplyProgress {
    pub phase: usize,
    pub done: u64,
    pub total: u64,
}

/// Apply `plan` to the target (a Password Boss or SCIM client). `sync_id` names this sync:
/// Password Boss creates retried within it share their `Idempotency-Key`, so no retry makes a
/// second account (a SCIM create whose answer was lost is looked up before it is sent again).
/// Each write's audit line names no connector; `execute_reporting` takes one.
pub async fn execute(target: impl Into<Target>, plan: &Plan, sync_id: &str) -> ExecutionReport {
    execute_reporting(target, plan, sync_id, "", &|_| {}).await
}

/// `execute`, with the audit lines naming `connector` (`namespace/name`; empty: none), telling
/// `progress` after each action (and at the start of each non-empty phase). A SCIM target
/// given no read state only adds group members; the sync gives it the state its plan was made
/// from (`execute_on`).
pub async fn execute_reporting(
    target: impl Into<Target>,
    plan: &Plan,
    sync_id: &str,
    connector: &str,
    progress: &(dyn Fn(ApplyProgress) + Sync),
) -> ExecutionReport {
    let in_flight = WritesInFlight::default();
    execute_on(
        &target.into(),
        None,
        plan,
        sync_id,
        connector,
        progress,
        &in_flight,
    )
    .await
}

/// `execute_reporting` for a plan made from `directory`, recording each write in `in_flight` as
/// it is sent and answered (for a sync stopped mid-write).
pub(crate) async fn execute_on(
    target: &Target,
    directory: Option<&DirectoryState>,
    plan: &Plan,
    sync_id: &str,
    connector: &str,
    progress: &(dyn Fn(ApplyProgress) + Sync),
    in_flight: &WritesInFlight,
) -> ExecutionReport {
    let before = target.requests();
    let concurrency = target.concurrency().max(1);
    let applier = match target {
        Target::PasswordBoss(client) => Writer::PasswordBoss(Applier::new(client, sync_id)),
        Target::Scim(client) => Writer::Scim(ScimApplier::new(client, directory)),
    };
    let run = Run {
        applier,
        target: target.kind(),
        connector,
        in_flight,
        stop: AtomicBool::new(false),
        unauthorized: Mutex::new(None),
        gave_up: Mutex::new(None),
        failing: AtomicU32::new(0),
        failing_limit: (2 * concurrency as u32).max(4),
    };
    let mut results: Vec<(usize, Outcome, AuditRecord)> = Vec::with_capacity(plan.actions.len());
    for current in 0..4 {
        let batch: Vec<(usize, &Action)> = plan
            .actions
            .iter()
            .enumerate()
            .filter(|(_, a)| phase(a) == current)
            .collect();
        // Boxed so the future stays provably `Send` when the caller's future must be (the
        // controller runs syncs on its own tasks).
        let total = batch.len() as u64;
        if total > 0 {
            progress(ApplyProgress {
                phase: current,
                done: 0,
                total,
            });
        }
        let work: Vec<BoxFuture<'_, (usize, Outcome, AuditRecord)>> = batch
            .into_iter()
            .map(|(index, action)| {
                let run = &run;
                async move {
                    let (outcome, record) = run.one(index, action).await;
                    (index, outcome, record)
                }
                .boxed()
            })
            .collect();
        let mut finished = 0u64;
        let done: Vec<(usize, Outcome, AuditRecord)> = stream::iter(work)
            .buffer_unordered(concurrency)
            .inspect(|_| {
                finished += 1;
                progress(ApplyProgress {
                    phase: current,
                    done: finished,
                    total,
                });
            })
            .collect()
            .await;
        results.extend(done);
    }
    results.sort_by_key(|(index, _, _)| *index);
    let mut report = ExecutionReport::default();
    for (index, outcome, record) in results {
        report.record(index, &plan.actions[index], outcome);
        report.audit.push(record);
    }
    report.unauthorized = run.unauthorized.into_inner().expect("lock");
    report.gave_up = run.gave_up.into_inner().expect("lock");
    report.requests = target.requests().since(before);
    tracing::info!(
        target = target.kind().as_str(),
        actions = plan.actions.len(),
        conflicts = report.conflicts.len(),
        failed = report.failed,
        skipped = report.skipped,
        requests = report.requests.total(),
        "applied plan"
    );
    report
}

impl Run<'_> {
    /// Applies plan action `index`; its audit line is written the moment its outcome is known.
    async fn one(&self, index: usize, action: &Action) -> (Outcome, AuditRecord) {
        self.in_flight.sent(index, action, self.target);
        let outcome = self.attempt(action).await;
        let record = AuditRecord::of(action, &outcome);
        record.log(self.connector, self.target);
        self.in_flight.answered(index, &record, self.target);
        (outcome, record)
    }

    async fn attempt(&self, action: &Action) -> Outcome {
        if self.stop.load(Ordering::SeqCst) {
            return Outcome::Skipped;
        }
        match self.applier.apply(action).await {
            Ok(applied) => {
                self.failing.store(0, Ordering::SeqCst);
                if let Some(note) = &applied.note {
                    tracing::debug!(id = applied.id.as_deref(), note = note.as_str(), "applied");
                }
                Outcome::Applied(applied)
            }
            Err(e) => self.failure(action, e),
        }
    }

    fn failure(&self, action: &Action, error: TargetError) -> Outcome {
        match error.kind() {
            ErrorKind::Unauthorized => {
                self.stop.store(true, Ordering::SeqCst);
                self.unauthorized
                    .lock()
                    .expect("lock")
                    .get_or_insert_with(|| error.clone());
                Outcome::Failed(error)
            }
            ErrorKind::NotFound | ErrorKind::Conflict | ErrorKind::Rejected => {
                self.failing.store(0, Ordering::SeqCst);
                tracing::info!(error = %error, "the target refused one object");
                Outcome::Conflict(conflict(action, &error))
            }
            ErrorKind::Throttled | ErrorKind::Transient => {
                tracing::warn!(error = %error, "write failed");
                if self.failing.fetch_add(1, Ordering::SeqCst) + 1 >= self.failing_limit {
                    self.stop.store(true, Ordering::SeqCst);
                    self.gave_up
                        .lock()
                        .expect("lock")
                        .get_or_insert_with(|| error.clone());
                }
                Outcome::Failed(error)
            }
            ErrorKind::Protocol
            | ErrorKind::Config
            | ErrorKind::TooLarge
            | ErrorKind::MemoryBudget
            | ErrorKind::Paging => {
                tracing::warn!(error = %error, "write failed");
                Outcome::Failed(error)
            }
        }
    }
}

/// The per-object conflict for a refused write.
fn conflict(action: &Action, error: &TargetError) -> Conflict {
    let kind = match (error, error.code()) {
        (TargetError::PasswordBoss(_), Some("license_limit")) => ConflictKind::NoLicense,
        (TargetError::PasswordBoss(_), Some("name_exists")) => ConflictKind::GroupNameTaken,
        // SCIM: `409 uniqueness` on a group create or rename is a name another group holds.
        (TargetError::Scim(e), Some("uniqueness"))
            if e.kind() == ErrorKind::Conflict
                && matches!(
                    action,
                    Action::CreateGroup { .. } | Action::UpdateGroup { .. }
                ) =>
        {
            ConflictKind::GroupNameTaken
        }
        _ => ConflictKind::Rejected,
    };
    let (external_id, email) = match action {
        Action::CreateUser {
            external_id, email, ..
        }
        | Action::UpdateUser {
            external_id, email, ..
        } => (Some(external_id.clone()), Some(email.clone())),
        Action::DeprovisionUser {
            external_id, email, ..
        } => (external_id.clone(), Some(email.clone())),
        Action::CreateGroup { external_id, .. } | Action::UpdateGroup { external_id, .. } => {
            (Some(external_id.clone()), None)
        }
        Action::DeleteGroup { .. } => (None, None),
    };
    Conflict {
        kind,
        external_id,
        email,
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AccountStatus;
    use crate::plan::{Deprovision, LeaveReason};

    #[test]
    fn phases_put_deprovisions_last() {
        let create = Action::CreateUser {
            external_id: "e".into(),
            email: "a@b.co".into(),
            first_name: "A".into(),
            last_name: "B".into(),
            status: AccountStatus::Active,
        };
        let deprovision = Action::DeprovisionUser {
            user_id: "u_1".into(),
            external_id: None,
            email: "a@b.co".into(),
            how: Deprovision::Disable,
            reason: LeaveReason::Deleted,
        };
        let group_delete = Action::DeleteGroup {
            group_id: "g_1".into(),
            name: "HR".into(),
        };
        assert!(phase(&create) < phase(&group_delete));
        assert!(phase(&group_delete) < phase(&deprovision));
    }

    #[test]
    fn licence_refusal_is_no_license() {
        let action = Action::UpdateUser {
            user_id: "u_1".into(),
            external_id: "e1".into(),
            email: "a@b.co".into(),
            changes: Default::default(),
        };
        let err = TargetError::from(crate::passwordboss::PasswordBossError::from_status(
            "PATCH /v1/users/u_1",
            409,
            br#"{"error":{"code":"license_limit","message":"full"}}"#,
        ));
        let c = conflict(&action, &err);
        assert_eq!(c.kind, ConflictKind::NoLicense);
        assert_eq!(c.email.as_deref(), Some("a@b.co"));
    }
}
