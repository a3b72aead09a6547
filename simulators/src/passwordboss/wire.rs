//! The Password Boss API v1 objects as the simulator sends and stores them (the contract in
//! `passwordboss-api.md`), and the server's rules on them. The simulator models the wire, not
//! the connector's own types: a client that reads these bodies differently fails against it.

use serde::{Deserialize, Serialize};

/// `managedBy` of objects the Entra ID connector owns.
pub const MANAGED_BY_AZURE_AD: &str = "Azure AD";
/// `managedBy` of objects created in the portal (and of the Everyone group).
pub const MANAGED_BY_PASSWORD_BOSS: &str = "Password Boss";
/// `managedBy` of the on-premises AD connector's objects.
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

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    User,
    Admin,
}

/// A user, as `GET /v1/users` lists it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub status: UserStatus,
    pub managed_by: String,
    pub external_id: Option<String>,
    pub role: Role,
}

/// A group, as `GET /v1/groups` lists it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    pub name: String,
    pub managed_by: String,
    pub external_id: Option<String>,
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

/// Every error body: `{"error": {"code", "message", ...}}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    /// Set with `email_exists`: the user that holds the email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// Whether the server accepts an address for `POST /v1/users` (else `400 invalid_email`):
/// `local@domain.tld`, routable (no spaces or invisible characters, a dotted domain with an
/// alphabetic top-level label, no Entra guest `#EXT#` marker, not `.local`). The connector's
/// planner predicts this rule; a test checks that the two agree.
pub fn is_routable_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > 64 || domain.len() > 253 || email.contains('#') {
        return false;
    }
    if email
        .chars()
        .any(|c| c.is_whitespace() || is_hidden_char(c))
    {
        return false;
    }
    if local.contains('@') || local.starts_with('.') || local.ends_with('.') || local.contains("..")
    {
        return false;
    }
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

/// Unicode format characters (general category Cf) and the line/paragraph separators.
const FORMAT_RANGES: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// A control character or an invisible format character.
fn is_hidden_char(c: char) -> bool {
    c.is_control()
        || FORMAT_RANGES
            .iter()
            .any(|&(first, last)| (first..=last).contains(&(c as u32)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_wire_form() {
        let user = User {
            id: "u_1".into(),
            email: "ada@contoso.com".into(),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            status: UserStatus::Pending,
            managed_by: MANAGED_BY_AZURE_AD.into(),
            external_id: None,
            role: Role::Admin,
        };
        assert_eq!(
            serde_json::to_value(&user).unwrap(),
            serde_json::json!({
                "id": "u_1", "email": "ada@contoso.com", "firstName": "Ada",
                "lastName": "Lovelace", "status": "pending", "managedBy": "Azure AD",
                "externalId": null, "role": "admin"
            })
        );
    }

    #[test]
    fn refused_addresses() {
        assert!(is_routable_email("Ada.Lovelace@Contoso.CO.UK"));
        for bad in [
            "ada@contoso.local",
            "ada_contoso.com#EXT#@tenant.onmicrosoft.com",
            "ad\u{200B}a@contoso.com",
            "ada\u{0}@contoso.com",
            "ada@contoso.c0m",
        ] {
            assert!(!is_routable_email(bad), "{bad} should be refused");
        }
    }
}
