//! `AzureAdConnector` spec: the fields users write in manifests (names fixed by the public interface).
// `#[kube(printcolumn(...))]` repeats `type_ = ...` once per column, which clippy mistakes for a
// duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schema_rules::{
    DEFAULT_PASSWORDBOSS_API_URL, connector_cloud_schema, duration_schema, email_domains_schema,
    endpoint_schema, guid_schema, optional_date_schema, optional_endpoint_schema,
    optional_guid_schema, scim_endpoint_schema, tenant_schema,
};
use super::status::AzureAdConnectorStatus;

/// Default interval between two syncs of one connector.
pub const DEFAULT_INTERVAL: &str = "1m";
/// Default interval between two full (non-delta) reads of Entra.
pub const DEFAULT_FULL_SYNC_INTERVAL: &str = "1h";

/// An AzureAdConnector keeps the Password Boss users of one company in step with the members of
/// one Microsoft Entra ID group (the sync group).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "passwordboss.com",
    version = "v1alpha1",
    kind = "AzureAdConnector",
    plural = "azureadconnectors",
    singular = "azureadconnector",
    shortname = "aadc",
    category = "passwordboss",
    namespaced,
    status = "AzureAdConnectorStatus",
    doc = "Keeps Password Boss users and groups in step with a Microsoft Entra ID group.",
    printcolumn(
        name = "Connection",
        type_ = "string",
        json_path = ".status.connection"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Users", type_ = "integer", json_path = ".status.users.inScope"),
    printcolumn(
        name = "Held",
        type_ = "integer",
        json_path = ".status.blocked.deprovisions"
    ),
    printcolumn(
        name = "Conflicts",
        type_ = "integer",
        json_path = ".status.lastSync.conflicts"
    ),
    printcolumn(
        name = "Last Success",
        type_ = "date",
        json_path = ".status.lastSuccessfulSyncTime"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = ".status.message",
        priority = 1
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.passwordBoss) != has(self.scim)")
    .message("exactly one target must be set: passwordBoss or scim"))]
#[x_kube(validation = Rule::new(
    "!has(self.scim) || !has(self.syncRules) || !has(self.syncRules.newUser) || self.syncRules.newUser != 'CreatePending'"
).message("spec.scim cannot express syncRules.newUser: CreatePending (SCIM has no pending account an admin approves); use Create"))]
#[x_kube(validation = Rule::new(
    "!has(self.scim) || !has(self.syncRules) || ((!has(self.syncRules.userDisabled) || self.syncRules.userDisabled != 'Remove') && (!has(self.syncRules.userDeleted) || self.syncRules.userDeleted != 'Remove') && (!has(self.syncRules.userRemovedFromGroup) || self.syncRules.userRemovedFromGroup != 'Remove'))"
).message("spec.scim cannot express the Remove rule (leave the company, keep a personal account) in userDisabled, userDeleted or userRemovedFromGroup; use Disable (active: false) or Delete"))]
pub struct AzureAdConnectorSpec {
    /// The Entra tenant, app registration and its credential.
    pub azure: AzureSpec,
    /// The Password Boss company this connector provisions, through its Authentication token.
    /// Exactly one of passwordBoss and scim is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_boss: Option<PasswordBossSpec>,
    /// Instead of passwordBoss: any SCIM 2.0 service (RFC 7643/7644), through a bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim: Option<ScimSpec>,
    /// The one Entra group whose members get Password Boss accounts.
    pub sync_group: GroupSelector,
    /// Other Entra groups mirrored as Password Boss groups (members restricted to the sync group's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub groups: Vec<GroupSelector>,
    /// Members of nested groups count as members.
    #[serde(default = "default_true")]
    pub nested_groups: bool,
    /// Which Entra attribute becomes the Password Boss email.
    #[serde(default)]
    pub email_attribute: EmailAttribute,
    /// What happens on each lifecycle event.
    #[serde(default)]
    pub sync_rules: SyncRules,
    /// Limits that stop a bad read from deprovisioning many users at once.
    #[serde(default)]
    pub safety: Safety,
    /// Which members of the sync group get an account (default: all of them). Narrowing it
    /// deprovisions the users it leaves out by `userRemovedFromGroup`, within the safety limits.
    #[serde(default, skip_serializing_if = "UserScope::is_everyone")]
    pub scope: UserScope,
    /// Time between two syncs, as a Kubernetes duration (at least 10s).
    #[serde(default = "default_interval")]
    #[schemars(schema_with = "interval_schema")]
    pub interval: String,
    /// Time between two full reads of Entra; syncs in between use delta queries (at least 1m).
    #[serde(default = "default_full_sync_interval")]
    #[schemars(schema_with = "full_sync_interval_schema")]
    pub full_sync_interval: String,
    /// Stop syncing; the status says so.
    #[serde(default)]
    pub suspend: bool,
    /// Plan only: the plan is written to status and nothing is changed.
    #[serde(default)]
    pub dry_run: bool,
}

