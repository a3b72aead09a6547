//! One memory budget for every buffered response body of the process: Graph, the Entra token
//! endpoint and Password Boss, across all syncs. A body reserves its bytes before it holds them
//! (by `Content-Length` up front, else in growing steps as it arrives) and gives them back when
//! it is dropped, so what all syncs buffer together never passes the budget, however many
//! connectors receive large answers at once.
//!
//! The budget is sized from the pod's memory limit (`pbconnector run --memory-limit`, which the
//! chart fills from `limits.memory` through the downward API): a third of it, at most
//! [`MAX_BUDGET_BYTES`]. Bodies held to the budget make the process resident by up to half as
//! much again (the allocator keeps freed blocks per thread, connections keep read buffers, the
//! failing syncs log and write status: 96 MiB of budget cost 133-136 MiB in `e2e::memory`), so
//! buffers take half the limit; the other half is the headroom for the process itself, its
//! connectors and their users (the README's sizing formula). A body that cannot get its bytes
//! waits, in arrival order, at most [`MAX_WAIT`], then fails its own sync with
//! `MemoryBudgetExhausted`; the process never allocates past the budget for a body.

use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{Semaphore, TryAcquireError};

/// The budget when no memory limit is given: what the chart's default limit of 256 MiB gives.
pub const DEFAULT_BUDGET_BYTES: usize = (256 << 20) / 3;
/// The most the budget grows to, however large the limit: eight responses at the 32 MiB cap,
/// more than 16 syncs reading pages of about 1 MiB ever hold.
pub const MAX_BUDGET_BYTES: usize = 256 << 20;
/// The smallest memory limit the operator accepts: the process alone needs about 48 MiB, and
/// the budget is then 21 MiB.
pub const MIN_MEMORY_LIMIT_BYTES: u64 = 64 << 20;
/// How long a body waits for its bytes before its sync fails. Answers of healthy servers are
/// read in well under a second, so a wait this long means the budget is held by answers that
/// are very large or very slow; failing one sync lets the others go on.
pub const MAX_WAIT: Duration = Duration::from_secs(10);

/// The budget a pod memory limit of `limit` bytes gives response bodies: a third of it, at
/// most [`MAX_BUDGET_BYTES`].
pub fn budget_for_limit(limit: u64) -> usize {
    usize::try_from(limit / 3)
        .unwrap_or(usize::MAX)
        .min(MAX_BUDGET_BYTES)
}

/// The process with no connector, its runtime, clients and caches (measured 42 MiB:
/// `e2e::memory::sizing`, the README's sizing table).
pub const BASE_BYTES: u64 = 48 << 20;
/// Per connector: its cached object and Secrets, clients, kept state, schedule and metrics
/// (measured 575 KiB).
pub const PER_CONNECTOR_BYTES: u64 = 640 << 10;
/// Per managed user, at the peak of a first sync that creates every user: the Graph snapshot,
/// the Password Boss state, the plan and the kept state (measured 4.8 KiB).
pub const PER_USER_BYTES: u64 = 5 << 10;
/// What buffered bodies make resident at most: the budget's cap and half as much again.
pub const MAX_BUFFERS_BYTES: u64 = MAX_BUDGET_BYTES as u64 / 2 * 3;

/// The memory a fleet of `connectors` managing `users` users in all needs besides response
/// bodies: the README's sizing formula without its buffers.
pub fn sizing_without_buffers(connectors: u64, users: u64) -> u64 {
    BASE_BYTES + connectors * PER_CONNECTOR_BYTES + users * PER_USER_BYTES
}

/// The memory limit a fleet needs: what it holds besides bodies (R), plus what the budget that
/// limit gives makes resident (half the limit, at most [`MAX_BUFFERS_BYTES`]):
/// `min(2 R, R + 384 MiB)`.
pub fn memory_limit_for(connectors: u64, users: u64) -> u64 {
    let rest = sizing_without_buffers(connectors, users);
    (2 * rest).min(rest + MAX_BUFFERS_BYTES)
}

/// A body could not get its bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the answers all syncs are reading hold the operator's memory budget for responses \
     ({budget_mib} MiB, a third of its memory limit): {wanted} more bytes were not free within \
     {waited_s} s; the next sync retries. Persistent: raise the operator's memory limit \
     (Helm value resources.limits.memory, pbconnector run --memory-limit)"
)]
pub struct BudgetExhausted {
    pub wanted: usize,
    pub budget_mib: usize,
    pub waited_s: u64,
}

