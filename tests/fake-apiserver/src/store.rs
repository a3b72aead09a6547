//! Object storage: one global, increasing `resourceVersion`, the retained event history that
//! watches replay from, and the broadcast that live watches follow. Pure data; the verbs' rules
//! live in `ops`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::apply::Managers;
use crate::catalog::{Catalog, ResourceType};
use crate::selector::Filter;

/// Where one object lives: group, plural, namespace (empty when cluster-scoped) and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjKey {
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub name: String,
}

impl ObjKey {
    pub fn new(rt: &ResourceType, namespace: Option<&str>, name: &str) -> Self {
        let (group, plural) = rt.storage_key();
        Self {
            group,
            plural,
            namespace: namespace.unwrap_or_default().to_owned(),
            name: name.to_owned(),
        }
    }

    pub fn namespace_of(name: &str) -> Self {
        Self {
            group: String::new(),
            plural: "namespaces".into(),
            namespace: String::new(),
            name: name.to_owned(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One committed change.
#[derive(Clone, Debug)]
pub struct Event {
    pub rv: u64,
    pub key: ObjKey,
    pub kind: EventType,
    pub object: Value,
    /// The object before the change (for selector transitions), absent on ADDED.
    pub previous: Option<Value>,
}

/// How many events are kept for watches to resume from.
const DEFAULT_HISTORY: usize = 10_000;

/// The whole server state, behind one mutex.
pub struct Store {
    rv: u64,
    objects: BTreeMap<ObjKey, Value>,
    history: VecDeque<Arc<Event>>,
    /// Watches from a resourceVersion below this get 410 Gone.
    oldest_valid_rv: u64,
    max_history: usize,
    pub catalog: Catalog,
    /// Server-side apply: last applied configuration per manager, per object and subresource.
    pub managers: HashMap<(ObjKey, bool), Managers>,
    tx: broadcast::Sender<Arc<Event>>,
}

impl Default for Store {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(4096);
        Self {
            rv: 1,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            oldest_valid_rv: 0,
            max_history: DEFAULT_HISTORY,
            catalog: Catalog::default(),
            managers: HashMap::new(),
            tx,
        }
    }
}

/// What a watch starts with, taken atomically with its subscription.
pub struct WatchStart {
    /// Events to send first (replayed history or synthetic ADDED events).
    pub initial: Vec<Arc<Event>>,
    pub live: broadcast::Receiver<Arc<Event>>,
    /// The resourceVersion the watch is at once `initial` is sent.
    pub rv: u64,
}

/// The watch's resourceVersion is older than the retained history.
#[derive(Debug)]
pub struct Expired {
    pub requested: u64,
    pub oldest: u64,
}

impl Store {
    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    pub fn get(&self, key: &ObjKey) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Objects of one collection in (namespace, name) order, optionally in one namespace.
    pub fn collection<'a>(
        &'a self,
        group: &'a str,
        plural: &'a str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a ObjKey, &'a Value)> + 'a {
        self.objects.iter().filter(move |(k, _)| {
            k.group == group && k.plural == plural && namespace.is_none_or(|ns| k.namespace == ns)
        })
    }

    /// Stores (or with `Deleted`, removes) an object under a new resourceVersion and tells the
    /// watches. Returns the object as stored.
    pub fn commit(&mut self, key: ObjKey, kind: EventType, mut object: Value) -> Value {
        self.rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let previous = match kind {
            EventType::Deleted => self.objects.remove(&key),
            _ => self.objects.insert(key.clone(), object.clone()),
        };
        if kind == EventType::Deleted {
            self.managers.retain(|(k, _), _| *k != key);
        }
        let event = Arc::new(Event {
            rv: self.rv,
            key,
            kind,
            object: object.clone(),
            previous,
        });
        self.history.push_back(event.clone());
        while self.history.len() > self.max_history {
            if let Some(dropped) = self.history.pop_front() {
                self.oldest_valid_rv = dropped.rv;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(event);
        object
    }

    /// Forgets the whole event history: every resourceVersion issued so far becomes too old to
    /// watch from (410 Gone), as after an etcd compaction.
    pub fn compact(&mut self) {
        self.rv += 1;
        self.history.clear();
        self.oldest_valid_rv = self.rv;
    }

    /// Whether a list continue token or watch from `rv` can still be served.
    pub fn check_not_expired(&self, rv: u64) -> Result<(), Expired> {
        if rv < self.oldest_valid_rv {
            Err(Expired {
                requested: rv,
                oldest: self.oldest_valid_rv,
            })
        } else {
            Ok(())
        }
    }

    /// Subscribes a watch. `from`: `None` starts with synthetic ADDED events for every current
    /// object (unset or `0` resourceVersion, or `sendInitialEvents`); `Some(n)` replays the
    /// retained events after `n`.
    pub fn watch(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        filter: &Filter,
        from: Option<u64>,
    ) -> Result<WatchStart, Expired> {
        let (group, plural) = rt.storage_key();
        let live = self.tx.subscribe();
        let initial = match from {
            None => self
                .collection(&group, &plural, namespace)
                .filter(|(_, o)| filter.matches(o))
                .map(|(k, o)| {
                    Arc::new(Event {
                        rv: self.rv,
                        key: k.clone(),
                        kind: EventType::Added,
                        object: o.clone(),
                        previous: None,
                    })
                })
                .collect(),
            Some(n) => {
                self.check_not_expired(n)?;
                self.history
                    .iter()
                    .filter(|e| e.rv > n)
                    .filter(|e| {
                        e.key.group == group
                            && e.key.plural == plural
                            && namespace.is_none_or(|ns| e.key.namespace == ns)
                    })
                    .cloned()
                    .collect()
            }
        };
        Ok(WatchStart {
            initial,
            live,
            rv: self.rv,
        })
    }
}
