//! When a connector is due for a sync: per-connector bookkeeping of this process and the pure
//! decision. Memory is one small entry per live connector, whatever the number of syncs.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use super::requests::RequestTokens;
use crate::resources::Connection;
use crate::sync::ConnectorKey;

/// First retry delay after a failed sync; doubles per consecutive failure, capped at the interval.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);

/// Resource versions of a connector's referenced Secrets, by name (`None`: the Secret is missing).
pub type SecretVersions = BTreeMap<String, Option<String>>;

/// What this process remembers about its last sync of one connector.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub last_sync: Instant,
    pub generation: Option<i64>,
    pub secrets: SecretVersions,
    pub requests: RequestTokens,
    pub approval: Option<String>,
    /// Consecutive failed syncs (0 after a success).
    pub failures: u32,
    /// False while the status of this sync could not be written: the sync is retried.
    pub status_written: bool,
    /// While quarantined: the wait until the next attempt (`quarantine::delay`), instead of
    /// the short retry backoff.
    pub quarantine_delay: Option<Duration>,
    /// The count of changes to the connector's credential source outside its spec and Secrets
    /// (`Ledger::credential_source_changed`) this sync saw.
    pub credential_source: u64,
}

/// The connector as it is now.
#[derive(Clone, Debug)]
pub struct Observed {
    pub generation: Option<i64>,
    pub pending_request: bool,
    /// Versions the Secret watcher reported for the referenced Secrets it has seen.
    pub secrets: SecretVersions,
    pub approval: Option<String>,
    pub interval: Duration,
    /// The count of changes to the connector's credential source outside its spec and Secrets
    /// (`Ledger::credential_sources`).
    pub credential_source: u64,
}

/// Why a sync runs now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    FirstSync,
    GenerationChanged,
    SyncRequested,
    SecretChanged,
    /// The shared app (or another credential source outside the spec and its Secrets) changed.
    CredentialSourceChanged,
    DeprovisionsApproved,
    StatusNotWritten,
    RetryAfterFailure,
    IntervalElapsed,
}

impl Due {
    /// Whether a sync due for this reason ends a quarantine: the spec, a Secret or another
    /// credential source changed, so the failure may be fixed.
    pub fn ends_quarantine(self) -> bool {
        matches!(
            self,
            Self::GenerationChanged | Self::SecretChanged | Self::CredentialSourceChanged
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstSync => "first sync",
            Self::GenerationChanged => "spec changed",
            Self::SyncRequested => "sync requested",
            Self::SecretChanged => "secret changed",
            Self::CredentialSourceChanged => "credential source changed",
            Self::DeprovisionsApproved => "deprovisions approved",
            Self::StatusNotWritten => "status not written",
            Self::RetryAfterFailure => "retry after failure",
            Self::IntervalElapsed => "interval elapsed",
        }
    }
}

/// Sync now, or look again after this long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Sync(Due),
    Wait(Duration),
}

/// Delay before retrying after `failures` consecutive failures.
pub fn backoff(failures: u32, interval: Duration) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    BACKOFF_BASE
        .saturating_mul(1u32 << exponent)
        .min(interval)
        .max(Duration::from_secs(1))
}

/// The delay until the next sync after one that ended at `entry.last_sync`: the quarantine's
/// when quarantined, else the retry backoff after a failure, else the interval.
pub fn next_delay(entry: &Entry, interval: Duration) -> Duration {
    if let Some(quarantined) = entry.quarantine_delay {
        quarantined
    } else if entry.failures > 0 {
        backoff(entry.failures, interval)
    } else {
        interval
    }
}

/// Whether a sync is due now.
pub fn decide(entry: Option<&Entry>, observed: &Observed, now: Instant) -> Decision {
    let Some(entry) = entry else {
        return Decision::Sync(Due::FirstSync);
    };
    if observed.generation != entry.generation {
        return Decision::Sync(Due::GenerationChanged);
    }
    if observed.pending_request {
        return Decision::Sync(Due::SyncRequested);
    }
    let changed = observed
        .secrets
        .iter()
        .any(|(name, version)| entry.secrets.get(name) != Some(version));
    if changed {
        return Decision::Sync(Due::SecretChanged);
    }
    if observed.credential_source != entry.credential_source {
        return Decision::Sync(Due::CredentialSourceChanged);
    }
    if observed.approval.is_some() && observed.approval != entry.approval {
        return Decision::Sync(Due::DeprovisionsApproved);
    }
    if !entry.status_written {
        return Decision::Sync(Due::StatusNotWritten);
    }
    let due_at = entry.last_sync + next_delay(entry, observed.interval);
    if now >= due_at {
        return Decision::Sync(if entry.failures > 0 {
            Due::RetryAfterFailure
        } else {
            Due::IntervalElapsed
        });
    }
    Decision::Wait(due_at - now)
}

