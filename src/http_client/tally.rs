//! HTTP requests counted by response status, shared by a client and read by the sync report.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Status recorded for a request that got no response (connection error, timeout).
pub const NO_RESPONSE: u16 = 0;

/// Requests sent, and their answers by HTTP status.
#[derive(Debug, Default)]
pub struct RequestTally {
    sent: AtomicU64,
    by_status: Mutex<BTreeMap<u16, u64>>,
}

impl RequestTally {
    /// A request is about to be sent.
    pub fn sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    /// A request was answered with `status` (or `NO_RESPONSE`).
    pub fn answered(&self, status: u16) {
        let mut map = self.by_status.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry(status).or_default() += 1;
    }

    /// Requests sent so far; monotonic.
    pub fn total(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Answers so far by status; monotonic per status.
    pub fn by_status(&self) -> BTreeMap<u16, u64> {
        self.by_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// `now - before`, per status (both monotonic).
pub fn status_delta(now: &BTreeMap<u16, u64>, before: &BTreeMap<u16, u64>) -> BTreeMap<u16, u32> {
    now.iter()
        .map(|(status, n)| {
            (
                *status,
                (n - before.get(status).copied().unwrap_or(0)) as u32,
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}
