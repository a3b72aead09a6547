//! Sync slots: at most so many syncs run at once, shared fairly between namespaces
//! ([`fair::FairQueue`]), and a sync gives its slot back while it only waits.
//!
//! The controller runs each sync holding a [`SyncSlot`] ([`SyncSlot::run`]). Inside it, the
//! clients mark what they do: [`waiting`] around a wait that sends nothing (a `Retry-After`, a
//! backoff before the next attempt, the tenant pacer's hold), [`request`] around an HTTP
//! exchange. The slot is let go while every part of the sync that is not computing waits (no
//! request in flight: the sync's concurrent reads and writes are counted), and taken again,
//! through the same fair queue, before the next request or when the wait ends. Outside a
//! `SyncSlot` (the command line, verify) both are plain pass-throughs.

pub mod fair;

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use fair::FairQueue;

/// The slots every sync of the process shares.
pub struct Slots {
    queue: Mutex<FairQueue<Waiter>>,
    next_id: std::sync::atomic::AtomicU64,
}

struct Waiter {
    id: u64,
    granted: oneshot::Sender<()>,
}

impl Slots {
    /// `capacity` slots (at least one).
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            queue: Mutex::new(FairQueue::new(capacity)),
            next_id: std::sync::atomic::AtomicU64::new(0),
        })
    }

    fn queue(&self) -> MutexGuard<'_, FairQueue<Waiter>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a slot of `namespace`'s, in its fair turn. Dropping the future gives up the
    /// wait (or the slot, if it was just granted).
    pub async fn acquire(self: &Arc<Self>, namespace: &str) -> Slot {
        let (granted, receiver) = oneshot::channel();
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        {
            let mut queue = self.queue();
            queue.enqueue(namespace, Waiter { id, granted });
            Self::dispatch(&mut queue);
        }
        let mut waiting = Waiting {
            slots: self,
            namespace,
            id,
            receiver: Some(receiver),
        };
        let receiver = waiting.receiver.as_mut().expect("set above");
        // The sender is dropped only after sending (see `dispatch`).
        let _ = receiver.await;
        waiting.receiver = None;
        Slot {
            slots: self.clone(),
            namespace: namespace.to_owned(),
        }
    }

    /// Hands every free slot to its next waiter; a waiter that gave up meanwhile gives it back.
    fn dispatch(queue: &mut FairQueue<Waiter>) {
        while let Some((namespace, waiter)) = queue.grant() {
            if waiter.granted.send(()).is_err() {
                queue.release(&namespace);
            }
        }
    }

    /// Slots held by `namespace` now (for tests and diagnostics).
    pub fn held_by(&self, namespace: &str) -> usize {
        self.queue().held_by(namespace)
    }
}

/// A wait for a slot; dropped before it is granted, it leaves the queue.
struct Waiting<'a> {
    slots: &'a Slots,
    namespace: &'a str,
    id: u64,
    receiver: Option<oneshot::Receiver<()>>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let Some(mut receiver) = self.receiver.take() else {
            return;
        };
        let mut queue = self.slots.queue();
        let id = self.id;
        if !queue.withdraw(self.namespace, |w| w.id == id) && receiver.try_recv().is_ok() {
            // Granted as the wait was given up.
            queue.release(self.namespace);
            Slots::dispatch(&mut queue);
        }
    }
}

/// One slot, held until dropped.
pub struct Slot {
    slots: Arc<Slots>,
    namespace: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut queue = self.slots.queue();
        queue.release(&self.namespace);
        Slots::dispatch(&mut queue);
    }
}

/// The slot of one sync, which the sync lets go while it only waits.
pub struct SyncSlot {
    slots: Arc<Slots>,
    namespace: String,
    hold: Mutex<Hold>,
    /// One part of the sync at a time takes the slot again.
    taking: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Hold {
    slot: Option<Slot>,
    /// Requests in flight, or about to be sent (waiting for the slot).
    requests: usize,
    /// Parts of the sync waiting without a request.
    waits: usize,
}

tokio::task_local! {
    static CURRENT: Arc<SyncSlot>;
}

impl SyncSlot {
    /// Takes a slot of `namespace`'s in its fair turn.
    pub async fn take(slots: Arc<Slots>, namespace: &str) -> Arc<Self> {
        let slot = slots.acquire(namespace).await;
        Arc::new(Self {
            slots,
            namespace: namespace.to_owned(),
            hold: Mutex::new(Hold {
                slot: Some(slot),
                ..Hold::default()
            }),
            taking: tokio::sync::Mutex::new(()),
        })
    }

    /// Runs `sync` with this slot as the one its [`waiting`] and [`request`] calls use; the
    /// slot is given back when the sync ends (or is dropped).
    pub async fn run<F: Future>(self: Arc<Self>, sync: F) -> F::Output {
        let output = CURRENT.scope(self.clone(), sync).await;
        let slot = self.hold().slot.take();
        drop(slot);
        output
    }

    fn hold(&self) -> MutexGuard<'_, Hold> {
        self.hold.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the slot is held now (for tests and diagnostics).
    pub fn held(&self) -> bool {
        self.hold().slot.is_some()
    }

