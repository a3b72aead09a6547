//! `AzureAdConnector` status: what the controller and `pbconnector sync -o json` report.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, MicroTime, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schema_rules::conditions_schema;

/// At most this many plan entries are written into status (etcd objects are size-limited).
pub const MAX_STATUS_PLAN_ENTRIES: usize = 200;
/// At most this many conflicts are listed in status; the count is always exact.
pub const MAX_STATUS_CONFLICTS: usize = 50;
/// At most this many of the last sync's writes are listed in `lastSync.actions`; the rest are
/// counted in `lastSync.actionsOmitted` (`pbconnector sync -o json` lists them all).
pub const MAX_STATUS_ACTIONS: usize = 100;

/// Condition types.
pub const CONDITION_READY: &str = "Ready";
pub const CONDITION_AZURE_AUTHORIZED: &str = "AzureAuthorized";
pub const CONDITION_PASSWORDBOSS_AUTHORIZED: &str = "PasswordBossAuthorized";
/// Condition type: the SCIM service accepted the token (a `spec.scim` connector).
pub const CONDITION_SCIM_AUTHORIZED: &str = "ScimAuthorized";
pub const CONDITION_DEPROVISION_BLOCKED: &str = "DeprovisionBlocked";
pub const CONDITION_CREDENTIAL_EXPIRING: &str = "CredentialExpiring";

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AzureAdConnectorStatus {
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// WaitingForConnection | Connected | Unauthorized | Error.
    #[serde(default)]
    pub connection: Connection,
    /// What a person should read first.
    #[serde(default)]
    pub message: String,
    /// Ready, AzureAuthorized, PasswordBossAuthorized (ScimAuthorized for a `spec.scim`
    /// connector), DeprovisionBlocked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// When the last sync attempt ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
    /// When the last successful sync ended. Refreshed on its own (nothing else changed) every 10
    /// to 20 minutes (`LAST_SUCCESS_REFRESH`, spread per connector), so a value older than 20
    /// minutes plus one interval means syncs stopped succeeding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_sync_time: Option<Time>,
    /// When the last full (non-delta) read of Entra ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_full_sync_time: Option<Time>,
    /// The last `passwordboss.com/sync-requested-at` (or Flux `requestedAt`) value handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_sync_request: Option<String>,
    /// User counts after the last sync.
    #[serde(default)]
    pub users: UserCounts,
    /// What the last sync did and what it cost.
    #[serde(default)]
    pub last_sync: SyncCounts,
    /// The Password Boss company the token reaches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<CompanyRef>,
    /// Present while destructive changes are held back by the safety limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<Blocked>,
    /// Why the approval annotation's value was not used (it names another set, or was used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_problem: Option<String>,
    /// What the safety limits remember between syncs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety: Option<SafetyRecord>,
    /// Users the last sync could not provision, with the reason (first entries only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<ConflictEntry>,
    /// The actions a sync would take (first entries only): written by every sync of a dry-run
    /// connector, and once for each `passwordboss.com/plan-requested-at` (kept until the next
    /// request; see `planRequest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<PlanEntry>>,
    /// The last `passwordboss.com/plan-requested-at` answered, and how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_request: Option<PlanRequestStatus>,
    /// The checks of `pbconnector verify`, last run for the annotation
    /// `passwordboss.com/verify-requested-at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifyStatus>,
    /// Present while the connector is quarantined: its credentials were refused in a way that
    /// waiting will not fix, so attempts back off from the interval to a ceiling. A change to
    /// the connector or to a Secret it references ends it at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<QuarantineStatus>,
}

/// At most this many held-back users are listed in `status.blocked.users`.
pub const MAX_STATUS_BLOCKED_USERS: usize = 100;

/// What the safety limits hold back until approved.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Blocked {
    /// Approves exactly this set of changes, once: put it in the annotation
    /// `passwordboss.com/approve-deprovisions` (or pass `--approve-deprovisions`). Empty while
    /// the operator's fleet-wide freeze holds the set: no approval releases that.
    #[serde(default)]
    pub approval: String,
    /// Held by the operator's fleet-wide freeze (`pbconnector run --freeze-destructive`), not
    /// by the safety limits.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub frozen: bool,
    /// Deprovisions (disable, remove, delete) held back.
    pub deprovisions: u32,
    /// Group changes held back: mirrored groups deleted and members removed from them.
    #[serde(default)]
    pub group_changes: u32,
    /// Which limit the changes exceed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub limit: String,
    /// The held-back users (first `MAX_STATUS_BLOCKED_USERS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<BlockedUser>,
}

/// One user whose deprovision is held back.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BlockedUser {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entra_id: Option<String>,
    /// Disable, Remove or Delete.
    pub action: String,
    /// Deleted, Disabled, RemovedFromGroup or OutOfScope.
    pub reason: String,
}

/// What the safety limits remember between syncs (so restarts and leader changes keep it).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SafetyRecord {
    /// Entra ids of the mirrored groups this connector created or adopted: the only Password
    /// Boss groups it ever changes or deletes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owned_groups: Vec<String>,
    /// Destructive changes applied without approval within `spec.safety.window`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spent: Vec<SpentChanges>,
    /// Managed users out of scope under a `Remove` or `Delete` rule, since when (the grace
    /// period runs from there).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leavers: Vec<Leaver>,
    /// Owned groups dropped from `spec.groups` (Entra id), since when: each is deleted in
    /// Password Boss once `spec.safety.removalGracePeriod` has run from there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leaving_groups: Vec<Leaver>,
    /// Approval tokens already used (most recent last); each approves once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals_used: Vec<String>,
}

/// Destructive changes applied by one sync.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SpentChanges {
    /// When.
    pub time: MicroTime,
    pub changes: u32,
}

