//! Secrets a connector references, read from its own namespace, wherever they come from
//! (the Kubernetes API for the controller, manifest files for the CLI).

use std::collections::BTreeMap;

use crate::resources::SecretKeyRef;

/// The data of one Secret: key → bytes (`stringData` already merged over `data`).
pub type SecretData = BTreeMap<String, Vec<u8>>;

/// The largest credential read from a Secret: 64 KiB (a certificate chain with its key is a
/// few KiB; a token far less).
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// Why a referenced secret value could not be read. Messages name the Secret and key, never the
/// value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("secret `{name}` not found in namespace `{namespace}`")]
    NotFound { namespace: String, name: String },
    #[error("secret `{name}` has no key `{key}`")]
    MissingKey { name: String, key: String },
    #[error("secret `{name}` key `{key}` is empty")]
    Empty { name: String, key: String },
    #[error("secret `{name}` key `{key}` is not UTF-8 text")]
    NotText { name: String, key: String },
    #[error(
        "secret `{name}` key `{key}` is larger than {MAX_SECRET_BYTES} bytes; store only the \
         credential there"
    )]
    TooLarge { name: String, key: String },
    #[error("spec.azure.workloadIdentity: {0}")]
    NoFederatedToken(String),
    #[error(
        "spec.azure.applicationRef names AzureAdApplication {0}, a shared app only the operator \
         uses (after checking that the app binds this connector's tenant to its namespace); run \
         this connector in the cluster, or give it clientId and a credential of its own"
    )]
    SharedApplication(String),
    /// The spec names no target, or two, so there is no token to read.
    #[error("{0}")]
    NoTarget(#[from] crate::resources::NoSingleTarget),
}

/// Reads a referenced key as trimmed text.
pub fn secret_text(
    namespace: &str,
    reference: &SecretKeyRef,
    data: Option<&SecretData>,
) -> Result<String, SecretError> {
    let data = data.ok_or_else(|| SecretError::NotFound {
        namespace: namespace.into(),
        name: reference.name.clone(),
    })?;
    let bytes = data
        .get(&reference.key)
        .ok_or_else(|| SecretError::MissingKey {
            name: reference.name.clone(),
            key: reference.key.clone(),
        })?;
    if bytes.len() > MAX_SECRET_BYTES {
        return Err(SecretError::TooLarge {
            name: reference.name.clone(),
            key: reference.key.clone(),
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| SecretError::NotText {
        name: reference.name.clone(),
        key: reference.key.clone(),
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(SecretError::Empty {
            name: reference.name.clone(),
            key: reference.key.clone(),
        });
    }
    Ok(text.to_string())
}

/// A Secret's data: `data` with `stringData` merged over it (as the API server stores it).
pub fn secret_data(secret: k8s_openapi::api::core::v1::Secret) -> SecretData {
    let mut data: SecretData = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    for (k, v) in secret.string_data.unwrap_or_default() {
        data.insert(k, v.into_bytes());
    }
    data
}
