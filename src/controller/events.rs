//! Publishing Events (events.k8s.io/v1) on connectors. As kube-runtime's `Recorder`: a repeat
//! within six minutes is patched into the Event it repeats as a series (`series.count`,
//! `series.lastObservedTime`) — but only a repeat of the same **note**. kube's Recorder merges
//! every occurrence of a reason into the first one's Event, whose note the API server keeps
//! (an Event's note is immutable), so an Event merged fifteen times went on naming the group of
//! the first. Here an occurrence with another note is an Event of its own: the newest Event of a
//! reason always says what happened last.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::Reporter;
use kube::{Client, ResourceExt};
use tokio::sync::Mutex;

/// Repeats within this long of the last occurrence join its series (kube's own window).
const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);

/// Normal or Warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    Normal,
    Warning,
}

impl EventKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Warning => "Warning",
        }
    }
}

/// What makes two occurrences one Event.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    kind: EventKind,
    reason: String,
    action: String,
    note: String,
    regarding: (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    ),
}

/// Publishes Events as `reporter`.
pub struct EventRecorder {
    client: Client,
    reporter: Reporter,
    /// The last occurrence of each Event published within the window.
    recent: Mutex<HashMap<Key, Event>>,
}

impl EventRecorder {
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Self {
            client,
            reporter,
            recent: Mutex::default(),
        }
    }

    /// Publishes one occurrence: the next of the series of the same Event with the same note, or
    /// a new Event.
    pub async fn publish(
        &self,
        kind: EventKind,
        reason: &str,
        action: &str,
        note: &str,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = Key {
            kind,
            reason: reason.to_owned(),
            action: action.to_owned(),
            note: note.to_owned(),
            regarding: (
                regarding.namespace.clone(),
                regarding.name.clone(),
                regarding.uid.clone(),
                regarding.kind.clone(),
            ),
        };
        let previous = {
            let mut recent = self.recent.lock().await;
            recent.retain(|_, e| last_observed(e).is_some_and(|t| t + SERIES_WINDOW > now));
            recent.get(&key).cloned()
        };
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        let published = match previous {
            Some(mut event) => {
                let count = event.series.as_ref().map_or(2, |s| s.count + 1);
                event.series = Some(EventSeries {
                    count,
                    last_observed_time: MicroTime(now),
                });
                match api
                    .patch(
                        &event.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&event),
                    )
                    .await
                {
                    Ok(_) => event,
                    // Gone (deleted, or expired by the API server): a new Event.
                    Err(kube::Error::Api(s)) if s.code == 404 => {
                        let event = self.new_event(kind, reason, action, note, regarding, now);
                        api.create(&PostParams::default(), &event).await?;
                        event
                    }
                    Err(e) => return Err(e),
                }
            }
            None => {
                let event = self.new_event(kind, reason, action, note, regarding, now);
                api.create(&PostParams::default(), &event).await?;
                event
            }
        };
        self.recent.lock().await.insert(key, published);
        Ok(())
    }

    fn new_event(
        &self,
        kind: EventKind,
        reason: &str,
        action: &str,
        note: &str,
        regarding: &ObjectReference,
        now: Timestamp,
    ) -> Event {
        let instance = self
            .reporter
            .instance
            .clone()
            .unwrap_or_else(|| self.reporter.controller.clone());
        Event {
            metadata: ObjectMeta {
                namespace: regarding.namespace.clone(),
                name: Some(format!(
                    "{}.{:x}",
                    regarding
                        .name
                        .as_deref()
                        .unwrap_or(&self.reporter.controller),
                    now.as_nanosecond()
                )),
                ..ObjectMeta::default()
            },
            action: Some(action.to_owned()),
            reason: Some(reason.to_owned()),
            note: Some(note.to_owned()),
            type_: Some(kind.as_str().to_owned()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(instance),
            ..Event::default()
        }
    }
}

/// When `event` last occurred.
fn last_observed(event: &Event) -> Option<Timestamp> {
    event
        .series
        .as_ref()
        .map(|s| s.last_observed_time.0)
        .or_else(|| event.event_time.as_ref().map(|t| t.0))
}
