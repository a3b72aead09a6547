//! The connector's conditions, built through types: which condition, its status and its reason
//! are enums, so a condition cannot be written with a misspelt type or a reason no table lists.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use super::failure::FailureReason;
use crate::bounded::remote_text;
use crate::resources::{
    AzureAdConnectorStatus, CONDITION_AZURE_AUTHORIZED, CONDITION_CREDENTIAL_EXPIRING,
    CONDITION_DEPROVISION_BLOCKED, CONDITION_PASSWORDBOSS_AUTHORIZED, CONDITION_READY,
    CONDITION_SCIM_AUTHORIZED,
};

/// Every condition type the operator writes, in the order `status.conditions` lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConditionType {
    Ready,
    AzureAuthorized,
    PasswordBossAuthorized,
    ScimAuthorized,
    DeprovisionBlocked,
    CredentialExpiring,
}

impl ConditionType {
    pub const ALL: [ConditionType; 6] = [
        Self::Ready,
        Self::AzureAuthorized,
        Self::PasswordBossAuthorized,
        Self::ScimAuthorized,
        Self::DeprovisionBlocked,
        Self::CredentialExpiring,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => CONDITION_READY,
            Self::AzureAuthorized => CONDITION_AZURE_AUTHORIZED,
            Self::PasswordBossAuthorized => CONDITION_PASSWORDBOSS_AUTHORIZED,
            Self::ScimAuthorized => CONDITION_SCIM_AUTHORIZED,
            Self::DeprovisionBlocked => CONDITION_DEPROVISION_BLOCKED,
            Self::CredentialExpiring => CONDITION_CREDENTIAL_EXPIRING,
        }
    }
}

/// A condition's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

/// Every condition reason besides the failure reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// `Ready=False`: the sync failed for this reason.
    Failed(FailureReason),
    // `Ready`
    WaitingForConnection,
    Synced,
    DryRun,
    Suspended,
    DeprovisionBlocked,
    /// The credentials were refused in a way waiting will not fix; attempts back off.
    Quarantined,
    // `AzureAuthorized`, `PasswordBossAuthorized`, `ScimAuthorized`
    Authorized,
    Unauthorized,
    // `DeprovisionBlocked` (and `Ready`: `Frozen`)
    SafetyLimitExceeded,
    WithinLimits,
    /// The operator's fleet-wide freeze holds every destructive change.
    Frozen,
    // `CredentialExpiring`
    Expired,
    ExpiresSoon,
    NotExpiringSoon,
    ExpiryUnreadable,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failed(reason) => reason.as_str(),
            Self::WaitingForConnection => "WaitingForConnection",
            Self::Synced => "Synced",
            Self::DryRun => "DryRun",
            Self::Suspended => "Suspended",
            Self::DeprovisionBlocked => "DeprovisionBlocked",
            Self::Quarantined => "Quarantined",
            Self::Authorized => "Authorized",
            Self::Unauthorized => "Unauthorized",
            Self::SafetyLimitExceeded => "SafetyLimitExceeded",
            Self::WithinLimits => "WithinLimits",
            Self::Frozen => "Frozen",
            Self::Expired => "Expired",
            Self::ExpiresSoon => "ExpiresSoon",
            Self::NotExpiringSoon => "NotExpiringSoon",
            Self::ExpiryUnreadable => "ExpiryUnreadable",
        }
    }
}

/// Sets a condition, keeping `lastTransitionTime` unless its status changes; the message is
/// cleaned as remote text.
pub fn set_condition(
    status: &mut AzureAdConnectorStatus,
    kind: ConditionType,
    value: Truth,
    reason: Reason,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    let (kind, value) = (kind.as_str(), value.as_str());
    let transition = status
        .conditions
        .iter()
        .find(|c| c.type_ == kind)
        .filter(|c| c.status == value)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    let condition = Condition {
        type_: kind.into(),
        status: value.into(),
        reason: reason.as_str().into(),
        message: remote_text(message),
        last_transition_time: transition,
        observed_generation: generation,
    };
    match status.conditions.iter_mut().find(|c| c.type_ == kind) {
        Some(existing) => *existing = condition,
        None => status.conditions.push(condition),
    }
    status.conditions.sort_by_key(|c| {
        ConditionType::ALL
            .iter()
            .position(|k| k.as_str() == c.type_)
            .unwrap_or(usize::MAX)
    });
}
