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
//! (`AdminNotDeprovisioned`). Azure AD accounts with a null externalId are never deprovisioned,
//! nor an account whose externalId is in scope but which lost the link to another account with
//! the same externalId.

use super::conflicts;
use super::digest::{DirectoryDigest, ENABLED, EntraDigest};
use super::types::{Action, Conflict, Deprovision, DirectoryState, LeaveReason};
use crate::azure::model::{EntraSnapshot, EntraUser};
use crate::passwordboss::model::{Role, User, UserStatus};
use crate::resources::{LeaveRule, SyncRules};

pub(super) struct LeavePlan {
    /// `DeprovisionUser` actions, unordered, before the completeness and safety checks.
    pub deprovisions: Vec<Action>,
    /// `AdminNotDeprovisioned` conflicts.
    pub conflicts: Vec<Conflict>,
}

/// The Entra side as the leave pass reads it: the users in scope (`snapshot.users` in order)
/// and their digest.
pub(super) struct Scope<'s, 'a> {
    pub snapshot: &'a EntraSnapshot,
    pub users: &'s [&'a EntraUser],
    pub digest: &'s EntraDigest,
}

impl Scope<'_, '_> {
    /// Whether the user with this id (whose hash is `hash`) is in scope.
    fn contains(&self, id: &str, hash: u64) -> bool {
        match self.digest.by_id.get(&hash) {
            None => false,
            Some(&p) if self.users[p as usize].id == id => true,
            Some(_) => self.snapshot.users.contains_key(id),
        }
    }
}

/// `links` is `UserPlan::links`: by account position, the in-scope user it belongs to.
pub(super) fn plan_leavers(
    scope: &Scope<'_, '_>,
    state: &DirectoryState,
    directory: &DirectoryDigest,
    rules: &SyncRules,
    links: &[Option<u32>],
) -> LeavePlan {
    let mut plan = LeavePlan {
        deprovisions: Vec::new(),
        conflicts: Vec::new(),
    };
    for (position, link) in links.iter().enumerate() {
        let Some((reason, external_id)) = leave_event(scope, state, directory, position, *link)
        else {
            continue;
        };
        let account = &state.users[position];
        let how = match rule_for(rules, reason) {
            LeaveRule::Ignore => continue,
            LeaveRule::Disable if account.status == UserStatus::Disabled => continue,
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

/// Why the account at `position` leaves scope, with the Entra id it belongs to; `None` when it
/// stays or is not the connector's to deprovision. Accounts that stay are told apart by their
/// digest alone.
fn leave_event<'a>(
    scope: &Scope<'_, 'a>,
    state: &'a DirectoryState,
    directory: &DirectoryDigest,
    position: usize,
    link: Option<u32>,
) -> Option<(LeaveReason, Option<&'a str>)> {
    if let Some(entra) = link {
        let entra = entra as usize;
        let enabled = scope.digest.users[entra].has(ENABLED);
        return (!enabled).then(|| (LeaveReason::Disabled, Some(scope.users[entra].id.as_str())));
    }
    let hash = directory.accounts[position].external_id;
    if hash == 0 {
        // Not managed by Azure AD, or no externalId.
        return None;
    }
    let account: &'a User = &state.users[position];
    let external_id = account.external_id.as_deref()?;
    if scope.contains(external_id, hash) {
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
