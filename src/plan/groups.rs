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
//! Groups `managedBy: Azure AD` whose externalId is no mirrored group are deleted when the
//! connector owns them (`owned`: created or adopted by it, by Entra id), the snapshot is complete
//! and no mirrored group is unreadable; groups of other connectors are never touched. Names are
//! compared case-insensitively. A name counts as taken if any Password Boss group holds it before
//! the plan, or this plan creates or renames a group to it; names freed by this plan's renames and
//! deletes are not reused in the same plan (group writes run before group deletes), so such a
//! create or rename happens on the next sync.
//!
//! With an incomplete snapshot nothing is deleted and membership only grows (desired ∪ current).
//! The Everyone group and groups of any other `managedBy` are never touched.

use std::collections::{BTreeSet, HashMap, HashSet};

use foldhash::HashSet as FastSet;

use super::conflicts;
use super::digest::{DirectoryDigest, MemberSetHash, id_prefix, key_hash};
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

/// Groups with at least this many members in all are worked out on several threads.
const PARALLEL_FROM: usize = 20_000;

/// What a mirrored group's members come to.
enum Members {
    /// No member has a usable account (and, for a group that exists, the snapshot is complete).
    Empty,
    /// The group exists and its membership stays as it is.
    Unchanged,
    /// The membership to write, sorted.
    List(Vec<MemberRef>),
}

