//! Lookups into the Password Boss side (`DirectoryState`), answered from the digest's hash maps
//! (made while the state was read) and checked against the strings, so they are exact.

use super::digest::{DirectoryDigest, key_hash};
use super::identity::EmailKey;
use super::types::DirectoryState;
use crate::passwordboss::model::User;

/// Password Boss users indexed the two ways rule 4 matches them. A user is named by its position
/// in `state.users` (`Account`), so that per-account results can live in plain vectors.
pub(super) struct DirectoryIndex<'a> {
    users: &'a [User],
    digest: &'a DirectoryDigest,
}

impl<'a> DirectoryIndex<'a> {
    pub(super) fn new(state: &'a DirectoryState, digest: &'a DirectoryDigest) -> Self {
        Self {
            users: &state.users,
            digest,
        }
    }

    /// How many Password Boss users there are.
    pub(super) fn len(&self) -> usize {
        self.users.len()
    }

    /// The account linked to an Entra user by `externalId`: the first in `state.users` managed
    /// by Azure AD with it. (Password Boss does not forbid two accounts claiming one externalId;
    /// the other is then left alone.)
    pub(super) fn linked(&self, entra_id: &str) -> Option<Account<'a>> {
        let claims =
            |u: &User| u.is_managed_by_azure_ad() && u.external_id.as_deref() == Some(entra_id);
        let hit = self.digest.by_external_id.get(&key_hash(entra_id))?;
        self.exact(*hit, claims)
    }

    /// The account holding an email, compared case-insensitively (Password Boss keeps emails
    /// unique; should two hold one, the first).
    pub(super) fn by_email(&self, email: &str) -> Option<Account<'a>> {
        let holds = |u: &User| EmailKey(&u.email) == EmailKey(email);
        let hit = self
            .digest
            .by_email
            .get(&super::digest::email_key_hash(email))?;
        self.exact(*hit, holds)
    }

    /// The account at `hit` when it matches; else (two keys with one hash) the first that does.
    fn exact(&self, hit: u32, matches: impl Fn(&User) -> bool) -> Option<Account<'a>> {
        let hit = hit as usize;
        if matches(&self.users[hit]) {
            return Some(self.account(hit));
        }
        self.users.iter().position(matches).map(|p| self.account(p))
    }

    pub(super) fn account(&self, position: usize) -> Account<'a> {
        Account {
            position,
            user: &self.users[position],
        }
    }
}

/// A Password Boss user and its position in `state.users`.
#[derive(Clone, Copy)]
pub(super) struct Account<'a> {
    pub position: usize,
    pub user: &'a User,
}

#[cfg(test)]
mod tests {
    use super::super::digest::{email_key_hash, key_hash};
    use super::*;
    use crate::passwordboss::model::{MANAGED_BY_AZURE_AD, Role, UserStatus};

    fn account(id: &str, email: &str, external_id: &str) -> User {
        User {
            id: id.into(),
            email: email.into(),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            status: UserStatus::Active,
            managed_by: MANAGED_BY_AZURE_AD.into(),
            external_id: Some(external_id.into()),
            role: Role::User,
        }
    }

    /// Two keys with one hash: the digest's map points at the account holding the other key, and
    /// the lookup still answers with the account holding this one.
    #[test]
    fn a_hash_shared_by_two_keys_still_finds_the_right_account() {
        let state = DirectoryState {
            users: vec![
                account("u1", "ada@contoso.com", "e1"),
                account("u2", "grace@contoso.com", "e2"),
            ],
            ..DirectoryState::default()
        };
        let mut digest = DirectoryDigest::of(&state);
        digest.by_external_id.insert(key_hash("e2"), 0);
        digest
            .by_email
            .insert(email_key_hash("grace@contoso.com"), 0);
        let index = DirectoryIndex::new(&state, &digest);
        assert_eq!(index.linked("e2").map(|a| a.position), Some(1));
        assert_eq!(
            index.by_email("Grace@Contoso.com").map(|a| a.position),
            Some(1)
        );
        assert_eq!(index.linked("e1").map(|a| a.position), Some(0));
        assert!(index.linked("e3").is_none());
        assert!(index.by_email("alan@contoso.com").is_none());
    }
}
