//! Fault injection: throttling, server errors, latency, connections dropped after a write was
//! applied, and writes held unanswered. Shared by the test (which sets faults) and the server
//! (which asks per request).

use std::collections::{HashMap, VecDeque};
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
    /// Every `n`th distinct write refused its first `times` attempts: `(n, times, answer)`.
    refuse_writes: Option<(u64, u32, InjectedError)>,
    /// Attempts left to refuse, by write (its `Idempotency-Key`, else method and path).
    refusing: HashMap<String, u32>,
    distinct_writes: u64,
}

/// The simulator's fault switches. Cloning shares them.
#[derive(Clone, Debug)]
pub struct Faults {
    state: Arc<Mutex<FaultState>>,
    /// Numbers the pages of an endless hostile listing.
    pages: Arc<std::sync::atomic::AtomicU64>,
    /// While `true`, writes that arrive wait (unhandled, unanswered) until it is `false`.
    writes_held: Arc<tokio::sync::watch::Sender<bool>>,
    /// Writes waiting now.
    waiting: Arc<std::sync::atomic::AtomicU64>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            state: Arc::default(),
            pages: Arc::default(),
            writes_held: Arc::new(tokio::sync::watch::Sender::new(false)),
            waiting: Arc::default(),
        }
    }
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

    /// Refuse every `n`th distinct write (counted from now, in order of first arrival) its first
    /// `times` attempts with `status`; its later attempts are handled. A write is known by its
    /// `Idempotency-Key` (else by method and path), so a client that keeps the key across retries
    /// meets exactly `times` refusals per chosen write, whatever order concurrent requests arrive
    /// in: the number of refusals, and whether a retry budget of more than `times` attempts
    /// suffices, do not depend on timing (unlike `fail_every_nth`, where a retry may land on the
    /// nth arrival again).
    pub fn refuse_every_nth_write(&self, n: u64, times: u32, status: u16) {
        assert!(n > 0, "every_nth needs n >= 1");
        self.with(|s| {
            s.distinct_writes = 0;
            s.refusing.clear();
            s.refuse_writes = Some((
                n,
                times,
                InjectedError {
                    status,
                    retry_after: None,
                },
            ));
        });
    }

    /// Called once per incoming write known as `identity`: the refusal it gets, if any.
    pub(crate) fn refusal(&self, identity: &str) -> Option<InjectedError> {
        self.with(|s| {
            let (n, times, error) = s.refuse_writes?;
            let left = match s.refusing.get_mut(identity) {
                Some(left) => left,
                None => {
                    s.distinct_writes += 1;
                    let chosen = s.distinct_writes % n == 0;
                    s.refusing
                        .entry(identity.to_owned())
                        .or_insert(if chosen { times } else { 0 })
                }
            };
            (*left > 0).then(|| {
                *left -= 1;
                error
            })
        })
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

    /// Hold every write that arrives from now on, unhandled and unanswered, until
    /// `release_writes`. A client with at most N writes in flight, all of them held, has no
    /// write on the wire and can start no other: a point in its run the test can name.
    pub fn hold_writes(&self) {
        self.writes_held.send_replace(true);
    }

    /// Handle the held writes, and hold no more.
    pub fn release_writes(&self) {
        self.writes_held.send_replace(false);
    }

    /// How many writes are held now.
    pub fn writes_waiting(&self) -> u64 {
        self.waiting.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Called once per incoming write: returns once writes are not held.
    pub(crate) async fn pass_write(&self) {
        let mut held = self.writes_held.subscribe();
        if !*held.borrow_and_update() {
            return;
        }
        // Counted down however the wait ends (its connection closed by the client, too).
        struct Waiting<'a>(&'a std::sync::atomic::AtomicU64);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        self.waiting
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        let _ = held.wait_for(|held| !*held).await;
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
        self.release_writes();
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

    #[test]
    fn every_nth_write_is_refused_exactly_its_first_attempts() {
        let f = Faults::default();
        f.refuse_every_nth_write(2, 2, 503);
        let refused = |key: &str| f.refusal(key).is_some();
        assert!(!refused("a"));
        assert!(refused("b"));
        assert!(!refused("c"));
        assert!(refused("b"), "b's second attempt");
        assert!(!refused("a"));
        assert!(!refused("b"), "b's third attempt is handled");
        assert!(refused("d"));
    }
}
