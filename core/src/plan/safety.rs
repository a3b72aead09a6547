//! The safety gate (rule 8): one budget for every destructive change of a plan.
//!
//! Destructive changes are user deprovisions (disable, remove, delete), mirrored groups deleted
//! and members removed from mirrored groups (a member removed because they are deprovisioned in
//! the same plan counts once, as the deprovision). In order:
//! 1. **Grace period**: a `Remove` or `Delete` of a user out of scope for less than
//!    `removalGracePeriod` becomes a `Disable` (nothing when already disabled); the time each
//!    such user left is kept in the record (`leavers`). Likewise a group delete (an owned group
//!    dropped from `spec.groups`) waits until the group has been out of `spec.groups` that long:
//!    until then the group is kept as it is; the time it left is kept in `leavingGroups`.
//! 2. **Limits**: the changes exceed the limits when there are more than
//!    `maxDeprovisionsPerSync`, or, together with those spent earlier in `window`, more than
//!    `maxDeprovisionsPerWindow`, or more than `maxDeprovisionPercent` of the managed users
//!    (never when `percentFloor` or fewer).
//! 3. **Hold**: over the limits, every destructive change is held back, not only the excess:
//!    no deprovision, no group deleted, memberships only grow. The held set gets an approval
//!    token derived from exactly that set and the approvals used before.
//! 4. **Approval**: a token equal to the held set's, not used before, lets exactly that set go
//!    ahead once (it is then recorded as used, and not spent from the window); any other value
//!    is reported as not matching.
//!
//! Under the operator's fleet-wide freeze (`SafetyInput::frozen`), step 2 holds every
//! destructive change whatever the limits, the held set has no token, and no approval applies
//! (`Approval::Frozen`); nothing is spent from the window. The grace period still runs.
//!
//! The gate is pure: the time and the record of earlier syncs are inputs, and the record to keep
//! once the plan is applied is an output (`Plan::record`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use jiff::Timestamp;
use sha2::Digest;

use super::rules::{Rules, Safety, duration_text};
use super::types::{
    Action, Approval, Deprovision, DirectoryState, Held, Leaver, MemberRef, Plan, SafetyInput,
    SafetyRecord, SpentChanges, UserCounts,
};
use crate::domain::{AccountStatus, Owner};

/// Why everything destructive is held under the operator's fleet-wide freeze: `Held::limit`.
pub const FROZEN: &str = "held by the operator's fleet-wide freeze (pbconnector run \
    --freeze-destructive); no approval releases it: unfreeze by running the operator without \
    --freeze-destructive (Helm: freezeDestructiveChanges=false), after which these changes go \
    through the safety limits as usual";

/// At most this many leavers are remembered; past it, a user's grace period starts again each
/// sync (so they are disabled, never removed or deleted early).
pub const MAX_LEAVERS: usize = 1_000;
/// At most this many used approval tokens are remembered.
pub const MAX_APPROVALS_USED: usize = 20;
/// At most this many window entries are kept (one per sync that spent anything).
pub const MAX_SPENT_ENTRIES: usize = 1_000;

/// The limit `changes` (with `spent` earlier in the window) exceed, if any, given `managed`
/// accounts (managed by Azure AD with an externalId before the sync).
pub fn exceeded_limit(changes: u32, spent: u32, managed: u32, safety: &Safety) -> Option<String> {
    if changes == 0 {
        return None;
    }
    let total = u64::from(changes) + u64::from(spent);
    if changes > safety.max_deprovisions_per_sync {
        return Some(format!(
            "{changes} destructive changes exceed maxDeprovisionsPerSync ({})",
            safety.max_deprovisions_per_sync
        ));
    }
    if total > u64::from(safety.max_deprovisions_per_window) {
        return Some(format!(
            "{changes} destructive changes, with {spent} already made in the last {}, exceed \
             maxDeprovisionsPerWindow ({})",
            duration_text(safety.window),
            safety.max_deprovisions_per_window
        ));
    }
    if total > u64::from(safety.percent_floor)
        && total * 100 > u64::from(safety.max_deprovision_percent) * u64::from(managed)
    {
        return Some(format!(
            "{changes} destructive changes, with {spent} already made in the last {}, exceed \
             maxDeprovisionPercent ({}% of {managed} managed users)",
            duration_text(safety.window),
            safety.max_deprovision_percent
        ));
    }
    None
}

