//! Writing what a reconcile found: the status through server-side apply on the status
//! subresource, and Events for the transitions worth one.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::events::{Event, EventType as KubeEventType, Recorder};
use serde_json::json;

use crate::resources::{AzureAdConnector, AzureAdConnectorStatus};
use crate::sync::status::EventType;

/// The one field manager of everything the controller writes.
pub const FIELD_MANAGER: &str = "pbconnector";
/// The Event `action` of everything the controller reports.
pub const EVENT_ACTION: &str = "Sync";
/// events.k8s.io/v1 limits `note` to 1 kB.
const MAX_NOTE_BYTES: usize = 1024;

/// Applies `status` (server-side apply, forced, field manager `pbconnector`).
pub async fn apply_status(
    api: &Api<DeserializeGuard<AzureAdConnector>>,
    name: &str,
    status: &AzureAdConnectorStatus,
) -> Result<(), kube::Error> {
    let patch = json!({
        "apiVersion": "passwordboss.com/v1alpha1",
        "kind": "AzureAdConnector",
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch_status(name, &params, &Patch::Apply(&patch))
        .await
        .map(|_| ())
}

/// Writes `status.message` alone (a JSON merge patch): the rest of the status, `safety` above all,
/// stays as the API server holds it (a sync may have stored its spending there since the status
/// this reconcile started from).
pub async fn write_message(
    api: &Api<DeserializeGuard<AzureAdConnector>>,
    name: &str,
    message: &str,
) -> Result<(), kube::Error> {
    let patch = json!({"status": {"message": message}});
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    api.patch_status(name, &params, &Patch::Merge(&patch))
        .await
        .map(|_| ())
}

/// Publishes one Event per transition; a failed publish is logged, never fatal.
pub async fn publish(
    recorder: &Recorder,
    reference: &ObjectReference,
    events: Vec<(EventType, &'static str, String)>,
) {
    for (kind, reason, note) in events {
        let event = Event {
            type_: match kind {
                EventType::Normal => KubeEventType::Normal,
                EventType::Warning => KubeEventType::Warning,
            },
            reason: reason.into(),
            note: Some(truncate(note)),
            action: EVENT_ACTION.into(),
            secondary: None,
        };
        if let Err(error) = recorder.publish(&event, reference).await {
            tracing::warn!(%error, reason, "could not publish an Event; check the RBAC for events.k8s.io events (create, patch)");
        }
    }
}

fn truncate(mut note: String) -> String {
    if note.len() > MAX_NOTE_BYTES {
        let mut end = MAX_NOTE_BYTES - 3;
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
        note.push_str("...");
    }
    note
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn long_notes_are_cut_on_a_character_boundary() {
        let note = "é".repeat(800);
        let cut = truncate(note);
        assert!(cut.len() <= 1024);
        assert!(cut.ends_with("..."));
        assert_eq!(truncate("short".into()), "short");
    }
}
