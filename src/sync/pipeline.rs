//! One sync of one connector: read Entra and Password Boss (concurrently), classify departures,
//! plan, apply, report. The per-connector state that must survive between syncs (delta links,
//! token caches) lives in `ConnectorState`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::company::{CompanyGuard, company_of, held};
use super::directory_cache::{CachedDirectory, apply_outcomes};
use super::plan_memo::{PlanKey, PlanMemo};
use super::progress::{Progress, ProgressSender, Step};
use super::report::{Reached, SyncFailure, SyncReport};
use super::secrets::{SecretData, SecretError, secret_text};
use crate::azure::{
    AzureConfig, Credential, FEDERATED_TOKEN_AUDIENCE, FEDERATED_TOKEN_FILE_ENV, FederatedToken,
    GraphClient, GraphError, GraphErrorKind, GraphSyncState, PacerRegistry, ReadOptions,
    UserLookup, admin_consent_url,
};
use crate::bounded::PagingError;
use crate::domain::Owner;
use crate::http_client::tally::status_delta;
use crate::passwordboss::{
    ApplyProgress, PasswordBossClient, PasswordBossConfig, PasswordBossError,
    PasswordBossErrorKind, execute_reporting,
};
use crate::plan::{self, Rules, SafetyInput};
use crate::resources::{AzureAdConnectorSpec, AzureSpec, LeaveRule, SafetyRecord};

/// How long one sync may take, both services together: 5 minutes.
pub const DEFAULT_SYNC_DEADLINE: Duration = Duration::from_secs(300);

/// Per-connector state kept between syncs.
#[derive(Default)]
pub struct ConnectorState {
    graph_state: GraphSyncState,
    graph: Option<(u64, GraphClient)>,
    password_boss: Option<(u64, PasswordBossClient)>,
    pacers: Option<Arc<PacerRegistry>>,
    plan_memo: PlanMemo,
    /// What the safety limits remember (owned groups, the window, leavers, approvals used):
    /// seeded from `SyncOptions::safety_record` once, then kept here.
    safety: Option<SafetyRecord>,
    /// The Password Boss state, kept between syncs (see `directory_cache`).
    directory: Option<CachedDirectory>,
}

impl ConnectorState {
    /// The Password Boss state kept for the next sync, if any (for tests and diagnostics).
    pub fn kept_directory(&self) -> Option<&crate::plan::DirectoryState> {
        self.directory.as_ref().map(|c| &c.state)
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

/// How often a long read reports the requests it made so far.
const READ_PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// How to run one sync.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// Plan only (spec.dryRun, or `pbconnector plan`).
    pub dry_run: bool,
    /// The approval token given for this sync (annotation or `--approve-deprovisions`).
    pub approval: Option<String>,
    /// What the safety limits remembered when this process last wrote it (the connector's
    /// `status.safety`); used only while the connector state has none of its own.
    pub safety_record: Option<SafetyRecord>,
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
            sync_id: uuid::Uuid::new_v4().to_string(),
            delta: true,
            deadline: DEFAULT_SYNC_DEADLINE,
            progress: ProgressSender::default(),
            company_guard: CompanyGuard::default(),
            connector: String::new(),
        }
    }
}

/// The credentials of one connector, read from its Secrets.
pub struct Credentials {
    pub azure: Credential,
    pub password_boss_token: String,
}

/// Reads the connector's credentials from the Secrets of its namespace, for the CLI, whose user
/// owns the manifest: a workload-identity connector presents the token in the file named by
/// `$AZURE_FEDERATED_TOKEN_FILE`, whatever ServiceAccount the spec names.
pub fn read_credentials(
    spec: &AzureAdConnectorSpec,
    namespace: &str,
    secret: impl Fn(&str) -> Option<SecretData>,
) -> Result<Credentials, SecretError> {
    credentials_from(spec, namespace, secret, || {
        FederatedToken::from_env().ok_or_else(|| {
            SecretError::NoFederatedToken(format!(
                "outside the cluster the token comes from the file named by \
                 {FEDERATED_TOKEN_FILE_ENV}; set it to a file holding a token of the federated \
                 identity (e.g. `kubectl create token NAME --audience {FEDERATED_TOKEN_AUDIENCE}`)"
            ))
        })
    })
}

