//! Lookups into the Password Boss side (`DirectoryState`): the two ways rule 4 matches an account.

use std::collections::HashMap;

use super::identity::EmailKey;
use super::types::DirectoryState;
use crate::domain::{Account, Owner};

/// Password Boss users indexed the two ways rule 4 matches them. A user is named by its position
/// in `state.users` (`Account`), so that per-account results can live in plain vectors.
///
/// Should two accounts share a key, the one with the least Password Boss id wins: the plan then
/// does not depend on the order the accounts were listed in (a fresh read's, or the kept state's
/// with this connector's creates at the end).
pub(super) struct DirectoryIndex<'a> {
    users: &'a [Account],
    /// externalId → position of the account managed by Azure AD with it.
    by_external_id: HashMap<&'a str, usize>,
    /// Email (case-insensitively) → position of the account with it.
    by_email: HashMap<EmailKey<'a>, usize>,
}

impl<'a> DirectoryIndex<'a> {
    pub(super) fn new(state: &'a DirectoryState) -> Self {
        let users = &state.users;
        let mut by_external_id = HashMap::with_capacity(users.len());
        let mut by_email = HashMap::with_capacity(users.len());
        // The least id of the two keeps the key.
        let least = |kept: &mut usize, position: usize| {
            if users[position].id < users[*kept].id {
                *kept = position;
            }
        };
        for (position, user) in users.iter().enumerate() {
            if let Some(id) = managed_external_id(user) {
                by_external_id
                    .entry(id)
                    .and_modify(|kept| least(kept, position))
                    .or_insert(position);
            }
            by_email
                .entry(EmailKey(&user.email))
                .and_modify(|kept| least(kept, position))
                .or_insert(position);
        }
        Self {
            users: &state.users,
            by_external_id,
            by_email,
        }
    }

    /// How many Password Boss users there are.
    pub(super) fn len(&self) -> usize {
        self.users.len()
    }

    /// The account linked to an Entra user by `externalId`: the one managed by Azure AD with it
    /// (Password Boss does not forbid two accounts claiming one externalId; the one of the least
    /// id is linked, the other left alone).
    pub(super) fn linked(&self, entra_id: &str) -> Option<Found<'a>> {
        self.by_external_id.get(entra_id).map(|&p| self.account(p))
    }

    /// The account holding an email, compared case-insensitively (Password Boss keeps emails
    /// unique; should two hold one, the one of the least id).
    pub(super) fn by_email(&self, email: &str) -> Option<Found<'a>> {
        self.by_email
            .get(&EmailKey(email))
            .map(|&p| self.account(p))
    }

    pub(super) fn account(&self, position: usize) -> Found<'a> {
        Found {
            position,
            user: &self.users[position],
        }
    }
}

/// The externalId of an account managed by Azure AD: the accounts leave events and links concern.
pub(super) fn managed_external_id(user: &Account) -> Option<&str> {
    user.external_id
        .as_deref()
        .filter(|_| user.owner == Owner::AzureAd)
}

/// An account found in the index, and its position in `state.users`.
#[derive(Clone, Copy)]
pub(super) struct Found<'a> {
    pub position: usize,
    pub user: &'a Account,
}
