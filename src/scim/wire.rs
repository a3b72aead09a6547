//! SCIM 2.0 wire types (RFC 7643 core User and Group, RFC 7644 messages): only the attributes
//! the connector reads or writes; anything else a service sends is ignored.

use serde::{Deserialize, Serialize};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The media type of every request and answer (RFC 7644 §3.1).
pub const MEDIA_TYPE: &str = "application/scim+json";

/// A user as the service returns it.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub external_id: Option<String>,
    pub user_name: String,
    #[serde(default)]
    pub name: Option<Name>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Absent: the service does not say; the connector treats the user as active.
    #[serde(default)]
    pub active: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
}

/// One of a user's email addresses.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Email {
    pub value: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub primary: bool,
}

/// `POST /Users` body.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    pub schemas: [&'static str; 1],
    pub user_name: String,
    pub external_id: String,
    pub name: Name,
    pub display_name: String,
    pub emails: Vec<Email>,
    pub active: bool,
}

/// A group as the service returns it.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    pub display_name: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub members: Vec<Member>,
}

/// A group member: a user or a group, by id.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub value: String,
    /// `User` or `Group`; services often leave it out.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `POST /Groups` body.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NewGroup {
    pub schemas: [&'static str; 1],
    pub display_name: String,
    pub external_id: String,
    pub members: Vec<Member>,
}

/// `PATCH` body (RFC 7644 §3.5.2).
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct PatchRequest {
    pub schemas: [&'static str; 1],
    #[serde(rename = "Operations")]
    pub operations: Vec<PatchOperation>,
}

impl PatchRequest {
    pub fn new(operations: Vec<PatchOperation>) -> Self {
        Self {
            schemas: [PATCH_SCHEMA],
            operations,
        }
    }
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct PatchOperation {
    pub op: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

impl PatchOperation {
    pub fn replace(path: &str, value: serde_json::Value) -> Self {
        Self {
            op: "replace",
            path: Some(path.to_owned()),
            value: Some(value),
        }
    }
}

/// A listing page (RFC 7644 §3.4.2).
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    pub total_results: u64,
    #[serde(default)]
    pub items_per_page: Option<u64>,
    #[serde(default)]
    pub start_index: Option<u64>,
    #[serde(rename = "Resources", default = "Vec::new")]
    pub resources: Vec<T>,
}

/// `GET /ServiceProviderConfig` (RFC 7643 §5): what the service supports.
#[derive(Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceProviderConfig {
    #[serde(default)]
    pub patch: Supported,
    #[serde(default)]
    pub filter: FilterSupport,
    #[serde(default)]
    pub bulk: Supported,
    #[serde(default)]
    pub etag: Supported,
    #[serde(default)]
    pub sort: Supported,
}

#[derive(Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Supported {
    #[serde(default)]
    pub supported: bool,
}

#[derive(Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FilterSupport {
    #[serde(default)]
    pub supported: bool,
    #[serde(default)]
    pub max_results: Option<u64>,
}

/// A filter `attribute eq "value"` with the value escaped (`\` and `"`), so a value from Entra
/// or the service cannot end the string and add a clause of its own.
pub fn eq_filter(attribute: &str, value: &str) -> String {
    let mut escaped = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        if c == '\\' || c == '"' {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    format!("{attribute} eq \"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_cannot_break_out_of_their_string() {
        assert_eq!(
            eq_filter("userName", "ada@contoso.com"),
            r#"userName eq "ada@contoso.com""#
        );
        assert_eq!(
            eq_filter("userName", r#"x" or userName pr or "\"#),
            r#"userName eq "x\" or userName pr or \"\\""#
        );
    }

    #[test]
    fn a_listing_reads_what_services_send() {
        let page: ListResponse<User> = serde_json::from_str(
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults":2,"itemsPerPage":1,"startIndex":1,
                "Resources":[{"id":"1","userName":"a@b.co","active":false,
                "meta":{"location":"https://elsewhere.example/Users/1"}}]}"#,
        )
        .unwrap();
        assert_eq!(page.total_results, 2);
        assert_eq!(page.resources[0].active, Some(false));
        let empty: ListResponse<User> = serde_json::from_str(r#"{"totalResults":0}"#).unwrap();
        assert!(empty.resources.is_empty());
    }
}
