//! `plan`: one sync's decisions, from the Entra snapshot, the Password Boss state and the rules.

use std::collections::BTreeSet;

use super::directory::DirectoryIndex;
use super::groups::plan_groups;
use super::leave::{Scope, plan_leavers};
use super::rules::Rules;
use super::safety;
use super::scope::{apply_scope, needs_scoping};
use super::summary::{
    count_actions, project_users, sort_conflicts, sort_group_actions, sort_user_actions,
};
use super::types::{Action, Conflict, ConflictKind, DirectoryState, Plan, SafetyInput};
use super::users::plan_users;
use crate::domain::{EntraSnapshot, EntraUser, Owner};

/// Plans one sync. Pure and deterministic: the same inputs give the same plan, and the work is
/// linear in the number of users and group members (plus sorting the output).
///
/// The rules, in the order they apply:
/// 0. **Scope**: members `rules.scope` leaves out (guests, other email domains) are out of scope
///    (`scope::apply_scope`): nothing is created for them, and a managed one leaves with reason
///    `OutOfScope` by the `userRemovedFromGroup` rule, within the safety limits (rule 8).
/// 1. **Email**: `Mail` → `mail` when non-empty after trimming, else `userPrincipalName`;
///    `UserPrincipalName` → the UPN. It must be routable (`is_routable_email`), else `NoEmail`.
///    Emails compare case-insensitively; accounts are created with the address as Entra has it.
/// 2. **Names**: trimmed `givenName` / `surname`; a missing part comes from `displayName` split at
///    its first whitespace; nothing usable → `NoName` (no create; linked accounts keep theirs).
/// 3. **Duplicates**: in-scope users sharing an email all get `DuplicateEmail`; none is created or
///    adopted; one already linked by externalId is still managed by id.
/// 4. **Matching**: by externalId among `managedBy: Azure AD` accounts, else by email: an Azure AD
///    account with a null or out-of-scope externalId is re-linked (adopt); one linked to another
///    in-scope user → `DuplicateEmail`; a `Password Boss` account is adopted (`existingUser:
///    Adopt`) or skipped (`ExistingUserSkipped`); any other owner → `OwnedByOther`. No match →
///    `CreateUser` (active, or pending with `CreatePending`). Users disabled in Entra are
///    matched by externalId only: nothing is created, adopted or re-linked for them.
///    Licences go to re-enabled accounts first, then to active creates; creates beyond the free
///    licences are planned pending (as Password Boss would create them).
/// 5. **Linked accounts**: a changed email → `EmailChanged` (the account is kept); changed names
///    and re-enabling (while licences are free, else `NoLicense`) go in one `UpdateUser`; pending
///    accounts stay pending; the role never changes.
/// 6. **Leave events** (`Disabled`, `Deleted`, `RemovedFromGroup`, `OutOfScope`) follow the sync
///    rules; admins are never deprovisioned (`AdminNotDeprovisioned`); see `leave`.
/// 7. **Incomplete snapshot**: no deprovision (`skipped_deprovisions` counts them, admin conflicts
///    are not reported), no group delete, memberships only grow.
/// 8. **Safety**: the grace period, the limits and the approval (`safety::gate`): over the
///    limits, every destructive change (deprovisions, group deletes, member removals) is held
///    back (`held`) unless the approval names exactly that set.
/// 9. **Groups**: see `groups`. Only groups of `record.ownedGroups` or of this snapshot are
///    changed or deleted; while a mirrored group is unreadable (`group_problems`) none is deleted.
/// 10. **Order**: user creates, user updates (by lowercase email), group creates and updates (by
///     name), group deletes (by name), deprovisions (by email). Conflicts by (kind, email, id).
/// 11. **Counts**: actions by kind; users as they will be once the plan is applied.
pub fn plan(
    snapshot: &EntraSnapshot,
    state: &DirectoryState,
    rules: &Rules,
    input: &SafetyInput,
) -> Plan {
    let ungated = plan_ungated(snapshot, state, rules, &input.record.owned_groups);
    gate(
        ungated,
        state,
        &GateFacts::of(snapshot, state),
        rules,
        input,
    )
}

/// What the safety gate reads of the snapshot and the state besides the plan's actions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GateFacts {
    /// The Entra read was complete.
    pub complete: bool,
    /// The mirrored groups read (Entra ids) that already have their Password Boss group: the
    /// connector owns them from now on.
    pub mirrored: BTreeSet<String>,
    /// Accounts managed by Azure AD with an externalId.
    pub managed: u32,
}

