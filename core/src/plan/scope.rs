//! `spec.scope`: which members of the sync group get an account. Users it leaves out are moved
//! out of the snapshot's `users` into `out_of_scope`, before anything is planned: they are
//! never created, and a managed one leaves scope like a user removed from the group (rule
//! `userRemovedFromGroup`, counted against the safety limits) with reason `OutOfScope`.

use super::identity::resolve_email;
use super::rules::{EmailAttribute, UserScope};
use crate::domain::{EntraSnapshot, EntraUser};

/// Whether `user` passes `scope`. A user whose email cannot be resolved passes the domain
/// filter: the planner reports it as `NoEmail`, which says more than a silent exclusion.
pub fn in_scope(user: &EntraUser, scope: &UserScope, attribute: EmailAttribute) -> bool {
    if scope.exclude_guests
        && user
            .user_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("Guest"))
    {
        return false;
    }
    if scope.email_domains.is_empty() {
        return true;
    }
    let Some(email) = resolve_email(user, attribute) else {
        return true;
    };
    let domain = email.rsplit_once('@').map_or("", |(_, d)| d);
    scope
        .email_domains
        .iter()
        .any(|d| d.eq_ignore_ascii_case(domain))
}

/// Moves the users `scope` leaves out from `snapshot.users` to `snapshot.out_of_scope`. Cheap
/// when nobody is filtered; idempotent.
pub fn apply_scope(snapshot: &mut EntraSnapshot, scope: &UserScope, attribute: EmailAttribute) {
    if scope.is_everyone() {
        return;
    }
    let out: Vec<String> = snapshot
        .users
        .values()
        .filter(|u| !in_scope(u, scope, attribute))
        .map(|u| u.id.clone())
        .collect();
    for id in out {
        snapshot.users.remove(&id);
        snapshot.out_of_scope.insert(id);
    }
}

/// True when `apply_scope` would move someone: the planner then scopes a copy.
pub(super) fn needs_scoping(
    snapshot: &EntraSnapshot,
    scope: &UserScope,
    attribute: EmailAttribute,
) -> bool {
    !scope.is_everyone()
        && snapshot
            .users
            .values()
            .any(|u| !in_scope(u, scope, attribute))
}
