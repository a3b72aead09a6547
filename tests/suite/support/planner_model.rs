//! A `Plan` applied to a `DirectoryState` through the Password Boss simulator's store, the one
//! model of what a Password Boss write does (emails case-insensitively unique, licences counted
//! on active users, the Everyone group untouchable, …): a write the server refuses panics with
//! its error code. On the way it checks the planner's own rules, which are not the server's: no
//! active create or enable beyond the free licences, no write to an object the connector does
//! not own, no admin deprovisioned, nothing disabled twice.
use std::collections::{BTreeMap, BTreeSet};

use pbconnector::domain::{Account, AccountStatus, EVERYONE_GROUP, Group, Licenses, Owner, Role};
use pbconnector::plan::{Action, Deprovision, DirectoryState, MemberRef, Plan};
use pbconnector_simulators::passwordboss::wire::{self, MANAGED_BY_AZURE_AD, UserStatus};
use pbconnector_simulators::passwordboss::{ApiError, SeedUser, Store, UserUpdate};

/// Licences in use: active users.
pub fn active_users(state: &DirectoryState) -> u32 {
    state
        .users
        .iter()
        .filter(|u| u.status == AccountStatus::Active)
        .count() as u32
}

/// Applies `plan` in order, panicking on anything Password Boss or the planner's rules refuse.
/// Objects keep their ids; created ones are `new-{external id}` and `newg-{external id}`.
pub fn apply(state: &DirectoryState, plan: &Plan) -> DirectoryState {
    let mut company = Company::seed(state);
    let mut adopted = BTreeSet::new();
    for action in &plan.actions {
        company.apply(action, &mut adopted);
    }
    company.state()
}

/// The store and the ids it gave each object of the state (store id → state id).
struct Company {
    store: Store,
    ids: BTreeMap<String, String>,
}

fn refused(what: &str, err: ApiError) -> ! {
    panic!("{}: {what} ({})", err.code, err.message)
}

impl Company {
    fn seed(state: &DirectoryState) -> Self {
        let mut company = Self {
            store: Store::new("company", "Contoso", state.licenses.total),
            ids: BTreeMap::new(),
        };
        for user in &state.users {
            let seed = SeedUser {
                email: user.email.clone(),
                first_name: user.first_name.clone(),
                last_name: user.last_name.clone(),
                status: wire_status(user.status),
                managed_by: user.owner.name().to_owned(),
                external_id: user.external_id.clone(),
                role: match user.role {
                    Role::Admin => wire::Role::Admin,
                    Role::User => wire::Role::User,
                },
            };
            let stored = (company.store.seed_user(seed))
                .unwrap_or_else(|e| refused(&format!("seeding {}", user.email), e));
            company.ids.insert(stored.id, user.id.clone());
        }
        for group in &state.groups {
            let stored_id = if group.name == EVERYONE_GROUP {
                company.store_group_named(EVERYONE_GROUP)
            } else {
                let stored = company
                    .store
                    .create_group(&group.name, group.external_id.clone(), group.owner.name())
                    .unwrap_or_else(|e| refused(&format!("seeding group {}", group.name), e));
                stored.id
            };
            company.ids.insert(stored_id, group.id.clone());
        }
        for (group, members) in &state.memberships {
            let members = members.iter().map(|m| company.store_id(m)).collect();
            let group = company.store_id(group);
            (company.store.set_members(&group, members))
                .unwrap_or_else(|e| refused("seeding members", e));
        }
        company
    }

    fn store_group_named(&self, name: &str) -> String {
        let group = self.store.groups().into_iter().find(|g| g.name == name);
        group.expect("the store has the group").id
    }

    /// The store's id of the state's object `id`.
    fn store_id(&self, id: &str) -> String {
        let found = self.ids.iter().find(|(_, state_id)| *state_id == id);
        found.map_or_else(|| panic!("not_found: {id}"), |(stored, _)| stored.clone())
    }

    fn user(&self, id: &str) -> Account {
        let users = self.state().users;
        let user = users.into_iter().find(|u| u.id == id);
        user.unwrap_or_else(|| panic!("not_found: user {id}"))
    }

    /// The group `id`, which must be the connector's to change.
    fn owned_group(&self, id: &str) -> String {
        let group = self.state().groups.into_iter().find(|g| g.id == id);
        let group = group.unwrap_or_else(|| panic!("not_found: group {id}"));
        assert_ne!(group.name, EVERYONE_GROUP, "forbidden: the Everyone group");
        assert_eq!(group.owner, Owner::AzureAd, "changed a foreign group");
        self.store_id(id)
    }

    fn free_licences(&self) -> u32 {
        self.store.licenses().free()
    }

