//! Request counting: reads and writes by status, and connections dropped after a write.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
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
    /// Write requests that arrived, counted before anything else happens to them (held,
    /// delayed, refused or handled): the order of arrivals against the test's own events.
    pub writes_arrived: u64,
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

/// One write that reached its handler: what was asked and what was answered. The write log is
/// how a test tells a repeated write (the same request applied twice) from two intended changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteRecord {
    pub method: String,
    /// The path with its query, e.g. `/v1/users/u_7` or `/v1/users/u_7?keepPersonalAccount=true`.
    pub path: String,
    /// The request body as sent (JSON text; empty for a `DELETE`).
    pub body: String,
    /// The answer's status; a write applied and then dropped (`drop_*_after_apply`) has the
    /// status it would have been answered with.
    pub status: u16,
    /// Answered with the first answer to its `Idempotency-Key`, not applied again.
    pub replayed: bool,
}

impl WriteRecord {
    /// Whether the simulator applied it (a 2xx answer, or applied and dropped; not a replay).
    pub fn applied(&self) -> bool {
        (200..300).contains(&self.status) && !self.replayed
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Counters {
    stats: Arc<Mutex<RequestStats>>,
    /// Every write that reached a handler, in the order answered.
    writes: Arc<Mutex<Vec<WriteRecord>>>,
    /// The same, per bearer token; keyed by a hash, so no token sits in `Debug` output.
    by_token: Arc<Mutex<HashMap<u64, RequestStats>>>,
}

fn token_key(token: &str) -> u64 {
    let mut h = foldhash::quality::FixedState::with_seed(0).build_hasher();
    h.write(token.as_bytes());
    h.finish()
}

fn count(stats: &mut RequestStats, write: bool, status: u16) {
    let map = if write {
        &mut stats.writes_by_status
    } else {
        &mut stats.reads_by_status
    };
    *map.entry(status).or_default() += 1;
}

impl Counters {
    /// Counts one answered request, and against its bearer token when it carried one.
    pub fn record(&self, token: Option<&str>, write: bool, status: u16) {
        count(&mut self.stats.lock().expect("stats lock"), write, status);
        if let Some(token) = token {
            let mut by_token = self.by_token.lock().expect("stats lock");
            count(by_token.entry(token_key(token)).or_default(), write, status);
        }
    }

    /// What was counted against `token`.
    pub fn snapshot_for(&self, token: &str) -> RequestStats {
        self.by_token
            .lock()
            .expect("stats lock")
            .get(&token_key(token))
            .cloned()
            .unwrap_or_default()
    }

    /// Called as a request arrives, before it is delayed or handled.
    pub fn arrived(&self, write: bool) {
        if write {
            self.stats.lock().expect("stats lock").writes_arrived += 1;
        }
    }

    pub fn record_dropped(&self, token: Option<&str>) {
        self.stats.lock().expect("stats lock").dropped += 1;
        if let Some(token) = token {
            let mut by_token = self.by_token.lock().expect("stats lock");
            by_token.entry(token_key(token)).or_default().dropped += 1;
        }
    }

    /// Logs a write its handler answered with `status`.
    pub fn log_write(&self, method: &str, path: &str, body: &[u8], status: u16, replayed: bool) {
        self.writes
            .lock()
            .expect("write log lock")
            .push(WriteRecord {
                method: method.to_owned(),
                path: path.to_owned(),
                body: String::from_utf8_lossy(body).into_owned(),
                status,
                replayed,
            });
    }

    pub fn write_log(&self) -> Vec<WriteRecord> {
        self.writes.lock().expect("write log lock").clone()
    }

    pub fn snapshot(&self) -> RequestStats {
        self.stats.lock().expect("stats lock").clone()
    }

    pub fn reset(&self) {
        *self.stats.lock().expect("stats lock") = RequestStats::default();
        self.writes.lock().expect("write log lock").clear();
        self.by_token.lock().expect("stats lock").clear();
    }
}
