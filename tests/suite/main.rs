//! The integration tests: one test binary (`cargo test --test suite`), one module per area, one
//! support tree (`support/`). Filter by area with the module path, e.g.
//! `cargo test --test suite e2e::` or `cargo test --test suite planner::rules::`.
//!
//! The tests run on libtest's threads in this one process, so nothing here sets environment
//! variables, installs a global tracing subscriber (log captures are per-thread
//! `set_default`s) or signals this process. Kubernetes tests share one API server
//! (`support::apiserver::TestApiServer::shared`, a namespace per test) unless they restart it or
//! install cluster-wide objects.

mod support;

mod cli {
    #[cfg(feature = "demo")]
    mod demo;
    mod entra_safety;
    mod manifest_limits;
    mod output;
    mod shared_app;
    mod signals;
    mod standalone;
    mod sync;
}
mod controller {
    mod company_claims;
    mod credential_policy;
    mod leadership_writes;
    mod permissions;
    mod quarantine;
    mod reconcile;
    mod run;
}
mod container {
    mod image;
    mod registry;
}

mod e2e {
    mod company_audit;
    mod fairness;
    mod faults;
    mod freeze;
    mod hostile;
    mod memory;
    mod operator;
    mod progress;
    mod quarantine;
    mod scale;
    mod scim;
    mod security;
    mod shards;
    mod shared_app;
    mod verify;
}
mod plugin {
    mod verbs;
}
mod graph {
    mod auth;
    mod faults;
    mod read;
    mod simulator;
}
mod helm {
    mod apply;
    mod chart;
    mod examples;
    mod monitoring;
    mod shards;
}
mod kubernetes {
    mod clients;
    mod crd_schema;
    mod crd_server;
    mod full_example;
    mod kubectl;
}
mod passwordboss {
    mod contract;
    mod executor;
    mod logging;
}
mod planner {
    mod properties;
    mod rules;
    mod scope;
}
mod status {
    mod credential_expiry;
    mod failure_reasons;
    mod mapping;
}
mod scim {
    mod cli;
    mod proxy;
    mod safety;
    mod server;
    mod sync;
}
mod sync {
    mod company_guard;
    mod hostile_servers;
    mod kept_state;
    mod safety;
    mod secret_hygiene;
    mod telemetry;
}
mod readme {
    mod commands;
}
