//! How each watch (connectors, Secret metadata) retries after an error: the API server gone or
//! restarting, a watch cut, a 410 Gone that calls for a re-list.
//!
//! Every watch has its own retry pacing, and its errors are logged here and go no further. Left
//! to `Controller`, every watch's errors would go through one shared client-go style backoff
//! (800 ms doubling to 30 s, plus up to as much again of jitter): errors of the Secret watch
//! would delay the connector watch, and after a restart of the API server the operator could
//! sleep for up to a minute before it looked again, deaf to every change meanwhile.

use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::runtime::utils::Backoff;
use kube::runtime::{WatchStreamExt, watcher};

/// The wait after a watch's first error in a row.
pub const FIRST_RETRY: Duration = Duration::from_millis(800);
/// The longest wait between two attempts of one watch. Once the API server answers again, a
/// watch is back within this (a 410 Gone then costs one more wait and a re-list), while a
/// struggling server still gets at most one attempt per watch in this time.
pub const MAX_RETRY: Duration = Duration::from_secs(10);

/// Waits after consecutive errors of one watch: doubling from [`FIRST_RETRY`] up to
/// [`MAX_RETRY`], back to the first after anything that is not an error.
#[derive(Debug, Clone)]
pub struct WatchRetry {
    next: Duration,
}

impl Default for WatchRetry {
    fn default() -> Self {
        Self { next: FIRST_RETRY }
    }
}

impl Iterator for WatchRetry {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let wait = self.next;
        self.next = (wait * 2).min(MAX_RETRY);
        Some(wait)
    }
}

impl Backoff for WatchRetry {
    fn reset(&mut self) {
        self.next = FIRST_RETRY;
    }
}

/// `events` (one watch) paced by its own [`WatchRetry`], each error logged (the watch retries
/// by itself) and dropped, so the stream yields only events.
pub fn retried<T>(
    watch: &'static str,
    events: impl Stream<Item = watcher::Result<watcher::Event<T>>> + Send + 'static,
) -> impl Stream<Item = watcher::Result<watcher::Event<T>>> + Send + 'static
where
    T: Send + 'static,
{
    events
        .backoff(WatchRetry::default())
        .filter_map(move |event| {
            let event = match event {
                Ok(event) => Some(Ok(event)),
                Err(error) => {
                    tracing::warn!(watch, %error, "watch failed; retrying");
                    None
                }
            };
            std::future::ready(event)
        })
}

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use futures::stream;

    use super::*;

    #[test]
    fn waits_double_up_to_the_bound_and_start_over_after_a_success() {
        let mut retry = WatchRetry::default();
        let waits: Vec<_> = retry.by_ref().take(20).collect();
        assert_eq!(
            &waits[..5],
            [800, 1600, 3200, 6400, 10_000].map(Duration::from_millis)
        );
        assert!(waits.iter().all(|w| *w <= MAX_RETRY), "{waits:?}");
        retry.reset();
        assert_eq!(retry.next(), Some(FIRST_RETRY));
    }

    /// Many errors in a row (an API server down for minutes) still leave the watch at most
    /// `MAX_RETRY` from its next attempt, and the errors never reach the controller.
    #[tokio::test(start_paused = true)]
    async fn a_long_outage_delays_the_next_attempt_by_at_most_the_bound() {
        let gone = || Err(watcher::Error::NoResourceVersion);
        let mut errors: Vec<watcher::Result<watcher::Event<()>>> =
            (0..30).map(|_| gone()).collect();
        errors.push(Ok(watcher::Event::InitDone));
        let attempts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = attempts.clone();
        let events = stream::iter(errors).inspect(move |_| {
            seen.lock().unwrap().push(tokio::time::Instant::now());
        });
        let mut out = pin!(retried("test", events));
        assert!(matches!(
            out.next().await,
            Some(Ok(watcher::Event::InitDone))
        ));
        let attempts = attempts.lock().unwrap();
        assert_eq!(attempts.len(), 31);
        for pair in attempts.windows(2) {
            assert!(pair[1] - pair[0] <= MAX_RETRY, "{:?}", pair[1] - pair[0]);
        }
    }
}