impl GateFacts {
    pub fn of(snapshot: &EntraSnapshot, state: &DirectoryState) -> Self {
        let managed = state
            .users
            .iter()
            .filter(|u| u.owner == Owner::AzureAd && u.external_id.is_some())
            .count();
        let existing: BTreeSet<&str> = state
            .groups
            .iter()
            .filter(|g| g.owner == Owner::AzureAd)
            .filter_map(|g| g.external_id.as_deref())
            .collect();
        Self {
            complete: snapshot.complete,
            mirrored: snapshot
                .groups
                .iter()
                .filter(|g| g.id != snapshot.sync_group_id && existing.contains(g.id.as_str()))
                .map(|g| g.id.clone())
                .collect(),
            managed: u32::try_from(managed).unwrap_or(u32::MAX),
        }
    }
}

/// The safety gate (`safety::gate`, rule 8) over a plan made by `plan_ungated`, given the
/// facts of the snapshot and the state it was made from.
pub fn gate(
    ungated: Plan,
    state: &DirectoryState,
    facts: &GateFacts,
    rules: &Rules,
    input: &SafetyInput,
) -> Plan {
    safety::gate(
        ungated,
        state,
        facts.complete,
        &facts.mirrored,
        facts.managed,
        rules,
        input,
    )
}

/// `plan` without the safety gate (rules 0–7 and 9–11). `owned_groups` are the Entra ids of the groups the
/// connector owns.
pub fn plan_ungated(
    snapshot: &EntraSnapshot,
    state: &DirectoryState,
    rules: &Rules,
    owned_groups: &[String],
) -> Plan {
    // `spec.scope` first (the pipeline scopes the snapshot as it reads it; other callers get a
    // scoped copy here).
    if needs_scoping(snapshot, &rules.scope, rules.email_attribute) {
        let mut scoped = snapshot.clone();
        apply_scope(&mut scoped, &rules.scope, rules.email_attribute);
        return plan_ungated(&scoped, state, rules, owned_groups);
    }
    let in_scope: Vec<&EntraUser> = snapshot.users.values().collect();
    let scope = Scope {
        snapshot,
        users: &in_scope,
    };
    let index = DirectoryIndex::new(state);
    let users = plan_users(snapshot, &in_scope, &index, rules, state.licenses.free());
    let leavers = plan_leavers(&scope, state, &rules.sync_rules, &users.links);
    let groups = plan_groups(&scope, state, &users.members, owned_groups);

    let mut conflicts = users.conflicts;
    conflicts.extend(groups.conflicts);
    let mut deprovisions = leavers.deprovisions;
    let mut skipped_deprovisions = 0;
    if !snapshot.complete {
        skipped_deprovisions = count(&deprovisions);
        deprovisions.clear();
    } else {
        // An account another tenant's id holds is reported once: by the in-scope user whose
        // email it has (`users`), else by the leave pass.
        let reported: std::collections::HashSet<String> = conflicts
            .iter()
            .filter(|c| c.kind == ConflictKind::OwnedByOther)
            .filter_map(|c| c.email.as_deref().map(str::to_ascii_lowercase))
            .collect();
        conflicts.extend(leavers.conflicts.into_iter().filter(|c| {
            c.kind != ConflictKind::OwnedByOther
                || !c
                    .email
                    .as_deref()
                    .is_some_and(|e| reported.contains(&e.to_ascii_lowercase()))
        }));
    }
    conflicts.extend(snapshot.group_problems.iter().map(|p| Conflict {
        kind: ConflictKind::GroupUnavailable,
        external_id: p.group_id.clone(),
        email: None,
        message: p.message.clone(),
    }));

    let (mut creates, mut updates): (Vec<Action>, Vec<Action>) = users
        .actions
        .into_iter()
        .partition(|a| matches!(a, Action::CreateUser { .. }));
    sort_user_actions(&mut creates);
    sort_user_actions(&mut updates);
    sort_user_actions(&mut deprovisions);
    let mut actions = creates;
    actions.append(&mut updates);
    actions.extend(sort_group_actions(groups.upserts, groups.deletes));
    actions.append(&mut deprovisions);
    sort_conflicts(&mut conflicts);

    let counts = count_actions(&actions);
    let users_after = project_users(snapshot.users.len(), state, &actions);
    Plan {
        actions,
        conflicts,
        skipped_deprovisions,
        counts,
        users: users_after,
        ..Plan::default()
    }
}

fn count<T>(items: impl IntoIterator<Item = T>) -> u32 {
    u32::try_from(items.into_iter().count()).unwrap_or(u32::MAX)
}
