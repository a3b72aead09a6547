//! The audit trail: one record, and one log line under the target [`AUDIT_TARGET`], per
//! Password Boss write — who was changed, how, and whether it took effect. Records carry ids,
//! emails and group names only, never a token or a message from a credential.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::outcome::Outcome;
use crate::bounded::remote_text;
use crate::http_client::kind::ErrorKind;
use crate::plan::{Action, Deprovision, LeaveReason};
use crate::resources::WriteOutcome;
use crate::sync::target::{TargetError, TargetKind};

/// The `tracing` target of audit lines: filter with `RUST_LOG=pbconnector::audit=info` (or
/// keep it on while turning other targets down).
pub const AUDIT_TARGET: &str = "pbconnector::audit";

/// The `outcome` field of an audit line: `applied`, `failed` or `skipped`.
pub fn outcome_field(outcome: WriteOutcome) -> &'static str {
    match outcome {
        WriteOutcome::Applied => "applied",
        WriteOutcome::Failed => "failed",
        WriteOutcome::Skipped => "skipped",
    }
}

/// One Password Boss write of a sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// `CreateUser`, `AdoptUser`, `EnableUser`, `UpdateUser`, `DisableUser`, `RemoveUser`,
    /// `DeleteUser`, `CreateGroup`, `UpdateGroup` or `DeleteGroup`.
    pub action: &'static str,
    /// The user's email (user actions).
    pub email: Option<String>,
    /// The group's name (group actions).
    pub group: Option<String>,
    /// The Entra object id of the user or group, when known.
    pub entra_id: Option<String>,
    /// The Password Boss id (for a create: the new object's, once made).
    pub password_boss_id: Option<String>,
    pub outcome: WriteOutcome,
    /// Applied deprovision: why the user left (`RemovedFromGroup`, …); refused write: the
    /// conflict reason (`NoLicense`, `GroupNameTaken`, `Rejected`); other failure: the error
    /// code; skipped: `NotAttempted`.
    pub reason: Option<String>,
}

impl AuditRecord {
    /// The record of `action`, which ended as `outcome`.
    pub fn of(action: &Action, outcome: &Outcome) -> Self {
        let (kind, email, group, entra_id, target_id) = describe(action);
        let (outcome, password_boss_id, reason) = match outcome {
            Outcome::Applied(applied) => (
                WriteOutcome::Applied,
                applied.id.clone().or(target_id),
                leave_reason(action).map(str::to_owned),
            ),
            Outcome::Conflict(conflict) => (
                WriteOutcome::Failed,
                target_id,
                Some(crate::plan::ConflictKind::as_str(conflict.kind).to_owned()),
            ),
            Outcome::Failed(error) => (
                WriteOutcome::Failed,
                target_id,
                Some(remote_text(&error_code(error))),
            ),
            Outcome::Skipped => (
                WriteOutcome::Skipped,
                target_id,
                Some("NotAttempted".to_owned()),
            ),
        };
        Self {
            action: kind,
            email: email.map(remote_text),
            group: group.map(remote_text),
            entra_id: entra_id.map(remote_text),
            password_boss_id: password_boss_id.map(|id| remote_text(&id)),
            outcome,
            reason,
        }
    }

    /// The email or the group name: what the write was about.
    pub fn target(&self) -> &str {
        self.email
            .as_deref()
            .or(self.group.as_deref())
            .unwrap_or("")
    }

    /// Whether this write disables, removes or deletes a user.
    pub fn is_deprovision(&self) -> bool {
        matches!(self.action, "DisableUser" | "RemoveUser" | "DeleteUser")
    }

    /// Writes the audit line: target `pbconnector::audit`, message `Password Boss write` (`SCIM
    /// write`), fields `connector` (when named), `service` (`passwordboss`, `scim`), `action`,
    /// `email` or `group`, `entra_id`, `passwordboss_id` (the id in the target), `outcome`,
    /// `reason` (absent fields have no value).
    pub fn log(&self, connector: &str, target: TargetKind) {
        let service = match target {
            TargetKind::PasswordBoss => "Password Boss",
            TargetKind::Scim => "SCIM",
        };
        tracing::info!(
            target: AUDIT_TARGET,
            connector = (!connector.is_empty()).then_some(connector),
            service = target.as_str(),
            action = self.action,
            email = self.email.as_deref(),
            group = self.group.as_deref(),
            entra_id = self.entra_id.as_deref(),
            passwordboss_id = self.password_boss_id.as_deref(),
            outcome = outcome_field(self.outcome),
            reason = self.reason.as_deref(),
            "{service} write"
        );
    }
}

/// The `reason` of a write whose answer was abandoned when this replica lost leadership: it was
/// sent and may have taken effect (the new leader reads Password Boss afresh).
pub const REASON_LEADERSHIP_LOST: &str = "LeadershipLost";

/// The `reason` of a write whose answer was abandoned when the connector's watch cancelled the
/// sync (deleted, suspended, or its spec changed): it was sent and may have taken effect (the
/// next sync reads the target afresh).
pub const REASON_CANCELLED: &str = "Cancelled";

