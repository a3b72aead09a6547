//! Lookups into the Password Boss side (`DirectoryState`), built once per plan so that matching
//! stays linear in the number of users.

use foldhash::{HashMap, HashMapExt};

use super::identity::EmailKey;
use super::types::DirectoryState;
use crate::passwordboss::model::User;

/// Password Boss users indexed the two ways rule 4 matches them. A user is named by its position
/// in `state.users` (`Account`), so that per-account results can live in plain vectors.
pub(super) struct DirectoryIndex<'a> {
    users: &'a [User],
    /// `externalId` → user, among users `managedBy: Azure AD`. When two accounts claim the same
    /// externalId (Password Boss does not forbid it) the first in `state.users` wins and the
    /// other is left alone.
    by_external_id: HashMap<&'a str, u32>,
    /// Email (compared case-insensitively) → user, among all users (Password Boss keeps emails
    /// unique).
    by_email: HashMap<EmailKey<'a>, u32>,
}

impl<'a> DirectoryIndex<'a> {
    pub(super) fn new(state: &'a DirectoryState) -> Self {
        let mut by_external_id = HashMap::with_capacity(state.users.len());
        let mut by_email = HashMap::with_capacity(state.users.len());
        for (position, user) in (0u32..).zip(&state.users) {
            if user.is_managed_by_azure_ad()
                && let Some(external_id) = user.external_id.as_deref()
            {
                by_external_id.entry(external_id).or_insert(position);
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

    /// The account linked to an Entra user by `externalId`.
    pub(super) fn linked(&self, entra_id: &str) -> Option<Account<'a>> {
        self.by_external_id.get(entra_id).map(|&p| self.account(p))
    }

    /// The account holding an email, compared case-insensitively.
    pub(super) fn by_email(&self, email: EmailKey<'_>) -> Option<Account<'a>> {
        self.by_email.get(&email).map(|&p| self.account(p))
    }

    fn account(&self, position: u32) -> Account<'a> {
        Account {
            position: position as usize,
            user: &self.users[position as usize],
        }
    }
}

/// A Password Boss user and its position in `state.users`.
#[derive(Clone, Copy)]
pub(super) struct Account<'a> {
    pub position: usize,
    pub user: &'a User,
}
