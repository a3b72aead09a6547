//! Watch streams: newline-delimited JSON watch events, replayed history or synthetic ADDED events
//! first, then live changes; BOOKMARKs (with `k8s.io/initial-events-end` after a streaming
//! list's initial events), `timeoutSeconds`, 410 Gone as an ERROR event, and an end on demand
//! (dropped watches).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::SinkExt;
use futures::channel::mpsc;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::catalog::ResourceType;
use crate::error::ApiError;
use crate::render::Rendering;
use crate::selector::Filter;
use crate::store::{Event, EventType, Expired, WatchStart};

/// Everything a watch stream needs once subscribed.
pub struct WatchPlan {
    pub rt: ResourceType,
    pub namespace: Option<String>,
    pub filter: Filter,
    pub start: Result<WatchStart, Expired>,
    pub send_initial_events: bool,
    pub bookmarks: bool,
    pub timeout: Duration,
    pub bookmark_interval: Duration,
    pub dropped: tokio::sync::watch::Receiver<u64>,
    /// How each event's object goes out (a one-row Table for `kubectl get -w`).
    pub rendering: Rendering,
}

fn line(value: &Value) -> Result<Bytes, Infallible> {
    let mut text = value.to_string();
    text.push('\n');
    Ok(Bytes::from(text))
}

/// How one change looks to a watch with this filter: label or field selector transitions turn
/// MODIFIED into ADDED or DELETED, as on the real server.
fn render(plan: &WatchPlan, event: &Event) -> Option<Value> {
    let (group, plural) = plan.rt.storage_key();
    if event.key.group != group || event.key.plural != plural {
        return None;
    }
    if let Some(ns) = plan.namespace.as_deref()
        && event.key.namespace != ns
    {
        return None;
    }
    let now = plan.filter.matches(&event.object);
    let before = event
        .previous
        .as_ref()
        .is_some_and(|p| plan.filter.matches(p));
    let kind = match (event.kind, before, now) {
        (EventType::Added, _, true) => EventType::Added,
        (EventType::Modified, true, true) => EventType::Modified,
        (EventType::Modified, false, true) => EventType::Added,
        (EventType::Modified, true, false) => EventType::Deleted,
        (EventType::Deleted, _, true) => EventType::Deleted,
        _ => return None,
    };
    let object = plan.rendering.object(&plan.rt, event.object.clone());
    Some(json!({"type": kind.as_str(), "object": object}))
}

fn bookmark(rt: &ResourceType, rv: u64, initial_events_end: bool) -> Value {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if initial_events_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({
        "type": "BOOKMARK",
        "object": {"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": metadata},
    })
}

/// Starts the stream; the returned receiver is the response body.
pub fn stream(plan: WatchPlan) -> mpsc::Receiver<Result<Bytes, Infallible>> {
    let (mut tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut plan = plan;
        let start = match std::mem::replace(
            &mut plan.start,
            Err(Expired {
                requested: 0,
                oldest: 0,
            }),
        ) {
            Ok(start) => start,
            Err(expired) => {
                let status = ApiError::Gone(format!(
                    "too old resource version: {} ({})",
                    expired.requested, expired.oldest
                ))
                .status();
                let _ = tx
                    .send(line(&json!({"type": "ERROR", "object": status})))
                    .await;
                return;
            }
        };
        let WatchStart {
            initial,
            mut live,
            rv,
        } = start;
        for event in initial {
            if let Some(v) = render(&plan, &event)
                && tx.send(line(&v)).await.is_err()
            {
                return;
            }
        }
        if plan.send_initial_events
            && plan.bookmarks
            && tx.send(line(&bookmark(&plan.rt, rv, true))).await.is_err()
        {
            return;
        }
        let deadline = tokio::time::sleep(plan.timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(plan.bookmark_interval);
        ticker.tick().await;
        let mut last_rv = rv;
        loop {
            let out: Option<Value> = tokio::select! {
                _ = &mut deadline => return,
                _ = plan.dropped.changed() => return,
                _ = ticker.tick(), if plan.bookmarks => Some(bookmark(&plan.rt, last_rv, false)),
                received = live.recv() => match received {
                    Ok(event) => {
                        let event: Arc<Event> = event;
                        if event.rv <= last_rv {
                            None
                        } else {
                            last_rv = event.rv;
                            render(&plan, &event)
                        }
                    }
                    // Lagging or closing ends the watch; the client resumes from its last
                    // resourceVersion and the history fills the gap.
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
                },
            };
            if let Some(v) = out
                && tx.send(line(&v)).await.is_err()
            {
                return;
            }
        }
    });
    rx
}
