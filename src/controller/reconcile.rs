//! `reconcile` and `error_policy`: decide whether a connector is due, run its sync through the
//! engine, write the status when it says something new, and publish Events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::{Client, Resource, ResourceExt};
use tokio::time::Instant;
use tracing::Instrument;

use super::application::consent::{ConsentBook, consent_of};
use super::cancel::InFlight;
use super::companies::CompanyRegistry;
use super::engine::SyncEngine;
use super::events::EventRecorder;
use super::leadership::Leadership;
use super::policy::CredentialPolicy;
use super::requests::{RequestTokens, approval_token, pending_plan, pending_verify};
use super::safety_store::StatusSafetyStore;
use super::schedule::{
    Decision, Due, Entry, Ledger, Observed, SecretVersions, backoff, jittered, next_delay,
};
use super::secrets::{SecretRegistry, read_secrets, referenced_names};
use super::status_writer::{apply_status, publish};
use super::while_leading::sync_while_leading;
use crate::resources::{AzureAdConnector, AzureAdConnectorStatus, Connection};
use crate::sync::progress::ProgressSender;
use crate::sync::report::{Reached, SyncFailure, SyncReport};
use crate::sync::spending::SafetyStoreHandle;
use crate::sync::state::REASON_CANCELLED;
use crate::sync::status::credential_expiry::{
    CredentialExpiry, ExpiryError, credential_expiry, set_expiry_condition,
};
use crate::sync::status::failure::FailureReason;
use crate::sync::status::{
    EventType, LAST_SUCCESS_REFRESH, deprovision_event, invalid_spec_status, is_meaningful_change,
    planned_status, refresh_period, status_from_report, suspended_status, transitions,
    waiting_status,
};
use crate::sync::target::TargetKind;
use crate::sync::{ConnectorKey, DEFAULT_SYNC_DEADLINE, SyncRequest};
use crate::telemetry::metrics::Metrics;

/// A watched object: a connector, or the metadata of one that does not match the schema.
pub type Watched = DeserializeGuard<AzureAdConnector>;

/// What every reconcile shares.
pub struct Context<E> {
    pub client: Client,
    pub engine: Arc<E>,
    pub recorder: EventRecorder,
    pub metrics: Metrics,
    pub ledger: Mutex<Ledger>,
    pub secrets: Arc<SecretRegistry>,
    /// Syncs stop the moment this is lost (`Leadership::always()` without leader election).
    pub leadership: Leadership,
    /// The most one sync may take, both services together: each request's one deadline
    /// (`sync::DEFAULT_SYNC_DEADLINE` unless set).
    pub sync_deadline: Duration,
    /// Which endpoints and identities connectors may use; the strictest unless set.
    pub policy: CredentialPolicy,
    /// An unchanged status is rewritten this long after its last success, to refresh
    /// `lastSuccessfulSyncTime`: the longest refresh period (`LAST_SUCCESS_REFRESH` unless a test
    /// shortens it); each connector refreshes after its `refresh_period` of it.
    pub last_success_refresh: Duration,
    /// A sync running longer than this writes its progress into status.message, this often.
    pub progress_status_interval: Duration,
    /// Which connector may write to which Password Boss company (the older of two), through
    /// claims in the operator's namespace (the client's default namespace unless set).
    pub companies: Arc<CompanyRegistry>,
    /// The syncs in flight, which the connector watch cancels (`cancel`).
    pub in_flight: Arc<InFlight>,
    /// One verify per connector per this long (`verify::VERIFY_INTERVAL` unless a test
    /// shortens it).
    pub verify_interval: Duration,
    /// When each connector's last verify started, or the last attempt a sync request bought
    /// a quarantined connector: both are paced by `verify_interval`.
    pub verified: Mutex<HashMap<ConnectorKey, Instant>>,
    /// The fleet-wide freeze (`--freeze-destructive`): every sync holds every destructive change.
    pub freeze_destructive: bool,
    /// The longest wait between two attempts of a quarantined connector
    /// (`quarantine::DEFAULT_CEILING` unless the administrator sets another).
    pub quarantine_ceiling: Duration,
    /// The operator's own namespace: where shared apps' credential Secrets must be (the
    /// company claims' namespace).
    pub operator_namespace: String,
    /// What connectors of shared apps learned of their app's consent (the apps' status reads it).
    pub consents: Arc<ConsentBook>,
}