/// A little jitter so connectors created together do not sync in lockstep: up to 5% of the
/// delay, at most 5 s. `fraction` is in [0, 1).
pub fn jittered(delay: Duration, fraction: f64) -> Duration {
    let max = (delay / 20).min(Duration::from_secs(5));
    delay + max.mul_f64(fraction.clamp(0.0, 1.0))
}

/// The per-connector bookkeeping of this process.
#[derive(Debug, Default)]
pub struct Ledger {
    entries: HashMap<ConnectorKey, Entry>,
    connections: HashMap<ConnectorKey, Connection>,
    /// Consecutive failed reconciles (Kubernetes API errors), for `error_policy`'s backoff.
    errors: HashMap<ConnectorKey, u32>,
    /// The last deserialization error reported on a malformed object.
    invalid: HashMap<ConnectorKey, String>,
    /// Changes to each connector's credential source outside its spec and Secrets.
    credential_sources: HashMap<ConnectorKey, u64>,
}

impl Ledger {
    pub fn entry(&self, key: &ConnectorKey) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// Records a finished sync.
    pub fn record_sync(&mut self, key: &ConnectorKey, mut entry: Entry, succeeded: bool) {
        let previous_failures = self.entries.get(key).map_or(0, |e| e.failures);
        entry.failures = if succeeded {
            0
        } else {
            previous_failures.saturating_add(1)
        };
        self.entries.insert(key.clone(), entry);
    }

    /// The credential source of `key` (the shared app it uses) changed: its next reconcile
    /// syncs at once, and a quarantine ends (see `Due::ends_quarantine`). The caller triggers
    /// that reconcile.
    pub fn credential_source_changed(&mut self, key: &ConnectorKey) {
        let n = self.credential_sources.entry(key.clone()).or_default();
        *n = n.wrapping_add(1);
    }

    /// How many times the credential source of `key` changed (see `credential_source_changed`).
    pub fn credential_sources(&self, key: &ConnectorKey) -> u64 {
        self.credential_sources.get(key).copied().unwrap_or(0)
    }

    /// Records the connection state shown in status (for the `connectors` gauge).
    /// Makes the connector's next sync due now (a verify found its credentials working
    /// again), whatever the backoff after its failures says.
    pub fn due_now(&mut self, key: &ConnectorKey, interval: Duration) {
        if let Some(entry) = self.entries.get_mut(key) {
            let delay = next_delay(entry, interval);
            if let Some(at) = Instant::now().checked_sub(delay) {
                entry.last_sync = entry.last_sync.min(at);
            }
        }
    }

    pub fn set_connection(&mut self, key: &ConnectorKey, connection: Connection) {
        self.connections.insert(key.clone(), connection);
    }

