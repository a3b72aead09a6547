//! Deletion on evidence only. A user is deleted in Entra when `GET /users/{id}` answers 404
//! `Request_ResourceNotFound`; `GET /directory/deletedItems/{id}` then tells a soft delete (the
//! user is in the recycle bin, restorable for 30 days) from a hard one (404 there too). A delta
//! `@removed` annotation, or a user missing from a users-delta answer, only makes an id worth
//! looking up: replication lag and replays make both happen to users who exist.
//!
//! Lookups go through `$batch`, 20 a request: ⌈ids/20⌉ requests, plus ⌈404s/20⌉ for the recycle
//! bin. Any other answer (5xx or throttling past the retries, a body that is not a user, a user
//! with another id) is an error naming the user, and whoever asked treats the read as
//! incomplete: nothing is deprovisioned on a guess.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::client::{GraphClient, USER_SELECT, enc};
use super::error::GraphError;
use super::state::{CachedUser, Deletion, GraphSyncState, ObjectId};
use super::transport::{Failure, SubResult};
use super::wire::WireObject;
use crate::bounded::remote_text;
use crate::domain::{EntraSnapshot, EntraUser};

/// How long Entra keeps a deleted user restorable.
pub const RESTORE_WINDOW: SignedDuration = SignedDuration::from_hours(30 * 24);

/// What Graph said about one user when asked by id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserLookup {
    /// `GET /users/{id}` answered the user: it exists (its attributes as read).
    Exists(EntraUser),
    /// 404 on the user, found in the recycle bin: restorable until `deletedDateTime` + 30 days
    /// (`None` when Graph did not say when it was deleted).
    SoftDeleted { restorable_until: Option<Timestamp> },
    /// 404 on the user and on the recycle bin: permanently deleted.
    HardDeleted,
}

impl UserLookup {
    pub fn is_deleted(&self) -> bool {
        !matches!(self, UserLookup::Exists(_))
    }
}

/// `{"id","deletedDateTime"}` of a deleted item.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireDeletedItem {
    id: String,
    #[serde(default)]
    deleted_date_time: Option<String>,
}

/// A lookup that produced no evidence, naming the user and what Graph answered.
fn lookup_error(id: &str, what: impl std::fmt::Display) -> GraphError {
    GraphError::LookupFailed {
        who: format!("user {}", remote_text(id)),
        what: what.to_string(),
    }
}

/// A `$batch` of lookups that failed as a whole (throttled or unavailable past the retries).
fn batch_error(count: usize, e: GraphError) -> GraphError {
    GraphError::LookupFailed {
        who: if count == 1 {
            "1 user".to_owned()
        } else {
            format!("any of {count} users")
        },
        what: e.to_string(),
    }
}

/// The one 404 that is evidence: Graph's own "does not exist" code.
fn is_not_found(f: &Failure) -> bool {
    f.status == 404 && f.code == "Request_ResourceNotFound"
}

/// `answered 500 serviceNotAvailable`.
fn failure_text(f: Failure) -> String {
    if f.code.is_empty() {
        format!("answered {} without an error code", f.status)
    } else {
        format!("answered {} {}", f.status, remote_text(&f.code))
    }
}

impl GraphClient {
    /// Looks `ids` up (see the module documentation). Every id gets an answer, or the whole
    /// call fails with the first lookup that gave no evidence.
    pub async fn look_up_users(
        &self,
        ids: &[String],
    ) -> Result<BTreeMap<String, UserLookup>, GraphError> {
        self.look_up(ids, Instant::now() + Duration::from_secs(300))
            .await
    }

    pub(crate) async fn look_up(
        &self,
        ids: &[String],
        deadline: Instant,
    ) -> Result<BTreeMap<String, UserLookup>, GraphError> {
        let urls: Vec<String> = ids
            .iter()
            .map(|id| format!("/users/{}?$select={USER_SELECT}", enc(id)))
            .collect();
        let answers = self
            .transport
            .batch(&urls, deadline)
            .await
            .map_err(|e| batch_error(ids.len(), e))?;
        let mut out = BTreeMap::new();
        let mut gone = Vec::new();
        for (id, answer) in ids.iter().zip(answers) {
            match answer {
                Ok(body) => {
                    out.insert(id.clone(), UserLookup::Exists(existing_user(id, body)?));
                }
                Err(f) if is_not_found(&f) => gone.push(id.clone()),
                Err(f) => {
                    return Err(lookup_error(
                        id,
                        format_args!("GET /users/{{id}} {}", failure_text(f)),
                    ));
                }
            }
        }
        if gone.is_empty() {
            return Ok(out);
        }
        let urls: Vec<String> = gone
            .iter()
            .map(|id| format!("/directory/deletedItems/{}", enc(id)))
            .collect();
        let answers = self
            .transport
            .batch(&urls, deadline)
            .await
            .map_err(|e| batch_error(gone.len(), e))?;
        for (id, answer) in gone.into_iter().zip(answers) {
            let found = recycled(&id, answer)?;
            out.insert(id, found);
        }
        Ok(out)
    }

