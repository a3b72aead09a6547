//! Microsoft Graph side: tokens (secret, certificate, workload identity), the Graph client with
//! paging, delta links, throttling and error classification.

mod assertion;
mod client;
mod config;
mod delta;
mod error;
pub mod federated;
mod full;
mod groups;
mod lookup;
mod member_set;
mod object_id;
mod pacer;
mod retry;
mod state;
mod token;
mod transport;
mod wire;

pub use client::{GraphClient, ReadOptions, ResolvedGroup};
pub use config::{AzureConfig, Credential, admin_consent_url, cloud_hosts};
pub use error::{GraphError, GraphErrorKind};
pub use federated::{
    FEDERATED_TOKEN_AUDIENCE, FEDERATED_TOKEN_FILE_ENV, FederatedToken, FederatedTokenSource,
    TokenFile,
};
pub use lookup::{RESTORE_WINDOW, UserLookup};
pub use pacer::{DEFAULT_TENANT_CONCURRENCY, PacerRegistry, TenantPacer};
pub use retry::RetryPolicy;
pub use state::GraphSyncState;
