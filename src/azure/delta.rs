//! An incremental read: one `$batch` replaying the users delta link and the groups delta
//! link(s). Changes are planned (pure), then the few extra reads they need run (attributes of
//! new members, re-reads of nested groups whose structure changed), then everything is applied
//! at once so a failure leaves the state untouched. An expired delta token surfaces as
//! `GraphError::DeltaExpired`, on which the caller runs a full read.
//!
//! Memberships follow the groups delta only. A users-delta `@removed` marks the user for a
//! lookup (`lookup.rs`); members whose attributes no users delta gave (replication lag) are
//! looked up too, and only a 404 on the lookup takes a member out as deleted.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use super::client::{GraphClient, USER_SELECT, enc};
use super::error::GraphError;
use super::full::{DELTA_FILTER_LIMIT, MemberRead, id_filter, parse_page};
use super::groups::concerns_one_group;
use super::member_set::MemberEdits;
use super::state::{CachedUser, GraphSyncState, ObjectId, UserMap};
use super::transport::failure_error;
use super::wire::WireObject;

/// What one delta round reported.
#[derive(Default)]
pub(crate) struct Changes {
    pub users: Vec<WireObject>,
    pub groups: Vec<WireObject>,
}

/// Extra reads a round needs before it can be applied.
#[derive(Default, Debug, PartialEq, Eq)]
pub(crate) struct DeltaWork {
    /// Users added to the sync group whose attributes are unknown.
    pub fetch: BTreeSet<String>,
    /// Tracked groups (by index) whose nested structure changed: read them again.
    pub reread: BTreeSet<usize>,
    /// A tracked group was deleted: only a full read can say what that means.
    pub full: bool,
}

impl GraphClient {
    pub(crate) async fn delta_read(
        &self,
        state: &mut GraphSyncState,
        nested: bool,
        deadline: Instant,
    ) -> Result<(), GraphError> {
        let mut urls = Vec::with_capacity(state.groups_delta.len() + 1);
        urls.extend(state.users_delta.iter().cloned());
        urls.extend(state.groups_delta.iter().cloned());
        let results = self.transport.batch(&urls, deadline).await?;
        let mut changes = Changes::default();
        let mut links = Vec::with_capacity(results.len());
        for (i, r) in results.into_iter().enumerate() {
            // A delta link that answers 404 followed a group that is gone: only a full read,
            // group by group, can say which (and resolve its selector again).
            let page = parse_page(r.map_err(|f| match f.status {
                404 => GraphError::DeltaExpired {
                    code: "a delta link answered 404".into(),
                },
                _ => failure_error(f),
            })?)?;
            let out = if i == 0 {
                &mut changes.users
            } else {
                &mut changes.groups
            };
            links.push(self.finish_delta_round(page, deadline, out).await?);
        }
        let work = plan(state, &changes);
        if work.full {
            return Err(GraphError::DeltaExpired {
                code: "a tracked group was deleted".into(),
            });
        }
        let fetched = self.fetch_users(&work.fetch, deadline).await?;
        let mut reread = HashMap::new();
        for &i in &work.reread {
            let g = &state.groups[i];
            let read = match self.read_members(&g.id, i == 0, nested, deadline).await {
                Ok(read) => read,
                // Gone or unreadable since the last read: the full read tells which, and makes
                // a mirrored group a problem of its own.
                Err(e) if concerns_one_group(&e) => {
                    return Err(GraphError::DeltaExpired {
                        code: format!("a tracked group could not be re-read: {e}"),
                    });
                }
                Err(e) => return Err(e),
            };
            reread.insert(i, read);
        }
        let structure_changed = reread
            .iter()
            .any(|(i, r)| r.nested != state.groups[*i].nested);
        apply(state, changes, fetched, reread);
        state.users_delta = Some(links.remove(0));
        state.groups_delta = links;
        if structure_changed {
            // New nested groups must be tracked too: one more `$deltatoken=latest` round.
            let (_, groups) = self.bootstrap_delta(&state.groups, false, deadline).await?;
            state.groups_delta = groups;
        }
        self.retry_problems(state, nested, deadline).await?;
        state.unsettled = self.settle_members(state, deadline).await;
        Ok(())
    }

