//! Per-tenant pacing shared by every client of one tenant: a bound on concurrent requests and a
//! common "not before" instant set by any `Retry-After`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

/// Default concurrent Graph requests per tenant.
pub const DEFAULT_TENANT_CONCURRENCY: usize = 4;

pub struct TenantPacer {
    permits: Semaphore,
    not_before: Mutex<Option<Instant>>,
}

impl Default for TenantPacer {
    fn default() -> Self {
        Self::new(DEFAULT_TENANT_CONCURRENCY)
    }
}

impl TenantPacer {
    pub fn new(max_concurrent: usize) -> Self {
        Self {
            permits: Semaphore::new(max_concurrent.max(1)),
            not_before: Mutex::new(None),
        }
    }

    /// Waits until no `Retry-After` holds the tenant back and a request slot is free.
    pub(crate) async fn acquire(&self) -> SemaphorePermit<'_> {
        loop {
            if let Some(wait) = self.wait() {
                // A Retry-After holds the tenant: the sync's slot is given back meanwhile.
                crate::slots::waiting(tokio::time::sleep(wait)).await;
                continue;
            }
            let permit = self
                .permits
                .acquire()
                .await
                .expect("the pacer's semaphore is never closed");
            if self.wait().is_none() {
                return permit;
            }
        }
    }

    /// Holds every request to this tenant back for `delay`.
    pub fn defer(&self, delay: Duration) {
        let until = Instant::now() + delay;
        let mut nb = self.not_before.lock().unwrap_or_else(|e| e.into_inner());
        if nb.is_none_or(|t| t < until) {
            *nb = Some(until);
        }
    }

    /// Time left before requests may go out again.
    pub fn wait(&self) -> Option<Duration> {
        let nb = *self.not_before.lock().unwrap_or_else(|e| e.into_inner());
        nb.and_then(|t| t.checked_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }
}

/// Hands out one shared pacer per app in a tenant of a Graph service: Graph throttles an app
/// within a tenant within one cloud, so the same tenant id at two Graph endpoints (a national
/// cloud, a simulator), or two apps in one tenant (an MSP's shared app beside a customer's own),
/// have budgets of their own.
#[derive(Default)]
pub struct PacerRegistry {
    pacers: Mutex<HashMap<(String, String, String), Weak<TenantPacer>>>,
}

impl PacerRegistry {
    pub fn for_tenant(
        &self,
        graph_endpoint: &str,
        tenant: &str,
        client_id: &str,
    ) -> Arc<TenantPacer> {
        let mut map = self.pacers.lock().unwrap_or_else(|e| e.into_inner());
        let key = (
            graph_endpoint.trim_end_matches('/').to_ascii_lowercase(),
            tenant.to_ascii_lowercase(),
            client_id.to_ascii_lowercase(),
        );
        if let Some(p) = map.get(&key).and_then(Weak::upgrade) {
            return p;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let p = Arc::new(TenantPacer::default());
        map.insert(key, Arc::downgrade(&p));
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_shares_per_app_in_a_tenant() {
        let r = PacerRegistry::default();
        const GRAPH: &str = "https://graph.microsoft.com";
        const APP: &str = "11111111-1111-1111-1111-111111111111";
        let a = r.for_tenant(GRAPH, "Contoso.onmicrosoft.com", APP);
        let b = r.for_tenant(
            "https://graph.microsoft.com/",
            "contoso.onmicrosoft.com",
            APP,
        );
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &r.for_tenant(GRAPH, "fabrikam", APP)));
        let us_gov = r.for_tenant("https://graph.microsoft.us", "contoso.onmicrosoft.com", APP);
        assert!(!Arc::ptr_eq(&a, &us_gov), "another cloud, another budget");
        let shared_app = r.for_tenant(
            GRAPH,
            "contoso.onmicrosoft.com",
            "22222222-2222-2222-2222-222222222222",
        );
        assert!(!Arc::ptr_eq(&a, &shared_app), "another app, another budget");
        a.defer(Duration::from_secs(5));
        assert!(b.wait().unwrap() > Duration::from_secs(4));
    }
}
