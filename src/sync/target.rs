//! The target: the one system a connector keeps accounts in. The read step reads its users and
//! groups through `Target::read`; the apply step writes a plan to it by matching on the variant
//! (Password Boss: `apply::execute`). Password Boss is the only one today; a second target (a
//! SCIM 2.0 service, say) is another variant here and an arm in the apply step, with its client
//! beside `passwordboss`; the planner does not change.

use std::collections::BTreeMap;

use crate::domain::DirectoryState;
use crate::passwordboss::model::ConnectorInfo;
use crate::passwordboss::{PasswordBossClient, PasswordBossError, RequestCounts};

/// The system a sync reads accounts from and writes the plan to.
#[derive(Clone)]
pub(crate) enum Target {
    PasswordBoss(PasswordBossClient),
}

impl Target {
    /// The company the token reaches and its users and groups, read in full.
    pub async fn read(&self) -> Result<(ConnectorInfo, DirectoryState), PasswordBossError> {
        match self {
            Self::PasswordBoss(client) => client.read_company().await,
        }
    }

    /// Reads and writes sent so far.
    pub fn requests(&self) -> RequestCounts {
        match self {
            Self::PasswordBoss(client) => client.requests(),
        }
    }

    /// Answers so far by HTTP status (0: no response).
    pub fn requests_by_status(&self) -> BTreeMap<u16, u64> {
        match self {
            Self::PasswordBoss(client) => client.requests_by_status(),
        }
    }
}
