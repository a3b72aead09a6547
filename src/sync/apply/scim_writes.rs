//! One action → the SCIM calls it needs: users and groups are created with `POST`, changed with
//! `PATCH` (never a `PUT` that would drop what the connector does not manage), deleted with
//! `DELETE`. Group members change by `add` and `remove` operations computed against the
//! membership the plan was made from, so a member someone else added is never touched.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use serde_json::json;

use crate::domain::{AccountStatus, DirectoryState};
use crate::plan::{Action, Deprovision, MemberRef, UserChanges};
use crate::scim::wire::{self, Email, Name, NewGroup, NewUser, PatchOperation, eq_filter};
use crate::scim::{ScimClient, ScimError};
use crate::sync::state::Applied;

const RECOVERED: &str = "already created by an earlier attempt whose answer was lost";

/// What one execution shares between its actions.
pub(crate) struct ScimApplier<'a> {
    client: &'a ScimClient,
    /// Entra object id → id of the user created (or found created) in this run.
    created: Mutex<HashMap<String, String>>,
    /// User id → (first, last name) as read: a changed name's display name needs the other.
    names: HashMap<String, (String, String)>,
    /// Group id → members as read (this connector's users only).
    members: HashMap<String, BTreeSet<String>>,
}

impl<'a> ScimApplier<'a> {
    /// An applier for a plan made from `directory` (`None`: nothing known of what was read, so
    /// group members are only ever added).
    pub fn new(client: &'a ScimClient, directory: Option<&DirectoryState>) -> Self {
        let names = directory
            .map(|d| {
                d.users
                    .iter()
                    .map(|u| (u.id.clone(), (u.first_name.clone(), u.last_name.clone())))
                    .collect()
            })
            .unwrap_or_default();
        let members = directory
            .map(|d| d.memberships.clone().into_iter().collect())
            .unwrap_or_default();
        Self {
            client,
            created: Mutex::new(HashMap::new()),
            names,
            members,
        }
    }

    pub async fn apply(&self, action: &Action) -> Result<Applied, ScimError> {
        match action {
            Action::CreateUser {
                external_id,
                email,
                first_name,
                last_name,
                status,
            } => {
                let new = NewUser {
                    schemas: [wire::USER_SCHEMA],
                    user_name: email.clone(),
                    external_id: external_id.clone(),
                    name: Name {
                        given_name: Some(first_name.clone()),
                        family_name: Some(last_name.clone()),
                    },
                    display_name: display_name(first_name, last_name),
                    emails: vec![Email {
                        value: email.clone(),
                        kind: "work".into(),
                        primary: true,
                    }],
                    active: *status != AccountStatus::Disabled,
                };
                let created = self.client.create_user(&new).await?;
                self.created
                    .lock()
                    .expect("created lock")
                    .insert(external_id.clone(), created.resource.id.clone());
                Ok(Applied {
                    id: Some(created.resource.id),
                    recovered: created.recovered,
                    note: created.recovered.then(|| RECOVERED.into()),
                    ..Applied::default()
                })
            }
            Action::UpdateUser {
                user_id,
                external_id,
                changes,
                ..
            } => self.update_user(user_id, external_id, changes).await,
            Action::DeprovisionUser { user_id, how, .. } => {
                match how {
                    Deprovision::Disable => {
                        let active = PatchOperation::replace("active", json!(false));
                        self.client.patch_user(user_id, vec![active]).await?;
                    }
                    Deprovision::Delete => self.client.delete_user(user_id).await?,
                    Deprovision::Remove => {
                        return Err(ScimError::Config(
                            "SCIM cannot express Remove (leave the company, keep a personal \
                             account); use Disable or Delete in spec.syncRules"
                                .into(),
                        ));
                    }
                }
                Ok(applied(user_id, None))
            }
            Action::CreateGroup {
                external_id,
                name,
                members,
            } => self.create_group(external_id, name, members).await,
            Action::UpdateGroup {
                group_id,
                rename,
                members,
                ..
            } => {
                let mut ops = Vec::new();
                if let Some(name) = rename {
                    ops.push(PatchOperation::replace("displayName", json!(name)));
                }
                let mut note = None;
                if let Some(members) = members {
                    let (desired, dropped) = self.resolve(members);
                    let current = self.members.get(group_id).cloned().unwrap_or_default();
                    ops.extend(member_changes(&current, &desired));
                    note = dropped;
                }
                if ops.is_empty() {
                    return Ok(applied(group_id, Some("nothing to change".into())));
                }
                self.client.patch_group(group_id, ops).await?;
                Ok(applied(group_id, note))
            }
            Action::DeleteGroup { group_id, .. } => {
                self.client.delete_group(group_id).await?;
                Ok(applied(group_id, None))
            }
        }
    }

