//! Writing what a reconcile found: the status through server-side apply on the status
//! subresource (never its `safety`, which only the safety store changes), and Events for the
//! transitions worth one.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::DeserializeGuard;
use serde_json::json;

use super::events::{EventKind, EventRecorder};
use crate::resources::{AzureAdConnector, AzureAdConnectorStatus};
use crate::sync::status::EventType;

/// The one field manager of everything the controller writes.
pub const FIELD_MANAGER: &str = "pbconnector";
/// The Event `action` of everything the controller reports.
pub const EVENT_ACTION: &str = "Sync";
/// events.k8s.io/v1 limits `note` to 1 kB.
const MAX_NOTE_BYTES: usize = 1024;

/// How many times the object may change between the read and the write of one status before
/// the write gives up (the reconcile is retried).
const MAX_STATUS_CONFLICTS: u32 = 5;

/// Applies `status` (server-side apply, forced, field manager `pbconnector`), except its
/// `safety`: that is written only through the safety store (`controller::safety_store`, every
/// change from a fresh read on the condition of its `resourceVersion`). This write too reads the
/// object afresh, carries its `status.safety` exactly as stored (an applied status without it
/// would remove it: the field manager owns it), and names the `resourceVersion` it read, so a
/// record stored meanwhile by another replica is neither erased nor overwritten, however old
/// the copy `status` was built from. A 409 means the object changed since the read: read again.
pub async fn apply_status(
    api: &Api<DeserializeGuard<AzureAdConnector>>,
    name: &str,
    status: &AzureAdConnectorStatus,
) -> Result<(), kube::Error> {
    // Raw JSON: an object that does not match the schema still has its record carried.
    let kind = ApiResource::erase::<AzureAdConnector>(&());
    let raw: Api<DynamicObject> = match api.namespace() {
        Some(namespace) => Api::namespaced_with(api.clone().into_client(), namespace, &kind),
        None => Api::all_with(api.clone().into_client(), &kind),
    };
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut conflicts = 0;
    loop {
        let object = raw.get(name).await?;
        let stored = object
            .data
            .get("status")
            .and_then(|s| s.get("safety"))
            .filter(|s| !s.is_null())
            .cloned();
        let mut body = serde_json::to_value(status).map_err(kube::Error::SerdeError)?;
        if let Some(fields) = body.as_object_mut() {
            fields.remove("safety");
            if let Some(stored) = stored {
                fields.insert("safety".into(), stored);
            }
        }
        let patch = json!({
            "apiVersion": "passwordboss.com/v1alpha1",
            "kind": "AzureAdConnector",
            "metadata": {"resourceVersion": object.metadata.resource_version},
            "status": body,
        });
        match api.patch_status(name, &params, &Patch::Apply(&patch)).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 && conflicts < MAX_STATUS_CONFLICTS => {
                conflicts += 1;
                tracing::debug!(
                    conflicts,
                    "the connector changed while its status was written; reading it again"
                );
            }
            Err(e) => return Err(e),
        }
    }
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
    recorder: &EventRecorder,
    reference: &ObjectReference,
    events: Vec<(EventType, &'static str, String)>,
) {
    for (kind, reason, note) in events {
        let kind = match kind {
            EventType::Normal => EventKind::Normal,
            EventType::Warning => EventKind::Warning,
        };
        let published = recorder
            .publish(kind, reason, EVENT_ACTION, &truncate(note), reference)
            .await;
        if let Err(error) = published {
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
