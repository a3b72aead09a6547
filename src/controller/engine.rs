//! The seam between the controller and the sync pipeline: one sync of one connector.

use std::collections::BTreeMap;
use std::fmt;

use crate::azure::FederatedToken;
use crate::resources::{AzureAdConnectorSpec, SafetyRecord};
use crate::sync::company::CompanyGuard;
use crate::sync::progress::ProgressSender;
use crate::sync::report::SyncReport;
use crate::sync::secrets::SecretData;
use crate::sync::spending::SafetyStoreHandle;

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

/// Everything one sync needs. `Debug` shows Secret names and keys, never their values.
#[derive(Clone, PartialEq)]
pub struct SyncRequest {
    /// namespace/name of the connector.
    pub key: ConnectorKey,
    /// The connector object's `metadata.uid`: a connector deleted and made again under the same
    /// name is another object, and inherits nothing the engine kept for the old one.
    pub uid: String,
    pub spec: AzureAdConnectorSpec,
    /// The referenced Secrets that exist, by name (a Secret that is missing is simply absent).
    pub secrets: BTreeMap<String, SecretData>,
    /// Plan only, change nothing.
    pub dry_run: bool,
    /// The `passwordboss.com/approve-deprovisions` annotation's value, if any.
    pub approval: Option<String>,
    /// The connector's `status.safety` as the reconcile found it: the record the sync plans
    /// from (one that spends reads it afresh from `safety_store` first).
    pub safety_record: Option<SafetyRecord>,
    /// Where a sync that spends the safety budget stores its record first (the connector's
    /// status); `None` only where there is no object (tests of the engine alone).
    pub safety_store: Option<SafetyStoreHandle>,
    /// Where a workload-identity connector's federated token comes from, as the controller
    /// resolved it (its own namespace's ServiceAccount); `None` for other credentials.
    pub federated_token: Option<FederatedToken>,
    /// Where the sync is, for the progress the controller writes into `status.message`.
    pub progress: ProgressSender,
    /// Whether this connector may write to the company its token reaches (the controller's
    /// `companies::CompanyRegistry`; every company by default).
    pub company_guard: CompanyGuard,
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
            .field("federated_token", &self.federated_token)
            .field("company_guard", &self.company_guard)
            .finish()
    }
}

/// Runs one sync of one connector. The real implementation, [`super::PipelineEngine`], reads the
/// credentials from `secrets`, keeps per-connector state (delta links, token caches) keyed by
/// `key`, and calls the sync pipeline. Unit tests use a scripted fake; the e2e tests wrap the
/// real one to count syncs.
pub trait SyncEngine: Send + Sync + 'static {
    fn sync(&self, request: SyncRequest) -> impl std::future::Future<Output = SyncReport> + Send;
    /// Forget a connector's state (it was deleted).
    fn forget(&self, key: &ConnectorKey);
    /// The leader lease was lost: while another replica leads, it spends the safety budget and
    /// writes to Password Boss behind this one's back. Each connector's next sync trusts nothing
    /// kept (fresh reads) but its safety record, which it merges with `status.safety`.
    fn forget_all(&self);
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
            key: ConnectorKey::new("ns", "contoso"),
            uid: "uid-1".into(),
            spec,
            secrets: BTreeMap::from([(
                "entra-app".to_string(),
                SecretData::from([("client-secret".to_string(), b"hunter2-value".to_vec())]),
            )]),
            dry_run: false,
            approval: None,
            safety_record: None,
            safety_store: None,
            federated_token: None,
            progress: ProgressSender::default(),
            company_guard: CompanyGuard::default(),
        };
        let shown = format!("{request:?}");
        assert!(shown.contains("client-secret"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("104, 117"), "no byte dump either: {shown}");
    }
}
