//! Injected latency, as configured: a request delayed by 10 ms is answered 10 ms later, not
//! 11. Tokio's timer rounds every sleep up to its next millisecond tick and then some (a 10 ms
//! sleep takes about 11.1 ms), which made the simulators about 11 % slower than configured and
//! every benchmark bound that multiplies by the latency wrong by as much. One thread keeps the
//! deadlines and wakes each delayed request when its deadline passes, to within the OS's sleep
//! precision (tens of microseconds).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::OnceLock;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

type Wake = (Instant, oneshot::Sender<()>);

/// Waits `d` from now.
pub(crate) async fn delay(d: Duration) {
    if d.is_zero() {
        return;
    }
    // A delay past the end of time (a server that never answers) waits forever.
    let Some(deadline) = Instant::now().checked_add(d) else {
        return std::future::pending().await;
    };
    let (wake, woken) = oneshot::channel();
    if timer().send((deadline, wake)).is_err() {
        // The timer thread is gone (it never exits): fall back to tokio's timer.
        tokio::time::sleep_until(deadline.into()).await;
        return;
    }
    let _ = woken.await;
}

fn timer() -> Sender<Wake> {
    static TIMER: OnceLock<Sender<Wake>> = OnceLock::new();
    TIMER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Wake>();
            std::thread::Builder::new()
                .name("simulator-latency".into())
                .spawn(move || {
                    // Ordered by deadline, then by arrival.
                    let mut due: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
                    let mut waiting: HashMap<u64, oneshot::Sender<()>> = HashMap::new();
                    let mut seq = 0u64;
                    loop {
                        let now = Instant::now();
                        while let Some(Reverse((at, id))) = due.peek().copied() {
                            if at > now {
                                break;
                            }
                            due.pop();
                            if let Some(wake) = waiting.remove(&id) {
                                let _ = wake.send(());
                            }
                        }
                        let next = match due.peek() {
                            Some(Reverse((at, _))) => {
                                rx.recv_timeout(at.saturating_duration_since(now))
                            }
                            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                        };
                        match next {
                            Ok((at, wake)) => {
                                seq += 1;
                                due.push(Reverse((at, seq)));
                                waiting.insert(seq, wake);
                            }
                            Err(RecvTimeoutError::Timeout) => {}
                            Err(RecvTimeoutError::Disconnected) => return,
                        }
                    }
                })
                .expect("the latency thread starts");
            tx
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    // How precise a delay is, is measured by the sync benchmark (its wall time against a bound
    // made from the configured latency), not by a timed unit test. These check what cannot
    // depend on load: a delay never ends early, and delays run side by side.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_delay_never_ends_early_and_delays_overlap() {
        let d = Duration::from_millis(10);
        for _ in 0..5 {
            let started = Instant::now();
            delay(d).await;
            assert!(started.elapsed() >= d, "{:?}", started.elapsed());
        }
        // 100 delays of 10 ms one after another would take a second.
        let started = Instant::now();
        futures::future::join_all((0..100).map(|_| delay(d))).await;
        let took = started.elapsed();
        assert!(took >= d && took < Duration::from_millis(500), "{took:?}");
        // A shorter delay sent later still ends first.
        let (long, short) = (delay(Duration::from_millis(50)), async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            delay(Duration::from_millis(5)).await;
            Instant::now()
        });
        let started = Instant::now();
        let (_, short_done) = tokio::join!(long, short);
        assert!(short_done - started < Duration::from_millis(50));
        assert!(started.elapsed() >= Duration::from_millis(50));
    }
}
