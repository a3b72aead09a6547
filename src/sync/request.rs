//! What a caller asks of one sync: the one request type, built by the controller (from the
//! connector object) and by the command line (from a manifest), with the one deadline.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::company::CompanyGuard;
use super::credentials::AppCredential;
use super::progress::ProgressSender;
use super::secrets::SecretData;
use super::spending::SafetyStoreHandle;
use super::state::WritesInFlight;
use crate::azure::FederatedToken;
use crate::resources::{AzureAdConnectorSpec, SafetyRecord};

/// How long one sync may take, both services together, unless the caller says otherwise: 5
/// minutes.
pub const DEFAULT_SYNC_DEADLINE: Duration = Duration::from_secs(300);

/// Identifies one connector: its namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectorKey {
    pub namespace: String,
    pub name: String,
}

impl ConnectorKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ConnectorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One sync of one connector, as its caller asks for it. `Debug` shows Secret names and keys,
/// never their values.
#[derive(Clone, PartialEq)]
pub struct SyncRequest {
    /// namespace/name of the connector (the controller keeps its state between syncs by it).
    pub key: ConnectorKey,
    /// The connector object's `metadata.uid`: a connector deleted and made again under the same
    /// name is another object, and inherits nothing kept for the old one (empty: unknown).
    pub uid: String,
    pub spec: AzureAdConnectorSpec,
    /// The referenced Secrets that exist, by name (a Secret that is missing is simply absent):
    /// what the controller's engine reads the credentials from. The command line reads its
    /// credentials from its manifests and hands them to `run_sync` itself.
    pub secrets: BTreeMap<String, SecretData>,
    /// Where a workload-identity connector's federated token comes from, as the controller
    /// resolved it (its own namespace's ServiceAccount); `None` for other credentials.
    pub federated_token: Option<FederatedToken>,
    /// The shared app's credential, for a connector naming one (`spec.azure.applicationRef`),
    /// as the controller read it after the app's binding admitted the connector; `None` for
    /// connectors with credentials of their own.
    pub shared_credential: Option<AppCredential>,
    /// When this sync was due by its connector's interval (the last sync's end plus the
    /// interval, or the retry delay), for the operator's lateness metric; `None`: not on the
    /// schedule (first sync, a change, a request) or not from the controller.
    pub due: Option<std::time::Instant>,
    /// Plan only, change nothing (spec.dryRun, or `pbconnector plan`).
    pub dry_run: bool,
    /// The approval token given for this sync (the `passwordboss.com/approve-deprovisions`
    /// annotation, or `--approve-deprovisions`).
    pub approval: Option<String>,
    /// The operator's fleet-wide freeze (`pbconnector run --freeze-destructive`): every
    /// destructive change is held, and no approval releases it.
    pub freeze_destructive: bool,
    /// What the safety limits remember (the connector's `status.safety`): the record the sync
    /// plans from (one whose plan changes it reads it afresh from `safety_store` first).
    pub safety_record: Option<SafetyRecord>,
    /// Where a plan that changes the safety record (spending above all) stores it before its
    /// first write (see `spending`); `None`: nowhere (the command line, which has no object to
    /// write).
    pub safety_store: Option<SafetyStoreHandle>,
    /// Distinguishes this sync's idempotency keys from other syncs'.
    pub sync_id: String,
    /// Use delta queries between full reads.
    pub delta: bool,
    /// The whole sync, Entra and Password Boss together, ends by this deadline; the only one.
    pub deadline: Duration,
    /// Where the sync is, for a front end to show (nobody listens by default).
    pub progress: ProgressSender,
    /// May this connector write to the company its token reaches? (every company by default;
    /// the controller's `companies::CompanyRegistry` decides)
    pub company_guard: CompanyGuard,
    /// Every Password Boss write of this sync as it is sent and answered: what a sync stopped
    /// mid-write (leadership lost) still reports (`controller::while_leading`).
    pub writes_in_flight: WritesInFlight,
    /// How audit lines name the connector: `namespace/name` (controller), the manifest's name
    /// (CLI); empty: they name none.
    pub connector: String,
}

impl SyncRequest {
    /// A sync of `spec` with the defaults: no Secrets, no approval, no safety record stored or
    /// read, delta queries, `DEFAULT_SYNC_DEADLINE`, every company admitted, audit lines naming
    /// the connector `namespace/name`.
    pub fn new(key: ConnectorKey, spec: AzureAdConnectorSpec) -> Self {
        Self {
            connector: key.to_string(),
            key,
            uid: String::new(),
            spec,
            secrets: BTreeMap::new(),
            federated_token: None,
            shared_credential: None,
            due: None,
            dry_run: false,
            approval: None,
            freeze_destructive: false,
            safety_record: None,
            safety_store: None,
            sync_id: uuid::Uuid::new_v4().to_string(),
            delta: true,
            deadline: DEFAULT_SYNC_DEADLINE,
            progress: ProgressSender::default(),
            company_guard: CompanyGuard::default(),
            writes_in_flight: WritesInFlight::default(),
        }
    }
}

impl fmt::Debug for SyncRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secrets: BTreeMap<&str, Vec<&str>> = self
            .secrets
            .iter()
            .map(|(name, data)| (name.as_str(), data.keys().map(String::as_str).collect()))
            .collect();
        f.debug_struct("SyncRequest")
            .field("key", &self.key)
            .field("uid", &self.uid)
            .field("spec", &self.spec)
            .field("secrets", &secrets)
            .field("dry_run", &self.dry_run)
            .field("approval", &self.approval)
            .field("freeze_destructive", &self.freeze_destructive)
            .field("federated_token", &self.federated_token)
            .field("shared_credential", &self.shared_credential)
            .field("deadline", &self.deadline)
            .field("company_guard", &self.company_guard)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_names_secret_keys_but_not_values() {
        let spec: AzureAdConnectorSpec = serde_json::from_value(serde_json::json!({
            "azure": {"tenantId": "contoso.onmicrosoft.com",
                      "clientId": "00000000-0000-0000-0000-000000000000",
                      "clientSecretRef": {"name": "entra-app", "key": "client-secret"}},
            "passwordBoss": {"tokenSecretRef": {"name": "passwordboss", "key": "token"}},
            "syncGroup": {"displayName": "Password Boss Users"}
        }))
        .unwrap();
        let request = SyncRequest {
            secrets: BTreeMap::from([(
                "entra-app".to_string(),
                SecretData::from([("client-secret".to_string(), b"hunter2-value".to_vec())]),
            )]),
            ..SyncRequest::new(ConnectorKey::new("ns", "contoso"), spec)
        };
        let shown = format!("{request:?}");
        assert!(shown.contains("client-secret"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("104, 117"), "no byte dump either: {shown}");
    }
}