impl<E: SyncEngine> Context<E> {
    pub fn new(
        client: Client,
        engine: Arc<E>,
        recorder: EventRecorder,
        metrics: Metrics,
        secrets: Arc<SecretRegistry>,
    ) -> Self {
        Self {
            engine,
            recorder,
            metrics,
            ledger: Mutex::default(),
            secrets,
            leadership: Leadership::always(),
            sync_deadline: DEFAULT_SYNC_DEADLINE,
            policy: CredentialPolicy::default(),
            last_success_refresh: LAST_SUCCESS_REFRESH,
            progress_status_interval: Duration::from_secs(30),
            in_flight: Arc::default(),
            verify_interval: super::verify::VERIFY_INTERVAL,
            verified: Mutex::default(),
            freeze_destructive: false,
            quarantine_ceiling: super::quarantine::DEFAULT_CEILING,
            companies: Arc::new(CompanyRegistry::new(
                client.clone(),
                client.default_namespace(),
            )),
            operator_namespace: client.default_namespace().to_owned(),
            consents: Arc::default(),
            client,
        }
    }

    /// The same context under `policy`.
    pub fn with_policy(mut self, policy: CredentialPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Rewrites an unchanged status this long after its last success (tests shorten it).
    pub fn with_last_success_refresh(mut self, every: Duration) -> Self {
        self.last_success_refresh = every;
        self
    }

    /// Syncs stop when `leadership` is lost, and at the latest after `sync_deadline`.
    pub fn with_leadership_and_deadline(
        mut self,
        leadership: Leadership,
        sync_deadline: Duration,
    ) -> Self {
        self.leadership = leadership;
        self.sync_deadline = sync_deadline;
        self
    }

    /// Every sync holds every destructive change (the fleet-wide freeze) when `frozen`.
    pub fn with_freeze_destructive(mut self, frozen: bool) -> Self {
        self.freeze_destructive = frozen;
        self
    }

    /// Company claims live in `namespace` (the operator's own).
    pub fn with_claim_namespace(mut self, namespace: &str) -> Self {
        self.companies = Arc::new(CompanyRegistry::new(self.client.clone(), namespace));
        namespace.clone_into(&mut self.operator_namespace);
        self
    }

    /// Connectors of shared apps record what they learn of consent in `consents`.
    pub fn with_consents(mut self, consents: Arc<ConsentBook>) -> Self {
        self.consents = consents;
        self
    }

    /// A sync running longer than `interval` writes its progress into status.message, this
    /// often.
    pub fn with_progress_status_interval(mut self, interval: Duration) -> Self {
        self.progress_status_interval = interval;
        self
    }

    /// One verify per connector per `interval` (tests shorten it).
    pub fn with_verify_interval(mut self, interval: Duration) -> Self {
        self.verify_interval = interval;
        self
    }

    /// A quarantined connector waits at most `ceiling` between two attempts.
    pub fn with_quarantine_ceiling(mut self, ceiling: Duration) -> Self {
        self.quarantine_ceiling = ceiling;
        self
    }

    /// The credential source of `key` outside its spec and Secrets (the shared app it uses)
    /// changed: its next reconcile syncs at once and ends a quarantine. The caller makes that
    /// reconcile happen (a trigger of the controller, as the Secret watch is).
    pub fn credential_source_changed(&self, key: &ConnectorKey) {
        self.ledger().credential_source_changed(key);
    }

    fn verified(&self) -> MutexGuard<'_, HashMap<ConnectorKey, Instant>> {
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long a verify of `key` must still wait at `now` (`None`: it may run).
    fn verify_wait(&self, key: &ConnectorKey, now: Instant) -> Option<Duration> {
        let last = *self.verified().get(key)?;
        (last + self.verify_interval)
            .checked_duration_since(now)
            .filter(|wait| !wait.is_zero())
    }

    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets a deleted connector here and in the engine.
    pub fn forget(&self, key: &ConnectorKey) {
        let forgotten = self.ledger().forget(key);
        self.verified().remove(key);
        self.engine.forget(key);
        self.companies.forget(key);
        self.metrics.fleet.forget(&key.namespace, &key.name);
        if forgotten {
            tracing::info!(namespace = %key.namespace, connector = %key.name, "connector deleted; its state is forgotten");
        }
        self.update_gauge();
    }

    fn update_gauge(&self) {
        let counts = self.ledger().connection_counts();
        self.metrics.set_connectors(&counts);
    }
}

/// Why a reconcile failed; the sync itself never fails a reconcile (its outcome is the status).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot write the status of {key}: {source}; check the operator's RBAC for \
         azureadconnectors/status (patch)"
    )]
    WriteStatus {
        key: ConnectorKey,
        #[source]
        source: kube::Error,
    },
    #[error("object has no namespace; AzureAdConnector is namespaced")]
    NoNamespace,
}

