//! What a connector keeps between syncs: resolved groups, members, compact user attributes,
//! delta links and the time of the last full read.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use super::model::EntraUser;
use super::wire::WireObject;
use crate::resources::GroupSelector;

/// A user's attributes, kept small: the operator holds 100,000s of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CachedUser {
    display_name: Option<Box<str>>,
    given_name: Option<Box<str>>,
    surname: Option<Box<str>>,
    mail: Option<Box<str>>,
    user_principal_name: Option<Box<str>>,
    user_type: Option<Box<str>>,
    account_enabled: Option<bool>,
}

fn boxed(s: &Option<String>) -> Option<Box<str>> {
    s.as_deref().map(Box::from)
}

impl CachedUser {
    pub(crate) fn from_wire(o: &WireObject) -> Self {
        Self {
            display_name: boxed(&o.display_name),
            given_name: boxed(&o.given_name),
            surname: boxed(&o.surname),
            mail: boxed(&o.mail),
            user_principal_name: boxed(&o.user_principal_name),
            user_type: boxed(&o.user_type),
            account_enabled: o.account_enabled,
        }
    }

    pub(crate) fn to_entra(&self, id: &str) -> EntraUser {
        let s = |v: &Option<Box<str>>| v.as_deref().map(str::to_owned);
        EntraUser {
            id: id.to_owned(),
            display_name: s(&self.display_name),
            given_name: s(&self.given_name),
            surname: s(&self.surname),
            mail: s(&self.mail),
            user_principal_name: s(&self.user_principal_name),
            account_enabled: self.account_enabled,
            user_type: s(&self.user_type),
        }
    }
}

/// A group the connector reads: the sync group first, then the mirrored groups in spec order.
#[derive(Clone, Debug, Default)]
pub(crate) struct TrackedGroup {
    pub id: Box<str>,
    pub name: String,
    /// User members (transitive when nested groups are on).
    pub members: BTreeSet<Box<str>>,
    /// Groups nested (at any depth) under this one; empty when nested groups are off.
    pub nested: BTreeSet<Box<str>>,
}

/// Per-connector Graph state kept between syncs. Start with `GraphSyncState::default()`.
#[derive(Default)]
pub struct GraphSyncState {
    /// Selector → (id, display name), resolved once and re-resolved when a name changes.
    pub(crate) resolved: HashMap<GroupSelector, (Box<str>, String)>,
    /// What the tracked groups were read for: selectors and the nested flag.
    pub(crate) shape: Option<(Vec<GroupSelector>, bool)>,
    pub(crate) groups: Vec<TrackedGroup>,
    /// Attributes of the sync group's user members.
    pub(crate) users: HashMap<Box<str>, CachedUser>,
    /// Users learned deleted since the last full read.
    pub(crate) deleted: BTreeSet<Box<str>>,
    pub(crate) users_delta: Option<String>,
    pub(crate) groups_delta: Vec<String>,
    pub(crate) last_full: Option<Instant>,
}

impl GraphSyncState {
    /// Forgets the delta links so the next read is a full one.
    pub fn reset(&mut self) {
        self.users_delta = None;
        self.groups_delta.clear();
        self.last_full = None;
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
