//! The target: the one system a connector keeps accounts in — Password Boss, or any SCIM 2.0
//! service. The read step reads its users and groups through `Target::read`; the apply step
//! writes a plan to it by matching on the variant (`apply::execute`); the planner does not
//! change. Both clients' errors meet in `TargetError`, classed by one `ErrorKind`.

use std::collections::BTreeMap;

use crate::domain::DirectoryState;
use crate::http_client::kind::ErrorKind;
use crate::passwordboss::model::ConnectorInfo;
use crate::passwordboss::{PasswordBossClient, PasswordBossError, RequestCounts};
use crate::scim::{ScimClient, ScimError};

/// The system a sync reads accounts from and writes the plan to.
#[derive(Clone, Debug)]
pub enum Target {
    PasswordBoss(PasswordBossClient),
    Scim(ScimClient),
}

impl From<&PasswordBossClient> for Target {
    fn from(client: &PasswordBossClient) -> Self {
        Self::PasswordBoss(client.clone())
    }
}

impl From<&ScimClient> for Target {
    fn from(client: &ScimClient) -> Self {
        Self::Scim(client.clone())
    }
}

impl From<&Target> for Target {
    fn from(target: &Target) -> Self {
        target.clone()
    }
}

/// Which kind of target, for condition types, failure reasons and metric labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetKind {
    PasswordBoss,
    Scim,
}

impl TargetKind {
    /// The target `spec` names (`passwordBoss` when it names none: the CRD refuses that).
    pub fn of(spec: &crate::resources::AzureAdConnectorSpec) -> Self {
        match spec.target() {
            Ok(crate::resources::TargetSpec::Scim(_)) => Self::Scim,
            _ => Self::PasswordBoss,
        }
    }

    /// The `target` label of the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordBoss => "passwordboss",
            Self::Scim => "scim",
        }
    }

    /// The service's name in messages.
    pub fn service(self) -> &'static str {
        match self {
            Self::PasswordBoss => "Password Boss",
            Self::Scim => "the SCIM service",
        }
    }
}

impl Target {
    pub fn kind(&self) -> TargetKind {
        match self {
            Self::PasswordBoss(_) => TargetKind::PasswordBoss,
            Self::Scim(_) => TargetKind::Scim,
        }
    }

    /// The company the token reaches and its users and groups, read in full.
    pub async fn read(&self) -> Result<(ConnectorInfo, DirectoryState), TargetError> {
        match self {
            Self::PasswordBoss(client) => Ok(client.read_company().await?),
            Self::Scim(client) => Ok(client.read_company().await?),
        }
    }

    /// Writes the apply step keeps in flight at once.
    pub fn concurrency(&self) -> usize {
        match self {
            Self::PasswordBoss(client) => client.concurrency(),
            Self::Scim(client) => client.concurrency(),
        }
    }

    /// Reads and writes sent so far.
    pub fn requests(&self) -> RequestCounts {
        match self {
            Self::PasswordBoss(client) => client.requests(),
            Self::Scim(client) => client.requests(),
        }
    }

    /// Answers so far by HTTP status (0: no response).
    pub fn requests_by_status(&self) -> BTreeMap<u16, u64> {
        match self {
            Self::PasswordBoss(client) => client.requests_by_status(),
            Self::Scim(client) => client.requests_by_status(),
        }
    }
}

/// An error of either target's client.
#[derive(thiserror::Error, Clone, Debug, PartialEq, Eq)]
pub enum TargetError {
    #[error(transparent)]
    PasswordBoss(#[from] PasswordBossError),
    #[error(transparent)]
    Scim(#[from] ScimError),
}

impl TargetError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::PasswordBoss(e) => e.kind(),
            Self::Scim(e) => e.kind(),
        }
    }

    /// Which target answered.
    pub fn target(&self) -> TargetKind {
        match self {
            Self::PasswordBoss(_) => TargetKind::PasswordBoss,
            Self::Scim(_) => TargetKind::Scim,
        }
    }

    /// The service's machine code: Password Boss's `code`, SCIM's `scimType`.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::PasswordBoss(e) => e.code(),
            Self::Scim(e) => e.code(),
        }
    }

    /// A listing stopped by the paging bounds, if that is what this is.
    pub fn paging(&self) -> Option<&crate::bounded::PagingError> {
        match self {
            Self::PasswordBoss(PasswordBossError::Paging(p)) | Self::Scim(ScimError::Paging(p)) => {
                Some(p)
            }
            _ => None,
        }
    }
}