    async fn update_user(
        &self,
        user_id: &str,
        external_id: &str,
        changes: &UserChanges,
    ) -> Result<Applied, ScimError> {
        let mut ops = Vec::new();
        if let Some(first) = &changes.first_name {
            ops.push(PatchOperation::replace("name.givenName", json!(first)));
        }
        if let Some(last) = &changes.last_name {
            ops.push(PatchOperation::replace("name.familyName", json!(last)));
        }
        if changes.first_name.is_some() || changes.last_name.is_some() {
            let known = self.names.get(user_id);
            let first = changes
                .first_name
                .as_ref()
                .or(known.map(|(first, _)| first));
            let last = changes.last_name.as_ref().or(known.map(|(_, last)| last));
            if let (Some(first), Some(last)) = (first, last) {
                ops.push(PatchOperation::replace(
                    "displayName",
                    json!(display_name(first, last)),
                ));
            }
        }
        if changes.enable {
            ops.push(PatchOperation::replace("active", json!(true)));
        }
        if changes.adopt {
            // Adopting writes the externalId: from now on the user is this connector's.
            ops.push(PatchOperation::replace("externalId", json!(external_id)));
        }
        if ops.is_empty() {
            return Ok(applied(user_id, Some("nothing to change".into())));
        }
        self.client.patch_user(user_id, ops).await?;
        Ok(applied(user_id, None))
    }

    async fn create_group(
        &self,
        external_id: &str,
        name: &str,
        members: &[MemberRef],
    ) -> Result<Applied, ScimError> {
        let (desired, dropped) = self.resolve(members);
        let new = NewGroup {
            schemas: [wire::GROUP_SCHEMA],
            display_name: name.to_owned(),
            external_id: external_id.to_owned(),
            members: desired
                .iter()
                .map(|id| wire::Member {
                    value: id.clone(),
                    kind: None,
                })
                .collect(),
        };
        let created = self.client.create_group(&new).await?;
        let group = created.resource;
        if created.recovered {
            // Made by an attempt whose answer was lost: bring its members to the plan's.
            let current: BTreeSet<String> = group
                .members
                .iter()
                .filter(|m| {
                    m.kind
                        .as_deref()
                        .is_none_or(|k| k.eq_ignore_ascii_case("User"))
                })
                .map(|m| m.value.clone())
                .collect();
            let ops: Vec<PatchOperation> = desired
                .difference(&current)
                .map(|id| add_member(id))
                .collect();
            if !ops.is_empty() {
                self.client.patch_group(&group.id, ops).await?;
            }
        }
        Ok(Applied {
            id: Some(group.id),
            recovered: created.recovered,
            note: if created.recovered {
                Some(RECOVERED.into())
            } else {
                dropped
            },
            ..Applied::default()
        })
    }

    /// Member ids; a `Created` member whose create failed is dropped.
    fn resolve(&self, members: &[MemberRef]) -> (BTreeSet<String>, Option<String>) {
        super::writes::resolve_members(&self.created, members)
    }
}

/// `add` for the members to add, one `remove` per member to remove (by a filter path): only
/// the difference, so members the connector does not manage stay.
fn member_changes(current: &BTreeSet<String>, desired: &BTreeSet<String>) -> Vec<PatchOperation> {
    let mut ops: Vec<PatchOperation> = Vec::new();
    let added: Vec<serde_json::Value> = desired
        .difference(current)
        .map(|id| json!({ "value": id }))
        .collect();
    if !added.is_empty() {
        ops.push(PatchOperation {
            op: "add",
            path: Some("members".into()),
            value: Some(serde_json::Value::Array(added)),
        });
    }
    ops.extend(current.difference(desired).map(|id| PatchOperation {
        op: "remove",
        path: Some(format!("members[{}]", eq_filter("value", id))),
        value: None,
    }));
    ops
}

fn add_member(id: &str) -> PatchOperation {
    PatchOperation {
        op: "add",
        path: Some("members".into()),
        value: Some(json!([{ "value": id }])),
    }
}

fn display_name(first: &str, last: &str) -> String {
    format!("{first} {last}")
}

fn applied(id: &str, note: Option<String>) -> Applied {
    Applied {
        id: Some(id.to_string()),
        note,
        ..Applied::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_change_by_difference_only() {
        let set = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let ops = member_changes(&set(&["a", "b\"x"]), &set(&["a", "c"]));
        let json = serde_json::to_value(&ops).unwrap();
        assert_eq!(
            json,
            json!([
                {"op": "add", "path": "members", "value": [{"value": "c"}]},
                {"op": "remove", "path": "members[value eq \"b\\\"x\"]"},
            ])
        );
        assert!(member_changes(&set(&["a"]), &set(&["a"])).is_empty());
    }
}