    /// Takes the slot again if it was let go.
    async fn retake(&self) {
        let _one = self.taking.lock().await;
        if self.hold().slot.is_some() {
            return;
        }
        let slot = self.slots.acquire(&self.namespace).await;
        self.hold().slot = Some(slot);
    }

    /// Lets the slot go if nothing of the sync is in flight while something waits.
    fn let_go_if_idle(&self) {
        let released = {
            let mut hold = self.hold();
            if hold.requests == 0 && hold.waits > 0 {
                hold.slot.take()
            } else {
                None
            }
        };
        drop(released);
    }
}

/// Counts one request or one wait of the sync while it lives (also when it is dropped midway).
struct Counted<'a> {
    slot: &'a SyncSlot,
    request: bool,
}

impl<'a> Counted<'a> {
    fn new(slot: &'a SyncSlot, request: bool) -> Self {
        let mut hold = slot.hold();
        if request {
            hold.requests += 1;
        } else {
            hold.waits += 1;
        }
        drop(hold);
        Self { slot, request }
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        {
            let mut hold = self.slot.hold();
            if self.request {
                hold.requests -= 1;
            } else {
                hold.waits -= 1;
            }
        }
        self.slot.let_go_if_idle();
    }
}

/// Runs `wait` (something that sends nothing: a backoff, a `Retry-After`) with the current
/// sync's slot given back meanwhile, and takes it again, in turn, before returning. Outside a
/// sync slot: just `wait`.
pub async fn waiting<F: Future>(wait: F) -> F::Output {
    let Ok(slot) = CURRENT.try_with(Arc::clone) else {
        return wait.await;
    };
    let output = {
        let _counted = Counted::new(&slot, false);
        slot.let_go_if_idle();
        wait.await
    };
    slot.retake().await;
    output
}

/// Runs `exchange` (an HTTP request and the reading of its answer) holding the current sync's
/// slot, taken again first if it was given back. Outside a sync slot: just `exchange`.
pub async fn request<F: Future>(exchange: F) -> F::Output {
    let Ok(slot) = CURRENT.try_with(Arc::clone) else {
        return exchange.await;
    };
    let _counted = Counted::new(&slot, true);
    slot.retake().await;
    exchange.await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_sync_waiting_to_retry_lets_another_namespace_run_and_takes_its_turn_after() {
        let slots = Slots::new(1);
        let hanging = SyncSlot::take(slots.clone(), "hanging").await;
        let (retry, retried) = oneshot::channel::<()>();
        let sync = tokio::spawn(hanging.clone().run(async move {
            waiting(async move { retried.await.ok() }).await;
            request(async {}).await;
        }));
        // The waiting sync gave its slot back: another namespace's sync gets it.
        let other = tokio::time::timeout(
            Duration::from_secs(10),
            SyncSlot::take(slots.clone(), "healthy"),
        )
        .await
        .expect("the slot was given back during the wait");
        assert!(!hanging.held());
        retry.send(()).unwrap();
        tokio::task::yield_now().await;
        assert!(!sync.is_finished(), "the retry waits for the slot again");
        drop(other);
        sync.await.unwrap();
        assert_eq!(
            slots.held_by("hanging"),
            0,
            "given back when the sync ended"
        );
        assert_eq!(slots.held_by("healthy"), 0);
    }

    #[tokio::test]
    async fn a_wait_keeps_the_slot_while_another_part_of_the_sync_has_a_request_in_flight() {
        let slots = Slots::new(1);
        let sync = SyncSlot::take(slots.clone(), "a").await;
        let (answer, answered) = oneshot::channel::<()>();
        let (retry, retried) = oneshot::channel::<()>();
        let (in_flight, sent) = oneshot::channel::<()>();
        let task = tokio::spawn(sync.clone().run(async move {
            tokio::join!(
                request(async move {
                    in_flight.send(()).unwrap();
                    answered.await.ok()
                }),
                async move {
                    sent.await.unwrap();
                    waiting(async move { retried.await.ok() }).await
                }
            )
        }));
        let mut other = Box::pin(SyncSlot::take(slots.clone(), "b"));
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(
            futures::poll!(other.as_mut()).is_pending(),
            "a request is in flight"
        );
        assert!(sync.held());
        answer.send(()).unwrap();
        // Now only the wait is left: the slot goes to the other namespace.
        let other = tokio::time::timeout(Duration::from_secs(10), other)
            .await
            .expect("given back once only the wait was left");
        retry.send(()).unwrap();
        drop(other);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_wait_given_up_leaves_the_queue_and_a_dropped_sync_frees_its_slot() {
        let slots = Slots::new(1);
        let first = slots.acquire("a").await;
        let mut gave_up = Box::pin(slots.acquire("b"));
        assert!(futures::poll!(gave_up.as_mut()).is_pending());
        drop(gave_up);
        drop(first);
        let next = tokio::time::timeout(Duration::from_secs(10), slots.acquire("c"))
            .await
            .expect("the abandoned wait took nothing");
        assert_eq!(slots.held_by("b"), 0);
        drop(next);

        let sync = SyncSlot::take(slots.clone(), "d").await;
        let never = tokio::spawn(sync.run(std::future::pending::<()>()));
        never.abort();
        let _ = never.await;
        tokio::time::timeout(Duration::from_secs(10), slots.acquire("e"))
            .await
            .expect("a sync dropped midway gives its slot back");
    }
}
