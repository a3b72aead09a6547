//! The Graph endpoints the connector uses: groups (by id, by `$filter=displayName eq`),
//! members and transitiveMembers, users by id, users and groups delta, the recycle bin
//! (`/directory/deletedItems`), with paging through opaque `$skiptoken`s and delta rounds ending
//! in opaque `$deltatoken`s.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::directory::{Listed, SimUser, Tenant, UserState};
use super::faults::Answer;
use super::odata::{Query, Reply, group_json, parse_id_filter, parse_name_filter, user_json};
use super::state::{DeltaCursor, DeltaKind, PageCursor, PathKind, SimState};

/// Page size when the client sends no `$top` (and of every delta page).
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// `$filter` of a delta query takes at most this many ids.
pub const DELTA_FILTER_MAX: usize = 50;

/// Answers `GET /v1.0{path}?{query}` for a caller authorized in `tenant`, or as
/// `SimFaults::answer_next` said for its kind.
pub(crate) fn get(
    state: &mut SimState,
    tenant: &str,
    path: &str,
    raw_query: Option<&str>,
) -> (PathKind, Reply) {
    let (kind, reply) = answer(state, tenant, path, raw_query);
    let key = state
        .faults
        .answers
        .keys()
        .find(|(k, part)| *k == kind && part.as_deref().is_some_and(|p| path.contains(p)))
        .or_else(|| {
            state
                .faults
                .answers
                .keys()
                .find(|(k, part)| *k == kind && part.is_none())
        })
        .cloned();
    let Some(key) = key else {
        return (kind, reply);
    };
    let (n, instead) = state.faults.answers[&key];
    if n <= 1 {
        state.faults.answers.remove(&key);
    } else {
        state.faults.answers.insert(key, (n - 1, instead));
    }
    (kind, sabotaged(instead, reply, path))
}

/// A fault's answer in place of `real`.
fn sabotaged(instead: Answer, real: Reply, path: &str) -> Reply {
    match instead {
        Answer::Status(404) => Reply::not_found(path.rsplit('/').next().unwrap_or_default()),
        Answer::Status(403) => Reply::graph_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ),
        Answer::Status(429) => Reply::throttled(1),
        Answer::Status(status) => Reply::graph_error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            if status >= 500 {
                "serviceNotAvailable"
            } else {
                "Request_BadRequest"
            },
            "The service is temporarily unavailable.",
        ),
        Answer::Malformed => Reply::ok(json!({"id": 42, "value": "malformed"})),
        Answer::OtherId => {
            let mut r = real;
            if r.status.is_success() && r.body.get("id").is_some() {
                r.body["id"] = json!(uuid::Uuid::new_v4().to_string());
            }
            r
        }
    }
}

fn answer(
    state: &mut SimState,
    tenant: &str,
    path: &str,
    raw_query: Option<&str>,
) -> (PathKind, Reply) {
    let query = Query::parse(raw_query);
    if let Some(token) = query.get("$skiptoken") {
        return next_page(state, tenant, token, path);
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["groups"] => (
            PathKind::GroupList,
            list_groups(state, tenant, path, &query),
        ),
        ["groups", "delta"] => (
            PathKind::GroupsDelta,
            delta(state, tenant, DeltaKind::Groups, path, &query),
        ),
        ["users", "delta"] => (
            PathKind::UsersDelta,
            delta(state, tenant, DeltaKind::Users, path, &query),
        ),
        ["groups", id] => (PathKind::Group, one_group(state, tenant, id, &query)),
        ["groups", id, "members"] => (
            PathKind::Members,
            members(state, tenant, id, false, path, &query),
        ),
        ["groups", id, "transitiveMembers"] => (
            PathKind::TransitiveMembers,
            members(state, tenant, id, true, path, &query),
        ),
        ["users", id] => (PathKind::User, one_user(state, tenant, id, &query)),
        ["directory", "deletedItems", "microsoft.graph.user"] => (
            PathKind::DeletedItems,
            list_recycled_users(state, tenant, path, &query),
        ),
        ["directory", "deletedItems", id]
        | ["directory", "deletedItems", id, "microsoft.graph.user"] => (
            PathKind::DeletedItems,
            one_deleted_item(state, tenant, id, &query),
        ),
        _ => (
            PathKind::Other,
            Reply::graph_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!(
                    "Resource not found for the segment '{}'.",
                    segments.last().unwrap_or(&"")
                ),
            ),
        ),
    }
}

