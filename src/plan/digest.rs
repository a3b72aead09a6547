//! Compact summaries of the planner's inputs, made while the inputs are read, so that planning
//! touches only fixed-size records for users already in step and goes back to the strings only
//! for the few that are not.
//!
//! A sync's inputs are about a dozen separately allocated strings per user on each side. Reading
//! them all costs the planner a cache miss each, which is most of its time once a directory is
//! large. The digests are made where the strings are made, off the critical path: the Password
//! Boss reader digests the users while it reads the groups, and the pipeline digests the Entra
//! snapshot while the Password Boss read is still going.
//!
//! What a digest decides on its own is only ever "nothing to do": a linked account whose link,
//! email (case-insensitively) and names hash equal to its Entra user's, a group whose member set
//! hashes equal. Any other outcome, and every lookup that decides one, is computed from the
//! strings exactly. Equal 64-bit hashes of different values would leave one change unmade until
//! either side changes again (a 2⁻⁶⁴ chance per compared pair); they can never cause a
//! deprovision, create or adoption. Taking a user for in step with an account linked to someone
//! else (which would put that account in the user's groups) would take two independent 64-bit
//! collisions, of the ids and of the identities.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hash, Hasher};

use foldhash::quality::FixedState;
use foldhash::{HashMap, HashMapExt};

use super::identity::{EmailKey, is_enabled, resolve_email, resolve_names};
use super::types::DirectoryState;
use crate::azure::model::EntraSnapshot;
use crate::passwordboss::model::{User, UserStatus};
use crate::resources::EmailAttribute;

/// Starts `digest` of `input` on a blocking thread now; the future gives back the input, its
/// digest and how long digesting took. The readers digest this way while other reads go on.
pub fn digest_apart<T, D>(
    input: T,
    digest: impl FnOnce(&T) -> D + Send + 'static,
) -> impl std::future::Future<Output = (T, D, std::time::Duration)>
where
    T: Send + 'static,
    D: Send + 'static,
{
    let task = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let digest = digest(&input);
        (input, digest, started.elapsed())
    });
    async move {
        match task.await {
            Ok(done) => done,
            Err(e) => digest_failed(e),
        }
    }
}

/// A digesting task that did not finish: its panic goes on, as if digesting had run in place.
/// (The only other way, cancellation, happens when the runtime shuts down with the task not
/// yet started; the sync is being dropped then, and this says why.)
fn digest_failed(e: tokio::task::JoinError) -> ! {
    match e.try_into_panic() {
        Ok(panic) => std::panic::resume_unwind(panic),
        Err(_) => panic!("digesting for the planner was cancelled: the runtime is shutting down"),
    }
}

/// Seed of every digest hash: both sides must hash alike.
const SEED: u64 = 0xd16e_57ed_0f1d_e27a;

fn hash_of(value: impl Hash) -> u64 {
    // 0 stands for "none" in the records below; a real 0 becomes 1.
    FixedState::with_seed(SEED).hash_one(value).max(1)
}

/// The hash of a string key (an id or an external id).
pub(super) fn key_hash(key: &str) -> u64 {
    hash_of(key)
}

/// The hash of an email, compared case-insensitively.
pub(super) fn email_key_hash(email: &str) -> u64 {
    hash_of(EmailKey(email))
}

/// What "in step" compares: the link (the Entra id, the account's externalId), the email compared
/// case-insensitively, the names exactly. With the link in it, an account and a user hash alike
/// only if they are linked (but for a 64-bit collision), so a user is never taken for in step
/// with an account that another user's id merely hashes like (that would take two collisions).
fn identity_hash(link: &str, email: &str, first: &str, last: &str) -> u64 {
    let mut h = FixedState::with_seed(SEED).build_hasher();
    link.hash(&mut h);
    EmailKey(email).hash(&mut h);
    first.hash(&mut h);
    last.hash(&mut h);
    h.finish().max(1)
}

