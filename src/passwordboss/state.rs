//! Reading the whole Password Boss side of a sync into a `DirectoryState`.

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, TryStreamExt, stream};

use super::client::PasswordBossClient;
use super::error::PasswordBossError;
use super::model::ConnectorInfo;
use crate::domain::{DirectoryState, Owner};

impl PasswordBossClient {
    /// All users, all groups, the memberships of Azure AD–managed groups, and the licences.
    /// Requests: 1 + user pages + group pages + one per Azure AD–managed group.
    pub async fn read_state(&self) -> Result<DirectoryState, PasswordBossError> {
        Ok(self.read_company().await?.1)
    }

    /// `read_state`, with the company the token reaches (`GET /v1/connector`, read anyway for
    /// the licences).
    pub async fn read_company(&self) -> Result<(ConnectorInfo, DirectoryState), PasswordBossError> {
        let connector = self.connector().await?;
        let users = self.list_users().await?;
        let groups = self.list_groups().await?;
        // Collected first: a lazy iterator over `groups` held across the awaits below would make
        // this future not provably `Send`.
        let managed: Vec<String> = groups
            .iter()
            .filter(|g| g.owner == Owner::AzureAd)
            .map(|g| g.id.clone())
            .collect();
        let memberships: BTreeMap<String, BTreeSet<String>> = stream::iter(managed)
            .map(|id| async move {
                let members: BTreeSet<String> =
                    self.group_members(&id).await?.into_iter().collect();
                Ok::<_, PasswordBossError>((id, members))
            })
            .buffer_unordered(self.concurrency())
            .try_collect()
            .await?;
        let state = DirectoryState {
            users,
            groups,
            memberships,
            licenses: connector.licenses,
        };
        Ok((connector, state))
    }
}
