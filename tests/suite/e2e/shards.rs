//! Shards (issue 28) on the real API server, each shard an in-process `controller::run` with its
//! own engine, as separate replicas would be:
//! - two shards × 20 connectors in 20 namespaces, with the chart's RBAC: each connector is synced
//!   by the shard its namespace hashes to and never by the other; each shard holds its own Lease;
//! - resharding from one shard to two: the new replicas sync nothing while the old replica's
//!   Lease is live (they take their Leases, see it, give them up), and take over once it is gone;
//!   no sync of theirs starts before the old replica's last one ended;
//! - one company named by connectors on different shards: the older connector wins, whichever
//!   shard it is on;
//! - a crashed replica of another shard count (its Lease still live) holds a new replica until
//!   that Lease has expired.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use pbconnector::controller::companies::claim_name;
use pbconnector::controller::shard::{LABEL_SHARD_LEASE, Shard, shard_of};
use pbconnector::controller::{ControllerConfig, LeaderElection, PipelineEngine, SyncEngine};
use pbconnector::resources::{AzureAdConnectorSpec, AzureAdConnectorStatus, CONDITION_READY};
use pbconnector::sync::report::SyncReport;
use pbconnector::sync::verify::Checks;
use pbconnector::sync::{ConnectorKey, Credentials, SyncRequest};
use pbconnector_simulators::sample::SampleEnvironment;

use crate::support::apiserver::client_for;
use crate::support::e2e::{Cluster, InProcess, NAME, eventually, sample};

const MINUTE: Duration = Duration::from_secs(60);

/// What every replica's engine did, in the order it happened: (replica, started?, connector).
#[derive(Clone, Default)]
struct Journal(Arc<Mutex<Vec<(String, bool, ConnectorKey)>>>);

impl Journal {
    fn note(&self, replica: &str, started: bool, key: &ConnectorKey) {
        self.0
            .lock()
            .unwrap()
            .push((replica.to_owned(), started, key.clone()));
    }

    fn entries(&self) -> Vec<(String, bool, ConnectorKey)> {
        self.0.lock().unwrap().clone()
    }

    /// Syncs of `key` that `replica` ended.
    fn syncs(&self, replica: &str, key: &ConnectorKey) -> usize {
        self.entries()
            .iter()
            .filter(|(r, started, k)| r == replica && !started && k == key)
            .count()
    }

    /// Syncs `replica` started, of any connector.
    fn started_by(&self, replica: &str) -> usize {
        self.entries()
            .iter()
            .filter(|(r, started, _)| r == replica && *started)
            .count()
    }
}

/// One replica's engine (the real one), noting each sync's start and end in the journal.
struct Recording {
    replica: String,
    journal: Journal,
    inner: PipelineEngine,
}

impl Recording {
    fn new(replica: &str, journal: &Journal) -> Self {
        Self {
            replica: replica.to_owned(),
            journal: journal.clone(),
            inner: PipelineEngine::new(),
        }
    }
}

impl SyncEngine for Recording {
    async fn sync(&self, request: SyncRequest) -> SyncReport {
        let key = request.key.clone();
        self.journal.note(&self.replica, true, &key);
        let report = self.inner.sync(request).await;
        self.journal.note(&self.replica, false, &key);
        report
    }

    async fn verify(
        &self,
        key: &ConnectorKey,
        spec: &AzureAdConnectorSpec,
        credentials: Credentials,
    ) -> Checks {
        self.inner.verify(key, spec, credentials).await
    }

    fn forget(&self, key: &ConnectorKey) {
        self.inner.forget(key);
    }

    fn forget_all(&self) {
        self.inner.forget_all();
    }
}

/// Where the replicas keep their Leases and the company claims, and the lease name they share.
struct Ops {
    namespace: String,
    lease: String,
}

