//! Planning is skipped when nothing the planner reads has changed since the last sync: the plan
//! before the safety gate is a pure function of the Entra snapshot, the Password Boss state, the
//! rules and the owned groups, so the last plan is still the answer. Most syncs change nothing.
//!
//! The key is made here, after the reads, from the values the planner reads: a 64-bit hash of
//! the snapshot and the state (equal keys of different inputs are a 2⁻⁶⁴ chance, and could only
//! repeat a plan with no action), and the rules and owned groups as they are.
//!
//! Only a plan with no action is kept: one with actions changes Password Boss when it is
//! applied, and keeping it would hold every planned action in memory between syncs. The safety
//! gate runs on every sync, after the memo (it reads the time and the record).

use std::hash::BuildHasher;

use foldhash::quality::FixedState;

use crate::domain::EntraSnapshot;
use crate::plan::{DirectoryState, Plan, Rules};

/// What the planner's inputs were, as far as telling them apart needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PlanKey {
    inputs: u64,
    rules: Rules,
    owned_groups: Vec<String>,
}

impl PlanKey {
    pub(crate) fn new(
        snapshot: &EntraSnapshot,
        state: &DirectoryState,
        rules: &Rules,
        owned_groups: &[String],
    ) -> Self {
        Self {
            inputs: FixedState::with_seed(0).hash_one((snapshot, state)),
            rules: rules.clone(),
            owned_groups: owned_groups.to_vec(),
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
