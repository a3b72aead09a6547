//! Per-group isolation. The groups of a read are resolved (selector → id, cached) and read one
//! by one. The sync group must be readable: any failure of it fails the read. A mirrored group
//! (`spec.groups`) that is missing, ambiguous or unreadable (403/404 on its members, a malformed
//! answer) becomes a `GroupProblem` instead, is left out of the snapshot's groups, and the users
//! and the other groups still sync. Service-wide failures (throttling, outages, the deadline,
//! refused credentials) still fail the read, whichever group met them.
//!
//! A 404 on a cached group id drops that selector's cache entry and, for a name selector,
//! resolves the name again at once: a group deleted and recreated under the same name is picked
//! up without a restart. Problem groups are tried again on every delta read (`retry_problems`),
//! one resolution (and one member read when it resolves) each.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use super::client::{GraphClient, failure_error_for, resolve_url, resolved_from};
use super::error::GraphError;
use super::state::{GraphSyncState, TrackedGroup, UserMap};
use crate::domain::GroupProblem;
use crate::resources::GroupSelector;

/// What reading some of the tracked groups gave.
pub(crate) struct GroupsRead {
    /// Readable groups (`spec_index` set), in spec order.
    pub groups: Vec<TrackedGroup>,
    /// The attributes of the sync group's users, when it was read.
    pub users: Option<UserMap>,
    /// Mirrored groups that could not be read, with their spec positions.
    pub problems: Vec<(usize, GroupProblem)>,
}

/// `displayName: HR` or `id: 1111…`: the selector as written in the spec.
pub(crate) fn selector_text(sel: &GroupSelector) -> String {
    match (&sel.id, &sel.display_name) {
        (Some(id), _) => format!("id: {id}"),
        (None, Some(name)) => format!("displayName: {name}"),
        (None, None) => "(no id or displayName)".into(),
    }
}

/// Errors that concern one group only; the rest fail the whole read.
pub(crate) fn concerns_one_group(e: &GraphError) -> bool {
    match e {
        GraphError::GroupNotFound { .. }
        | GraphError::GroupAmbiguous { .. }
        | GraphError::Protocol { .. }
        | GraphError::Paging(_)
        | GraphError::TooLarge { .. } => true,
        GraphError::GraphRefused { status, .. } => *status == 403,
        _ => false,
    }
}

fn problem(sel: &GroupSelector, group_id: Option<&str>, e: &GraphError) -> GroupProblem {
    let what = match e {
        GraphError::GroupNotFound { .. } | GraphError::GroupAmbiguous { .. } => e.to_string(),
        _ => format!("the members of {sel} could not be read: {e}"),
    };
    GroupProblem {
        selector: selector_text(sel),
        group_id: group_id.map(str::to_owned),
        message: format!("{what}; the users and the other groups still sync"),
    }
}

