//! Syncs in flight, cancelled by the watch event that makes them pointless: the connector was
//! deleted (or made again under its name), set `spec.suspend: true`, or its spec changed
//! (`metadata.generation`). The sync is dropped where it waits, as when its deadline passes or
//! leadership is lost: its slot (or its place in the queue for one) is freed at once; a request
//! on the wire is abandoned, and a write among them counts as one that may have taken effect —
//! the kept Password Boss state was taken out for the sync and is not put back, so the next sync
//! reads afresh, and what the sync spent was stored before its first destructive write. Each
//! write in flight at the cancel gets its audit line (outcome `failed`, reason `Cancelled`), as
//! when leadership is lost.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::ResourceExt;
use kube::runtime::watcher;
use tokio::sync::watch;

use super::reconcile::Watched;
use crate::sync::ConnectorKey;
use crate::sync::report::SyncReport;
use crate::sync::state::{AuditRecord, REASON_CANCELLED, WritesInFlight};

/// Why a sync in flight was cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// The connector was deleted (or deleted and made again under the same name).
    Deleted,
    /// `spec.suspend` was set.
    Suspended,
    /// The spec changed (a new `metadata.generation`): the sync ran on the old one.
    SpecChanged,
}

impl Cancelled {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deleted => "the connector was deleted",
            Self::Suspended => "the connector was suspended",
            Self::SpecChanged => "the connector's spec changed",
        }
    }
}

/// The syncs in flight, by connector.
#[derive(Default)]
pub struct InFlight {
    syncs: Mutex<HashMap<ConnectorKey, Running>>,
}

struct Running {
    id: u64,
    uid: Option<String>,
    generation: Option<i64>,
    cancel: watch::Sender<Option<Cancelled>>,
}

impl InFlight {
    fn syncs(&self) -> std::sync::MutexGuard<'_, HashMap<ConnectorKey, Running>> {
        self.syncs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A sync of `key` starts, on the object with `uid` at `generation`; the ticket says when
    /// it is cancelled, and ends the registration when dropped.
    pub fn begin(
        self: &Arc<Self>,
        key: &ConnectorKey,
        uid: Option<String>,
        generation: Option<i64>,
    ) -> Ticket {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (cancel, receiver) = watch::channel(None);
        self.syncs().insert(
            key.clone(),
            Running {
                id,
                uid,
                generation,
                cancel,
            },
        );
        Ticket {
            in_flight: self.clone(),
            key: key.clone(),
            id,
            receiver,
        }
    }

    /// Cancels the sync in flight that `event` makes pointless, if any.
    pub fn observe(&self, event: &watcher::Event<Watched>) {
        match event {
            watcher::Event::Delete(object) => self.cancel(object, |_| Some(Cancelled::Deleted)),
            watcher::Event::Apply(object) | watcher::Event::InitApply(object) => {
                self.cancel(object, |running| why_cancelled(running, object))
            }
            watcher::Event::Init | watcher::Event::InitDone => {}
        }
    }

    fn cancel(&self, object: &Watched, why: impl Fn(&Running) -> Option<Cancelled>) {
        let Some(namespace) = object.namespace() else {
            return;
        };
        let key = ConnectorKey::new(namespace, object.name_any());
        let syncs = self.syncs();
        let Some(running) = syncs.get(&key) else {
            return;
        };
        if let Some(reason) = why(running) {
            running.cancel.send_if_modified(|current| {
                let first = current.is_none();
                if first {
                    *current = Some(reason);
                }
                first
            });
        }
    }
}

/// Why the object as it is now cancels `running`, if it does.
fn why_cancelled(running: &Running, object: &Watched) -> Option<Cancelled> {
    let meta = kube::Resource::meta(object);
    if meta.deletion_timestamp.is_some() || (running.uid.is_some() && meta.uid != running.uid) {
        return Some(Cancelled::Deleted);
    }
    if object.0.as_ref().is_ok_and(|c| c.spec.suspend) {
        return Some(Cancelled::Suspended);
    }
    (meta.generation != running.generation).then_some(Cancelled::SpecChanged)
}

/// A sync cancelled by its connector's watch: why, and every write it made (the ones in flight
/// abandoned, reason `Cancelled`, each with its audit line written).
#[derive(Debug)]
pub struct Abandoned {
    pub why: Cancelled,
    pub actions: Vec<AuditRecord>,
}

/// Runs `sync` (whose writes `writes` records) until it ends or `ticket` is cancelled. A
/// cancelled sync is dropped where it waits and its writes in flight are abandoned (logged as
/// failed, reason `Cancelled`: they may have taken effect).
pub async fn unless_cancelled(
    ticket: &mut Ticket,
    writes: &WritesInFlight,
    sync: impl std::future::Future<Output = SyncReport>,
) -> Result<SyncReport, Abandoned> {
    let why = tokio::select! {
        biased;
        why = ticket.cancelled() => why,
        report = sync => return Ok(report),
    };
    // The sync's future is dropped by now: no write of it is in flight on our side any more.
    let connector = ticket.key.to_string();
    Err(Abandoned {
        why,
        actions: writes.abandon(&connector, REASON_CANCELLED),
    })
}

/// One sync's registration.
pub struct Ticket {
    in_flight: Arc<InFlight>,
    key: ConnectorKey,
    id: u64,
    receiver: watch::Receiver<Option<Cancelled>>,
}