impl Ops {
    async fn new(cluster: &Cluster) -> Self {
        Self {
            namespace: cluster.namespace("e2e-shards-ops").await,
            lease: format!("shards-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
        }
    }

    /// Replica `replica` of shard `shard`, watching `namespaces`.
    fn replica(
        &self,
        client: kube::Client,
        replica: &str,
        shard: Shard,
        namespaces: &[String],
        journal: &Journal,
    ) -> (InProcess, ControllerConfig) {
        let mut config = InProcess::config(true);
        config.namespaces = namespaces.to_vec();
        config.identity = replica.to_owned();
        config.leader_election = Some(LeaderElection::new(&self.lease, self.namespace.as_str()));
        config.claim_namespace = Some(self.namespace.clone());
        config.shard = shard;
        let operator =
            InProcess::start_with(client, Recording::new(replica, journal), config.clone());
        (operator, config)
    }

    fn leases(&self, cluster: &Cluster) -> Api<Lease> {
        Api::namespaced(cluster.client.clone(), &self.namespace)
    }
}

/// At least `n` fresh namespaces, both shards of two among them.
async fn namespaces(cluster: &Cluster, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n || (0..2).any(|s| !out.iter().any(|ns: &String| shard_of(ns, 2) == s)) {
        out.push(cluster.namespace("e2e-shard").await);
    }
    out.sort();
    out
}

/// A sample company of its own (2 users) for each namespace, its connector applied there.
async fn connectors(
    cluster: &Cluster,
    namespaces: &[String],
    interval: &str,
) -> Vec<SampleEnvironment> {
    let mut envs = Vec::new();
    let mut manifests = Vec::new();
    for ns in namespaces {
        let env = sample(2, interval).await;
        manifests.push(env.manifests(ns));
        envs.push(env);
    }
    cluster.apply(&manifests.join("\n---\n")).await;
    envs
}

fn holder(lease: &Lease) -> Option<String> {
    lease.spec.as_ref().and_then(|s| s.holder_identity.clone())
}

/// Two shards with exactly the chart's permissions for `shards: 2` (its ServiceAccount, the
/// company claims' Role and the leader Role naming the two shard Leases).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_each_sync_only_the_connectors_of_their_namespaces() {
    let cluster = Cluster::shared_without_interval_minimum().await;
    let identity = cluster
        .operator_identity(&["shards=2", "leaderElection.enabled=true"])
        .await;
    let ops = Ops {
        namespace: identity.namespace.clone(),
        lease: "pbconnector-leader".into(),
    };
    let namespaces = namespaces(&cluster, 20).await;
    let journal = Journal::default();
    let client = client_for(&identity.kubeconfig).await;
    let replicas: Vec<(InProcess, ControllerConfig)> = (0..2)
        .map(|i| {
            ops.replica(
                client.clone(),
                &format!("shard-{i}"),
                Shard::new(i, 2).unwrap(),
                &namespaces,
                &journal,
            )
        })
        .collect();
    let _envs = connectors(&cluster, &namespaces, "1h").await;

    for ns in &namespaces {
        let key = ConnectorKey::new(ns, NAME);
        let own = format!("shard-{}", shard_of(ns, 2));
        cluster
            .wait_status(ns, "synced", MINUTE, |s| {
                s.last_successful_sync_time.is_some()
            })
            .await;
        assert!(journal.syncs(&own, &key) > 0, "{ns}: synced by {own}");
    }
    // Every sync each replica made was of its own shard's connectors.
    for (replica, started, key) in journal.entries() {
        let own = format!("shard-{}", shard_of(&key.namespace, 2));
        assert_eq!(
            replica, own,
            "{key} synced by {replica} (started: {started})"
        );
    }
    let per_shard: BTreeMap<u32, usize> = namespaces.iter().fold(BTreeMap::new(), |mut m, ns| {
        *m.entry(shard_of(ns, 2)).or_default() += 1;
        m
    });
    assert_eq!(
        per_shard.len(),
        2,
        "both shards have connectors: {per_shard:?}"
    );

