//! The retry policy and its pure arithmetic: exponential backoff with jitter, `Retry-After`.

use std::time::Duration;

/// Bounded retries of transient failures (5xx, 429, connection errors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included (at least 1).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each attempt.
    pub base_delay: Duration,
    /// Backoff never exceeds this.
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited for: the request fails as throttled.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Backoff after failed attempt `attempt` (1-based): half fixed, half jitter
    /// (`jitter` in 0.0..=1.0), so concurrent retries spread out.
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max_delay);
        let half = exp / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// The wait after a 429/503: at least `Retry-After`, else the backoff. `None` when the
    /// server asks for longer than `max_retry_after`.
    pub fn wait(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        match retry_after {
            Some(ra) if ra > self.max_retry_after => None,
            // A little jitter on top, never below what the server asked for.
            Some(ra) => Some(ra + Duration::from_millis(50).mul_f64(jitter.clamp(0.0, 1.0))),
            None => Some(self.backoff(attempt, jitter)),
        }
    }
}

/// `Retry-After` as delay-seconds (the contract's form); anything else is ignored.
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
            ..Default::default()
        };
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(50));
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(100));
        assert_eq!(p.backoff(3, 1.0), Duration::from_millis(400));
        assert_eq!(p.backoff(30, 1.0), Duration::from_millis(500));
    }

    #[test]
    fn retry_after_is_a_floor() {
        let p = RetryPolicy::default();
        let one = Some(Duration::from_secs(1));
        assert!(p.wait(1, one, 0.0).unwrap() >= Duration::from_secs(1));
        assert!(p.wait(1, one, 1.0).unwrap() >= Duration::from_secs(1));
        assert_eq!(p.wait(1, Some(Duration::from_secs(3600)), 0.5), None);
        assert_eq!(parse_retry_after(Some(" 2 ")), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(Some("soon")), None);
    }
}
