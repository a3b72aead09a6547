//! The Password Boss state kept between syncs, so that a sync that changes nothing sends no
//! Password Boss request.
//!
//! After a full read, the state is kept and brought up to date from the answers to the
//! connector's own writes (`apply_outcomes`). It is read in full again:
//! - when it is older than the connector's `fullSyncInterval` (a change made in the portal is
//!   corrected then);
//! - when any write of a sync did not take effect as planned (refused, failed, skipped: 409, 404
//!   and 422 say the state is stale, and a failure leaves it unknown), or a write's answer is
//!   one the state cannot follow;
//! - when the Password Boss endpoint or token changed, and after a sync cut short (the state is
//!   taken out for the sync and put back only when it finished).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::packed_state::PackedState;
use crate::domain::{Account, AccountStatus, Group, Owner, Role};
use crate::passwordboss::model::ConnectorInfo;
use crate::passwordboss::{ExecutionReport, Outcome};
use crate::plan::{Action, Deprovision, DirectoryState, MemberRef, Plan};

/// A new generation of a Password Boss state: one per read, and one per sync whose writes
/// changed it. The plan memo tells states apart by it.
pub(crate) fn next_generation() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A Password Boss state read at `read_at` (and followed since), for the client `key`.
pub(crate) struct CachedDirectory {
    pub key: u64,
    /// Changes whenever `state` does (`next_generation`).
    pub generation: u64,
    pub read_at: Instant,
    /// The company and licences as `GET /v1/connector` said at the read.
    pub connector: ConnectorInfo,
    pub state: PackedState,
}

/// The Password Boss side of a sync: as read, or as kept (packed) until a plan needs it.
pub(crate) enum Directory {
    Unpacked(DirectoryState),
    Packed(PackedState),
}

impl Directory {
    /// The state, unpacked on first use; `None` if the kept bytes do not unpack (a bug: the
    /// caller reads Password Boss afresh).
    pub(crate) fn state(&mut self) -> Option<&DirectoryState> {
        if let Self::Packed(packed) = self {
            *self = Self::Unpacked(packed.unpack()?);
        }
        match self {
            Self::Unpacked(state) => Some(state),
            Self::Packed(_) => None,
        }
    }

    pub(crate) fn into_packed(self) -> PackedState {
        match self {
            Self::Unpacked(state) => PackedState::pack(state),
            Self::Packed(packed) => packed,
        }
    }
}

impl Default for Directory {
    fn default() -> Self {
        Self::Unpacked(DirectoryState::default())
    }
}

impl CachedDirectory {
    /// Whether this state may stand in for a read now, for client `key`.
    pub(crate) fn usable(&self, key: u64, max_age: Duration) -> bool {
        self.key == key && self.read_at.elapsed() < max_age
    }
}

/// Brings `state` up to date with the writes of `plan` that `report` says took effect. `None`
/// when the state can no longer be trusted: a write did not take effect as planned, or its
/// answer cannot be followed (a create without an id).
pub(crate) fn apply_outcomes(
    mut state: DirectoryState,
    plan: &Plan,
    report: &ExecutionReport,
) -> Option<DirectoryState> {
    if report.outcomes.len() != plan.actions.len() {
        return None;
    }
    // Creates first: a group created in this sync names the users created in it.
    let mut created: HashMap<&str, String> = HashMap::new();
    let mut order: Vec<(&Action, &Outcome)> = Vec::with_capacity(plan.actions.len());
    for o in &report.outcomes {
        order.push((plan.actions.get(o.index)?, &o.outcome));
    }
    for (action, outcome) in &order {
        // A write that did not take effect, or a create that found its object already made
        // (whose status, names or members are Password Boss's, not the plan's): re-read.
        let Outcome::Applied(applied) = outcome else {
            return None;
        };
        if applied.recovered {
            return None;
        }
        if let Action::CreateUser {
            external_id,
            email,
            first_name,
            last_name,
            status,
        } = action
        {
            let id = applied.id.clone()?;
            let status = if applied.pending_no_license {
                AccountStatus::Pending
            } else {
                *status
            };
            if status == AccountStatus::Active {
                state.licenses.used += 1;
            }
            created.insert(external_id, id.clone());
            state.users.push(Account {
                id,
                email: email.clone(),
                first_name: first_name.clone(),
                last_name: last_name.clone(),
                status,
                owner: Owner::AzureAd,
                external_id: Some(external_id.clone()),
                role: Role::User,
            });
        }
    }
    // Users by id, once: a sync with many changes must not scan the state per write.
    let position: HashMap<String, usize> = state
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.id.clone(), i))
        .collect();
    let mut removed: BTreeSet<String> = BTreeSet::new();
    for (action, outcome) in order {
        let Outcome::Applied(applied) = outcome else {
            return None;
        };
        match action {
            Action::CreateUser { .. } => {}
            Action::UpdateUser {
                user_id,
                external_id,
                changes,
                ..
            } => {
                let user = &mut state.users[*position.get(user_id)?];
                if let Some(first) = &changes.first_name {
                    user.first_name = first.clone();
                }
                if let Some(last) = &changes.last_name {
                    user.last_name = last.clone();
                }
                if changes.adopt {
                    user.owner = Owner::AzureAd;
                    user.external_id = Some(external_id.clone());
                }
                if changes.enable && user.status != AccountStatus::Active {
                    user.status = AccountStatus::Active;
                    state.licenses.used += 1;
                }
            }
            Action::DeprovisionUser { user_id, how, .. } => {
                let user = &mut state.users[*position.get(user_id)?];
                if user.status == AccountStatus::Active {
                    state.licenses.used = state.licenses.used.saturating_sub(1);
                }
                match how {
                    Deprovision::Disable => user.status = AccountStatus::Disabled,
                    Deprovision::Remove | Deprovision::Delete => {
                        removed.insert(user_id.clone());
                    }
                }
            }
            Action::CreateGroup {
                external_id,
                name,
                members,
            } => {
                let id = applied.id.clone()?;
                state
                    .memberships
                    .insert(id.clone(), resolve(members, &created)?);
                state.groups.push(Group {
                    id,
                    name: name.clone(),
                    owner: Owner::AzureAd,
                    external_id: Some(external_id.clone()),
                });
            }
            Action::UpdateGroup {
                group_id,
                rename,
                members,
                ..
            } => {
                let group = state.groups.iter_mut().find(|g| &g.id == group_id)?;
                if let Some(name) = rename {
                    group.name = name.clone();
                }
                if let Some(members) = members {
                    state
                        .memberships
                        .insert(group_id.clone(), resolve(members, &created)?);
                }
            }
            Action::DeleteGroup { group_id, .. } => {
                state.groups.retain(|g| &g.id != group_id);
                state.memberships.remove(group_id);
            }
        }
    }
    if !removed.is_empty() {
        state.users.retain(|u| !removed.contains(&u.id));
        // A user who leaves the company leaves its groups.
        for members in state.memberships.values_mut() {
            members.retain(|m| !removed.contains(m));
        }
    }
    Some(state)
}

/// Member ids; `None` when a created member is not known (its create did not take effect).
fn resolve(members: &[MemberRef], created: &HashMap<&str, String>) -> Option<BTreeSet<String>> {
    members
        .iter()
        .map(|m| match m {
            MemberRef::User(id) => Some(id.clone()),
            MemberRef::Created(entra_id) => created.get(entra_id.as_str()).cloned(),
        })
        .collect()
}
