//! What a connector keeps between syncs: resolved groups, members, user attributes,
//! delta links and the time of the last full read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use super::member_set::MemberSet;
pub(crate) use super::object_id::ObjectId;
use super::wire::WireObject;
use crate::domain::{EntraGroup, EntraSnapshot, EntraUser, GroupProblem};
use crate::resources::GroupSelector;

/// A user's attributes as Graph sent them (the id is the key they are kept under).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct CachedUser {
    display_name: Option<String>,
    given_name: Option<String>,
    surname: Option<String>,
    mail: Option<String>,
    user_principal_name: Option<String>,
    account_enabled: Option<bool>,
    user_type: Option<String>,
}

impl CachedUser {
    pub(crate) fn from_wire(o: &WireObject) -> Self {
        Self {
            display_name: o.display_name.clone(),
            given_name: o.given_name.clone(),
            surname: o.surname.clone(),
            mail: o.mail.clone(),
            user_principal_name: o.user_principal_name.clone(),
            account_enabled: o.account_enabled,
            user_type: o.user_type.clone(),
        }
    }

    pub(crate) fn from_entra(u: &EntraUser) -> Self {
        Self {
            display_name: u.display_name.clone(),
            given_name: u.given_name.clone(),
            surname: u.surname.clone(),
            mail: u.mail.clone(),
            user_principal_name: u.user_principal_name.clone(),
            account_enabled: u.account_enabled,
            user_type: u.user_type.clone(),
        }
    }

    pub(crate) fn to_entra(&self, id: &str) -> EntraUser {
        EntraUser {
            id: id.to_owned(),
            display_name: self.display_name.clone(),
            given_name: self.given_name.clone(),
            surname: self.surname.clone(),
            mail: self.mail.clone(),
            user_principal_name: self.user_principal_name.clone(),
            account_enabled: self.account_enabled,
            user_type: self.user_type.clone(),
        }
    }
}

/// Cached users by id. A plain lookup table, hashed with foldhash (randomly seeded per map, as
/// hashbrown's default): every sync looks each member up in it, and std's SipHash made those
/// lookups most of a no-change sync's own time at 100,000 users.
pub(crate) type UserMap = foldhash::HashMap<ObjectId, CachedUser>;

/// A group the connector reads: the sync group first, then the mirrored groups in spec order.
#[derive(Clone, Debug, Default)]
pub(crate) struct TrackedGroup {
    pub id: Box<str>,
    pub name: String,
    /// Where the group's selector is: 0 for the sync group, i for `shape` selector i.
    pub spec_index: usize,
    /// User members (transitive when nested groups are on).
    pub members: MemberSet,
    /// Groups nested (at any depth) under this one; empty when nested groups are off.
    pub nested: BTreeSet<Box<str>>,
}

/// How a user was found deleted (see `lookup`), as the state keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Deletion {
    /// In the recycle bin, restorable until then (when Graph said).
    Soft(Option<k8s_openapi::jiff::Timestamp>),
    /// Gone from the recycle bin too. `member`: found so while a member of the sync group (then
    /// it was this tenant's user); else found by a departure lookup, which proves nothing about
    /// whose id it was.
    Hard { member: bool },
}

/// Per-connector Graph state kept between syncs. Start with `GraphSyncState::default()`.
#[derive(Default)]
pub struct GraphSyncState {
    /// Where it was read: authority host, tenant and Graph root (`GraphClient`'s origin). A
    /// state of another origin is dropped before a read.
    pub(crate) origin: Option<String>,
    /// Selector → (id, display name), resolved once and re-resolved when a name changes.
    pub(crate) resolved: HashMap<GroupSelector, (Box<str>, String)>,
    /// What the tracked groups were read for: selectors and the nested flag.
    pub(crate) shape: Option<(Vec<GroupSelector>, bool)>,
    /// The readable groups, the sync group first, then the mirrored groups in spec order.
    pub(crate) groups: Vec<TrackedGroup>,
    /// Mirrored groups that could not be read (by `shape` position), retried on every read.
    pub(crate) problems: Vec<(usize, GroupProblem)>,
    /// Attributes of the sync group's user members.
    pub(crate) users: UserMap,
    /// Users found deleted by a lookup since the last full read (evidence: 404 on
    /// `GET /users/{id}`), soft or hard; dropped when a delta round shows the user again.
    pub(crate) deleted: BTreeMap<ObjectId, Deletion>,
    /// Users of the sync group a users-delta round reported `@removed` since the last full
    /// read, not yet looked up: a hint, never evidence.
    pub(crate) removal_reported: BTreeSet<ObjectId>,
    pub(crate) users_delta: Option<String>,
    pub(crate) groups_delta: Vec<String>,
    pub(crate) last_full: Option<Instant>,
    /// Why the last delta read could not vouch for every member (a lookup failed): the snapshot
    /// is incomplete until a read settles them.
    pub(crate) unsettled: Option<String>,
}

