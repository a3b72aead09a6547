//! Conflict records. Each message says what happened and what an administrator can do about it.
//! Messages carry names, emails and ids only (directory data, never credentials).

use super::identity::MAX_NAME_CHARS;
use super::rules::EmailAttribute;
use super::types::{Conflict, ConflictKind, Deprovision, LeaveReason};
use crate::domain::Account;
use crate::domain::{EntraGroup, EntraUser};
use crate::text::remote_text;

fn user_conflict(
    kind: ConflictKind,
    entra_id: Option<&str>,
    email: Option<&str>,
    message: String,
) -> Conflict {
    Conflict {
        kind,
        external_id: entra_id.map(Into::into),
        email: email.map(Into::into),
        message,
    }
}

/// The user as a person reads it: the display name cleaned and cut (`text::remote_text`).
fn who(user: &EntraUser) -> String {
    let id = remote_text(&user.id);
    match user.display_name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => format!("Entra user \"{}\" ({id})", remote_text(name)),
        _ => format!("Entra user {id}"),
    }
}

pub(super) fn no_email(user: &EntraUser, attribute: EmailAttribute) -> Conflict {
    let source = match attribute {
        EmailAttribute::Mail => "mail (or userPrincipalName when mail is empty)",
        EmailAttribute::UserPrincipalName => "userPrincipalName",
    };
    user_conflict(
        ConflictKind::NoEmail,
        Some(&user.id),
        None,
        format!(
            "{} has no routable email in {source} (an address with control or invisible \
             characters, such as bidi overrides, counts as none); set an address like \
             name@example.com in Entra, or change emailAttribute",
            who(user)
        ),
    )
}

pub(super) fn no_name(user: &EntraUser, email: Option<&str>) -> Conflict {
    user_conflict(
        ConflictKind::NoName,
        Some(&user.id),
        email,
        format!(
            "{} has no usable first and last name (a name over {MAX_NAME_CHARS} characters or \
             with control or invisible characters counts as none); set givenName and surname (or \
             a two-word displayName) in Entra",
            who(user)
        ),
    )
}

pub(super) fn duplicate_email(user: &EntraUser, email: &str) -> Conflict {
    user_conflict(
        ConflictKind::DuplicateEmail,
        Some(&user.id),
        Some(email),
        format!(
            "{} shares the email {email} with another user in the sync group; no account is \
             created or adopted for that email until only one user in scope has it",
            who(user)
        ),
    )
}

pub(super) fn email_taken_by_link(user: &EntraUser, email: &str, account: &Account) -> Conflict {
    let other = account.external_id.as_deref().unwrap_or_default();
    user_conflict(
        ConflictKind::DuplicateEmail,
        Some(&user.id),
        Some(email),
        format!(
            "{} has the email {email}, but the account {} with that email belongs to Entra \
             user {other}, also in the sync group; give one of them another address in Entra",
            who(user),
            account.id
        ),
    )
}

pub(super) fn email_changed(user: &EntraUser, new_email: &str, account: &Account) -> Conflict {
    user_conflict(
        ConflictKind::EmailChanged,
        Some(&user.id),
        Some(new_email),
        format!(
            "{}'s email changed to {new_email}, but the account {} keeps {} because the connector \
             never changes an account's email; the account is still synced. Restore the old \
             address in Entra, or move the user to a new account in the portal",
            who(user),
            account.id,
            account.email
        ),
    )
}

pub(super) fn owned_by_other(user: &EntraUser, email: &str, account: &Account) -> Conflict {
    user_conflict(
        ConflictKind::OwnedByOther,
        Some(&user.id),
        Some(email),
        format!(
            "{}: the account {} with the email {email} is managed by \"{}\" and is left \
             alone; remove it from that source first if Entra should manage it",
            who(user),
            account.id,
            account.owner
        ),
    )
}

pub(super) fn linked_elsewhere(user: &EntraUser, email: &str, account: &Account) -> Conflict {
    user_conflict(
        ConflictKind::OwnedByOther,
        Some(&user.id),
        Some(email),
        format!(
            "{}: the account {} with the email {email} is managed by Azure AD for {}, \
             which is not a user of this tenant (another connector's); it is left alone. If it \
             was this tenant's user and is gone for good, clear its externalId in the portal \
             (Password Boss) or the service's admin console (SCIM) so that this connector may \
             take it over",
            who(user),
            account.id,
            account.external_id.as_deref().unwrap_or("-")
        ),
    )
}

/// A departed account whose externalId Graph does not know in this tenant (`snapshot.foreign`).
pub(super) fn departed_elsewhere(account: &Account, external_id: &str) -> Conflict {
    user_conflict(
        ConflictKind::OwnedByOther,
        Some(external_id),
        Some(&account.email),
        format!(
            "the account {} ({}) carries the externalId {}, which is not a user of this tenant \
             (nor in its recycle bin): another provisioner's or another tenant's; it is left \
             alone. If it was this tenant's user and is gone for good, change or remove the \
             account in the portal (Password Boss) or the service's admin console (SCIM)",
            remote_text(&account.id),
            remote_text(&account.email),
            remote_text(external_id)
        ),
    )
}

pub(super) fn existing_user_skipped(user: &EntraUser, email: &str, account: &Account) -> Conflict {
    user_conflict(
        ConflictKind::ExistingUserSkipped,
        Some(&user.id),
        Some(email),
        format!(
            "{}: the account {} already has the email {email} and syncRules.existingUser \
             is Skip; set it to Adopt to take the account over",
            who(user),
            account.id
        ),
    )
}

pub(super) fn no_license(user: &EntraUser, account: &Account) -> Conflict {
    user_conflict(
        ConflictKind::NoLicense,
        Some(&user.id),
        Some(&account.email),
        format!(
            "{} is enabled in Entra but Password Boss user {} stays disabled: no licence is \
             free; add licences or free one, and the next sync enables it",
            who(user),
            account.id
        ),
    )
}

pub(super) fn admin_not_deprovisioned(
    account: &Account,
    external_id: Option<&str>,
    reason: LeaveReason,
    how: Deprovision,
) -> Conflict {
    let why = match reason {
        LeaveReason::Deleted => "was deleted in Entra",
        LeaveReason::Disabled => "is disabled in Entra",
        LeaveReason::RemovedFromGroup => "left the sync group",
        LeaveReason::OutOfScope => "is outside spec.scope",
    };
    let what = match how {
        Deprovision::Disable => "disabled",
        Deprovision::Remove => "removed from the company",
        Deprovision::Delete => "deleted",
    };
    user_conflict(
        ConflictKind::AdminNotDeprovisioned,
        external_id,
        Some(&account.email),
        format!(
            "Password Boss admin {} ({}) {why} and would be {what}, but admins are never \
             deprovisioned by the connector; change the account in the Password Boss portal",
            account.id, account.email
        ),
    )
}

pub(super) fn group_name_taken(group: &EntraGroup, name: &str, renaming: bool) -> Conflict {
    let verb = if renaming { "renamed to" } else { "created as" };
    Conflict {
        kind: ConflictKind::GroupNameTaken,
        external_id: Some(group.id.clone()),
        email: None,
        message: format!(
            "Entra group {} cannot be {verb} \"{name}\": a group of that name \
             already exists; rename one of the two groups",
            group.id
        ),
    }
}
