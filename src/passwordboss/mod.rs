//! The Password Boss side: the v1 contract types, the HTTP client and the plan executor. The
//! wire format lives behind this module only.

mod client;
mod config;
mod error;
mod executor;
mod idempotency;
pub mod model;
mod retry;
mod state;
mod transport;

pub use client::PasswordBossClient;
pub use config::{DEFAULT_CONCURRENCY, DEFAULT_PAGE_SIZE, PasswordBossConfig};
pub use error::{PasswordBossError, PasswordBossErrorKind};
pub use executor::{
    AUDIT_TARGET, ActionOutcome, Applied, ApplyProgress, AuditRecord, ExecutionReport, Outcome,
    execute, execute_reporting, outcome_field,
};
pub use idempotency::idempotency_key;
pub use retry::RetryPolicy;
pub use transport::RequestCounts;
