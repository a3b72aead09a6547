//! The Password Boss side of a sync in the connector's terms: accounts, groups, who owns them,
//! the licences. The Password Boss client builds a `DirectoryState` from its wire types.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

/// Name of the automatic group every company has.
pub const EVERYONE_GROUP: &str = "Everyone";

/// Which source owns an account or a group: only `AzureAd` objects are this connector's to
/// change; a portal object can be adopted by rule; any other source's is left alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Owner {
    /// An Azure AD connector (this one, or another tenant's: see `OwnedByOther`).
    AzureAd,
    /// Created in the Password Boss portal (and the Everyone group).
    #[default]
    PasswordBoss,
    /// The on-premises Active Directory connector.
    ActiveDirectory,
    /// Any other source, by the name Password Boss gives it.
    Other(String),
}

impl Owner {
    /// The source's name, as Password Boss writes it in `managedBy`.
    pub fn name(&self) -> &str {
        match self {
            Self::AzureAd => "Azure AD",
            Self::PasswordBoss => "Password Boss",
            Self::ActiveDirectory => "Active Directory",
            Self::Other(name) => name,
        }
    }

    /// The owner Password Boss names `name`.
    pub fn from_name(name: &str) -> Self {
        [Self::AzureAd, Self::PasswordBoss, Self::ActiveDirectory]
            .into_iter()
            .find(|o| o.name() == name)
            .unwrap_or_else(|| Self::Other(name.to_owned()))
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An account's state in Password Boss.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    Active,
    /// Invited; the invitation is not accepted yet.
    Pending,
    Disabled,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Pending => "pending",
            Self::Disabled => "disabled",
        }
    }
}

/// An account's role in its company: admins are never deprovisioned by the connector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Role {
    #[default]
    User,
    Admin,
}

/// A Password Boss account.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Account {
    pub id: String,
    /// Immutable once the account exists.
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub status: AccountStatus,
    pub owner: Owner,
    /// The Entra object id of the user an Azure AD connector linked it to.
    pub external_id: Option<String>,
    pub role: Role,
}

/// A Password Boss group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub owner: Owner,
    /// The Entra object id of the group an Azure AD connector mirrors into it.
    pub external_id: Option<String>,
}

/// The company's licences.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Licenses {
    pub total: u32,
    pub used: u32,
}

impl Licenses {
    pub fn free(&self) -> u32 {
        self.total.saturating_sub(self.used)
    }
}

/// The Password Boss side of one sync: everything the token's company holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DirectoryState {
    pub users: Vec<Account>,
    pub groups: Vec<Group>,
    /// Group id → member account ids, for every group an Azure AD connector owns.
    pub memberships: BTreeMap<String, BTreeSet<String>>,
    pub licenses: Licenses,
}

/// Whether an address is one Password Boss accepts: `local@domain.tld`, routable (no spaces, a dotted
/// domain with an alphabetic top-level label, no Entra guest `#EXT#` marker, not `.local`).
/// The planner predicts the server's refusal with it; `tests/suite/planner/properties.rs` checks that it
/// agrees with the Password Boss simulator's own rule.
pub fn is_routable_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > 64 || domain.len() > 253 || email.contains('#') {
        return false;
    }
    if email
        .chars()
        .any(|c| c.is_whitespace() || crate::text::is_hidden_char(c))
    {
        return false;
    }
    if local.contains('@') || local.starts_with('.') || local.ends_with('.') || local.contains("..")
    {
        return false;
    }
    // Checked without allocating: the planner asks this for every user on every sync.
    let Some((_, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
    };
    if !domain.split('.').all(valid_label) {
        return false;
    }
    tld.len() >= 2
        && tld.bytes().all(|c| c.is_ascii_alphabetic())
        && !tld.eq_ignore_ascii_case("local")
        && !tld.eq_ignore_ascii_case("localhost")
}

#[cfg(test)]
mod tests {
    use super::is_routable_email;

    #[test]
    fn routable_addresses() {
        for ok in [
            "ada@contoso.com",
            "Ada.Lovelace@Contoso.CO.UK",
            "a+b@x-y.io",
        ] {
            assert!(is_routable_email(ok), "{ok} should be accepted");
        }
        for bad in [
            "",
            "ada",
            "@contoso.com",
            "ada@",
            "ada@contoso",
            "ada@contoso.local",
            "a da@contoso.com",
            "ada_contoso.com#EXT#@tenant.onmicrosoft.com",
            "ada@@contoso.com",
            "ada@-contoso.com",
            "ada@contoso.c0m",
            ".ada@contoso.com",
            "a..da@contoso.com",
            "ada\u{202E}moc.liam@contoso.com",
            "ad\u{200B}a@contoso.com",
            "\u{2066}ada@contoso.com",
            "ada\u{0}@contoso.com",
            "ada@contoso.com\u{FEFF}",
        ] {
            assert!(!is_routable_email(bad), "{bad} should be refused");
        }
    }
}
