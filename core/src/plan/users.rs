//! In-scope Entra users → user creates and updates (rules 1–5).
//!
//! Each in-scope user is, in order:
//! 1. linked by `externalId` to an account `managedBy: Azure AD` → managed by id (rule 5), whatever
//!    its email says (`NoEmail`, `DuplicateEmail` and `EmailChanged` are reported, never acted on);
//! 2. without a routable email → `NoEmail`;
//! 3. sharing its email with another in-scope user → `DuplicateEmail`, nothing created or adopted;
//! 4. disabled in Entra → nothing more: no account is created, adopted or re-linked for a user
//!    only to deprovision it (a stale account keeps its own leave event; adopting a portal user
//!    here would let `userDisabled: Delete` destroy a vault the connector never managed, and a
//!    deprovisioned account's user would take over the next account holding its email);
//! 5. matched by email (rule 4): re-linked (a null externalId, or one of this tenant's users),
//!    adopted, skipped or left to its other owner (`OwnedByOther`, also for an Azure AD account
//!    whose externalId Graph does not know in this tenant: `snapshot.foreign`);
//! 6. otherwise created (`NoName` when it has no usable name).
//!
//! Licences: each enable takes a free licence (users in Entra id order); none left → `NoLicense`.
//! Active creates then take what is left (Entra id order); creates beyond it are planned
//! `Pending`, which is what Password Boss would make of them, so that creates (which run first)
//! never take the licence a returning user's enable was given.

use std::collections::HashMap;

use super::conflicts;
use super::directory::{DirectoryIndex, Found};
use super::identity::{EmailKey, is_enabled, resolve_email, resolve_names};
use super::rules::Rules;
use super::rules::{ExistingUserRule, NewUserRule};
use super::types::{Action, Conflict, MemberRef, UserChanges};
use crate::domain::{Account, AccountStatus, Owner};
use crate::domain::{EntraSnapshot, EntraUser};

/// What the user pass decided.
pub(super) struct UserPlan {
    /// `CreateUser` and `UpdateUser` actions, unordered.
    pub actions: Vec<Action>,
    pub conflicts: Vec<Conflict>,
    /// By position in `state.users`: the position (in `snapshot.users`) of the in-scope Entra
    /// user the account belongs to after this plan (linked by id, re-linked or adopted).
    /// Accounts here never leave scope except as `Disabled`.
    pub links: Vec<Option<u32>>,
    /// By position in `snapshot.users`: what the user is as a group member, for users enabled in
    /// Entra whose account is usable after this plan (not disabled) or created by it.
    pub members: Vec<Option<Slot>>,
}

/// A group member: an existing account (by position in `state.users`), or the account this plan
/// creates for the Entra user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Slot {
    Account(u32),
    Created,
}

/// A group member as the planner compares memberships: `MemberRef` borrowed from the inputs,
/// ordered the same way, so that memberships are compared without copying an id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Member<'a> {
    /// An existing Password Boss user, by id.
    User(&'a str),
    /// A user this plan creates, by Entra id.
    Created(&'a str),
}

impl Member<'_> {
    pub(super) fn to_ref(self) -> MemberRef {
        match self {
            Member::User(id) => MemberRef::User(id.to_owned()),
            Member::Created(id) => MemberRef::Created(id.to_owned()),
        }
    }
}

/// An in-scope user with its resolved identity.
struct Resolved<'a> {
    position: usize,
    user: &'a EntraUser,
    email: Option<&'a str>,
    names: Option<(&'a str, &'a str)>,
    duplicate: bool,
}

/// The user pass. `in_scope` are `snapshot.users` in order.
pub(super) fn plan_users<'a>(
    snapshot: &'a EntraSnapshot,
    in_scope: &[&'a EntraUser],
    index: &DirectoryIndex<'a>,
    rules: &Rules,
    free_licences: u32,
) -> UserPlan {
    let emails: Vec<Option<&str>> = in_scope
        .iter()
        .map(|u| resolve_email(u, rules.email_attribute))
        .collect();
    let mut sharing: HashMap<EmailKey<'_>, u32> = HashMap::with_capacity(in_scope.len());
    for email in emails.iter().flatten() {
        *sharing.entry(EmailKey(email)).or_default() += 1;
    }
    let mut pass = Pass {
        rules,
        free_licences,
        plan: UserPlan {
            actions: Vec::new(),
            conflicts: Vec::new(),
            links: vec![None; index.len()],
            members: vec![None; in_scope.len()],
        },
        creates: Vec::new(),
    };
    for (position, (user, email)) in in_scope.iter().zip(emails).enumerate() {
        let r = Resolved {
            position,
            user,
            email,
            names: resolve_names(user),
            duplicate: email.is_some_and(|e| sharing[&EmailKey(e)] > 1),
        };
        if let Some(account) = index.linked(&user.id) {
            pass.report_email_of_linked(&r, account.user);
            pass.manage(&r, account, false);
            continue;
        }
        let Some(email) = r.email else {
            pass.conflict(conflicts::no_email(user, rules.email_attribute));
            continue;
        };
        if r.duplicate {
            pass.conflict(conflicts::duplicate_email(user, email));
            continue;
        }
        if !is_enabled(user) {
            continue;
        }
        match index.by_email(email) {
            Some(account) => pass.match_by_email(&r, email, account, snapshot),
            None => pass.create(&r, email),
        }
    }
    pass.finish_creates();
    pass.plan
}