impl GraphClient {
    /// Resolves (when not cached) and reads the groups at `positions` of `selectors` (position
    /// 0 is the sync group, read with its users' attributes).
    pub(crate) async fn read_groups(
        &self,
        state: &mut GraphSyncState,
        selectors: &[GroupSelector],
        positions: &[usize],
        nested: bool,
        deadline: Instant,
    ) -> Result<GroupsRead, GraphError> {
        let wanted: Vec<&GroupSelector> = positions.iter().map(|&i| &selectors[i]).collect();
        let (fresh, mut unresolved) = self.resolve_missing(state, &wanted, deadline).await?;
        let mut out = GroupsRead {
            groups: Vec::with_capacity(positions.len()),
            users: None,
            problems: Vec::new(),
        };
        for &i in positions {
            let sel = &selectors[i];
            let read = match unresolved.remove(sel) {
                Some(e) => Err((e, None)),
                None => {
                    self.read_resolved(state, sel, i, &fresh, nested, deadline)
                        .await
                }
            };
            match read {
                Ok((group, users)) => {
                    if i == 0 {
                        out.users = Some(users);
                    }
                    out.groups.push(group);
                }
                Err((e, id)) if i > 0 && concerns_one_group(&e) => {
                    tracing::warn!(group = %sel, error = %e, "a mirrored group cannot be read; it is skipped this sync");
                    out.problems.push((i, problem(sel, id.as_deref(), &e)));
                }
                Err((e, _)) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Reads the members of a resolved selector. A 404 drops the cached resolution; a name
    /// resolved before this read is then resolved again and read once more.
    async fn read_resolved(
        &self,
        state: &mut GraphSyncState,
        sel: &GroupSelector,
        spec_index: usize,
        fresh: &HashSet<GroupSelector>,
        nested: bool,
        deadline: Instant,
    ) -> Result<(TrackedGroup, UserMap), (GraphError, Option<String>)> {
        let mut retried = fresh.contains(sel) || sel.id.is_some();
        loop {
            let Some((id, name)) = state.resolved.get(sel).cloned() else {
                return Err((
                    GraphError::GroupNotFound {
                        group: sel.to_string(),
                    },
                    None,
                ));
            };
            match self
                .read_members(&id, spec_index == 0, nested, deadline)
                .await
            {
                Ok(read) => {
                    let group = TrackedGroup {
                        id,
                        name,
                        spec_index,
                        members: read.members,
                        nested: read.nested,
                    };
                    return Ok((group, read.users));
                }
                Err(GraphError::GroupNotFound { .. }) => {
                    state.resolved.remove(sel);
                    let gone = GraphError::GroupNotFound {
                        group: sel.to_string(),
                    };
                    if retried {
                        return Err((gone, Some(id.to_string())));
                    }
                    retried = true;
                    tracing::info!(group = %sel, old_id = %id, "the group's id is gone; resolving its name again");
                    let (_, mut failed) = self
                        .resolve_missing(state, &[sel], deadline)
                        .await
                        .map_err(|e| (e, None))?;
                    if let Some(e) = failed.remove(sel) {
                        return Err((e, None));
                    }
                }
                Err(e) => return Err((e, Some(id.to_string()))),
            }
        }
    }

    /// Resolves the selectors not cached yet (one request, a `$batch` when several). Returns
    /// the selectors resolved now and, per selector, why one could not be (not found,
    /// ambiguous, refused); service-wide failures are errors.
    pub(crate) async fn resolve_missing(
        &self,
        state: &mut GraphSyncState,
        selectors: &[&GroupSelector],
        deadline: Instant,
    ) -> Result<(HashSet<GroupSelector>, HashMap<GroupSelector, GraphError>), GraphError> {
        let missing: Vec<&GroupSelector> = {
            let mut seen = HashSet::new();
            selectors
                .iter()
                .copied()
                .filter(|s| !state.resolved.contains_key(*s))
                .filter(|s| seen.insert(*s))
                .collect()
        };
        let mut fresh = HashSet::new();
        let mut failed = HashMap::new();
        if missing.is_empty() {
            return Ok((fresh, failed));
        }
        let urls = missing
            .iter()
            .map(|s| resolve_url(s))
            .collect::<Result<Vec<_>, _>>()?;
        let results = if urls.len() == 1 {
            vec![self.transport.get_or_failure(&urls[0], deadline).await?]
        } else {
            self.transport.batch(&urls, deadline).await?
        };
        for (sel, r) in missing.into_iter().zip(results) {
            match resolved_from(sel, r.map_err(failure_error_for(sel))) {
                Ok(g) => {
                    state
                        .resolved
                        .insert(sel.clone(), (g.id.into_boxed_str(), g.display_name));
                    fresh.insert(sel.clone());
                }
                Err(e) if concerns_one_group(&e) => {
                    failed.insert(sel.clone(), e);
                }
                Err(e) => return Err(e),
            }
        }
        Ok((fresh, failed))
    }

    /// Tries the mirrored groups that could not be read again (a delta read): each one that
    /// reads now is tracked from here on, with a delta link of its own.
    pub(crate) async fn retry_problems(
        &self,
        state: &mut GraphSyncState,
        nested: bool,
        deadline: Instant,
    ) -> Result<(), GraphError> {
        if state.problems.is_empty() {
            return Ok(());
        }
        let Some((selectors, _)) = state.shape.clone() else {
            return Ok(());
        };
        let positions: Vec<usize> = state.problems.iter().map(|(i, _)| *i).collect();
        let read = self
            .read_groups(state, &selectors, &positions, nested, deadline)
            .await?;
        let groups = read.groups;
        if groups.is_empty() {
            state.problems = read.problems;
            return Ok(());
        }
        let (_, links) = self.bootstrap_delta(&groups, false, deadline).await?;
        state.groups_delta.extend(links);
        for g in groups {
            tracing::info!(group = %selectors[g.spec_index], "a mirrored group can be read again");
            let at = state
                .groups
                .iter()
                .position(|t| t.spec_index > g.spec_index)
                .unwrap_or(state.groups.len());
            state.groups.insert(at, g);
        }
        state.problems = read.problems;
        Ok(())
    }
}
