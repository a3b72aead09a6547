//! One connector per company. Two connectors whose credentials reach one company re-link each
//! other's accounts every sync, so a connector **claims** its company before its first write,
//! and only the claim's holder writes.
//!
//! A claim is a coordination.k8s.io **Lease in the operator's namespace**, one per company: its
//! name is derived from a hash of the company key (the string the target names its company by:
//! the Password Boss company id), its `holderIdentity` is the holding connector's uid, and its
//! annotations name the holder (`namespace/name`) and its creation time. Tenants have no access
//! to that namespace, so nothing they can write — a connector's status, or the field manager
//! that wrote it — takes part in the decision; the connectors themselves are read from the
//! watched stores (uid, `metadata.creationTimestamp`, `spec`), which no tenant can forge for
//! another's connector.
//!
//! The **older** connector wins (`creationTimestamp`): a claim held by a connector that still
//! writes (in the stores, neither suspended nor dry-run) and is not younger holds the sync
//! — one created in the same second is not younger: timestamps have whole seconds, and a
//! random uid must not let a newer connector displace one that already wrote —
//! (`Ready=False/CompanyConflict`, naming that connector); a claim held by a younger one, by a
//! connector that writes no more, or by one that is gone, is taken over. So a younger holder is
//! displaced only when the older one claims. A connector releases its claims when it is deleted
//! and its old company's claim when its company changes; a claim left behind (the operator was
//! down) is taken over by the next connector that reaches the company.
//!
//! The claims are read from one watch per process (every Lease with the holder-uid label), not
//! per sync: holders are judged, and a connector's claims found to release, from that cache. It
//! may lag; every write is conditional on the claim's resourceVersion and a conflict is judged
//! again from a fresh GET, so no decision rests on the cache being current.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, ResourceExt};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::api_error::api_message;
use super::reconcile::Watched;
use super::watch_retry::retried;
use crate::resources::{AzureAdConnector, CompanyRef};
use crate::sync::ConnectorKey;
use crate::sync::company::CompanyGuard;
use crate::telemetry::server::Readiness;

/// Label on every claim: the holder's uid (to find and release a connector's claims).
pub const LABEL_CLAIM_HOLDER_UID: &str = "passwordboss.com/company-claim-holder-uid";
/// Annotation on a claim: the company key it is the claim of.
pub const ANNOTATION_CLAIM_COMPANY: &str = "passwordboss.com/company";
/// Annotation on a claim: the holder, `namespace/name`.
pub const ANNOTATION_CLAIM_HOLDER: &str = "passwordboss.com/holder";
/// Annotation on a claim: the holder's `metadata.creationTimestamp` (RFC 3339).
pub const ANNOTATION_CLAIM_HOLDER_CREATED: &str = "passwordboss.com/holder-created";
/// Prefix of every claim's name; the rest is a hash of the company key.
pub const CLAIM_NAME_PREFIX: &str = "pbconnector-company-";

/// How long a claim written by this process may take to show in the claims cache before the
/// sync goes on without it. The cache only lags (the write itself succeeded), so this bounds a
/// wait that ends at the next watch event in practice; going on is safe, every write being
/// conditional on the claim's resourceVersion.
const CAUGHT_UP_WITHIN: Duration = Duration::from_secs(10);

/// A claim is retried this often when another sync changed it meanwhile.
const MAX_CLAIM_CONFLICTS: usize = 4;

/// The name of the claim (Lease) of the company whose key is `company_key`: a fixed prefix and
/// the first 128 bits of its SHA-256, so any key (an id, a URL) makes a valid, fixed-length name.
pub fn claim_name(company_key: &str) -> String {
    let digest = Sha256::digest(company_key.as_bytes());
    format!("{CLAIM_NAME_PREFIX}{}", hex::encode(&digest[..16]))
}

/// A connector's place in line: older first, then by uid.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seniority {
    /// `metadata.creationTimestamp` (missing: newest of all).
    pub created: Timestamp,
    pub uid: String,
}

