//! Mirrored Entra groups → Password Boss group actions (rule 9).
//!
//! A group's desired members are its members that have a usable account after this plan (see
//! `UserPlan::members`), sorted. For each mirrored group (deduplicated by id, never the sync
//! group), in `snapshot.groups` order:
//! - its Password Boss group (`managedBy: Azure AD`, `externalId` = Entra id) exists: no desired
//!   member → `DeleteGroup`; else one `UpdateGroup` carrying a rename when the Entra display name
//!   changed and the new name is free, and the membership when it differs;
//! - it does not: no desired member → nothing; its name taken → `GroupNameTaken`; else
//!   `CreateGroup`.
//!
//! Groups `managedBy: Azure AD` whose externalId is no mirrored group are deleted. Names are
//! compared case-insensitively. A name counts as taken if any Password Boss group holds it before
//! the plan, or this plan creates or renames a group to it; names freed by this plan's renames and
//! deletes are not reused in the same plan (group writes run before group deletes), so such a
//! create or rename happens on the next sync.
//!
//! With an incomplete snapshot nothing is deleted and membership only grows (desired ∪ current).
//! The Everyone group and groups of any other `managedBy` are never touched.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::conflicts;
use super::digest::{DirectoryDigest, MemberSetHash};
use super::leave::Scope;
use super::types::{Action, Conflict, DirectoryState, MemberRef};
use super::users::{Member, Slot};
use crate::azure::model::EntraGroup;
use crate::passwordboss::model::{EVERYONE_GROUP, Group};

pub(super) struct GroupPlan {
    /// `CreateGroup` and `UpdateGroup` actions, each with the name it sorts by.
    pub upserts: Vec<(String, Action)>,
    /// `DeleteGroup` actions.
    pub deletes: Vec<Action>,
    pub conflicts: Vec<Conflict>,
}

/// `members` is `UserPlan::members`. With `fast`, a group whose desired member set hashes equal
/// to its current one keeps its members without either list being built.
pub(super) fn plan_groups(
    scope: &Scope<'_, '_>,
    state: &DirectoryState,
    directory: &DirectoryDigest,
    members: &[Option<Slot>],
    fast: bool,
) -> GroupPlan {
    let snapshot = scope.snapshot;
    let managed = managed_groups(state);
    let mut taken: HashSet<String> = state.groups.iter().map(|g| name_key(&g.name)).collect();
    let mut mirrored: HashSet<&str> = HashSet::new();
    let mut plan = GroupPlan {
        upserts: Vec::new(),
        deletes: Vec::new(),
        conflicts: Vec::new(),
    };
    for (group, positions) in snapshot.groups.iter().zip(&scope.digest.groups) {
        if group.id == snapshot.sync_group_id || !mirrored.insert(&group.id) {
            continue;
        }
        let in_group = || {
            positions
                .iter()
                .filter_map(|&i| Some((members[i as usize]?, i)))
        };
        let desired = || {
            let mut desired: Vec<Member<'_>> = in_group()
                .map(|(slot, i)| member(scope, state, slot, i))
                .collect();
            sort_members(&mut desired);
            desired
        };
        let has_members = in_group().next().is_some();
        match managed.get(group.id.as_str()) {
            Some(existing) if !has_members && snapshot.complete => {
                plan.deletes.push(delete(existing));
            }
            Some(existing) => {
                let current = state.memberships.get(&existing.id);
                // Equal sets stay equal under the union an incomplete snapshot takes.
                let unchanged = fast
                    && directory.memberships.get(&existing.id).is_some_and(|hash| {
                        set_hash(in_group().map(|(slot, _)| slot), directory) == Some(*hash)
                    });
                let change = if unchanged {
                    None
                } else {
                    let mut desired = desired();
                    if !snapshot.complete {
                        desired = union(desired, current);
                    }
                    (!same_members(&desired, current))
                        .then(|| desired.iter().map(|m| m.to_ref()).collect())
                };
                update(&mut plan, &mut taken, group, existing, change);
            }
            None if !has_members => {}
            None if taken.contains(&name_key(&group.display_name)) => {
                let conflict = conflicts::group_name_taken(group, &group.display_name, false);
                plan.conflicts.push(conflict);
            }
            None => {
                taken.insert(name_key(&group.display_name));
                let action = Action::CreateGroup {
                    external_id: group.id.clone(),
                    name: group.display_name.clone(),
                    members: desired().iter().map(|m| m.to_ref()).collect(),
                };
                plan.upserts.push((group.display_name.clone(), action));
            }
        }
    }
    if snapshot.complete {
        for (external_id, existing) in &managed {
            if !mirrored.contains(external_id) {
                plan.deletes.push(delete(existing));
            }
        }
    }
    plan
}