    // Each shard holds its own Lease, labelled for the topology check.
    let leases = ops.leases(&cluster);
    for i in 0..2 {
        let name = format!("{}-shard-{i}-of-2", ops.lease);
        let lease = leases.get(&name).await.expect("the shard's Lease");
        assert_eq!(
            holder(&lease).as_deref(),
            Some(format!("shard-{i}").as_str())
        );
        assert_eq!(
            lease
                .metadata
                .labels
                .unwrap_or_default()
                .get(LABEL_SHARD_LEASE),
            Some(&"true".to_owned())
        );
    }
    assert!(
        leases.get_opt(&ops.lease).await.unwrap().is_none(),
        "no Lease of one shard"
    );
    // Each replica says which shard it is.
    for (i, (_, config)) in replicas.iter().enumerate() {
        let metrics = config.metrics.encode();
        let line = format!("pbconnector_shard_info{{shard=\"{i}\",shards=\"2\"}} 1");
        assert!(metrics.contains(&line), "{metrics}");
    }
    for (operator, _) in replicas {
        operator.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_shard_count_starts_only_once_the_old_replicas_are_gone() {
    let cluster = Cluster::shared_without_interval_minimum().await;
    let ops = Ops::new(&cluster).await;
    let namespaces = namespaces(&cluster, 6).await;
    let journal = Journal::default();
    let client = cluster.server().client().await;
    // The old topology: one shard, syncing every second.
    let (old, _) = ops.replica(
        client.clone(),
        "old",
        Shard::single(),
        &namespaces,
        &journal,
    );
    let _envs = connectors(&cluster, &namespaces, "1s").await;
    for ns in &namespaces {
        let key = ConnectorKey::new(ns, NAME);
        eventually(&format!("{ns} synced by the old replica"), MINUTE, || {
            let n = journal.syncs("old", &key);
            async move { (n > 0).then_some(()) }
        })
        .await;
    }

    // The new topology: two shards. Each takes its Lease, finds the old one live and gives its
    // own up again.
    let new: Vec<InProcess> = (0..2)
        .map(|i| {
            ops.replica(
                client.clone(),
                &format!("new-{i}"),
                Shard::new(i, 2).unwrap(),
                &namespaces,
                &journal,
            )
            .0
        })
        .collect();
    let leases = ops.leases(&cluster);
    for i in 0..2 {
        let name = format!("{}-shard-{i}-of-2", ops.lease);
        eventually(&format!("{name} taken and given up"), MINUTE, || {
            let leases = leases.clone();
            let name = name.clone();
            async move {
                let lease = leases.get_opt(&name).await.ok()??;
                let taken = lease
                    .spec
                    .as_ref()
                    .and_then(|s| s.lease_transitions)
                    .is_some_and(|t| t >= 1);
                (taken && holder(&lease).is_none()).then_some(())
            }
        })
        .await;
    }
    // The old replica goes on syncing meanwhile; the new ones sync nothing.
    let key = ConnectorKey::new(&namespaces[0], NAME);
    let more = journal.syncs("old", &key) + 3;
    eventually("three more syncs by the old replica", MINUTE, || {
        let n = journal.syncs("old", &key);
        async move { (n >= more).then_some(()) }
    })
    .await;
    assert_eq!(journal.started_by("new-0") + journal.started_by("new-1"), 0);
    let old_lease = leases.get(&ops.lease).await.unwrap();
    assert_eq!(holder(&old_lease).as_deref(), Some("old"));

    // The old replica stops (as on SIGTERM): it releases its Lease, the new ones take over.
    old.stop().await;
    for ns in &namespaces {
        let key = ConnectorKey::new(ns, NAME);
        let own = format!("new-{}", shard_of(ns, 2));
        eventually(&format!("{ns} synced by {own}"), MINUTE, || {
            let n = journal.syncs(&own, &key);
            async move { (n > 0).then_some(()) }
        })
        .await;
    }
    let entries = journal.entries();
    let last_old_end = entries
        .iter()
        .rposition(|(r, started, _)| r == "old" && !started)
        .expect("the old replica synced");
    let first_new_start = entries
        .iter()
        .position(|(r, started, _)| r.starts_with("new-") && *started)
        .expect("the new replicas synced");
    assert!(
        last_old_end < first_new_start,
        "never two writers: every sync of the old replica ended before the new ones started"
    );
    assert!(
        !entries[last_old_end..]
            .iter()
            .any(|(r, started, _)| r == "old" && *started),
        "the old replica started nothing after"
    );
    for (replica, _, key) in &entries[first_new_start..] {
        assert_eq!(replica, &format!("new-{}", shard_of(&key.namespace, 2)));
    }
    for operator in new {
        operator.stop().await;
    }
}

/// `Ready`'s (status, reason, message).
fn ready(s: &AzureAdConnectorStatus) -> Option<(String, String, String)> {
    s.conditions
        .iter()
        .find(|c| c.type_ == CONDITION_READY)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

async fn wait_ready(
    cluster: &Cluster,
    ns: &str,
    what: &str,
    accept: impl Fn(&(String, String, String)) -> bool,
) -> AzureAdConnectorStatus {
    cluster
        .wait_status(ns, what, MINUTE, |s| ready(s).is_some_and(|r| accept(&r)))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_shards_the_older_connector_of_a_company_wins() {
    let cluster = Cluster::shared_without_interval_minimum().await;
    let ops = Ops::new(&cluster).await;
    // The older connector on shard 1, the younger on shard 0 (of two).
    let mut on = [None, None];
    while on.iter().any(Option::is_none) {
        let ns = cluster.namespace("e2e-shard-company").await;
        let shard = shard_of(&ns, 2) as usize;
        on[shard].get_or_insert(ns);
    }
    let [younger_ns, older_ns] = on.map(Option::unwrap);
    let namespaces = vec![older_ns.clone(), younger_ns.clone()];
    let journal = Journal::default();
    let client = cluster.server().client().await;
    let replicas: Vec<InProcess> = (0..2)
        .map(|i| {
            ops.replica(
                client.clone(),
                &format!("shard-{i}"),
                Shard::new(i, 2).unwrap(),
                &namespaces,
                &journal,
            )
            .0
        })
        .collect();
    // One company (one sample, its token in both namespaces). The older connector is created
    // first but suspended, so the younger claims the company first.
    let env = sample(2, "1s").await;
    let older_manifests = env
        .manifests(&older_ns)
        .replace("suspend: false", "suspend: true");
    assert_ne!(
        older_manifests,
        env.manifests(&older_ns),
        "the sample says suspend"
    );
    cluster.apply(&older_manifests).await;
    // Creation times have whole seconds: the younger is created in a later one.
    let created = cluster.connectors(&older_ns).get(NAME).await.unwrap();
    let created = created
        .metadata
        .creation_timestamp
        .expect("a creation time")
        .0;
    eventually(
        "a second after the older's creation",
        MINUTE,
        || async move { (Timestamp::now().as_second() > created.as_second()).then_some(()) },
    )
    .await;
    cluster.apply(&env.manifests(&younger_ns)).await;
    let synced = wait_ready(&cluster, &younger_ns, "the younger synced", |r| {
        r.1 == "Synced"
    })
    .await;
    let company = synced.company.expect("status.company");
    let leases = ops.leases(&cluster);
    let younger_uid = cluster
        .connectors(&younger_ns)
        .get(NAME)
        .await
        .unwrap()
        .metadata
        .uid;
    assert_eq!(
        leases
            .get(&claim_name(&company.id))
            .await
            .ok()
            .and_then(|l| holder(&l)),
        younger_uid,
        "the younger holds the claim"
    );

    // The older resumes, on the other shard: it takes the claim over, the younger is held.
    cluster
        .connectors(&older_ns)
        .patch(
            NAME,
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({"spec": {"suspend": false}})),
        )
        .await
        .unwrap();
    wait_ready(&cluster, &older_ns, "the older synced", |r| r.1 == "Synced").await;
    let held = wait_ready(&cluster, &younger_ns, "the younger held", |r| {
        r.1 == "CompanyConflict"
    })
    .await;
    let message = ready(&held).unwrap().2;
    assert!(
        message.contains(&format!(
            "{older_ns}/{NAME} reaches the same Password Boss company"
        )),
        "{message}"
    );
    let older_uid = cluster
        .connectors(&older_ns)
        .get(NAME)
        .await
        .unwrap()
        .metadata
        .uid;
    assert_eq!(
        leases
            .get(&claim_name(&company.id))
            .await
            .ok()
            .and_then(|l| holder(&l)),
        older_uid,
        "the older holds the claim"
    );
    // Each connector was synced by its own shard only.
    for (replica, _, key) in journal.entries() {
        assert_eq!(replica, format!("shard-{}", shard_of(&key.namespace, 2)));
    }
    for operator in replicas {
        operator.stop().await;
    }
}

/// A shard Lease of another shard count: held by `holder`, renewed at `renewed` for an hour.
fn foreign_lease(name: &str, holder: &str, renewed: Timestamp) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(BTreeMap::from([(
                LABEL_SHARD_LEASE.to_owned(),
                "true".to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.to_owned()),
            acquire_time: Some(MicroTime(renewed)),
            renew_time: Some(MicroTime(renewed)),
            lease_duration_seconds: Some(3600),
            ..LeaseSpec::default()
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_replica_of_another_shard_count_holds_the_others_until_its_lease_expires() {
    let cluster = Cluster::shared_without_interval_minimum().await;
    let ops = Ops::new(&cluster).await;
    let namespaces = namespaces(&cluster, 2).await;
    let journal = Journal::default();
    let leases = ops.leases(&cluster);
    // A replica of three shards crashed a moment ago: its Lease is still live (for an hour).
    let ghost = format!("{}-shard-1-of-3", ops.lease);
    let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap();
    leases
        .create(
            &PostParams::default(),
            &foreign_lease(&ghost, "crashed-pod", now),
        )
        .await
        .expect("the Lease is created");
    let _envs = connectors(&cluster, &namespaces, "1h").await;
    // Back to one shard: the replica takes its Lease, finds the crashed one's live and gives its
    // own up; its controller never runs.
    let (single, _) = ops.replica(
        cluster.server().client().await,
        "single",
        Shard::single(),
        &namespaces,
        &journal,
    );
    eventually("the Lease taken and given up", MINUTE, || {
        let leases = leases.clone();
        let name = ops.lease.clone();
        async move {
            let lease = leases.get_opt(&name).await.ok()??;
            let taken = lease
                .spec
                .as_ref()
                .and_then(|s| s.lease_transitions)
                .is_some_and(|t| t >= 1);
            (taken && holder(&lease).is_none()).then_some(())
        }
    })
    .await;
    assert_eq!(journal.started_by("single"), 0, "nothing synced meanwhile");

    // Its Lease expires (as an hour later: last renewed an hour and a minute ago).
    let expired = Timestamp::from_second(now.as_second() - 3660).unwrap();
    let patch = serde_json::json!({"spec": {"renewTime": MicroTime(expired)}});
    leases
        .patch(&ghost, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("the Lease is patched");
    for ns in &namespaces {
        cluster
            .wait_status(ns, "synced", MINUTE, |s| {
                s.last_successful_sync_time.is_some()
            })
            .await;
        assert!(journal.syncs("single", &ConnectorKey::new(ns, NAME)) > 0);
    }
    single.stop().await;
}