    fn apply(&mut self, action: &Action, adopted: &mut BTreeSet<String>) {
        match action {
            Action::CreateUser {
                external_id,
                email,
                first_name,
                last_name,
                status,
            } => {
                assert!(
                    *status != AccountStatus::Active || self.free_licences() > 0,
                    "the plan creates {email} active beyond the free licences"
                );
                let mut seed = SeedUser::new(email, first_name, last_name).azure(external_id);
                seed.status = wire_status(*status);
                let stored = (self.store.create_user(seed))
                    .unwrap_or_else(|e| refused(&format!("creating {email}"), e));
                self.ids.insert(stored.id, format!("new-{external_id}"));
            }
            Action::UpdateUser {
                user_id,
                external_id,
                email,
                changes,
            } => {
                let user = self.user(user_id);
                assert_eq!(&user.email, email, "UpdateUser names the account's email");
                let mut update = UserUpdate {
                    first_name: changes.first_name.clone(),
                    last_name: changes.last_name.clone(),
                    ..UserUpdate::default()
                };
                if changes.adopt {
                    assert!(
                        user.owner == Owner::AzureAd || user.owner == Owner::PasswordBoss,
                        "adopted a user managed by {}",
                        user.owner
                    );
                    update.managed_by = Some(MANAGED_BY_AZURE_AD.to_owned());
                    update.external_id = Some(external_id.clone());
                    adopted.insert(user_id.clone());
                } else {
                    assert_eq!(user.owner, Owner::AzureAd, "updated a foreign user");
                    assert_eq!(user.external_id.as_ref(), Some(external_id));
                }
                if changes.enable {
                    assert_eq!(
                        user.status,
                        AccountStatus::Disabled,
                        "enabled a non-disabled user"
                    );
                    update.status = Some(UserStatus::Active);
                }
                let id = self.store_id(user_id);
                (self.store.update_user(&id, update))
                    .unwrap_or_else(|e| refused(&format!("updating {user_id}"), e));
            }
            Action::DeprovisionUser { user_id, how, .. } => {
                let user = self.user(user_id);
                assert!(
                    user.owner == Owner::AzureAd || adopted.contains(user_id),
                    "deprovisioned a user managed by {}",
                    user.owner
                );
                assert_ne!(user.role, Role::Admin, "deprovisioned an admin");
                let id = self.store_id(user_id);
                let done = match how {
                    Deprovision::Disable => {
                        assert_ne!(user.status, AccountStatus::Disabled, "disabled twice");
                        let update = UserUpdate {
                            status: Some(UserStatus::Disabled),
                            ..UserUpdate::default()
                        };
                        self.store.update_user(&id, update).map(drop)
                    }
                    Deprovision::Remove => self.store.delete_user(&id, true),
                    Deprovision::Delete => self.store.delete_user(&id, false),
                };
                done.unwrap_or_else(|e| refused(&format!("deprovisioning {user_id}"), e));
            }
            Action::CreateGroup {
                external_id,
                name,
                members,
            } => {
                let stored = self
                    .store
                    .create_group(name, Some(external_id.clone()), MANAGED_BY_AZURE_AD)
                    .unwrap_or_else(|e| refused(&format!("creating group {name}"), e));
                self.ids
                    .insert(stored.id.clone(), format!("newg-{external_id}"));
                let members = self.resolve(members);
                (self.store.set_members(&stored.id, members))
                    .unwrap_or_else(|e| refused(&format!("members of {name}"), e));
            }
            Action::UpdateGroup {
                group_id,
                rename,
                members,
                ..
            } => {
                let id = self.owned_group(group_id);
                if let Some(name) = rename {
                    (self.store.rename_group(&id, name))
                        .unwrap_or_else(|e| refused(&format!("renaming {group_id}"), e));
                }
                if let Some(members) = members {
                    let members = self.resolve(members);
                    (self.store.set_members(&id, members))
                        .unwrap_or_else(|e| refused(&format!("members of {group_id}"), e));
                }
            }
            Action::DeleteGroup { group_id, .. } => {
                let id = self.owned_group(group_id);
                (self.store.delete_group(&id))
                    .unwrap_or_else(|e| refused(&format!("deleting {group_id}"), e));
            }
        }
    }

    /// Store ids of `members`; a created member must have been created earlier in the plan.
    fn resolve(&self, members: &[MemberRef]) -> Vec<String> {
        members
            .iter()
            .map(|m| match m {
                MemberRef::User(id) => self.store_id(id),
                MemberRef::Created(external_id) => {
                    self.store
                        .users()
                        .into_iter()
                        .find(|u| u.external_id.as_deref() == Some(external_id.as_str()))
                        .unwrap_or_else(|| panic!("member {external_id} was not created"))
                        .id
                }
            })
            .collect()
    }

    /// The store's company as the connector reads it.
    fn state(&self) -> DirectoryState {
        let id = |stored: &str| self.ids.get(stored).cloned().expect("a known object");
        let users = (self.store.users().into_iter())
            .map(|u| Account {
                id: id(&u.id),
                email: u.email,
                first_name: u.first_name,
                last_name: u.last_name,
                status: match u.status {
                    UserStatus::Active => AccountStatus::Active,
                    UserStatus::Pending => AccountStatus::Pending,
                    UserStatus::Disabled => AccountStatus::Disabled,
                },
                owner: Owner::from_name(&u.managed_by),
                external_id: u.external_id,
                role: match u.role {
                    wire::Role::Admin => Role::Admin,
                    wire::Role::User => Role::User,
                },
            })
            .collect();
        let groups: Vec<Group> = (self.store.groups().into_iter())
            .map(|g| Group {
                id: id(&g.id),
                name: g.name,
                owner: Owner::from_name(&g.managed_by),
                external_id: g.external_id,
            })
            .collect();
        let memberships = (groups.iter())
            .filter(|g| g.owner == Owner::AzureAd)
            .map(|g| {
                let members = self.store.members(&self.store_id(&g.id));
                let members = members.expect("the group exists").into_iter();
                (g.id.clone(), members.map(|m| id(&m)).collect())
            })
            .collect();
        let licenses = self.store.licenses();
        DirectoryState {
            users,
            groups,
            memberships,
            licenses: Licenses {
                total: licenses.total,
                used: licenses.used,
            },
        }
    }
}

fn wire_status(status: AccountStatus) -> UserStatus {
    match status {
        AccountStatus::Active => UserStatus::Active,
        AccountStatus::Pending => UserStatus::Pending,
        AccountStatus::Disabled => UserStatus::Disabled,
    }
}
