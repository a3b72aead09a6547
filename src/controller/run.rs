//! Running the controller: watches, concurrency, readiness, graceful shutdown and, when asked,
//! leader election. Usable in-process: give it a client, a config, an engine and a shutdown
//! future.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::broadcast;

use super::application::consent::ConsentBook;
use super::application::status::AppContext;
use super::engine::SyncEngine;
use super::events::EventRecorder;
use super::leader::{Candidate, ElectionError, LeaderElection};
use super::leadership::Leadership;
use super::permissions::{self, Scope};
use super::policy::CredentialPolicy;
use super::reconcile::{Context, Watched, error_policy, reconcile};
use super::secrets::{SecretRegistry, all_referenced, referencing_connectors};
use super::shard::{Shard, ShardLeases, TopologyError};
use super::triggers::secret_triggers;
use super::watch_retry::retried;
use crate::resources::AzureAdApplication;
use crate::slots::{Slots, SyncSlot};
use crate::sync::status::LAST_SUCCESS_REFRESH;
use crate::sync::{ConnectorKey, DEFAULT_SYNC_DEADLINE};
use crate::telemetry::metrics::Metrics;
use crate::telemetry::server::Readiness;

/// The name Events are reported under, and the default field manager.
pub const CONTROLLER_NAME: &str = "pbconnector";

/// How the controller runs.
#[derive(Clone)]
pub struct ControllerConfig {
    /// Watch exactly these namespaces, or all of them (empty).
    pub namespaces: Vec<String>,
    /// At most this many syncs run at once (slots shared fairly between namespaces; a sync
    /// waiting to retry gives its slot back meanwhile).
    pub max_concurrent_syncs: u16,
    /// After shutdown is requested, in-flight syncs get this long to finish.
    pub shutdown_timeout: Duration,
    /// Run only while holding this Lease.
    pub leader_election: Option<LeaderElection>,
    /// The most one sync may take (its one deadline); it is stopped then and fails with
    /// `SyncDeadlineExceeded`.
    pub sync_deadline: Duration,
    /// This process in the lease and in Events (POD_NAME or the hostname).
    pub identity: String,
    /// How often deleted connectors' state and unreferenced Secret versions are dropped.
    pub prune_interval: Duration,
    pub metrics: Metrics,
    /// An unchanged status is rewritten at most this long after its last success, to refresh
    /// `lastSuccessfulSyncTime` (each connector after its `status::refresh_period` of it).
    pub last_success_refresh: Duration,
    /// A sync running longer than this writes its progress into status.message, at most this
    /// often.
    pub progress_status_interval: Duration,
    /// Set once the controller's store is ready (with leader election: once the election
    /// settled); read it to learn readiness.
    pub readiness: Readiness,
    /// Which endpoints and identities connectors may use.
    pub policy: CredentialPolicy,
    /// One verify per connector per this long (`verify::VERIFY_INTERVAL`; tests shorten it).
    pub verify_interval: Duration,
    /// The operator's own namespace, where each company's claim (a Lease) lives; `None`: the
    /// client's default namespace (in a pod, its own). Shared apps' credential Secrets must be
    /// there too.
    pub claim_namespace: Option<String>,
    /// Which connectors this process reconciles (`shard`): those of namespaces hashed to its
    /// shard. More than one shard needs leader election (one Lease per shard).
    pub shard: Shard,
    /// The fleet-wide freeze: every destructive change of every connector is held.
    pub freeze_destructive: bool,
    /// The longest wait between two attempts of a quarantined connector.
    pub quarantine_ceiling: Duration,
    /// A shared app's tenant nothing was learned of for this long is probed with one token
    /// request, at most once per this long (`application::status::DEFAULT_PROBE_INTERVAL`).
    pub consent_probe_interval: Duration,
}

