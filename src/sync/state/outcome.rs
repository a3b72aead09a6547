//! What executing a plan did: per-action outcomes and their totals.

use crate::passwordboss::RequestCounts;
use crate::plan::{Action, ActionCounts, Conflict, Deprovision};
use crate::sync::target::TargetError;

/// A write that took effect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// The user or group written (for creates: the new object's id).
    pub id: Option<String>,
    /// A create asked for `active` and got `pending`: no free licence.
    pub pending_no_license: bool,
    /// The create found the object already made by an earlier, interrupted sync: what Password
    /// Boss holds (its status, names, members) may differ from what the plan asked for.
    pub recovered: bool,
    /// Worth a line in the log (a recovered create, members dropped, ...).
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Applied(Applied),
    /// Password Boss refused this object; the rest of the plan went on.
    Conflict(Conflict),
    /// Failed after the retries (or with 401); the next sync tries again.
    Failed(TargetError),
    /// Not attempted: an earlier 401 (or a run of failures) stopped all further writes.
    Skipped,
}

/// The outcome of `plan.actions[index]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionOutcome {
    pub index: usize,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecutionReport {
    /// Actions that took effect, by kind.
    pub applied: ActionCounts,
    /// Objects Password Boss refused (`Rejected`, `NoLicense`, `GroupNameTaken`).
    pub conflicts: Vec<Conflict>,
    /// Actions that failed for another reason (transient, protocol, 401).
    pub failed: u32,
    /// Actions not attempted because writes were stopped.
    pub skipped: u32,
    /// Set when Password Boss refused the token; no write was attempted after it.
    pub unauthorized: Option<TargetError>,
    /// Set when the executor stopped after a run of transient failures (service down).
    pub gave_up: Option<TargetError>,
    /// Users created `pending` although `active` was asked: no free licence.
    pub pending_created: u32,
    /// One per action, in plan order.
    pub outcomes: Vec<ActionOutcome>,
    /// The audit record of each action, in plan order (each was logged as its outcome came).
    pub audit: Vec<super::AuditRecord>,
    /// Requests this execution sent (retries included).
    pub requests: RequestCounts,
}

impl ExecutionReport {
    /// Every action took effect or was refused as a per-object conflict.
    pub fn is_complete(&self) -> bool {
        self.failed == 0 && self.skipped == 0 && self.unauthorized.is_none()
    }

    pub(crate) fn record(&mut self, index: usize, action: &Action, outcome: Outcome) {
        match &outcome {
            Outcome::Applied(applied) => {
                count(&mut self.applied, action);
                if applied.pending_no_license {
                    self.pending_created += 1;
                }
            }
            Outcome::Conflict(conflict) => self.conflicts.push(conflict.clone()),
            Outcome::Failed(_) => self.failed += 1,
            Outcome::Skipped => self.skipped += 1,
        }
        self.outcomes.push(ActionOutcome { index, outcome });
    }
}

/// The counter an applied action adds to. An update counts once: adopted, else enabled, else
/// updated.
fn count(counts: &mut ActionCounts, action: &Action) {
    let slot = match action {
        Action::CreateUser { .. } => &mut counts.created,
        Action::UpdateUser { changes, .. } if changes.adopt => &mut counts.adopted,
        Action::UpdateUser { changes, .. } if changes.enable => &mut counts.enabled,
        Action::UpdateUser { .. } => &mut counts.updated,
        Action::DeprovisionUser { how, .. } => match how {
            Deprovision::Disable => &mut counts.disabled,
            Deprovision::Remove => &mut counts.removed,
            Deprovision::Delete => &mut counts.deleted,
        },
        Action::CreateGroup { .. } => &mut counts.groups_created,
        Action::UpdateGroup { .. } => &mut counts.groups_updated,
        Action::DeleteGroup { .. } => &mut counts.groups_deleted,
    };
    *slot += 1;
}
