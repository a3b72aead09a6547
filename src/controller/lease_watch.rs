//! A second, local watch on the leader Lease. The lease manager reports a loss only once it
//! sees another holder; while its renewals fail (the API server unreachable from this pod) it
//! goes on saying "leading" past the lease's expiry, when another replica may already have
//! taken it. This watch ends leadership `EXPIRY_MARGIN` before the lease, as last renewed,
//! expires, so syncs stop before another replica can start.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::Api;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::leader::LeaderElection;

/// Leadership ends this long before the lease would expire.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(3);
/// How often the Lease is read.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// One read of the Lease gives up after this long (the last known expiry stands).
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// When the lease held by `identity` expires, from the Lease as read; `None` when another
/// process holds it or it says nothing about renewal.
pub fn held_until(lease: &Lease, identity: &str) -> Option<SystemTime> {
    let spec = lease.spec.as_ref()?;
    if spec.holder_identity.as_deref() != Some(identity) {
        return None;
    }
    let renewed: SystemTime = spec.renew_time.as_ref()?.0.into();
    let duration = u64::try_from(spec.lease_duration_seconds?).ok()?;
    renewed.checked_add(Duration::from_secs(duration))
}

/// Whether to count as leading at `now`, given what the manager says and the expiry known.
pub fn still_leading(manager: bool, expiry: Option<SystemTime>, now: SystemTime) -> bool {
    manager && expiry.is_some_and(|e| now + EXPIRY_MARGIN < e)
}

/// Follows `manager` (the lease manager's view) and the Lease itself; the returned channel says
/// whether this process may act as leader. The task ends when `manager` closes.
pub fn spawn(
    client: Client,
    election: &LeaderElection,
    identity: String,
    mut manager: watch::Receiver<bool>,
) -> (watch::Receiver<bool>, JoinHandle<()>) {
    let (tx, rx) = watch::channel(false);
    let api: Api<Lease> = Api::namespaced(client, &election.lease_namespace);
    let name = election.lease_name.clone();
    let duration = election.lease_duration;
    let task = tokio::spawn(async move {
        let mut expiry: Option<SystemTime> = None;
        let mut was_leading = false;
        let mut tick = tokio::time::interval(CHECK_EVERY);
        loop {
            let manager_leading = *manager.borrow_and_update();
            if manager_leading && !was_leading {
                // Just acquired (or renewed): it holds for a full duration from now.
                expiry = Some(SystemTime::now() + duration);
            }
            was_leading = manager_leading;
            let leading = still_leading(manager_leading, expiry, SystemTime::now());
            tx.send_if_modified(|current| std::mem::replace(current, leading) != leading);
            tokio::select! {
                changed = manager.changed() => {
                    if changed.is_err() {
                        let _ = tx.send(false);
                        return;
                    }
                }
                _ = tick.tick() => {
                    if manager_leading {
                        match tokio::time::timeout(READ_TIMEOUT, api.get_opt(&name)).await {
                            Ok(Ok(Some(lease))) => expiry = held_until(&lease, &identity),
                            Ok(Ok(None)) => expiry = None,
                            Ok(Err(error)) => tracing::debug!(%error, "cannot read the leader lease"),
                            Err(_) => tracing::debug!("reading the leader lease timed out"),
                        }
                    }
                }
            }
        }
    });
    (rx, task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    fn lease(holder: &str, renewed: SystemTime, seconds: i32) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                renew_time: Some(MicroTime(renewed.try_into().expect("a timestamp"))),
                lease_duration_seconds: Some(seconds),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        }
    }

    #[test]
    fn leadership_ends_before_the_lease_as_last_renewed_expires() {
        let renewed = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let ours = lease("replica-a", renewed, 15);
        let expiry = held_until(&ours, "replica-a");
        assert_eq!(expiry, Some(renewed + Duration::from_secs(15)));
        assert!(still_leading(
            true,
            expiry,
            renewed + Duration::from_secs(11)
        ));
        // Renewals failing: 12 s after the last one this replica stops, 3 s before another
        // replica may take the lease.
        assert!(!still_leading(
            true,
            expiry,
            renewed + Duration::from_secs(12)
        ));
        assert!(!still_leading(false, expiry, renewed));
        assert_eq!(
            held_until(&lease("replica-b", renewed, 15), "replica-a"),
            None
        );
        assert!(!still_leading(true, None, renewed));
    }
}