/// Reads the connector's credentials as the controller does: the federated token source is the
/// one the controller resolved for this connector (its own ServiceAccount), never the process's
/// environment.
pub fn read_credentials_with(
    spec: &AzureAdConnectorSpec,
    namespace: &str,
    secret: impl Fn(&str) -> Option<SecretData>,
    federated: Option<FederatedToken>,
) -> Result<Credentials, SecretError> {
    credentials_from(spec, namespace, secret, || {
        federated.ok_or_else(|| {
            SecretError::NoFederatedToken("no federated token source was resolved".into())
        })
    })
}

fn credentials_from(
    spec: &AzureAdConnectorSpec,
    namespace: &str,
    secret: impl Fn(&str) -> Option<SecretData>,
    federated: impl FnOnce() -> Result<FederatedToken, SecretError>,
) -> Result<Credentials, SecretError> {
    let text =
        |r: &crate::resources::SecretKeyRef| secret_text(namespace, r, secret(&r.name).as_ref());
    let azure = if let Some(r) = &spec.azure.client_secret_ref {
        Credential::ClientSecret(text(r)?)
    } else if let Some(r) = &spec.azure.client_certificate_ref {
        Credential::Certificate { pem: text(r)? }
    } else {
        Credential::WorkloadIdentity(federated()?)
    };
    let password_boss_token = text(&spec.password_boss.token_secret_ref)?;
    Ok(Credentials {
        azure,
        password_boss_token,
    })
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
            SyncReport::failed(started, deadline_failure(message), Reached::default())
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
    let credentials = match credentials {
        Ok(c) => c,
        Err(e) => {
            let failure = SyncFailure::Error {
                reason: "SecretError",
                message: e.to_string(),
            };
            return SyncReport::failed(started, failure, Reached::default());
        }
    };
    let (graph, password_boss) = match clients(spec, credentials, state) {
        Ok(c) => c,
        Err(failure) => return SyncReport::failed(started, failure, Reached::default()),
    };
    options.progress.send(Progress::step(Step::Reading));
    let graph_before = graph.requests();
    let pb_before = password_boss.requests();
    let graph_statuses_before = graph.requests_by_status();
    let pb_statuses_before = password_boss.requests_by_status();
    let mut reached = Reached::default();

    let full_reads_before = state.graph_state.last_full_read();
    let read_options = ReadOptions {
        nested_groups: spec.nested_groups,
        full_sync_interval: spec.full_sync_interval(),
        delta: options.delta,
        deadline: options.deadline,
    };
    let rules = Rules::from_spec(spec);
    let email_attribute = rules.email_attribute;
    let scope = &rules.scope;
    let entra_read = async {
        let snapshot = graph
            .read(
                &mut state.graph_state,
                &spec.sync_group,
                &spec.groups,
                &read_options,
            )
            .await?;
        let mut snapshot = snapshot;
        plan::apply_scope(&mut snapshot, scope, email_attribute);
        Ok(snapshot)
    };
    // The Password Boss state kept from the last sync stands in for a read while it is fresh
    // (see `directory_cache`); it is taken out, and put back only by a sync that finishes.
    let directory_key = state.password_boss.as_ref().map_or(0, |(key, _)| *key);
    let cached = state
        .directory
        .take()
        .filter(|c| c.usable(directory_key, spec.full_sync_interval()));
    let kept = cached.is_some();
    let directory_read = async {
        match cached {
            Some(c) => Ok((c.connector, c.state, c.read_at)),
            None => {
                let read_at = std::time::Instant::now();
                let read = password_boss.read_company().await;
                read.map(|(connector, state)| (connector, state, read_at))
            }
        }
    };
    // While both reads run, the requests they made so far tell a front end they are moving.
    let (snapshot, directory) = {
        let reads = async { tokio::join!(entra_read, directory_read) };
        tokio::pin!(reads);
        let mut ticks = tokio::time::interval(READ_PROGRESS_EVERY);
        loop {
            tokio::select! {
                read = &mut reads => break read,
                _ = ticks.tick() => {
                    let pb = password_boss.requests();
                    let made = (graph.requests() - graph_before)
                        + (pb.reads + pb.writes - pb_before.reads - pb_before.writes);
                    options.progress.send(Progress { step: Step::Reading, done: made, total: 0 });
                }
            }
        }
    };
    let finish = |mut report: SyncReport| {
        report.graph_requests = (graph.requests() - graph_before) as u32;
        let pb = password_boss.requests();
        report.password_boss_requests =
            (pb.reads + pb.writes - pb_before.reads - pb_before.writes) as u32;
        report.password_boss_writes = (pb.writes - pb_before.writes) as u32;
        report.graph_statuses = status_delta(&graph.requests_by_status(), &graph_statuses_before);
        report.password_boss_statuses =
            status_delta(&password_boss.requests_by_status(), &pb_statuses_before);
        report
    };
    let mut snapshot = match snapshot {
        Ok(s) => {
            reached.azure = true;
            s
        }
        Err(e) => {
            if directory.is_ok() {
                reached.password_boss = true;
            }
            return finish(SyncReport::failed(
                started,
                graph_failure(&spec.azure, &e),
                reached,
            ));
        }
    };
    let (mut connector, mut directory, mut directory_read_at) = match directory {
        Ok(d) => {
            reached.password_boss = true;
            d
        }
        Err(e) => {
            return finish(SyncReport::failed(
                started,
                password_boss_failure(&e),
                reached,
            ));
        }
    };
    let record = state
        .safety
        .clone()
        .or_else(|| options.safety_record.clone())
        .unwrap_or_default();
    let company = company_of(&connector);
    if let Err(why) = options.company_guard.check(&company) {
        return finish(held(started, reached, company, why));
    }

    classify_departures(
        spec,
        &graph,
        &mut state.graph_state,
        &mut snapshot,
        &directory,
    )
    .await;

    options.progress.send(Progress::step(Step::Planning));
    let planning_started = std::time::Instant::now();
    let key = PlanKey::new(&snapshot, &directory, &rules, &record.owned_groups);
    let (mut unguarded, mut plan_reused) = state.plan_memo.plan(key, || {
        plan::plan_unguarded(&snapshot, &directory, &rules, &record.owned_groups)
    });
    // Destructive decisions are made on a fresh read only: a kept state serves syncs that
    // create, update and add, but one that would disable, remove, delete or shrink anything
    // reads Password Boss again and plans from that (a portal change since the last read then
    // counts in the budget).
    if kept && plan::destroys(&unguarded, &directory) {
        directory_read_at = std::time::Instant::now();
        match password_boss.read_company().await {
            Ok((c, d)) => (connector, directory) = (c, d),
            Err(e) => {
                return finish(SyncReport::failed(
                    started,
                    password_boss_failure(&e),
                    reached,
                ));
            }
        }
        classify_departures(
            spec,
            &graph,
            &mut state.graph_state,
            &mut snapshot,
            &directory,
        )
        .await;
        let key = PlanKey::new(&snapshot, &directory, &rules, &record.owned_groups);
        (unguarded, plan_reused) = state.plan_memo.plan(key, || {
            plan::plan_unguarded(&snapshot, &directory, &rules, &record.owned_groups)
        });
    }
    let input = SafetyInput {
        now: Timestamp::now(),
        record,
        approval: options.approval.clone(),
    };
    let plan = plan::guard_plan(unguarded, &snapshot, &directory, &rules, &input);
    if !options.dry_run {
        state.safety = Some(plan.record.clone());
    }
    let planning = planning_started.elapsed();
    let mut report = SyncReport::failed(
        started,
        SyncFailure::Error {
            reason: "Unfinished",
            message: String::new(),
        },
        reached,
    );
    report.failure = None;
    report.company = Some(company);
    report.planning = planning;
    report.plan_reused = plan_reused;
    report.full_read = state.graph_state.last_full_read() != full_reads_before;
    report.snapshot_complete = snapshot.complete;
    report.incomplete_reason = snapshot.incomplete_reason.clone();
    report.blocked_deprovisions = plan.blocked_deprovisions;
    report.users = plan.users;
    report.groups = snapshot.groups.len() as u32;
    report.conflicts = plan.conflicts.clone();
    report.dry_run = options.dry_run;
    if !options.dry_run {
        let report_progress = |p: ApplyProgress| {
            let step = match p.phase {
                0 => Step::Accounts,
                1 => Step::Groups,
                2 => Step::GroupDeletes,
                _ => Step::Deprovisions,
            };
            options.progress.send(Progress {
                step,
                done: p.done,
                total: p.total,
            });
        };
        let execution = execute_reporting(
            &password_boss,
            &plan,
            &options.sync_id,
            &options.connector,
            &report_progress,
        )
        .await;
        state.directory = apply_outcomes(directory, &plan, &execution).map(|s| CachedDirectory {
            key: directory_key,
            read_at: directory_read_at,
            connector: connector.clone(),
            state: s,
        });
        report.applied = execution.applied;
        report.actions = execution.audit;
        report.conflicts.extend(execution.conflicts.iter().cloned());
        report.failed_actions = execution.failed + execution.skipped;
        if let Some(e) = &execution.unauthorized {
            report.failure = Some(password_boss_failure(e));
            report.reached.password_boss = false;
        } else if let Some(e) = &execution.gave_up {
            report.failure = Some(password_boss_failure(e));
        }
    } else {
        state.directory = Some(CachedDirectory {
            key: directory_key,
            read_at: directory_read_at,
            connector,
            state: directory,
        });
    }
    report.plan = Some(plan);
    report.finished = Timestamp::now();
    report.duration = report.finished.duration_since(started).unsigned_abs();
    finish(report)
}

