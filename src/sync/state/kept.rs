//! The Password Boss state kept between syncs, so that a sync that changes nothing sends no
//! Password Boss request.
//!
//! A full read is kept as it was read, never edited to follow the connector's own writes: a sync
//! in which a write took effect, or may have (it failed, or was not answered), drops it, and the
//! next sync reads Password Boss afresh. A sync whose only writes were refused for want of a
//! licence keeps it: nothing changed, and the refusal says nothing about the state. It is read in
//! full again, too:
//! - when it is older than the connector's `fullSyncInterval` (a change made in the portal is
//!   corrected then);
//! - when the Password Boss endpoint or token changed, and after a sync cut short (the state is
//!   taken out for the sync and put back only when it finished);
//! - before anything that cannot be undone is decided (the plan step).

use std::time::{Duration, Instant};

use super::outcome::{ExecutionReport, Outcome};
use crate::domain::DirectoryState;
use crate::passwordboss::model::ConnectorInfo;
use crate::plan::{ConflictKind, Plan};

/// A Password Boss state read at `read_at`, for the client `key`.
pub(crate) struct KeptState {
    pub key: u64,
    pub read_at: Instant,
    /// The company and licences as `GET /v1/connector` said at the read.
    pub connector: ConnectorInfo,
    pub state: DirectoryState,
}

impl KeptState {
    /// Whether this state may stand in for a read now, for client `key`.
    pub(crate) fn usable(&self, key: u64, max_age: Duration) -> bool {
        self.key == key && self.read_at.elapsed() < max_age
    }
}

/// Whether Password Boss is as it was read before `plan` was applied: every write of the plan
/// was refused for want of a licence (a plan without writes changes nothing either). Any other
/// outcome took effect, may have, or says the read was stale (404, 409, 422).
pub(crate) fn unchanged_by(plan: &Plan, report: &ExecutionReport) -> bool {
    report.outcomes.len() == plan.actions.len()
        && report.outcomes.iter().all(
            |o| matches!(&o.outcome, Outcome::Conflict(c) if c.kind == ConflictKind::NoLicense),
        )
}
