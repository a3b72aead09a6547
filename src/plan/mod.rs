//! The sync planner: pure, deterministic, no I/O. Given what Entra holds, what Password Boss holds
//! and the connector's rules, it decides the actions of one sync (`plan`).

mod conflicts;
mod digest;
mod directory;
mod groups;
mod identity;
mod leave;
mod planner;
mod safety;
mod scope;
mod summary;
mod types;
mod users;

pub use digest::{DirectoryDigest, EntraDigest, MemberSetHash, digest_apart};
pub use planner::{Digests, guard_plan, plan, plan_with, plan_without_shortcuts};
pub use safety::{MAX_APPROVALS_USED, MAX_LEAVERS, exceeded_limit};
pub use scope::{apply_scope, in_scope};
pub use types::*;
