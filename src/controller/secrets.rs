//! The Secrets a connector references: read at sync time with `Api<Secret>::get` (their data
//! never sits in a cache), and followed by a metadata-only watch so a rotation triggers a sync.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::{DeserializeGuard, PartialObjectMeta};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};

use super::schedule::SecretVersions;
use crate::resources::{AzureAdConnector, AzureAdConnectorSpec};
use crate::sync::secrets::{SecretData, secret_data};

/// A referenced Secret could not be read for another reason than not existing.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot read secret `{name}` in namespace `{namespace}`: {source}; check that the \
     operator's service account may get Secrets there"
)]
pub struct SecretReadError {
    pub namespace: String,
    pub name: String,
    #[source]
    pub source: kube::Error,
}

/// The referenced Secrets that exist, and the resource version of every referenced one.
#[derive(Debug, Default)]
pub struct ReadSecrets {
    pub data: BTreeMap<String, SecretData>,
    pub versions: SecretVersions,
}

/// Names of the Secrets a spec references.
pub fn referenced_names(spec: &AzureAdConnectorSpec) -> BTreeSet<String> {
    spec.secret_refs()
        .into_iter()
        .map(|r| r.name.clone())
        .collect()
}

/// Reads every referenced Secret of the connector's namespace. A missing Secret is left out (the
/// pipeline reports it clearly); any other failure is an error.
pub async fn read_secrets(
    client: &Client,
    namespace: &str,
    spec: &AzureAdConnectorSpec,
) -> Result<ReadSecrets, SecretReadError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut read = ReadSecrets::default();
    for name in referenced_names(spec) {
        let secret = api.get_opt(&name).await.map_err(|source| SecretReadError {
            namespace: namespace.into(),
            name: name.clone(),
            source,
        })?;
        match secret {
            Some(secret) => {
                read.versions
                    .insert(name.clone(), secret.resource_version());
                read.data.insert(name, secret_data(secret));
            }
            None => {
                read.versions.insert(name, None);
            }
        }
    }
    Ok(read)
}

type SecretId = (String, String);

/// Resource versions of referenced Secrets as the metadata watch last reported them
/// (`None`: deleted). Only Secrets some connector references are kept.
#[derive(Debug, Default)]
pub struct SecretRegistry {
    versions: Mutex<HashMap<SecretId, Option<String>>>,
}

impl SecretRegistry {
    /// Records a watch event for a Secret; `deleted` for a deletion.
    pub fn record(&self, namespace: &str, name: &str, version: Option<String>) {
        self.lock()
            .insert((namespace.to_string(), name.to_string()), version);
    }

    /// What the watch reported for these names; names it has not seen are left out.
    pub fn observed(&self, namespace: &str, names: &BTreeSet<String>) -> SecretVersions {
        let versions = self.lock();
        names
            .iter()
            .filter_map(|name| {
                versions
                    .get(&(namespace.to_string(), name.clone()))
                    .map(|v| (name.clone(), v.clone()))
            })
            .collect()
    }

    /// Drops Secrets no connector references any more.
    pub fn retain_referenced(&self, referenced: &BTreeSet<SecretId>) {
        self.lock().retain(|id, _| referenced.contains(id));
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SecretId, Option<String>>> {
        self.versions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Watched = DeserializeGuard<AzureAdConnector>;

/// The connectors of `secret`'s namespace that reference it.
pub fn referencing_connectors(
    store: &Store<Watched>,
    secret: &PartialObjectMeta<Secret>,
) -> Vec<ObjectRef<Watched>> {
    let (Some(namespace), name) = (secret.namespace(), secret.name_any()) else {
        return Vec::new();
    };
    store
        .state()
        .iter()
        .filter(|c| c.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|c| {
            c.0.as_ref()
                .is_ok_and(|c| referenced_names(&c.spec).contains(&name))
        })
        .map(|c| ObjectRef::from_obj(c.as_ref()))
        .collect()
}

/// Every (namespace, name) of a Secret some valid connector references.
pub fn all_referenced(store: &Store<Watched>) -> BTreeSet<SecretId> {
    store
        .state()
        .iter()
        .filter_map(|c| {
            let ns = c.namespace()?;
            let connector = c.0.as_ref().ok()?;
            Some(
                referenced_names(&connector.spec)
                    .into_iter()
                    .map(move |n| (ns.clone(), n)),
            )
        })
        .flatten()
        .collect()
}