impl ControllerConfig {
    pub fn new(identity: impl Into<String>) -> Self {
        Self {
            namespaces: Vec::new(),
            max_concurrent_syncs: 16,
            shutdown_timeout: Duration::from_secs(30),
            leader_election: None,
            sync_deadline: DEFAULT_SYNC_DEADLINE,
            identity: identity.into(),
            prune_interval: Duration::from_secs(30),
            metrics: Metrics::new(),
            last_success_refresh: LAST_SUCCESS_REFRESH,
            progress_status_interval: Duration::from_secs(30),
            readiness: Readiness::default(),
            policy: CredentialPolicy::default(),
            verify_interval: super::verify::VERIFY_INTERVAL,
            claim_namespace: None,
            shard: Shard::single(),
            freeze_destructive: false,
            quarantine_ceiling: super::quarantine::DEFAULT_CEILING,
            consent_probe_interval: super::application::status::DEFAULT_PROBE_INTERVAL,
        }
    }
}

/// Why the controller could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Election(#[from] ElectionError),
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error(
        "{count} shards need leader election (one Lease per shard keeps a connector's writes to \
         one replica, also while the shard count changes): pass --leader-elect (the chart does \
         whenever shards > 1)"
    )]
    ShardsWithoutLeaderElection { count: u32 },
}

type Signal = Shared<BoxFuture<'static, ()>>;

/// Runs until `shutdown` resolves: then stops taking new work, lets in-flight syncs finish within
/// `shutdown_timeout`, and returns. With leader election, only while holding this shard's Lease
/// and no replica of another shard count holds one (`shard`).
pub async fn run<E: SyncEngine>(
    client: Client,
    config: ControllerConfig,
    engine: E,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let shutdown: Signal = shutdown.boxed().shared();
    let engine = Arc::new(engine);
    let shard = config.shard;
    config.metrics.set_shard(shard.index(), shard.count());
    let Some(election) = config.leader_election.clone() else {
        if shard.count() > 1 {
            return Err(RunError::ShardsWithoutLeaderElection {
                count: shard.count(),
            });
        }
        run_controller(
            client,
            &config,
            engine,
            shutdown.clone(),
            Leadership::always(),
        )
        .await;
        return Ok(());
    };
    let leases = ShardLeases::new(
        client.clone(),
        &election.lease_namespace,
        &election.lease_name,
        shard,
    );
    let election = LeaderElection {
        lease_name: shard.lease_name(&election.lease_name),
        ..election
    };
    loop {
        leases.label_own().await?;
        let candidate =
            Candidate::start(client.clone(), election.clone(), config.identity.clone()).await?;
        tracing::info!(lease = %election.lease_name, identity = %config.identity, shard = shard.index(), shards = shard.count(), "standing for leader election");
        let term =
            lead_while_elected(&client, &config, &engine, &shutdown, &candidate, &leases).await;
        config.readiness.set(false);
        candidate.resign().await;
        match term {
            Term::Over => break,
            Term::OtherTopology => {
                // A settled standby: ready, so that a rolling update goes on.
                config.readiness.set(true);
                if !other_topologies_gone(&leases, &shutdown).await {
                    break;
                }
                tracing::info!(
                    "no replica of another shard count holds a Lease any more: standing again"
                );
            }
        }
    }
    config.readiness.set(false);
    Ok(())
}

/// Why a candidacy ended.
enum Term {
    /// Shutdown was asked for, or the lease manager stopped.
    Over,
    /// A replica of another shard count holds a live Lease: give this one up and wait.
    OtherTopology,
}

