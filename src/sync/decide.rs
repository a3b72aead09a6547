//! Step 2 of a sync, **plan**: the company guard, then the plan — the last one when nothing the
//! planner reads changed (`plan_memo`), else the snapshot built from the Graph state, scoped, its
//! departures settled by Graph lookups, and planned — and the safety gate on every sync. A
//! guarded plan that would remove or delete a user or delete a group is made again from a fresh
//! Password Boss read when the read step took the kept state: what cannot be undone is decided on
//! a fresh read.

use std::time::Instant;

use super::company::company_of;
use super::departures::classify_departures;
use super::directory_cache::{Directory, next_generation};
use super::failure::FailureReason;
use super::pipeline::{ConnectorState, SyncOptions, Trace};
use super::plan_memo::{Kept, PlanKey};
use super::progress::{Progress, Step};
use super::read::{Clients, Reads};
use crate::domain::{DirectoryState, EntraSnapshot};
use crate::passwordboss::PasswordBossError;
use crate::passwordboss::model::ConnectorInfo;
use crate::plan::{self, GateFacts, Plan, Rules, SafetyInput};
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

/// What the report needs of the Entra snapshot a plan was made from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SnapshotSummary {
    pub complete: bool,
    pub incomplete_reason: Option<String>,
    /// Mirrored groups read.
    pub groups: u32,
}

impl SnapshotSummary {
    fn of(snapshot: &EntraSnapshot) -> Self {
        Self {
            complete: snapshot.complete,
            incomplete_reason: snapshot.incomplete_reason.clone(),
            groups: snapshot.groups.len() as u32,
        }
    }
}

/// The plan, and what it was made from.
pub(super) struct Decided {
    /// Guarded by the safety limits.
    pub plan: Plan,
    /// The last sync's plan was reused: nothing the planner reads had changed.
    pub reused: bool,
    pub summary: SnapshotSummary,
    pub connector: ConnectorInfo,
    pub directory: Directory,
    pub directory_generation: u64,
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
        mut connector,
        mut directory,
        mut directory_generation,
        mut directory_read_at,
        kept,
    } = reads;
    let company = company_of(&connector);
    trace.company = Some(company.clone());
    options
        .company_guard
        .check(&company)
        .map_err(DecideError::CompanyConflict)?;
    // This term's record; else one carried from a term this replica lost, merged with the
    // status's; else the status's.
    let record = match (&state.safety, &state.carried_safety) {
        (Some(record), _) => record.clone(),
        (None, Some(carried)) => carried.carried_into(options.safety_record.as_ref()),
        (None, None) => options.safety_record.clone().unwrap_or_default(),
    };
    let rules = spec.rules();
    options.progress.send(Progress::step(Step::Planning));
    let started = Instant::now();
    let input = SafetyInput {
        now: k8s_openapi::jiff::Timestamp::now(),
        record: (&record).into(),
        approval: options.approval.clone(),
    };
    let context = Context {
        spec,
        clients,
        rules: &rules,
        input: &input,
    };
    let planned = context
        .plan(state, &mut directory, directory_generation)
        .await;
    // What cannot be undone is decided on a fresh read: a portal change since the last read (an
    // account made admin, handed to another source) then counts. A kept state that does not
    // unpack (a bug) is read afresh too.
    let (plan, summary, reused) = match planned {
        Some(planned) if !(kept && plan::irreversible(&planned.0)) => planned,
        _ => {
            directory_read_at = Instant::now();
            let (fresh_connector, fresh) = clients
                .password_boss
                .read_company()
                .await
                .map_err(DecideError::Reread)?;
            directory_generation = next_generation();
            let key = context.key(state, directory_generation);
            let planned = context.plan_from(state, &fresh, key).await;
            (connector, directory) = (fresh_connector, Directory::Unpacked(fresh));
            planned
        }
    };
    if !options.dry_run {
        state.safety = Some((&plan.record).into());
        state.carried_safety = None;
    }
    trace.timings.planning = started.elapsed();
    Ok(Decided {
        plan,
        reused,
        summary,
        connector,
        directory,
        directory_generation,
        directory_read_at,
    })
}

/// What planning one sync reads besides the connector state and the Password Boss side.
struct Context<'a> {
    spec: &'a AzureAdConnectorSpec,
    clients: &'a Clients,
    rules: &'a Rules,
    input: &'a SafetyInput,
}

impl Context<'_> {
    /// The guarded plan: the memo's when nothing the planner reads changed, else the planner's
    /// from the snapshot, its departures settled. The flag says whether the memo's was reused.
    /// `None` when the kept Password Boss state does not unpack.
    async fn plan(
        &self,
        state: &mut ConnectorState,
        directory: &mut Directory,
        directory_generation: u64,
    ) -> Option<(Plan, SnapshotSummary, bool)> {
        let key = self.key(state, directory_generation);
        if let Some(kept) = state.plan_memo.get(&key) {
            let _span = tracing::info_span!("plan", reused = true).entered();
            // The gate reads the Password Boss state only for the plan's actions (the rest it
            // needs is in the kept facts), and a kept plan has none: the kept state stays packed.
            let plan = plan::guard(
                kept.plan.clone(),
                &DirectoryState::default(),
                &kept.facts,
                self.rules,
                self.input,
            );
            return Some((plan, kept.summary.clone(), true));
        }
        let directory = directory.state()?;
        Some(self.plan_from(state, directory, key).await)
    }

    fn key(&self, state: &ConnectorState, directory_generation: u64) -> PlanKey {
        PlanKey::new(
            state.graph_state.fingerprint(),
            directory_generation,
            self.rules,
            &self.input.record.owned_groups,
        )
    }

    /// The planner's guarded plan from the snapshot, its departures settled; kept in the memo
    /// when it qualifies.
    async fn plan_from(
        &self,
        state: &mut ConnectorState,
        directory: &DirectoryState,
        key: PlanKey,
    ) -> (Plan, SnapshotSummary, bool) {
        let owned = &self.input.record.owned_groups;
        let mut snapshot = state.graph_state.snapshot();
        plan::apply_scope(&mut snapshot, &self.rules.scope, self.rules.email_attribute);
        let lookups = self.clients.graph.requests();
        classify_departures(
            self.spec,
            &self.clients.graph,
            &mut state.graph_state,
            &mut snapshot,
            directory,
        )
        .await;
        let quiet = self.clients.graph.requests() == lookups;
        let _span = tracing::info_span!("plan", reused = false).entered();
        let unguarded = plan::plan_unguarded(&snapshot, directory, self.rules, owned);
        let facts = GateFacts::of(&snapshot, directory);
        let summary = SnapshotSummary::of(&snapshot);
        // Kept only when the same inputs would need no more than the reads (see `plan_memo`).
        let keep = quiet && summary.complete && unguarded.actions.is_empty();
        let kept = keep.then(|| Kept {
            plan: unguarded.clone(),
            facts: facts.clone(),
            summary: summary.clone(),
        });
        state.plan_memo.keep(key, kept);
        let plan = plan::guard(unguarded, directory, &facts, self.rules, self.input);
        (plan, summary, false)
    }
}
