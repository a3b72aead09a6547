//! The planner's inputs besides the domain's (`crate::domain`), and its outputs. Pure data; the
//! operator crate applies the `Plan` and keeps its `SafetyRecord`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::AccountStatus;
pub use crate::domain::DirectoryState;

/// Why a managed user left scope.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LeaveReason {
    /// Deleted in Entra.
    Deleted,
    /// `accountEnabled` is false in Entra.
    Disabled,
    /// No longer a member of the sync group.
    RemovedFromGroup,
    /// Still a member, but `spec.scope` leaves the user out (a guest, another email domain).
    /// Follows `userRemovedFromGroup`.
    OutOfScope,
}

/// How an account is deprovisioned.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Deprovision {
    /// The account is disabled: kept with its vault, enabled again if the user returns.
    Disable,
    /// The user leaves the company and keeps a personal account.
    Remove,
    /// The account and its vault are destroyed.
    Delete,
}

/// A group member: an existing account (by its id), or one this plan creates (by Entra id).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub enum MemberRef {
    User(String),
    Created(String),
}

/// Field changes to one existing user, applied as one write.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UserChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Set status to active (a user returning to scope).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enable: bool,
    /// Take ownership: set `managedBy: Azure AD` and `externalId`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt: bool,
}

/// One change to the directory. Every action is one object; the executor makes one write per
/// action (two for a group created with members).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    #[serde(rename_all = "camelCase")]
    CreateUser {
        external_id: String,
        email: String,
        first_name: String,
        last_name: String,
        status: AccountStatus,
    },
    #[serde(rename_all = "camelCase")]
    UpdateUser {
        user_id: String,
        external_id: String,
        email: String,
        changes: UserChanges,
    },
    #[serde(rename_all = "camelCase")]
    DeprovisionUser {
        user_id: String,
        external_id: Option<String>,
        email: String,
        how: Deprovision,
        reason: LeaveReason,
    },
    #[serde(rename_all = "camelCase")]
    CreateGroup {
        external_id: String,
        name: String,
        members: Vec<MemberRef>,
    },
    #[serde(rename_all = "camelCase")]
    UpdateGroup {
        group_id: String,
        external_id: String,
        /// The group's name in the directory before this action (for display).
        name: String,
        /// New name when the Entra group was renamed.
        rename: Option<String>,
        /// Replacement membership when it differs.
        members: Option<Vec<MemberRef>>,
    },
    #[serde(rename_all = "camelCase")]
    DeleteGroup { group_id: String, name: String },
}

impl Action {
    /// Whether this action disables, removes or deletes a user.
    pub fn is_deprovision(&self) -> bool {
        matches!(self, Action::DeprovisionUser { .. })
    }
}

/// Why one user (or group) could not be provisioned; the rest of the sync goes on.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConflictKind {
    /// Neither the chosen attribute nor the fallback holds a routable address.
    NoEmail,
    /// No usable first and last name.
    NoName,
    /// Two Entra users resolve to the same email; neither is provisioned.
    DuplicateEmail,
    /// The Entra email changed; Password Boss emails are immutable, the account is kept.
    EmailChanged,
    /// A Password Boss user with that email is managed by another source.
    OwnedByOther,
    /// A Password Boss user with that email exists and `existingUser: Skip`.
    ExistingUserSkipped,
    /// A Password Boss admin would be deprovisioned; admins are left to the portal.
    AdminNotDeprovisioned,
    /// No free licence to re-enable the account.
    NoLicense,
    /// A Password Boss group of another source already has the mirrored group's name.
    GroupNameTaken,
    /// A mirrored group (`spec.groups`) is missing, ambiguous or unreadable in Entra this sync.
    GroupUnavailable,
    /// Password Boss refused the write for this object (set by the executor).
    Rejected,
}

impl ConflictKind {
    /// The CamelCase name, as written into status, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoEmail => "NoEmail",
            Self::NoName => "NoName",
            Self::DuplicateEmail => "DuplicateEmail",
            Self::EmailChanged => "EmailChanged",
            Self::OwnedByOther => "OwnedByOther",
            Self::ExistingUserSkipped => "ExistingUserSkipped",
            Self::AdminNotDeprovisioned => "AdminNotDeprovisioned",
            Self::NoLicense => "NoLicense",
            Self::GroupNameTaken => "GroupNameTaken",
            Self::GroupUnavailable => "GroupUnavailable",
            Self::Rejected => "Rejected",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    pub kind: ConflictKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub message: String,
}

/// Counts of planned actions by kind, as reported in `status.lastSync`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ActionCounts {
    pub created: u32,
    pub updated: u32,
    pub enabled: u32,
    pub disabled: u32,
    pub removed: u32,
    pub deleted: u32,
    pub adopted: u32,
    pub groups_created: u32,
    pub groups_updated: u32,
    pub groups_deleted: u32,
}