impl Error {
    /// A short label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::WriteStatus { .. } => "write_status",
            Self::NoNamespace => "no_namespace",
        }
    }
}

/// Reconciles one connector, inside a span carrying its namespace and name.
pub async fn reconcile<E: SyncEngine>(
    object: Arc<Watched>,
    ctx: Arc<Context<E>>,
) -> Result<Action, Error> {
    let namespace = object.namespace().ok_or(Error::NoNamespace)?;
    let key = ConnectorKey::new(namespace, object.name_any());
    let span = tracing::info_span!("reconcile", namespace = %key.namespace, connector = %key.name);
    let result = async {
        match &object.0 {
            Ok(connector) => reconcile_connector(connector, &key, &ctx).await,
            Err(invalid) => report_invalid(&object, &invalid.error, &key, &ctx).await,
        }
    }
    .instrument(span)
    .await;
    if result.is_ok() {
        ctx.ledger().clear_errors(&key);
    }
    ctx.update_gauge();
    result
}

/// Retries a failed reconcile with a per-connector exponential backoff.
pub fn error_policy<E: SyncEngine>(
    object: Arc<Watched>,
    error: &Error,
    ctx: Arc<Context<E>>,
) -> Action {
    let key = ConnectorKey::new(object.namespace().unwrap_or_default(), object.name_any());
    let interval = object
        .0
        .as_ref()
        .map(|c| c.spec.interval())
        .unwrap_or(Duration::from_secs(60));
    let failures = ctx.ledger().note_error(&key);
    let delay = backoff(failures, interval);
    tracing::warn!(namespace = %key.namespace, connector = %key.name, error = %error, kind = error.label(), retry_in_s = delay.as_secs(), "reconcile failed");
    Action::requeue(delay)
}

/// One reconcile of a readable connector, in three steps: **observe** what the object asks (a
/// verify request is answered first, suspended or not), **decide** whether a sync is due
/// (`schedule::decide`), **act**: run it and write what it found.
async fn reconcile_connector<E: SyncEngine>(
    connector: &AzureAdConnector,
    key: &ConnectorKey,
    ctx: &Context<E>,
) -> Result<Action, Error> {
    ctx.ledger().clear_invalid(key);
    let api: Api<Watched> = Api::namespaced(ctx.client.clone(), &key.namespace);
    let (current, verify_wait) = answer_verify(&api, connector, key, ctx).await?;
    let next = sync_if_due(&api, connector, key, ctx, current).await?;
    // The sooner of the two: a verify request held back is answered once its minute is up.
    let next = match (next, verify_wait) {
        (Some(sync), Some(verify)) => Some(sync.min(verify)),
        (sync, verify) => sync.or(verify),
    };
    Ok(next.map_or_else(Action::await_change, Action::requeue))
}