/// The Entra side: tenant, app registration and exactly one credential.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "has(self.applicationRef) || (has(self.clientSecretRef) ? 1 : 0) + (has(self.clientCertificateRef) ? 1 : 0) + (has(self.workloadIdentity) ? 1 : 0) == 1"
).message("exactly one credential must be set: clientSecretRef, clientCertificateRef or workloadIdentity (or applicationRef: a shared AzureAdApplication)"))]
#[x_kube(validation = Rule::new(
    "has(self.applicationRef) || has(self.clientId)"
).message("clientId is required, unless applicationRef names a shared AzureAdApplication"))]
#[x_kube(validation = Rule::new(
    "!has(self.applicationRef) || (!has(self.clientId) && !has(self.clientSecretRef) && !has(self.clientSecretExpiresAt) && !has(self.clientCertificateRef) && !has(self.workloadIdentity))"
).message("with applicationRef the client id and the credential are the AzureAdApplication's: remove clientId, clientSecretRef, clientSecretExpiresAt, clientCertificateRef and workloadIdentity"))]
#[x_kube(validation = Rule::new(
    "!has(self.applicationRef) || (!has(self.authorityHost) && !has(self.graphEndpoint) && !has(self.cloud))"
).message("with applicationRef the endpoints are the AzureAdApplication's (its cloud, within the operator's allowed hosts): remove authorityHost, graphEndpoint and cloud"))]
#[x_kube(validation = Rule::new(
    "!has(self.applicationRef) || self.tenantId.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')"
).message("with applicationRef, tenantId must be the customer tenant's GUID (the AzureAdApplication binds tenants by GUID), not a domain"))]
#[x_kube(validation = Rule::new(
    "!has(self.clientSecretExpiresAt) || has(self.clientSecretRef)"
).message("clientSecretExpiresAt is the expiry of clientSecretRef's secret; set it only with clientSecretRef"))]
pub struct AzureSpec {
    /// Directory (tenant) ID: a GUID or a verified domain such as contoso.onmicrosoft.com.
    #[schemars(schema_with = "tenant_schema")]
    pub tenant_id: String,
    /// Application (client) ID of the app registration (required unless applicationRef is set).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(schema_with = "guid_schema")]
    pub client_id: String,
    /// National cloud; selects the authority and Graph hosts (default Public).
    // Public is left out when serialized, so the schema has no default either: the API server
    // would otherwise write `cloud: Public` into every connector, beside an applicationRef too.
    #[serde(default, skip_serializing_if = "Cloud::is_public")]
    #[schemars(schema_with = "connector_cloud_schema")]
    pub cloud: Cloud,
    /// Overrides the cloud's authority host (https, or http on a loopback address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_endpoint_schema")]
    pub authority_host: Option<String>,
    /// Overrides the cloud's Microsoft Graph endpoint (https, or http on a loopback address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_endpoint_schema")]
    pub graph_endpoint: Option<String>,
    /// Client secret of the app registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_ref: Option<SecretKeyRef>,
    /// When the client secret expires, as the Entra portal shows it ("Expires"): an RFC 3339
    /// date or date-time. From 30 days before, the connector warns (condition
    /// CredentialExpiring, a Warning Event, a metric).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_date_schema")]
    pub client_secret_expires_at: Option<String>,
    /// PEM holding the app's certificate and its private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_ref: Option<SecretKeyRef>,
    /// Azure Workload Identity: a federated token of a ServiceAccount of this namespace (or,
    /// where the operator's administrator allows it, of the operator itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<WorkloadIdentity>,
    /// Instead of clientId and a credential of its own: a shared multi-tenant app (a
    /// cluster-scoped AzureAdApplication of the operator's administrator), usable only for a
    /// tenantId the app binds to this connector's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_ref: Option<ApplicationRef>,
}

/// Names a cluster-scoped `AzureAdApplication`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationRef {
    /// The AzureAdApplication's name.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub name: String,
}

/// Whose Kubernetes service-account token is presented to Entra as the federated credential.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "has(self.serviceAccountName) != (has(self.operatorIdentity) && self.operatorIdentity)"
).message("set exactly one: serviceAccountName (a ServiceAccount of this namespace) or operatorIdentity: true"))]
pub struct WorkloadIdentity {
    /// A ServiceAccount of the connector's namespace. The operator gets its token through the
    /// TokenRequest API (audience api://AzureADTokenExchange); the app's federated credential
    /// names the subject system:serviceaccount:NAMESPACE:NAME.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub service_account_name: Option<String>,
    /// Present the operator's own projected token ($AZURE_FEDERATED_TOKEN_FILE). Honoured only
    /// when the operator runs with --allow-operator-workload-identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_identity: Option<bool>,
}

