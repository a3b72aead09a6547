//! Loopback HTTP simulators of Microsoft Graph (with the Entra token endpoint) and of the
//! Password Boss API. They enforce the documented protocol strictly and inject faults; tests,
//! `pbconnector demo` and the benchmarks run the real clients against them.

pub mod graph;
pub mod hostile;
pub mod passwordboss;
pub mod sample;
