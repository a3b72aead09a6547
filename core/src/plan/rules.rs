//! The connector's rules in the planner's terms: what a tenant chose in its connector, already
//! parsed and defaulted (the operator crate converts its CRD spec to these at its edge).

use std::time::Duration;

/// The connector's rules, as the planner needs them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    pub email_attribute: EmailAttribute,
    pub sync_rules: SyncRules,
    pub safety: Safety,
    /// Who among the sync group's members gets an account.
    pub scope: UserScope,
}

/// The Entra attribute used as the account's email.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EmailAttribute {
    /// `mail`, falling back to `userPrincipalName` when empty.
    #[default]
    Mail,
    UserPrincipalName,
}

/// One choice per lifecycle event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncRules {
    pub new_user: NewUserRule,
    pub user_disabled: LeaveRule,
    pub user_deleted: LeaveRule,
    pub user_removed_from_group: LeaveRule,
    pub existing_user: ExistingUserRule,
}

/// What a new user in scope gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NewUserRule {
    /// An active account.
    #[default]
    Create,
    /// A pending account an admin must approve.
    CreatePending,
}

/// What happens to the account of a user who leaves scope.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LeaveRule {
    /// Disable the account (keeps the vault).
    #[default]
    Disable,
    /// The user leaves the company and keeps a personal account.
    Remove,
    /// Delete the account and its data (permanent).
    Delete,
    /// Do nothing.
    Ignore,
}

/// What happens when an account with the same email already exists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ExistingUserRule {
    /// Take it over: it becomes managed by Azure AD.
    #[default]
    Adopt,
    /// Leave it alone.
    Skip,
}

/// Who, among the sync group's members, gets an account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserScope {
    /// Guests (Entra `userType: Guest`) get no account.
    pub exclude_guests: bool,
    /// Only users whose email is in one of these domains (compared case-insensitively); empty:
    /// any domain.
    pub email_domains: Vec<String>,
}

impl UserScope {
    /// True when nobody is filtered out.
    pub fn is_everyone(&self) -> bool {
        !self.exclude_guests && self.email_domains.is_empty()
    }
}

/// The safety limits every destructive change of a sync counts against (see `safety`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Safety {
    /// At most this many destructive changes in one sync.
    pub max_deprovisions_per_sync: u32,
    /// At most this percentage of the managed users, over `window`.
    pub max_deprovision_percent: u32,
    /// The percentage never holds back this many changes or fewer in a window.
    pub percent_floor: u32,
    /// At most this many destructive changes over `window`, approved ones not counted.
    pub max_deprovisions_per_window: u32,
    /// The rolling window of the two limits above.
    pub window: Duration,
    /// `Remove` and `Delete` act only once a user has been out of scope this long; until then
    /// the account is disabled.
    pub removal_grace_period: Duration,
}

impl Default for Safety {
    /// The connector's defaults: 25 per sync, 20 % (never 2 or fewer), 50 a day, 24 h grace.
    fn default() -> Self {
        const DAY: Duration = Duration::from_secs(86_400);
        Self {
            max_deprovisions_per_sync: 25,
            max_deprovision_percent: 20,
            percent_floor: 2,
            max_deprovisions_per_window: 50,
            window: DAY,
            removal_grace_period: DAY,
        }
    }
}

/// `d` as a Kubernetes duration, whole seconds: `24h`, `1h30m`, `90s` → `1m30s`, `0s`.
pub fn duration_text(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, 'h'), (m, 'm'), (s, 's')] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_the_spec_writes_them() {
        let text = |s| duration_text(Duration::from_secs(s));
        assert_eq!(text(86_400), "24h");
        assert_eq!(text(5_400), "1h30m");
        assert_eq!(text(90), "1m30s");
        assert_eq!(text(3_601), "1h1s");
        assert_eq!(text(0), "0s");
    }
}
