//! Why a sync failed: one closed set of reasons. Each reason's name is, unchanged, the `Ready`
//! condition's reason, the Event reason, the `reason` label of
//! `pbconnector_sync_failures_total`, and a row of the README's "Failure reasons" table.

use crate::azure::{GraphError, GraphErrorKind};
use crate::bounded::PagingError;
use crate::http_client::kind::ErrorKind;
use crate::resources::Connection;
use crate::sync::target::{TargetError, TargetKind};

/// Every reason a sync can fail for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureReason {
    /// Entra ID or Microsoft Graph refused the app's credentials or permissions.
    AzureUnauthorized,
    /// The tenant's token endpoint does not know the app (AADSTS700016): the tenant's
    /// administrator has not consented to it (or removed it); the message carries the
    /// admin-consent URL.
    ConsentMissing,
    /// The connector's `applicationRef` names a shared app that does not bind its tenant to its
    /// namespace (or does not exist); nothing was sent.
    TenantNotBound,
    /// Password Boss refused the token.
    PasswordBossUnauthorized,
    /// An older connector reaches the same Password Boss company; this one writes nothing.
    CompanyConflict,
    /// The spec cannot be used (no identity named, the resource unreadable).
    InvalidSpec,
    /// An endpoint the spec names is not one the operator's administrator allows.
    EndpointNotAllowed,
    /// The spec asks for the operator's own workload identity, which is not allowed here.
    OperatorIdentityNotAllowed,
    /// A referenced Secret could not be read.
    SecretUnreadable,
    /// A referenced Secret lacks the key, or its value is unusable.
    SecretError,
    /// The spec's endpoints or credentials do not make a working client.
    InvalidConfiguration,
    /// The sync group does not exist in Entra.
    GroupNotFound,
    /// Graph or the token endpoint is throttling or down.
    GraphUnavailable,
    /// Graph answered something the contract does not allow.
    GraphProtocolError,
    /// Password Boss is throttling or down.
    PasswordBossUnavailable,
    /// Password Boss answered an error the connector does not expect.
    PasswordBossError,
    /// A response body was larger than the connector reads.
    ResponseTooLarge,
    /// The answers all syncs were reading held the process-wide memory budget for responses
    /// past the bounded wait.
    MemoryBudgetExhausted,
    /// A listing's links or cursors went round in a cycle.
    PagingCycle,
    /// A listing had more pages than the connector follows.
    TooManyPages,
    /// The sync did not finish within its deadline.
    SyncDeadlineExceeded,
    /// This replica lost the leader lease during the sync.
    LeadershipLost,
    /// What the sync would spend of the safety budget could not be stored in `status.safety`
    /// before its first destructive write; nothing destructive was written.
    SafetyRecordNotWritten,
    /// The SCIM service refused the token.
    ScimUnauthorized,
    /// The SCIM service is throttling or down.
    ScimUnavailable,
    /// The SCIM service answered an error the connector does not expect, or lacks a feature it
    /// needs.
    ScimError,
}

impl FailureReason {
    /// Every reason, in the README table's order.
    pub const ALL: [FailureReason; 26] = [
        Self::AzureUnauthorized,
        Self::ConsentMissing,
        Self::TenantNotBound,
        Self::PasswordBossUnauthorized,
        Self::CompanyConflict,
        Self::InvalidSpec,
        Self::EndpointNotAllowed,
        Self::OperatorIdentityNotAllowed,
        Self::SecretUnreadable,
        Self::SecretError,
        Self::InvalidConfiguration,
        Self::GroupNotFound,
        Self::GraphUnavailable,
        Self::GraphProtocolError,
        Self::PasswordBossUnavailable,
        Self::PasswordBossError,
        Self::ResponseTooLarge,
        Self::MemoryBudgetExhausted,
        Self::PagingCycle,
        Self::TooManyPages,
        Self::SyncDeadlineExceeded,
        Self::LeadershipLost,
        Self::SafetyRecordNotWritten,
        Self::ScimUnauthorized,
        Self::ScimUnavailable,
        Self::ScimError,
    ];