    /// Tells which of `departed` (managed users missing from `snapshot.users`) were deleted in
    /// Entra. Looked up: every departed user when `every` (the two leave rules differ, so the
    /// answer decides the action), else only those a delta round reported removed (the answer
    /// only names the reason). Users already known deleted are not asked again. Evidence goes
    /// into `snapshot.deleted` and is kept in `state` until the next full read; a failed lookup
    /// makes the snapshot incomplete. Returns what was looked up.
    pub async fn classify_departures(
        &self,
        state: &mut GraphSyncState,
        snapshot: &mut EntraSnapshot,
        departed: &[String],
        every: bool,
    ) -> BTreeMap<String, UserLookup> {
        let ask: Vec<String> = departed
            .iter()
            .filter(|id| !snapshot.deleted.contains(*id))
            .filter(|id| {
                every
                    || state
                        .removal_reported
                        .contains(&ObjectId::from(id.as_str()))
            })
            .cloned()
            .collect();
        if ask.is_empty() {
            return BTreeMap::new();
        }
        let found = match self.look_up_users(&ask).await {
            Ok(found) => found,
            Err(e) => {
                snapshot.complete = false;
                snapshot.incomplete_reason = Some(format!(
                    "{e}; no user is deprovisioned until Graph answers the lookup"
                ));
                return BTreeMap::new();
            }
        };
        for (id, lookup) in &found {
            let oid = ObjectId::from(id.as_str());
            state.removal_reported.remove(&oid);
            let deletion = match lookup {
                UserLookup::Exists(_) => continue,
                UserLookup::SoftDeleted { restorable_until } => Deletion::Soft(*restorable_until),
                UserLookup::HardDeleted => Deletion::Hard { member: false },
            };
            log_deletion(id, deletion);
            state.deleted.insert(oid, deletion);
            snapshot.deleted.insert(id.clone());
        }
        found
    }

    /// Settles the sync group's members the read could not vouch for: members without
    /// attributes (the users delta did not list them, e.g. replication lag) and members a users
    /// delta reported removed. Found → attributes (and still a member); deleted → out of every
    /// group, recorded as evidence. Returns why the read is incomplete when a lookup failed
    /// (the state is left as it was, and the next read asks again).
    pub(crate) async fn settle_members(
        &self,
        state: &mut GraphSyncState,
        deadline: Instant,
    ) -> Option<String> {
        let sync = state.groups.first()?;
        let ask: Vec<String> = sync
            .members
            .iter()
            .filter(|m| !state.users.contains_key(*m) || state.removal_reported.contains(*m))
            .map(ToString::to_string)
            .collect();
        if ask.is_empty() {
            return None;
        }
        let found = match self.look_up(&ask, deadline).await {
            Ok(found) => found,
            Err(e) => {
                return Some(format!(
                    "{e}; no user is deprovisioned until Graph answers the lookup"
                ));
            }
        };
        let mut gone: Vec<ObjectId> = Vec::new();
        for (id, lookup) in found {
            let oid = ObjectId::from(id.as_str());
            state.removal_reported.remove(&oid);
            let deletion = match lookup {
                UserLookup::Exists(user) => {
                    state.deleted.remove(&oid);
                    state.users.insert(oid, CachedUser::from_entra(&user));
                    continue;
                }
                UserLookup::SoftDeleted { restorable_until } => Deletion::Soft(restorable_until),
                UserLookup::HardDeleted => Deletion::Hard { member: true },
            };
            log_deletion(&id, deletion);
            state.users.remove(&oid);
            state.deleted.insert(oid.clone(), deletion);
            gone.push(oid);
        }
        // A deleted user is a member of nothing.
        for g in &mut state.groups {
            let mut edits = super::member_set::MemberEdits::default();
            for id in &gone {
                edits.remove(id.clone());
            }
            g.members.apply(edits);
        }
        None
    }
}

fn log_deletion(id: &str, deletion: Deletion) {
    match deletion {
        Deletion::Soft(Some(until)) => tracing::info!(
            user = %id,
            %until,
            "deleted in Entra (restorable until {until})"
        ),
        Deletion::Soft(None) => tracing::info!(user = %id, "deleted in Entra (restorable)"),
        Deletion::Hard { .. } => tracing::info!(user = %id, "deleted in Entra permanently"),
    }
}

/// The user `GET /users/{id}` answered, which must be `id`.
fn existing_user(id: &str, body: serde_json::Value) -> Result<EntraUser, GraphError> {
    let wire: WireObject = serde_json::from_value(body).map_err(|e| {
        lookup_error(
            id,
            format_args!("GET /users/{{id}} answered 200 with an unreadable user: {e}"),
        )
    })?;
    if !wire.id.eq_ignore_ascii_case(id) {
        return Err(lookup_error(
            id,
            format_args!(
                "GET /users/{{id}} answered 200 with another user ({})",
                remote_text(&wire.id)
            ),
        ));
    }
    Ok(CachedUser::from_wire(&wire).to_entra(id))
}

/// What `GET /directory/deletedItems/{id}` says about a user `GET /users/{id}` did not find.
fn recycled(id: &str, answer: SubResult) -> Result<UserLookup, GraphError> {
    let body = match answer {
        Ok(body) => body,
        Err(f) if is_not_found(&f) => return Ok(UserLookup::HardDeleted),
        Err(f) => {
            return Err(lookup_error(
                id,
                format_args!(
                    "GET /users/{{id}} answered 404, then GET /directory/deletedItems/{{id}} {}",
                    failure_text(f)
                ),
            ));
        }
    };
    let item: WireDeletedItem = serde_json::from_value(body).map_err(|e| {
        lookup_error(
            id,
            format_args!(
                "GET /directory/deletedItems/{{id}} answered 200 with an unreadable item: {e}"
            ),
        )
    })?;
    if !item.id.eq_ignore_ascii_case(id) {
        return Err(lookup_error(
            id,
            format_args!(
                "GET /directory/deletedItems/{{id}} answered 200 with another object ({})",
                remote_text(&item.id)
            ),
        ));
    }
    let deleted: Option<Timestamp> = item
        .deleted_date_time
        .as_deref()
        .and_then(|t| t.parse().ok());
    Ok(UserLookup::SoftDeleted {
        restorable_until: deleted.and_then(|d| d.checked_add(RESTORE_WINDOW).ok()),
    })
}
