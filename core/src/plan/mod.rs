//! The sync planner: pure, deterministic, no I/O. Given what Entra holds, what the directory
//! (Password Boss today) holds and the connector's rules (`Rules`), it decides the actions of one
//! sync (`plan`), and the safety gate (`safety`) holds back what exceeds the limits.

mod conflicts;
mod directory;
mod groups;
mod identity;
mod leave;
mod planner;
mod rules;
mod safety;
mod scope;
mod summary;
mod types;
mod users;

pub use planner::{GateFacts, gate, plan, plan_ungated};
pub use rules::{
    EmailAttribute, ExistingUserRule, LeaveRule, NewUserRule, Rules, Safety, SyncRules, UserScope,
    duration_text,
};
pub use safety::{FROZEN, MAX_APPROVALS_USED, MAX_LEAVERS, exceeded_limit, irreversible};
pub use scope::{apply_scope, in_scope};
pub use types::*;
