//! One sync of one connector, shared by the controller and the command line, as four steps
//! that share what they hand on through `state` and import nothing of each other:
//!
//! 1. **read** (`read`): the clients, then Entra and Password Boss concurrently (or the
//!    Password Boss state kept from the last sync);
//! 2. **plan** (`plan`): the company guard, departures settled by Graph lookups, the planner
//!    and the safety gate (a safety record the plan changes is stored first, `spending`);
//! 3. **apply** (`apply`): the plan's writes to Password Boss; the state read is kept for the
//!    next sync when they changed nothing;
//! 4. **report** (`report`): the `SyncReport`, built once from what the steps did.
//!
//! What a report becomes on the connector — status, conditions, failure reasons, Events, the
//! human description of a plan — is worked out in one place, `status`.
//!
//! The per-connector state kept between syncs (delta links, token caches, the kept Password Boss
//! state) lives in `state::ConnectorState`. The safety record is not kept there: it is read from
//! where it is stored (`SyncRequest::safety_record`) and stored before it is spent (`spending`).

pub mod apply;
pub mod company;
mod credentials;
mod departures;
mod plan;
pub mod progress;
mod read;
pub mod report;
mod request;
pub mod secrets;
pub mod spending;
pub mod state;
pub mod status;
pub mod target;
pub mod verify;

use k8s_openapi::jiff::Timestamp;

use self::report::{Reached, SyncReport};
use self::secrets::SecretError;
use self::state::{Clients, ConnectorState, Executed, Planned, Trace};
use self::status::failure::SyncFailure;
use crate::resources::AzureAdConnectorSpec;

pub use self::credentials::{AppCredential, Credentials, read_credentials, read_credentials_with};
pub use self::read::graph_message;
pub use self::request::{ConnectorKey, DEFAULT_SYNC_DEADLINE, SyncRequest};

/// Runs one sync end to end and reports what happened. Never panics on bad data: every failure
/// ends up in the report. The whole sync, both services together, gets `request.deadline`; a
/// sync stopped there is a failure (`SyncDeadlineExceeded`) and changes nothing more. Stopping
/// happens at an await point, where any request could have failed, so the per-connector state
/// stays as consistent as after a failed request.
pub async fn run_sync(
    request: &SyncRequest,
    credentials: Result<Credentials, SecretError>,
    state: &mut ConnectorState,
) -> SyncReport {
    let started = Timestamp::now();
    let target = target::TargetKind::of(&request.spec);
    let sync = sync_within_deadline(&request.spec, credentials, state, request);
    let mut report = match tokio::time::timeout(request.deadline, sync).await {
        Ok(report) => report,
        Err(_) => {
            let message = format!(
                "the sync did not finish within its deadline of {}s (Microsoft Graph and \
                 {} together); writes not yet made were dropped and the next sync \
                 tries again; check that both services answer promptly",
                request.deadline.as_secs(),
                target.service()
            );
            SyncReport::failed(started, SyncFailure::deadline(message), Reached::default())
        }
    };
    report.target = target;
    report
}

async fn sync_within_deadline(
    spec: &AzureAdConnectorSpec,
    credentials: Result<Credentials, SecretError>,
    state: &mut ConnectorState,
    request: &SyncRequest,
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
    let outcome = steps(spec, &clients, state, request, &mut trace).await;
    let mut report = report::build_report(started, trace, outcome, request.dry_run);
    before.since(&clients, &mut report);
    report
}

async fn steps(
    spec: &AzureAdConnectorSpec,
    clients: &Clients,
    state: &mut ConnectorState,
    request: &SyncRequest,
    trace: &mut Trace,
) -> Result<(Planned, Option<Executed>), SyncFailure> {
    let full_reads_before = state.graph_state.last_full_read();
    let reads = read::read(spec, clients, state, request, trace).await?;
    let mut planned = plan::make_plan(spec, clients, state, request, reads, trace).await?;
    trace.full_read = state.graph_state.last_full_read() != full_reads_before;
    let executed = apply::apply(clients, state, request, &mut planned, trace).await;
    Ok((planned, executed))
}