impl WorkloadIdentity {
    /// The ServiceAccount of the connector's namespace, by name.
    pub fn service_account(name: impl Into<String>) -> Self {
        Self {
            service_account_name: Some(name.into()),
            operator_identity: None,
        }
    }
}

/// A key of a Secret in the connector's own namespace.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Secret name.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub name: String,
    /// Key within the Secret.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
}

/// Microsoft cloud instances.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Cloud {
    #[default]
    Public,
    USGovernment,
    China,
}

impl Cloud {
    /// The default cloud.
    pub fn is_public(&self) -> bool {
        *self == Self::Public
    }
}

/// The Password Boss side.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PasswordBossSpec {
    /// API base URL (https, or http on a loopback address).
    #[serde(default = "default_api_url")]
    #[schemars(schema_with = "endpoint_schema")]
    pub api_url: String,
    /// The Authentication token issued in the Password Boss Portal.
    pub token_secret_ref: SecretKeyRef,
}

/// A SCIM 2.0 service the connector provisions instead of Password Boss.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScimSpec {
    /// The service's SCIM base URL, the one its admin console shows (e.g.
    /// https://scim.example.com/v2): https, or http on a loopback address. The operator sends
    /// the token only where its administrator allows (--allowed-endpoint-hosts).
    #[schemars(schema_with = "scim_endpoint_schema")]
    pub base_url: String,
    /// The bearer token the service issued for provisioning.
    pub token_secret_ref: SecretKeyRef,
}

/// The target a connector provisions: exactly one of `spec.passwordBoss` and `spec.scim`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TargetSpec<'a> {
    PasswordBoss(&'a PasswordBossSpec),
    Scim(&'a ScimSpec),
}

impl<'a> TargetSpec<'a> {
    /// The Secret key holding the target's token.
    pub fn token_secret_ref(self) -> &'a SecretKeyRef {
        match self {
            Self::PasswordBoss(pb) => &pb.token_secret_ref,
            Self::Scim(scim) => &scim.token_secret_ref,
        }
    }
}

/// A spec without a target, or with two (the CRD's CEL rule refuses both; code that reads a
/// spec from elsewhere meets this error instead).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("exactly one target must be set: spec.passwordBoss or spec.scim")]
pub struct NoSingleTarget;

/// Selects one Entra group, by object id or by display name.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.id) != has(self.displayName)").message("exactly one of id or displayName must be set"))]
pub struct GroupSelector {
    /// Group object id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_guid_schema")]
    pub id: Option<String>,
    /// Group display name; must match exactly one group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub display_name: Option<String>,
}

impl GroupSelector {
    pub fn by_id(id: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
            display_name: None,
        }
    }

    pub fn by_name(name: impl Into<String>) -> Self {
        Self {
            id: None,
            display_name: Some(name.into()),
        }
    }
}

impl std::fmt::Display for GroupSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.id, &self.display_name) {
            (Some(id), _) => write!(f, "group id {id}"),
            (None, Some(name)) => write!(f, "group \"{name}\""),
            (None, None) => f.write_str("group (no id or displayName)"),
        }
    }
}

/// Entra attribute used as the Password Boss email.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EmailAttribute {
    /// `mail`, falling back to `userPrincipalName` when empty.
    #[default]
    Mail,
    UserPrincipalName,
}

/// One choice per lifecycle event.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SyncRules {
    #[serde(default)]
    pub new_user: NewUserRule,
    #[serde(default)]
    pub user_disabled: LeaveRule,
    #[serde(default)]
    pub user_deleted: LeaveRule,
    #[serde(default)]
    pub user_removed_from_group: LeaveRule,
    /// Unset: `Adopt` for Password Boss, `Skip` for SCIM (a SCIM service may hold admins and
    /// other provisioners' users).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_user: Option<ExistingUserRule>,
}

/// What a new user in scope gets.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NewUserRule {
    /// An active account.
    #[default]
    Create,
    /// A pending account an admin must approve.
    CreatePending,
}

/// What happens to the account of a user who leaves scope.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LeaveRule {
    /// Disable the account (keeps the vault; the default).
    #[default]
    Disable,
    /// The user leaves the company and keeps a personal account.
    Remove,
    /// Delete the account and its data (permanent).
    Delete,
    /// Do nothing.
    Ignore,
}

/// What happens when a user with the same email already exists in the target (Password Boss:
/// a portal user; SCIM: a user without an externalId). Default: Adopt for Password Boss, Skip
/// for SCIM.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExistingUserRule {
    /// Take it over: it becomes managed by this connector.
    Adopt,
    /// Leave it alone.
    Skip,
}