/// `members` is `UserPlan::members`. With `fast`, a group whose desired member set hashes equal
/// to its current one keeps its members without either list being built. The memberships are
/// worked out first (on several threads when the groups are large), then names are decided in
/// `snapshot.groups` order.
pub(super) fn plan_groups(
    scope: &Scope<'_, '_>,
    state: &DirectoryState,
    directory: &DirectoryDigest,
    members: &[Option<Slot>],
    owned: &[String],
    fast: bool,
) -> GroupPlan {
    let snapshot = scope.snapshot;
    let managed = managed_groups(state);
    let mut mirrored: HashSet<&str> = HashSet::new();
    let work: Vec<(&EntraGroup, &[u32], Option<&Group>)> = snapshot
        .groups
        .iter()
        .zip(&scope.digest.groups)
        .filter(|(g, _)| g.id != snapshot.sync_group_id && mirrored.insert(&g.id))
        .map(|(g, positions)| (g, positions.as_slice(), managed.get(g.id.as_str()).copied()))
        .collect();
    let size: usize = work.iter().map(|(_, positions, _)| positions.len()).sum();
    let threads = if size >= PARALLEL_FROM {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        1
    };
    let context = Context {
        scope,
        state,
        directory,
        members,
        fast,
    };
    let memberships = map_parallel(&work, threads, |(_, positions, existing)| {
        context.members_of(positions, *existing)
    });

    let mut taken: HashSet<String> = state.groups.iter().map(|g| name_key(&g.name)).collect();
    let mut plan = GroupPlan {
        upserts: Vec::new(),
        deletes: Vec::new(),
        conflicts: Vec::new(),
    };
    for ((group, _, existing), membership) in work.into_iter().zip(memberships) {
        match (existing, membership) {
            (Some(existing), Members::Empty) => plan.deletes.push(delete(existing)),
            (Some(existing), Members::List(list)) => {
                update(&mut plan, &mut taken, group, existing, Some(list));
            }
            (Some(existing), Members::Unchanged) => {
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
    directory: &'c DirectoryDigest,
    members: &'c [Option<Slot>],
    fast: bool,
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
        if complete && in_group().next().is_none() {
            return Members::Empty;
        }
        // Equal sets stay equal under the union an incomplete snapshot takes.
        let unchanged = self.fast
            && self
                .directory
                .memberships
                .get(&existing.id)
                .is_some_and(|hash| {
                    set_hash(in_group().map(|(slot, _)| slot), self.directory) == Some(*hash)
                });
        if unchanged {
            return Members::Unchanged;
        }
        let current = self.state.memberships.get(&existing.id);
        if self.fast {
            return self.edit_current(in_group(), current);
        }
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

    /// The desired membership made from the current one, which is already sorted: its members
    /// still wanted, then those to add, merged in order, then the ones this plan creates. A
    /// current member counts as wanted when its id hashes like a wanted account's (the digests'
    /// rule: equal hashes can only leave a change unmade), so the sort touches only the members
    /// that change. With an incomplete snapshot no member is dropped.
    fn edit_current(
        &self,
        in_group: impl Iterator<Item = (Slot, u32)>,
        current: Option<&BTreeSet<String>>,
    ) -> Members {
        let accounts = &self.directory.accounts;
        let mut wanted: FastSet<u64> = FastSet::default();
        let mut accounts_wanted = Vec::new();
        let mut created = Vec::new();
        for (slot, i) in in_group {
            match slot {
                Slot::Account(p) => {
                    if wanted.insert(accounts[p as usize].id) {
                        accounts_wanted.push(p as usize);
                    }
                }
                Slot::Created => {
                    let id = &self.scope.users[i as usize].id;
                    created.push((true, id_prefix(id), Member::Created(id)));
                }
            }
        }
        let complete = self.scope.snapshot.complete;
        let mut held: FastSet<u64> = FastSet::default();
        let mut kept: Vec<&str> = Vec::new();
        let mut dropped = false;
        for id in current.into_iter().flatten() {
            let hash = key_hash(id);
            held.insert(hash);
            if !complete || wanted.contains(&hash) {
                kept.push(id);
            } else {
                dropped = true;
            }
        }
        let added: Vec<(bool, u128, Member<'_>)> = accounts_wanted
            .into_iter()
            .filter(|&p| !held.contains(&accounts[p].id))
            .map(|p| {
                (
                    false,
                    accounts[p].id_prefix,
                    Member::User(&self.state.users[p].id),
                )
            })
            .collect();
        if !dropped && added.is_empty() && created.is_empty() {
            return Members::Unchanged;
        }
        let added = sorted_members(added);
        let mut list = Vec::with_capacity(kept.len() + added.len() + created.len());
        let mut added = added.into_iter().peekable();
        for id in kept {
            while let Some(add) = added.next_if(|a| *a < Member::User(id)) {
                list.push(add.to_ref());
            }
            list.push(MemberRef::User(id.to_owned()));
        }
        list.extend(added.map(Member::to_ref));
        list.extend(sorted_members(created).into_iter().map(Member::to_ref));
        Members::List(list)
    }

    /// The members, sorted, without repeats.
    fn desired(&self, in_group: impl Iterator<Item = (Slot, u32)>) -> Vec<Member<'_>> {
        let keyed = in_group.map(|(slot, i)| match slot {
            Slot::Account(p) => {
                let prefix = self.directory.accounts[p as usize].id_prefix;
                (
                    false,
                    prefix,
                    Member::User(&self.state.users[p as usize].id),
                )
            }
            Slot::Created => {
                let id = &self.scope.users[i as usize].id;
                (true, id_prefix(id), Member::Created(id))
            }
        });
        sorted_members(keyed.collect())
    }
}

fn to_refs(members: &[Member<'_>]) -> Vec<MemberRef> {
    members.iter().map(|m| m.to_ref()).collect()
}

/// `f` of each item, in order, on up to `threads` threads (items taken in turn, so that large
/// and small items spread evenly).
fn map_parallel<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = threads.min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let f = &f;
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mine = items.iter().enumerate().skip(t).step_by(threads);
                    mine.map(|(i, item)| (i, f(item))).collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
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

/// Members in `Member` order, without repeats. Each comes with whether it is created and its
/// id's prefix (`digest::id_prefix`), which order like the members wherever they differ, so the
/// sort reads an id only on a tie.
fn sorted_members(mut keyed: Vec<(bool, u128, Member<'_>)>) -> Vec<Member<'_>> {
    keyed.sort_unstable();
    let mut members: Vec<Member<'_>> = keyed.into_iter().map(|(_, _, m)| m).collect();
    members.dedup();
    members
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

#[cfg(test)]
mod tests {
    use super::map_parallel;

    /// Results come back in the items' order whatever the number of threads.
    #[test]
    fn parallel_map_keeps_the_order() {
        let items: Vec<u32> = (0..101).collect();
        let expected: Vec<u32> = items.iter().map(|x| x * x).collect();
        for threads in [0, 1, 2, 3, 8, 200] {
            assert_eq!(
                map_parallel(&items, threads, |x| x * x),
                expected,
                "{threads}"
            );
        }
    }
}
