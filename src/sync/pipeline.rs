//! One sync of one connector, as four steps, each with its own error type:
//!
//! 1. **read** (`read.rs`): the clients, then Entra and Password Boss concurrently (or the kept
//!    Password Boss state);
//! 2. **plan** (`decide.rs`): the company guard, departures settled by Graph lookups, the
//!    planner and the safety gate;
//! 3. **apply** (`apply.rs`): the writes; the Password Boss state read is kept for the next sync
//!    when they changed nothing;
//! 4. **report**: the `SyncReport`, built once from what the steps did (`report.rs`).
//!
//! The per-connector state kept between syncs (delta links, token caches, the kept Password Boss
//! state) lives in `ConnectorState`. The safety record is not kept there: it is read from where
//! it is stored (`SyncOptions::safety_record`) and stored before it is spent (`spending`).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::apply::{Applied, ApplyError, apply};
use super::company::CompanyGuard;
use super::decide::{DecideError, Decided, decide};
use super::directory_cache::CachedDirectory;
use super::failure::SyncFailure;
use super::progress::ProgressSender;
use super::read::{Clients, ReadError, clients, read};
use super::report::{Reached, StepTimings, SyncReport};
use super::secrets::SecretError;
use super::spending::SafetyStoreHandle;
use crate::azure::{GraphClient, GraphSyncState, PacerRegistry};
use crate::http_client::tally::status_delta;
use crate::passwordboss::PasswordBossClient;
use crate::resources::{AzureAdConnectorSpec, CompanyRef, SafetyRecord};

pub use super::credentials::{Credentials, read_credentials, read_credentials_with};
pub use super::read::graph_message;

/// How long one sync may take, both services together: 5 minutes.
pub const DEFAULT_SYNC_DEADLINE: Duration = Duration::from_secs(300);

/// Per-connector state kept between syncs.
#[derive(Default)]
pub struct ConnectorState {
    pub(super) graph_state: GraphSyncState,
    pub(super) graph: Option<(u64, GraphClient)>,
    pub(super) password_boss: Option<(u64, PasswordBossClient)>,
    pub(super) pacers: Option<Arc<PacerRegistry>>,
    /// The Password Boss state, kept between syncs (see `directory_cache`).
    pub(super) directory: Option<CachedDirectory>,
    /// The leadership term this state belongs to (see `begin_term`).
    term: u64,
    /// The connector object this state belongs to (`metadata.uid`; see `belong_to`).
    object: String,
}

impl ConnectorState {
    /// The Password Boss state kept for the next sync, if any (for tests and diagnostics).
    pub fn kept_directory(&self) -> Option<crate::domain::DirectoryState> {
        self.directory.as_ref().map(|c| c.state.clone())
    }

    /// When the kept Password Boss state was read, if one is kept (for tests and diagnostics).
    pub fn kept_read_at(&self) -> Option<std::time::Instant> {
        self.directory.as_ref().map(|c| c.read_at)
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

/// How to run one sync.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// Plan only (spec.dryRun, or `pbconnector plan`).
    pub dry_run: bool,
    /// The approval token given for this sync (annotation or `--approve-deprovisions`).
    pub approval: Option<String>,
    /// What the safety limits remember (the connector's `status.safety`): the record the sync
    /// plans from.
    pub safety_record: Option<SafetyRecord>,
    /// Where a plan that spends the safety budget stores its record before its first
    /// destructive write (see `spending`); `None`: nowhere (the command line, which has no
    /// object to write).
    pub safety_store: Option<SafetyStoreHandle>,
    /// Distinguishes this sync's idempotency keys from other syncs'.
    pub sync_id: String,
    /// Use delta queries between full reads.
    pub delta: bool,
    /// The whole sync, Entra and Password Boss together, ends by this deadline
    /// (`DEFAULT_SYNC_DEADLINE` by default).
    pub deadline: Duration,
    /// Where the sync is, for a front end to show (nobody listens by default).
    pub progress: ProgressSender,
    /// May this connector write to the company its token reaches? (every company by default)
    pub company_guard: CompanyGuard,
    /// How audit lines name the connector: `namespace/name` (controller), the manifest's name
    /// (CLI); empty: they name none.
    pub connector: String,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            approval: None,
            safety_record: None,
            safety_store: None,
            sync_id: uuid::Uuid::new_v4().to_string(),
            delta: true,
            deadline: DEFAULT_SYNC_DEADLINE,
            progress: ProgressSender::default(),
            company_guard: CompanyGuard::default(),
            connector: String::new(),
        }
    }
}

/// What a sync records as it goes, whatever step it stops at.
#[derive(Default)]
pub(super) struct Trace {
    pub reached: Reached,
    pub timings: StepTimings,
    /// The company `GET /v1/connector` named, once it answered.
    pub company: Option<CompanyRef>,
    /// This sync read Entra in full (not through delta queries).
    pub full_read: bool,
}

/// What the steps did when none failed before applying.
struct Synced {
    decided: Decided,
    applied: Option<Applied>,
}

impl From<ReadError> for SyncFailure {
    fn from(e: ReadError) -> Self {
        SyncFailure::new(e.reason(), e.to_string())
    }
}

impl From<DecideError> for SyncFailure {
    fn from(e: DecideError) -> Self {
        SyncFailure::new(e.reason(), e.to_string())
    }
}

impl From<&ApplyError> for SyncFailure {
    fn from(e: &ApplyError) -> Self {
        SyncFailure::new(e.reason(), e.to_string())
    }
}