/// Filters on who, among the sync group's members, gets a Password Boss account.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UserScope {
    /// Guests (Entra `userType: Guest`) get no account.
    #[serde(default)]
    pub exclude_guests: bool,
    /// Only users whose email (see emailAttribute) is in one of these domains get an account,
    /// e.g. `contoso.com`; subdomains must be listed themselves. Empty: any domain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "email_domains_schema")]
    pub email_domains: Vec<String>,
}

impl UserScope {
    /// True when nobody is filtered out (today's behaviour).
    pub fn is_everyone(&self) -> bool {
        !self.exclude_guests && self.email_domains.is_empty()
    }
}

/// The safety limits. Every destructive change counts against them: a user disabled, removed or
/// deleted, a mirrored group deleted, a member removed from a mirrored group (a user who is
/// deprovisioned counts once, not again for the groups they leave). When a sync would exceed
/// any limit, every destructive change of that sync is held back until approved
/// (`status.blocked.approval`); creates, updates and additions still happen.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Safety {
    /// At most this many destructive changes in one sync.
    #[serde(default = "default_max_deprovisions")]
    #[schemars(range(min = 0, max = 1_000_000))]
    pub max_deprovisions_per_sync: u32,
    /// At most this percentage of the managed users, counted over `window` (this sync's changes
    /// and those applied earlier in the window, unless they were approved).
    #[serde(default = "default_max_percent")]
    #[schemars(range(min = 0, max = 100))]
    pub max_deprovision_percent: u32,
    /// The percentage never holds back this many changes or fewer in a window, so a single
    /// leaver in a small company needs no approval.
    #[serde(default = "default_percent_floor")]
    #[schemars(range(min = 0, max = 1_000_000))]
    pub percent_floor: u32,
    /// At most this many destructive changes over `window`, approved ones not counted.
    #[serde(default = "default_max_per_window")]
    #[schemars(range(min = 0, max = 1_000_000))]
    pub max_deprovisions_per_window: u32,
    /// The rolling window of `maxDeprovisionsPerWindow` and `maxDeprovisionPercent`, as a
    /// Kubernetes duration (at least 1m). What was spent in it is kept in `status.safety`.
    #[serde(default = "default_window")]
    #[schemars(schema_with = "window_schema")]
    pub window: String,
    /// `Remove` and `Delete` rules act only once a user has been out of scope this long; until
    /// then the account is disabled (which can be undone). `0s` acts at once.
    #[serde(default = "default_grace_period")]
    #[schemars(schema_with = "grace_period_schema")]
    pub removal_grace_period: String,
}

impl Safety {
    /// `window` as a duration.
    pub fn window(&self) -> std::time::Duration {
        super::parse_duration(&self.window).unwrap_or(std::time::Duration::from_secs(86_400))
    }

    /// `removalGracePeriod` as a duration.
    pub fn removal_grace_period(&self) -> std::time::Duration {
        super::parse_duration(&self.removal_grace_period)
            .unwrap_or(std::time::Duration::from_secs(86_400))
    }
}

impl Default for Safety {
    fn default() -> Self {
        Self {
            max_deprovisions_per_sync: default_max_deprovisions(),
            max_deprovision_percent: default_max_percent(),
            percent_floor: default_percent_floor(),
            max_deprovisions_per_window: default_max_per_window(),
            window: default_window(),
            removal_grace_period: default_grace_period(),
        }
    }
}

/// Default of `safety.window` and `safety.removalGracePeriod`.
pub const DEFAULT_SAFETY_WINDOW: &str = "24h";

// The limits' defaults are the planner's (`plan::Safety::default()`), so the two never differ.
fn default_percent_floor() -> u32 {
    crate::plan::Safety::default().percent_floor
}
fn default_max_per_window() -> u32 {
    crate::plan::Safety::default().max_deprovisions_per_window
}
fn default_window() -> String {
    DEFAULT_SAFETY_WINDOW.into()
}
fn default_grace_period() -> String {
    DEFAULT_SAFETY_WINDOW.into()
}
fn window_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    duration_schema(g, DEFAULT_SAFETY_WINDOW, "1m")
}
fn grace_period_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    duration_schema(g, DEFAULT_SAFETY_WINDOW, "0s")
}

fn default_true() -> bool {
    true
}
fn default_interval() -> String {
    DEFAULT_INTERVAL.into()
}
fn default_full_sync_interval() -> String {
    DEFAULT_FULL_SYNC_INTERVAL.into()
}
fn default_api_url() -> String {
    DEFAULT_PASSWORDBOSS_API_URL.into()
}
fn default_max_deprovisions() -> u32 {
    crate::plan::Safety::default().max_deprovisions_per_sync
}
fn default_max_percent() -> u32 {
    crate::plan::Safety::default().max_deprovision_percent
}

fn interval_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    duration_schema(g, DEFAULT_INTERVAL, "10s")
}

fn full_sync_interval_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    duration_schema(g, DEFAULT_FULL_SYNC_INTERVAL, "1m")
}
