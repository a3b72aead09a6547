//! What the connector knows of Entra after a read: the planner's input from the Graph side,
//! built by the Graph client from its wire types.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// An Entra user as read with `$select=id,displayName,givenName,surname,mail,userPrincipalName,accountEnabled,userType`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct EntraUser {
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
    /// `None` when Graph did not return it (it is only returned on `$select`).
    #[serde(default)]
    pub account_enabled: Option<bool>,
    /// `Member` or `Guest`.
    #[serde(default)]
    pub user_type: Option<String>,
}

/// A mirrored Entra group: its id, current display name and its user members (transitive when
/// nested groups are on). Members outside the sync group are filtered out by the planner.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct EntraGroup {
    pub id: String,
    pub display_name: String,
    pub members: BTreeSet<String>,
}

/// The Entra side of one sync.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct EntraSnapshot {
    /// The sync group's object id and display name.
    pub sync_group_id: String,
    pub sync_group_name: String,
    /// Users in scope: the sync group's user members, keyed by object id.
    pub users: BTreeMap<String, EntraUser>,
    /// Object ids Graph answered 404 for on a lookup (`GET /users/{id}`): deleted in Entra, soft
    /// or hard. Never filled from delta annotations alone. A managed user missing from `users`
    /// is "removed from group" unless its id is here.
    pub deleted: BTreeSet<String>,
    /// Members of the sync group that `spec.scope` leaves out (filled by the planner's
    /// `apply_scope`, never by the Graph read): not created, and deprovisioned as `OutOfScope`.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub out_of_scope: BTreeSet<String>,
    /// The mirrored groups (not the sync group), in spec order.
    pub groups: Vec<EntraGroup>,
    /// False when any read failed or was cut short: the planner then deprovisions nothing.
    pub complete: bool,
    /// Why the snapshot is incomplete, for status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete_reason: Option<String>,
    /// Entra ids Graph does not know as users of this tenant (404, and not in the recycle bin),
    /// among the externalIds of Azure AD accounts holding an in-scope user's email: such an
    /// account was linked by another tenant's connector; it is `OwnedByOther`, never re-linked
    /// or deprovisioned.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub foreign: BTreeSet<String>,
    /// Mirrored groups (`spec.groups` entries) that could not be read this sync: missing,
    /// ambiguous or unreadable. Each is a per-group conflict; users and the other groups still
    /// sync, and no mirrored group is deleted while any entry here is present.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_problems: Vec<GroupProblem>,
}

/// A `spec.groups` entry that could not be read this sync.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct GroupProblem {
    /// The selector as written in the spec (`displayName: HR`, `id: …`).
    pub selector: String,
    /// The Entra group id, when the selector resolved before the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// What went wrong and what to do.
    pub message: String,
}
