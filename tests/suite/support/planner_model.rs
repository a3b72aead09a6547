//! A test-side model of Password Boss applying a `Plan` to a `DirectoryState`, as the server
//! would: emails case-insensitively unique, licences counted on active users, active creates
//! beyond the licences made pending, enables refused without a licence, the Everyone group and
//! other sources' objects untouchable. It panics on any write the server would refuse, and on any
//! write to an object the connector does not own.
use std::collections::{BTreeSet, HashMap};

use pbconnector::domain::{Account, AccountStatus, EVERYONE_GROUP, Group, Owner, Role};
use pbconnector::plan::{Action, Deprovision, DirectoryState, MemberRef, Plan};

/// Licences in use: active users.
pub fn active_users(state: &DirectoryState) -> u32 {
    state
        .users
        .iter()
        .filter(|u| u.status == AccountStatus::Active)
        .count() as u32
}

/// Applies `plan` in order, panicking on anything Password Boss or the ownership rules refuse.
pub fn apply(state: &DirectoryState, plan: &Plan) -> DirectoryState {
    let mut next = state.clone();
    let mut adopted: BTreeSet<String> = BTreeSet::new();
    for action in &plan.actions {
        match action {
            Action::CreateUser {
                external_id,
                email,
                first_name,
                last_name,
                status,
            } => {
                let key = email.to_ascii_lowercase();
                assert!(
                    next.users
                        .iter()
                        .all(|u| u.email.to_ascii_lowercase() != key),
                    "email_exists: {email}"
                );
                assert!(!first_name.is_empty() && !last_name.is_empty());
                let status = if *status == AccountStatus::Active
                    && active_users(&next) >= next.licenses.total
                {
                    panic!("the plan creates {email} active beyond the free licences");
                } else {
                    *status
                };
                assert_ne!(
                    status,
                    AccountStatus::Disabled,
                    "users are created active or pending"
                );
                next.users.push(Account {
                    id: format!("new-{external_id}"),
                    email: email.clone(),
                    first_name: first_name.clone(),
                    last_name: last_name.clone(),
                    status,
                    owner: Owner::AzureAd,
                    external_id: Some(external_id.clone()),
                    role: Role::User,
                });
            }
            Action::UpdateUser {
                user_id,
                external_id,
                email,
                changes,
            } => {
                let free = next.licenses.total.saturating_sub(active_users(&next));
                let user = user_mut(&mut next, user_id);
                assert_eq!(&user.email, email, "UpdateUser names the account's email");
                if changes.adopt {
                    assert!(
                        user.owner == Owner::AzureAd || user.owner == Owner::PasswordBoss,
                        "adopted a user managed by {}",
                        user.owner
                    );
                    user.owner = Owner::AzureAd;
                    user.external_id = Some(external_id.clone());
                    adopted.insert(user_id.clone());
                } else {
                    assert_eq!(user.owner, Owner::AzureAd, "updated a foreign user");
                    assert_eq!(user.external_id.as_ref(), Some(external_id));
                }
                if let Some(first) = &changes.first_name {
                    user.first_name = first.clone();
                }
                if let Some(last) = &changes.last_name {
                    user.last_name = last.clone();
                }
                if changes.enable {
                    assert_eq!(
                        user.status,
                        AccountStatus::Disabled,
                        "enabled a non-disabled user"
                    );
                    assert!(
                        free > 0,
                        "license_limit: enabled {user_id} without a free licence"
                    );
                    user.status = AccountStatus::Active;
                }
            }
            Action::DeprovisionUser { user_id, how, .. } => {
                let user = user_mut(&mut next, user_id);
                assert!(
                    user.owner == Owner::AzureAd || adopted.contains(user_id),
                    "deprovisioned a user managed by {}",
                    user.owner
                );
                assert_ne!(user.role, Role::Admin, "deprovisioned an admin");
                match how {
                    Deprovision::Disable => {
                        assert_ne!(user.status, AccountStatus::Disabled, "disabled twice");
                        user.status = AccountStatus::Disabled;
                    }
                    Deprovision::Remove | Deprovision::Delete => {
                        next.users.retain(|u| &u.id != user_id);
                        for members in next.memberships.values_mut() {
                            members.remove(user_id);
                        }
                    }
                }
            }
            Action::CreateGroup {
                external_id,
                name,
                members,
            } => {
                let key = name.to_lowercase();
                assert!(
                    next.groups.iter().all(|g| g.name.to_lowercase() != key),
                    "name_exists: {name}"
                );
                let id = format!("newg-{external_id}");
                next.groups.push(Group {
                    id: id.clone(),
                    name: name.clone(),
                    owner: Owner::AzureAd,
                    external_id: Some(external_id.clone()),
                });
                let members = resolve(&next, members);
                next.memberships.insert(id, members);
            }
            Action::UpdateGroup {
                group_id,
                rename,
                members,
                ..
            } => {
                if let Some(name) = rename {
                    let key = name.to_lowercase();
                    assert!(
                        next.groups
                            .iter()
                            .all(|g| &g.id == group_id || g.name.to_lowercase() != key),
                        "name_exists: {name}"
                    );
                    owned_group_mut(&mut next, group_id).name = name.clone();
                } else {
                    owned_group_mut(&mut next, group_id);
                }
                if let Some(members) = members {
                    let members = resolve(&next, members);
                    next.memberships.insert(group_id.clone(), members);
                }
            }
            Action::DeleteGroup { group_id, .. } => {
                owned_group_mut(&mut next, group_id);
                next.groups.retain(|g| &g.id != group_id);
                next.memberships.remove(group_id);
            }
        }
    }
    next.licenses.used = active_users(&next);
    next
}

fn user_mut<'s>(state: &'s mut DirectoryState, id: &str) -> &'s mut Account {
    state
        .users
        .iter_mut()
        .find(|u| u.id == id)
        .unwrap_or_else(|| panic!("not_found: user {id}"))
}

fn owned_group_mut<'s>(state: &'s mut DirectoryState, id: &str) -> &'s mut Group {
    let group = state
        .groups
        .iter_mut()
        .find(|g| g.id == id)
        .unwrap_or_else(|| panic!("not_found: group {id}"));
    assert_ne!(group.name, EVERYONE_GROUP, "forbidden: the Everyone group");
    assert_eq!(group.owner, Owner::AzureAd, "changed a foreign group");
    group
}

fn resolve(state: &DirectoryState, members: &[MemberRef]) -> BTreeSet<String> {
    let by_external: HashMap<&str, &str> = state
        .users
        .iter()
        .filter_map(|u| Some((u.external_id.as_deref()?, u.id.as_str())))
        .collect();
    members
        .iter()
        .map(|m| match m {
            MemberRef::User(id) => {
                assert!(
                    state.users.iter().any(|u| &u.id == id),
                    "not_found: member {id}"
                );
                id.clone()
            }
            MemberRef::Created(external_id) => by_external
                .get(external_id.as_str())
                .unwrap_or_else(|| panic!("member {external_id} was not created"))
                .to_string(),
        })
        .collect()
}
