//! The Password Boss state as the connector keeps it between syncs: every account packed into one
//! buffer (its Entra id, a GUID, in 16 bytes), one after the other, and each group's members as
//! positions in the account list. About a third of the unpacked state's memory; unpacked only for
//! a sync that plans.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::domain::{Account, AccountStatus, DirectoryState, Group, Licenses, Owner, Role};
use crate::packed::{put, put_id, take, take_id};

/// A packed `DirectoryState`; `unpack` gives back exactly what `pack` was given (users in order,
/// memberships as sets).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PackedState {
    /// Every account's bytes, in order; account `i` ends at `ends[i]` (one buffer rather than one
    /// allocation an account: no pointer and no allocator rounding per account).
    accounts: Box<[u8]>,
    ends: Box<[usize]>,
    groups: Vec<Group>,
    memberships: Vec<PackedMembers>,
    licenses: Licenses,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct PackedMembers {
    group_id: String,
    /// Positions in `accounts`.
    positions: Box<[u32]>,
    /// Member ids that are no account's (none, normally).
    others: Vec<String>,
}

impl PackedState {
    pub(crate) fn pack(state: DirectoryState) -> Self {
        let position: HashMap<&str, u32> = state
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.id.as_str(), i as u32))
            .collect();
        let memberships = state
            .memberships
            .iter()
            .map(|(group_id, members)| {
                let mut positions = Vec::with_capacity(members.len());
                let mut others = Vec::new();
                for id in members {
                    match position.get(id.as_str()) {
                        Some(&p) => positions.push(p),
                        None => others.push(id.clone()),
                    }
                }
                PackedMembers {
                    group_id: group_id.clone(),
                    positions: positions.into(),
                    others,
                }
            })
            .collect();
        let mut accounts = Vec::new();
        let ends = state
            .users
            .iter()
            .map(|a| {
                pack_account(&mut accounts, a);
                accounts.len()
            })
            .collect();
        Self {
            accounts: accounts.into_boxed_slice(),
            ends,
            groups: state.groups,
            memberships,
            licenses: state.licenses,
        }
    }

    /// The state; `None` only if the bytes were not written by `pack` (never, barring a bug: the
    /// caller then reads Password Boss afresh).
    pub(crate) fn unpack(&self) -> Option<DirectoryState> {
        let mut start = 0;
        let users = self
            .ends
            .iter()
            .map(|&end| {
                let bytes = self.accounts.get(start..end)?;
                start = end;
                unpack_account(bytes)
            })
            .collect::<Option<Vec<Account>>>()?;
        let mut memberships = BTreeMap::new();
        for m in &self.memberships {
            let mut members: BTreeSet<String> = m.others.iter().cloned().collect();
            for &p in &m.positions {
                members.insert(users.get(p as usize)?.id.clone());
            }
            memberships.insert(m.group_id.clone(), members);
        }
        Some(DirectoryState {
            users,
            groups: self.groups.clone(),
            memberships,
            licenses: self.licenses,
        })
    }
}

/// Appends account `a` to `out`.
fn pack_account(out: &mut Vec<u8>, a: &Account) {
    out.push(match a.status {
        AccountStatus::Active => 0,
        AccountStatus::Pending => 1,
        AccountStatus::Disabled => 2,
    });
    out.push(match a.role {
        Role::User => 0,
        Role::Admin => 1,
    });
    match &a.owner {
        Owner::AzureAd => out.push(0),
        Owner::PasswordBoss => out.push(1),
        Owner::ActiveDirectory => out.push(2),
        Owner::Other(name) => {
            out.push(3);
            put(out, Some(name));
        }
    }
    for field in [&a.id, &a.email, &a.first_name, &a.last_name] {
        put(out, Some(field));
    }
    put_id(out, a.external_id.as_deref());
}

fn unpack_account(bytes: &[u8]) -> Option<Account> {
    let (head, mut text) = bytes.split_first_chunk::<3>()?;
    let [status, role, owner] = *head;
    let owner = match owner {
        0 => Owner::AzureAd,
        1 => Owner::PasswordBoss,
        2 => Owner::ActiveDirectory,
        3 => Owner::Other(take(&mut text)?.to_owned()),
        _ => return None,
    };
    let mut next = || take(&mut text).map(str::to_owned);
    let (id, email, first_name, last_name) = (next()?, next()?, next()?, next()?);
    let external_id = take_id(&mut text)?;
    Some(Account {
        id,
        email,
        first_name,
        last_name,
        status: match status {
            0 => AccountStatus::Active,
            1 => AccountStatus::Pending,
            2 => AccountStatus::Disabled,
            _ => return None,
        },
        owner,
        external_id,
        role: match role {
            0 => Role::User,
            1 => Role::Admin,
            _ => return None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn account() -> impl Strategy<Value = Account> {
        (
            "u_[0-9]{1,6}",
            ".{0,40}",
            ".{0,12}",
            ".{0,12}",
            0..3u8,
            0..4u8,
            proptest::option::of(prop_oneof![
                proptest::array::uniform16(0u8..)
                    .prop_map(|b| uuid::Uuid::from_bytes(b).hyphenated().to_string()),
                ".{0,40}",
            ]),
            proptest::bool::ANY,
        )
            .prop_map(
                |(id, email, first, last, status, owner, external_id, admin)| Account {
                    id,
                    email,
                    first_name: first,
                    last_name: last,
                    status: [
                        AccountStatus::Active,
                        AccountStatus::Pending,
                        AccountStatus::Disabled,
                    ][status as usize],
                    owner: match owner {
                        0 => Owner::AzureAd,
                        1 => Owner::PasswordBoss,
                        2 => Owner::ActiveDirectory,
                        _ => Owner::Other("Okta".into()),
                    },
                    external_id,
                    role: if admin { Role::Admin } else { Role::User },
                },
            )
    }

    proptest! {
        #[test]
        fn a_state_unpacks_to_what_was_packed(
            users in proptest::collection::vec(account(), 0..30),
            picks in proptest::collection::vec(proptest::collection::vec(0usize..40, 0..10), 0..4),
        ) {
            let memberships = picks
                .iter()
                .enumerate()
                .map(|(g, picks)| {
                    let members = picks
                        .iter()
                        .map(|&p| users.get(p).map_or_else(|| format!("stray-{p}"), |u| u.id.clone()))
                        .collect();
                    (format!("g_{g}"), members)
                })
                .collect();
            let state = DirectoryState {
                users,
                groups: vec![Group {
                    id: "g_0".into(),
                    name: "HR".into(),
                    owner: Owner::AzureAd,
                    external_id: None,
                }],
                memberships,
                licenses: Licenses { total: 9, used: 3 },
            };
            prop_assert_eq!(PackedState::pack(state.clone()).unpack(), Some(state));
        }
    }
}