/// Managed users who left scope are "deleted" or "removed from the group". Deleted only on
/// evidence: Graph answers 404 when asked for the user (see `azure::UserLookup`); a delta
/// `@removed` only makes the user worth asking about. Every departed user is asked about when
/// the two rules differ (the answer decides the action); otherwise only those a delta reported
/// removed (the answer names the reason). A failed lookup makes the snapshot incomplete, so
/// nothing is deprovisioned on a guess.
async fn classify_departures(
    spec: &AzureAdConnectorSpec,
    graph: &GraphClient,
    graph_state: &mut GraphSyncState,
    snapshot: &mut crate::domain::EntraSnapshot,
    directory: &plan::DirectoryState,
) {
    let rules = &spec.sync_rules;
    if !snapshot.complete {
        return;
    }
    let departed: Vec<String> = directory
        .users
        .iter()
        .filter(|u| u.owner == Owner::AzureAd)
        .filter_map(|u| u.external_id.clone())
        .filter(|id| !snapshot.users.contains_key(id) && !snapshot.out_of_scope.contains(id))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if departed.is_empty() {
        return;
    }
    let ignored = rules.user_deleted == LeaveRule::Ignore
        && rules.user_removed_from_group == LeaveRule::Ignore;
    let every = rules.user_deleted != rules.user_removed_from_group;
    let looked_up = if ignored {
        BTreeMap::new()
    } else {
        graph
            .classify_departures(graph_state, snapshot, &departed, every)
            .await
    };
    find_foreign(graph, snapshot, directory, &departed, looked_up).await;
}