struct Pass<'r> {
    rules: &'r Rules,
    free_licences: u32,
    plan: UserPlan,
    /// `CreateUser` actions waiting for the enables to take their licences first.
    creates: Vec<Action>,
}

impl<'a> Pass<'_> {
    fn conflict(&mut self, conflict: Conflict) {
        self.plan.conflicts.push(conflict);
    }

    /// Rules 3 and 5: the linked account keeps its email; a changed, duplicate or unusable Entra
    /// email is reported and never recreates or deprovisions the account.
    fn report_email_of_linked(&mut self, r: &Resolved<'a>, account: &Account) {
        match r.email {
            Some(email) if r.duplicate => {
                self.conflict(conflicts::duplicate_email(r.user, email));
            }
            Some(email) if !email.eq_ignore_ascii_case(&account.email) => {
                self.conflict(conflicts::email_changed(r.user, email, account));
            }
            Some(_) => {}
            None => self.conflict(conflicts::no_email(r.user, self.rules.email_attribute)),
        }
    }

    /// Rule 4: the account holding the user's email decides.
    fn match_by_email(
        &mut self,
        r: &Resolved<'a>,
        email: &str,
        found: Found<'a>,
        snapshot: &EntraSnapshot,
    ) {
        let account = found.user;
        if account.owner == Owner::AzureAd {
            match account.external_id.as_deref() {
                Some(other) if snapshot.users.contains_key(other) => {
                    self.conflict(conflicts::email_taken_by_link(r.user, email, account));
                }
                // Linked to a user Graph does not know in this tenant: another tenant's.
                Some(other) if snapshot.foreign.contains(other) => {
                    self.conflict(conflicts::linked_elsewhere(r.user, email, account));
                }
                // Null or stale externalId: the Entra user was re-created; keep the vault.
                _ => self.manage(r, found, true),
            }
        } else if account.owner == Owner::PasswordBoss {
            match self.rules.sync_rules.existing_user {
                ExistingUserRule::Adopt => self.manage(r, found, true),
                ExistingUserRule::Skip => {
                    self.conflict(conflicts::existing_user_skipped(r.user, email, account));
                }
            }
        } else {
            self.conflict(conflicts::owned_by_other(r.user, email, account));
        }
    }

    /// Rule 5: one `UpdateUser` with every change to a linked (or now adopted) account.
    fn manage(&mut self, r: &Resolved<'a>, found: Found<'a>, adopt: bool) {
        let account = found.user;
        let mut changes = UserChanges {
            adopt,
            ..UserChanges::default()
        };
        match &r.names {
            Some((first, last)) => {
                changes.first_name = (*first != account.first_name).then(|| (*first).to_owned());
                changes.last_name = (*last != account.last_name).then(|| (*last).to_owned());
            }
            None => self.conflict(conflicts::no_name(r.user, Some(&account.email))),
        }
        let enabled = is_enabled(r.user);
        if enabled && account.status == AccountStatus::Disabled {
            if self.free_licences > 0 {
                self.free_licences -= 1;
                changes.enable = true;
            } else {
                self.conflict(conflicts::no_license(r.user, account));
            }
        }
        if enabled && (account.status != AccountStatus::Disabled || changes.enable) {
            self.plan.members[r.position] = Some(Slot::Account(found.position as u32));
        }
        self.plan.links[found.position] = Some(r.position as u32);
        if changes != UserChanges::default() {
            self.plan.actions.push(Action::UpdateUser {
                user_id: account.id.clone(),
                external_id: r.user.id.clone(),
                email: account.email.clone(),
                changes,
            });
        }
    }

    /// Rule 4, no match: the (enabled) Entra user gets an account.
    fn create(&mut self, r: &Resolved<'a>, email: &str) {
        let Some((first_name, last_name)) = r.names else {
            self.conflict(conflicts::no_name(r.user, Some(email)));
            return;
        };
        let status = match self.rules.sync_rules.new_user {
            NewUserRule::Create => AccountStatus::Active,
            NewUserRule::CreatePending => AccountStatus::Pending,
        };
        self.creates.push(Action::CreateUser {
            external_id: r.user.id.clone(),
            email: email.to_owned(),
            first_name: first_name.to_owned(),
            last_name: last_name.to_owned(),
            status,
        });
        self.plan.members[r.position] = Some(Slot::Created);
    }

    /// Active creates take the licences the enables left; the others are planned pending.
    fn finish_creates(&mut self) {
        for mut action in std::mem::take(&mut self.creates) {
            if let Action::CreateUser { status, .. } = &mut action
                && *status == AccountStatus::Active
            {
                if self.free_licences > 0 {
                    self.free_licences -= 1;
                } else {
                    *status = AccountStatus::Pending;
                }
            }
            self.plan.actions.push(action);
        }
    }
}