/// Runs the controller each time `candidate` leads, after checking that no replica of another
/// shard count may still write (`shard`, the invariant).
async fn lead_while_elected<E: SyncEngine>(
    client: &Client,
    config: &ControllerConfig,
    engine: &Arc<E>,
    shutdown: &Signal,
    candidate: &Candidate,
    leases: &ShardLeases,
) -> Term {
    loop {
        let leading = tokio::select! {
            leading = candidate.leading() => leading,
            _ = standby_readiness(candidate, &config.readiness) => false,
            _ = shutdown.clone() => return Term::Over,
        };
        if !leading {
            tracing::error!("the lease manager stopped; no longer standing for leader election");
            return Term::Over;
        }
        // Checked after acquiring: see the invariant in `shard`.
        match leases.other_topologies_live().await {
            Ok(others) if others.is_empty() => {}
            Ok(others) => {
                tracing::warn!(leases = ?others, "replicas of another shard count still hold their Leases: giving this shard's Lease up until they are gone");
                return Term::OtherTopology;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot tell whether replicas of another shard count still write: giving this shard's Lease up");
                return Term::OtherTopology;
            }
        }
        tracing::info!("leading: starting the controller");
        config.readiness.set(false);
        let stop: Signal = futures::future::select(shutdown.clone(), candidate.lost().boxed())
            .map(|_| ())
            .boxed()
            .shared();
        run_controller(
            client.clone(),
            config,
            engine.clone(),
            stop,
            candidate.leadership(),
        )
        .await;
        if shutdown.peek().is_some() {
            return Term::Over;
        }
        // What this replica kept (the Password Boss state, the last plan) stops being true
        // once another replica may lead; its safety record is merged with the status's.
        engine.forget_all();
        tracing::warn!(
            "lost the leader lease: controller stopped, kept state no longer trusted, standing by"
        );
    }
}

/// Waits until no replica of another shard count holds a live Lease; `false` if `shutdown`
/// came first. Polls every one to three seconds (at random, so that two topologies started at
/// once do not keep meeting).
async fn other_topologies_gone(leases: &ShardLeases, shutdown: &Signal) -> bool {
    loop {
        match leases.other_topologies_live().await {
            Ok(others) if others.is_empty() => return true,
            Ok(others) => {
                tracing::debug!(leases = ?others, "waiting for replicas of another shard count to go")
            }
            Err(error) => tracing::warn!(%error, "cannot read the shard Leases"),
        }
        let pause = Duration::from_millis(rand::random_range(1000..3000));
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.clone() => return false,
        }
    }
}

