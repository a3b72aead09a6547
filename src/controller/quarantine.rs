//! Quarantine: a connector whose credentials were refused in a way that waiting will not fix
//! (`FailureReason::quarantines`) is tried again less and less often — from its interval,
//! doubling per consecutive failure for the same reason, up to a ceiling (one day unless the
//! operator's administrator sets `--quarantine-ceiling`; 15 minutes for `ConsentMissing`, the
//! normal state while a customer is being onboarded) — instead of hitting the token endpoint
//! every interval forever, as Entra's own provisioning does.
//!
//! The state lives in `status.quarantine` (it survives a restart of the operator). What ends it
//! at once — a change to the connector's spec, to a Secret it references, or to the shared app it
//! uses (`Ledger::credential_source_changed`) — is the schedule's; a sync or verify request buys
//! one attempt, paced like verify, and the same failure then resumes the backoff where it was.
//! Pure: no I/O, the clock passed in.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::resources::{AzureAdConnectorStatus, QuarantineStatus};
use crate::sync::status::conditions::{ConditionType, Reason, Truth, set_condition};
use crate::sync::status::failure::FailureReason;

/// The longest wait between two attempts of a quarantined connector, unless the operator's
/// administrator sets another (`pbconnector run --quarantine-ceiling`).
pub const DEFAULT_CEILING: Duration = Duration::from_secs(24 * 3600);

/// The longest wait while consent is missing (`ConsentMissing`): a customer who has just
/// consented sees the connector connect within a quarter of an hour.
pub const CONSENT_CEILING: Duration = Duration::from_secs(15 * 60);

/// The ceiling of the backoff for `reason`, with the administrator's `configured` one.
pub fn ceiling(reason: FailureReason, configured: Duration) -> Duration {
    match reason {
        FailureReason::ConsentMissing => configured.min(CONSENT_CEILING),
        _ => configured,
    }
}

/// The wait after the `failures`-th consecutive failure for the same reason: the interval
/// after the first, doubling after each further one, never past `ceiling` — and never shorter
/// than the interval (a quarantined connector is never tried more often than a healthy one).
pub fn delay(failures: u32, interval: Duration, ceiling: Duration) -> Duration {
    let doublings = failures.saturating_sub(1).min(31);
    interval
        .saturating_mul(1u32 << doublings)
        .min(ceiling)
        .max(interval)
}

/// The quarantine after an attempt that ended at `now` and failed for `failed` (`None`: it
/// succeeded), given the quarantine before it (`previous`; `None` after a change that ends
/// it), with the wait until the next attempt. A success or a failure waiting may fix ends it;
/// the same failure again counts one more; another quarantining failure starts over at one.
pub fn after_attempt(
    previous: Option<&QuarantineStatus>,
    failed: Option<FailureReason>,
    interval: Duration,
    configured_ceiling: Duration,
    now: Timestamp,
) -> Option<(QuarantineStatus, Duration)> {
    let reason = failed.filter(|r| r.quarantines())?;
    let same = previous.filter(|q| q.reason == reason.as_str());
    let failures = same.map_or(1, |q| q.failures.saturating_add(1));
    let wait = delay(failures, interval, ceiling(reason, configured_ceiling));
    let next = SignedDuration::try_from(wait)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX);
    let quarantine = QuarantineStatus {
        since: same.and_then(|q| q.since.clone()).or(Some(Time(now))),
        next_attempt_time: Some(Time(next)),
        reason: reason.as_str().to_owned(),
        failures,
    };
    Some((quarantine, wait))
}

/// How long a quarantined connector still waits at `now` before its next attempt, by the
/// status alone (`None`: it is due, or not quarantined). What an operator that has just
/// started — knowing nothing of the last attempt but the status — waits.
pub fn remaining(status: Option<&AzureAdConnectorStatus>, now: Timestamp) -> Option<Duration> {
    let next = status?.quarantine.as_ref()?.next_attempt_time.as_ref()?.0;
    let wait: Duration = now.duration_until(next).try_into().ok()?;
    (!wait.is_zero()).then_some(wait)
}

/// `status` with `quarantine` in it and, while quarantined, `Ready=False/Quarantined` and a
/// message saying why, until when and how to leave it (`connection` stays as the failure left
/// it: `Unauthorized`).
pub fn apply(
    status: &mut AzureAdConnectorStatus,
    quarantine: Option<QuarantineStatus>,
    generation: Option<i64>,
    now: Timestamp,
) {
    status.quarantine = quarantine;
    let Some(q) = &status.quarantine else {
        return;
    };
    let next = q
        .next_attempt_time
        .as_ref()
        .map_or_else(|| "later".to_owned(), |t| t.0.to_string());
    let message = format!(
        "Quarantined after {} consecutive {} failures: {} Next attempt at {next}. To leave \
         quarantine fix the credential or consent; any change to the connector, to a Secret \
         it references or to the shared app it uses ends it at once, and a sync-now (`kubectl aadc sync-now`) or verify \
         request buys one attempt.",
        q.failures,
        q.reason,
        ensure_period(&status.message),
    );
    status.message = message.clone();
    set_condition(
        status,
        ConditionType::Ready,
        Truth::False,
        Reason::Quarantined,
        &message,
        generation,
        now,
    );
}

