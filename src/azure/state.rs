//! What a connector keeps between syncs: resolved groups, members, compact user attributes,
//! delta links and the time of the last full read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use super::member_set::MemberSet;
pub(crate) use super::object_id::ObjectId;
use super::wire::WireObject;
use crate::domain::{EntraGroup, EntraSnapshot, EntraUser, GroupProblem};
use crate::packed::{put, take};
use crate::resources::GroupSelector;

/// A user's attributes, kept small: the operator holds 100,000s of them. One allocation holds a
/// flags byte, then the six text fields, each as a varint length (0: absent, n + 1: n bytes) and
/// its bytes; the common cases cost nothing: a UPN equal to the mail and the user type `Member`
/// are flags.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct CachedUser {
    packed: Box<[u8]>,
}

const ENABLED_KNOWN: u8 = 1;
const ENABLED: u8 = 2;
const UPN_IS_MAIL: u8 = 4;
const TYPE_MEMBER: u8 = 8;

impl CachedUser {
    pub(crate) fn from_wire(o: &WireObject) -> Self {
        let mut flags = 0;
        match o.account_enabled {
            Some(true) => flags |= ENABLED_KNOWN | ENABLED,
            Some(false) => flags |= ENABLED_KNOWN,
            None => {}
        }
        let mut upn = o.user_principal_name.as_deref();
        if upn.is_some() && upn == o.mail.as_deref() {
            flags |= UPN_IS_MAIL;
            upn = None;
        }
        let mut user_type = o.user_type.as_deref();
        if user_type == Some("Member") {
            flags |= TYPE_MEMBER;
            user_type = None;
        }
        let mut packed = vec![flags];
        for field in [
            o.display_name.as_deref(),
            o.given_name.as_deref(),
            o.surname.as_deref(),
            o.mail.as_deref(),
            upn,
            user_type,
        ] {
            put(&mut packed, field);
        }
        Self {
            packed: packed.into_boxed_slice(),
        }
    }

    pub(crate) fn from_entra(u: &EntraUser) -> Self {
        Self::from_wire(&WireObject {
            id: u.id.clone(),
            display_name: u.display_name.clone(),
            given_name: u.given_name.clone(),
            surname: u.surname.clone(),
            mail: u.mail.clone(),
            user_principal_name: u.user_principal_name.clone(),
            account_enabled: u.account_enabled,
            user_type: u.user_type.clone(),
            ..WireObject::default()
        })
    }

    pub(crate) fn to_entra(&self, id: &str) -> EntraUser {
        let (flags, mut text) = self
            .packed
            .split_first()
            .map_or((0, &[][..]), |(f, t)| (*f, t));
        let mut next = || take(&mut text).map(str::to_owned);
        let (display_name, given_name, surname, mail) = (next(), next(), next(), next());
        let (upn, user_type) = (next(), next());
        let has = |flag: u8| flags & flag != 0;
        EntraUser {
            id: id.to_owned(),
            user_principal_name: if has(UPN_IS_MAIL) { mail.clone() } else { upn },
            display_name,
            given_name,
            surname,
            mail,
            account_enabled: has(ENABLED_KNOWN).then_some(has(ENABLED)),
            user_type: if has(TYPE_MEMBER) {
                Some("Member".to_owned())
            } else {
                user_type
            },
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
    Hard,
}

/// Per-connector Graph state kept between syncs. Start with `GraphSyncState::default()`.
#[derive(Default)]
pub struct GraphSyncState {
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

    /// A 64-bit hash of everything `snapshot` reads (the groups and their members, the sync
    /// group's users' attributes, the deletion evidence, the problems, what is unsettled) and of
    /// the removals reported but not looked up yet, in a
    /// fixed order: equal fingerprints mean equal snapshots but for a 2⁻⁶⁴ chance. Costs one pass
    /// over the packed state, far less than building the snapshot.
    ///
    /// The hash is SipHash keyed at random once per process (`std`'s `RandomState`): the inputs
    /// are written by whoever edits the tenant, and a collision someone could craft offline
    /// would make a sync reuse a plan that no longer fits. It only has to agree with itself
    /// within one process, where the kept plan lives.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{BuildHasher, Hash, Hasher};
        static KEY: std::sync::LazyLock<std::hash::RandomState> =
            std::sync::LazyLock::new(std::hash::RandomState::new);
        let mut h = KEY.build_hasher();
        self.groups.len().hash(&mut h);
        for g in &self.groups {
            (&g.id, &g.name, &g.members).hash(&mut h);
        }
        if let Some(sync) = self.groups.first() {
            for id in sync.members.iter() {
                self.users.get(id).hash(&mut h);
            }
        }
        self.deleted.len().hash(&mut h);
        for id in self.deleted.keys() {
            id.hash(&mut h);
        }
        self.problems.hash(&mut h);
        self.unsettled.hash(&mut h);
        // Not in the snapshot, but it decides which departures are looked up.
        self.removal_reported.len().hash(&mut h);
        for id in &self.removal_reported {
            id.hash(&mut h);
        }
        h.finish()
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
        assert_eq!(
            std::mem::size_of::<CachedUser>(),
            16,
            "a boxed slice, no padded flags byte beside it"
        );
    }
}
