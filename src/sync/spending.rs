//! What a sync will spend is recorded before it is spent.
//!
//! The safety gate's output record (spending in the window, approvals used, owned groups,
//! leavers) is written where every later sync, on any replica, reads it — the connector's
//! `status.safety` — whenever it differs from the record the sync planned from, before the
//! sync's first write, from a fresh read of the object and on the condition that nobody wrote it
//! since (a `SafetyStore`). A sync whose record changed since it planned plans again from the one
//! stored; a sync that cannot write its record writes nothing. This is the only way the record
//! changes: the controller's other status writes carry the stored record as they find it. So
//! nothing spent is ever only in one replica's memory, and no write from an older copy of the
//! object erases it.
//!
//! The controller's store is the connector object on the API server
//! (`controller::safety_store`). The command line's is the file of `--state-file`
//! (`cli::state_file`: replaced atomically, versioned by its content's hash, locked for the
//! run). Without one it gives no store (`SyncRequest::safety_store` is `None`): its record is
//! the one its loop carries from one run to the next in the process, and what it printed; a
//! later run starts from the manifest's `status.safety`.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::resources::SafetyRecord;

/// A safety record as stored, and the version a write over it must name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    pub record: SafetyRecord,
    pub version: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SafetyStoreError {
    /// The record was written by someone else since it was read at that version.
    #[error("the connector changed since its safety record was read")]
    Conflict,
    /// The store could not be read or written; `0` says why and what to fix.
    #[error("{0}")]
    Failed(String),
}

/// Where a sync reads and writes the safety record before a destructive write.
pub trait SafetyStore: Send + Sync {
    /// The record as stored now (the empty record when none was ever written).
    fn read(&self) -> BoxFuture<'_, Result<StoredRecord, SafetyStoreError>>;

    /// Stores `record` if the store is still at `version` (else `Conflict`).
    fn write<'a>(
        &'a self,
        record: &'a SafetyRecord,
        version: &'a str,
    ) -> BoxFuture<'a, Result<(), SafetyStoreError>>;
}

/// A shared `SafetyStore`, for a `SyncRequest`.
#[derive(Clone)]
pub struct SafetyStoreHandle(Arc<dyn SafetyStore>);

impl SafetyStoreHandle {
    pub fn new(store: impl SafetyStore + 'static) -> Self {
        Self(Arc::new(store))
    }

    pub(crate) fn store(&self) -> &dyn SafetyStore {
        &*self.0
    }
}

impl fmt::Debug for SafetyStoreHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SafetyStoreHandle")
    }
}

/// Two handles are equal when they are the same store.
impl PartialEq for SafetyStoreHandle {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