/// `snapshot.foreign`: of the departed externalIds held by an account whose email an in-scope
/// user has (an account the planner would re-link), those Graph does not know in this tenant.
/// Only these are looked up (those `classify_departures` already asked about are not asked
/// again); a lookup without an answer makes the snapshot incomplete, as any other.
async fn find_foreign(
    graph: &GraphClient,
    snapshot: &mut crate::domain::EntraSnapshot,
    directory: &plan::DirectoryState,
    departed: &[String],
    mut looked_up: BTreeMap<String, UserLookup>,
) {
    if !snapshot.complete {
        return;
    }
    let emails: BTreeSet<String> = snapshot
        .users
        .values()
        .flat_map(|u| [u.mail.as_deref(), u.user_principal_name.as_deref()])
        .flatten()
        .map(str::to_ascii_lowercase)
        .collect();
    let departed: BTreeSet<&str> = departed.iter().map(String::as_str).collect();
    let candidates: Vec<String> = directory
        .users
        .iter()
        .filter(|u| u.owner == Owner::AzureAd)
        .filter(|u| emails.contains(&u.email.to_ascii_lowercase()))
        .filter_map(|u| u.external_id.clone())
        .filter(|id| departed.contains(id.as_str()))
        .collect();
    let ask: Vec<String> = candidates
        .iter()
        .filter(|id| !looked_up.contains_key(*id))
        .cloned()
        .collect();
    if !ask.is_empty() {
        match graph.look_up_users(&ask).await {
            Ok(answers) => looked_up.extend(answers),
            Err(e) => {
                snapshot.complete = false;
                snapshot.incomplete_reason = Some(format!(
                    "could not tell whether {} accounts holding members' emails are linked to \
                     users of this tenant: {e}",
                    ask.len()
                ));
                return;
            }
        }
    }
    snapshot.foreign = candidates
        .into_iter()
        .filter(|id| matches!(looked_up.get(id), Some(UserLookup::HardDeleted)))
        .collect();
}

