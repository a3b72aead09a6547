//! The seam between the controller and the sync pipeline: one sync of one connector.

use std::collections::BTreeMap;
use std::fmt;

use crate::resources::AzureAdConnectorSpec;
use crate::sync::report::SyncReport;
use crate::sync::secrets::SecretData;

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

/// Everything one sync needs.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncRequest {
    /// namespace/name of the connector.
    pub key: ConnectorKey,
    pub spec: AzureAdConnectorSpec,
    /// The referenced Secrets that exist, by name (a Secret that is missing is simply absent).
    pub secrets: BTreeMap<String, SecretData>,
    /// Plan only, change nothing.
    pub dry_run: bool,
    /// Deprovisions approved by the `passwordboss.com/approve-deprovisions` annotation; set only
    /// when it matches the blocked count the current status reports.
    pub approved_deprovisions: Option<u32>,
}

/// Runs one sync of one connector. The real implementation (wired by the lead later) reads the
/// credentials from `secrets`, keeps per-connector state (delta links, token caches) keyed by
/// `key`, and calls the sync pipeline. Tests use a scripted fake.
pub trait SyncEngine: Send + Sync + 'static {
    fn sync(&self, request: SyncRequest) -> impl std::future::Future<Output = SyncReport> + Send;
    /// Forget a connector's state (it was deleted).
    fn forget(&self, key: &ConnectorKey);
}
