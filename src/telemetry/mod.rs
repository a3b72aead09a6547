//! Logging, metrics and the health endpoints.

pub mod logging;
pub mod metrics;
pub mod server;
pub mod tally;
