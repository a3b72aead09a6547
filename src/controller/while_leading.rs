//! One sync as the controller runs it: stopped the moment this process loses leadership.
//! Stopping drops the sync where it waits (on a request): no request starts after that, so no
//! Password Boss write is made by a replica that knows it lost the lease. The sync then fails
//! with a clear reason and never deprovisions anything. Its report still lists every write it
//! made: the answered ones with their outcome, the ones in flight (sent, answer abandoned: they
//! may have taken effect) as `failed`, reason `LeadershipLost`, each with its audit line. (How long a sync may take is the
//! request's one deadline, kept by the sync itself.)

use k8s_openapi::jiff::Timestamp;

use super::engine::SyncEngine;
use super::leadership::Leadership;
use crate::sync::SyncRequest;
use crate::sync::report::{Reached, SyncFailure, SyncReport};
use crate::sync::state::REASON_LEADERSHIP_LOST;
use crate::sync::status::failure::FailureReason;

/// Runs `request` through `engine`, stopped when `leadership` is lost.
pub async fn sync_while_leading<E: SyncEngine>(
    engine: &E,
    request: SyncRequest,
    leadership: &Leadership,
) -> SyncReport {
    let started = Timestamp::now();
    if !leadership.is_leading() {
        return SyncReport::failed(started, leadership_lost(), Reached::default());
    }
    let lost = leadership.lost();
    let writes = request.writes_in_flight.clone();
    let connector = request.connector.clone();
    let finished = tokio::select! {
        biased;
        () = lost => None,
        report = engine.sync(request) => Some(report),
    };
    // The sync's future is dropped by now: no write of it is in flight any more on our side.
    finished.unwrap_or_else(|| {
        tracing::warn!("leader lease lost: the sync in flight is stopped, nothing more is written");
        let mut report = SyncReport::failed(started, leadership_lost(), Reached::default());
        report.actions = writes.abandon(&connector, REASON_LEADERSHIP_LOST);
        report
    })
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
    use crate::sync::ConnectorKey;

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
        SyncRequest::new(ConnectorKey::new("ns", "contoso"), spec)
    }

    #[tokio::test]
    async fn a_sync_in_flight_stops_when_leadership_is_lost() {
        let (tx, rx) = tokio::sync::watch::channel(true);
        let leadership = Leadership::following(rx);
        let sync = sync_while_leading(&Hanging, request(), &leadership);
        let (report, ()) = tokio::join!(sync, async move {
            tokio::task::yield_now().await;
            tx.send(false).expect("the sync watches leadership");
        });
        assert_eq!(
            report.failure.unwrap().reason,
            FailureReason::LeadershipLost
        );
    }

    #[tokio::test]
    async fn no_sync_starts_without_leadership() {
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let report = sync_while_leading(&Hanging, request(), &Leadership::following(rx)).await;
        assert_eq!(
            report.failure.unwrap().reason,
            FailureReason::LeadershipLost
        );
    }
}
