//! Password Boss Entra ID connector: keeps Password Boss users and groups in step with a
//! Microsoft Entra ID group. One sync pipeline (Graph read → plan → Password Boss apply → status)
//! shared by the Kubernetes controller and the command line.

pub mod azure;
pub mod bounded;
pub mod cli;
pub mod controller;
pub mod http_client;
pub mod passwordboss;
pub mod resources;
pub mod scim;
pub mod slots;
pub mod sync;
pub mod telemetry;

// The domain and the planner live in the core crate; these paths keep `pbconnector::domain` and
// `pbconnector::plan` working for the rest of the crate, the tests and the benchmarks.
pub use pbconnector_core::{domain, plan};
