//! Mirrored Entra groups → Password Boss group actions (rule 9).
//!
//! A group's desired members are its members that have a usable account after this plan (see
//! `UserPlan::members`), sorted. For each mirrored group (deduplicated by id, never the sync
//! group), in `snapshot.groups` order:
//! - its Password Boss group (`managedBy: Azure AD`, `externalId` = Entra id) exists: one
//!   `UpdateGroup` carrying a rename when the Entra display name changed and the new name is
//!   free, and the membership when it differs. A group with no desired member left is kept,
//!   emptied (each member removed is a destructive change for the safety gate), never deleted:
//!   the items shared with it stay shared with the group;
//! - it does not: no desired member → nothing; its name taken → `GroupNameTaken`; else
//!   `CreateGroup`.
//!
//! Groups `managedBy: Azure AD` whose externalId is no mirrored group (dropped from
//! `spec.groups`) are deleted when the connector owns them (`owned`: created or adopted by it, by
//! Entra id), the snapshot is complete and no mirrored group is unreadable (a group deleted in
//! Entra is unreadable: it is kept until it leaves `spec.groups`); groups of other connectors are
//! never touched. The safety gate holds each such delete for `removalGracePeriod`. Names are
//! compared case-insensitively. A name counts as taken if any Password Boss group holds it before
//! the plan, or this plan creates or renames a group to it; names freed by this plan's renames and
//! deletes are not reused in the same plan (group writes run before group deletes), so such a
//! create or rename happens on the next sync.
//!
//! With an incomplete snapshot nothing is deleted and membership only grows (desired ∪ current).
//! The Everyone group and groups of any other `managedBy` are never touched.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::conflicts;
use super::leave::Scope;
use super::types::{Action, Conflict, DirectoryState, MemberRef};
use super::users::{Member, Slot};
use crate::domain::EntraGroup;
use crate::domain::{EVERYONE_GROUP, Group, Owner};

pub(super) struct GroupPlan {
    /// `CreateGroup` and `UpdateGroup` actions, each with the name it sorts by.
    pub upserts: Vec<(String, Action)>,
    /// `DeleteGroup` actions.
    pub deletes: Vec<Action>,
    pub conflicts: Vec<Conflict>,
}

/// What a mirrored group's members come to.
enum Members {
    /// The group does not exist and no member has a usable account.
    Empty,
    /// The group exists and its membership stays as it is.
    Unchanged,
    /// The membership to write, sorted.
    List(Vec<MemberRef>),
}