/// A member slot as the member it is.
fn member<'a>(scope: &Scope<'_, 'a>, state: &'a DirectoryState, slot: Slot, i: u32) -> Member<'a> {
    match slot {
        Slot::Account(p) => Member::User(&state.users[p as usize].id),
        Slot::Created => Member::Created(&scope.users[i as usize].id),
    }
}

/// The member set hash of existing accounts; `None` when a member is yet to be created.
fn set_hash(
    slots: impl Iterator<Item = Slot>,
    directory: &DirectoryDigest,
) -> Option<MemberSetHash> {
    let mut hash = MemberSetHash::default();
    for slot in slots {
        match slot {
            Slot::Account(p) => hash.add(directory.accounts[p as usize].id),
            Slot::Created => return None,
        }
    }
    Some(hash)
}

/// Groups the connector owns, by Entra id (first in `state.groups` wins; never Everyone).
fn managed_groups(state: &DirectoryState) -> HashMap<&str, &Group> {
    let mut managed = HashMap::new();
    for group in &state.groups {
        if group.is_managed_by_azure_ad()
            && group.name != EVERYONE_GROUP
            && let Some(external_id) = group.external_id.as_deref()
        {
            managed.entry(external_id).or_insert(group);
        }
    }
    managed
}

/// One `UpdateGroup` with a rename when the Entra name changed and is free, and `members` when
/// the membership changes; nothing when neither does.
fn update(
    plan: &mut GroupPlan,
    taken: &mut HashSet<String>,
    group: &EntraGroup,
    existing: &Group,
    members: Option<Vec<MemberRef>>,
) {
    let mut rename = None;
    if group.display_name != existing.name {
        let key = name_key(&group.display_name);
        if key != name_key(&existing.name) && taken.contains(&key) {
            let conflict = conflicts::group_name_taken(group, &group.display_name, true);
            plan.conflicts.push(conflict);
        } else {
            taken.insert(key);
            rename = Some(group.display_name.clone());
        }
    }
    if rename.is_none() && members.is_none() {
        return;
    }
    let sort_name = rename.clone().unwrap_or_else(|| existing.name.clone());
    let action = Action::UpdateGroup {
        group_id: existing.id.clone(),
        external_id: group.id.clone(),
        name: existing.name.clone(),
        rename,
        members,
    };
    plan.upserts.push((sort_name, action));
}

/// Whether a sorted desired membership equals the current one (created users never do).
fn same_members(desired: &[Member<'_>], current: Option<&BTreeSet<String>>) -> bool {
    let empty = BTreeSet::new();
    let current = current.unwrap_or(&empty);
    desired.len() == current.len()
        && desired.iter().zip(current).all(|(d, c)| match d {
            Member::User(id) => id == c,
            Member::Created(_) => false,
        })
}

/// Sorts and deduplicates members in `Member` order, reading each id once: the comparisons
/// look at the first 16 bytes kept beside it (which order like the whole id wherever they
/// differ) and read the ids again only on a tie.
fn sort_members(members: &mut Vec<Member<'_>>) {
    fn prefix(id: &str) -> u128 {
        let mut bytes = [0u8; 16];
        let n = id.len().min(16);
        bytes[..n].copy_from_slice(&id.as_bytes()[..n]);
        u128::from_be_bytes(bytes)
    }
    let mut keyed: Vec<(bool, u128, Member<'_>)> = members
        .iter()
        .map(|m| match m {
            Member::User(id) => (false, prefix(id), *m),
            Member::Created(id) => (true, prefix(id), *m),
        })
        .collect();
    keyed.sort_unstable();
    members.clear();
    members.extend(keyed.into_iter().map(|(_, _, m)| m));
    members.dedup();
}

fn union<'a>(desired: Vec<Member<'a>>, current: Option<&'a BTreeSet<String>>) -> Vec<Member<'a>> {
    let mut all: BTreeSet<Member<'a>> = desired.into_iter().collect();
    all.extend(current.into_iter().flatten().map(|id| Member::User(id)));
    all.into_iter().collect()
}

fn delete(group: &Group) -> Action {
    Action::DeleteGroup {
        group_id: group.id.clone(),
        name: group.name.clone(),
    }
}

fn name_key(name: &str) -> String {
    name.to_lowercase()
}