impl Ticket {
    /// Resolves when the sync is cancelled, with why.
    pub async fn cancelled(&mut self) -> Cancelled {
        let why = self
            .receiver
            .wait_for(Option::is_some)
            .await
            .map(|why| *why);
        match why {
            Ok(Some(why)) => why,
            // The sender lives in the registry as long as the ticket does.
            _ => std::future::pending().await,
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut syncs = self.in_flight.syncs();
        if syncs.get(&self.key).is_some_and(|r| r.id == self.id) {
            syncs.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::AzureAdConnector;
    use kube::core::DeserializeGuard;

    fn connector(generation: i64, suspend: bool) -> Watched {
        let object: AzureAdConnector = serde_json::from_value(serde_json::json!({
            "apiVersion": "passwordboss.com/v1alpha1",
            "kind": "AzureAdConnector",
            "metadata": {"name": "contoso", "namespace": "ns", "uid": "u1", "generation": generation},
            "spec": {
                "azure": {"tenantId": "contoso.onmicrosoft.com",
                          "clientId": "00000000-0000-0000-0000-000000000000",
                          "clientSecretRef": {"name": "entra-app", "key": "client-secret"}},
                "passwordBoss": {"tokenSecretRef": {"name": "passwordboss", "key": "token"}},
                "syncGroup": {"displayName": "Password Boss Users"},
                "suspend": suspend
            }
        }))
        .expect("a connector");
        DeserializeGuard(Ok(object))
    }

    fn begin(in_flight: &Arc<InFlight>) -> Ticket {
        in_flight.begin(
            &ConnectorKey::new("ns", "contoso"),
            Some("u1".into()),
            Some(1),
        )
    }

    async fn now(ticket: &mut Ticket) -> Option<Cancelled> {
        futures::FutureExt::now_or_never(ticket.cancelled())
    }

    fn create(email: &str) -> crate::plan::Action {
        crate::plan::Action::CreateUser {
            external_id: format!("id-{email}"),
            email: email.into(),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            status: crate::domain::AccountStatus::Active,
        }
    }

    /// A sync cancelled with writes in flight reports each of them, abandoned (outcome
    /// failed, reason `Cancelled`), beside the ones answered before the cancel.
    #[tokio::test]
    async fn a_cancelled_sync_reports_its_writes_in_flight_as_abandoned() {
        use crate::resources::WriteOutcome;
        use crate::sync::state::{Applied, AuditRecord, Outcome};
        use crate::sync::target::TargetKind;

        let in_flight = Arc::new(InFlight::default());
        let mut ticket = begin(&in_flight);
        let writes = WritesInFlight::default();
        let (sent, mut sending) = tokio::sync::mpsc::channel(1);
        let sync = {
            let writes = writes.clone();
            async move {
                let done = create("done@contoso.com");
                writes.sent(0, &done, TargetKind::Scim);
                let record = AuditRecord::of(&done, &Outcome::Applied(Applied::default()));
                writes.answered(0, &record, TargetKind::Scim);
                writes.sent(1, &create("hung@contoso.com"), TargetKind::Scim);
                sent.send(()).await.expect("the test waits");
                // Its answer never comes.
                std::future::pending::<SyncReport>().await
            }
        };
        let cancel = async {
            sending.recv().await.expect("a write is sent");
            in_flight.observe(&watcher::Event::Delete(connector(1, false)));
        };
        let (result, ()) = tokio::join!(unless_cancelled(&mut ticket, &writes, sync), cancel);
        let abandoned = result.expect_err("the sync is cancelled");
        assert_eq!(abandoned.why, Cancelled::Deleted);
        let outcomes: Vec<_> = abandoned
            .actions
            .iter()
            .map(|r| (r.email.as_deref(), r.outcome, r.reason.as_deref()))
            .collect();
        assert_eq!(
            outcomes,
            vec![
                (Some("done@contoso.com"), WriteOutcome::Applied, None),
                (
                    Some("hung@contoso.com"),
                    WriteOutcome::Failed,
                    Some(REASON_CANCELLED)
                ),
            ]
        );
    }

    #[tokio::test]
    async fn each_event_that_makes_the_sync_pointless_cancels_it_and_no_other_does() {
        let in_flight = Arc::new(InFlight::default());
        let mut ticket = begin(&in_flight);
        // A status or annotation change: same generation, not suspended.
        in_flight.observe(&watcher::Event::Apply(connector(1, false)));
        assert_eq!(now(&mut ticket).await, None);
        in_flight.observe(&watcher::Event::Apply(connector(2, false)));
        assert_eq!(now(&mut ticket).await, Some(Cancelled::SpecChanged));
        // The first reason stays.
        in_flight.observe(&watcher::Event::Delete(connector(2, false)));
        assert_eq!(now(&mut ticket).await, Some(Cancelled::SpecChanged));
        drop(ticket);

        let mut ticket = begin(&in_flight);
        in_flight.observe(&watcher::Event::Apply(connector(2, true)));
        assert_eq!(now(&mut ticket).await, Some(Cancelled::Suspended));
        drop(ticket);

        let mut ticket = begin(&in_flight);
        in_flight.observe(&watcher::Event::Delete(connector(1, false)));
        assert_eq!(now(&mut ticket).await, Some(Cancelled::Deleted));
        drop(ticket);
        assert!(
            in_flight.syncs().is_empty(),
            "a ticket ends its registration"
        );
    }
}
