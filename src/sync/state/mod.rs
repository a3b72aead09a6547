//! The state the four steps share: what is kept for a connector between its syncs
//! (`ConnectorState`), and what one sync hands from step to step — the clients, what was read
//! (`Reads`), what was planned (`Planned`), what was written (`outcome`, `audit`) and what it
//! records whatever step it stops at (`Trace`). The steps import this module, never each other.

pub mod audit;
pub(super) mod kept;
pub mod outcome;

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::status::failure::SyncFailure;
use super::target::Target;
use crate::azure::{GraphClient, GraphSyncState, PacerRegistry};
use crate::domain::{DirectoryState, EntraSnapshot};
use crate::passwordboss::model::ConnectorInfo;
use crate::plan::Plan;
use crate::resources::CompanyRef;
use kept::KeptState;

pub use audit::{
    AUDIT_TARGET, AuditRecord, REASON_CANCELLED, REASON_LEADERSHIP_LOST, WritesInFlight,
    outcome_field,
};
pub use outcome::{ActionOutcome, Applied, ExecutionReport, Outcome};

/// How long each step of a sync took; the two reads run at the same time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepTimings {
    /// Reading Entra through Graph (scope applied).
    pub graph_read: Duration,
    /// Reading Password Boss (near zero when the kept state stood in).
    pub password_boss_read: Duration,
    /// The plan step: departures settled, the planner and the safety gate (and storing its record).
    pub planning: Duration,
    /// Applying the plan's writes.
    pub apply: Duration,
}

/// Which sides the sync reached with accepted credentials (for the authorization conditions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reached {
    pub azure: bool,
    pub password_boss: bool,
}

/// Per-connector state kept between syncs.
#[derive(Default)]
pub struct ConnectorState {
    pub(crate) graph_state: GraphSyncState,
    pub(crate) graph: Option<(u64, GraphClient)>,
    /// The target's client (Password Boss or SCIM), by its endpoint and token's fingerprint.
    pub(crate) target: Option<(u64, Target)>,
    pub(crate) pacers: Option<Arc<PacerRegistry>>,
    /// The Password Boss state, kept between syncs (see `kept`).
    pub(crate) kept: Option<KeptState>,
    /// The leadership term this state belongs to (see `begin_term`).
    term: u64,
    /// The connector object this state belongs to (`metadata.uid`; see `belong_to`).
    object: String,
}

impl ConnectorState {
    /// The Password Boss state kept for the next sync, if any (for tests and diagnostics).
    pub fn kept_directory(&self) -> Option<crate::domain::DirectoryState> {
        self.kept.as_ref().map(|c| c.state.clone())
    }

    /// When the kept Password Boss state was read, if one is kept (for tests and diagnostics).
    pub fn kept_read_at(&self) -> Option<std::time::Instant> {
        self.kept.as_ref().map(|c| c.read_at)
    }

    /// Starts leadership term `term` if this state belongs to an earlier one: while another
    /// replica led, it may have written to Password Boss, so nothing kept is trusted (the next
    /// reads are full ones).
    pub fn begin_term(&mut self, term: u64) {
        if self.term == term {
            return;
        }
        *self = Self {
            term,
            object: std::mem::take(&mut self.object),
            pacers: self.pacers.take(),
            ..Self::default()
        };
    }

    /// Makes this the state of connector object `uid`: if it was another object's (a connector
    /// deleted and made again under the same name while this replica did not see the delete,
    /// standing by), nothing of it is kept. An empty `uid` (unknown) changes nothing.
    pub fn belong_to(&mut self, uid: &str) {
        if uid.is_empty() || self.object == uid {
            return;
        }
        if !self.object.is_empty() {
            *self = Self {
                term: self.term,
                pacers: self.pacers.take(),
                ..Self::default()
            };
        }
        self.object = uid.to_owned();
    }

    /// State whose Graph client shares one pacer per tenant with every other connector built
    /// from the same registry (connectors of one tenant share Graph's throttling budget).
    pub fn with_pacers(pacers: Arc<PacerRegistry>) -> Self {
        Self {
            pacers: Some(pacers),
            ..Self::default()
        }
    }
}

