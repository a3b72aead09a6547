//! The seam between the controller and the sync pipeline: one sync of one connector.

use crate::sync::report::SyncReport;
use crate::sync::{ConnectorKey, SyncRequest};

/// Runs one sync of one connector. The real implementation, [`super::PipelineEngine`], reads the
/// credentials from the request's Secrets, keeps per-connector state (delta links, token caches)
/// keyed by its `key`, and calls the sync pipeline. Unit tests use a scripted fake; the e2e tests
/// wrap the real one to count syncs.
pub trait SyncEngine: Send + Sync + 'static {
    fn sync(&self, request: SyncRequest) -> impl std::future::Future<Output = SyncReport> + Send;
    /// Forget a connector's state (it was deleted).
    fn forget(&self, key: &ConnectorKey);
    /// The leader lease was lost: while another replica leads, it spends the safety budget and
    /// writes to Password Boss behind this one's back. Each connector's next sync trusts nothing
    /// kept (fresh reads) but its safety record, which it merges with `status.safety`.
    fn forget_all(&self);
}
