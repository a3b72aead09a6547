//! Reading the whole Password Boss side of a sync into a `DirectoryState`.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hash, Hasher};

use foldhash::quality::FixedState;

use futures::{StreamExt, TryStreamExt, stream};

use super::client::PasswordBossClient;
use super::error::PasswordBossError;
use super::model::{ConnectorInfo, Group};
use crate::plan::{DirectoryDigest, DirectoryState, MemberSetHash, digest_apart};

/// Seed of the fingerprint hasher: fixed, so fingerprints compare across syncs in a process.
const FINGERPRINT_SEED: u64 = 0x5eed_f1a9_e2b0_c0de;

impl PasswordBossClient {
    /// All users, all groups, the memberships of Azure AD–managed groups, and the licences.
    /// Requests: 1 + user pages + group pages + one per Azure AD–managed group.
    pub async fn read_state(&self) -> Result<DirectoryState, PasswordBossError> {
        Ok(self.read_state_for_planning().await?.state)
    }

    /// `read_state`, with what planning needs besides:
    /// - a fingerprint of everything read: equal fingerprints mean (but for a 2⁻⁶⁴ chance)
    ///   equal states. Each page is hashed as it arrives, so the fingerprint costs no second
    ///   pass over the state; a different page order gives a different fingerprint;
    /// - the state's digest (`plan::DirectoryDigest`): the users are digested on a blocking
    ///   thread while the groups and their members are read, each member set as it arrives.
    pub async fn read_state_for_planning(&self) -> Result<DirectoryRead, PasswordBossError> {
        let mut fingerprint = FixedState::with_seed(FINGERPRINT_SEED).build_hasher();
        let connector = self.connector().await?;
        connector.licenses.hash(&mut fingerprint);
        let users = self.list_all("users", Some(&mut fingerprint)).await?;
        let digesting = digest_apart(users, |users| DirectoryDigest::of_users(users));
        let groups: Vec<Group> = self.list_all("groups", Some(&mut fingerprint)).await?;
        // Collected first: a lazy iterator over `groups` held across the awaits below would make
        // this future not provably `Send`.
        let managed: Vec<String> = groups
            .iter()
            .filter(|g| g.is_managed_by_azure_ad())
            .map(|g| g.id.clone())
            .collect();
        type Read = (String, BTreeSet<String>, u64, MemberSetHash);
        let read: Vec<Read> = stream::iter(managed)
            .map(|id| async move {
                let members: BTreeSet<String> =
                    self.group_members(&id).await?.into_iter().collect();
                let hash = FixedState::with_seed(FINGERPRINT_SEED).hash_one(&members);
                let set = MemberSetHash::of(&members);
                Ok::<_, PasswordBossError>((id, members, hash, set))
            })
            .buffer_unordered(self.concurrency())
            .try_collect()
            .await?;
        let mut memberships = BTreeMap::new();
        let mut hashes = BTreeMap::new();
        let mut sets = foldhash::HashMap::default();
        for (id, members, hash, set) in read {
            hashes.insert(id.clone(), hash);
            sets.insert(id.clone(), set);
            memberships.insert(id, members);
        }
        hashes.hash(&mut fingerprint);
        let waiting = std::time::Instant::now();
        let (users, digest, digesting) = digesting.await;
        let waited = waiting.elapsed();
        let state = DirectoryState {
            users,
            groups,
            memberships,
            licenses: connector.licenses,
        };
        Ok(DirectoryRead {
            connector,
            state,
            fingerprint: fingerprint.finish(),
            digest: digest.with_memberships(sets),
            digesting,
            waited,
        })
    }
}

/// The Password Boss side of a sync, as `read_state_for_planning` reads it.
pub struct DirectoryRead {
    /// `GET /v1/connector`: the company the token reaches, and its licences.
    pub connector: ConnectorInfo,
    pub state: DirectoryState,
    pub fingerprint: u64,
    pub digest: DirectoryDigest,
    /// How long digesting the users took (on a blocking thread, during the read).
    pub digesting: std::time::Duration,
    /// How much of it the read waited for, once the groups were read.
    pub waited: std::time::Duration,
}
