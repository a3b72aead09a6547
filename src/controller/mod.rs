//! The operator: a kube-runtime controller that keeps every `AzureAdConnector` in sync and says
//! so in its status. Thin glue: the sync itself is behind [`engine::SyncEngine`].

pub mod engine;
pub mod reconcile;
pub mod requests;
pub mod schedule;
pub mod secrets;
pub mod status_writer;

pub use engine::{ConnectorKey, SyncEngine, SyncRequest};