/// Decides and runs the sync, and says when to look again (`None`: at the next change).
async fn sync_if_due<E: SyncEngine>(
    api: &Api<Watched>,
    connector: &AzureAdConnector,
    key: &ConnectorKey,
    ctx: &Context<E>,
    current: Option<AzureAdConnectorStatus>,
) -> Result<Option<Duration>, Error> {
    let interval = connector.spec.interval();
    if connector.spec.suspend {
        return suspend(api, connector, key, ctx, current.as_ref())
            .await
            .map(Some);
    }
    let observation = observe(api, connector, key, ctx, current).await?;
    let Some(observation) = answer_plan(api, connector, key, ctx, observation).await? else {
        // The event that cancelled the plan reconciles the connector again, as it is now.
        return Ok(None);
    };
    let due = match decide(key, ctx, &observation) {
        Ok(due) => due,
        Err(requeue) => return Ok(Some(requeue)),
    };
    // When an interval (or a retry delay) made it due: its start's lateness is measured.
    let due_at = observation
        .entry
        .as_ref()
        .filter(|_| matches!(due, Due::IntervalElapsed | Due::RetryAfterFailure))
        .map(|e| (e.last_sync + next_delay(e, interval)).into_std());
    let Some(outcome) = sync(
        api,
        connector,
        key,
        ctx,
        &observation,
        (due.as_str(), due_at),
        false,
    )
    .await
    else {
        // The event that cancelled it reconciles the connector again, as it is now.
        return Ok(None);
    };
    if !ctx.leadership.is_leading() {
        // The new leader owns the connector now, its status included.
        tracing::info!("not leading any more; the status is left to the new leader");
        return Ok(None);
    }
    record(api, connector, key, ctx, observation, outcome, due).await?;
    let entry = ctx.ledger().entry(key).cloned();
    let delay = entry.map_or(interval, |e| next_delay(&e, interval));
    Ok(Some(jittered(delay, rand::random())))
}

/// What a reconcile found on the object and in its own memory.
struct Observation {
    /// The status as the object holds it (after answering a verify request, or announcing the
    /// first sync).
    current: Option<AzureAdConnectorStatus>,
    /// What the last sync of this connector left in the ledger.
    entry: Option<Entry>,
    /// The request annotations as they are now.
    tokens: RequestTokens,
    /// A sync request not handled yet.
    pending: Option<String>,
    /// What the schedule decides on.
    observed: Observed,
}

/// Answers a pending verify request (suspended or not) and returns the status as it is then,
/// and how long a request held back waits: one verify per connector per `verify_interval`
/// (`status.verify.nextAllowedTime` says until when). Requests made while one runs or waits
/// collapse into one: the connector is reconciled once after, and answers the latest value.
async fn answer_verify<E: SyncEngine>(
    api: &Api<Watched>,
    connector: &AzureAdConnector,
    key: &ConnectorKey,
    ctx: &Context<E>,
) -> Result<(Option<AzureAdConnectorStatus>, Option<Duration>), Error> {
    let current = connector.status.clone();
    let Some(requested) = pending_verify(connector.annotations(), current.as_ref()) else {
        return Ok((current, None));
    };
    let now = Instant::now();
    if let Some(wait) = ctx.verify_wait(key, now) {
        tracing::debug!(
            wait_ms = wait.as_millis() as u64,
            "verify requested; held until the next one is allowed"
        );
        return Ok((current, Some(wait)));
    }
    ctx.verified().insert(key.clone(), now);
    let next = super::verify::verified_status(
        &*ctx.engine,
        &ctx.client,
        &ctx.policy,
        &ctx.operator_namespace,
        key,
        &connector.spec,
        current.as_ref(),
        requested,
        ctx.verify_interval,
    )
    .await;
    write_if_changed(api, connector, key, current.as_ref(), &next, ctx).await?;
    // Every check passed: whatever quarantined the connector is fixed, so the quarantine ends
    // and the sync runs now; on a connector that is not connected otherwise (consent was
    // missing, a credential was fixed), its next sync is due now, so the verify turns it
    // Connected.
    let passed = next
        .verify
        .as_ref()
        .is_some_and(|v| !v.checks.is_empty() && v.checks.iter().all(|c| c.ok));
    if passed && next.quarantine.is_some() {
        tracing::info!("verify passed; the quarantine ends and the connector syncs now");
        ctx.credential_source_changed(key);
    } else if passed && next.connection != Connection::Connected {
        ctx.ledger().due_now(key, connector.spec.interval());
    }
    Ok((Some(next), None))
}

