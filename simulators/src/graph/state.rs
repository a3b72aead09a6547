//! The simulator's whole mutable state, behind one lock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::directory::Tenant;
use super::faults::Faults;

/// What a request was for, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathKind {
    Token,
    GroupList,
    Group,
    Members,
    TransitiveMembers,
    User,
    UsersDelta,
    GroupsDelta,
    /// `/directory/deletedItems/…`: the recycle bin.
    DeletedItems,
    Batch,
    Other,
}

pub(crate) struct IssuedToken {
    pub tenant: String,
    pub client_id: String,
    pub expires: Instant,
}

/// A collection being paged through `$skiptoken`s.
pub(crate) struct PageCursor {
    pub tenant: String,
    pub kind: PathKind,
    pub path: String,
    pub items: Vec<Value>,
    pub offset: usize,
    pub page_size: usize,
    /// For delta rounds: the link the last page carries.
    pub delta_link: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeltaKind {
    Users,
    Groups,
}

/// What a `$deltatoken` stands for.
#[derive(Clone, Debug)]
pub(crate) struct DeltaCursor {
    pub tenant: String,
    pub kind: DeltaKind,
    pub filter: Option<Vec<String>>,
    pub select: Option<Vec<String>>,
    pub seq: u64,
    pub expired: bool,
}

pub(crate) struct SimState {
    pub base: String,
    pub tenants: Vec<Tenant>,
    /// A tenant's place in `tenants` by its id and each domain, lowercase: a fleet of thousands
    /// of tenants is found without a scan per request.
    tenant_index: HashMap<String, usize>,
    pub seq: u64,
    pub tokens: HashMap<String, IssuedToken>,
    pub token_lifetime: Duration,
    pub pages: HashMap<String, PageCursor>,
    pub deltas: HashMap<String, DeltaCursor>,
    pub faults: Faults,
    /// (kind, status, inside a $batch) → count
    pub counts: HashMap<(PathKind, u16, bool), u64>,
    /// Token requests by the tenant the request named (lowercase), whatever the answer.
    pub token_requests: HashMap<String, u64>,
    /// Numbers the pages of an endless hostile listing.
    pub hostile_pages: std::sync::atomic::AtomicU64,
}

impl SimState {
    pub(crate) fn new(base: String) -> Self {
        Self {
            base,
            tenants: Vec::new(),
            tenant_index: HashMap::new(),
            seq: 0,
            tokens: HashMap::new(),
            token_lifetime: Duration::from_secs(3599),
            pages: HashMap::new(),
            deltas: HashMap::new(),
            faults: Faults::default(),
            counts: HashMap::new(),
            token_requests: HashMap::new(),
            hostile_pages: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Adds a tenant, found from now on by its id or any of its domains.
    pub(crate) fn add_tenant(&mut self, tenant: Tenant) {
        let at = self.tenants.len();
        for name in std::iter::once(&tenant.id).chain(&tenant.domains) {
            self.tenant_index
                .entry(name.to_ascii_lowercase())
                .or_insert(at);
        }
        self.tenants.push(tenant);
    }

    pub(crate) fn tenant(&self, name: &str) -> Option<&Tenant> {
        let at = *self.tenant_index.get(&name.to_ascii_lowercase())?;
        self.tenants.get(at).filter(|t| t.matches(name))
    }

    pub(crate) fn tenant_mut(&mut self, name: &str) -> Option<&mut Tenant> {
        let at = *self.tenant_index.get(&name.to_ascii_lowercase())?;
        self.tenants.get_mut(at).filter(|t| t.matches(name))
    }

    pub(crate) fn count(&mut self, kind: PathKind, status: u16, in_batch: bool) {
        *self.counts.entry((kind, status, in_batch)).or_default() += 1;
    }

    pub(crate) fn opaque() -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }
}