/// The budget's gauges and counters (`pbconnector_response_buffer_*`, see `telemetry::metrics`).
#[derive(Clone, Debug, Default)]
pub struct BudgetMetrics {
    /// The budget, bytes.
    pub budget: Gauge,
    /// Bytes reserved by bodies now.
    pub in_use: Gauge,
    /// Reservations that had to wait.
    pub waits: Counter,
    /// Reservations that waited in vain: a sync failed with `MemoryBudgetExhausted`.
    pub exhausted: Counter,
}

/// The process-wide budget's metrics: they exist before the budget is sized, so the metrics
/// registry can hold them from the start.
pub static GLOBAL_METRICS: LazyLock<BudgetMetrics> = LazyLock::new(BudgetMetrics::default);

static GLOBAL: OnceLock<MemoryBudget> = OnceLock::new();

/// The process-wide budget; [`DEFAULT_BUDGET_BYTES`] unless [`configure`]d first.
pub fn global() -> &'static MemoryBudget {
    GLOBAL.get_or_init(|| {
        MemoryBudget::with_metrics(DEFAULT_BUDGET_BYTES, MAX_WAIT, GLOBAL_METRICS.clone())
    })
}

/// Sizes the process-wide budget, once, before any body is read.
pub fn configure(bytes: usize) -> Result<&'static MemoryBudget, AlreadySized> {
    GLOBAL
        .set(MemoryBudget::with_metrics(
            bytes,
            MAX_WAIT,
            GLOBAL_METRICS.clone(),
        ))
        .map_err(|_| AlreadySized)?;
    Ok(global())
}

/// `configure` came after the budget was in use.
#[derive(Debug, thiserror::Error)]
#[error("the response memory budget was already in use before it was sized")]
pub struct AlreadySized;

/// A budget of bytes shared by everything that reserves from it (cheap to clone: one budget).
#[derive(Clone, Debug)]
pub struct MemoryBudget(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    /// One permit per byte; waiters are served in arrival order.
    bytes: Semaphore,
    total: usize,
    max_wait: Duration,
    metrics: BudgetMetrics,
}

impl MemoryBudget {
    /// A budget of `total` bytes whose reservations wait at most `max_wait`.
    pub fn new(total: usize, max_wait: Duration) -> Self {
        Self::with_metrics(total, max_wait, BudgetMetrics::default())
    }

    fn with_metrics(total: usize, max_wait: Duration, metrics: BudgetMetrics) -> Self {
        let total = total.min(Semaphore::MAX_PERMITS);
        metrics.budget.set(total as i64);
        Self(Arc::new(Inner {
            bytes: Semaphore::new(total),
            total,
            max_wait,
            metrics,
        }))
    }

    /// The budget, bytes.
    pub fn total(&self) -> usize {
        self.0.total
    }

    /// Bytes reserved now.
    pub fn in_use(&self) -> usize {
        self.0.total - self.0.bytes.available_permits()
    }

    pub fn metrics(&self) -> &BudgetMetrics {
        &self.0.metrics
    }

    /// Reserves `bytes`, waiting at most the budget's wait.
    pub async fn reserve(&self, bytes: usize) -> Result<Reservation, BudgetExhausted> {
        let mut reservation = Reservation {
            budget: self.clone(),
            bytes: 0,
        };
        reservation.grow(bytes).await?;
        Ok(reservation)
    }

    fn exhausted(&self, wanted: usize, waited: Duration) -> BudgetExhausted {
        self.0.metrics.exhausted.inc();
        BudgetExhausted {
            wanted,
            budget_mib: self.0.total >> 20,
            waited_s: waited.as_secs(),
        }
    }
}

/// Bytes held from a budget, given back when this is dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: MemoryBudget,
    bytes: usize,
}

impl Reservation {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Holds `more` bytes besides these. Without them free, waits (behind earlier waiters) at
    /// most the budget's wait; more than the budget could ever give fails at once.
    pub async fn grow(&mut self, more: usize) -> Result<(), BudgetExhausted> {
        if more == 0 {
            return Ok(());
        }
        let inner = &self.budget.0;
        let Some(permits) = u32::try_from(more)
            .ok()
            .filter(|_| self.bytes + more <= inner.total)
        else {
            return Err(self.budget.exhausted(more, Duration::ZERO));
        };
        match inner.bytes.try_acquire_many(permits) {
            Ok(permit) => permit.forget(),
            Err(TryAcquireError::NoPermits) => {
                inner.metrics.waits.inc();
                match tokio::time::timeout(inner.max_wait, inner.bytes.acquire_many(permits)).await
                {
                    Ok(Ok(permit)) => permit.forget(),
                    // The semaphore is never closed; a timeout is the bounded wait running out.
                    Ok(Err(_)) | Err(_) => {
                        return Err(self.budget.exhausted(more, inner.max_wait));
                    }
                }
            }
            Err(TryAcquireError::Closed) => {
                return Err(self.budget.exhausted(more, Duration::ZERO));
            }
        }
        self.bytes += more;
        inner.metrics.in_use.inc_by(more as i64);
        Ok(())
    }
}

