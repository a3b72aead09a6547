//! The engine: what runs a connector's syncs for the controller. `SyncEngine` is the seam
//! (tests put a scripted fake behind it); `PipelineEngine` is the real one: the sync pipeline,
//! with per-connector state (delta links, token caches) kept between syncs and one Graph pacer
//! per tenant shared by all connectors.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::azure::PacerRegistry;
use crate::sync::state::ConnectorState;
use crate::sync::{read_credentials_with, run_sync};

use crate::resources::AzureAdConnectorSpec;
use crate::sync::Credentials;
use crate::sync::report::SyncReport;
use crate::sync::verify::Checks;
use crate::sync::{ConnectorKey, SyncRequest};

/// Runs one sync of one connector. The real implementation, [`PipelineEngine`], reads the
/// credentials from the request's Secrets, keeps per-connector state (delta links, token caches)
/// keyed by its `key`, and calls the sync pipeline. Unit tests use a scripted fake; the e2e tests
/// wrap the real one to count syncs.
pub trait SyncEngine: Send + Sync + 'static {
    fn sync(&self, request: SyncRequest) -> impl std::future::Future<Output = SyncReport> + Send;
    /// Runs the `pbconnector verify` checks of a connector (`passwordboss.com/verify-requested-at`).
    /// The real engine runs them through the clients the connector's syncs keep: the tenant's
    /// Graph pacer and the token cache. By default: with clients of their own.
    fn verify(
        &self,
        key: &ConnectorKey,
        spec: &AzureAdConnectorSpec,
        credentials: Credentials,
    ) -> impl std::future::Future<Output = Checks> + Send {
        let _ = key;
        crate::sync::verify::verify(spec, credentials)
    }
    /// Forget a connector's state (it was deleted).
    fn forget(&self, key: &ConnectorKey);
    /// The leader lease was lost: while another replica leads, it spends the safety budget and
    /// writes to Password Boss behind this one's back. Each connector's next sync trusts nothing
    /// kept (fresh reads) but its safety record, which it merges with `status.safety`.
    fn forget_all(&self);
}

/// Runs syncs through `sync::run_sync`.
pub struct PipelineEngine {
    states: Mutex<HashMap<ConnectorKey, Arc<tokio::sync::Mutex<ConnectorState>>>>,
    pacers: Arc<PacerRegistry>,
    /// The leadership term: a connector's state from an earlier one is started afresh by its
    /// next sync (`ConnectorState::begin_term`).
    term: AtomicU64,
}

impl Default for PipelineEngine {
    fn default() -> Self {
        Self {
            states: Mutex::default(),
            pacers: Arc::default(),
            term: AtomicU64::new(0),
        }
    }
}

impl PipelineEngine {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self, key: &ConnectorKey) -> Arc<tokio::sync::Mutex<ConnectorState>> {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        states
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(ConnectorState::with_pacers(
                    self.pacers.clone(),
                )))
            })
            .clone()
    }
}

impl SyncEngine for PipelineEngine {
    async fn sync(&self, request: SyncRequest) -> SyncReport {
        let state = self.state(&request.key);
        let mut state = state.lock().await;
        state.begin_term(self.term.load(Ordering::SeqCst));
        state.belong_to(&request.uid);
        let credentials = read_credentials_with(
            &request.spec,
            &request.key.namespace,
            |name| request.secrets.get(name).cloned(),
            request.federated_token.clone(),
            request.shared_credential.clone(),
        );
        run_sync(&request, credentials, &mut state).await
    }

    async fn verify(
        &self,
        key: &ConnectorKey,
        spec: &AzureAdConnectorSpec,
        credentials: Credentials,
    ) -> Checks {
        let state = self.state(key);
        let mut state = state.lock().await;
        state.begin_term(self.term.load(Ordering::SeqCst));
        crate::sync::verify::verify_kept(spec, credentials, &mut state).await
    }

    fn forget(&self, key: &ConnectorKey) {
        self.states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// A new term: each connector's next sync trusts nothing kept (another replica may have
    /// written meanwhile). States are not dropped here: one a sync abandoned at the loss may
    /// still be locked.
    fn forget_all(&self) {
        self.term.fetch_add(1, Ordering::SeqCst);
    }
}