/// Runs one sync end to end and reports what happened. Never panics on bad data: every failure
/// ends up in the report. The whole sync, both services together, gets `options.deadline`; a
/// sync stopped there is a failure (`SyncDeadlineExceeded`) and changes nothing more. Stopping
/// happens at an await point, where any request could have failed, so the per-connector state
/// stays as consistent as after a failed request.
pub async fn run_sync(
    spec: &AzureAdConnectorSpec,
    credentials: Result<Credentials, SecretError>,
    state: &mut ConnectorState,
    options: &SyncOptions,
) -> SyncReport {
    let started = Timestamp::now();
    let sync = sync_within_deadline(spec, credentials, state, options);
    match tokio::time::timeout(options.deadline, sync).await {
        Ok(report) => report,
        Err(_) => {
            let message = format!(
                "the sync did not finish within its deadline of {}s (Microsoft Graph and \
                 Password Boss together); writes not yet made were dropped and the next sync \
                 tries again; check that both services answer promptly",
                options.deadline.as_secs()
            );
            SyncReport::failed(started, SyncFailure::deadline(message), Reached::default())
        }
    }
}

async fn sync_within_deadline(
    spec: &AzureAdConnectorSpec,
    credentials: Result<Credentials, SecretError>,
    state: &mut ConnectorState,
    options: &SyncOptions,
) -> SyncReport {
    let started = Timestamp::now();
    let clients = match credentials
        .map_err(ReadError::from)
        .and_then(|c| clients(spec, c, state))
    {
        Ok(c) => c,
        Err(e) => return SyncReport::failed(started, e.into(), Reached::default()),
    };
    let before = Counters::of(&clients);
    let mut trace = Trace::default();
    let outcome = steps(spec, &clients, state, options, &mut trace).await;
    let mut report = build_report(started, trace, outcome, options.dry_run);
    before.since(&clients, &mut report);
    report
}

async fn steps(
    spec: &AzureAdConnectorSpec,
    clients: &Clients,
    state: &mut ConnectorState,
    options: &SyncOptions,
    trace: &mut Trace,
) -> Result<Synced, SyncFailure> {
    let full_reads_before = state.graph_state.last_full_read();
    let reads = read(spec, clients, state, options, trace).await?;
    let mut decided = decide(spec, clients, state, options, reads, trace).await?;
    trace.full_read = state.graph_state.last_full_read() != full_reads_before;
    let applied = apply(clients, state, options, &mut decided, trace).await;
    Ok(Synced { decided, applied })
}

/// Step 4, **report**: what the steps did, as one `SyncReport`.
fn build_report(
    started: Timestamp,
    trace: Trace,
    outcome: Result<Synced, SyncFailure>,
    dry_run: bool,
) -> SyncReport {
    let Synced { decided, applied } = match outcome {
        Ok(synced) => synced,
        Err(failure) => {
            let mut report = SyncReport::failed(started, failure, trace.reached);
            report.company = trace.company;
            report.timings = trace.timings;
            return report;
        }
    };
    let mut reached = trace.reached;
    let failure = applied
        .as_ref()
        .and_then(|a| a.error.as_ref())
        .map(SyncFailure::from);
    if matches!(
        applied.as_ref().and_then(|a| a.error.as_ref()),
        Some(ApplyError::Unauthorized(_))
    ) {
        reached.password_boss = false;
    }
    let plan = decided.plan;
    let mut conflicts = plan.conflicts.clone();
    let (applied_counts, actions, failed_actions) = match applied {
        Some(Applied { execution, .. }) => {
            conflicts.extend(execution.conflicts);
            (
                execution.applied,
                execution.audit,
                execution.failed + execution.skipped,
            )
        }
        None => Default::default(),
    };
    let finished = Timestamp::now();
    SyncReport {
        started,
        finished,
        duration: finished.duration_since(started).unsigned_abs(),
        timings: trace.timings,
        failure,
        reached,
        full_read: trace.full_read,
        snapshot_complete: decided.summary.complete,
        incomplete_reason: decided.summary.incomplete_reason,
        dry_run,
        applied: applied_counts,
        actions,
        company: trace.company,
        conflicts,
        blocked_deprovisions: plan.blocked_deprovisions,
        users: plan.users.into(),
        groups: decided.summary.groups,
        failed_actions,
        plan: Some(plan),
        // Filled from the clients' counters.
        graph_requests: 0,
        password_boss_requests: 0,
        password_boss_writes: 0,
        graph_statuses: Default::default(),
        password_boss_statuses: Default::default(),
    }
}

/// The clients' request counters when the sync started.
struct Counters {
    requests: (u64, u64, u64),
    graph_statuses: std::collections::BTreeMap<u16, u64>,
    password_boss_statuses: std::collections::BTreeMap<u16, u64>,
}

impl Counters {
    fn of(clients: &Clients) -> Self {
        Self {
            requests: clients.requests(),
            graph_statuses: clients.graph.requests_by_status(),
            password_boss_statuses: clients.password_boss.requests_by_status(),
        }
    }

    /// This sync's requests, into `report`.
    fn since(&self, clients: &Clients, report: &mut SyncReport) {
        let (graph, reads, writes) = clients.requests();
        let (graph_before, reads_before, writes_before) = self.requests;
        report.graph_requests = (graph - graph_before) as u32;
        report.password_boss_requests = (reads + writes - reads_before - writes_before) as u32;
        report.password_boss_writes = (writes - writes_before) as u32;
        report.graph_statuses =
            status_delta(&clients.graph.requests_by_status(), &self.graph_statuses);
        report.password_boss_statuses = status_delta(
            &clients.password_boss.requests_by_status(),
            &self.password_boss_statuses,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passwordboss::model::ConnectorInfo;
    use crate::sync::directory_cache::CachedDirectory;

    fn kept() -> CachedDirectory {
        CachedDirectory {
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
            directory: Some(kept()),
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
            directory: Some(kept()),
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
