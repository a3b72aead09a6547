//! Turning the metadata-only Secret watch into reconcile triggers for the connectors that
//! reference a changed Secret.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::Store;
use kube::runtime::watcher;

use super::reconcile::Watched;
use super::secrets::{SecretRegistry, referencing_connectors};

type SecretMeta = PartialObjectMeta<Secret>;

/// Records each referenced Secret's resource version (or deletion) in `registry` and passes it
/// on as a trigger; Secrets no connector references are dropped here.
pub fn secret_triggers(
    events: impl Stream<Item = watcher::Result<watcher::Event<SecretMeta>>> + Send + 'static,
    store: Store<Watched>,
    registry: Arc<SecretRegistry>,
) -> impl Stream<Item = Result<SecretMeta, watcher::Error>> + Send + 'static {
    events.filter_map(move |event| {
        let out = match event {
            Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => {
                record(&store, &registry, s, false)
            }
            Ok(watcher::Event::Delete(s)) => record(&store, &registry, s, true),
            Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
            Err(error) => Some(Err(error)),
        };
        std::future::ready(out)
    })
}

fn record(
    store: &Store<Watched>,
    registry: &SecretRegistry,
    secret: SecretMeta,
    deleted: bool,
) -> Option<Result<SecretMeta, watcher::Error>> {
    if referencing_connectors(store, &secret).is_empty() {
        return None;
    }
    let namespace = secret.namespace()?;
    let version = if deleted {
        None
    } else {
        secret.resource_version()
    };
    registry.record(&namespace, &secret.name_any(), version);
    Some(Ok(secret))
}