/// Answers a pending plan request: the sync's plan made as a dry run (the same admission,
/// Secrets and pipeline; nothing written to Password Boss, the safety record untouched), into
/// `status.plan` and `status.planRequest`. The schedule is not touched: the next sync comes when
/// it would have.
async fn answer_plan<E: SyncEngine>(
    api: &Api<Watched>,
    connector: &AzureAdConnector,
    key: &ConnectorKey,
    ctx: &Context<E>,
    mut observation: Observation,
) -> Result<Option<Observation>, Error> {
    let Some(requested) = pending_plan(connector.annotations(), observation.current.as_ref())
    else {
        return Ok(Some(observation));
    };
    let Some(outcome) = sync(
        api,
        connector,
        key,
        ctx,
        &observation,
        ("plan requested", None),
        true,
    )
    .await
    else {
        return Ok(None);
    };
    if !ctx.leadership.is_leading() {
        return Ok(Some(observation));
    }
    let current = observation.current.as_ref();
    let next = planned_status(current, &outcome.report, requested);
    tracing::info!(
        succeeded = outcome.report.succeeded(),
        "plan requested and written to status"
    );
    write_if_changed(api, connector, key, current, &next, ctx).await?;
    observation.current = Some(next);
    Ok(Some(observation))
}

/// A suspended connector: its status says so, no sync runs.
async fn suspend<E: SyncEngine>(
    api: &Api<Watched>,
    connector: &AzureAdConnector,
    key: &ConnectorKey,
    ctx: &Context<E>,
    current: Option<&AzureAdConnectorStatus>,
) -> Result<Duration, Error> {
    let generation = connector.metadata.generation;
    let next = suspended_status(current, generation, Timestamp::now());
    write_if_changed(api, connector, key, current, &next, ctx).await?;
    tracing::debug!("suspended; no sync");
    Ok(jittered(connector.spec.interval(), rand::random()))
}

/// What the object asks now, against what the ledger remembers; a connector never seen gets its
/// first status (waiting for the first sync) on the way.
async fn observe<E: SyncEngine>(
    api: &Api<Watched>,
    connector: &AzureAdConnector,
    key: &ConnectorKey,
    ctx: &Context<E>,
    mut current: Option<AzureAdConnectorStatus>,
) -> Result<Observation, Error> {
    let generation = connector.metadata.generation;
    let entry = ctx.ledger().entry(key).cloned();
    if current.is_none() && entry.is_none() {
        let waiting = waiting_status(generation, Timestamp::now());
        write_if_changed(api, connector, key, None, &waiting, ctx).await?;
        current = Some(waiting);
    }
    let annotations = connector.annotations();
    let tokens = RequestTokens::from_annotations(annotations);
    let handled = current
        .as_ref()
        .and_then(|s| s.last_handled_sync_request.as_deref());
    let pending = tokens.pending(handled, entry.as_ref().map(|e| &e.requests));
    let observed = Observed {
        generation,
        pending_request: pending.is_some(),
        secrets: ctx
            .secrets
            .observed(&key.namespace, &referenced_names(&connector.spec)),
        approval: approval_token(annotations),
        interval: connector.spec.interval(),
        credential_source: ctx.ledger().credential_sources(key),
    };
    Ok(Observation {
        current,
        entry,
        tokens,
        pending,
        observed,
    })
}

/// Whether a sync is due now (`Ok`, and why), or how long to wait (`Err`).
fn decide<E: SyncEngine>(
    key: &ConnectorKey,
    ctx: &Context<E>,
    observation: &Observation,
) -> Result<Due, Duration> {
    let now = Instant::now();
    let decision =
        match super::schedule::decide(observation.entry.as_ref(), &observation.observed, now) {
            // Which connector holds which company is known once every watched namespace and
            // the company claims were listed.
            Decision::Sync(_) if !ctx.companies.listed() => {
                tracing::debug!("waiting for every watched namespace to be listed before syncing");
                return Err(Duration::from_secs(1));
            }
            Decision::Sync(due) => match quarantine_hold(key, ctx, observation, due, now) {
                Some(wait) => Decision::Wait(wait),
                None => Decision::Sync(due),
            },
            wait => wait,
        };
    match decision {
        Decision::Wait(delay) => {
            if let Some(status) = &observation.current {
                ctx.ledger().set_connection(key, status.connection);
            }
            Err(jittered(delay, rand::random()))
        }
        Decision::Sync(due) => Ok(due),
    }
}

