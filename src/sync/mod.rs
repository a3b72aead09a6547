//! One sync, end to end: credentials → Graph read → plan → Password Boss apply → report → status.
//! Shared by the controller and the command line.

pub mod company;
pub mod credential_expiry;
pub mod describe;
mod directory_cache;
pub mod pipeline;
mod plan_memo;
pub mod progress;
pub mod report;
pub mod secrets;
pub mod status;
pub mod verify;
