//! Step 1 of a sync, **read**: the clients for the spec and its credentials, then Entra (into
//! the Graph state kept between syncs) and Password Boss read concurrently. The Password Boss
//! state kept from the last sync stands in for a read while it is fresh (see `state::kept`).

use std::time::{Duration, Instant};

use tracing::Instrument;

use super::SyncRequest;
use super::credentials::Credentials;
use super::progress::{Progress, Step};
use super::secrets::SecretError;
use super::state::{Clients, ConnectorState, Reads, Trace};
use super::status::failure::{FailureReason, SyncFailure};
use super::target::{Target, TargetError};
use crate::azure::{
    AzureConfig, Credential, GraphClient, GraphError, ReadOptions, admin_consent_url,
};
use crate::passwordboss::{PasswordBossClient, PasswordBossConfig};
use crate::resources::{AzureAdConnectorSpec, AzureSpec, TargetSpec};
use crate::scim::{ScimClient, ScimConfig};

/// How often a long read reports the requests it made so far.
const READ_PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Why the read step failed; nothing was planned or written.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The spec's endpoints or credentials do not make a working client.
    #[error("{0}")]
    Config(String),
    /// `message` is the error, with where to grant admin consent when consent is missing.
    #[error("{message}")]
    Graph { error: GraphError, message: String },
    /// The target (Password Boss or the SCIM service) failed the read.
    #[error(transparent)]
    Target(TargetError),
}

impl ReadError {
    pub fn reason(&self) -> FailureReason {
        match self {
            Self::Secret(_) => FailureReason::SecretError,
            Self::Config(_) => FailureReason::InvalidConfiguration,
            Self::Graph { error, .. } => FailureReason::of_graph(error),
            Self::Target(e) => FailureReason::of_target(e),
        }
    }

    pub(super) fn graph(azure: &AzureSpec, error: GraphError) -> Self {
        let message = graph_message(azure, &error);
        Self::Graph { error, message }
    }
}

