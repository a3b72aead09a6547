//! The sync planner: pure, deterministic, no I/O. Given what Entra holds, what Password Boss holds
//! and the connector's rules, it decides the actions of one sync.

mod types;

pub use types::*;
