//! Planning is skipped when nothing the planner reads has changed since the last sync: the plan
//! is a pure function of the Entra snapshot, the Password Boss state, the rules and the approved
//! deprovisions, so the last plan is still the answer. Most syncs change nothing, and planning
//! is the one part of such a sync that costs time in proportion to the number of users.
//!
//! What identifies the inputs, without a second pass over them:
//! - the Graph state's generation (it changes whenever a read may have changed the snapshot);
//! - the fingerprint of the Password Boss state, hashed page by page as it was read;
//! - the part of the snapshot made after the read (departures classified as deleted, and
//!   whether the read was complete), hashed here;
//! - the rules and the approved deprovisions, compared as they are.
//!
//! Only a plan with no action is kept: one with actions changes Password Boss when it is
//! applied, and keeping it would hold every planned action in memory between syncs.

use std::hash::BuildHasher;

use foldhash::quality::FixedState;

use crate::azure::model::EntraSnapshot;
use crate::plan::{Plan, Rules};

/// What the planner's inputs were, as far as telling them apart needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PlanKey {
    graph_generation: u64,
    directory: u64,
    snapshot_rest: u64,
    rules: Rules,
    approved_deprovisions: Option<u32>,
}

impl PlanKey {
    pub(crate) fn new(
        graph_generation: u64,
        directory_fingerprint: u64,
        snapshot: &EntraSnapshot,
        rules: &Rules,
        approved_deprovisions: Option<u32>,
    ) -> Self {
        let rest = (
            &snapshot.deleted,
            snapshot.complete,
            &snapshot.incomplete_reason,
            &snapshot.group_problems,
        );
        Self {
            graph_generation,
            directory: directory_fingerprint,
            snapshot_rest: FixedState::with_seed(0).hash_one(rest),
            rules: rules.clone(),
            approved_deprovisions,
        }
    }
}

/// The last plan with no action, and what it was planned from.
#[derive(Default)]
pub(crate) struct PlanMemo(Option<(PlanKey, Plan)>);

impl PlanMemo {
    /// The plan for `key`: the kept one when the inputs are the same, else `plan()`'s. The flag
    /// says whether the kept plan was reused.
    pub(crate) fn plan(&mut self, key: PlanKey, plan: impl FnOnce() -> Plan) -> (Plan, bool) {
        if let Some((kept, p)) = &self.0
            && *kept == key
        {
            return (p.clone(), true);
        }
        let p = plan();
        self.0 = p.actions.is_empty().then(|| (key, p.clone()));
        (p, false)
    }
}
