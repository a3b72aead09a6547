//! Builders for planner tests: Entra users, Password Boss accounts and groups, and a `Scenario`
//! holding one snapshot, one directory state and the rules.
use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use pbconnector::domain::{Account, AccountStatus, Group, Licenses, Owner, Role};
use pbconnector::domain::{EntraGroup, EntraSnapshot, EntraUser};
use pbconnector::plan::Safety;
use pbconnector::plan::{
    Action, Conflict, ConflictKind, DirectoryState, Plan, Rules, SafetyInput, plan,
};

pub const SYNC_GROUP: &str = "sync-group";
pub const FIRST: &str = "Ada";
pub const LAST: &str = "Lovelace";

/// An enabled Entra user `id` with mail `{id}@contoso.com` and names `FIRST LAST`.
pub fn entra(id: &str) -> EntraUser {
    EntraUser {
        id: id.into(),
        display_name: Some(format!("{FIRST} {LAST}")),
        given_name: Some(FIRST.into()),
        surname: Some(LAST.into()),
        mail: Some(email_of(id)),
        user_principal_name: Some(format!("{id}@contoso.onmicrosoft.com")),
        account_enabled: Some(true),
        user_type: Some("Member".into()),
    }
}

pub fn email_of(id: &str) -> String {
    format!("{id}@contoso.com")
}

pub fn disabled(mut user: EntraUser) -> EntraUser {
    user.account_enabled = Some(false);
    user
}

/// A guest (`userType: Guest`), as B2B invitations are.
pub fn guest(mut user: EntraUser) -> EntraUser {
    user.user_type = Some("Guest".into());
    user
}

pub fn with_mail(mut user: EntraUser, mail: &str) -> EntraUser {
    user.mail = Some(mail.into());
    user
}

/// An active account `managedBy: Azure AD` linked to Entra user `entra_id`, with the email and
/// names `entra(entra_id)` resolves to (so it needs no update).
pub fn linked(pb_id: &str, entra_id: &str) -> Account {
    Account {
        id: pb_id.into(),
        email: email_of(entra_id),
        first_name: FIRST.into(),
        last_name: LAST.into(),
        status: AccountStatus::Active,
        owner: Owner::AzureAd,
        external_id: Some(entra_id.into()),
        role: Role::User,
    }
}

/// An active account created in the portal with `email`.
pub fn portal(pb_id: &str, email: &str) -> Account {
    Account {
        owner: Owner::PasswordBoss,
        external_id: None,
        email: email.into(),
        ..linked(pb_id, "unused")
    }
}

pub fn owned_by(mut user: Account, owner: Owner) -> Account {
    user.owner = owner;
    user
}

pub fn status(mut user: Account, status: AccountStatus) -> Account {
    user.status = status;
    user
}

pub fn admin(mut user: Account) -> Account {
    user.role = Role::Admin;
    user
}

pub fn pb_group(id: &str, name: &str, owner: Owner, external_id: Option<&str>) -> Group {
    Group {
        id: id.into(),
        name: name.into(),
        owner,
        external_id: external_id.map(Into::into),
    }
}

pub fn entra_group(id: &str, name: &str, members: &[&str]) -> EntraGroup {
    EntraGroup {
        id: id.into(),
        display_name: name.into(),
        members: members.iter().map(|m| (*m).to_owned()).collect(),
    }
}

/// One planning situation. Defaults: complete snapshot, 1000 free licences, default rules.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub snapshot: EntraSnapshot,
    pub state: DirectoryState,
    pub rules: Rules,
    /// The time, the record of earlier syncs and the approval.
    pub input: SafetyInput,
}

/// The scenarios' time: fixed, so equal scenarios give equal plans.
pub fn at() -> Timestamp {
    Timestamp::from_second(1_800_000_000).expect("a valid time")
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            snapshot: EntraSnapshot {
                sync_group_id: SYNC_GROUP.into(),
                sync_group_name: "Password Boss Users".into(),
                complete: true,
                ..EntraSnapshot::default()
            },
            state: DirectoryState {
                licenses: Licenses {
                    total: 1000,
                    used: 0,
                },
                ..DirectoryState::default()
            },
            rules: Rules {
                safety: Safety {
                    // Removes and deletes act at once; the grace period has tests of its own.
                    removal_grace_period: Duration::ZERO,
                    ..Safety::default()
                },
                ..Rules::default()
            },
            input: SafetyInput {
                now: at(),
                ..SafetyInput::default()
            },
        }
    }
}

impl Scenario {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn entra(mut self, user: EntraUser) -> Self {
        self.snapshot.users.insert(user.id.clone(), user);
        self
    }

    pub fn deleted(mut self, id: &str) -> Self {
        self.snapshot.deleted.insert(id.into());
        self
    }

    pub fn account(mut self, user: Account) -> Self {
        self.state.users.push(user);
        self
    }

    pub fn group(mut self, group: EntraGroup) -> Self {
        self.snapshot.groups.push(group);
        self
    }

    /// A Password Boss group; one managed by Azure AD is owned by the connector (it made it).
    pub fn pb_group(mut self, group: Group, members: &[&str]) -> Self {
        if group.owner == Owner::AzureAd
            && let Some(id) = &group.external_id
        {
            self.input.record.owned_groups.push(id.clone());
        }
        self.pb_group_of_another(group, members)
    }

    /// A Password Boss group the connector does not own (another connector made it).
    pub fn pb_group_of_another(mut self, group: Group, members: &[&str]) -> Self {
        let members: BTreeSet<String> = members.iter().map(|m| (*m).to_owned()).collect();
        if !members.is_empty() || group.owner == Owner::AzureAd {
            self.state.memberships.insert(group.id.clone(), members);
        }
        self.state.groups.push(group);
        self
    }

    pub fn licences(mut self, total: u32, used: u32) -> Self {
        self.state.licenses = Licenses { total, used };
        self
    }

    pub fn incomplete(mut self) -> Self {
        self.snapshot.complete = false;
        self.snapshot.incomplete_reason = Some("member list cut short".into());
        self
    }

    pub fn rules(mut self, change: impl FnOnce(&mut Rules)) -> Self {
        change(&mut self.rules);
        self
    }

    pub fn plan(&self) -> Plan {
        plan(&self.snapshot, &self.state, &self.rules, &self.input)
    }

    /// The plan approved with the token the plan holds back (or the plan, if nothing is held).
    pub fn plan_approving(&self) -> Plan {
        match self.plan().held {
            Some(held) => self.plan_with_approval(&held.token),
            None => self.plan(),
        }
    }

    /// The plan with this approval token.
    pub fn plan_with_approval(&self, token: &str) -> Plan {
        let input = self.input.clone().approving(token);
        plan(&self.snapshot, &self.state, &self.rules, &input)
    }
}

/// The conflicts of one kind, as (external id, email).
pub fn conflicts_of(plan: &Plan, kind: ConflictKind) -> Vec<(Option<String>, Option<String>)> {
    plan.conflicts
        .iter()
        .filter(|c| c.kind == kind)
        .map(|c| (c.external_id.clone(), c.email.clone()))
        .collect()
}

pub fn kinds(conflicts: &[Conflict]) -> Vec<ConflictKind> {
    conflicts.iter().map(|c| c.kind).collect()
}

pub fn deprovisions(plan: &Plan) -> Vec<&Action> {
    plan.actions.iter().filter(|a| a.is_deprovision()).collect()
}
