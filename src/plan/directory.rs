//! Lookups into the Password Boss side (`DirectoryState`): the two ways rule 4 matches an account.

use std::collections::HashMap;

use super::identity::EmailKey;
use super::types::DirectoryState;
use crate::domain::{Account, Owner};

/// Password Boss users indexed the two ways rule 4 matches them. A user is named by its position
/// in `state.users` (`Account`), so that per-account results can live in plain vectors.
pub(super) struct DirectoryIndex<'a> {
    users: &'a [Account],
    /// externalId → first position managed by Azure AD with it.
    by_external_id: HashMap<&'a str, usize>,
    /// Email (case-insensitively) → first position with it.
    by_email: HashMap<EmailKey<'a>, usize>,
}

impl<'a> DirectoryIndex<'a> {
    pub(super) fn new(state: &'a DirectoryState) -> Self {
        let mut by_external_id = HashMap::with_capacity(state.users.len());
        let mut by_email = HashMap::with_capacity(state.users.len());
        for (position, user) in state.users.iter().enumerate() {
            if let Some(id) = managed_external_id(user) {
                by_external_id.entry(id).or_insert(position);
            }
            by_email.entry(EmailKey(&user.email)).or_insert(position);
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

    /// The account linked to an Entra user by `externalId`: the first in `state.users` managed
    /// by Azure AD with it. (Password Boss does not forbid two accounts claiming one externalId;
    /// the other is then left alone.)
    pub(super) fn linked(&self, entra_id: &str) -> Option<Found<'a>> {
        self.by_external_id.get(entra_id).map(|&p| self.account(p))
    }

    /// The account holding an email, compared case-insensitively (Password Boss keeps emails
    /// unique; should two hold one, the first).
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