    /// Marks the status of the last sync as not written.
    pub fn status_not_written(&mut self, key: &ConnectorKey) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.status_written = false;
        }
    }

    /// Counts a failed reconcile; returns the consecutive count.
    pub fn note_error(&mut self, key: &ConnectorKey) -> u32 {
        let n = self.errors.entry(key.clone()).or_default();
        *n = n.saturating_add(1);
        *n
    }

    /// A reconcile succeeded.
    pub fn clear_errors(&mut self, key: &ConnectorKey) {
        self.errors.remove(key);
    }

    /// Remembers the error reported on a malformed object; true when it is new.
    pub fn report_invalid(&mut self, key: &ConnectorKey, error: &str) -> bool {
        if self.invalid.get(key).map(String::as_str) == Some(error) {
            return false;
        }
        self.invalid.insert(key.clone(), error.to_string());
        true
    }

    /// The object can be read again.
    pub fn clear_invalid(&mut self, key: &ConnectorKey) {
        self.invalid.remove(key);
    }

    /// Forgets a connector; true when there was something to forget.
    pub fn forget(&mut self, key: &ConnectorKey) -> bool {
        let mut had = self.entries.remove(key).is_some();
        had |= self.connections.remove(key).is_some();
        had |= self.errors.remove(key).is_some();
        had |= self.invalid.remove(key).is_some();
        had |= self.credential_sources.remove(key).is_some();
        had
    }

    /// Keys of every connector this ledger knows.
    pub fn keys(&self) -> Vec<ConnectorKey> {
        let mut keys: Vec<_> = self
            .entries
            .keys()
            .chain(self.connections.keys())
            .chain(self.errors.keys())
            .chain(self.invalid.keys())
            .chain(self.credential_sources.keys())
            .cloned()
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Connectors by connection state, every state listed (zero included).
    pub fn connection_counts(&self) -> Vec<(Connection, i64)> {
        [
            Connection::WaitingForConnection,
            Connection::Connected,
            Connection::Unauthorized,
            Connection::Error,
        ]
        .into_iter()
        .map(|c| {
            let n = self.connections.values().filter(|v| **v == c).count();
            (c, n as i64)
        })
        .collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn observed() -> Observed {
        Observed {
            generation: Some(1),
            pending_request: false,
            secrets: BTreeMap::from([("pb".to_string(), Some("7".to_string()))]),
            approval: None,
            interval: MINUTE,
            credential_source: 0,
        }
    }

    fn entry(at: Instant) -> Entry {
        Entry {
            last_sync: at,
            generation: Some(1),
            secrets: BTreeMap::from([("pb".to_string(), Some("7".to_string()))]),
            requests: RequestTokens::default(),
            approval: None,
            failures: 0,
            status_written: true,
            quarantine_delay: None,
            credential_source: 0,
        }
    }

    #[test]
    fn a_connector_never_synced_is_due() {
        assert_eq!(
            decide(None, &observed(), Instant::now()),
            Decision::Sync(Due::FirstSync)
        );
    }

    #[test]
    fn nothing_changed_waits_for_the_rest_of_the_interval() {
        let t0 = Instant::now();
        let e = entry(t0);
        assert_eq!(
            decide(Some(&e), &observed(), t0 + Duration::from_secs(20)),
            Decision::Wait(Duration::from_secs(40))
        );
        assert_eq!(
            decide(Some(&e), &observed(), t0 + MINUTE),
            Decision::Sync(Due::IntervalElapsed)
        );
    }

    #[test]
    fn generation_request_secret_and_approval_make_it_due_early() {
        let t0 = Instant::now();
        let e = entry(t0);
        let soon = t0 + Duration::from_secs(1);
        let mut o = observed();
        o.generation = Some(2);
        assert_eq!(
            decide(Some(&e), &o, soon),
            Decision::Sync(Due::GenerationChanged)
        );
        let mut o = observed();
        o.pending_request = true;
        assert_eq!(
            decide(Some(&e), &o, soon),
            Decision::Sync(Due::SyncRequested)
        );
        let mut o = observed();
        o.secrets.insert("pb".into(), Some("8".into()));
        assert_eq!(
            decide(Some(&e), &o, soon),
            Decision::Sync(Due::SecretChanged)
        );
        let mut o = observed();
        o.secrets.insert("pb".into(), None);
        assert_eq!(
            decide(Some(&e), &o, soon),
            Decision::Sync(Due::SecretChanged)
        );
        let mut o = observed();
        o.approval = Some("30-0a1b2c3d".into());
        assert_eq!(
            decide(Some(&e), &o, soon),
            Decision::Sync(Due::DeprovisionsApproved)
        );
        let mut approved = entry(t0);
        approved.approval = Some("30-0a1b2c3d".into());
        assert!(matches!(
            decide(Some(&approved), &o, soon),
            Decision::Wait(_)
        ));
        let mut unwritten = entry(t0);
        unwritten.status_written = false;
        assert_eq!(
            decide(Some(&unwritten), &observed(), soon),
            Decision::Sync(Due::StatusNotWritten)
        );
    }

    #[test]
    fn a_secret_the_watcher_has_not_reported_yet_is_no_change() {
        let t0 = Instant::now();
        let mut o = observed();
        o.secrets.clear();
        assert!(matches!(
            decide(Some(&entry(t0)), &o, t0 + Duration::from_secs(1)),
            Decision::Wait(_)
        ));
    }

    #[test]
    fn failures_back_off_exponentially_capped_at_the_interval_and_reset_on_success() {
        assert_eq!(backoff(1, MINUTE), Duration::from_secs(5));
        assert_eq!(backoff(2, MINUTE), Duration::from_secs(10));
        assert_eq!(backoff(4, MINUTE), Duration::from_secs(40));
        assert_eq!(backoff(5, MINUTE), MINUTE);
        assert_eq!(backoff(400, MINUTE), MINUTE);

        let key = ConnectorKey::new("ns", "c");
        let t0 = Instant::now();
        let mut ledger = Ledger::default();
        ledger.record_sync(&key, entry(t0), false);
        ledger.record_sync(&key, entry(t0), false);
        let e = ledger.entry(&key).unwrap();
        assert_eq!(e.failures, 2);
        assert_eq!(
            decide(Some(e), &observed(), t0 + Duration::from_secs(9)),
            Decision::Wait(Duration::from_secs(1))
        );
        assert_eq!(
            decide(Some(e), &observed(), t0 + Duration::from_secs(10)),
            Decision::Sync(Due::RetryAfterFailure)
        );
        ledger.record_sync(&key, entry(t0), true);
        assert_eq!(ledger.entry(&key).unwrap().failures, 0);
    }

    #[test]
    fn a_quarantine_waits_its_own_delay_and_a_credential_change_ends_the_wait() {
        let t0 = Instant::now();
        let mut quarantined = entry(t0);
        quarantined.failures = 3;
        quarantined.quarantine_delay = Some(MINUTE * 4);
        assert_eq!(next_delay(&quarantined, MINUTE), MINUTE * 4);
        assert_eq!(
            decide(Some(&quarantined), &observed(), t0 + MINUTE * 2),
            Decision::Wait(MINUTE * 2)
        );
        assert_eq!(
            decide(Some(&quarantined), &observed(), t0 + MINUTE * 4),
            Decision::Sync(Due::RetryAfterFailure)
        );
        let mut ledger = Ledger::default();
        let key = ConnectorKey::new("ns", "c");
        ledger.credential_source_changed(&key);
        let mut o = observed();
        o.credential_source = ledger.credential_sources(&key);
        let due = decide(Some(&quarantined), &o, t0 + Duration::from_secs(1));
        assert_eq!(due, Decision::Sync(Due::CredentialSourceChanged));
        let mut secret = observed();
        secret.secrets.insert("pb".into(), Some("8".into()));
        for decision in [due, decide(Some(&quarantined), &secret, t0)] {
            let Decision::Sync(due) = decision else {
                panic!("{decision:?}")
            };
            assert!(due.ends_quarantine(), "{due:?}");
        }
        for due in [Due::SyncRequested, Due::RetryAfterFailure, Due::FirstSync] {
            assert!(!due.ends_quarantine(), "{due:?}");
        }
        assert!(ledger.forget(&key));
        assert_eq!(ledger.credential_sources(&key), 0);
    }

    #[test]
    fn jitter_is_small_and_bounded() {
        assert_eq!(jittered(MINUTE, 0.0), MINUTE);
        assert_eq!(
            jittered(MINUTE, 0.999),
            MINUTE + Duration::from_millis(2997)
        );
        let hour = Duration::from_secs(3600);
        assert!(jittered(hour, 0.999) <= hour + Duration::from_secs(5));
    }

    #[test]
    fn the_ledger_forgets_deleted_connectors_and_counts_states() {
        let mut ledger = Ledger::default();
        let a = ConnectorKey::new("ns", "a");
        let b = ConnectorKey::new("ns", "b");
        ledger.record_sync(&a, entry(Instant::now()), true);
        ledger.set_connection(&a, Connection::Connected);
        ledger.set_connection(&b, Connection::Unauthorized);
        let counts = ledger.connection_counts();
        assert!(counts.contains(&(Connection::Connected, 1)));
        assert!(counts.contains(&(Connection::Unauthorized, 1)));
        assert!(counts.contains(&(Connection::Error, 0)));
        assert!(ledger.forget(&a));
        assert!(!ledger.forget(&a));
        assert_eq!(ledger.keys(), vec![b]);
        assert!(ledger.is_empty());
    }
}