/// Whether `plan` makes a change that cannot be undone: a user removed from the company or
/// deleted, or a group deleted. A disable and a member removed from a group are undone by the
/// next sync that sees the user back.
pub fn irreversible(plan: &Plan) -> bool {
    plan.actions.iter().any(|a| {
        matches!(
            a,
            Action::DeprovisionUser {
                how: Deprovision::Remove | Deprovision::Delete,
                ..
            } | Action::DeleteGroup { .. }
        )
    })
}

/// Applies the grace period, the limits and the approval to a plan made without them.
/// `managed` is the number of accounts managed by Azure AD with an externalId.
pub(super) fn gate(
    mut plan: Plan,
    state: &DirectoryState,
    complete: bool,
    mirrored_groups: &BTreeSet<String>,
    managed: u32,
    rules: &Rules,
    input: &SafetyInput,
) -> Plan {
    let now = input.now;
    let record = &input.record;
    let accounts = Accounts::of(state, &plan.actions);

    // 1. Grace period.
    let grace = rules.safety.removal_grace_period;
    let known: HashMap<&str, Timestamp> = record
        .leavers
        .iter()
        .map(|l| (l.entra_id.as_str(), l.since))
        .collect();
    let known_groups: HashMap<&str, Timestamp> = record
        .leaving_groups
        .iter()
        .map(|l| (l.entra_id.as_str(), l.since))
        .collect();
    let mut leavers = Vec::new();
    let mut leaving_groups = Vec::new();
    let mut waiting = 0u32;
    let mut groups_waiting = 0u32;
    if complete {
        let mut kept = Vec::with_capacity(plan.actions.len());
        for action in std::mem::take(&mut plan.actions) {
            if let Action::DeleteGroup { group_id, .. } = &action {
                // Every group leaving is remembered until it is gone, so that a delete held
                // back by the limits does not start its grace period again.
                let entra_id = state
                    .groups
                    .iter()
                    .find(|g| &g.id == group_id)
                    .and_then(|g| g.external_id.clone());
                let Some(entra_id) = entra_id else {
                    kept.push(action);
                    continue;
                };
                let since = known_groups.get(entra_id.as_str()).copied().unwrap_or(now);
                if leaving_groups.len() < MAX_LEAVERS {
                    leaving_groups.push(Leaver { entra_id, since });
                }
                if elapsed(since, now) >= grace {
                    kept.push(action);
                } else {
                    groups_waiting += 1;
                }
                continue;
            }
            let Action::DeprovisionUser {
                user_id,
                external_id: Some(entra_id),
                email,
                how: how @ (Deprovision::Remove | Deprovision::Delete),
                reason,
            } = action
            else {
                kept.push(action);
                continue;
            };
            let since = known.get(entra_id.as_str()).copied().unwrap_or(now);
            if elapsed(since, now) >= grace {
                kept.push(Action::DeprovisionUser {
                    user_id,
                    external_id: Some(entra_id),
                    email,
                    how,
                    reason,
                });
                continue;
            }
            if leavers.len() < MAX_LEAVERS {
                leavers.push(Leaver {
                    entra_id: entra_id.clone(),
                    since,
                });
            }
            waiting += 1;
            let status = accounts.status(&user_id);
            undo_deprovision(&mut plan.users, status, how);
            if status != Some(AccountStatus::Disabled) {
                apply_deprovision(&mut plan.users, status, Deprovision::Disable);
                kept.push(Action::DeprovisionUser {
                    user_id,
                    external_id: Some(entra_id),
                    email,
                    how: Deprovision::Disable,
                    reason,
                });
            }
        }
        plan.actions = kept;
    } else {
        leavers = record.leavers.clone();
        leaving_groups = record.leaving_groups.clone();
    }
    plan.waiting_for_grace = waiting;
    plan.groups_waiting_for_grace = groups_waiting;

    // 2. What the plan would destroy, and the limits.
    let destructive = Destructive::of(&plan.actions, state);
    let window = rules.safety.window;
    let spent_entries: Vec<SpentChanges> = record
        .spent
        .iter()
        .filter(|s| elapsed(s.time, now) < window)
        .cloned()
        .collect();
    let spent: u32 = spent_entries
        .iter()
        .fold(0u32, |a, s| a.saturating_add(s.changes));
    let changes = destructive.count();
    let frozen = input.frozen && changes > 0;
    let limit = if frozen {
        Some(FROZEN.to_string())
    } else {
        exceeded_limit(changes, spent, managed, &rules.safety)
    };

    // 3. and 4. Hold, unless approved (never under the freeze: its held set has no token).
    let last_used = record.approvals_used.last().map(String::as_str);
    let token = match (&limit, frozen) {
        (Some(_), true) => Some(String::new()),
        (Some(_), false) => Some(approval_token(&destructive, last_used)),
        (None, _) => None,
    };
    plan.frozen = input.frozen;
    plan.approval = match (&input.approval, &token) {
        (None, _) => Approval::None,
        // A used token left in place is ignored, frozen or not.
        (Some(given), _) if input.frozen && record.approvals_used.contains(given) => Approval::None,
        (Some(given), _) if input.frozen => Approval::Frozen(given.clone()),
        (Some(given), Some(token)) if given == token => Approval::Applied(given.clone()),
        // A used token left in place is ignored until something is held again.
        (Some(given), None) if record.approvals_used.contains(given) => Approval::None,
        (Some(given), Some(_)) if record.approvals_used.contains(given) => {
            Approval::AlreadyUsed(given.clone())
        }
        (Some(given), expected) => Approval::NotMatching {
            given: given.clone(),
            expected: expected.clone(),
        },
    };
    let approved = matches!(plan.approval, Approval::Applied(_));
    let mut approvals_used = record.approvals_used.clone();
    let mut spent_entries = spent_entries;
    if let (Some(limit), Some(token), false) = (limit, token, approved) {
        plan.held = Some(hold(
            &mut plan,
            state,
            &accounts,
            &destructive,
            limit,
            token,
        ));
    } else if approved {
        if let Approval::Applied(token) = &plan.approval {
            approvals_used.push(token.clone());
        }
    } else if changes > 0 {
        spent_entries.push(SpentChanges { time: now, changes });
    }
    plan.blocked_deprovisions = plan.held.as_ref().map_or(0, |h| h.users.len() as u32);
    plan.counts = super::summary::count_actions(&plan.actions);

    // The record to keep once this plan is applied.
    let skip = approvals_used.len().saturating_sub(MAX_APPROVALS_USED);
    approvals_used.drain(..skip);
    let skip = spent_entries.len().saturating_sub(MAX_SPENT_ENTRIES);
    spent_entries.drain(..skip);
    plan.record = SafetyRecord {
        owned_groups: owned_after(record, &plan.actions, mirrored_groups, state),
        spent: spent_entries,
        leavers,
        leaving_groups,
        approvals_used,
    };
    plan
}