/// The first 16 bytes of an id, zero-padded, as a number: where two ids' prefixes differ, they
/// order like the ids (a shorter id that is a prefix of the other pads with zeros, the least
/// byte); equal prefixes say nothing.
pub(super) fn id_prefix(id: &str) -> u128 {
    let mut bytes = [0u8; 16];
    let n = id.len().min(16);
    bytes[..n].copy_from_slice(&id.as_bytes()[..n]);
    u128::from_be_bytes(bytes)
}

/// A multiset hash of a group's member ids: the sum of their hashes, and how many there are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemberSetHash {
    pub count: u32,
    pub sum: u64,
}

impl MemberSetHash {
    /// The hash of a set of Password Boss user ids.
    pub fn of<'a>(ids: impl IntoIterator<Item = &'a String>) -> Self {
        let mut set = Self::default();
        for id in ids {
            set.add(key_hash(id));
        }
        set
    }

    pub(super) fn add(&mut self, id_hash: u64) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(id_hash);
    }
}

/// Who manages a Password Boss user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Owner {
    AzureAd,
    Other,
}

/// One Password Boss user, in 48 bytes. (No `Debug`: the hashes of emails and names are
/// personal data that a fixed seed would let anyone test guesses against.)
#[derive(Clone, Copy)]
pub(super) struct AccountDigest {
    pub id: u64,
    /// The id's first 16 bytes (`id_prefix`): members sort by it.
    pub id_prefix: u128,
    /// The externalId's hash when the user is managed by Azure AD and has one, else 0.
    pub external_id: u64,
    pub identity: u64,
    pub status: UserStatus,
    pub owner: Owner,
}

/// The Password Boss side, digested. Positions are positions in `DirectoryState::users`.
#[derive(Clone, Default)]
pub struct DirectoryDigest {
    pub(super) accounts: Vec<AccountDigest>,
    /// externalId hash → first position managed by Azure AD with it.
    pub(super) by_external_id: HashMap<u64, u32>,
    /// Email hash (case-insensitive) → first position with it.
    pub(super) by_email: HashMap<u64, u32>,
    /// Member set hashes by Password Boss group id.
    pub(super) memberships: HashMap<String, MemberSetHash>,
}

impl DirectoryDigest {
    /// Digests the users (the memberships come with `with_memberships`).
    pub fn of_users(users: &[User]) -> Self {
        let mut digest = Self {
            accounts: Vec::with_capacity(users.len()),
            by_external_id: HashMap::with_capacity(users.len()),
            by_email: HashMap::with_capacity(users.len()),
            memberships: HashMap::new(),
        };
        for (position, user) in (0u32..).zip(users) {
            let owner = if user.is_managed_by_azure_ad() {
                Owner::AzureAd
            } else {
                Owner::Other
            };
            let external_id = match (owner, user.external_id.as_deref()) {
                (Owner::AzureAd, Some(id)) => key_hash(id),
                _ => 0,
            };
            if external_id != 0 {
                digest.by_external_id.entry(external_id).or_insert(position);
            }
            let email = email_key_hash(&user.email);
            digest.by_email.entry(email).or_insert(position);
            digest.accounts.push(AccountDigest {
                id: key_hash(&user.id),
                id_prefix: id_prefix(&user.id),
                external_id,
                identity: identity_hash(
                    user.external_id.as_deref().unwrap_or_default(),
                    &user.email,
                    &user.first_name,
                    &user.last_name,
                ),
                status: user.status,
                owner,
            });
        }
        digest
    }

    /// Adds the member set hashes of the groups whose memberships were read.
    pub fn with_memberships(mut self, memberships: HashMap<String, MemberSetHash>) -> Self {
        self.memberships = memberships;
        self
    }

    /// The whole digest of a state (what the reader builds in pieces).
    pub fn of(state: &DirectoryState) -> Self {
        let memberships = state
            .memberships
            .iter()
            .map(|(id, members)| (id.clone(), MemberSetHash::of(members)))
            .collect();
        Self::of_users(&state.users).with_memberships(memberships)
    }