/// How long a quarantined connector still waits although the schedule says a sync is `due`
/// (`None`: it runs now). A change to the spec, a Secret or the credential source ends the
/// quarantine; a sync request buys one attempt, paced like verify (`verify_interval`); an
/// operator that has just started (no ledger entry) waits for `status.quarantine`'s
/// `nextAttemptTime`; an approval waits for the quarantine's next attempt.
fn quarantine_hold<E: SyncEngine>(
    key: &ConnectorKey,
    ctx: &Context<E>,
    observation: &Observation,
    due: Due,
    now: Instant,
) -> Option<Duration> {
    let status = observation.current.as_ref()?;
    status.quarantine.as_ref()?;
    let bought = || match ctx.verify_wait(key, now) {
        Some(wait) => Some(wait),
        None => {
            ctx.verified().insert(key.clone(), now);
            None
        }
    };
    match due {
        _ if due.ends_quarantine() => None,
        Due::SyncRequested => bought(),
        Due::FirstSync if observation.observed.pending_request => bought(),
        Due::FirstSync if status.observed_generation != observation.observed.generation => None,
        Due::FirstSync => super::quarantine::remaining(Some(status), Timestamp::now()),
        Due::DeprovisionsApproved => {
            let entry = observation.entry.as_ref()?;
            (entry.last_sync + next_delay(entry, observation.observed.interval))
                .checked_duration_since(now)
                .filter(|wait| !wait.is_zero())
        }
        _ => None,
    }
}

/// What one sync attempt left: the report, the Secret versions it used, and the credential's
/// expiry (`None` when the Secrets could not be read).
struct Outcome {
    report: SyncReport,
    versions: SecretVersions,
    expiry: Option<Result<Option<CredentialExpiry>, ExpiryError>>,
}

