//! The simulated directory: tenants with users, (nested) groups and app registrations. Every
//! change gets a sequence number so delta queries can replay what happened after a token.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::Timestamp;

use super::jwt::{JwtAlgorithm, VerifyingKey};

/// A user as the simulator stores it.
#[derive(Clone, Debug)]
pub struct SimUser {
    pub id: String,
    pub display_name: String,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub mail: Option<String>,
    pub user_principal_name: String,
    pub account_enabled: bool,
    /// `Member` or `Guest`.
    pub user_type: String,
    pub state: UserState,
    /// Sequence number of the last change to the user itself.
    pub(crate) changed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserState {
    Active,
    /// In the recycle bin: restorable; absent from member lists.
    SoftDeleted,
    HardDeleted,
}

/// One change to a group's direct membership.
#[derive(Clone, Debug)]
pub(crate) struct MemberEvent {
    pub seq: u64,
    pub member: String,
    pub is_group: bool,
    pub added: bool,
}

#[derive(Clone, Debug)]
pub struct SimGroup {
    pub id: String,
    pub display_name: String,
    /// Direct members: user or group ids.
    pub(crate) members: BTreeSet<String>,
    pub(crate) name_changed: u64,
    pub(crate) log: Vec<MemberEvent>,
    pub(crate) deleted: Option<u64>,
}

/// A federated identity credential with the key of its issuer (the simulator verifies the
/// presented token's signature against it).
#[derive(Clone)]
pub struct FederatedCredential {
    pub issuer: String,
    pub subject: String,
    pub audience: String,
    /// Public key of the issuer, PEM (`PUBLIC KEY`).
    pub issuer_key_pem: String,
    /// `RS256` or `ES256`.
    pub algorithm: JwtAlgorithm,
}

#[derive(Clone)]
pub(crate) struct AppCert {
    pub thumbprint: String,
    pub key: VerifyingKey,
}

#[derive(Clone, Default)]
pub(crate) struct App {
    /// (value, expired)
    pub secrets: Vec<(String, bool)>,
    pub certs: Vec<AppCert>,
    pub federated: Vec<(FederatedCredential, VerifyingKey)>,
    pub consent: bool,
    /// For a multi-tenant app provisioned in this tenant by its admin's consent (its service
    /// principal): the tenant id of the app's registration, which holds its credentials.
    pub home: Option<String>,
}

#[derive(Default)]
pub(crate) struct Tenant {
    pub id: String,
    pub domains: Vec<String>,
    pub users: BTreeMap<String, SimUser>,
    pub groups: BTreeMap<String, SimGroup>,
    pub apps: HashMap<String, App>,
    /// When each user in the recycle bin (soft-deleted) was deleted: `deletedDateTime`.
    pub deleted_at: HashMap<String, Timestamp>,
    /// Every change to a user itself, in sequence order: a users delta round reads the changes
    /// after its token, not the whole tenant (Graph's own work is inside the latency a test
    /// sets; a round that scanned 100,000 users would add milliseconds Graph does not).
    pub(crate) user_log: Vec<(u64, String)>,
}

/// A member as listed by `/members` and `/transitiveMembers`.
pub(crate) enum Listed<'a> {
    User(&'a SimUser),
    Group(&'a SimGroup),
}

impl Tenant {
    pub(crate) fn matches(&self, name: &str) -> bool {
        self.id.eq_ignore_ascii_case(name)
            || self.domains.iter().any(|d| d.eq_ignore_ascii_case(name))
    }

    pub(crate) fn active_user(&self, id: &str) -> Option<&SimUser> {
        self.users.get(id).filter(|u| u.state == UserState::Active)
    }

    /// A user in the recycle bin (soft-deleted, restorable), with its `deletedDateTime`.
    pub(crate) fn recycled_user(&self, id: &str) -> Option<(&SimUser, Timestamp)> {
        let u = self
            .users
            .get(id)
            .filter(|u| u.state == UserState::SoftDeleted)?;
        Some((u, self.deleted_at.get(id).copied().unwrap_or_default()))
    }

    pub(crate) fn group(&self, id: &str) -> Option<&SimGroup> {
        self.groups.get(id).filter(|g| g.deleted.is_none())
    }

    fn listed(&self, id: &str) -> Option<Listed<'_>> {
        if let Some(u) = self.active_user(id) {
            return Some(Listed::User(u));
        }
        self.group(id).map(Listed::Group)
    }

    /// Direct members, or every member at any depth (each once) when `transitive`.
    pub(crate) fn members(&self, group: &SimGroup, transitive: bool) -> Vec<Listed<'_>> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut stack = vec![group];
        seen.insert(group.id.as_str());
        while let Some(g) = stack.pop() {
            for m in &g.members {
                if !seen.insert(m.as_str()) {
                    continue;
                }
                match self.listed(m) {
                    Some(Listed::Group(sub)) => {
                        if transitive {
                            stack.push(sub);
                        }
                        out.push(Listed::Group(sub));
                    }
                    Some(user) => out.push(user),
                    None => {}
                }
            }
            if !transitive {
                break;
            }
        }
        out
    }