fn elapsed(since: Timestamp, now: Timestamp) -> Duration {
    now.duration_since(since)
        .try_into()
        .unwrap_or(Duration::ZERO)
}

/// Holds back every destructive change of `plan`: deprovisions and group deletes are dropped,
/// replaced memberships keep every current member. Returns what was held.
fn hold(
    plan: &mut Plan,
    state: &DirectoryState,
    accounts: &Accounts<'_>,
    destructive: &Destructive,
    limit: String,
    token: String,
) -> Held {
    let mut users = Vec::new();
    let mut kept = Vec::with_capacity(plan.actions.len());
    for action in std::mem::take(&mut plan.actions) {
        match action {
            Action::DeprovisionUser {
                ref user_id, how, ..
            } => {
                undo_deprovision(&mut plan.users, accounts.status(user_id), how);
                users.push(action);
            }
            Action::DeleteGroup { .. } => {}
            Action::UpdateGroup {
                group_id,
                external_id,
                name,
                rename,
                members: Some(members),
            } => {
                let current = state.memberships.get(&group_id);
                let mut all: BTreeSet<MemberRef> = members.into_iter().collect();
                all.extend(current.into_iter().flatten().cloned().map(MemberRef::User));
                let grown: Vec<MemberRef> = all.into_iter().collect();
                let unchanged = current.is_some_and(|c| {
                    c.len() == grown.len()
                        && grown
                            .iter()
                            .all(|m| matches!(m, MemberRef::User(id) if c.contains(id)))
                });
                let members = (!unchanged).then_some(grown);
                if rename.is_some() || members.is_some() {
                    kept.push(Action::UpdateGroup {
                        group_id,
                        external_id,
                        name,
                        rename,
                        members,
                    });
                }
            }
            other => kept.push(other),
        }
    }
    plan.actions = kept;
    Held {
        frozen: limit == FROZEN,
        token,
        limit,
        users,
        group_changes: destructive.group_changes(),
    }
}

