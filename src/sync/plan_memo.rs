//! Planning is skipped when nothing the planner reads has changed since the last sync, which is
//! what most syncs are: the plan before the safety gate is a pure function of the Entra side, the
//! Password Boss side, the rules and the owned groups, so the last plan is still the answer.
//!
//! The key is made in `sync/`, after the reads, without building the snapshot: the Graph state's
//! fingerprint (a hash of everything the snapshot is built from, `GraphSyncState::fingerprint`),
//! the generation of the Password Boss state (a new one with every read and with every sync that
//! wrote; see `directory_cache`), and the rules and owned groups as they are.
//!
//! Only the plan of a sync that needed no more than the reads is kept: no action (one with
//! actions changes Password Boss when applied), a complete Entra read, and no Graph lookup made
//! to settle departures (with the same inputs, none would be made again). The safety gate runs on
//! every sync, after the memo (it reads the time and the record), with the facts kept beside the
//! plan.

use super::decide::SnapshotSummary;
use crate::plan::{GateFacts, Plan, Rules};

/// What the planner's inputs were, as far as telling them apart needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PlanKey {
    graph: u64,
    directory: u64,
    rules: Rules,
    owned_groups: Vec<String>,
}

impl PlanKey {
    pub(crate) fn new(graph: u64, directory: u64, rules: &Rules, owned_groups: &[String]) -> Self {
        Self {
            graph,
            directory,
            rules: rules.clone(),
            owned_groups: owned_groups.to_vec(),
        }
    }
}

/// A kept plan and what the rest of the sync needs of the snapshot it was made from.
#[derive(Clone, Debug)]
pub(crate) struct Kept {
    /// The plan before the safety gate; it has no action.
    pub plan: Plan,
    pub facts: GateFacts,
    pub summary: SnapshotSummary,
}

/// The last plan kept, and what it was planned from.
#[derive(Default)]
pub(crate) struct PlanMemo(Option<(PlanKey, Kept)>);

impl PlanMemo {
    /// The kept plan, when `key` names the same inputs.
    pub(crate) fn get(&self, key: &PlanKey) -> Option<&Kept> {
        self.0
            .as_ref()
            .filter(|(k, _)| k == key)
            .map(|(_, kept)| kept)
    }

    /// Keeps `kept` for `key`; `None` (a plan that does not qualify, see the module) forgets
    /// the kept one.
    pub(crate) fn keep(&mut self, key: PlanKey, kept: Option<Kept>) {
        self.0 = kept.map(|kept| (key, kept));
    }
}
