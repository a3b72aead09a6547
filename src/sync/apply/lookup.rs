//! Reads the executor makes only after a create collided (`email_exists`, `name_exists`), to
//! tell "an interrupted earlier sync already created it" from a real conflict. One listing
//! serves many collisions; it is refreshed only when an id or name is missing from it.

use std::collections::HashMap;

use tokio::sync::Mutex;

use crate::domain::{Account, Group};
use crate::passwordboss::{PasswordBossClient, PasswordBossError};

#[derive(Default)]
pub(crate) struct Lookup {
    users: Mutex<Option<HashMap<String, Account>>>,
    groups: Mutex<Option<Vec<Group>>>,
}

impl Lookup {
    pub async fn user(
        &self,
        client: &PasswordBossClient,
        id: &str,
    ) -> Result<Option<Account>, PasswordBossError> {
        let mut cache = self.users.lock().await;
        if let Some(user) = cache.as_ref().and_then(|m| m.get(id)) {
            return Ok(Some(user.clone()));
        }
        let fresh: HashMap<String, Account> = client
            .list_users()
            .await?
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect();
        let found = fresh.get(id).cloned();
        *cache = Some(fresh);
        Ok(found)
    }

    pub async fn group_named(
        &self,
        client: &PasswordBossClient,
        name: &str,
    ) -> Result<Option<Group>, PasswordBossError> {
        let find = |groups: &Vec<Group>| {
            groups
                .iter()
                .find(|g| g.name.eq_ignore_ascii_case(name))
                .cloned()
        };
        let mut cache = self.groups.lock().await;
        if let Some(group) = cache.as_ref().and_then(find) {
            return Ok(Some(group));
        }
        let fresh = client.list_groups().await?;
        let found = find(&fresh);
        *cache = Some(fresh);
        Ok(found)
    }
}
