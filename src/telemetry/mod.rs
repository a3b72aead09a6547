//! Logging, metrics and the health endpoints.

pub mod connector_metrics;
pub mod logging;
pub mod metrics;
pub mod server;