impl Reservation {
    /// Gives back `bytes` of these (no more than are held) at once.
    pub fn release(&mut self, bytes: usize) {
        let bytes = bytes.min(self.bytes);
        if bytes > 0 {
            self.bytes -= bytes;
            self.budget.0.bytes.add_permits(bytes);
            self.budget.0.metrics.in_use.dec_by(bytes as i64);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[tokio::test]
    async fn reservations_hold_bytes_until_dropped() {
        let budget = MemoryBudget::new(10 * MIB, Duration::from_secs(1));
        let mut a = budget.reserve(3 * MIB).await.expect("free");
        a.grow(2 * MIB).await.expect("free");
        let b = budget.reserve(5 * MIB).await.expect("free");
        assert_eq!((a.bytes(), b.bytes()), (5 * MIB, 5 * MIB));
        assert_eq!(budget.in_use(), 10 * MIB);
        assert_eq!(budget.metrics().in_use.get(), 10 * MIB as i64);
        drop(a);
        assert_eq!(budget.in_use(), 5 * MIB);
        drop(b);
        assert_eq!(budget.in_use(), 0);
        assert_eq!(budget.metrics().in_use.get(), 0);
        assert_eq!(budget.metrics().waits.get(), 0);
    }

    #[tokio::test]
    async fn a_reservation_waits_for_bytes_given_back() {
        let budget = MemoryBudget::new(4 * MIB, Duration::from_secs(3600));
        let held = budget.reserve(3 * MIB).await.expect("free");
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(2 * MIB).await.map(|r| r.bytes()) }
        });
        // The waiter is counted once it waits; only then are the bytes given back.
        while budget.metrics().waits.get() == 0 {
            tokio::task::yield_now().await;
        }
        assert!(!waiting.is_finished());
        drop(held);
        assert_eq!(waiting.await.expect("joins"), Ok(2 * MIB));
        assert_eq!(
            budget.in_use(),
            0,
            "the waiter's bytes went back when it was dropped"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_is_bounded_and_fails_with_what_to_do() {
        let budget = MemoryBudget::new(4 * MIB, Duration::from_secs(10));
        let _held = budget.reserve(4 * MIB).await.expect("free");
        let other = budget.reserve(MIB).await.expect_err("nothing is free");
        assert_eq!(other.wanted, MIB);
        assert_eq!(other.waited_s, 10);
        assert!(
            other.to_string().contains("resources.limits.memory"),
            "{other}"
        );
        assert_eq!(budget.metrics().exhausted.get(), 1);
        // A reservation that failed holds nothing.
        assert_eq!(budget.in_use(), 4 * MIB);
        assert_eq!(budget.metrics().waits.get(), 1);
    }

    #[tokio::test]
    async fn more_than_the_budget_fails_at_once_without_waiting() {
        let budget = MemoryBudget::new(4 * MIB, Duration::from_secs(3600));
        let mut r = budget.reserve(3 * MIB).await.expect("free");
        let e = r.grow(2 * MIB).await.expect_err("5 MiB never fit in 4");
        assert_eq!(e.waited_s, 0);
        assert_eq!(r.bytes(), 3 * MIB);
        assert_eq!(budget.metrics().waits.get(), 0);
    }

    #[test]
    fn the_budget_is_a_third_of_the_limit_up_to_its_maximum() {
        assert_eq!(budget_for_limit(3 << 20), 1 << 20);
        assert_eq!(budget_for_limit(96 << 20), 32 << 20);
        assert_eq!(budget_for_limit(8 << 30), MAX_BUDGET_BYTES);
        assert_eq!(budget_for_limit(256 << 20), DEFAULT_BUDGET_BYTES);
    }

    #[test]
    fn the_formula_gives_twice_the_rest_then_the_rest_and_the_largest_buffers() {
        // One connector of 10 users: 48 MiB + 640 KiB + 50 KiB, twice.
        let small = sizing_without_buffers(1, 10);
        assert_eq!(memory_limit_for(1, 10), 2 * small);
        // 1,000 × 1,000: the buffers' cap, not half the limit.
        let large = sizing_without_buffers(1_000, 1_000_000);
        assert_eq!(
            memory_limit_for(1_000, 1_000_000),
            large + MAX_BUFFERS_BYTES
        );
        // Where the buffers are half the limit, the budget is a third of it.
        let limit = memory_limit_for(10, 10_000);
        assert!(
            budget_for_limit(limit) as u64 / 2 * 3 <= limit - sizing_without_buffers(10, 10_000)
        );
    }
}