/// The destructive changes of a plan, as the approval token names them.
struct Destructive {
    /// `D <user id> <how>`, `G <group id>`, `M <group id> <user id>`, sorted.
    items: BTreeSet<String>,
    deprovisions: u32,
}

impl Destructive {
    fn of(actions: &[Action], state: &DirectoryState) -> Self {
        let mut items = BTreeSet::new();
        let mut leaving: BTreeSet<&str> = BTreeSet::new();
        let mut deprovisions = 0;
        for action in actions {
            if let Action::DeprovisionUser { user_id, how, .. } = action {
                leaving.insert(user_id);
                items.insert(format!("D {user_id} {how:?}"));
                deprovisions += 1;
            }
        }
        for action in actions {
            match action {
                Action::DeleteGroup { group_id, .. } => {
                    items.insert(format!("G {group_id}"));
                }
                Action::UpdateGroup {
                    group_id,
                    members: Some(members),
                    ..
                } => {
                    let wanted: BTreeSet<&str> = members
                        .iter()
                        .filter_map(|m| match m {
                            MemberRef::User(id) => Some(id.as_str()),
                            MemberRef::Created(_) => None,
                        })
                        .collect();
                    for id in state.memberships.get(group_id).into_iter().flatten() {
                        if !wanted.contains(id.as_str()) && !leaving.contains(id.as_str()) {
                            items.insert(format!("M {group_id} {id}"));
                        }
                    }
                }
                _ => {}
            }
        }
        Self {
            items,
            deprovisions,
        }
    }

    fn count(&self) -> u32 {
        u32::try_from(self.items.len()).unwrap_or(u32::MAX)
    }

    fn group_changes(&self) -> u32 {
        self.count() - self.deprovisions
    }
}

/// `<changes>-<8 hex digits>`: names exactly this set of changes, after the last approval used
/// (so the same set held again later needs a new approval).
fn approval_token(destructive: &Destructive, last_used: Option<&str>) -> String {
    let mut hash = sha2::Sha256::new();
    hash.update(last_used.unwrap_or("").as_bytes());
    for item in &destructive.items {
        hash.update(b"\n");
        hash.update(item.as_bytes());
    }
    let digest = hex::encode(hash.finalize());
    format!("{}-{}", destructive.count(), &digest[..8])
}

/// Owned groups once the plan is applied: those owned before and still there, plus every
/// mirrored group this plan creates or that already has its Password Boss group (`mirrored`:
/// adopted from the connector's own `spec.groups`), minus those it deletes. The state is read
/// only for the groups the plan deletes.
fn owned_after(
    record: &SafetyRecord,
    actions: &[Action],
    mirrored: &BTreeSet<String>,
    state: &DirectoryState,
) -> Vec<String> {
    let deleted: BTreeSet<&str> = actions
        .iter()
        .filter_map(|a| match a {
            Action::DeleteGroup { group_id, .. } => Some(group_id.as_str()),
            _ => None,
        })
        .collect();
    let by_pb_id: BTreeMap<&str, &str> = state
        .groups
        .iter()
        .filter(|g| g.owner == Owner::AzureAd)
        .filter_map(|g| Some((g.id.as_str(), g.external_id.as_deref()?)))
        .collect();
    let deleted_entra: BTreeSet<&str> = deleted
        .iter()
        .filter_map(|id| by_pb_id.get(id).copied())
        .collect();
    let mut owned: BTreeSet<String> = record.owned_groups.iter().cloned().collect();
    for action in actions {
        if let Action::CreateGroup { external_id, .. } = action {
            owned.insert(external_id.clone());
        }
    }
    owned.extend(mirrored.iter().cloned());
    owned.retain(|id| !deleted_entra.contains(id.as_str()));
    owned.into_iter().collect()
}