    /// The reason named `name`, as `as_str` writes it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The name written into status, Events and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AzureUnauthorized => "AzureUnauthorized",
            Self::ConsentMissing => "ConsentMissing",
            Self::TenantNotBound => "TenantNotBound",
            Self::PasswordBossUnauthorized => "PasswordBossUnauthorized",
            Self::CompanyConflict => "CompanyConflict",
            Self::InvalidSpec => "InvalidSpec",
            Self::EndpointNotAllowed => "EndpointNotAllowed",
            Self::OperatorIdentityNotAllowed => "OperatorIdentityNotAllowed",
            Self::SecretUnreadable => "SecretUnreadable",
            Self::SecretError => "SecretError",
            Self::InvalidConfiguration => "InvalidConfiguration",
            Self::GroupNotFound => "GroupNotFound",
            Self::GraphUnavailable => "GraphUnavailable",
            Self::GraphProtocolError => "GraphProtocolError",
            Self::PasswordBossUnavailable => "PasswordBossUnavailable",
            Self::PasswordBossError => "PasswordBossError",
            Self::ResponseTooLarge => "ResponseTooLarge",
            Self::MemoryBudgetExhausted => "MemoryBudgetExhausted",
            Self::PagingCycle => "PagingCycle",
            Self::TooManyPages => "TooManyPages",
            Self::SyncDeadlineExceeded => "SyncDeadlineExceeded",
            Self::LeadershipLost => "LeadershipLost",
            Self::SafetyRecordNotWritten => "SafetyRecordNotWritten",
            Self::ScimUnauthorized => "ScimUnauthorized",
            Self::ScimUnavailable => "ScimUnavailable",
            Self::ScimError => "ScimError",
        }
    }

    /// The connection state a sync failing for this reason leaves.
    pub fn connection(self) -> Connection {
        match self {
            Self::AzureUnauthorized
            | Self::ConsentMissing
            | Self::PasswordBossUnauthorized
            | Self::ScimUnauthorized => Connection::Unauthorized,
            // Held before any write: both services accepted the credentials.
            Self::CompanyConflict => Connection::Connected,
            _ => Connection::Error,
        }
    }

    /// Which side refused the credentials, for the `…Authorized` conditions.
    pub fn unauthorized_side(self) -> Option<Side> {
        match self {
            Self::AzureUnauthorized | Self::ConsentMissing => Some(Side::Azure),
            Self::PasswordBossUnauthorized => Some(Side::PasswordBoss),
            Self::ScimUnauthorized => Some(Side::Scim),
            _ => None,
        }
    }
}

impl FailureReason {
    /// Whether a sync failing for this reason puts the connector into quarantine: the
    /// failures that waiting will not fix (a credential refused, consent missing or revoked, a
    /// permission missing, an unknown tenant), which would otherwise hit the token endpoint or
    /// the target every interval forever. Everything else — throttling, outages, timeouts,
    /// configuration the operator refuses before sending anything — keeps the normal backoff.
    /// Every reason is classified here, explicitly, so a new one must be.
    pub fn quarantines(self) -> bool {
        match self {
            Self::AzureUnauthorized
            | Self::ConsentMissing
            | Self::PasswordBossUnauthorized
            | Self::ScimUnauthorized => true,
            Self::TenantNotBound
            | Self::CompanyConflict
            | Self::InvalidSpec
            | Self::EndpointNotAllowed
            | Self::OperatorIdentityNotAllowed
            | Self::SecretUnreadable
            | Self::SecretError
            | Self::InvalidConfiguration
            | Self::GroupNotFound
            | Self::GraphUnavailable
            | Self::GraphProtocolError
            | Self::PasswordBossUnavailable
            | Self::PasswordBossError
            | Self::ResponseTooLarge
            | Self::MemoryBudgetExhausted
            | Self::PagingCycle
            | Self::TooManyPages
            | Self::SyncDeadlineExceeded
            | Self::LeadershipLost
            | Self::SafetyRecordNotWritten
            | Self::ScimUnavailable
            | Self::ScimError => false,
        }
    }

    /// Why a Graph (or token endpoint) error fails the sync.
    pub fn of_graph(e: &GraphError) -> Self {
        if e.consent_missing() {
            return Self::ConsentMissing;
        }
        match e.kind() {
            GraphErrorKind::Unauthorized => Self::AzureUnauthorized,
            GraphErrorKind::NotFound => Self::GroupNotFound,
            GraphErrorKind::Throttled | GraphErrorKind::Transient => Self::GraphUnavailable,
            GraphErrorKind::Protocol => Self::GraphProtocolError,
            GraphErrorKind::Config => Self::InvalidConfiguration,
            GraphErrorKind::TooLarge => Self::ResponseTooLarge,
            GraphErrorKind::MemoryBudget => Self::MemoryBudgetExhausted,
            GraphErrorKind::Paging => match e {
                GraphError::Paging(p) => Self::of_paging(p),
                _ => Self::PagingCycle,
            },
            GraphErrorKind::Deadline => Self::SyncDeadlineExceeded,
        }
    }

