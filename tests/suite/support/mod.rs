//! The one support tree of the integration suite: set-up builders and fixtures shared by the
//! areas (each file says what it serves).

pub mod apiserver;
pub mod cli;
pub mod connector_json;
pub mod controller;
pub mod e2e;
pub mod faults;
pub mod graph;
pub mod held;
pub mod helm;
pub mod kubectl;
pub mod log_capture;
pub mod passwordboss;
pub mod planner;
pub mod planner_model;
pub mod readme;
pub mod scim;
pub mod scim_sample;
pub mod sync_run;
