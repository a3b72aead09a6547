//! One sync of one connector, shared by the controller and the command line, as four steps
//! that share what they hand on through `state` and import nothing of each other:
//!
//! 1. **read** (`read`): the clients, then Entra and Password Boss concurrently (or the
//!    Password Boss state kept from the last sync);
//! 2. **plan** (`plan`): the company guard, departures settled by Graph lookups, the planner
//!    and the safety gate (what a destructive plan spends is stored first, `spending`);
//! 3. **apply** (`apply`): the plan's writes to Password Boss; the state read is kept for the
//!    next sync when they changed nothing;
//! 4. **report** (`report`): the `SyncReport`, built once from what the steps did.
//!
//! What a report becomes on the connector — status, conditions, failure reasons, Events, the
//! human description of a plan — is worked out in one place, `status`.
//!
//! The per-connector state kept between syncs (delta links, token caches, the kept Password Boss
//! state) lives in `state::ConnectorState`. The safety record is not kept there: it is read from
//! where it is stored (`SyncOptions::safety_record`) and stored before it is spent (`spending`).

pub mod apply;
pub mod company;
mod credentials;
mod departures;
mod plan;
pub mod progress;
mod read;
pub mod report;
pub mod secrets;
pub mod spending;
pub mod state;
pub mod status;
pub mod verify;

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use self::company::CompanyGuard;
use self::progress::ProgressSender;
use self::report::{Reached, SyncReport};
use self::secrets::SecretError;
use self::spending::SafetyStoreHandle;
use self::state::{Clients, ConnectorState, Executed, Planned, Trace};
use self::status::failure::SyncFailure;
use crate::resources::{AzureAdConnectorSpec, SafetyRecord};

pub use self::credentials::{Credentials, read_credentials, read_credentials_with};
pub use self::read::graph_message;

/// How long one sync may take, both services together: 5 minutes.
pub const DEFAULT_SYNC_DEADLINE: Duration = Duration::from_secs(300);

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
        .map_err(read::ReadError::from)
        .and_then(|c| read::clients(spec, c, state))
    {
        Ok(c) => c,
        Err(e) => return SyncReport::failed(started, e.into(), Reached::default()),
    };
    let before = report::Counters::of(&clients);
    let mut trace = Trace::default();
    let outcome = steps(spec, &clients, state, options, &mut trace).await;
    let mut report = report::build_report(started, trace, outcome, options.dry_run);
    before.since(&clients, &mut report);
    report
}

async fn steps(
    spec: &AzureAdConnectorSpec,
    clients: &Clients,
    state: &mut ConnectorState,
    options: &SyncOptions,
    trace: &mut Trace,
) -> Result<(Planned, Option<Executed>), SyncFailure> {
    let full_reads_before = state.graph_state.last_full_read();
    let reads = read::read(spec, clients, state, options, trace).await?;
    let mut planned = plan::make_plan(spec, clients, state, options, reads, trace).await?;
    trace.full_read = state.graph_state.last_full_read() != full_reads_before;
    let executed = apply::apply(clients, state, options, &mut planned, trace).await;
    Ok((planned, executed))
}