/// A connector that may claim a company.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimant {
    pub seniority: Seniority,
    pub key: ConnectorKey,
}

impl Claimant {
    pub fn of(connector: &AzureAdConnector) -> Self {
        Self {
            seniority: Seniority {
                created: connector
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map_or(Timestamp::MAX, |t| t.0),
                uid: connector.metadata.uid.clone().unwrap_or_default(),
            },
            key: ConnectorKey::new(
                connector.namespace().unwrap_or_default(),
                connector.name_any(),
            ),
        }
    }
}

/// Why a sync is held: an older connector that writes holds the claim on the same company.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{holder} reaches the same Password Boss company, {} ({}), and is older; this connector \
     changes nothing in Password Boss while both do. Give this connector the token of its own \
     company, or delete one of the two connectors",
    company.name,
    company.id
)]
pub struct Held {
    /// The older connector (`namespace/name`).
    pub holder: ConnectorKey,
    pub company: CompanyRef,
}

/// Why a sync could not claim its company.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error(transparent)]
    Held(#[from] Held),
    #[error(
        "nothing was written: the claim on company {company} (Lease {namespace}/{lease}) could \
         not be read or written: {message}; check that the operator may get, list, watch, \
         create, update and delete leases (coordination.k8s.io) in namespace {namespace} (the Helm \
         chart's RBAC grants it)"
    )]
    Api {
        company: String,
        namespace: String,
        lease: String,
        message: String,
    },
    #[error(
        "nothing was written: the claim on company {company} (Lease {namespace}/{lease}) changed \
         {MAX_CLAIM_CONFLICTS} times while this sync took it; the next sync tries again"
    )]
    Contended {
        company: String,
        namespace: String,
        lease: String,
    },
}

/// Who holds a claim, as the registry judges it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Holder {
    seniority: Seniority,
    key: ConnectorKey,
    /// Whether it still writes: in the stores, neither suspended nor dry-run.
    writes: bool,
}

/// The watched stores, and whether each has been listed once.
struct Scopes {
    stores: Vec<Store<Watched>>,
    listed: Arc<Vec<Readiness>>,
}

/// The claim a connector took in this process (to release it).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Taken {
    uid: String,
    lease: String,
}