    /// Groups whose direct members include `member`.
    fn groups_with(&self, member: &str) -> Vec<String> {
        self.groups
            .values()
            .filter(|g| g.deleted.is_none() && g.members.contains(member))
            .map(|g| g.id.clone())
            .collect()
    }

    /// Records a change to user `id` made at `seq` (see `user_log`).
    pub(crate) fn user_changed(&mut self, id: &str, seq: u64) {
        if let Some(u) = self.users.get_mut(id) {
            u.changed = seq;
            self.user_log.push((seq, id.to_owned()));
        }
    }

    /// Users changed after `seq`, each once, by id.
    pub(crate) fn users_changed_after(&self, seq: u64) -> BTreeSet<&str> {
        let from = self.user_log.partition_point(|(s, _)| *s <= seq);
        self.user_log[from..]
            .iter()
            .map(|(_, id)| id.as_str())
            .collect()
    }

    pub(crate) fn log_member(&mut self, group: &str, member: &str, added: bool, seq: u64) {
        let is_group = self.groups.contains_key(member);
        if let Some(g) = self.groups.get_mut(group) {
            g.log.push(MemberEvent {
                seq,
                member: member.to_owned(),
                is_group,
                added,
            });
        }
    }

    /// Recycle bin or permanent deletion; memberships disappear (and are logged for delta).
    pub(crate) fn delete_user(&mut self, id: &str, hard: bool, seq: u64) -> bool {
        let Some(state) = self.users.get(id).map(|u| u.state) else {
            return false;
        };
        if state == UserState::HardDeleted {
            return false;
        }
        let groups = self.groups_with(id);
        if state == UserState::Active {
            for g in &groups {
                self.log_member(g, id, false, seq);
            }
        }
        if hard {
            for g in &groups {
                if let Some(g) = self.groups.get_mut(g) {
                    g.members.remove(id);
                }
            }
        }
        if hard {
            self.deleted_at.remove(id);
        } else {
            self.deleted_at.insert(id.to_owned(), Timestamp::now());
        }
        let u = self.users.get_mut(id).expect("checked above");
        u.state = if hard {
            UserState::HardDeleted
        } else {
            UserState::SoftDeleted
        };
        self.user_changed(id, seq);
        true
    }

    /// Brings a soft-deleted user back with its memberships.
    pub(crate) fn restore_user(&mut self, id: &str, seq: u64) -> bool {
        if self.users.get(id).map(|u| u.state) != Some(UserState::SoftDeleted) {
            return false;
        }
        for g in self.groups_with(id) {
            self.log_member(&g, id, true, seq);
        }
        self.deleted_at.remove(id);
        let u = self.users.get_mut(id).expect("checked above");
        u.state = UserState::Active;
        self.user_changed(id, seq);
        true
    }
}
