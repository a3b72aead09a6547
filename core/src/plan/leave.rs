//! Accounts leaving scope → deprovisions (rule 6).
//!
//! A leave event concerns accounts `managedBy: Azure AD` with an externalId, and accounts this plan
//! links to an in-scope user (the planner re-links and adopts for enabled users only):
//! - `Disabled`: linked to an in-scope user whose Entra account is disabled;
//! - `Deleted`: the externalId is not in scope and is in `snapshot.deleted`;
//! - `RemovedFromGroup`: the externalId is not in scope otherwise.
//!
//! The rule for the reason decides: `Ignore` → nothing; `Disable` → disable unless already
//! disabled; `Remove` / `Delete` → remove / delete. Admins are never deprovisioned
//! (`AdminNotDeprovisioned`), nor an account whose externalId Graph does not know in this tenant
//! (`snapshot.foreign`: `OwnedByOther`). Azure AD accounts with a null externalId are never deprovisioned,
//! nor an account whose externalId is in scope but which lost the link to another account with
//! the same externalId.

use super::conflicts;
use super::directory::managed_external_id;
use super::identity::is_enabled;
use super::rules::{LeaveRule, SyncRules};
use super::types::{Action, Conflict, Deprovision, DirectoryState, LeaveReason};
use crate::domain::{Account, AccountStatus, Role};
use crate::domain::{EntraSnapshot, EntraUser};

pub(super) struct LeavePlan {
    /// `DeprovisionUser` actions, unordered, before the completeness and safety checks.
    pub deprovisions: Vec<Action>,
    /// `AdminNotDeprovisioned` conflicts, and `OwnedByOther` for departed accounts Graph does
    /// not know in this tenant.
    pub conflicts: Vec<Conflict>,
}

/// The Entra side as the leave pass reads it: the users in scope (`snapshot.users` in order).
pub(super) struct Scope<'s, 'a> {
    pub snapshot: &'a EntraSnapshot,
    pub users: &'s [&'a EntraUser],
}

/// `links` is `UserPlan::links`: by account position, the in-scope user it belongs to.
pub(super) fn plan_leavers(
    scope: &Scope<'_, '_>,
    state: &DirectoryState,
    rules: &SyncRules,
    links: &[Option<u32>],
) -> LeavePlan {
    let mut plan = LeavePlan {
        deprovisions: Vec::new(),
        conflicts: Vec::new(),
    };
    for (position, link) in links.iter().enumerate() {
        if let Some(external_id) = foreign_departure(scope, state, position, *link) {
            plan.conflicts.push(conflicts::departed_elsewhere(
                &state.users[position],
                external_id,
            ));
            continue;
        }
        let Some((reason, external_id)) = leave_event(scope, state, position, *link) else {
            continue;
        };
        let account = &state.users[position];
        let how = match rule_for(rules, reason) {
            LeaveRule::Ignore => continue,
            LeaveRule::Disable if account.status == AccountStatus::Disabled => continue,
            LeaveRule::Disable => Deprovision::Disable,
            LeaveRule::Remove => Deprovision::Remove,
            LeaveRule::Delete => Deprovision::Delete,
        };
        if account.role == Role::Admin {
            plan.conflicts.push(conflicts::admin_not_deprovisioned(
                account,
                external_id,
                reason,
                how,
            ));
            continue;
        }
        plan.deprovisions.push(Action::DeprovisionUser {
            user_id: account.id.clone(),
            external_id: external_id.map(Into::into),
            email: account.email.clone(),
            how,
            reason,
        });
    }
    plan
}

/// The externalId of the account at `position` when it is out of scope and Graph does not know
/// it in this tenant (`snapshot.foreign`): another tenant's, never deprovisioned.
fn foreign_departure<'a>(
    scope: &Scope<'_, '_>,
    state: &'a DirectoryState,
    position: usize,
    link: Option<u32>,
) -> Option<&'a str> {
    if link.is_some() {
        return None;
    }
    managed_external_id(&state.users[position]).filter(|id| {
        !scope.snapshot.users.contains_key(*id) && scope.snapshot.foreign.contains(*id)
    })
}

/// Why the account at `position` leaves scope, with the Entra id it belongs to; `None` when it
/// stays or is not the connector's to deprovision.
fn leave_event<'a>(
    scope: &Scope<'_, 'a>,
    state: &'a DirectoryState,
    position: usize,
    link: Option<u32>,
) -> Option<(LeaveReason, Option<&'a str>)> {
    if let Some(entra) = link {
        let user = scope.users[entra as usize];
        return (!is_enabled(user)).then_some((LeaveReason::Disabled, Some(user.id.as_str())));
    }
    // Not managed by Azure AD, or no externalId: not the connector's.
    let account: &'a Account = &state.users[position];
    let external_id = managed_external_id(account)?;
    // In scope, or another tenant's account (`OwnedByOther`): not a leaver.
    if scope.snapshot.users.contains_key(external_id)
        || scope.snapshot.foreign.contains(external_id)
    {
        return None;
    }
    let reason = if scope.snapshot.deleted.contains(external_id) {
        LeaveReason::Deleted
    } else if scope.snapshot.out_of_scope.contains(external_id) {
        LeaveReason::OutOfScope
    } else {
        LeaveReason::RemovedFromGroup
    };
    Some((reason, Some(external_id)))
}

fn rule_for(rules: &SyncRules, reason: LeaveReason) -> LeaveRule {
    match reason {
        LeaveReason::Deleted => rules.user_deleted,
        LeaveReason::Disabled => rules.user_disabled,
        LeaveReason::RemovedFromGroup | LeaveReason::OutOfScope => rules.user_removed_from_group,
    }
}