    /// Attributes of `ids`; `None` for users that no longer exist. Group delta names new members
    /// by id only, so their attributes are read with initial users-delta queries filtered by id:
    /// 50 ids per query (the `$filter` limit), 20 queries per `$batch`, so one request brings up
    /// to 1,000 users (one `GET /users/{id}` each would be 20). An initial round lists the users
    /// that exist; soft- and hard-deleted ones are absent.
    async fn fetch_users(
        &self,
        ids: &BTreeSet<String>,
        deadline: Instant,
    ) -> Result<HashMap<String, Option<CachedUser>>, GraphError> {
        let ids: Vec<&String> = ids.iter().collect();
        let urls: Vec<String> = ids
            .chunks(DELTA_FILTER_LIMIT)
            .map(|chunk| {
                format!(
                    "/users/delta?$filter={}&$select={USER_SELECT}",
                    enc(&id_filter(chunk.iter().map(|id| id.as_str())))
                )
            })
            .collect();
        if urls.is_empty() {
            return Ok(HashMap::new());
        }
        let mut out: HashMap<String, Option<CachedUser>> =
            ids.iter().map(|id| ((*id).clone(), None)).collect();
        for result in self.transport.batch(&urls, deadline).await? {
            let page = parse_page(result.map_err(failure_error)?)?;
            let mut objects = Vec::new();
            self.finish_delta_round(page, deadline, &mut objects)
                .await?;
            for o in objects {
                if o.removed.is_some() {
                    continue;
                }
                match out.get_mut(&o.id) {
                    Some(slot) => *slot = Some(CachedUser::from_wire(&o)),
                    // Not asked for: nothing to record, and no reason to fail the read.
                    None => tracing::warn!(
                        user = %o.id,
                        "a users delta filtered by id returned a user that was not asked for"
                    ),
                }
            }
        }
        Ok(out)
    }
}

fn is_group_ref(t: &Option<String>) -> bool {
    t.as_deref() == Some("#microsoft.graph.group")
}

/// Decides the extra reads a round needs (pure). A users-delta `@removed` is no evidence that a
/// user left every group (replays happen), so a member removed from a group with nested groups
/// always costs a re-read of that group.
pub(crate) fn plan(state: &GraphSyncState, changes: &Changes) -> DeltaWork {
    let mut work = DeltaWork::default();
    let seen_users: BTreeSet<&str> = changes
        .users
        .iter()
        .filter(|u| u.removed.is_none())
        .map(|u| u.id.as_str())
        .collect();
    for g in &changes.groups {
        for (i, t) in state.groups.iter().enumerate() {
            let direct = *t.id == *g.id;
            if !direct && !t.nested.contains(g.id.as_str()) {
                continue;
            }
            if g.removed.is_some() {
                work.full = true;
            }
            for m in g.members_delta.iter().flatten() {
                if is_group_ref(&m.odata_type) {
                    work.reread.insert(i);
                } else if m.removed.is_some() {
                    // Still a member through another path? Only a re-read can tell, unless
                    // the group has no nested groups.
                    if !(direct && t.nested.is_empty()) {
                        work.reread.insert(i);
                    }
                } else if i == 0
                    && !state.users.contains_key(&ObjectId::from(m.id.as_str()))
                    && !seen_users.contains(m.id.as_str())
                {
                    work.fetch.insert(m.id.clone());
                }
            }
        }
    }
    if work.reread.contains(&0) {
        work.fetch.clear();
    }
    work
}