/// What the safety gate needs besides the plan: the time, what earlier syncs left in the record,
/// and the approval given for this sync (annotation or `--approve-deprovisions`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SafetyInput {
    pub now: Timestamp,
    pub record: SafetyRecord,
    pub approval: Option<String>,
    /// The operator's fleet-wide freeze (`pbconnector run --freeze-destructive`): every
    /// destructive change is held, whatever the limits, and no approval releases it.
    pub frozen: bool,
}

impl SafetyInput {
    /// Now, with an empty record and no approval.
    pub fn now() -> Self {
        Self {
            now: Timestamp::now(),
            ..Self::default()
        }
    }

    /// With this approval token.
    pub fn approving(mut self, token: impl Into<String>) -> Self {
        self.approval = Some(token.into());
        self
    }

    /// Under the operator's fleet-wide freeze.
    pub fn freezing(mut self) -> Self {
        self.frozen = true;
        self
    }
}

/// What the safety gate remembers between syncs: the operator keeps it (in `status.safety`) and
/// gives it back with the next sync's `SafetyInput`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SafetyRecord {
    /// Entra ids of the mirrored groups this connector created or adopted: the only groups it
    /// ever changes or deletes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owned_groups: Vec<String>,
    /// Destructive changes applied without approval within the safety window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spent: Vec<SpentChanges>,
    /// Managed users out of scope under a `Remove` or `Delete` rule, since when (the grace
    /// period runs from there).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leavers: Vec<Leaver>,
    /// Owned groups dropped from `spec.groups` (Entra id), since when: each is deleted once
    /// the grace period has run from there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leaving_groups: Vec<Leaver>,
    /// Approval tokens already used (most recent last); each approves once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals_used: Vec<String>,
}

/// Destructive changes applied by one sync.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SpentChanges {
    pub time: Timestamp,
    pub changes: u32,
}

/// A managed user out of scope, waiting for the removal grace period.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Leaver {
    pub entra_id: String,
    pub since: Timestamp,
}

/// User counts: Entra users in scope and managed accounts by status.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UserCounts {
    /// Entra users in the sync group (after the scope filter).
    pub in_scope: u32,
    /// Managed accounts by status.
    pub active: u32,
    pub pending: u32,
    pub disabled: u32,
}

/// What became of the approval given for a sync.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Approval {
    /// None was given.
    #[default]
    None,
    /// It named exactly the held set, which this plan applies.
    Applied(String),
    /// It was used before; an approval applies once.
    AlreadyUsed(String),
    /// It names another set (`expected` is the held set's, if anything is held).
    #[serde(rename_all = "camelCase")]
    NotMatching {
        given: String,
        expected: Option<String>,
    },
    /// The operator's fleet-wide freeze is on: no approval applies until it is lifted.
    Frozen(String),
}

/// Destructive changes held back by the safety limits.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Held {
    /// Approves exactly this set, once; empty when the fleet-wide freeze holds it (no approval
    /// releases that).
    pub token: String,
    /// Held by the operator's fleet-wide freeze rather than by the limits.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub frozen: bool,
    /// Which limit the set exceeds.
    pub limit: String,
    /// The held `DeprovisionUser` actions, by email.
    pub users: Vec<Action>,
    /// Mirrored groups not deleted and members not removed.
    pub group_changes: u32,
}

/// The planner's answer.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// In execution order: user creates/updates, then groups, then group deletes, then deprovisions.
    pub actions: Vec<Action>,
    pub conflicts: Vec<Conflict>,
    /// Deprovisions held back by the safety limits (none of them is in `actions`).
    pub blocked_deprovisions: u32,
    /// Deprovisions not planned because the Entra snapshot is incomplete.
    pub skipped_deprovisions: u32,
    /// What the safety limits hold back, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<Held>,
    /// What became of the approval given.
    #[serde(default)]
    pub approval: Approval,
    /// Made under the operator's fleet-wide freeze: nothing destructive is in `actions`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub frozen: bool,
    /// `Remove`/`Delete` deprovisions waiting for the grace period (disabled meanwhile).
    #[serde(default)]
    pub waiting_for_grace: u32,
    /// Owned groups dropped from `spec.groups` whose delete waits for the grace period (kept
    /// as they are meanwhile).
    #[serde(default)]
    pub groups_waiting_for_grace: u32,
    /// What the safety limits remember once this plan is applied.
    #[serde(default)]
    pub record: SafetyRecord,
    /// Counts of `actions` by kind.
    pub counts: ActionCounts,
    /// User counts as they will be once the plan is applied.
    pub users: UserCounts,
}