/// `members` is `UserPlan::members`. Names are decided in `snapshot.groups` order.
pub(super) fn plan_groups(
    scope: &Scope<'_, '_>,
    state: &DirectoryState,
    members: &[Option<Slot>],
    owned: &[String],
) -> GroupPlan {
    let snapshot = scope.snapshot;
    let managed = managed_groups(state);
    let position: HashMap<&str, u32> = (0u32..)
        .zip(scope.users)
        .map(|(i, u)| (u.id.as_str(), i))
        .collect();
    let mut mirrored: HashSet<&str> = HashSet::new();
    let work: Vec<(&EntraGroup, Vec<u32>, Option<&Group>)> = snapshot
        .groups
        .iter()
        .filter(|g| g.id != snapshot.sync_group_id && mirrored.insert(&g.id))
        .map(|g| {
            let in_scope = g
                .members
                .iter()
                .filter_map(|m| position.get(m.as_str()).copied())
                .collect();
            (g, in_scope, managed.get(g.id.as_str()).copied())
        })
        .collect();
    let context = Context {
        scope,
        state,
        members,
    };
    let memberships: Vec<Members> = work
        .iter()
        .map(|(_, positions, existing)| context.members_of(positions, *existing))
        .collect();

    let mut taken: HashSet<String> = state.groups.iter().map(|g| name_key(&g.name)).collect();
    let mut plan = GroupPlan {
        upserts: Vec::new(),
        deletes: Vec::new(),
        conflicts: Vec::new(),
    };
    for ((group, _, existing), membership) in work.into_iter().zip(memberships) {
        match (existing, membership) {
            (Some(existing), Members::List(list)) => {
                update(&mut plan, &mut taken, group, existing, Some(list));
            }
            (Some(existing), Members::Unchanged | Members::Empty) => {
                update(&mut plan, &mut taken, group, existing, None);
            }
            (None, Members::Empty | Members::Unchanged) => {}
            (None, Members::List(_)) if taken.contains(&name_key(&group.display_name)) => {
                let conflict = conflicts::group_name_taken(group, &group.display_name, false);
                plan.conflicts.push(conflict);
            }
            (None, Members::List(list)) => {
                taken.insert(name_key(&group.display_name));
                let action = Action::CreateGroup {
                    external_id: group.id.clone(),
                    name: group.display_name.clone(),
                    members: list,
                };
                plan.upserts.push((group.display_name.clone(), action));
            }
        }
    }
    // A group left out of the snapshot is deleted only when the connector owns it, the read is
    // complete and no mirrored group is unreadable (it may be the one left out).
    if snapshot.complete && snapshot.group_problems.is_empty() {
        let owned: HashSet<&str> = owned.iter().map(String::as_str).collect();
        for (external_id, existing) in &managed {
            if !mirrored.contains(external_id) && owned.contains(external_id) {
                plan.deletes.push(delete(existing));
            }
        }
    }
    plan
}

/// What working out a group's members reads.
struct Context<'c, 's, 'a> {
    scope: &'c Scope<'s, 'a>,
    state: &'a DirectoryState,
    members: &'c [Option<Slot>],
}

impl Context<'_, '_, '_> {
    /// The members of the group whose in-scope users are at `positions`; `existing` is its
    /// Password Boss group, if it has one.
    fn members_of(&self, positions: &[u32], existing: Option<&Group>) -> Members {
        let in_group = || {
            positions
                .iter()
                .filter_map(|&i| Some((self.members[i as usize]?, i)))
        };
        let complete = self.scope.snapshot.complete;
        let Some(existing) = existing else {
            return match in_group().next() {
                None => Members::Empty,
                Some(_) => Members::List(to_refs(&self.desired(in_group()))),
            };
        };
        let current = self.state.memberships.get(&existing.id);
        let mut desired = self.desired(in_group());
        if !complete {
            desired = union(desired, current);
        }
        if same_members(&desired, current) {
            Members::Unchanged
        } else {
            Members::List(to_refs(&desired))
        }
    }

    /// The members, sorted, without repeats.
    fn desired(&self, in_group: impl Iterator<Item = (Slot, u32)>) -> Vec<Member<'_>> {
        let mut members: Vec<Member<'_>> = in_group
            .map(|(slot, i)| match slot {
                Slot::Account(p) => Member::User(&self.state.users[p as usize].id),
                Slot::Created => Member::Created(&self.scope.users[i as usize].id),
            })
            .collect();
        members.sort_unstable();
        members.dedup();
        members
    }
}

fn to_refs(members: &[Member<'_>]) -> Vec<MemberRef> {
    members.iter().map(|m| m.to_ref()).collect()
}

/// Groups the connector owns, by Entra id (never Everyone). Should two claim one Entra id, the
/// one of the least id: as for accounts (`DirectoryIndex`), the plan does not depend on the order
/// the groups were listed in.
fn managed_groups(state: &DirectoryState) -> HashMap<&str, &Group> {
    let mut managed: HashMap<&str, &Group> = HashMap::new();
    for group in &state.groups {
        if group.owner == Owner::AzureAd
            && group.name != EVERYONE_GROUP
            && let Some(external_id) = group.external_id.as_deref()
        {
            managed
                .entry(external_id)
                .and_modify(|kept| {
                    if group.id < kept.id {
                        *kept = group;
                    }
                })
                .or_insert(group);
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
