//! Reads the manifests `kubectl apply` would take: one `AzureAdConnector` and the `Secret`s it
//! references, in one or more multi-document YAML files, validated with the CRD's own rules.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;

use super::manifest_yaml::{YamlError, read_documents};
use crate::bounded::capped_join;
use crate::resources::AzureAdConnector;
use crate::resources::validate::validate_connector;
use crate::sync::secrets::{SecretData, secret_data};

/// A connector and the Secrets found beside it (by name, in the connector's namespace).
/// `Debug` names the Secrets and their keys, never the values.
pub struct Manifests {
    pub connector: AzureAdConnector,
    pub namespace: String,
    pub secrets: BTreeMap<String, SecretData>,
}

impl std::fmt::Debug for Manifests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secrets: BTreeMap<&str, Vec<&str>> = self
            .secrets
            .iter()
            .map(|(name, data)| (name.as_str(), data.keys().map(String::as_str).collect()))
            .collect();
        f.debug_struct("Manifests")
            .field("connector", &self.connector)
            .field("namespace", &self.namespace)
            .field("secrets", &secrets)
            .finish()
    }
}

/// A manifest problem: exit code 2, with the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {source}")]
    Yaml {
        path: PathBuf,
        #[source]
        source: YamlError,
    },
    #[error("{path}: document {document}: {message}")]
    Object {
        path: PathBuf,
        document: usize,
        message: String,
    },
    #[error(
        "{path}: AzureAdConnector {name} is invalid:\n  {}",
        capped_join(errors, "\n  ")
    )]
    Invalid {
        path: PathBuf,
        name: String,
        errors: Vec<String>,
    },
    #[error("no AzureAdConnector found in {}", files.join(", "))]
    NoConnector { files: Vec<String> },
    #[error(
        "more than one AzureAdConnector ({first} and {second}); pass the files of one connector"
    )]
    SeveralConnectors { first: String, second: String },
}

/// Loads and validates the files.
pub fn load(paths: &[PathBuf]) -> Result<Manifests, ManifestError> {
    let default_ns = "default";
    let mut connector: Option<(AzureAdConnector, String)> = None;
    let mut secrets: Vec<(String, String, SecretData)> = Vec::new();
    for path in paths {
        let documents = read_documents(path).map_err(|source| ManifestError::Yaml {
            path: path.clone(),
            source,
        })?;
        for (index, value) in documents.into_iter().enumerate() {
            let document_no = index + 1;
            if value.is_null() {
                continue;
            }
            let object_error = |message: String| ManifestError::Object {
                path: path.clone(),
                document: document_no,
                message,
            };
            let kind = value
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match kind {
                "AzureAdConnector" => {
                    let name = display_name(&value);
                    let parsed =
                        validate_connector(&value).map_err(|errors| ManifestError::Invalid {
                            path: path.clone(),
                            name: name.clone(),
                            errors: errors.iter().map(ToString::to_string).collect(),
                        })?;
                    let here = format!("{} in {}", name, path.display());
                    if let Some((_, first)) = &connector {
                        return Err(ManifestError::SeveralConnectors {
                            first: first.clone(),
                            second: here,
                        });
                    }
                    connector = Some((parsed, here));
                }
                "Secret" => {
                    let secret = parse_secret(value).map_err(object_error)?;
                    let name = secret
                        .metadata
                        .name
                        .clone()
                        .ok_or_else(|| object_error("Secret has no metadata.name".into()))?;
                    let namespace = secret
                        .metadata
                        .namespace
                        .clone()
                        .unwrap_or_else(|| default_ns.into());
                    secrets.push((namespace, name, secret_data(secret)));
                }
                "" => return Err(object_error("no kind".into())),
                _ => {}
            }
        }
    }
    let (connector, _) = connector.ok_or_else(|| ManifestError::NoConnector {
        files: paths.iter().map(|p| p.display().to_string()).collect(),
    })?;
    let namespace = connector
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| default_ns.into());
    let secrets = secrets
        .into_iter()
        .filter(|(ns, _, _)| *ns == namespace)
        .map(|(_, name, data)| (name, data))
        .collect();
    Ok(Manifests {
        connector,
        namespace,
        secrets,
    })
}

fn display_name(value: &Value) -> String {
    let meta = value.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>");
    match meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
    {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

/// A Secret document. serde's messages quote the offending value, which here is secret, so the
/// error names the field only.
fn parse_secret(value: Value) -> Result<Secret, String> {
    let field = first_bad_field(&value);
    serde_json::from_value(value).map_err(|_| {
        format!(
            "invalid Secret{}: `data` values must be base64, `stringData` values text, \
             metadata.name a string (the value is not shown)",
            field.map(|f| format!(" (check {f})")).unwrap_or_default()
        )
    })
}

/// The first `data`/`stringData` key whose value has the wrong shape, by name.
fn first_bad_field(value: &Value) -> Option<String> {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    if let Some(data) = value.get("data").and_then(Value::as_object) {
        for (key, v) in data {
            if v.as_str().is_none_or(|s| engine.decode(s).is_err()) {
                return Some(format!("data.{key}"));
            }
        }
    }
    if let Some(data) = value.get("stringData").and_then(Value::as_object) {
        for (key, v) in data {
            if !v.is_string() {
                return Some(format!("stringData.{key}"));
            }
        }
    }
    None
}
