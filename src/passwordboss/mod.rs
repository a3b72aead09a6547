//! The Password Boss side: the v1 contract types and the HTTP client. The wire format lives
//! behind this module only; turning a plan into these calls is the sync's apply step
//! (`sync::apply`).

mod client;
mod config;
mod error;
pub mod model;
pub(crate) mod retry;
mod state;
pub(crate) mod transport;

pub use client::PasswordBossClient;
pub use config::{DEFAULT_CONCURRENCY, DEFAULT_PAGE_SIZE, PasswordBossConfig};
pub use error::{PasswordBossError, PasswordBossErrorKind};
pub use retry::RetryPolicy;
pub use transport::RequestCounts;
