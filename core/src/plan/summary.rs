//! The plan's order (rule 10) and counts (rule 11).

use std::collections::HashMap;

use super::identity::email_key;
use super::types::{Action, ActionCounts, Conflict, Deprovision, DirectoryState, UserCounts};
use crate::domain::{Account, AccountStatus, Owner};

/// Sorts user actions by lowercase email (creates, updates, deprovisions are each sorted alone).
pub(super) fn sort_user_actions(actions: &mut [Action]) {
    actions.sort_by_cached_key(sort_key);
}

/// Sorts group creates and updates by the name they end with, then deletes by name.
pub(super) fn sort_group_actions(
    mut upserts: Vec<(String, Action)>,
    mut deletes: Vec<Action>,
) -> Vec<Action> {
    upserts.sort_by(|(a, _), (b, _)| a.cmp(b));
    deletes.sort_by_cached_key(sort_key);
    upserts.into_iter().map(|(_, a)| a).chain(deletes).collect()
}

/// A total order within one kind of action: user actions by lowercase email, groups by name,
/// ties broken by id. (An `UpdateGroup` carries no name of its own; `groups` sorts those by the
/// name they end with, and here by group id.)
fn sort_key(action: &Action) -> (String, String) {
    match action {
        Action::CreateUser {
            email, external_id, ..
        } => (email_key(email), external_id.clone()),
        Action::UpdateUser { email, user_id, .. }
        | Action::DeprovisionUser { email, user_id, .. } => (email_key(email), user_id.clone()),
        Action::CreateGroup {
            name, external_id, ..
        } => (name.clone(), external_id.clone()),
        Action::UpdateGroup {
            group_id,
            external_id,
            ..
        } => (group_id.clone(), external_id.clone()),
        Action::DeleteGroup { name, group_id } => (name.clone(), group_id.clone()),
    }
}

/// Conflicts sorted by (kind, lowercase email, external id), then message for a total order.
pub(super) fn sort_conflicts(conflicts: &mut [Conflict]) {
    conflicts.sort_by_cached_key(|c| {
        (
            c.kind,
            c.email.as_deref().map(email_key),
            c.external_id.clone(),
            c.message.clone(),
        )
    });
}

/// Counts of `actions` by kind: adopts count as adopted only; enables and name changes of
/// accounts already managed count as enabled / updated.
pub(super) fn count_actions(actions: &[Action]) -> ActionCounts {
    let mut counts = ActionCounts::default();
    for action in actions {
        match action {
            Action::CreateUser { .. } => counts.created += 1,
            Action::UpdateUser { changes, .. } if changes.adopt => counts.adopted += 1,
            Action::UpdateUser { changes, .. } => {
                counts.enabled += u32::from(changes.enable);
                let renamed = changes.first_name.is_some() || changes.last_name.is_some();
                counts.updated += u32::from(renamed);
            }
            Action::DeprovisionUser { how, .. } => match how {
                Deprovision::Disable => counts.disabled += 1,
                Deprovision::Remove => counts.removed += 1,
                Deprovision::Delete => counts.deleted += 1,
            },
            Action::CreateGroup { .. } => counts.groups_created += 1,
            Action::UpdateGroup { .. } => counts.groups_updated += 1,
            Action::DeleteGroup { .. } => counts.groups_deleted += 1,
        }
    }
    counts
}

/// Accounts managed by Azure AD by status once `actions` are applied: adopted accounts join,
/// enabled ones become active, creates get their planned status (the planner already made those
/// beyond the free licences pending), disabled ones become disabled, removed and deleted ones drop
/// out.
pub(super) fn project_users(
    in_scope: usize,
    state: &DirectoryState,
    actions: &[Action],
) -> UserCounts {
    let mut by_id: HashMap<&str, Option<&Account>> = HashMap::new();
    for action in actions {
        if let Action::UpdateUser { user_id, .. } | Action::DeprovisionUser { user_id, .. } = action
        {
            by_id.insert(user_id, None);
        }
    }
    let mut tally = Tally::default();
    for user in &state.users {
        if user.owner == Owner::AzureAd {
            tally.add(user.status, 1);
        }
        if !by_id.is_empty()
            && let Some(slot) = by_id.get_mut(user.id.as_str())
            && slot.is_none()
        {
            *slot = Some(user);
        }
    }
    let user = |id: &str| by_id.get(id).copied().flatten();
    for action in actions {
        match action {
            Action::CreateUser { status, .. } => tally.add(*status, 1),
            Action::UpdateUser {
                user_id, changes, ..
            } => {
                let Some(user) = user(user_id) else {
                    continue;
                };
                if changes.adopt && user.owner != Owner::AzureAd {
                    tally.add(user.status, 1);
                }
                if changes.enable {
                    tally.add(user.status, -1);
                    tally.add(AccountStatus::Active, 1);
                }
            }
            Action::DeprovisionUser { user_id, how, .. } => {
                let Some(user) = user(user_id) else {
                    continue;
                };
                // Enables and deprovisions never touch the same account: the status is original.
                tally.add(user.status, -1);
                if *how == Deprovision::Disable {
                    tally.add(AccountStatus::Disabled, 1);
                }
            }
            _ => {}
        }
    }
    UserCounts {
        in_scope: saturate(in_scope as i64),
        active: saturate(tally.active),
        pending: saturate(tally.pending),
        disabled: saturate(tally.disabled),
    }
}

#[derive(Default)]
struct Tally {
    active: i64,
    pending: i64,
    disabled: i64,
}

impl Tally {
    fn add(&mut self, status: AccountStatus, n: i64) {
        match status {
            AccountStatus::Active => self.active += n,
            AccountStatus::Pending => self.pending += n,
            AccountStatus::Disabled => self.disabled += n,
        }
    }
}

fn saturate(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}