/// What a sync records as it goes, whatever step it stops at.
#[derive(Default)]
pub(crate) struct Trace {
    pub reached: Reached,
    pub timings: StepTimings,
    /// The company `GET /v1/connector` named, once it answered.
    pub company: Option<CompanyRef>,
    /// This sync read Entra in full (not through delta queries).
    pub full_read: bool,
}

/// Both sides' clients for one sync: Graph, and the target.
pub(crate) struct Clients {
    pub graph: GraphClient,
    /// Where the accounts are kept (Password Boss).
    pub target: Target,
    /// Identifies the target's endpoint and token: a kept state serves only the same key.
    pub target_key: u64,
}

impl Clients {
    /// Graph requests, Password Boss reads and writes made so far.
    pub fn requests(&self) -> (u64, u64, u64) {
        let pb = self.target.requests();
        (self.graph.requests(), pb.reads, pb.writes)
    }
}

/// What the read step found. The Entra side is in the connector state's Graph state; the plan
/// step builds the snapshot from it only when it plans.
pub(crate) struct Reads {
    pub connector: ConnectorInfo,
    pub directory: DirectoryState,
    /// When `directory` was read from Password Boss.
    pub directory_read_at: Instant,
    /// `directory` is the state kept from an earlier sync, not read now.
    pub kept: bool,
}

/// What the report needs of the Entra snapshot a plan was made from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SnapshotSummary {
    pub complete: bool,
    pub incomplete_reason: Option<String>,
    /// Mirrored groups read.
    pub groups: u32,
}

impl SnapshotSummary {
    pub(crate) fn of(snapshot: &EntraSnapshot) -> Self {
        Self {
            complete: snapshot.complete,
            incomplete_reason: snapshot.incomplete_reason.clone(),
            groups: snapshot.groups.len() as u32,
        }
    }
}

/// What the plan step made: the plan, and what it was made from.
pub(crate) struct Planned {
    /// Guarded by the safety limits; its record, when changed, is stored.
    pub plan: Plan,
    pub summary: SnapshotSummary,
    pub connector: ConnectorInfo,
    pub directory: DirectoryState,
    pub directory_read_at: Instant,
}

/// What the apply step did.
pub(crate) struct Executed {
    pub execution: ExecutionReport,
    /// Why the writes stopped before the end of the plan, if they did.
    pub failure: Option<SyncFailure>,
}

#[cfg(test)]
mod tests {
    use super::kept::KeptState;
    use super::*;
    use crate::passwordboss::model::ConnectorInfo;

    fn kept() -> KeptState {
        KeptState {
            key: 1,
            read_at: std::time::Instant::now(),
            connector: ConnectorInfo {
                company_id: String::new(),
                company_name: String::new(),
                licenses: Default::default(),
            },
            state: Default::default(),
        }
    }

    #[test]
    fn a_new_term_trusts_nothing_kept_but_the_tenants_pacer() {
        let mut state = ConnectorState {
            kept: Some(kept()),
            ..ConnectorState::with_pacers(Arc::default())
        };
        state.graph_state.last_full = Some(std::time::Instant::now());
        // The same term: nothing changes.
        state.begin_term(0);
        assert!(state.kept_directory().is_some());
        assert!(state.graph_state.last_full_read().is_some());
        // A new term: Password Boss and Graph are read afresh.
        state.begin_term(1);
        assert!(state.kept_directory().is_none());
        assert!(
            state.graph_state.last_full_read().is_none(),
            "the Graph state is read afresh"
        );
        assert!(state.pacers.is_some(), "the tenant's shared pacer is kept");
    }

    #[test]
    fn a_connector_made_again_under_the_same_name_inherits_nothing() {
        let mut state = ConnectorState {
            kept: Some(kept()),
            ..ConnectorState::with_pacers(Arc::default())
        };
        state.belong_to("uid-old");
        state.graph_state.last_full = Some(std::time::Instant::now());
        // The same object, or an unknown uid: nothing changes.
        state.belong_to("uid-old");
        state.belong_to("");
        assert!(state.kept_directory().is_some() && state.graph_state.last_full_read().is_some());
        // Another object under the same name: nothing of the old one is kept.
        state.belong_to("uid-new");
        assert!(state.kept_directory().is_none());
        assert!(state.graph_state.last_full_read().is_none());
        assert!(state.pacers.is_some(), "the tenant's shared pacer is kept");
    }
}