impl GraphSyncState {
    /// Forgets the delta links so the next read is a full one.
    pub fn reset(&mut self) {
        self.users_delta = None;
        self.groups_delta.clear();
        self.last_full = None;
    }

    /// What the state holds, as the planner reads it. A member without cached attributes, or
    /// one a lookup could not settle, makes it incomplete.
    pub fn snapshot(&self) -> EntraSnapshot {
        let Some(sync) = self.groups.first() else {
            return EntraSnapshot {
                incomplete_reason: Some("no group has been read".into()),
                ..EntraSnapshot::default()
            };
        };
        let mut users = std::collections::BTreeMap::new();
        let mut missing = 0usize;
        for id in &sync.members {
            match self.users.get(id) {
                Some(u) => {
                    let id = id.to_string();
                    let user = u.to_entra(&id);
                    users.insert(id, user);
                }
                None => missing += 1,
            }
        }
        let groups = self.groups[1..]
            .iter()
            .map(|g| EntraGroup {
                id: g.id.to_string(),
                display_name: g.name.clone(),
                members: g.members.iter().map(|m| m.to_string()).collect(),
            })
            .collect();
        EntraSnapshot {
            sync_group_id: sync.id.to_string(),
            sync_group_name: sync.name.clone(),
            users,
            deleted: self
                .deleted
                .keys()
                .filter(|d| !sync.members.contains(d))
                .map(|d| d.to_string())
                .collect(),
            out_of_scope: Default::default(),
            groups,
            complete: missing == 0 && self.unsettled.is_none(),
            incomplete_reason: self.unsettled.clone().or_else(|| {
                (missing > 0)
                    .then(|| format!("{missing} members of the sync group have no attributes"))
            }),
            group_problems: self.problems.iter().map(|(_, p)| p.clone()).collect(),
            foreign: BTreeSet::new(),
        }
    }

    /// Whether Graph showed `id` to be a user of this tenant that was deleted: found in the
    /// recycle bin, or found deleted while a member of the sync group (kept until the next full
    /// read). A permanent deletion found by a departure lookup is no such evidence: an id of
    /// another tenant looks the same.
    pub fn deleted_here(&self, id: &str) -> bool {
        matches!(
            self.deleted.get(&ObjectId::from(id)),
            Some(Deletion::Soft(_) | Deletion::Hard { member: true })
        )
    }

    /// When the last full read finished.
    pub fn last_full_read(&self) -> Option<Instant> {
        self.last_full
    }

    /// Delta links are held for the next incremental read.
    pub fn has_delta_links(&self) -> bool {
        self.users_delta.is_some() && !self.groups_delta.is_empty()
    }

    /// Users whose attributes are cached.
    pub fn cached_users(&self) -> usize {
        self.users.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(
        upn: Option<&str>,
        mail: Option<&str>,
        kind: Option<&str>,
        enabled: Option<bool>,
    ) -> WireObject {
        WireObject {
            id: "u1".into(),
            display_name: Some("Ada Lovelace".into()),
            given_name: Some("Ada".into()),
            surname: None,
            mail: mail.map(Into::into),
            user_principal_name: upn.map(Into::into),
            account_enabled: enabled,
            user_type: kind.map(Into::into),
            ..WireObject::default()
        }
    }

    #[test]
    fn cached_users_give_back_exactly_what_graph_sent() {
        let long = "x".repeat(300);
        let cases = [
            wire(
                Some("ada@contoso.com"),
                Some("ada@contoso.com"),
                Some("Member"),
                Some(true),
            ),
            wire(
                Some("ada_ext#EXT#@contoso.com"),
                Some("ada@fabrikam.com"),
                Some("Guest"),
                Some(false),
            ),
            wire(None, None, None, None),
            wire(Some(&long), Some(""), Some("member"), Some(true)),
        ];
        for w in cases {
            let expected = EntraUser {
                id: "u1".into(),
                display_name: w.display_name.clone(),
                given_name: w.given_name.clone(),
                surname: w.surname.clone(),
                mail: w.mail.clone(),
                user_principal_name: w.user_principal_name.clone(),
                account_enabled: w.account_enabled,
                user_type: w.user_type.clone(),
            };
            assert_eq!(CachedUser::from_wire(&w).to_entra("u1"), expected);
        }
    }
}