/// The writes of one sync as they go: each recorded when it is sent and again when its outcome
/// is known. A sync stopped mid-write (leadership lost: its future is dropped where it waits)
/// or cancelled by its connector's watch) still reports every write it made — the ones answered
/// with their outcome, the ones in flight as abandoned — instead of none.
#[derive(Clone, Debug, Default)]
pub struct WritesInFlight(Arc<Mutex<BTreeMap<usize, InFlight>>>);

/// One write: its record, whether it was answered, and the target it went to.
type InFlight = (AuditRecord, bool, TargetKind);

/// Two are equal when they are the same record, or both hold nothing (as two requests that
/// have not run are alike).
impl PartialEq for WritesInFlight {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || (self.lock().is_empty() && other.lock().is_empty())
    }
}

impl WritesInFlight {
    /// Plan action `index` is about to be sent.
    pub(crate) fn sent(&self, index: usize, action: &Action, target: TargetKind) {
        let mut record = AuditRecord::of(action, &Outcome::Skipped);
        record.outcome = WriteOutcome::Failed;
        self.lock().insert(index, (record, false, target));
    }

    /// Plan action `index` ended as `record` says (its audit line is written).
    pub(crate) fn answered(&self, index: usize, record: &AuditRecord, target: TargetKind) {
        self.lock().insert(index, (record.clone(), true, target));
    }

    /// Every write recorded, in plan order; the ones still in flight are abandoned now, and
    /// their audit lines written (outcome `failed`, reason `reason`: [`REASON_LEADERSHIP_LOST`]
    /// or [`REASON_CANCELLED`]).
    pub fn abandon(&self, connector: &str, reason: &str) -> Vec<AuditRecord> {
        let writes = std::mem::take(&mut *self.lock());
        writes
            .into_values()
            .map(|(mut record, answered, target)| {
                if !answered {
                    record.reason = Some(reason.to_owned());
                    record.log(connector, target);
                }
                record
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<usize, InFlight>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Described<'a> = (
    &'static str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<String>,
);

/// (action, email, group, Entra id, Password Boss id known before the write).
fn describe(action: &Action) -> Described<'_> {
    match action {
        Action::CreateUser {
            external_id, email, ..
        } => ("CreateUser", Some(email), None, Some(external_id), None),
        Action::UpdateUser {
            user_id,
            external_id,
            email,
            changes,
        } => {
            // Named as the executor's counts name it: adopted, else enabled, else updated.
            let kind = if changes.adopt {
                "AdoptUser"
            } else if changes.enable {
                "EnableUser"
            } else {
                "UpdateUser"
            };
            (
                kind,
                Some(email),
                None,
                Some(external_id),
                Some(user_id.clone()),
            )
        }
        Action::DeprovisionUser {
            user_id,
            external_id,
            email,
            how,
            ..
        } => {
            let kind = match how {
                Deprovision::Disable => "DisableUser",
                Deprovision::Remove => "RemoveUser",
                Deprovision::Delete => "DeleteUser",
            };
            (
                kind,
                Some(email),
                None,
                external_id.as_deref(),
                Some(user_id.clone()),
            )
        }
        Action::CreateGroup {
            external_id, name, ..
        } => ("CreateGroup", None, Some(name), Some(external_id), None),
        Action::UpdateGroup {
            group_id,
            external_id,
            name,
            ..
        } => (
            "UpdateGroup",
            None,
            Some(name),
            Some(external_id),
            Some(group_id.clone()),
        ),
        Action::DeleteGroup { group_id, name } => (
            "DeleteGroup",
            None,
            Some(name),
            None,
            Some(group_id.clone()),
        ),
    }
}

/// Why a deprovisioned user left, as status and `plan` name it.
fn leave_reason(action: &Action) -> Option<&'static str> {
    match action {
        Action::DeprovisionUser { reason, .. } => Some(match reason {
            LeaveReason::Deleted => "Deleted",
            LeaveReason::Disabled => "Disabled",
            LeaveReason::RemovedFromGroup => "RemovedFromGroup",
            LeaveReason::OutOfScope => "OutOfScope",
        }),
        _ => None,
    }
}

/// The API's error code, or for failures without one a code for their class.
fn error_code(error: &TargetError) -> String {
    if let Some(code) = error.code() {
        return code.to_owned();
    }
    match error.kind() {
        ErrorKind::Unauthorized => "invalid_token",
        ErrorKind::NotFound => "not_found",
        ErrorKind::Conflict => "conflict",
        ErrorKind::Rejected => "rejected",
        ErrorKind::Throttled => "throttled",
        ErrorKind::Transient => "unavailable",
        ErrorKind::Protocol => "protocol_error",
        ErrorKind::Config => "invalid_configuration",
        ErrorKind::TooLarge => "response_too_large",
        ErrorKind::Paging => "paging_error",
        ErrorKind::MemoryBudget => "memory_budget_exhausted",
    }
    .to_owned()
}