/// `users` (counts after the plan) without a deprovision of an account of `status`.
fn undo_deprovision(users: &mut UserCounts, status: Option<AccountStatus>, how: Deprovision) {
    let Some(status) = status else { return };
    *slot(users, status) += 1;
    if how == Deprovision::Disable {
        users.disabled = users.disabled.saturating_sub(1);
    }
}

/// `users` with a deprovision of an account of `status`.
fn apply_deprovision(users: &mut UserCounts, status: Option<AccountStatus>, how: Deprovision) {
    let Some(status) = status else { return };
    let n = slot(users, status);
    *n = n.saturating_sub(1);
    if how == Deprovision::Disable {
        users.disabled += 1;
    }
}

fn slot(users: &mut UserCounts, status: AccountStatus) -> &mut u32 {
    match status {
        AccountStatus::Active => &mut users.active,
        AccountStatus::Pending => &mut users.pending,
        AccountStatus::Disabled => &mut users.disabled,
    }
}

/// The status of the accounts the plan deprovisions, by id.
struct Accounts<'a>(HashMap<&'a str, AccountStatus>);

impl<'a> Accounts<'a> {
    fn of(state: &'a DirectoryState, actions: &[Action]) -> Self {
        let wanted: BTreeSet<&str> = actions
            .iter()
            .filter_map(|a| match a {
                Action::DeprovisionUser { user_id, .. } => Some(user_id.as_str()),
                _ => None,
            })
            .collect();
        if wanted.is_empty() {
            return Self(HashMap::new());
        }
        Self(
            state
                .users
                .iter()
                .filter(|u| wanted.contains(u.id.as_str()))
                .map(|u| (u.id.as_str(), u.status))
                .collect(),
        )
    }

    fn status(&self, id: &str) -> Option<AccountStatus> {
        self.0.get(id).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safety(max: u32, percent: u32) -> Safety {
        Safety {
            max_deprovisions_per_sync: max,
            max_deprovision_percent: percent,
            percent_floor: 0,
            max_deprovisions_per_window: 1_000_000,
            ..Safety::default()
        }
    }

    #[test]
    fn limits_by_count_and_percent() {
        let ok = |c, s, m, safety: &Safety| exceeded_limit(c, s, m, safety).is_none();
        assert!(ok(0, 0, 0, &safety(0, 0)));
        assert!(ok(25, 0, 1000, &safety(25, 20)));
        assert!(!ok(26, 0, 1000, &safety(25, 20)));
        assert!(ok(2, 0, 10, &safety(25, 20)));
        assert!(!ok(3, 0, 10, &safety(25, 20)));
        assert!(!ok(1, 0, 0, &safety(25, 100)));
        assert!(ok(1_000_000, 0, 1_000_000, &safety(1_000_000, 100)));
    }

    #[test]
    fn the_window_adds_up_small_batches() {
        let s = Safety {
            max_deprovisions_per_window: 50,
            ..safety(25, 100)
        };
        assert!(exceeded_limit(25, 25, 1000, &s).is_none());
        let limit = exceeded_limit(25, 26, 1000, &s).expect("over the window");
        assert!(limit.contains("maxDeprovisionsPerWindow (50)"), "{limit}");
        // The percentage counts the window too.
        let s = safety(25, 20);
        assert!(exceeded_limit(10, 10, 100, &s).is_none());
        assert!(exceeded_limit(10, 11, 100, &s).is_some());
    }

    #[test]
    fn the_floor_lets_a_single_leaver_go() {
        let s = Safety {
            percent_floor: 2,
            ..safety(25, 20)
        };
        assert!(exceeded_limit(1, 0, 4, &s).is_none());
        assert!(exceeded_limit(1, 1, 4, &s).is_none());
        assert!(exceeded_limit(1, 2, 4, &s).is_some());
        // The floor never lifts the per-sync count.
        let s = Safety {
            percent_floor: 2,
            ..safety(0, 20)
        };
        assert!(exceeded_limit(1, 0, 100, &s).is_some());
    }
}