/// Every claim in the claims namespace, kept by one watch (a LIST, then a WATCH) for the whole
/// process, so a sync judges its company's claim without a request.
struct ClaimCache {
    store: Store<Lease>,
    /// Counts the watch's events; `true` in `.1` once the first list is complete.
    events: watch::Receiver<(u64, bool)>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ClaimCache {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ClaimCache {
    /// Starts the watch of the claims in `leases`' namespace: every Lease with the holder-uid
    /// label (every claim has carried it), retried as every other watch (`watch_retry`).
    fn start(leases: Api<Lease>) -> Self {
        let (store, writer) = reflector::store::<Lease>();
        let (seen, events) = watch::channel((0_u64, false));
        let config = watcher::Config::default()
            .labels(LABEL_CLAIM_HOLDER_UID)
            .any_semantic();
        let stream = reflector(
            writer,
            retried("company claims", watcher(leases, config)).modify(|lease| {
                lease.managed_fields_mut().clear();
            }),
        );
        let task = tokio::spawn(stream.for_each(move |event| {
            let init_done = matches!(event, Ok(watcher::Event::InitDone));
            seen.send_modify(|(count, listed)| {
                *count += 1;
                *listed |= init_done;
            });
            std::future::ready(())
        }));
        Self {
            store,
            events,
            task,
        }
    }

    fn listed(&self) -> bool {
        self.events.borrow().1
    }

    /// Waits until the first list is complete, so every existing claim is known.
    async fn wait_listed(&self) {
        let mut events = self.events.clone();
        // An error: the watch task ended (the registry is going away); the cache stays empty
        // and every write still fails on a claim that exists.
        let _ = events.wait_for(|(_, listed)| *listed).await;
    }

    /// The cached claim named `name`.
    fn get(&self, name: &str, namespace: &str) -> Option<Lease> {
        self.store
            .get(&ObjectRef::new(name).within(namespace))
            .map(|lease| (*lease).clone())
    }

    /// Waits (at most [`CAUGHT_UP_WITHIN`]) until the cache no longer shows claim `name` at
    /// `before` (its resourceVersion before this process wrote it; `None`: absent), so this
    /// process's next judgement sees its own write.
    async fn caught_up(&self, name: &str, namespace: &str, before: Option<&str>) {
        let mut events = self.events.clone();
        let changed = events.wait_for(|_| {
            let now = self.get(name, namespace);
            now.as_ref()
                .and_then(|l| l.metadata.resource_version.as_deref())
                != before
        });
        if tokio::time::timeout(CAUGHT_UP_WITHIN, changed)
            .await
            .is_err()
        {
            tracing::warn!(lease = %name, "the company claims cache has not shown this process's write yet; going on (every claim write is conditional)");
        }
    }
}

/// Which connector may write to which company, through the claims in the operator's namespace.
pub struct CompanyRegistry {
    leases: Api<Lease>,
    namespace: String,
    scopes: OnceLock<Scopes>,
    /// The claims, watched from the first use on.
    claims: OnceLock<ClaimCache>,
    /// The claim each connector took in this process.
    taken: Mutex<BTreeMap<ConnectorKey, Taken>>,
}

impl fmt::Debug for CompanyRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompanyRegistry")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl CompanyRegistry {
    /// Claims live in `namespace` (the operator's own).
    pub fn new(client: Client, namespace: &str) -> Self {
        Self {
            leases: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            scopes: OnceLock::new(),
            claims: OnceLock::new(),
            taken: Mutex::default(),
        }
    }

    /// Where the claims live.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Judges holders from the connectors in `stores` (one per watched scope; `listed[i]` once
    /// store `i` has been listed), and starts watching the claims. Set once, before the
    /// controller runs. Without stores every holder counts as writing, as its claim says.
    /// Needs a Tokio runtime.
    pub fn watch(&self, stores: Vec<Store<Watched>>, listed: Arc<Vec<Readiness>>) {
        if self.scopes.set(Scopes { stores, listed }).is_err() {
            tracing::error!("the company registry was given its stores twice; the first are kept");
        }
        self.claims();
    }

    /// Whether every watched scope and the claims have been listed (so every existing connector
    /// and claim is known). Stores not given and claims not watched yet (no `watch`) count as
    /// listed; a claim itself waits for the claims' first list in any case.
    pub fn listed(&self) -> bool {
        self.scopes
            .get()
            .is_none_or(|s| s.listed.iter().all(Readiness::is_ready))
            && self.claims.get().is_none_or(ClaimCache::listed)
    }

    /// The claims cache, its watch started on the first call (in a Tokio runtime).
    fn claims(&self) -> &ClaimCache {
        self.claims
            .get_or_init(|| ClaimCache::start(self.leases.clone()))
    }

    /// The guard of one sync of `connector`: it claims the company (a dry run only checks).
    pub fn guard(self: &Arc<Self>, connector: &AzureAdConnector) -> CompanyGuard {
        let me = Claimant::of(connector);
        let writes = !connector.spec.dry_run;
        let registry = self.clone();
        CompanyGuard::new(move |company| {
            let registry = registry.clone();
            let me = me.clone();
            async move {
                registry
                    .claim(&me, &company, writes)
                    .await
                    .map_err(|e| e.to_string())
            }
        })
    }

    /// Claims `company` for `me`, or says who holds it. `writes: false` (a dry run) only
    /// checks: it is held by an older writer, and takes no claim.
    pub async fn claim(
        &self,
        me: &Claimant,
        company: &CompanyRef,
        writes: bool,
    ) -> Result<(), ClaimError> {
        let lease = claim_name(&company.id);
        let api_error = |e: kube::Error| ClaimError::Api {
            company: company.id.clone(),
            namespace: self.namespace.clone(),
            lease: lease.clone(),
            message: api_message(&e),
        };
        let claims = self.claims();
        claims.wait_listed().await;
        // The first judgement is from the cache; after a conflict, from a fresh read.
        let mut fresh = false;
        for _ in 0..MAX_CLAIM_CONFLICTS {
            let existing = if fresh {
                self.leases.get_opt(&lease).await.map_err(api_error)?
            } else {
                claims.get(&lease, &self.namespace)
            };
            let before = existing
                .as_ref()
                .and_then(|l| l.metadata.resource_version.clone());
            let written = match existing {
                Some(current) => {
                    let holder =
                        holder_of(&current, self.scopes.get().map(|s| s.stores.as_slice()));
                    if holder.seniority.uid == me.seniority.uid {
                        self.taken(me, &lease).await;
                        return Ok(());
                    }
                    if holder.writes && holder.seniority.created <= me.seniority.created {
                        let held = Held {
                            holder: holder.key,
                            company: company.clone(),
                        };
                        tracing::info!(holder = %held.holder, company = %company.id, "held: an older connector holds the claim on the same company");
                        return Err(held.into());
                    }
                    if !writes {
                        return Ok(());
                    }
                    tracing::info!(previous = %holder.key, company = %company.id, "taking over the company claim of a younger connector, or of one that writes no more");
                    let mut next = claim_object(&lease, me, company);
                    next.metadata.resource_version = current.metadata.resource_version.clone();
                    match self
                        .leases
                        .replace(&lease, &PostParams::default(), &next)
                        .await
                    {
                        // Deleted meanwhile (the cache lagged): judge it again.
                        Err(kube::Error::Api(status)) if status.code == 404 => {
                            fresh = true;
                            continue;
                        }
                        other => other,
                    }
                }
                None if !writes => return Ok(()),
                None => {
                    self.leases
                        .create(&PostParams::default(), &claim_object(&lease, me, company))
                        .await
                }
            };
            match written {
                Ok(_) => {
                    claims
                        .caught_up(&lease, &self.namespace, before.as_deref())
                        .await;
                    self.taken(me, &lease).await;
                    return Ok(());
                }
                // Another sync created or changed the claim meanwhile (or the cache lagged):
                // judge it again.
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    fresh = true;
                    continue;
                }
                Err(e) => return Err(api_error(e)),
            }
        }
        Err(ClaimError::Contended {
            company: company.id.clone(),
            namespace: self.namespace.clone(),
            lease,
        })
    }