fn clients(
    spec: &AzureAdConnectorSpec,
    credentials: Credentials,
    state: &mut ConnectorState,
) -> Result<(GraphClient, PasswordBossClient), SyncFailure> {
    let config_error = |message: String| SyncFailure::Error {
        reason: "InvalidConfiguration",
        message,
    };
    let graph_key = fingerprint(&(
        format!("{:?}", spec.azure),
        credential_fingerprint(&credentials.azure),
    ));
    let graph = match &state.graph {
        Some((key, client)) if *key == graph_key => client.clone(),
        _ => {
            let config = AzureConfig::from_spec(&spec.azure, credentials.azure)
                .map_err(|e| config_error(e.to_string()))?;
            let client = match &state.pacers {
                Some(pacers) => {
                    let pacer =
                        pacers.for_tenant(config.graph_endpoint.as_str(), &config.tenant_id);
                    GraphClient::with_pacer(config, pacer)
                }
                None => GraphClient::new(config),
            }
            .map_err(|e| config_error(e.to_string()))?;
            state.graph = Some((graph_key, client.clone()));
            client
        }
    };
    let pb_key = fingerprint(&(
        spec.password_boss.api_url.clone(),
        credentials.password_boss_token.clone(),
    ));
    let password_boss = match &state.password_boss {
        Some((key, client)) if *key == pb_key => client.clone(),
        _ => {
            let url = spec
                .password_boss
                .api_url
                .parse()
                .map_err(|e| config_error(format!("passwordBoss.apiUrl is not a URL: {e}")))?;
            let config = PasswordBossConfig::new(url, credentials.password_boss_token);
            let client =
                PasswordBossClient::new(config).map_err(|e| config_error(e.to_string()))?;
            state.password_boss = Some((pb_key, client.clone()));
            client
        }
    };
    Ok((graph, password_boss))
}

fn credential_fingerprint(credential: &Credential) -> String {
    use sha2::Digest;
    let material = match credential {
        Credential::ClientSecret(s) => format!("secret:{s}"),
        Credential::Certificate { pem } => format!("cert:{pem}"),
        Credential::WorkloadIdentity(source) => format!("wi:{}", source.id()),
    };
    hex::encode(sha2::Sha256::digest(material.as_bytes()))
}