    /// Whether this digest was made of `state` as far as sizes tell.
    pub(super) fn fits(&self, state: &DirectoryState) -> bool {
        self.accounts.len() == state.users.len()
    }
}

/// `UserDigest::flags`: enabled in Entra.
pub(super) const ENABLED: u8 = 1;
/// `UserDigest::flags`: another in-scope user resolves to the same email.
pub(super) const DUPLICATE: u8 = 2;

/// One in-scope Entra user, as the planner resolves it (rules 1 and 2).
#[derive(Clone, Copy)]
pub(super) struct UserDigest {
    pub id: u64,
    /// `identity_hash` of its id, resolved email and names; 0 when the email or names are missing.
    pub identity: u64,
    pub flags: u8,
}

impl UserDigest {
    pub(super) fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// The Entra side, digested for one email attribute. Indexes are positions in the order of
/// `EntraSnapshot::users`.
#[derive(Clone)]
pub struct EntraDigest {
    pub(super) email_attribute: EmailAttribute,
    pub(super) users: Vec<UserDigest>,
    /// Id hash → position (exact: made from the ids themselves).
    pub(super) by_id: HashMap<u64, u32>,
    /// For each of `snapshot.groups`: the positions of its members in scope.
    pub(super) groups: Vec<Vec<u32>>,
}

impl EntraDigest {
    pub fn new(snapshot: &EntraSnapshot, email_attribute: EmailAttribute) -> Self {
        let n = snapshot.users.len();
        let mut users = Vec::with_capacity(n);
        let mut by_id = HashMap::with_capacity(n);
        let mut email_counts: HashMap<EmailKey<'_>, u32> = HashMap::with_capacity(n);
        let mut emails = Vec::with_capacity(n);
        for (position, (id_str, user)) in (0u32..).zip(&snapshot.users) {
            let email = resolve_email(user, email_attribute);
            let names = resolve_names(user);
            if let Some(email) = email {
                *email_counts.entry(EmailKey(email)).or_default() += 1;
            }
            let id = key_hash(id_str);
            by_id.insert(id, position);
            let mut flags = 0;
            if is_enabled(user) {
                flags |= ENABLED;
            }
            users.push(UserDigest {
                id,
                identity: match (email, names) {
                    (Some(email), Some((first, last))) => identity_hash(id_str, email, first, last),
                    _ => 0,
                },
                flags,
            });
            emails.push(email);
        }
        for (digest, email) in users.iter_mut().zip(emails) {
            if email.is_some_and(|e| email_counts.get(&EmailKey(e)).is_some_and(|c| *c > 1)) {
                digest.flags |= DUPLICATE;
            }
        }
        let ids: Vec<&str> = snapshot.users.keys().map(String::as_str).collect();
        let groups = snapshot
            .groups
            .iter()
            .map(|g| members_in_scope(&g.members, &by_id, &ids))
            .collect();
        Self {
            email_attribute,
            users,
            by_id,
            groups,
        }
    }

    /// Whether this digest was made of `snapshot` for `attribute`, as far as sizes tell.
    pub(super) fn fits(&self, snapshot: &EntraSnapshot, attribute: EmailAttribute) -> bool {
        self.email_attribute == attribute
            && self.users.len() == snapshot.users.len()
            && self.groups.len() == snapshot.groups.len()
    }
}

fn position(by_id: &HashMap<u64, u32>, ids: &[&str], id: &str) -> Option<usize> {
    let p = *by_id.get(&key_hash(id))? as usize;
    if ids[p] == id {
        Some(p)
    } else {
        // Two ids with one hash: look the id up the slow way.
        ids.iter().position(|i| *i == id)
    }
}

fn members_in_scope(
    members: &BTreeSet<String>,
    by_id: &HashMap<u64, u32>,
    ids: &[&str],
) -> Vec<u32> {
    members
        .iter()
        .filter_map(|m| position(by_id, ids, m))
        .map(|p| p as u32)
        .collect()
}
