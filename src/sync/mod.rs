//! One sync, end to end: read → plan → apply → report (`pipeline`), then the status.
//! Shared by the controller and the command line.

mod apply;
pub mod company;
pub mod conditions;
pub mod credential_expiry;
mod credentials;
mod decide;
mod departures;
pub mod describe;
mod directory_cache;
pub mod failure;
pub mod pipeline;
pub mod progress;
mod read;
pub mod report;
pub mod secrets;
pub mod spending;
pub mod status;
pub mod verify;
