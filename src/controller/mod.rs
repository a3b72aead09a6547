//! The operator: a kube-runtime controller that keeps every `AzureAdConnector` in sync and says
//! so in its status. Thin glue: the sync itself is behind [`engine::SyncEngine`].

pub mod api_error;
pub mod application;
pub mod cancel;
pub mod command;
pub mod companies;
pub mod endpoints;
pub mod engine;
pub mod events;
pub mod leader;
pub mod leadership;
pub mod lease_watch;
pub mod permissions;
pub mod policy;
pub mod progress;
pub mod quarantine;
pub mod reconcile;
pub mod requests;
pub mod run;
pub mod safety_store;
pub mod schedule;
pub mod secrets;
pub mod shard;
pub mod status_writer;
pub mod triggers;
pub mod verify;
pub mod watch_retry;
pub mod while_leading;
pub mod workload_identity;

pub use endpoints::EndpointPolicy;
pub use engine::{PipelineEngine, SyncEngine};
pub use leader::LeaderElection;
pub use leadership::Leadership;
pub use policy::CredentialPolicy;
pub use run::{ControllerConfig, RunError, run};
