//! Password Boss API v1 wire types (the contract in `passwordboss-api.md`).

use serde::{Deserialize, Serialize};

use crate::domain::{self, AccountStatus, Licenses, Owner};

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

/// A Password Boss user.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
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

/// A Password Boss group.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    pub name: String,
    pub managed_by: String,
    #[serde(default)]
    pub external_id: Option<String>,
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

// The edge: wire types become the domain's, and back for the bodies the apply step sends.

impl From<UserStatus> for AccountStatus {
    fn from(status: UserStatus) -> Self {
        match status {
            UserStatus::Active => Self::Active,
            UserStatus::Pending => Self::Pending,
            UserStatus::Disabled => Self::Disabled,
        }
    }
}

impl From<AccountStatus> for UserStatus {
    fn from(status: AccountStatus) -> Self {
        match status {
            AccountStatus::Active => Self::Active,
            AccountStatus::Pending => Self::Pending,
            AccountStatus::Disabled => Self::Disabled,
        }
    }
}

impl From<User> for domain::Account {
    fn from(user: User) -> Self {
        Self {
            owner: Owner::from_name(&user.managed_by),
            id: user.id,
            email: user.email,
            first_name: user.first_name,
            last_name: user.last_name,
            status: user.status.into(),
            external_id: user.external_id,
            role: match user.role {
                Role::User => domain::Role::User,
                Role::Admin => domain::Role::Admin,
            },
        }
    }
}

impl From<Group> for domain::Group {
    fn from(group: Group) -> Self {
        Self {
            owner: Owner::from_name(&group.managed_by),
            id: group.id,
            name: group.name,
            external_id: group.external_id,
        }
    }
}
