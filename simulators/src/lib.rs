//! Loopback HTTP simulators of Microsoft Graph (with the Entra token endpoint) and of the
//! Password Boss API, and a sample tenant on them. They enforce the documented protocol strictly
//! and inject faults; tests, `pbconnector demo` and the benchmarks run the real clients against
//! them. This crate models the wire protocols with its own types and does not depend on the
//! `pbconnector` crate; the production image is built without it (`--no-default-features`).

pub mod fault_proxy;
pub mod graph;
pub mod hostile;
mod latency;
pub mod passwordboss;
pub mod sample;
