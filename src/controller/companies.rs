//! One connector per Password Boss company. Two connectors whose tokens reach one company
//! re-link each other's accounts every sync; the controller (a single leader) lets the **older**
//! one (by `metadata.creationTimestamp`, ties by namespace/name) write, and holds every newer one
//! before its first write (`Ready=False/CompanyConflict`).
//!
//! Who reaches which company comes from two places: what each sync of this process learned
//! (`GET /v1/connector`, read by every sync anyway), and, for connectors this process has not
//! synced yet, `status.company` in the watched stores — so a restarted operator holds the same
//! connector before it writes anything. Only connectors that write hold a company: a suspended
//! or dry-run connector holds none. A connector deleted from the store holds nothing any more, so
//! the newer one syncs at its next sync.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::reflector::Store;

use super::reconcile::Watched;
use crate::resources::{AzureAdConnector, CompanyRef};
use crate::sync::ConnectorKey;
use crate::sync::company::CompanyGuard;
use crate::telemetry::server::Readiness;

/// A connector's place in line: older first, then by namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seniority {
    /// `metadata.creationTimestamp` (missing: newest of all).
    pub created: Timestamp,
    pub key: ConnectorKey,
}

impl Seniority {
    pub fn of(connector: &AzureAdConnector) -> Self {
        Self {
            created: connector
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(Timestamp::MAX, |t| t.0),
            key: ConnectorKey::new(
                connector.namespace().unwrap_or_default(),
                connector.name_any(),
            ),
        }
    }
}

/// Another connector, as far as the company decision goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub seniority: Seniority,
    /// The company it reaches, when known.
    pub company: Option<CompanyRef>,
    /// Whether it writes to Password Boss (neither suspended nor dry-run).
    pub writes: bool,
}

/// Why a connector is held: an older connector writes to the same company.
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

/// The oldest writing peer older than `me` that reaches `company`: the connector `me` must give
/// way to, if any.
pub fn older_writer<'a>(
    me: &Seniority,
    company: &CompanyRef,
    peers: impl IntoIterator<Item = &'a Peer>,
) -> Option<&'a Peer> {
    peers
        .into_iter()
        .filter(|p| p.writes && p.seniority < *me && p.seniority.key != me.key)
        .filter(|p| p.company.as_ref().is_some_and(|c| c.id == company.id))
        .min_by(|a, b| a.seniority.cmp(&b.seniority))
}

/// The watched stores, and whether each has been listed once.
struct Scopes {
    stores: Vec<Store<Watched>>,
    listed: Arc<Vec<Readiness>>,
}

/// Which connector may write to which company, for one run of the controller.
#[derive(Default)]
pub struct CompanyRegistry {
    /// The company each connector's last sync in this process reached (fresher than its status).
    learned: Mutex<BTreeMap<ConnectorKey, CompanyRef>>,
    scopes: OnceLock<Scopes>,
}

impl fmt::Debug for CompanyRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompanyRegistry")
            .field("learned", &self.learned())
            .finish_non_exhaustive()
    }
}

impl CompanyRegistry {
    /// Decides from the connectors in `stores` (one per watched scope; `listed[i]` once store
    /// `i` has been listed). Set once, before the controller runs.
    pub fn watch(&self, stores: Vec<Store<Watched>>, listed: Arc<Vec<Readiness>>) {
        if self.scopes.set(Scopes { stores, listed }).is_err() {
            tracing::error!("the company registry was given its stores twice; the first are kept");
        }
    }

    /// Whether every watched scope has been listed (so every existing connector is known).
    /// True when there is nothing to watch.
    pub fn listed(&self) -> bool {
        self.scopes
            .get()
            .is_none_or(|s| s.listed.iter().all(Readiness::is_ready))
    }

    /// The guard of one sync of `connector`.
    pub fn guard(self: &Arc<Self>, connector: &AzureAdConnector) -> CompanyGuard {
        let me = Seniority::of(connector);
        let registry = self.clone();
        CompanyGuard::new(move |company| {
            registry
                .admit(&me, company)
                .map_err(|held| held.to_string())
        })
    }

    /// Records that `me` reaches `company`; `Err` when an older writing connector reaches it too.
    pub fn admit(&self, me: &Seniority, company: &CompanyRef) -> Result<(), Held> {
        self.lock().insert(me.key.clone(), company.clone());
        let peers = self.peers();
        match older_writer(me, company, &peers) {
            Some(holder) => {
                let held = Held {
                    holder: holder.seniority.key.clone(),
                    company: company.clone(),
                };
                tracing::info!(holder = %held.holder, company = %company.id, "held: an older connector reaches the same Password Boss company");
                Err(held)
            }
            None => Ok(()),
        }
    }

