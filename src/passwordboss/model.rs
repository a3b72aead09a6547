//! Password Boss API v1 wire types (the contract in `passwordboss-api.md`).

use serde::{Deserialize, Serialize};

/// `managedBy` value of objects this connector owns.
pub const MANAGED_BY_AZURE_AD: &str = "Azure AD";
/// `managedBy` value of objects created in the portal (and of the Everyone group).
pub const MANAGED_BY_PASSWORD_BOSS: &str = "Password Boss";
/// `managedBy` value of the on-premises AD connector's objects.
pub const MANAGED_BY_ACTIVE_DIRECTORY: &str = "Active Directory";
/// Name of the automatic group every company has.
pub const EVERYONE_GROUP: &str = "Everyone";

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Active,
    Pending,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Pending => "pending",
            Self::Disabled => "disabled",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    User,
    Admin,
}

/// A Password Boss user.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub status: UserStatus,
    pub managed_by: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub role: Role,
}

impl User {
    pub fn is_managed_by_azure_ad(&self) -> bool {
        self.managed_by == MANAGED_BY_AZURE_AD
    }
}

/// A Password Boss group.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    pub name: String,
    pub managed_by: String,
    #[serde(default)]
    pub external_id: Option<String>,
}

impl Group {
    pub fn is_managed_by_azure_ad(&self) -> bool {
        self.managed_by == MANAGED_BY_AZURE_AD
    }
}

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

/// `GET /v1/connector`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorInfo {
    pub company_id: String,
    pub company_name: String,
    pub licenses: Licenses,
}

/// `POST /v1/users` body.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub external_id: Option<String>,
    pub managed_by: String,
    pub status: UserStatus,
}

/// `PATCH /v1/users/{id}` body; absent fields are unchanged.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UserPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<UserStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// `POST /v1/groups` body.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NewGroup {
    pub name: String,
    pub external_id: Option<String>,
    pub managed_by: String,
}

/// Every error body: `{"error": {"code", "message", ...}}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    pub code: String,
    #[serde(default)]
    pub message: String,
    /// Set with `email_exists`: the user that holds the email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// Whether an address is one Password Boss accepts: `local@domain.tld`, routable (no spaces, a dotted
/// domain with an alphabetic top-level label, no Entra guest `#EXT#` marker, not `.local`).
/// The planner predicts the server's refusal with it; `tests/planner_properties.rs` checks that it
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
        .any(|c| c.is_whitespace() || crate::bounded::is_hidden_char(c))
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