/// While standing by: ready once another process is seen holding the lease. Never resolves.
async fn standby_readiness(candidate: &Candidate, readiness: &Readiness) {
    loop {
        if candidate.other_holder().await {
            readiness.set(true);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Runs the controller until `stop` resolves and in-flight work ends (or its time runs out): one
/// kube-runtime controller per watched namespace (or one for all namespaces), sharing one
/// context, one limit on concurrent syncs and one readiness.
async fn run_controller<E: SyncEngine>(
    client: Client,
    config: &ControllerConfig,
    engine: Arc<E>,
    stop: Signal,
    leadership: Leadership,
) {
    let scopes: Vec<Option<String>> = if config.namespaces.is_empty() {
        vec![None]
    } else {
        config.namespaces.iter().cloned().map(Some).collect()
    };
    let claim_namespace = config
        .claim_namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_owned());
    if !permitted(&client, &scopes, &claim_namespace, &stop).await {
        return;
    }
    let registry = Arc::new(SecretRegistry::default());
    let reporter = Reporter {
        controller: CONTROLLER_NAME.into(),
        instance: Some(config.identity.clone()),
    };
    let consents = Arc::new(ConsentBook::default());
    let app_ctx = Arc::new(AppContext::new(
        client.clone(),
        claim_namespace.clone(),
        config.policy.endpoints.clone(),
        consents.clone(),
        EventRecorder::new(client.clone(), reporter.clone()),
        config.consent_probe_interval,
    ));
    let app_changes = app_ctx.changes.clone();
    let apps = tokio::spawn(super::application::status::run(app_ctx, stop.clone()));
    let engine = Arc::new(Limited {
        inner: engine,
        slots: Slots::new(config.max_concurrent_syncs.into()),
        metrics: config.metrics.clone(),
    });
    let ctx = Arc::new(
        Context::new(
            client.clone(),
            engine,
            EventRecorder::new(client.clone(), reporter),
            config.metrics.clone(),
            registry.clone(),
        )
        .with_policy(config.policy.clone())
        .with_last_success_refresh(config.last_success_refresh)
        .with_leadership_and_deadline(leadership, config.sync_deadline)
        .with_progress_status_interval(config.progress_status_interval)
        .with_verify_interval(config.verify_interval)
        .with_quarantine_ceiling(config.quarantine_ceiling)
        .with_claim_namespace(&claim_namespace)
        .with_freeze_destructive(config.freeze_destructive)
        .with_consents(consents),
    );
    let synced: Arc<Vec<Readiness>> =
        Arc::new(scopes.iter().map(|_| Readiness::default()).collect());
    let mut stores = Vec::new();
    let mut controllers = Vec::new();
    for (index, scope) in scopes.iter().enumerate() {
        let (store, controller) = scope_controller(
            &client,
            scope.as_deref(),
            ctx.clone(),
            ScopeReadiness {
                index,
                all: synced.clone(),
                overall: config.readiness.clone(),
            },
            stop.clone(),
            config.shard,
            app_changes.subscribe(),
        );
        stores.push(store);
        controllers.push(controller);
    }
    ctx.companies.watch(stores.clone(), synced.clone());
    tracing::info!(namespaces = ?config.namespaces, "watching connectors (no namespaces listed: all)");
    let results = futures::future::join_all(controllers);

    let pruner = tokio::spawn(prune_forever(
        stores,
        synced,
        ctx.clone(),
        registry,
        config.prune_interval,
    ));

    let timeout = config.shutdown_timeout;
    let deadline = stop.clone().then(move |_| tokio::time::sleep(timeout));
    tokio::select! {
        _ = results => tracing::info!("controller stopped"),
        _ = deadline => tracing::warn!(timeout_s = timeout.as_secs(), "in-flight syncs did not finish in time; abandoning them"),
    }
    pruner.abort();
    apps.abort();
    // Another process (the next leader) reports the connectors from now on.
    config.metrics.fleet.clear();
    config.readiness.set(false);
}

/// How often a controller missing permissions asks again (so a fixed Role takes effect without a
/// restart).
const PERMISSION_RECHECK: Duration = Duration::from_secs(15);

/// Waits until the API server grants every permission the controller uses in every scope it
/// watches, and the company claims' in `claim_namespace`, saying which are missing meanwhile
/// (readiness stays false); `false` if `stop` came first.
async fn permitted(
    client: &Client,
    scopes: &[Option<String>],
    claim_namespace: &str,
    stop: &Signal,
) -> bool {
    let mut asked: Vec<(Scope, &[permissions::Permission])> = scopes
        .iter()
        .map(|scope| (Scope::of(scope.as_deref()), permissions::REQUIRED))
        .collect();
    asked.push((
        Scope::Namespace(claim_namespace.to_owned()),
        permissions::CLAIMS,
    ));
    loop {
        let errors = match permissions::check_all(client, &asked).await {
            Ok(missing) => missing,
            Err(error) => vec![error],
        };
        for error in &errors {
            tracing::error!(%error, "cannot start the controller");
        }
        let all = errors.is_empty();
        if all {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(PERMISSION_RECHECK) => {}
            _ = stop.clone() => return false,
        }
    }
}

/// Where one scope reports that its first list is complete; the process is ready once every
/// scope's is.
struct ScopeReadiness {
    index: usize,
    all: Arc<Vec<Readiness>>,
    overall: Readiness,
}

impl ScopeReadiness {
    fn synced(&self) {
        if self.all[self.index].is_ready() {
            return;
        }
        self.all[self.index].set(true);
        if self.all.iter().all(Readiness::is_ready) {
            tracing::info!("connector cache synced; ready");
            self.overall.set(true);
        }
    }
}

/// The controller of one scope (a namespace, or all of them): its store, and the future that
/// runs it until `stop`.
fn scope_controller<E: SyncEngine>(
    client: &Client,
    namespace: Option<&str>,
    ctx: Arc<Context<Limited<E>>>,
    readiness: ScopeReadiness,
    stop: Signal,
    shard: Shard,
    app_changes: broadcast::Receiver<AzureAdApplication>,
) -> (Store<Watched>, BoxFuture<'static, ()>) {
    let (connectors, secrets): (Api<Watched>, Api<PartialObjectMeta<Secret>>) = match namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    // Our own reflector (rather than `Controller::new`) so that: deletions trigger a reconcile,
    // which finds the object gone and forgets it; and the first complete list marks the store
    // synced without a second waiter on the store's readiness (kube 5 wakes only one).
    let (store, writer) = reflector::store::<Watched>();
    let in_flight = ctx.in_flight.clone();
    // Each watch retries at its own pace and its errors stop here (`watch_retry`): the
    // controller's own trigger backoff, shared by both watches, never sees one.
    let connector_events = reflector(
        writer,
        retried(
            "connectors",
            watcher(connectors, watcher::Config::default().any_semantic()),
        ),
    )
    .inspect(move |event| {
        if let Ok(event) = event {
            // A sync made pointless by this event (deleted, suspended, spec changed) stops now.
            in_flight.observe(event);
        }
        if matches!(event, Ok(watcher::Event::InitDone)) {
            readiness.synced();
        }
    })
    .touched_objects()
    // Every connector is cached (the company claims judge holders of any shard), but only this
    // shard's reach the controller: no reconcile, status, Event or claim for another's.
    .try_filter(move |connector| {
        futures::future::ready(connector.namespace().is_none_or(|ns| shard.owns(&ns)))
    });
    // Metadata only: `Api<PartialObjectMeta<_>>` asks for metadata, so no Secret data is cached.
    let triggers = secret_triggers(
        retried(
            "secrets",
            watcher(secrets, watcher::Config::default().any_semantic()),
        ),
        store.clone(),
        ctx.secrets.clone(),
    );
    let mapper_store = store.clone();
    let app_store = store.clone();
    let app_ctx = ctx.clone();
    let result_store = store.clone();
    let controller = Controller::for_stream(connector_events, store.clone())
        // Reconciles are not bounded here: a connector's reconcile waiting for a sync slot must
        // not keep another's (which may need no slot at all, or be of another namespace) from
        // starting; the slots bound the syncs.
        .with_config(controller::Config::default().concurrency(0))
        .watches_stream(triggers, move |secret| {
            if secret.namespace().is_some_and(|ns| !shard.owns(&ns)) {
                return Vec::new();
            }
            referencing_connectors(&mapper_store, &secret)
        })
        // A shared app whose spec or credential changed: each of this shard's connectors using
        // it ends a quarantine and syncs at once.
        .watches_stream(changed_apps(app_changes), move |app| {
            let connectors = connectors_using(&app_store, &app.name_any(), shard);
            for connector in &connectors {
                let key = ConnectorKey::new(
                    connector.namespace.clone().unwrap_or_default(),
                    connector.name.clone(),
                );
                app_ctx.credential_source_changed(&key);
            }
            connectors
        })
        .graceful_shutdown_on(stop)
        .run(reconcile, error_policy, ctx.clone())
        .for_each(move |result| {
            let (store, ctx) = (result_store.clone(), ctx.clone());
            async move { handle_result(result, &store, &ctx).await }
        })
        .boxed();
    (store, controller)
}

/// The engine under one limit on concurrent syncs shared by every scope's controller: each
/// sync runs holding a slot, shared fairly between namespaces and given back while the sync only
/// waits (`slots`).
struct Limited<E> {
    inner: Arc<E>,
    slots: Arc<Slots>,
    metrics: Metrics,
}

impl<E: SyncEngine> SyncEngine for Limited<E> {
    async fn sync(&self, request: crate::sync::SyncRequest) -> crate::sync::report::SyncReport {
        let slot = SyncSlot::take(self.slots.clone(), &request.key.namespace).await;
        if let Some(due) = request.due {
            let late = std::time::Instant::now().saturating_duration_since(due);
            self.metrics.sync_start_lateness.observe(late.as_secs_f64());
        }
        slot.run(self.inner.sync(request)).await
    }

    async fn verify(
        &self,
        key: &ConnectorKey,
        spec: &crate::resources::AzureAdConnectorSpec,
        credentials: crate::sync::Credentials,
    ) -> crate::sync::verify::Checks {
        self.inner.verify(key, spec, credentials).await
    }

    fn forget(&self, key: &ConnectorKey) {
        self.inner.forget(key);
    }

    fn forget_all(&self) {
        self.inner.forget_all();
    }
}

async fn handle_result<E: SyncEngine>(
    result: Result<
        (ObjectRef<Watched>, controller::Action),
        controller::Error<super::reconcile::Error, watcher::Error>,
    >,
    store: &Store<Watched>,
    ctx: &Context<E>,
) {
    match result {
        Ok(_) => {}
        Err(controller::Error::ObjectNotFound(reference)) => {
            let Some(namespace) = reference.namespace.clone() else {
                return;
            };
            let gone = ObjectRef::<Watched>::new(&reference.name).within(&namespace);
            if store.get(&gone).is_none() {
                ctx.forget(&ConnectorKey::new(namespace, reference.name.clone()));
            }
        }
        // Already logged by error_policy.
        Err(controller::Error::ReconcilerFailed(..)) => {}
        Err(error) => tracing::warn!(%error, "controller watch error"),
    }
}

/// Drops state of connectors that no longer exist and versions of Secrets no one references.
async fn prune_forever<E: SyncEngine>(
    stores: Vec<Store<Watched>>,
    synced: Arc<Vec<Readiness>>,
    ctx: Arc<Context<E>>,
    registry: Arc<SecretRegistry>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if !synced.iter().all(Readiness::is_ready) {
            continue;
        }
        let live: std::collections::BTreeSet<ConnectorKey> = stores
            .iter()
            .flat_map(|store| store.state())
            .filter_map(|c| Some(ConnectorKey::new(c.namespace()?, c.name_any())))
            .collect();
        let known = ctx.ledger().keys();
        for key in known.into_iter().filter(|k| !live.contains(k)) {
            ctx.forget(&key);
        }
        let referenced = stores.iter().flat_map(all_referenced).collect();
        registry.retain_referenced(&referenced);
    }
}

/// The shared apps' changes (`AppContext::changes`) as a trigger stream; a receiver that fell
/// behind skips what it missed (those connectors then wait for their own schedule).
fn changed_apps(
    receiver: broadcast::Receiver<AzureAdApplication>,
) -> impl futures::Stream<Item = Result<AzureAdApplication, watcher::Error>> + Send + 'static {
    futures::stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(app) => return Some((Ok(app), receiver)),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "shared app changes were missed");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

/// The connectors in `store` that this shard owns and whose `spec.azure.applicationRef` names
/// `app`.
fn connectors_using(store: &Store<Watched>, app: &str, shard: Shard) -> Vec<ObjectRef<Watched>> {
    store
        .state()
        .iter()
        .filter(|c| c.namespace().is_some_and(|ns| shard.owns(&ns)))
        .filter(|c| {
            c.0.as_ref().is_ok_and(|c| {
                c.spec
                    .azure
                    .application_ref
                    .as_ref()
                    .is_some_and(|r| r.name == app)
            })
        })
        .map(|c| ObjectRef::from_obj(c.as_ref()))
        .collect()
}