    /// Why an error of the target (Password Boss, a SCIM service) fails the sync.
    pub fn of_target(e: &TargetError) -> Self {
        let scim = e.target() == TargetKind::Scim;
        match e.kind() {
            ErrorKind::Unauthorized if scim => Self::ScimUnauthorized,
            ErrorKind::Unauthorized => Self::PasswordBossUnauthorized,
            ErrorKind::Config => Self::InvalidConfiguration,
            ErrorKind::Throttled | ErrorKind::Transient if scim => Self::ScimUnavailable,
            ErrorKind::Throttled | ErrorKind::Transient => Self::PasswordBossUnavailable,
            ErrorKind::TooLarge => Self::ResponseTooLarge,
            ErrorKind::MemoryBudget => Self::MemoryBudgetExhausted,
            ErrorKind::Paging => e.paging().map_or(Self::PagingCycle, Self::of_paging),
            _ if scim => Self::ScimError,
            _ => Self::PasswordBossError,
        }
    }

    fn of_paging(e: &PagingError) -> Self {
        match e {
            PagingError::TooManyPages { .. } => Self::TooManyPages,
            PagingError::Cycle { .. } => Self::PagingCycle,
        }
    }
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which side refused the credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Azure,
    PasswordBoss,
    Scim,
}

impl Side {
    /// The target side of a connector provisioning `target`.
    pub fn of_target(target: TargetKind) -> Self {
        match target {
            TargetKind::PasswordBoss => Self::PasswordBoss,
            TargetKind::Scim => Self::Scim,
        }
    }
}

/// Why a sync did not complete: the reason, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyncFailure {
    pub reason: FailureReason,
    pub message: String,
}

impl SyncFailure {
    pub fn new(reason: FailureReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }

    pub fn unauthorized_side(&self) -> Option<Side> {
        self.reason.unauthorized_side()
    }

    /// The sync ran out of time: it stopped where it was and changed nothing more.
    pub fn deadline(message: String) -> Self {
        Self::new(FailureReason::SyncDeadlineExceeded, message)
    }
}

#[cfg(test)]
mod tests {
    use super::FailureReason;
    use crate::azure::GraphError;
    use crate::resources::Connection;

    #[test]
    fn all_lists_every_reason_once_with_a_distinct_name() {
        let names: std::collections::BTreeSet<&str> =
            FailureReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), FailureReason::ALL.len());
        for r in FailureReason::ALL {
            // `as_str` is the variant's own name (what `Debug` prints).
            assert_eq!(r.as_str(), format!("{r:?}"));
        }
    }

    #[test]
    fn only_refused_credentials_quarantine_and_they_leave_the_connection_unauthorized() {
        let quarantining: Vec<FailureReason> = FailureReason::ALL
            .into_iter()
            .filter(|r| r.quarantines())
            .collect();
        assert_eq!(
            quarantining,
            [
                FailureReason::AzureUnauthorized,
                FailureReason::ConsentMissing,
                FailureReason::PasswordBossUnauthorized,
                FailureReason::ScimUnauthorized,
            ]
        );
        for reason in FailureReason::ALL {
            // Quarantine is for refused credentials; `connection` keeps saying so.
            assert_eq!(
                reason.quarantines(),
                reason.connection() == Connection::Unauthorized,
                "{reason}"
            );
        }
        for transient in [
            FailureReason::GraphUnavailable,
            FailureReason::PasswordBossUnavailable,
            FailureReason::ScimUnavailable,
            FailureReason::SyncDeadlineExceeded,
        ] {
            assert!(!transient.quarantines(), "{transient}");
        }
    }

    #[test]
    fn an_app_unknown_in_the_tenant_is_consent_missing_and_other_refusals_are_not() {
        let reason = |code| {
            FailureReason::of_graph(&GraphError::TokenRejected {
                code,
                fix: String::new(),
            })
        };
        assert_eq!(reason(700016), FailureReason::ConsentMissing);
        for code in [7000215, 7000222, 90002, 70021, 65001] {
            assert_eq!(reason(code), FailureReason::AzureUnauthorized, "{code}");
        }
    }
}
