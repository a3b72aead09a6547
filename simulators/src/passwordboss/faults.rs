//! Fault injection: throttling, server errors, latency and connections dropped after a write
//! was applied. Shared by the test (which sets faults) and the server (which asks per request).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::hostile::Hostile;

/// An injected error answer, given instead of handling the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InjectedError {
    pub status: u16,
    /// `Retry-After` seconds, when set.
    pub retry_after: Option<u64>,
}

#[derive(Debug, Default)]
struct FaultState {
    next: VecDeque<InjectedError>,
    every_nth: Option<(u64, InjectedError)>,
    latency: Duration,
    drop_next_writes: u32,
    drop_every_nth_write: Option<u64>,
    requests_seen: u64,
    writes_applied: u64,
    hostile: Option<Hostile>,
}

/// The simulator's fault switches. Cloning shares them.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    state: Arc<Mutex<FaultState>>,
    /// Numbers the pages of an endless hostile listing.
    pages: Arc<std::sync::atomic::AtomicU64>,
}

/// What the server does with one request before handling it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    pub latency: Duration,
    pub error: Option<InjectedError>,
}

impl Faults {
    fn with<T>(&self, f: impl FnOnce(&mut FaultState) -> T) -> T {
        f(&mut self.state.lock().expect("fault state lock"))
    }

    /// Answer the next `count` requests with `status` (and `Retry-After`, when given).
    pub fn fail_next(&self, count: u32, status: u16, retry_after: Option<u64>) {
        self.with(|s| {
            for _ in 0..count {
                s.next.push_back(InjectedError {
                    status,
                    retry_after,
                });
            }
        });
    }

    /// Answer every `n`th request (counted from now) with `status`.
    pub fn fail_every_nth(&self, n: u64, status: u16, retry_after: Option<u64>) {
        assert!(n > 0, "every_nth needs n >= 1");
        self.with(|s| {
            s.requests_seen = 0;
            s.every_nth = Some((
                n,
                InjectedError {
                    status,
                    retry_after,
                },
            ))
        });
    }

    /// Delay every answer by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.with(|s| s.latency = latency);
    }

    /// Apply the next `count` successful writes, then drop the connection without answering.
    pub fn drop_next_writes_after_apply(&self, count: u32) {
        self.with(|s| s.drop_next_writes = count);
    }

    /// Drop the connection after every `n`th successful write (counted from now).
    pub fn drop_every_nth_write_after_apply(&self, n: u64) {
        assert!(n > 0, "every_nth needs n >= 1");
        self.with(|s| {
            s.writes_applied = 0;
            s.drop_every_nth_write = Some(n);
        });
    }

    /// Behave as a hostile or broken server for every request from now on (`None`: stop).
    pub fn set_hostile(&self, hostile: Option<Hostile>) {
        self.with(|s| s.hostile = hostile);
    }

    pub(crate) fn hostile(&self) -> Option<Hostile> {
        self.with(|s| s.hostile)
    }

    pub(crate) fn pages(&self) -> &std::sync::atomic::AtomicU64 {
        &self.pages
    }

    /// Switch every fault off.
    pub fn clear(&self) {
        self.with(|s| *s = FaultState::default());
    }

    /// Called once per incoming request.
    pub(crate) fn decide(&self) -> Decision {
        self.with(|s| {
            s.requests_seen += 1;
            let error = s.next.pop_front().or_else(|| {
                s.every_nth
                    .filter(|(n, _)| s.requests_seen % n == 0)
                    .map(|(_, e)| e)
            });
            Decision {
                latency: s.latency,
                error,
            }
        })
    }

    /// Called once per write the server applied: whether to drop its connection now.
    pub(crate) fn drop_after_write(&self) -> bool {
        self.with(|s| {
            s.writes_applied += 1;
            if s.drop_next_writes > 0 {
                s.drop_next_writes -= 1;
                return true;
            }
            s.drop_every_nth_write
                .is_some_and(|n| s.writes_applied % n == 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nth_and_next_faults() {
        let f = Faults::default();
        f.fail_every_nth(3, 503, None);
        let failed: Vec<bool> = (0..9).map(|_| f.decide().error.is_some()).collect();
        assert_eq!(failed.iter().filter(|x| **x).count(), 3);
        f.clear();
        f.fail_next(1, 429, Some(1));
        assert_eq!(
            f.decide().error,
            Some(InjectedError {
                status: 429,
                retry_after: Some(1)
            })
        );
        assert_eq!(f.decide().error, None);
        f.drop_next_writes_after_apply(1);
        assert!(f.drop_after_write());
        assert!(!f.drop_after_write());
    }
}