impl From<ReadError> for SyncFailure {
    fn from(e: ReadError) -> Self {
        SyncFailure::new(e.reason(), e.to_string())
    }
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

/// The clients for this spec and these credentials: the ones of the last sync when neither
/// changed (they hold the token cache and the tenant's pacer), else new ones.
pub(super) fn clients(
    spec: &AzureAdConnectorSpec,
    credentials: Credentials,
    state: &mut ConnectorState,
) -> Result<Clients, ReadError> {
    let graph = graph_client(spec, credentials.azure, state).map_err(ReadError::Config)?;
    let (target, target_key) =
        kept_target_client(spec, credentials.target_token, state).map_err(ReadError::Config)?;
    Ok(Clients {
        graph,
        target,
        target_key,
    })
}

/// The Graph client of the last sync when the spec's `azure` and the credential are the same,
/// else a new one (sharing the tenant's pacer when the state has the registry); the error says
/// what is wrong with the configuration.
pub(super) fn graph_client(
    spec: &AzureAdConnectorSpec,
    credential: Credential,
    state: &mut ConnectorState,
) -> Result<GraphClient, String> {
    let graph_key = fingerprint(&(
        format!("{:?}", spec.azure),
        credential_fingerprint(&credential),
    ));
    if let Some((key, client)) = &state.graph
        && *key == graph_key
    {
        return Ok(client.clone());
    }
    let config = AzureConfig::from_spec(&spec.azure, credential).map_err(|e| e.to_string())?;
    let client = match &state.pacers {
        Some(pacers) => {
            let pacer = pacers.for_tenant(
                config.graph_endpoint.as_str(),
                &config.tenant_id,
                &config.client_id,
            );
            GraphClient::with_pacer(config, pacer)
        }
        None => GraphClient::new(config),
    }
    .map_err(|e| e.to_string())?;
    state.graph = Some((graph_key, client.clone()));
    Ok(client)
}

/// The target's client of the last sync when the target (its kind and endpoint) and the token
/// are the same, else a new one, and its key (identifying both); the error says what is wrong.
pub(super) fn kept_target_client(
    spec: &AzureAdConnectorSpec,
    token: String,
    state: &mut ConnectorState,
) -> Result<(Target, u64), String> {
    let target_spec = spec.target().map_err(|e| e.to_string())?;
    let target_key = fingerprint(&(format!("{target_spec:?}"), token.clone()));
    if let Some((key, client)) = &state.target
        && *key == target_key
    {
        return Ok((client.clone(), target_key));
    }
    let client = target_client(target_spec, token)?;
    state.target = Some((target_key, client.clone()));
    Ok((client, target_key))
}

/// A new client for the spec's target, with its token.
pub(super) fn target_client(spec: TargetSpec<'_>, token: String) -> Result<Target, String> {
    match spec {
        TargetSpec::PasswordBoss(pb) => {
            let url = pb
                .api_url
                .parse()
                .map_err(|e| format!("passwordBoss.apiUrl is not a URL: {e}"))?;
            PasswordBossClient::new(PasswordBossConfig::new(url, token))
                .map(Target::PasswordBoss)
                .map_err(|e| e.to_string())
        }
        TargetSpec::Scim(scim) => {
            let url = scim
                .base_url
                .parse()
                .map_err(|e| format!("scim.baseUrl is not a URL: {e}"))?;
            ScimClient::new(ScimConfig::new(url, token))
                .map(Target::Scim)
                .map_err(|e| e.to_string())
        }
    }
}

/// Reads Entra (the sync group, the mirrored groups, scope applied) and Password Boss (or takes
/// the kept state) concurrently. Each side's time goes into `trace`, and which side answered.
pub(super) async fn read(
    spec: &AzureAdConnectorSpec,
    clients: &Clients,
    state: &mut ConnectorState,
    request: &SyncRequest,
    trace: &mut Trace,
) -> Result<Reads, ReadError> {
    request.progress.send(Progress::step(Step::Reading));
    let (graph_before, pb_reads_before, pb_writes_before) = clients.requests();
    let read_options = ReadOptions {
        nested_groups: spec.nested_groups,
        full_sync_interval: spec.full_sync_interval(),
        delta: request.delta,
        deadline: request.deadline,
    };
    let graph_state = &mut state.graph_state;
    let entra_read = async {
        let started = Instant::now();
        let read = clients
            .graph
            .refresh(graph_state, &spec.sync_group, &spec.groups, &read_options)
            .await;
        (read, started.elapsed())
    }
    .instrument(tracing::info_span!("graph_read"));
    // Taken out, and put back only by a sync that finishes.
    let cached = state
        .kept
        .take()
        .filter(|c| c.usable(clients.target_key, spec.full_sync_interval()));
    let kept = cached.is_some();
    let directory_read = async {
        let started = Instant::now();
        let read = match cached {
            Some(c) => Ok((c.connector, c.state, c.read_at)),
            None => {
                let read_at = Instant::now();
                let read = clients.target.read().await;
                read.map(|(connector, state)| (connector, state, read_at))
            }
        };
        (read, started.elapsed())
    }
    .instrument(tracing::info_span!("password_boss_read", kept));
    // While both reads run, the requests they made so far tell a front end they are moving.
    let ((entra, graph_time), (directory, pb_time)) = {
        let reads = async { tokio::join!(entra_read, directory_read) };
        tokio::pin!(reads);
        let mut ticks = tokio::time::interval(READ_PROGRESS_EVERY);
        loop {
            tokio::select! {
                read = &mut reads => break read,
                _ = ticks.tick() => {
                    let (graph, reads, writes) = clients.requests();
                    let made = (graph - graph_before)
                        + (reads + writes - pb_reads_before - pb_writes_before);
                    request.progress.send(Progress { step: Step::Reading, done: made, total: 0 });
                }
            }
        }
    };
    trace.timings.graph_read = graph_time;
    trace.timings.password_boss_read = pb_time;
    trace.reached.azure = entra.is_ok();
    trace.reached.password_boss = directory.is_ok();
    entra.map_err(|e| ReadError::graph(&spec.azure, e))?;
    let (connector, directory, directory_read_at) = directory.map_err(ReadError::Target)?;
    Ok(Reads {
        connector,
        directory,
        directory_read_at,
        kept,
    })
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
