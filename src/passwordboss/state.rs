//! Reading the whole Password Boss side of a sync into a `DirectoryState`.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hash, Hasher};

use foldhash::quality::FixedState;

use futures::{StreamExt, TryStreamExt, stream};

use super::client::PasswordBossClient;
use super::error::PasswordBossError;
use super::model::Group;
use crate::plan::DirectoryState;

/// Seed of the fingerprint hasher: fixed, so fingerprints compare across syncs in a process.
const FINGERPRINT_SEED: u64 = 0x5eed_f1a9_e2b0_c0de;

impl PasswordBossClient {
    /// All users, all groups, the memberships of Azure AD–managed groups, and the licences.
    /// Requests: 1 + user pages + group pages + one per Azure AD–managed group.
    pub async fn read_state(&self) -> Result<DirectoryState, PasswordBossError> {
        Ok(self.read_state_fingerprinted().await?.0)
    }

    /// `read_state`, with a fingerprint of everything read: equal fingerprints mean (but for a
    /// 2⁻⁶⁴ chance) equal states. Each page is hashed as it arrives, so the fingerprint costs
    /// no second pass over the state; a different page order gives a different fingerprint.
    pub async fn read_state_fingerprinted(
        &self,
    ) -> Result<(DirectoryState, u64), PasswordBossError> {
        let mut fingerprint = FixedState::with_seed(FINGERPRINT_SEED).build_hasher();
        let connector = self.connector().await?;
        connector.licenses.hash(&mut fingerprint);
        let users = self.list_all("users", Some(&mut fingerprint)).await?;
        let groups: Vec<Group> = self.list_all("groups", Some(&mut fingerprint)).await?;
        // Collected first: a lazy iterator over `groups` held across the awaits below would make
        // this future not provably `Send`.
        let managed: Vec<String> = groups
            .iter()
            .filter(|g| g.is_managed_by_azure_ad())
            .map(|g| g.id.clone())
            .collect();
        let read: Vec<(String, BTreeSet<String>, u64)> = stream::iter(managed)
            .map(|id| async move {
                let members: BTreeSet<String> =
                    self.group_members(&id).await?.into_iter().collect();
                let hash = FixedState::with_seed(FINGERPRINT_SEED).hash_one(&members);
                Ok::<_, PasswordBossError>((id, members, hash))
            })
            .buffer_unordered(self.concurrency())
            .try_collect()
            .await?;
        let mut memberships = BTreeMap::new();
        let mut hashes = BTreeMap::new();
        for (id, members, hash) in read {
            hashes.insert(id.clone(), hash);
            memberships.insert(id, members);
        }
        hashes.hash(&mut fingerprint);
        let state = DirectoryState {
            users,
            groups,
            memberships,
            licenses: connector.licenses,
        };
        Ok((state, fingerprint.finish()))
    }
}