fn tenant_of<'a>(state: &'a SimState, tenant: &str) -> &'a Tenant {
    state
        .tenant(tenant)
        .expect("an issued token names an existing tenant")
}

fn check_id(id: &str) -> Result<(), Reply> {
    uuid::Uuid::parse_str(id)
        .map(|_| ())
        .map_err(|_| Reply::bad_request(&format!("Invalid object identifier '{id}'.")))
}

fn one_group(state: &SimState, tenant: &str, id: &str, q: &Query) -> Reply {
    if let Err(r) = check_id(id) {
        return r;
    }
    match tenant_of(state, tenant).group(id) {
        Some(g) => Reply::ok(group_json(g, &q.select(), false)),
        None => Reply::not_found(id),
    }
}

fn one_user(state: &SimState, tenant: &str, id: &str, q: &Query) -> Reply {
    if let Err(r) = check_id(id) {
        return r;
    }
    match tenant_of(state, tenant).active_user(id) {
        Some(u) => Reply::ok(user_json(u, &q.select(), false)),
        None => Reply::not_found(id),
    }
}

/// A deleted item as `GET /directory/deletedItems/{id}` returns it: the object with its type and
/// `deletedDateTime`.
fn deleted_item_json(state: &SimState, u: &SimUser, deleted: Timestamp, q: &Query) -> Value {
    let mut v = user_json(u, &q.select(), true);
    v["@odata.context"] = json!(format!(
        "{}/v1.0/$metadata#directoryObjects/$entity",
        state.base
    ));
    v["deletedDateTime"] = json!(deleted.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
    v
}

/// Only soft-deleted users are in the recycle bin: active, hard-deleted and unknown ids (and
/// deleted security groups, which cannot be restored) are 404 `Request_ResourceNotFound`.
fn one_deleted_item(state: &SimState, tenant: &str, id: &str, q: &Query) -> Reply {
    if let Err(r) = check_id(id) {
        return r;
    }
    match tenant_of(state, tenant).recycled_user(id) {
        Some((u, deleted)) => Reply::ok(deleted_item_json(state, u, deleted, q)),
        None => Reply::not_found(id),
    }
}

fn list_recycled_users(state: &mut SimState, tenant: &str, path: &str, q: &Query) -> Reply {
    let top = match q.top() {
        Ok(t) => t.unwrap_or(DEFAULT_PAGE_SIZE),
        Err(r) => return r,
    };
    let t = tenant_of(state, tenant);
    let items: Vec<Value> = t
        .users
        .keys()
        .filter_map(|id| t.recycled_user(id))
        .map(|(u, deleted)| deleted_item_json(state, u, deleted, q))
        .collect();
    paged(
        state,
        tenant,
        PathKind::DeletedItems,
        path,
        items,
        top,
        None,
    )
}

fn list_groups(state: &mut SimState, tenant: &str, path: &str, q: &Query) -> Reply {
    let top = match q.top() {
        Ok(t) => t.unwrap_or(DEFAULT_PAGE_SIZE),
        Err(r) => return r,
    };
    let name = match q.get("$filter") {
        None => None,
        Some(f) => match parse_name_filter(f) {
            Some(n) => Some(n),
            None => return Reply::unsupported(),
        },
    };
    let select = q.select();
    let items: Vec<Value> = tenant_of(state, tenant)
        .groups
        .values()
        .filter(|g| g.deleted.is_none())
        .filter(|g| name.as_ref().is_none_or(|n| &g.display_name == n))
        .map(|g| group_json(g, &select, false))
        .collect();
    paged(state, tenant, PathKind::GroupList, path, items, top, None)
}

fn members(
    state: &mut SimState,
    tenant: &str,
    id: &str,
    transitive: bool,
    path: &str,
    q: &Query,
) -> Reply {
    if let Err(r) = check_id(id) {
        return r;
    }
    let top = match q.top() {
        Ok(t) => t.unwrap_or(DEFAULT_PAGE_SIZE),
        Err(r) => return r,
    };
    let select = q.select();
    let t = tenant_of(state, tenant);
    let Some(group) = t.group(id) else {
        return Reply::not_found(id);
    };
    let items: Vec<Value> = t
        .members(group, transitive)
        .into_iter()
        .map(|m| match m {
            Listed::User(u) => user_json(u, &select, true),
            Listed::Group(g) => group_json(g, &select, true),
        })
        .collect();
    let kind = if transitive {
        PathKind::TransitiveMembers
    } else {
        PathKind::Members
    };
    paged(state, tenant, kind, path, items, top, None)
}

/// The first page of `items`, storing the rest behind an opaque `$skiptoken`.
fn paged(
    state: &mut SimState,
    tenant: &str,
    kind: PathKind,
    path: &str,
    items: Vec<Value>,
    page_size: usize,
    delta_link: Option<String>,
) -> Reply {
    let cursor = PageCursor {
        tenant: tenant.to_owned(),
        kind,
        path: path.to_owned(),
        items,
        offset: 0,
        page_size,
        delta_link,
    };
    serve_page(state, cursor)
}

fn serve_page(state: &mut SimState, mut cursor: PageCursor) -> Reply {
    let end = (cursor.offset + cursor.page_size).min(cursor.items.len());
    let value: Vec<Value> = cursor.items[cursor.offset..end].to_vec();
    let mut body = json!({ "value": value });
    if end < cursor.items.len() {
        cursor.offset = end;
        let token = SimState::opaque();
        body["@odata.nextLink"] = json!(format!(
            "{}/v1.0{}?$skiptoken={token}",
            state.base, cursor.path
        ));
        state.pages.insert(token, cursor);
    } else if let Some(link) = cursor.delta_link {
        body["@odata.deltaLink"] = json!(link);
    }
    Reply::ok(body)
}

fn next_page(state: &mut SimState, tenant: &str, token: &str, path: &str) -> (PathKind, Reply) {
    match state.pages.remove(token) {
        Some(cursor) if cursor.tenant == tenant && cursor.path == path => {
            let kind = cursor.kind;
            (kind, serve_page(state, cursor))
        }
        _ => (
            PathKind::Other,
            Reply::bad_request(
                "The specified page token value has expired and can no longer be included in your request.",
            ),
        ),
    }
}

fn sync_state_not_found() -> Reply {
    Reply::graph_error(
        StatusCode::BAD_REQUEST,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
    )
}

fn delta(state: &mut SimState, tenant: &str, kind: DeltaKind, path: &str, q: &Query) -> Reply {
    for unsupported in ["$top", "$expand", "$orderby"] {
        if q.get(unsupported).is_some() {
            return Reply::bad_request(&format!(
                "The query parameter '{unsupported}' is not supported with delta."
            ));
        }
    }
    let (filter, select, since) = match q.get("$deltatoken") {
        Some(tok) if tok != "latest" => match state.deltas.get(tok) {
            Some(c) if c.expired => return sync_state_not_found(),
            Some(c) if c.tenant == tenant && c.kind == kind => {
                (c.filter.clone(), c.select.clone(), Some(c.seq))
            }
            _ => return sync_state_not_found(),
        },
        latest => {
            let filter = match q.get("$filter") {
                None => None,
                Some(f) => match parse_id_filter(f) {
                    Some(ids) if ids.len() > DELTA_FILTER_MAX => {
                        return Reply::bad_request(&format!(
                            "The number of ids in the filter exceeds the maximum of {DELTA_FILTER_MAX}."
                        ));
                    }
                    Some(ids) => Some(ids),
                    None => return Reply::unsupported(),
                },
            };
            let since = latest.map(|_| u64::MAX);
            (filter, q.select(), since)
        }
    };
    let items = match since {
        Some(u64::MAX) => Vec::new(),
        _ => {
            let t = tenant_of(state, tenant);
            match kind {
                DeltaKind::Users => {
                    let mut users = users_changes(t, &filter, &select, since);
                    let lag = &state.faults.users_delta_lag;
                    users.retain(|u| u["id"].as_str().is_none_or(|id| !lag.contains(id)));
                    if since.is_some() {
                        for id in std::mem::take(&mut state.faults.users_delta_removals) {
                            users.retain(|u| u["id"] != id.as_str());
                            users.push(json!({"id": id, "@removed": {"reason": "changed"}}));
                        }
                    }
                    users
                }
                DeltaKind::Groups => groups_changes(t, &filter, &select, since),
            }
        }
    };
    let token = SimState::opaque();
    state.deltas.insert(
        token.clone(),
        DeltaCursor {
            tenant: tenant.to_owned(),
            kind,
            filter,
            select,
            seq: state.seq,
            expired: false,
        },
    );
    let link = format!("{}/v1.0{path}?$deltatoken={token}", state.base);
    paged(
        state,
        tenant,
        path_kind(path),
        path,
        items,
        DEFAULT_PAGE_SIZE,
        Some(link),
    )
}

fn path_kind(path: &str) -> PathKind {
    if path.starts_with("/users") {
        PathKind::UsersDelta
    } else {
        PathKind::GroupsDelta
    }
}

fn in_filter(filter: &Option<Vec<String>>, id: &str) -> bool {
    filter
        .as_ref()
        .is_none_or(|ids| ids.iter().any(|i| i == id))
}

/// Users changed after `since` (all current users when `None`).
fn users_changes(
    t: &Tenant,
    filter: &Option<Vec<String>>,
    select: &Option<Vec<String>>,
    since: Option<u64>,
) -> Vec<Value> {
    // A filtered query looks its (at most 50) ids up, a later round the users changed since
    // its token, rather than scanning the tenant.
    let candidates: Box<dyn Iterator<Item = &SimUser>> = match (filter, since) {
        (Some(ids), _) => Box::new(
            ids.iter()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .filter_map(|id| t.users.get(id.as_str())),
        ),
        (None, Some(s)) => Box::new(
            t.users_changed_after(s)
                .into_iter()
                .filter_map(|id| t.users.get(id)),
        ),
        (None, None) => Box::new(t.users.values()),
    };
    candidates
        .filter_map(|u| match (since, u.state) {
            (None, UserState::Active) => Some(user_json(u, select, false)),
            (None, _) => None,
            (Some(s), _) if u.changed <= s => None,
            (Some(_), UserState::Active) => Some(user_json(u, select, false)),
            (Some(_), UserState::SoftDeleted) => {
                Some(json!({"id": u.id, "@removed": {"reason": "changed"}}))
            }
            (Some(_), UserState::HardDeleted) => {
                Some(json!({"id": u.id, "@removed": {"reason": "deleted"}}))
            }
        })
        .collect()
}

fn member_ref(id: &str, is_group: bool, removed: bool) -> Value {
    let ty = if is_group {
        "#microsoft.graph.group"
    } else {
        "#microsoft.graph.user"
    };
    let mut v = json!({"@odata.type": ty, "id": id});
    if removed {
        v["@removed"] = json!({"reason": "deleted"});
    }
    v
}

/// Groups changed after `since` with their `members@delta` (the initial round when `None`).
fn groups_changes(
    t: &Tenant,
    filter: &Option<Vec<String>>,
    select: &Option<Vec<String>>,
    since: Option<u64>,
) -> Vec<Value> {
    let wants = |p: &str| {
        select
            .as_ref()
            .is_none_or(|s| s.iter().any(|x| x.eq_ignore_ascii_case(p)))
    };
    let mut out = Vec::new();
    for g in t.groups.values().filter(|g| in_filter(filter, &g.id)) {
        if let Some(deleted) = g.deleted {
            if since.is_some_and(|s| deleted > s) {
                out.push(json!({"id": g.id, "@removed": {"reason": "deleted"}}));
            }
            continue;
        }
        let members: Vec<Value> = match since {
            None => g
                .members
                .iter()
                .filter_map(|m| {
                    if t.active_user(m).is_some() {
                        Some(member_ref(m, false, false))
                    } else {
                        t.group(m).map(|_| member_ref(m, true, false))
                    }
                })
                .collect(),
            Some(s) => {
                let mut last: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
                // The log is in sequence order: start after the token.
                let from = g.log.partition_point(|e| e.seq <= s);
                for e in &g.log[from..] {
                    last.insert(&e.member, (e.is_group, e.added));
                }
                last.into_iter()
                    .map(|(m, (is_group, added))| member_ref(m, is_group, !added))
                    .collect()
            }
        };
        let renamed = since.is_none_or(|s| g.name_changed > s);
        if !renamed && members.is_empty() {
            continue;
        }
        let mut v = json!({"id": g.id});
        if wants("displayName") {
            v["displayName"] = json!(g.display_name);
        }
        if wants("members") {
            v["members@delta"] = json!(members);
        }
        out.push(v);
    }
    out
}
