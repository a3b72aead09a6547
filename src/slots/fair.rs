//! Who gets the next free sync slot: pure bookkeeping, no clock, no async.
//!
//! Slots are shared between namespaces (tenants). A free slot goes to the waiting namespace that
//! holds the fewest slots now; between namespaces holding as many, to the one served longest
//! ago (round robin); within a namespace, first come first served. So while several namespaces
//! wait, none is given more than its share (the slots divided by the namespaces holding or
//! waiting, rounded up), and every waiter is served after at most as many grants as there are
//! namespaces ahead of it. A namespace may hold more than its share only when nobody else was
//! waiting as it was served; slots are never taken back, so it gives them up as its syncs end or
//! wait.

use std::collections::{BTreeMap, VecDeque};

/// The slots and their waiters; `W` is what a waiter is woken through.
#[derive(Debug)]
pub struct FairQueue<W> {
    capacity: usize,
    in_use: usize,
    /// Slots held, by namespace (no entry: none).
    held: BTreeMap<String, usize>,
    /// Waiters in arrival order, by namespace (no entry: none).
    waiting: BTreeMap<String, VecDeque<W>>,
    /// When each namespace was last served (a grant counter; no entry: never).
    served: BTreeMap<String, u64>,
    grants: u64,
}

impl<W> FairQueue<W> {
    /// `capacity` slots (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            in_use: 0,
            held: BTreeMap::new(),
            waiting: BTreeMap::new(),
            served: BTreeMap::new(),
            grants: 0,
        }
    }

    /// `waiter` of `namespace` waits for a slot (call `grant` next).
    pub fn enqueue(&mut self, namespace: &str, waiter: W) {
        self.waiting
            .entry(namespace.to_owned())
            .or_default()
            .push_back(waiter);
    }

    /// Takes back the first waiter of `namespace` that `matches` (it gave up); whether one was.
    pub fn withdraw(&mut self, namespace: &str, matches: impl Fn(&W) -> bool) -> bool {
        let Some(queue) = self.waiting.get_mut(namespace) else {
            return false;
        };
        let Some(at) = queue.iter().position(matches) else {
            return false;
        };
        queue.remove(at);
        if queue.is_empty() {
            self.waiting.remove(namespace);
        }
        true
    }

    /// A slot of `namespace` is free again.
    pub fn release(&mut self, namespace: &str) {
        if let Some(held) = self.held.get_mut(namespace) {
            *held -= 1;
            self.in_use -= 1;
            if *held == 0 {
                self.held.remove(namespace);
            }
        }
    }

    /// Gives a free slot to the next waiter, if there is a free slot and a waiter: the waiter
    /// and its namespace, now counted as holding it. Call until `None`.
    pub fn grant(&mut self) -> Option<(String, W)> {
        if self.in_use >= self.capacity {
            return None;
        }
        let namespace = self
            .waiting
            .keys()
            .min_by_key(|ns| {
                (
                    self.held_by(ns),
                    self.served.get(*ns).copied().map_or(0, |at| at + 1),
                )
            })?
            .clone();
        let queue = self.waiting.get_mut(&namespace)?;
        let waiter = queue.pop_front()?;
        if queue.is_empty() {
            self.waiting.remove(&namespace);
        }
        self.grants += 1;
        self.served.insert(namespace.clone(), self.grants);
        *self.held.entry(namespace.clone()).or_default() += 1;
        self.in_use += 1;
        Some((namespace, waiter))
    }

    /// Slots `namespace` holds.
    pub fn held_by(&self, namespace: &str) -> usize {
        self.held.get(namespace).copied().unwrap_or(0)
    }

    /// Waiters of `namespace`.
    pub fn waiting_in(&self, namespace: &str) -> usize {
        self.waiting.get(namespace).map_or(0, VecDeque::len)
    }

    /// Slots held, all namespaces together.
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// A namespace's share while `namespaces` namespaces hold or wait: the slots divided between
    /// them, rounded up.
    pub fn share(&self, namespaces: usize) -> usize {
        self.capacity.div_ceil(namespaces.max(1))
    }

    /// Namespaces holding or waiting.
    pub fn active(&self) -> usize {
        self.held
            .keys()
            .chain(self.waiting.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn grant_all(queue: &mut FairQueue<u32>) -> Vec<(String, u32)> {
        std::iter::from_fn(|| queue.grant()).collect()
    }

    #[test]
    fn a_namespace_alone_may_take_every_slot() {
        let mut queue = FairQueue::new(3);
        for id in 0..5 {
            queue.enqueue("hanging", id);
        }
        assert_eq!(grant_all(&mut queue).len(), 3);
        assert_eq!(queue.held_by("hanging"), 3);
        assert_eq!(queue.waiting_in("hanging"), 2);
    }

    #[test]
    fn a_newcomer_gets_the_next_free_slot_before_a_namespace_that_holds_more() {
        let mut queue = FairQueue::new(2);
        for id in 0..4 {
            queue.enqueue("hanging", id);
        }
        grant_all(&mut queue);
        queue.enqueue("healthy", 100);
        assert!(queue.grant().is_none(), "no slot is free");
        queue.release("hanging");
        assert_eq!(queue.grant(), Some(("healthy".into(), 100)));
        queue.release("hanging");
        assert_eq!(queue.grant(), Some(("hanging".into(), 2)));
    }

    #[test]
    fn equals_are_served_in_turn_and_each_namespace_in_arrival_order() {
        let mut queue = FairQueue::new(1);
        for id in 0..3 {
            queue.enqueue("a", id);
            queue.enqueue("b", 10 + id);
        }
        let mut order = Vec::new();
        while let Some((_, id)) = queue.grant() {
            order.push(id);
            let ns = if id < 10 { "a" } else { "b" };
            queue.release(ns);
        }
        assert_eq!(order, [0, 10, 1, 11, 2, 12]);
    }

    #[test]
    fn a_withdrawn_waiter_is_never_served() {
        let mut queue = FairQueue::new(1);
        queue.enqueue("a", 1);
        queue.enqueue("a", 2);
        assert!(queue.withdraw("a", |w| *w == 1));
        assert!(!queue.withdraw("a", |w| *w == 1));
        assert_eq!(queue.grant(), Some(("a".into(), 2)));
        assert_eq!(queue.waiting_in("a"), 0);
    }

    /// One step of a schedule: a waiter arrives in namespace `.0`, or a held slot of namespace
    /// `.0` is released (when it holds one).
    #[derive(Clone, Debug)]
    enum Step {
        Arrive(u8),
        Release(u8),
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        proptest::collection::vec(
            prop_oneof![
                (0u8..5).prop_map(Step::Arrive),
                (0u8..5).prop_map(Step::Release),
            ],
            1..200,
        )
    }

    const NAMESPACES: u8 = 5;

    fn ns(n: u8) -> String {
        format!("ns-{n}")
    }

    /// Tracks what the properties need across grants.
    #[derive(Default)]
    struct Watch {
        /// Grants given to others while this namespace waited holding no slot, since it was
        /// last served.
        passed_over: BTreeMap<String, usize>,
        grants: usize,
    }

    impl Watch {
        /// Grants every free slot, checking each grant.
        fn serve(&mut self, queue: &mut FairQueue<u32>) -> Result<(), TestCaseError> {
            loop {
                let before: Vec<(String, usize, usize)> = (0..NAMESPACES)
                    .map(|n| (ns(n), queue.held_by(&ns(n)), queue.waiting_in(&ns(n))))
                    .collect();
                let share = queue.share(queue.active());
                let Some((granted, _)) = queue.grant() else {
                    return Ok(());
                };
                self.grants += 1;
                let held = before.iter().find(|(n, ..)| *n == granted).unwrap().1;
                let poorer_waits = before
                    .iter()
                    .any(|(n, h, w)| *n != granted && *w > 0 && *h < held);
                prop_assert!(
                    !(held >= share && poorer_waits),
                    "{granted} held {held} (share {share}) and got another slot while a \
                     namespace holding fewer waited: {before:?}"
                );
                self.passed_over.remove(&granted);
                for (n, h, w) in &before {
                    if *n != granted && *w > 0 && *h == 0 {
                        let passed = self.passed_over.entry(n.clone()).or_default();
                        *passed += 1;
                        prop_assert!(
                            *passed < NAMESPACES as usize,
                            "{n} waited holding nothing while {passed} grants went to others"
                        );
                    }
                }
            }
        }
    }

    proptest! {
        /// Whatever arrives and ends, in whatever order: no grant goes to a namespace holding
        /// its share while a namespace holding fewer waits; a namespace waiting with no slot is
        /// served before any other namespace is served twice; and once the slots free up, every
        /// waiter is served.
        #[test]
        fn no_namespace_passes_its_share_while_others_wait_and_no_waiter_starves(
            capacity in 1usize..6,
            steps in steps(),
        ) {
            let mut queue = FairQueue::new(capacity);
            let mut watch = Watch::default();
            let mut arrivals = 0u32;
            for step in steps {
                match step {
                    Step::Arrive(n) => {
                        queue.enqueue(&ns(n), arrivals);
                        arrivals += 1;
                    }
                    Step::Release(n) => queue.release(&ns(n)),
                }
                watch.serve(&mut queue)?;
            }
            // Then the held slots end one at a time: every waiter left is served.
            loop {
                let holder = (0..NAMESPACES).map(ns).find(|n| queue.held_by(n) > 0);
                let Some(holder) = holder else { break };
                queue.release(&holder);
                watch.serve(&mut queue)?;
            }
            let left: usize = (0..NAMESPACES).map(|n| queue.waiting_in(&ns(n))).sum();
            prop_assert_eq!(left, 0, "waiters left unserved");
            prop_assert_eq!(watch.grants, arrivals as usize, "every arrival served once");
            prop_assert_eq!(queue.in_use(), 0);
        }
    }
}