/// Applies a round and its extra reads to the state.
pub(crate) fn apply(
    state: &mut GraphSyncState,
    changes: Changes,
    fetched: HashMap<String, Option<CachedUser>>,
    mut reread: HashMap<usize, MemberRead>,
) {
    let mut seen: UserMap = UserMap::default();
    // Membership changes are collected per group and merged in once at the end.
    let mut edits: Vec<MemberEdits> = state
        .groups
        .iter()
        .map(|_| MemberEdits::default())
        .collect();
    let mut left_sync_group: Vec<ObjectId> = Vec::new();
    for u in &changes.users {
        let id = ObjectId::from(u.id.as_str());
        if u.removed.is_some() {
            // A hint, not evidence: memberships follow the groups delta, and a member of the
            // sync group reported removed is looked up (`settle_members`, `classify_departures`).
            if state.users.contains_key(&id) {
                state.removal_reported.insert(id);
            }
        } else {
            state.deleted.remove(&id);
            state.removal_reported.remove(&id);
            let attrs = CachedUser::from_wire(u);
            if let Some(cached) = state.users.get_mut(&id) {
                *cached = attrs;
            } else {
                seen.insert(id, attrs);
            }
        }
    }
    for g in &changes.groups {
        for (i, (t, t_edits)) in state.groups.iter_mut().zip(&mut edits).enumerate() {
            let direct = *t.id == *g.id;
            if !direct && !t.nested.contains(g.id.as_str()) {
                continue;
            }
            if direct && let Some(name) = &g.display_name {
                t.name = name.clone();
                for (_, (id, n)) in state.resolved.iter_mut() {
                    if *id == t.id {
                        *n = name.clone();
                    }
                }
            }
            if reread.contains_key(&i) {
                continue;
            }
            for m in g.members_delta.iter().flatten() {
                if is_group_ref(&m.odata_type) {
                    continue;
                }
                let id = ObjectId::from(m.id.as_str());
                if m.removed.is_some() {
                    if i == 0 {
                        left_sync_group.push(id.clone());
                    }
                    t_edits.remove(id);
                    continue;
                }
                // A member the users delta did not list (replication lag, or deleted since) is
                // a member without attributes until `settle_members` looks it up.
                if i == 0 && !state.users.contains_key(&id) {
                    let attrs = seen
                        .get(&id)
                        .cloned()
                        .or_else(|| fetched.get(m.id.as_str()).cloned().flatten());
                    if let Some(a) = attrs {
                        state.users.insert(id.clone(), a);
                    }
                }
                t_edits.add(id);
            }
        }
    }
    for (t, t_edits) in state.groups.iter_mut().zip(edits) {
        t.members.apply(t_edits);
    }
    // Attributes are dropped only for users out of the sync group once the whole round is in:
    // a round can report a removal and a re-add of the same member (replays happen).
    if let Some(sync) = state.groups.first() {
        for id in left_sync_group {
            if !sync.members.contains(&id) {
                state.users.remove(&id);
            }
        }
    }
    for (i, read) in reread.drain() {
        let t = &mut state.groups[i];
        t.members = read.members;
        t.nested = read.nested;
        if i == 0 {
            // Listed as members just now: they exist, whatever a users delta said.
            state
                .removal_reported
                .retain(|id| !read.users.contains_key(id));
            state.deleted.retain(|id, _| !read.users.contains_key(id));
            state.users = read.users;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::azure::state::TrackedGroup;

    fn user(id: &str) -> WireObject {
        serde_json::from_value(json!({"id": id, "displayName": "Ada Lovelace"})).unwrap()
    }

    /// A round may report a member's removal and its re-add (Graph replays changes): the member
    /// stays, with its attributes, and is not taken for deleted.
    #[test]
    fn a_member_removed_and_added_back_in_one_round_stays() {
        let id = "00000000-0000-4000-8000-000000000001";
        let mut state = GraphSyncState::default();
        state.groups.push(TrackedGroup {
            id: "sync".into(),
            members: [ObjectId::from(id)].into_iter().collect(),
            ..TrackedGroup::default()
        });
        state
            .users
            .insert(ObjectId::from(id), CachedUser::from_wire(&user(id)));
        let member = |removed: bool| {
            let mut m = json!({"@odata.type": "#microsoft.graph.user", "id": id});
            if removed {
                m["@removed"] = json!({"reason": "deleted"});
            }
            m
        };
        let group: WireObject = serde_json::from_value(
            json!({"id": "sync", "members@delta": [member(true), member(false)]}),
        )
        .unwrap();
        let changes = Changes {
            users: Vec::new(),
            groups: vec![group],
        };
        assert_eq!(
            plan(&state, &changes),
            DeltaWork::default(),
            "nothing to fetch"
        );
        apply(&mut state, changes, HashMap::new(), HashMap::new());
        let snap = state.snapshot();
        assert!(snap.complete);
        assert!(snap.deleted.is_empty());
        assert_eq!(snap.users[id].display_name.as_deref(), Some("Ada Lovelace"));
    }
}
