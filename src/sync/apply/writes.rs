//! One action → the API calls it needs (one write; two for a group created with members).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use super::idempotency::idempotency_key;
use super::lookup::Lookup;
use crate::domain::{AccountStatus, Owner};
use crate::passwordboss::model::{NewGroup, NewUser, UserPatch, UserStatus};
use crate::passwordboss::{PasswordBossClient, PasswordBossError};
use crate::plan::{Action, Deprovision, MemberRef, UserChanges};
use crate::sync::state::Applied;

/// What one execution shares between its actions.
pub(crate) struct Applier<'a> {
    pub client: &'a PasswordBossClient,
    pub sync_id: &'a str,
    /// Entra object id → id of the user created (or found created) in this run.
    pub created: Mutex<HashMap<String, String>>,
    pub lookup: Lookup,
}

impl<'a> Applier<'a> {
    pub fn new(client: &'a PasswordBossClient, sync_id: &'a str) -> Self {
        Self {
            client,
            sync_id,
            created: Mutex::new(HashMap::new()),
            lookup: Lookup::default(),
        }
    }

    pub async fn apply(&self, action: &Action) -> Result<Applied, PasswordBossError> {
        match action {
            Action::CreateUser {
                external_id,
                email,
                first_name,
                last_name,
                status,
            } => {
                let new = NewUser {
                    email: email.clone(),
                    first_name: first_name.clone(),
                    last_name: last_name.clone(),
                    external_id: Some(external_id.clone()),
                    managed_by: Owner::AzureAd.name().to_owned(),
                    status: (*status).into(),
                };
                self.create_user(action, &new, external_id).await
            }
            Action::UpdateUser {
                user_id,
                external_id,
                changes,
                ..
            } => self.update_user(user_id, external_id, changes).await,
            Action::DeprovisionUser { user_id, how, .. } => {
                match how {
                    Deprovision::Disable => self.client.disable_user(user_id).await.map(|_| ())?,
                    Deprovision::Remove => self.client.remove_user(user_id).await?,
                    Deprovision::Delete => self.client.delete_user(user_id).await?,
                }
                Ok(applied(user_id, None))
            }
            Action::CreateGroup {
                external_id,
                name,
                members,
            } => self.create_group(action, external_id, name, members).await,
            Action::UpdateGroup {
                group_id,
                rename,
                members,
                ..
            } => {
                if let Some(name) = rename {
                    self.client.rename_group(group_id, name).await?;
                }
                let mut note = None;
                if let Some(members) = members {
                    let (ids, dropped_note) = self.resolve(members);
                    self.client.set_group_members(group_id, &ids).await?;
                    note = dropped_note;
                }
                Ok(applied(group_id, note))
            }
            Action::DeleteGroup { group_id, .. } => {
                self.client.delete_group(group_id).await?;
                Ok(applied(group_id, None))
            }
        }
    }

    /// A create answered `409 email_exists` by a user that already carries this external id
    /// and `managedBy: Azure AD` was made by an interrupted earlier sync: success.
    async fn create_user(
        &self,
        action: &Action,
        new: &NewUser,
        external_id: &str,
    ) -> Result<Applied, PasswordBossError> {
        let key = idempotency_key(self.sync_id, action);
        let (user, note) = match self.client.create_user(new, &key).await {
            Ok(user) => (user, None),
            Err(e) if e.code() == Some("email_exists") => {
                let existing = match e.existing_user_id() {
                    Some(id) => self.lookup.user(self.client, id).await?,
                    None => None,
                };
                match existing {
                    Some(u)
                        if u.owner == Owner::AzureAd
                            && u.external_id.as_deref() == Some(external_id) =>
                    {
                        (
                            u,
                            Some("already created by an earlier, interrupted sync".into()),
                        )
                    }
                    _ => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        self.created
            .lock()
            .expect("created lock")
            .insert(external_id.to_string(), user.id.clone());
        Ok(Applied {
            pending_no_license: new.status == UserStatus::Active
                && user.status == AccountStatus::Pending
                && note.is_none(),
            recovered: note.is_some(),
            id: Some(user.id),
            note,
        })
    }

    async fn update_user(
        &self,
        user_id: &str,
        external_id: &str,
        changes: &UserChanges,
    ) -> Result<Applied, PasswordBossError> {
        let patch = UserPatch {
            first_name: changes.first_name.clone(),
            last_name: changes.last_name.clone(),
            status: changes.enable.then_some(UserStatus::Active),
            managed_by: changes.adopt.then(|| Owner::AzureAd.name().to_owned()),
            external_id: changes.adopt.then(|| external_id.to_string()),
        };
        if patch == UserPatch::default() {
            return Ok(applied(user_id, Some("nothing to change".into())));
        }
        self.client.update_user(user_id, &patch).await?;
        Ok(applied(user_id, None))
    }

    async fn create_group(
        &self,
        action: &Action,
        external_id: &str,
        name: &str,
        members: &[MemberRef],
    ) -> Result<Applied, PasswordBossError> {
        let new = NewGroup {
            name: name.to_string(),
            external_id: Some(external_id.to_string()),
            managed_by: Owner::AzureAd.name().to_owned(),
        };
        let key = idempotency_key(self.sync_id, action);
        let (group, recovered) = match self.client.create_group(&new, &key).await {
            Ok(group) => (group, false),
            Err(e) if e.code() == Some("name_exists") => {
                match self.lookup.group_named(self.client, name).await? {
                    Some(g)
                        if g.owner == Owner::AzureAd
                            && g.external_id.as_deref() == Some(external_id) =>
                    {
                        (g, true)
                    }
                    _ => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        let (ids, dropped_note) = self.resolve(members);
        // A new group starts empty; a recovered one may hold stale members.
        if !ids.is_empty() || recovered {
            self.client.set_group_members(&group.id, &ids).await?;
        }
        let note = if recovered {
            Some("already created by an earlier, interrupted sync".into())
        } else {
            dropped_note
        };
        Ok(Applied {
            recovered,
            ..applied(&group.id, note)
        })
    }

    /// Member ids; a `Created` member whose create failed is dropped.
    fn resolve(&self, members: &[MemberRef]) -> (Vec<String>, Option<String>) {
        let (ids, note) = resolve_members(&self.created, members);
        (ids.into_iter().collect(), note)
    }
}

fn applied(id: &str, note: Option<String>) -> Applied {
    Applied {
        id: Some(id.to_string()),
        note,
        ..Applied::default()
    }
}

/// The target ids of `members` (`created`: Entra id → id of an account this execution made); a
/// `Created` member whose create failed is left out, and the note says how many. Shared by the
/// Password Boss and SCIM appliers.
pub(super) fn resolve_members(
    created: &Mutex<HashMap<String, String>>,
    members: &[MemberRef],
) -> (BTreeSet<String>, Option<String>) {
    let created = created.lock().expect("created lock");
    let mut ids = BTreeSet::new();
    let mut dropped = 0;
    for member in members {
        match member {
            MemberRef::User(id) => {
                ids.insert(id.clone());
            }
            MemberRef::Created(entra_id) => match created.get(entra_id) {
                Some(id) => {
                    ids.insert(id.clone());
                }
                None => dropped += 1,
            },
        }
    }
    let note = (dropped > 0)
        .then(|| format!("{dropped} member(s) left out: their account was not created"));
    (ids, note)
}
