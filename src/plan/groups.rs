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

use foldhash::HashMap as FastMap;

use super::conflicts;
use super::types::{Action, Conflict, DirectoryState, MemberRef};
use super::users::Member;
use crate::azure::model::{EntraGroup, EntraSnapshot};
use crate::passwordboss::model::{EVERYONE_GROUP, Group};

pub(super) struct GroupPlan {
    /// `CreateGroup` and `UpdateGroup` actions, each with the name it sorts by.
    pub upserts: Vec<(String, Action)>,
    /// `DeleteGroup` actions.
    pub deletes: Vec<Action>,
    pub conflicts: Vec<Conflict>,
}

pub(super) fn plan_groups(
    snapshot: &EntraSnapshot,
    state: &DirectoryState,
    members: &FastMap<&str, Member<'_>>,
) -> GroupPlan {
    let managed = managed_groups(state);
    let mut taken: HashSet<String> = state.groups.iter().map(|g| name_key(&g.name)).collect();
    let mut mirrored: HashSet<&str> = HashSet::new();
    let mut plan = GroupPlan {
        upserts: Vec::new(),
        deletes: Vec::new(),
        conflicts: Vec::new(),
    };
    for group in &snapshot.groups {
        if group.id == snapshot.sync_group_id || !mirrored.insert(&group.id) {
            continue;
        }
        let mut desired: Vec<Member<'_>> = group
            .members
            .iter()
            .filter_map(|id| members.get(id.as_str()).copied())
            .collect();
        desired.sort_unstable();
        desired.dedup();
        match managed.get(group.id.as_str()) {
            Some(existing) if desired.is_empty() && snapshot.complete => {
                plan.deletes.push(delete(existing));
            }
            Some(existing) => {
                let current = state.memberships.get(&existing.id);
                if !snapshot.complete {
                    desired = union(desired, current);
                }
                update(&mut plan, &mut taken, group, existing, &desired, current);
            }
            None if desired.is_empty() => {}
            None if taken.contains(&name_key(&group.display_name)) => {
                let conflict = conflicts::group_name_taken(group, &group.display_name, false);
                plan.conflicts.push(conflict);
            }
            None => {
                taken.insert(name_key(&group.display_name));
                let action = Action::CreateGroup {
                    external_id: group.id.clone(),
                    name: group.display_name.clone(),
                    members: desired.iter().map(|m| m.to_ref()).collect(),
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

fn update(
    plan: &mut GroupPlan,
    taken: &mut HashSet<String>,
    group: &EntraGroup,
    existing: &Group,
    desired: &[Member<'_>],
    current: Option<&BTreeSet<String>>,
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
    let members = (!same_members(desired, current)).then(|| {
        desired
            .iter()
            .map(|m| m.to_ref())
            .collect::<Vec<MemberRef>>()
    });
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
