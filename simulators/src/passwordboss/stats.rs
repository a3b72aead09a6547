//! Request counting: reads and writes by status, and connections dropped after a write.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Requests the simulator received, by kind and answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// `GET` requests by status.
    pub reads_by_status: BTreeMap<u16, u64>,
    /// `POST`, `PATCH`, `PUT` and `DELETE` requests by status (dropped ones are not here).
    pub writes_by_status: BTreeMap<u16, u64>,
    /// Writes applied whose connection was then dropped without an answer.
    pub dropped: u64,
    /// When the last write request arrived (before any injected latency or handling).
    pub last_write_arrived: Option<std::time::Instant>,
}

impl RequestStats {
    pub fn reads(&self) -> u64 {
        self.reads_by_status.values().sum()
    }

    /// All write requests, answered or dropped.
    pub fn writes(&self) -> u64 {
        self.writes_by_status.values().sum::<u64>() + self.dropped
    }

    /// Every request received.
    pub fn total(&self) -> u64 {
        self.reads() + self.writes()
    }

    /// Writes the server applied (2xx answers and dropped-after-apply).
    pub fn applied_writes(&self) -> u64 {
        self.writes_by_status
            .iter()
            .filter(|(s, _)| (200..300).contains(*s))
            .map(|(_, n)| n)
            .sum::<u64>()
            + self.dropped
    }

    /// Requests answered with `status`, reads and writes.
    pub fn with_status(&self, status: u16) -> u64 {
        self.reads_by_status.get(&status).copied().unwrap_or(0)
            + self.writes_by_status.get(&status).copied().unwrap_or(0)
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Counters {
    stats: Arc<Mutex<RequestStats>>,
}

impl Counters {
    pub fn record(&self, write: bool, status: u16) {
        let mut s = self.stats.lock().expect("stats lock");
        let map = if write {
            &mut s.writes_by_status
        } else {
            &mut s.reads_by_status
        };
        *map.entry(status).or_default() += 1;
    }

    /// Called as a request arrives, before it is delayed or handled.
    pub fn arrived(&self, write: bool) {
        if write {
            self.stats.lock().expect("stats lock").last_write_arrived =
                Some(std::time::Instant::now());
        }
    }

    pub fn record_dropped(&self) {
        self.stats.lock().expect("stats lock").dropped += 1;
    }

    pub fn snapshot(&self) -> RequestStats {
        self.stats.lock().expect("stats lock").clone()
    }

    pub fn reset(&self) {
        *self.stats.lock().expect("stats lock") = RequestStats::default();
    }
}
