//! A full read: resolve the groups (one `$batch`, only for selectors not yet resolved), read
//! every group's members page by page (`$top=999`), then bootstrap the delta links with one
//! `$batch` of `$deltatoken=latest` queries. Requests: Σ⌈members/999⌉ + 1 (+1 on the first
//! read, for resolution; + the token call when one is due). A mirrored group that cannot be
//! read is a problem of its own, not a failed read (`groups.rs`).
//!
//! Known window: the groups delta is bootstrapped after the member pages (its filter needs the
//! nested group ids they reveal), so a membership change landing between the two is only seen
//! by the next periodic full read.

use crate::bounded::PageTracker;
use std::collections::BTreeSet;
use std::time::Instant;

use super::client::{GraphClient, ReadOptions, USER_SELECT, enc};
use super::error::GraphError;
use super::member_set::MemberSet;
use super::state::{CachedUser, GraphSyncState, ObjectId, TrackedGroup, UserMap};
use super::transport::failure_error;
use super::wire::Page;
use crate::resources::GroupSelector;

/// `$filter` of a delta query takes at most this many `id eq` terms.
pub(crate) const DELTA_FILTER_LIMIT: usize = 50;

/// One group's members as read.
pub(crate) struct MemberRead {
    pub members: MemberSet,
    pub nested: BTreeSet<Box<str>>,
    pub users: UserMap,
}

impl GraphClient {
    pub(crate) async fn full_read(
        &self,
        state: &mut GraphSyncState,
        selectors: &[GroupSelector],
        opts: &ReadOptions,
        deadline: Instant,
    ) -> Result<(), GraphError> {
        // A name selector whose group was renamed since must be resolved again.
        state
            .resolved
            .retain(|sel, (_, name)| sel.display_name.as_ref().is_none_or(|n| n == name));
        let positions: Vec<usize> = (0..selectors.len()).collect();
        let read = self
            .read_groups(state, selectors, &positions, opts.nested_groups, deadline)
            .await?;
        let (users_delta, groups_delta) = if opts.delta {
            self.bootstrap_delta(&read.groups, true, deadline).await?
        } else {
            (None, Vec::new())
        };
        state.groups = read.groups;
        state.users = read.users.unwrap_or_default();
        state.problems = read.problems;
        state.deleted.clear();
        state.removal_reported.clear();
        state.unsettled = None;
        state.users_delta = users_delta;
        state.groups_delta = groups_delta;
        state.last_full = Some(Instant::now());
        state.shape = Some((selectors.to_vec(), opts.nested_groups));
        tracing::debug!(
            users = state.users.len(),
            groups = state.groups.len(),
            problems = state.problems.len(),
            "full Graph read finished"
        );
        Ok(())
    }

    /// Reads one group's user members (and nested group ids when `nested`), following every
    /// `@odata.nextLink`; attributes only when `with_users`.
    pub(crate) async fn read_members(
        &self,
        group_id: &str,
        with_users: bool,
        nested: bool,
        deadline: Instant,
    ) -> Result<MemberRead, GraphError> {
        let relation = if nested {
            "transitiveMembers"
        } else {
            "members"
        };
        let select = if with_users { USER_SELECT } else { "id" };
        let mut url = format!(
            "/groups/{}/{relation}?$select={select}&$top=999",
            enc(group_id)
        );
        let mut members = Vec::new();
        let mut nested_ids = BTreeSet::new();
        let mut users = UserMap::default();
        let mut pages = PageTracker::new(format!(
            "GET /groups/{}/{relation}",
            crate::bounded::remote_text(group_id)
        ));
        loop {
            let page = match self.transport.get_or_failure(&url, deadline).await? {
                Ok(v) => parse_page(v)?,
                Err(f) if f.status == 404 => {
                    return Err(GraphError::GroupNotFound {
                        group: format!("group id {group_id}"),
                    });
                }
                Err(f) => return Err(failure_error(f)),
            };
            for obj in &page.value {
                if obj.is_user() {
                    let id = ObjectId::from(obj.id.as_str());
                    if with_users {
                        users.insert(id.clone(), CachedUser::from_wire(obj));
                    }
                    members.push(id);
                } else if obj.is_group() && nested {
                    nested_ids.insert(obj.id.as_str().into());
                }
            }
            match page.next_link {
                Some(next) => {
                    pages.next(&next)?;
                    url = next;
                }
                None => {
                    return Ok(MemberRead {
                        members: members.into_iter().collect(),
                        nested: nested_ids,
                        users,
                    });
                }
            }
        }
    }

    /// One `$batch` of `$deltatoken=latest` queries: users (when `users` is set) and the
    /// tracked groups with everything nested in them, 50 ids per query.
    pub(crate) async fn bootstrap_delta(
        &self,
        groups: &[TrackedGroup],
        users: bool,
        deadline: Instant,
    ) -> Result<(Option<String>, Vec<String>), GraphError> {
        let mut ids: Vec<&str> = Vec::new();
        let mut seen = BTreeSet::new();
        for g in groups {
            for id in std::iter::once(&g.id).chain(g.nested.iter()) {
                if seen.insert(id.as_ref()) {
                    ids.push(id);
                }
            }
        }
        let mut urls = Vec::new();
        if users {
            urls.push(format!(
                "/users/delta?$select={USER_SELECT}&$deltatoken=latest"
            ));
        }
        for chunk in ids.chunks(DELTA_FILTER_LIMIT) {
            urls.push(format!(
                "/groups/delta?$filter={}&$select=displayName,members&$deltatoken=latest",
                enc(&id_filter(chunk.iter().copied()))
            ));
        }
        let results = self.transport.batch(&urls, deadline).await?;
        let mut links = Vec::with_capacity(results.len());
        for r in results {
            let page = parse_page(r.map_err(failure_error)?)?;
            links.push(
                self.finish_delta_round(page, deadline, &mut Vec::new())
                    .await?,
            );
        }
        let users_link = if users { Some(links.remove(0)) } else { None };
        Ok((users_link, links))
    }

    /// Follows a delta round's nextLinks, collecting objects, and returns its deltaLink.
    pub(crate) async fn finish_delta_round(
        &self,
        mut page: Page,
        deadline: Instant,
        out: &mut Vec<super::wire::WireObject>,
    ) -> Result<String, GraphError> {
        let mut pages = PageTracker::new("a Graph delta listing");
        loop {
            out.append(&mut page.value);
            if let Some(link) = page.delta_link {
                // Kept for the next read, which must not fail on it: checked now.
                self.transport.relative(&link)?;
                return Ok(link);
            }
            let next = page.next_link.ok_or_else(|| {
                GraphError::protocol("a delta page has neither a nextLink nor a deltaLink")
            })?;
            pages.next(&next)?;
            page = parse_page(self.transport.get(&next, deadline).await?)?;
        }
    }
}

/// A delta `$filter` selecting objects by id (`id eq 'a' or id eq 'b'`); at most
/// `DELTA_FILTER_LIMIT` ids. A quote inside an id is doubled, as OData string literals need.
pub(crate) fn id_filter<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    ids.map(|id| format!("id eq '{}'", id.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(" or ")
}

pub(crate) fn parse_page(v: serde_json::Value) -> Result<Page, GraphError> {
    serde_json::from_value(v).map_err(|e| GraphError::protocol(format!("unreadable page: {e}")))
}
