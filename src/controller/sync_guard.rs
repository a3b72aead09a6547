//! One sync as the controller runs it: within the per-sync timeout, and stopped the moment this
//! process loses leadership. Stopping drops the sync where it waits (on a request): no request
//! starts after that, so no Password Boss write is made by a replica that knows it lost the
//! lease. Either way the sync fails with a clear reason and never deprovisions anything.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::engine::{SyncEngine, SyncRequest};
use super::leadership::Leadership;
use crate::sync::report::{Reached, SyncFailure, SyncReport};
use crate::sync::status::failure::FailureReason;

/// The controller's default per-sync timeout: 6 minutes, past the sync's own deadline
/// (`sync::DEFAULT_SYNC_DEADLINE`, 5 minutes) so that normally the sync reports its
/// own, more precise, failure; this one stops an engine that does not.
pub const DEFAULT_SYNC_TIMEOUT: Duration = Duration::from_secs(360);

/// Runs `request` through `engine`, at most `timeout`, stopped when `leadership` is lost.
pub async fn guarded_sync<E: SyncEngine>(
    engine: &E,
    request: SyncRequest,
    timeout: Duration,
    leadership: &Leadership,
) -> SyncReport {
    let started = Timestamp::now();
    if !leadership.is_leading() {
        return SyncReport::failed(started, leadership_lost(), Reached::default());
    }
    let lost = leadership.lost();
    tokio::select! {
        biased;
        () = lost => {
            tracing::warn!("leader lease lost: the sync in flight is stopped, nothing more is written");
            SyncReport::failed(started, leadership_lost(), Reached::default())
        }
        outcome = tokio::time::timeout(timeout, engine.sync(request)) => match outcome {
            Ok(report) => report,
            Err(_) => {
                let message = format!(
                    "the sync did not finish within the controller's per-sync timeout of {}s; it \
                     was stopped and the next sync tries again; check that Microsoft Graph and \
                     Password Boss answer promptly",
                    timeout.as_secs()
                );
                SyncReport::failed(started, SyncFailure::deadline(message), Reached::default())
            }
        },
    }
}

fn leadership_lost() -> SyncFailure {
    SyncFailure::new(
        FailureReason::LeadershipLost,
        "this replica lost the leader lease; the sync was stopped and the new leader syncs the \
         connector",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::engine::ConnectorKey;

    /// An engine whose syncs never end (a hung server, a bug).
    struct Hanging;

    impl SyncEngine for Hanging {
        async fn sync(&self, _request: SyncRequest) -> SyncReport {
            std::future::pending().await
        }
        fn forget(&self, _key: &ConnectorKey) {}
        fn forget_all(&self) {}
    }

    fn request() -> SyncRequest {
        let spec = serde_json::from_value(serde_json::json!({
            "azure": {"tenantId": "contoso.onmicrosoft.com",
                      "clientId": "00000000-0000-0000-0000-000000000000",
                      "clientSecretRef": {"name": "entra-app", "key": "client-secret"}},
            "passwordBoss": {"tokenSecretRef": {"name": "passwordboss", "key": "token"}},
            "syncGroup": {"displayName": "Password Boss Users"}
        }))
        .expect("a spec");
        SyncRequest {
            key: ConnectorKey::new("ns", "contoso"),
            uid: "uid-1".into(),
            spec,
            secrets: Default::default(),
            dry_run: false,
            approval: None,
            safety_record: None,
            safety_store: None,
            federated_token: None,
            progress: Default::default(),
            company_guard: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_sync_that_never_ends_is_stopped_at_the_timeout() {
        let timeout = Duration::from_millis(50);
        let report = guarded_sync(&Hanging, request(), timeout, &Leadership::always()).await;
        let failure = report.failure.expect("a stopped sync fails");
        assert_eq!(failure.reason, FailureReason::SyncDeadlineExceeded);
        assert!(
            failure.to_string().contains("per-sync timeout"),
            "{failure}"
        );
    }

    #[tokio::test]
    async fn a_sync_in_flight_stops_when_leadership_is_lost() {
        let (tx, rx) = tokio::sync::watch::channel(true);
        let leadership = Leadership::following(rx);
        let sync = guarded_sync(&Hanging, request(), Duration::from_secs(3600), &leadership);
        let (report, ()) = tokio::join!(sync, async move {
            tokio::task::yield_now().await;
            tx.send(false).expect("the sync watches leadership");
        });
        assert_eq!(
            report.failure.unwrap().reason,
            FailureReason::LeadershipLost
        );
    }
}
