//! Lookups into the Password Boss side (`DirectoryState`), built once per plan so that matching
//! stays linear in the number of users.

use foldhash::{HashMap, HashMapExt};

use super::identity::EmailKey;
use super::types::DirectoryState;
use crate::passwordboss::model::User;

/// Password Boss users indexed the two ways rule 4 matches them.
pub(super) struct DirectoryIndex<'a> {
    /// `externalId` → user, among users `managedBy: Azure AD`. When two accounts claim the same
    /// externalId (Password Boss does not forbid it) the first in `state.users` wins and the
    /// other is left alone.
    by_external_id: HashMap<&'a str, &'a User>,
    /// Email (compared case-insensitively) → user, among all users (Password Boss keeps emails
    /// unique).
    by_email: HashMap<EmailKey<'a>, &'a User>,
}

impl<'a> DirectoryIndex<'a> {
    pub(super) fn new(state: &'a DirectoryState) -> Self {
        let mut by_external_id = HashMap::with_capacity(state.users.len());
        let mut by_email = HashMap::with_capacity(state.users.len());
        for user in &state.users {
            if user.is_managed_by_azure_ad()
                && let Some(external_id) = user.external_id.as_deref()
            {
                by_external_id.entry(external_id).or_insert(user);
            }
            by_email.entry(EmailKey(&user.email)).or_insert(user);
        }
        Self {
            by_external_id,
            by_email,
        }
    }

    /// The account linked to an Entra user by `externalId`.
    pub(super) fn linked(&self, entra_id: &str) -> Option<&'a User> {
        self.by_external_id.get(entra_id).copied()
    }

    /// The account holding an email, compared case-insensitively.
    pub(super) fn by_email(&self, email: EmailKey<'_>) -> Option<&'a User> {
        self.by_email.get(&email).copied()
    }
}