fn ensure_period(text: &str) -> String {
    let text = text.trim();
    if text.ends_with('.') {
        text.to_owned()
    } else {
        format!("{text}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    #[test]
    fn the_backoff_starts_at_the_interval_and_doubles_to_the_ceiling() {
        let day = DEFAULT_CEILING;
        let waits: Vec<u64> = (1..=5)
            .map(|n| delay(n, Duration::from_secs(1), day).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16]);
        assert_eq!(delay(1, MINUTE, day), MINUTE);
        assert_eq!(delay(11, MINUTE, day), MINUTE * 1024);
        assert_eq!(delay(12, MINUTE, day), day);
        assert_eq!(delay(u32::MAX, MINUTE, day), day);
        // Consent missing caps at 15 minutes, or at a lower ceiling of the administrator.
        assert_eq!(
            ceiling(FailureReason::ConsentMissing, day),
            Duration::from_secs(900)
        );
        assert_eq!(
            ceiling(FailureReason::ConsentMissing, MINUTE),
            MINUTE,
            "the administrator's lower ceiling"
        );
        assert_eq!(ceiling(FailureReason::AzureUnauthorized, day), day);
        // An interval longer than the ceiling: never more often than the interval.
        assert_eq!(
            delay(3, Duration::from_secs(3600), CONSENT_CEILING),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn the_same_failure_counts_on_another_starts_over_and_success_ends_it() {
        let first = after_attempt(
            None,
            Some(FailureReason::AzureUnauthorized),
            MINUTE,
            DEFAULT_CEILING,
            at(0),
        )
        .expect("quarantined");
        assert_eq!(first.1, MINUTE);
        let first = first.0;
        assert_eq!(first.failures, 1);
        assert_eq!(first.since, Some(Time(at(0))));
        assert_eq!(first.next_attempt_time, Some(Time(at(60))));
        assert_eq!(first.reason, "AzureUnauthorized");

        let second = after_attempt(
            Some(&first),
            Some(FailureReason::AzureUnauthorized),
            MINUTE,
            DEFAULT_CEILING,
            at(60),
        )
        .expect("still quarantined");
        assert_eq!(second.1, MINUTE * 2);
        let second = second.0;
        assert_eq!(second.failures, 2);
        assert_eq!(second.since, Some(Time(at(0))), "since the first failure");
        assert_eq!(second.next_attempt_time, Some(Time(at(180))));

        let other = after_attempt(
            Some(&second),
            Some(FailureReason::ConsentMissing),
            MINUTE,
            DEFAULT_CEILING,
            at(180),
        )
        .expect("quarantined for another reason")
        .0;
        assert_eq!(
            (other.failures, other.since.clone()),
            (1, Some(Time(at(180))))
        );

        for ended in [None, Some(FailureReason::GraphUnavailable)] {
            assert_eq!(
                after_attempt(Some(&second), ended, MINUTE, DEFAULT_CEILING, at(200)),
                None,
                "{ended:?}"
            );
        }
    }

    #[test]
    fn a_quarantined_status_says_why_until_when_and_how_to_leave() {
        let mut status = AzureAdConnectorStatus {
            connection: crate::resources::Connection::Unauthorized,
            message: "Entra ID refused the token request with AADSTS7000215: wrong secret".into(),
            ..Default::default()
        };
        let q = after_attempt(
            None,
            Some(FailureReason::AzureUnauthorized),
            MINUTE,
            DEFAULT_CEILING,
            at(0),
        )
        .map(|(q, _)| q);
        apply(&mut status, q, Some(3), at(0));
        let ready = &status.conditions[0];
        assert_eq!(
            (
                ready.type_.as_str(),
                ready.status.as_str(),
                ready.reason.as_str()
            ),
            ("Ready", "False", "Quarantined")
        );
        for part in [
            "AADSTS7000215",
            "AzureUnauthorized",
            "Next attempt at",
            "Secret",
            "sync-now",
        ] {
            assert!(ready.message.contains(part), "{part} in {}", ready.message);
        }
        assert_eq!(status.message, ready.message);
        assert_eq!(
            status.connection,
            crate::resources::Connection::Unauthorized
        );
        assert_eq!(
            remaining(Some(&status), at(20)),
            Some(Duration::from_secs(40))
        );
        assert_eq!(remaining(Some(&status), at(60)), None);
    }

    #[test]
    fn a_suspended_connector_is_not_quarantined() {
        let mut status = AzureAdConnectorStatus::default();
        let q = after_attempt(
            None,
            Some(FailureReason::ConsentMissing),
            MINUTE,
            DEFAULT_CEILING,
            at(0),
        )
        .map(|(q, _)| q);
        apply(&mut status, q, Some(1), at(0));
        assert!(status.quarantine.is_some());
        let suspended = crate::sync::status::suspended_status(Some(&status), Some(2), at(1));
        assert_eq!(suspended.quarantine, None);
    }

    proptest! {
        #[test]
        fn the_backoff_is_monotone_bounded_and_starts_at_the_interval(
            interval_s in 1u64..100_000,
            ceiling_s in 1u64..10_000_000,
            failures in 1u32..200,
        ) {
            let interval = Duration::from_secs(interval_s);
            let ceiling = Duration::from_secs(ceiling_s);
            let this = delay(failures, interval, ceiling);
            prop_assert!(delay(failures + 1, interval, ceiling) >= this);
            prop_assert!(this <= ceiling.max(interval));
            prop_assert!(this >= interval);
            prop_assert_eq!(delay(1, interval, ceiling), interval);
        }
    }
}
