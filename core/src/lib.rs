//! The connector's core: the domain (both sides of a sync in the connector's own terms), the
//! planner that decides one sync's changes from them, and the safety gate every destructive
//! change passes. Pure and deterministic: no Kubernetes, no HTTP, no async runtime, no clock
//! (the time is an input). The operator crate (`pbconnector`) reads Entra and Password Boss,
//! converts its CRD types to these at its edge, and applies the plan.

pub mod domain;
pub mod plan;
pub mod text;