/// A managed user out of scope, waiting for the removal grace period.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Leaver {
    pub entra_id: String,
    pub since: Time,
}

/// A Password Boss company, as `GET /v1/connector` names it.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CompanyRef {
    pub id: String,
    pub name: String,
}

/// What became of one Password Boss write.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WriteOutcome {
    /// Password Boss took it.
    Applied,
    /// Password Boss refused it, or it failed after the retries; the next sync tries again.
    Failed,
    /// Not attempted: an earlier refusal of the token, or a run of failures, stopped every
    /// further write.
    Skipped,
}

/// The connection state shown in the Status column.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Connection {
    #[default]
    WaitingForConnection,
    Connected,
    Unauthorized,
    Error,
}

impl Connection {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WaitingForConnection => "WaitingForConnection",
            Self::Connected => "Connected",
            Self::Unauthorized => "Unauthorized",
            Self::Error => "Error",
        }
    }
}

impl std::fmt::Display for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UserCounts {
    /// Entra users in the sync group.
    pub in_scope: u32,
    /// Managed Password Boss users by status.
    pub active: u32,
    pub pending: u32,
    pub disabled: u32,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SyncCounts {
    pub created: u32,
    pub updated: u32,
    pub enabled: u32,
    pub disabled: u32,
    pub removed: u32,
    pub deleted: u32,
    pub adopted: u32,
    pub conflicts: u32,
    pub groups_created: u32,
    pub groups_updated: u32,
    pub groups_deleted: u32,
    pub blocked_deprovisions: u32,
    pub graph_requests: u32,
    pub password_boss_requests: u32,
    pub duration_ms: u64,
    /// The last sync's Password Boss writes with their outcomes: deprovisions first, then group
    /// deletes, failed writes, and the rest; at most 100, the rest counted in `actionsOmitted`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionEntry>,
    /// Writes of the last sync not listed in `actions` (`pbconnector sync -o json` lists all).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub actions_omitted: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One Password Boss write of the last sync: who was changed, how, and whether it took effect.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ActionEntry {
    /// CreateUser, AdoptUser, EnableUser, UpdateUser, DisableUser, RemoveUser, DeleteUser,
    /// CreateGroup, UpdateGroup or DeleteGroup.
    pub action: String,
    /// The user's email or the group's name.
    pub target: String,
    /// The Entra object id of the user or group, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entra_id: Option<String>,
    /// The Password Boss id of the user or group (for a create: the new one's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_boss_id: Option<String>,
    pub outcome: WriteOutcome,
    /// Why: the leave reason of a deprovision (RemovedFromGroup, Deleted, Disabled,
    /// OutOfScope), the conflict reason of a refused write, the error code of a failed one,
    /// NotAttempted for a skipped one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One user the sync could not provision.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConflictEntry {
    /// Entra object id, when the conflict is about an Entra user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The email involved, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Machine-readable reason, e.g. DuplicateEmail.
    pub reason: String,
    /// What happened and what to do.
    pub message: String,
}

/// One planned action, as written into status in dry-run mode.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PlanEntry {
    /// e.g. CreateUser, DisableUser, SetGroupMembers.
    pub action: String,
    /// The user's email or the group's name.
    pub target: String,
    /// Why, or what changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The answer to a `passwordboss.com/plan-requested-at` annotation.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PlanRequestStatus {
    /// The annotation's value this plan answers.
    pub requested_at: String,
    /// When the plan was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Time>,
    /// Whether a plan was made (it is in `status.plan`); when not, `message` says why.
    pub succeeded: bool,
    /// What the plan comes to (counts, what is held back and its approval), or why none was
    /// made.
    pub message: String,
    /// The actions the plan holds (`status.plan` lists the first of them).
    #[serde(default)]
    pub actions: u32,
}

/// `status.quarantine`: why the connector is quarantined, since when, and when it tries again.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct QuarantineStatus {
    /// When the first of these consecutive failures happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Time>,
    /// When the next attempt is made, unless the connector, its Secrets or a sync or verify
    /// request makes one sooner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_time: Option<Time>,
    /// The failure reason (as in the `Ready` condition's message and the README's table).
    #[serde(default)]
    pub reason: String,
    /// Consecutive failures for this reason.
    #[serde(default)]
    pub failures: u32,
}

/// The connection checks run for a `passwordboss.com/verify-requested-at` annotation.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VerifyStatus {
    /// The annotation's value these checks answer.
    pub requested_at: String,
    /// When the checks ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Time>,
    /// When the next verify may run: one per connector per minute; a request made earlier is
    /// answered then (requests made meanwhile are answered by that one verify, the latest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_allowed_time: Option<Time>,
    /// One entry per check, in the order `pbconnector verify` prints them.
    #[serde(default)]
    pub checks: Vec<VerifyCheck>,
}

/// One check: what was checked, whether it passed, and what was found or what to fix.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VerifyCheck {
    pub name: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Statuses written before spending was timed to the microsecond hold whole seconds: they
    /// still read (an upgrade must not make a connector's status unreadable).
    #[test]
    fn a_status_written_with_whole_second_spending_times_still_reads() {
        let old: SafetyRecord = serde_json::from_value(serde_json::json!({
            "spent": [{"time": "2026-12-07T10:51:02Z", "changes": 3}]
        }))
        .expect("a whole-second time reads as a MicroTime");
        assert_eq!(old.spent[0].time.0, "2026-12-07T10:51:02Z".parse().unwrap());
        assert_eq!(
            serde_json::to_value(&old).unwrap()["spent"][0]["time"],
            "2026-12-07T10:51:02.000000Z"
        );
    }
}
