//! Password Boss Entra ID connector: keeps Password Boss users and groups in step with a
//! Microsoft Entra ID group. One sync pipeline (Graph read → plan → Password Boss apply → status)
//! shared by the Kubernetes controller and the command line.

pub mod azure;
pub mod bounded;
pub mod cli;
pub mod controller;
pub mod domain;
pub mod http_client;
pub mod passwordboss;
pub mod plan;
pub mod resources;
pub mod sync;
pub mod telemetry;