    /// Forgets a deleted connector.
    pub fn forget(&self, key: &ConnectorKey) {
        self.lock().remove(key);
    }

    /// What this process learned, by connector.
    pub fn learned(&self) -> BTreeMap<ConnectorKey, CompanyRef> {
        self.lock().clone()
    }

    /// Every readable connector in the stores, with the company this process learned for it,
    /// else the one its status names.
    fn peers(&self) -> Vec<Peer> {
        let Some(scopes) = self.scopes.get() else {
            return Vec::new();
        };
        let learned = self.learned();
        scopes
            .stores
            .iter()
            .flat_map(Store::state)
            .filter_map(|object| {
                let connector = object.0.as_ref().ok()?;
                let seniority = Seniority::of(connector);
                let company = learned
                    .get(&seniority.key)
                    .cloned()
                    .or_else(|| connector.status.as_ref().and_then(|s| s.company.clone()));
                Some(Peer {
                    writes: !connector.spec.suspend && !connector.spec.dry_run,
                    seniority,
                    company,
                })
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<ConnectorKey, CompanyRef>> {
        self.learned.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::AzureAdConnectorStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use kube::core::DeserializeGuard;
    use kube::runtime::{reflector, watcher};

    fn company(id: &str) -> CompanyRef {
        CompanyRef {
            id: id.into(),
            name: format!("Company {id}"),
        }
    }

    fn at(seconds: i64, namespace: &str, name: &str) -> Seniority {
        Seniority {
            created: Timestamp::from_second(seconds).unwrap(),
            key: ConnectorKey::new(namespace, name),
        }
    }

    fn peer(seniority: Seniority, company_id: &str) -> Peer {
        Peer {
            seniority,
            company: Some(company(company_id)),
            writes: true,
        }
    }

    #[test]
    fn the_older_connector_keeps_the_company() {
        let older = peer(at(100, "b", "x"), "c_1");
        let newer = at(200, "a", "a");
        let held = older_writer(&newer, &company("c_1"), [&older]);
        assert_eq!(held, Some(&older), "the newer gives way, whatever its name");
        assert_eq!(
            older_writer(&older.seniority, &company("c_1"), [&peer(newer, "c_1")]),
            None,
            "the older is never held by a newer one"
        );
    }

    #[test]
    fn equal_creation_times_are_ordered_by_namespace_then_name() {
        let first = peer(at(100, "a", "z"), "c_1");
        let second = at(100, "b", "a");
        assert_eq!(
            older_writer(&second, &company("c_1"), [&first]),
            Some(&first)
        );
        let same_namespace = peer(at(100, "a", "m"), "c_1");
        assert_eq!(
            older_writer(&at(100, "a", "n"), &company("c_1"), [&same_namespace]),
            Some(&same_namespace)
        );
        assert_eq!(
            older_writer(&first.seniority, &company("c_1"), [&same_namespace]),
            Some(&same_namespace),
            "a/m is before a/z"
        );
    }

    #[test]
    fn the_oldest_of_several_is_named() {
        let oldest = peer(at(10, "n", "oldest"), "c_1");
        let middle = peer(at(20, "n", "middle"), "c_1");
        let me = at(30, "n", "me");
        assert_eq!(
            older_writer(&me, &company("c_1"), [&middle, &oldest]),
            Some(&oldest)
        );
    }

    #[test]
    fn other_companies_unknown_companies_and_non_writers_hold_nothing() {
        let me = at(200, "n", "me");
        let other = peer(at(100, "n", "other"), "c_2");
        let unknown = Peer {
            company: None,
            ..peer(at(100, "n", "unknown"), "c_1")
        };
        let suspended = Peer {
            writes: false,
            ..peer(at(100, "n", "suspended"), "c_1")
        };
        let itself = peer(at(100, "n", "me"), "c_1");
        assert_eq!(
            older_writer(
                &me,
                &company("c_1"),
                [&other, &unknown, &suspended, &itself]
            ),
            None
        );
    }

    fn connector(name: &str, created: i64, status_company: Option<&str>) -> Watched {
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
        c.metadata.creation_timestamp = Some(Time(Timestamp::from_second(created).unwrap()));
        c.status = status_company.map(|id| AzureAdConnectorStatus {
            company: Some(company(id)),
            ..Default::default()
        });
        DeserializeGuard(Ok(c))
    }

    fn registry(objects: Vec<Watched>) -> (CompanyRegistry, reflector::store::Writer<Watched>) {
        let (store, mut writer) = reflector::store::<Watched>();
        for object in objects {
            writer.apply_watcher_event(&watcher::Event::Apply(object));
        }
        let registry = CompanyRegistry::default();
        let listed = Readiness::default();
        listed.set(true);
        registry.watch(vec![store], Arc::new(vec![listed]));
        (registry, writer)
    }

    fn seniority(object: &Watched) -> Seniority {
        Seniority::of(object.0.as_ref().unwrap())
    }

    #[test]
    fn a_restart_decides_from_the_statuses_alone() {
        let older = connector("older", 100, Some("c_1"));
        let newer = connector("newer", 200, None);
        let (registry, _writer) = registry(vec![older, newer.clone()]);
        let held = registry
            .admit(&seniority(&newer), &company("c_1"))
            .unwrap_err();
        assert_eq!(held.holder, ConnectorKey::new("ns", "older"));
        let message = held.to_string();
        assert!(
            message.contains("ns/older") && message.contains("Company c_1 (c_1)"),
            "{message}"
        );
        assert_eq!(
            registry.admit(&seniority(&newer), &company("c_2")),
            Ok(()),
            "another company is free"
        );
    }

    #[test]
    fn what_a_sync_learned_outranks_a_stale_status() {
        let older = connector("older", 100, Some("c_1"));
        let newer = connector("newer", 200, None);
        let (registry, _writer) = registry(vec![older.clone(), newer.clone()]);
        // The older connector's token now reaches another company.
        registry
            .admit(&seniority(&older), &company("c_9"))
            .expect("the older is never held");
        assert_eq!(registry.admit(&seniority(&newer), &company("c_1")), Ok(()));
        // And once the older learns c_1 again, the newer is held at once.
        registry
            .admit(&seniority(&older), &company("c_1"))
            .expect("the older is never held");
        assert!(registry.admit(&seniority(&newer), &company("c_1")).is_err());
    }

    #[test]
    fn a_deleted_older_connector_releases_the_company() {
        let older = connector("older", 100, Some("c_1"));
        let newer = connector("newer", 200, None);
        let (registry, mut writer) = registry(vec![older.clone(), newer.clone()]);
        registry
            .admit(&seniority(&older), &company("c_1"))
            .expect("the older is never held");
        assert!(registry.admit(&seniority(&newer), &company("c_1")).is_err());
        writer.apply_watcher_event(&watcher::Event::Delete(older.clone()));
        assert_eq!(registry.admit(&seniority(&newer), &company("c_1")), Ok(()));
        registry.forget(&seniority(&older).key);
        assert_eq!(
            registry.learned().keys().collect::<Vec<_>>(),
            [&seniority(&newer).key]
        );
    }

    #[test]
    fn a_suspended_or_dry_run_older_connector_holds_nothing() {
        for change in [
            |c: &mut AzureAdConnector| c.spec.suspend = true,
            |c: &mut AzureAdConnector| c.spec.dry_run = true,
        ] {
            let mut older = connector("older", 100, Some("c_1"));
            change(older.0.as_mut().unwrap());
            let newer = connector("newer", 200, None);
            let (registry, _writer) = registry(vec![older, newer.clone()]);
            assert_eq!(registry.admit(&seniority(&newer), &company("c_1")), Ok(()));
        }
    }

    #[test]
    fn the_guard_checks_through_the_registry() {
        let older = connector("older", 100, Some("c_1"));
        let newer = connector("newer", 200, None);
        let (registry, _writer) = registry(vec![older, newer.clone()]);
        let registry = Arc::new(registry);
        let guard = registry.guard(newer.0.as_ref().unwrap());
        let why = guard.check(&company("c_1")).unwrap_err();
        assert!(why.contains("ns/older"), "{why}");
        assert_eq!(guard.check(&company("c_2")), Ok(()));
    }

    #[test]
    fn not_listed_until_every_scope_is() {
        let registry = CompanyRegistry::default();
        assert!(registry.listed(), "nothing to wait for");
        let (a, _) = reflector::store::<Watched>();
        let (b, _) = reflector::store::<Watched>();
        let listed = Arc::new(vec![Readiness::default(), Readiness::default()]);
        registry.watch(vec![a, b], listed.clone());
        listed[0].set(true);
        assert!(!registry.listed());
        listed[1].set(true);
        assert!(registry.listed());
    }
}
