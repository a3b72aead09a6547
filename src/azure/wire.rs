//! Graph JSON shapes the client reads.

use serde::Deserialize;

/// `{"error":{"code":…,"message":…}}`
#[derive(Deserialize, Debug)]
pub(crate) struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Deserialize, Debug)]
pub(crate) struct ErrorDetail {
    #[serde(default)]
    pub code: String,
}

/// One page of a collection or a delta round.
#[derive(Deserialize, Debug)]
pub(crate) struct Page {
    #[serde(default)]
    pub value: Vec<WireObject>,
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default)]
    pub delta_link: Option<String>,
}

/// A directoryObject as returned by members, transitiveMembers, `/users/{id}` and delta.
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireObject {
    #[serde(rename = "@odata.type", default)]
    pub odata_type: Option<String>,
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub surname: Option<String>,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub account_enabled: Option<bool>,
    #[serde(default)]
    pub user_type: Option<String>,
    #[serde(rename = "members@delta", default)]
    pub members_delta: Option<Vec<MemberDelta>>,
    #[serde(rename = "@removed", default)]
    pub removed: Option<Removed>,
}

impl WireObject {
    pub(crate) fn is_group(&self) -> bool {
        self.odata_type.as_deref() == Some("#microsoft.graph.group")
    }

    pub(crate) fn is_user(&self) -> bool {
        self.odata_type.as_deref() == Some("#microsoft.graph.user")
    }
}

#[derive(Deserialize, Debug)]
pub(crate) struct MemberDelta {
    #[serde(rename = "@odata.type", default)]
    pub odata_type: Option<String>,
    pub id: String,
    #[serde(rename = "@removed", default)]
    pub removed: Option<Removed>,
}

/// `@removed`: its `reason` (`changed` = soft delete, `deleted` = hard delete) does not matter
/// here: on a user it only makes the user worth a lookup (`lookup.rs`), which says how it left.
pub(crate) type Removed = serde::de::IgnoredAny;

/// `{"id","displayName"}` of a group.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireGroup {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Deserialize, Debug)]
pub(crate) struct GroupList {
    pub value: Vec<WireGroup>,
}