/// Runs the sync that is due (`reason`; a dry run when the spec or `plan_only` says so): the
/// spec's endpoints and identity admitted first (it is untrusted), then its Secrets read, then
/// the sync, stopped if leadership is lost; `None` when the connector's watch cancelled it
/// (deleted, suspended, spec changed: see `cancel`).
async fn sync<E: SyncEngine>(
    api: &Api<Watched>,
    connector: &AzureAdConnector,
    key: &ConnectorKey,
    ctx: &Context<E>,
    observation: &Observation,
    (reason, due): (&'static str, Option<std::time::Instant>),
    plan_only: bool,
) -> Option<Outcome> {
    let spec = &connector.spec;
    let dry_run = spec.dry_run || plan_only;
    tracing::info!(reason, dry_run, "sync started");
    let started = Timestamp::now();
    let failed = |failure: SyncFailure| Outcome {
        report: SyncReport::failed(started, failure, Reached::default()),
        versions: observation.observed.secrets.clone(),
        expiry: None,
    };
    // A shared app: its binding of this tenant to this namespace first (nothing of the app is
    // used, no token asked for or taken from a cache, unless it admits the connector), then its
    // client id, endpoints and credential.
    let resolved =
        super::application::resolve(&ctx.client, &ctx.operator_namespace, &key.namespace, spec)
            .await;
    let (resolved_spec, shared_credential) = match resolved {
        Ok(Some(resolved)) => (resolved.spec, Some(resolved.credential)),
        Ok(None) => (spec.clone(), None),
        Err(refusal) => {
            tracing::warn!(reason = %refusal.reason(), error = %refusal, "connector refused by its shared app; nothing sent");
            return Some(failed(SyncFailure::new(
                refusal.reason(),
                refusal.to_string(),
            )));
        }
    };
    let spec = &resolved_spec;
    let federated_token = match ctx.policy.admit(&ctx.client, &key.namespace, spec) {
        Ok(token) => token,
        Err(refusal) => {
            tracing::warn!(reason = %refusal.reason(), error = %refusal, "connector refused; nothing sent");
            return Some(failed(SyncFailure::new(
                refusal.reason(),
                refusal.to_string(),
            )));
        }
    };
    let read = match read_secrets(&ctx.client, &key.namespace, spec).await {
        Ok(read) => read,
        Err(error) => {
            tracing::warn!(%error, "referenced secret unreadable");
            return Some(failed(SyncFailure::new(
                FailureReason::SecretUnreadable,
                error.to_string(),
            )));
        }
    };
    let expiry = credential_expiry(&key.namespace, &spec.azure, &read.data);
    let (progress, watching) = ProgressSender::channel();
    let request = SyncRequest {
        uid: connector.metadata.uid.clone().unwrap_or_default(),
        secrets: read.data,
        dry_run,
        approval: observation.observed.approval.clone(),
        freeze_destructive: ctx.freeze_destructive,
        safety_record: observation.current.as_ref().and_then(|s| s.safety.clone()),
        safety_store: Some(SafetyStoreHandle::new(StatusSafetyStore::new(
            ctx.client.clone(),
            &key.namespace,
            &key.name,
            connector.metadata.uid.as_deref().unwrap_or_default(),
        ))),
        federated_token,
        shared_credential,
        progress,
        company_guard: ctx.companies.guard(connector),
        deadline: ctx.sync_deadline,
        due,
        ..SyncRequest::new(key.clone(), spec.clone())
    };
    let writer = tokio::spawn(super::progress::write_progress(
        api.clone(),
        key.name.clone(),
        watching,
        ctx.progress_status_interval,
    ));
    let mut ticket = ctx.in_flight.begin(
        key,
        connector.metadata.uid.clone(),
        connector.metadata.generation,
    );
    let writes = request.writes_in_flight.clone();
    // On the heap: the sync's future is large, and is moved into the cancellation's.
    let sync = Box::pin(sync_while_leading(&*ctx.engine, request, &ctx.leadership));
    let report = match super::cancel::unless_cancelled(&mut ticket, &writes, sync).await {
        Ok(report) => Some(report),
        Err(abandoned) => {
            tracing::info!(
                reason = abandoned.why.as_str(),
                abandoned_writes = abandoned
                    .actions
                    .iter()
                    .filter(|r| r.reason.as_deref() == Some(REASON_CANCELLED))
                    .count(),
                "sync cancelled; its slot is free"
            );
            None
        }
    };
    drop(ticket);
    // Stopped (and any write in flight finished) before the final status is written.
    writer.abort();
    let _ = writer.await;
    Some(Outcome {
        report: report?,
        versions: read.versions,
        expiry: Some(expiry),
    })
}

/// Records what the sync found: metrics, the log, the deprovision Event, the ledger, and the
/// status (with the credential-expiry condition) when it says something new.
async fn record<E: SyncEngine>(
    api: &Api<Watched>,
    connector: &AzureAdConnector,
    key: &ConnectorKey,
    ctx: &Context<E>,
    observation: Observation,
    outcome: Outcome,
    due: Due,
) -> Result<(), Error> {
    let Outcome {
        report,
        versions,
        expiry,
    } = outcome;
    let generation = connector.metadata.generation;
    ctx.metrics.observe_sync(&report);
    if let Some(app) = &connector.spec.azure.application_ref
        && let Some((consent, message)) = consent_of(&report)
    {
        ctx.consents.record(
            &app.name,
            &connector.spec.azure.tenant_id,
            consent,
            &message,
        );
    }
    log_outcome(&report);
    // Who was deprovisioned, on the connector, whether or not the status is written below.
    if let Some(event) = deprovision_event(&report) {
        publish(&ctx.recorder, &connector.object_ref(&()), vec![event]).await;
    }
    let current = observation.current;
    // A change that may have fixed the failure starts the count over; an attempt bought by a
    // request, or the backoff's own, goes on counting.
    let ends = due.ends_quarantine()
        || (due == Due::FirstSync
            && current.as_ref().and_then(|s| s.observed_generation) != generation);
    let previous = current
        .as_ref()
        .and_then(|s| s.quarantine.as_ref())
        .filter(|_| !ends);
    let quarantine = super::quarantine::after_attempt(
        previous,
        report.failure.as_ref().map(|f| f.reason),
        observation.observed.interval,
        ctx.quarantine_ceiling,
        report.finished,
    );
    let entry = Entry {
        last_sync: Instant::now(),
        generation,
        secrets: versions,
        requests: observation.tokens,
        approval: observation.observed.approval,
        failures: 0,
        status_written: true,
        quarantine_delay: quarantine.as_ref().map(|(_, wait)| *wait),
        credential_source: observation.observed.credential_source,
    };
    ctx.ledger().record_sync(key, entry, report.succeeded());
    if let Some((q, wait)) = &quarantine {
        tracing::warn!(
            reason = %q.reason,
            failures = q.failures,
            next_attempt_in_s = wait.as_secs(),
            "quarantined: the credentials were refused in a way waiting will not fix"
        );
    }

    let mut next = status_from_report(current.as_ref(), &report, generation, observation.pending);
    super::quarantine::apply(
        &mut next,
        quarantine.map(|(q, _)| q),
        generation,
        report.finished,
    );
    // Unknown while the Secrets cannot be read: the condition and metric stay as they were.
    if let Some(expiry) = &expiry {
        set_expiry_condition(&mut next, expiry, generation, report.finished);
        let at = expiry
            .as_ref()
            .ok()
            .and_then(|e| e.as_ref().map(|e| e.expires_at));
        ctx.metrics
            .fleet
            .set_credential_expiry(&key.namespace, &key.name, at);
    }
    if let Err(error) = write_if_changed(api, connector, key, current.as_ref(), &next, ctx).await {
        ctx.ledger().status_not_written(key);
        return Err(error);
    }
    Ok(())
}

/// Writes `next` when it says something `previous` does not, then publishes the transitions.
async fn write_if_changed<E: SyncEngine>(
    api: &Api<Watched>,
    connector: &AzureAdConnector,
    key: &ConnectorKey,
    previous: Option<&AzureAdConnectorStatus>,
    next: &AzureAdConnectorStatus,
    ctx: &Context<E>,
) -> Result<(), Error> {
    ctx.ledger().set_connection(key, next.connection);
    ctx.metrics
        .fleet
        .observe(&key.namespace, &key.name, next, connector.spec.interval());
    ctx.metrics.fleet.set_quarantined(
        &key.namespace,
        &key.name,
        TargetKind::of(&connector.spec),
        next.quarantine.is_some(),
    );
    let refresh = refresh_period(key, ctx.last_success_refresh);
    if !is_meaningful_change(previous, next, refresh) {
        return Ok(());
    }
    apply_status(api, &key.name, next)
        .await
        .map_err(|source| Error::WriteStatus {
            key: key.clone(),
            source,
        })?;
    ctx.metrics.status_writes.inc();
    tracing::debug!(connection = %next.connection, "status written");
    let events = transitions(previous, next);
    if !events.is_empty() {
        publish(&ctx.recorder, &connector.object_ref(&()), events).await;
    }
    Ok(())
}

/// A connector whose object does not match the schema: say so on the object, once per error.
async fn report_invalid<E: SyncEngine>(
    object: &Watched,
    error: &str,
    key: &ConnectorKey,
    ctx: &Context<E>,
) -> Result<Action, Error> {
    tracing::warn!(%error, "connector cannot be read; fix its spec");
    ctx.ledger().set_connection(key, Connection::Error);
    if !ctx.ledger().report_invalid(key, error) {
        return Ok(Action::await_change());
    }
    let status = invalid_spec_status(error, object.meta().generation, Timestamp::now());
    // The interval is unreadable too: the default, as `error_policy` assumes.
    ctx.metrics
        .fleet
        .observe(&key.namespace, &key.name, &status, Duration::from_secs(60));
    let api: Api<Watched> = Api::namespaced(ctx.client.clone(), &key.namespace);
    if let Err(source) = apply_status(&api, &key.name, &status).await {
        ctx.ledger().clear_invalid(key);
        return Err(Error::WriteStatus {
            key: key.clone(),
            source,
        });
    }
    ctx.metrics.status_writes.inc();
    let events = vec![(EventType::Warning, "InvalidSpec", status.message.clone())];
    publish(&ctx.recorder, &object.object_ref(&()), events).await;
    Ok(Action::await_change())
}

fn log_outcome(report: &SyncReport) {
    let duration_ms = report.duration.as_millis() as u64;
    match &report.failure {
        None => tracing::info!(
            duration_ms,
            in_scope = report.users.in_scope,
            created = report.applied.created,
            blocked_deprovisions = report.blocked_deprovisions,
            conflicts = report.conflicts.len(),
            "sync finished"
        ),
        Some(failure) => tracing::warn!(
            duration_ms,
            reason = %failure.reason,
            error = %failure,
            "sync failed"
        ),
    }
}
