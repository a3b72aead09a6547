//! Step 2 of a sync, **plan**: the company guard, the departures settled by Graph lookups, the
//! planner (or the last plan, when nothing it reads changed), and the safety gate. A guarded plan
//! that would remove or delete a user or delete a group is made again from a fresh Password Boss
//! read when the read step took the kept state: what cannot be undone is decided on a fresh read.

use std::time::Instant;

use super::company::company_of;
use super::departures::classify_departures;
use super::failure::FailureReason;
use super::pipeline::{ConnectorState, SyncOptions, Trace};
use super::plan_memo::PlanKey;
use super::progress::{Progress, Step};
use super::read::{Clients, Reads};
use crate::domain::{DirectoryState, EntraSnapshot};
use crate::passwordboss::PasswordBossError;
use crate::passwordboss::model::ConnectorInfo;
use crate::plan::{self, Plan, Rules, SafetyInput};
use crate::resources::AzureAdConnectorSpec;

/// Why the plan step stopped; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// An older connector reaches the same Password Boss company.
    #[error("{0}")]
    CompanyConflict(String),
    /// The fresh Password Boss read a destructive plan needs failed.
    #[error(transparent)]
    Reread(PasswordBossError),
}

impl DecideError {
    pub fn reason(&self) -> FailureReason {
        match self {
            Self::CompanyConflict(_) => FailureReason::CompanyConflict,
            Self::Reread(e) => FailureReason::of_password_boss(e),
        }
    }
}

/// The plan, and what it was made from.
pub(super) struct Decided {
    /// Guarded by the safety limits.
    pub plan: Plan,
    /// The last sync's plan was reused: nothing the planner reads had changed.
    pub reused: bool,
    pub snapshot: EntraSnapshot,
    pub connector: ConnectorInfo,
    pub directory: DirectoryState,
    pub directory_read_at: Instant,
}

pub(super) async fn decide(
    spec: &AzureAdConnectorSpec,
    clients: &Clients,
    state: &mut ConnectorState,
    options: &SyncOptions,
    reads: Reads,
    trace: &mut Trace,
) -> Result<Decided, DecideError> {
    let Reads {
        mut snapshot,
        mut connector,
        mut directory,
        mut directory_read_at,
        kept,
    } = reads;
    let company = company_of(&connector);
    trace.company = Some(company.clone());
    options
        .company_guard
        .check(&company)
        .map_err(DecideError::CompanyConflict)?;
    let record = state
        .safety
        .clone()
        .or_else(|| options.safety_record.clone())
        .unwrap_or_default();
    let rules = Rules::from_spec(spec);
    classify_departures(
        spec,
        &clients.graph,
        &mut state.graph_state,
        &mut snapshot,
        &directory,
    )
    .await;
    options.progress.send(Progress::step(Step::Planning));
    let started = Instant::now();
    let input = SafetyInput {
        now: k8s_openapi::jiff::Timestamp::now(),
        record,
        approval: options.approval.clone(),
    };
    let (mut plan, mut reused) = plan_once(state, &snapshot, &directory, &rules, &input);
    if kept && plan::irreversible(&plan) {
        // What cannot be undone is decided on a fresh read: a portal change since the last read
        // (an account made admin, handed to another source) then counts.
        directory_read_at = Instant::now();
        (connector, directory) = clients
            .password_boss
            .read_company()
            .await
            .map_err(DecideError::Reread)?;
        classify_departures(
            spec,
            &clients.graph,
            &mut state.graph_state,
            &mut snapshot,
            &directory,
        )
        .await;
        (plan, reused) = plan_once(state, &snapshot, &directory, &rules, &input);
    }
    if !options.dry_run {
        state.safety = Some(plan.record.clone());
    }
    trace.timings.planning = started.elapsed();
    Ok(Decided {
        plan,
        reused,
        snapshot,
        connector,
        directory,
        directory_read_at,
    })
}

/// The plan, guarded: the planner's (or the memo's, when nothing it reads changed), then the
/// safety gate, which runs on every sync.
fn plan_once(
    state: &mut ConnectorState,
    snapshot: &EntraSnapshot,
    directory: &DirectoryState,
    rules: &Rules,
    input: &SafetyInput,
) -> (Plan, bool) {
    let _span = tracing::info_span!("plan").entered();
    let owned = &input.record.owned_groups;
    let key = PlanKey::new(snapshot, directory, rules, owned);
    let (unguarded, reused) = state.plan_memo.plan(key, || {
        plan::plan_unguarded(snapshot, directory, rules, owned)
    });
    (
        plan::guard_plan(unguarded, snapshot, directory, rules, input),
        reused,
    )
}