    /// Releases the claims of a deleted connector (the ones it took in this process; one left
    /// from before a restart is taken over by the next claimant, its holder being gone).
    pub fn forget(self: &Arc<Self>, key: &ConnectorKey) {
        let Some(taken) = self.lock().remove(key) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let registry = self.clone();
        runtime.spawn(async move { registry.release(&taken.uid, None).await });
    }

    /// Records that `me` holds `lease`; when that is news (a first claim in this process, or a
    /// new company), releases every other claim `me` holds.
    async fn taken(&self, me: &Claimant, lease: &str) {
        let now = Taken {
            uid: me.seniority.uid.clone(),
            lease: lease.to_owned(),
        };
        let before = self.lock().insert(me.key.clone(), now.clone());
        if before.as_ref() != Some(&now) {
            self.release(&now.uid, Some(lease)).await;
        }
    }

    /// Deletes the claims held by `uid`, except `keep`, as the claims cache shows them; each
    /// only if it is unchanged since (a claim just taken over by another connector stays).
    async fn release(&self, uid: &str, keep: Option<&str>) {
        let held = self.claims().store.state_filter(|lease| {
            lease
                .labels()
                .get(LABEL_CLAIM_HOLDER_UID)
                .is_some_and(|label| label == uid)
        });
        for lease in held {
            let name = lease.name_any();
            if keep == Some(name.as_str()) || lease_holder_uid(&lease) != Some(uid) {
                continue;
            }
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: lease.metadata.uid.clone(),
                    resource_version: lease.metadata.resource_version.clone(),
                }),
                ..DeleteParams::default()
            };
            match self.leases.delete(&name, &params).await {
                Ok(_) => tracing::info!(lease = %name, "company claim released"),
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                Err(e) => {
                    tracing::warn!(lease = %name, error = %api_message(&e), "cannot release a company claim; the next connector of that company takes it over")
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<ConnectorKey, Taken>> {
        self.taken.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Who holds `lease`: the connector with its holder's uid in `stores`, judged by what the stores
/// say of it; from the claim itself when nothing is watched (`None`). Gone from the stores:
/// writes no more.
fn holder_of(lease: &Lease, stores: Option<&[Store<Watched>]>) -> Holder {
    let uid = lease_holder_uid(lease).unwrap_or_default().to_owned();
    let annotations = lease.annotations();
    let recorded = Holder {
        seniority: Seniority {
            created: annotations
                .get(ANNOTATION_CLAIM_HOLDER_CREATED)
                .and_then(|t| t.parse().ok())
                .unwrap_or(Timestamp::MAX),
            uid: uid.clone(),
        },
        key: annotations
            .get(ANNOTATION_CLAIM_HOLDER)
            .and_then(|k| k.split_once('/'))
            .map_or_else(
                || ConnectorKey::new("", ""),
                |(ns, name)| ConnectorKey::new(ns, name),
            ),
        writes: !uid.is_empty(),
    };
    let Some(stores) = stores else {
        return recorded;
    };
    let found = stores.iter().flat_map(Store::state).find_map(|object| {
        let connector = object.0.as_ref().ok()?;
        (connector.metadata.uid.as_deref() == Some(uid.as_str())).then(|| {
            let claimant = Claimant::of(connector);
            Holder {
                seniority: claimant.seniority,
                key: claimant.key,
                writes: !connector.spec.suspend && !connector.spec.dry_run,
            }
        })
    });
    found.unwrap_or(Holder {
        writes: false,
        ..recorded
    })
}

fn lease_holder_uid(lease: &Lease) -> Option<&str> {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
        .filter(|uid| !uid.is_empty())
}

/// The claim of `company` by `me`.
fn claim_object(name: &str, me: &Claimant, company: &CompanyRef) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(BTreeMap::from([
                (
                    "app.kubernetes.io/managed-by".to_owned(),
                    "pbconnector".to_owned(),
                ),
                (LABEL_CLAIM_HOLDER_UID.to_owned(), me.seniority.uid.clone()),
            ])),
            annotations: Some(BTreeMap::from([
                (ANNOTATION_CLAIM_COMPANY.to_owned(), company.id.clone()),
                (ANNOTATION_CLAIM_HOLDER.to_owned(), me.key.to_string()),
                (
                    ANNOTATION_CLAIM_HOLDER_CREATED.to_owned(),
                    me.seniority.created.to_string(),
                ),
            ])),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(me.seniority.uid.clone()),
            acquire_time: Some(MicroTime(Timestamp::now())),
            ..LeaseSpec::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_names_are_valid_fixed_length_and_distinct() {
        let a = claim_name("c_1");
        let url = claim_name("https://scim.example.com/scim/v2");
        assert_eq!(a, claim_name("c_1"), "stable");
        assert_ne!(a, claim_name("c_2"));
        for name in [&a, &url] {
            assert!(name.starts_with(CLAIM_NAME_PREFIX), "{name}");
            assert_eq!(name.len(), CLAIM_NAME_PREFIX.len() + 32);
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name}"
            );
        }
    }

    fn seniority(seconds: i64, uid: &str) -> Seniority {
        Seniority {
            created: Timestamp::from_second(seconds).unwrap(),
            uid: uid.into(),
        }
    }

    #[test]
    fn older_first_then_by_uid() {
        assert!(seniority(100, "z") < seniority(200, "a"), "older wins");
        assert!(seniority(100, "a") < seniority(100, "b"), "ties by uid");
    }

    #[test]
    fn a_claim_names_its_holder_and_is_read_back() {
        let me = Claimant {
            seniority: seniority(100, "uid-1"),
            key: ConnectorKey::new("msp-a", "contoso"),
        };
        let company = CompanyRef {
            id: "c_1".into(),
            name: "Contoso".into(),
        };
        let lease = claim_object(&claim_name("c_1"), &me, &company);
        assert_eq!(lease_holder_uid(&lease), Some("uid-1"));
        assert_eq!(lease.labels()[LABEL_CLAIM_HOLDER_UID], "uid-1");
        let holder = holder_of(&lease, None);
        assert_eq!(
            holder,
            Holder {
                seniority: me.seniority.clone(),
                key: me.key.clone(),
                writes: true
            },
            "without stores, as the claim says"
        );
        let error = ClaimError::from(Held {
            holder: me.key,
            company,
        });
        assert_eq!(
            error.to_string(),
            "msp-a/contoso reaches the same Password Boss company, Contoso (c_1), and is older; \
             this connector changes nothing in Password Boss while both do. Give this connector \
             the token of its own company, or delete one of the two connectors"
        );
    }

    fn watched(name: &str, uid: &str, created: i64, change: fn(&mut AzureAdConnector)) -> Watched {
        let mut c = AzureAdConnector::new(
            name,
            serde_json::from_value(serde_json::json!({
                "azure": {"tenantId": "contoso.onmicrosoft.com",
                          "clientId": "00000000-0000-0000-0000-000000000000",
                          "clientSecretRef": {"name": "entra-app", "key": "client-secret"}},
                "passwordBoss": {"tokenSecretRef": {"name": "passwordboss", "key": "token"}},
                "syncGroup": {"displayName": "Password Boss Users"}
            }))
            .unwrap(),
        );
        c.metadata.namespace = Some("ns".into());
        c.metadata.uid = Some(uid.into());
        c.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            Timestamp::from_second(created).unwrap(),
        ));
        change(&mut c);
        kube::core::DeserializeGuard(Ok(c))
    }

    fn store(objects: Vec<Watched>) -> Store<Watched> {
        let (store, mut writer) = kube::runtime::reflector::store::<Watched>();
        for object in objects {
            writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(object));
        }
        store
    }

    #[test]
    fn the_stores_judge_a_holder_not_its_claim() {
        // The claim says "created at 100", the store knows better.
        let claim = claim_object(
            &claim_name("c_1"),
            &Claimant {
                seniority: seniority(100, "uid-h"),
                key: ConnectorKey::new("elsewhere", "old-name"),
            },
            &CompanyRef {
                id: "c_1".into(),
                name: "Contoso".into(),
            },
        );
        let writing = store(vec![watched("holder", "uid-h", 300, |_| {})]);
        assert_eq!(
            holder_of(&claim, Some(&[writing])),
            Holder {
                seniority: seniority(300, "uid-h"),
                key: ConnectorKey::new("ns", "holder"),
                writes: true,
            }
        );
        for change in [
            |c: &mut AzureAdConnector| c.spec.suspend = true,
            |c: &mut AzureAdConnector| c.spec.dry_run = true,
        ] {
            let resting = store(vec![watched("holder", "uid-h", 300, change)]);
            assert!(
                !holder_of(&claim, Some(&[resting])).writes,
                "a suspended or dry-run holder writes no more"
            );
        }
        let gone = store(vec![watched("other", "uid-o", 50, |_| {})]);
        let holder = holder_of(&claim, Some(&[gone]));
        assert!(!holder.writes, "a deleted holder writes no more");
        assert_eq!(holder.key, ConnectorKey::new("elsewhere", "old-name"));
    }
}