fn fingerprint<T: std::hash::Hash>(value: &T) -> u64 {
    use std::hash::{DefaultHasher, Hasher};
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// What a Graph error tells the administrator: the error, and where to grant admin consent when
/// consent is what is missing.
pub fn graph_message(azure: &AzureSpec, e: &GraphError) -> String {
    if e.needs_admin_consent() {
        format!(
            "{e}; an administrator of the tenant grants it at {}",
            admin_consent_url(azure)
        )
    } else {
        e.to_string()
    }
}

/// Maps a Graph error to the failure written into status.
pub fn graph_failure(azure: &AzureSpec, e: &GraphError) -> SyncFailure {
    let message = graph_message(azure, e);
    match e.kind() {
        GraphErrorKind::Unauthorized => SyncFailure::AzureUnauthorized(message),
        GraphErrorKind::NotFound => SyncFailure::Error {
            reason: "GroupNotFound",
            message,
        },
        GraphErrorKind::Throttled | GraphErrorKind::Transient => SyncFailure::Error {
            reason: "GraphUnavailable",
            message,
        },
        GraphErrorKind::Protocol => SyncFailure::Error {
            reason: "GraphProtocolError",
            message,
        },
        GraphErrorKind::Config => SyncFailure::Error {
            reason: "InvalidConfiguration",
            message,
        },
        GraphErrorKind::TooLarge => SyncFailure::Error {
            reason: REASON_TOO_LARGE,
            message,
        },
        GraphErrorKind::Paging => SyncFailure::Error {
            reason: paging_reason(e),
            message,
        },
        GraphErrorKind::Deadline => deadline_failure(message),
    }
}

/// Maps a Password Boss error to the failure written into status.
pub fn password_boss_failure(e: &PasswordBossError) -> SyncFailure {
    let message = e.to_string();
    match e.kind() {
        PasswordBossErrorKind::Unauthorized => SyncFailure::PasswordBossUnauthorized(message),
        PasswordBossErrorKind::Config => SyncFailure::Error {
            reason: "InvalidConfiguration",
            message,
        },
        PasswordBossErrorKind::Throttled | PasswordBossErrorKind::Transient => SyncFailure::Error {
            reason: "PasswordBossUnavailable",
            message,
        },
        PasswordBossErrorKind::TooLarge => SyncFailure::Error {
            reason: REASON_TOO_LARGE,
            message,
        },
        PasswordBossErrorKind::Paging => SyncFailure::Error {
            reason: match e {
                PasswordBossError::Paging(PagingError::TooManyPages { .. }) => {
                    REASON_TOO_MANY_PAGES
                }
                _ => REASON_PAGING_CYCLE,
            },
            message,
        },
        _ => SyncFailure::Error {
            reason: "PasswordBossError",
            message,
        },
    }
}

/// Status reason: a response body passed `bounded::MAX_RESPONSE_BYTES`.
pub const REASON_TOO_LARGE: &str = "ResponseTooLarge";
/// Status reason: a listing's links or cursors went round in a cycle.
pub const REASON_PAGING_CYCLE: &str = "PagingCycle";
/// Status reason: a listing had more than `bounded::MAX_PAGES` pages.
pub const REASON_TOO_MANY_PAGES: &str = "TooManyPages";
/// Status reason: the sync did not finish within its deadline.
pub const REASON_DEADLINE: &str = "SyncDeadlineExceeded";

fn paging_reason(e: &GraphError) -> &'static str {
    match e {
        GraphError::Paging(PagingError::TooManyPages { .. }) => REASON_TOO_MANY_PAGES,
        _ => REASON_PAGING_CYCLE,
    }
}

/// The failure of a sync that ran out of time.
pub fn deadline_failure(message: String) -> SyncFailure {
    SyncFailure::Error {
        reason: REASON_DEADLINE,
        message,
    }
}
