//! The controller's `SafetyStore`: the connector's `status.safety` on the API server. A read is
//! a GET of the object; a write applies the status as that GET found it, with the new record, on
//! the condition of the GET's `resourceVersion` (the API server answers 409 when the object
//! changed since), so that it never erases what another writer stored meanwhile.

use std::sync::Mutex;

use futures::future::BoxFuture;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::status_writer::FIELD_MANAGER;
use crate::resources::{AzureAdConnector, AzureAdConnectorStatus, SafetyRecord};
use crate::sync::spending::{SafetyStore, SafetyStoreError, StoredRecord};

/// `status.safety` of the connector `name` in `namespace`, object `uid`.
pub struct StatusSafetyStore {
    api: Api<AzureAdConnector>,
    name: String,
    uid: String,
    /// The status the last read found, and its `resourceVersion`: a write applies it whole (the
    /// field manager's fields it left out would be removed).
    read: Mutex<Option<(String, AzureAdConnectorStatus)>>,
}

impl StatusSafetyStore {
    pub fn new(client: Client, namespace: &str, name: &str, uid: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            uid: uid.to_owned(),
            read: Mutex::default(),
        }
    }

    async fn read_now(&self) -> Result<StoredRecord, SafetyStoreError> {
        let object = self.api.get(&self.name).await.map_err(|e| {
            SafetyStoreError::Failed(format!(
                "cannot read connector {}: {e}; check the operator's RBAC for azureadconnectors \
                 (get)",
                self.name
            ))
        })?;
        if !self.uid.is_empty() && object.metadata.uid.as_deref() != Some(self.uid.as_str()) {
            return Err(SafetyStoreError::Failed(format!(
                "connector {} was deleted and made again during the sync",
                self.name
            )));
        }
        let version = object.metadata.resource_version.ok_or_else(|| {
            SafetyStoreError::Failed("the API server sent no resourceVersion".into())
        })?;
        let status = object.status.unwrap_or_default();
        let record = status.safety.clone().unwrap_or_default();
        *self.read.lock().unwrap_or_else(|e| e.into_inner()) = Some((version.clone(), status));
        Ok(StoredRecord { record, version })
    }

    async fn write_now(
        &self,
        record: &SafetyRecord,
        version: &str,
    ) -> Result<(), SafetyStoreError> {
        let read = self.read.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut status = match read {
            Some((read_at, status)) if read_at == version => status,
            _ => return Err(SafetyStoreError::Conflict),
        };
        status.safety = Some(record.clone());
        let patch = json!({
            "apiVersion": "passwordboss.com/v1alpha1",
            "kind": "AzureAdConnector",
            "metadata": {"resourceVersion": version},
            "status": status,
        });
        let params = PatchParams::apply(FIELD_MANAGER).force();
        match self
            .api
            .patch_status(&self.name, &params, &Patch::Apply(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 => Err(SafetyStoreError::Conflict),
            Err(e) => Err(SafetyStoreError::Failed(format!(
                "cannot write the status of connector {}: {e}; check the operator's RBAC for \
                 azureadconnectors/status (patch)",
                self.name
            ))),
        }
    }
}

impl SafetyStore for StatusSafetyStore {
    fn read(&self) -> BoxFuture<'_, Result<StoredRecord, SafetyStoreError>> {
        Box::pin(self.read_now())
    }

    fn write<'a>(
        &'a self,
        record: &'a SafetyRecord,
        version: &'a str,
    ) -> BoxFuture<'a, Result<(), SafetyStoreError>> {
        Box::pin(self.write_now(record, version))
    }
}
