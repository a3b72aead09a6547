//! Reads the manifests `kubectl apply` would take: one `AzureAdConnector` and the `Secret`s it
//! references, in one or more multi-document YAML files, validated with the CRD's own rules.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::Secret;
use serde::Deserialize;
use serde_json::Value;

use crate::resources::AzureAdConnector;
use crate::resources::validate::validate_connector;
use crate::sync::secrets::{SecretData, secret_data};

/// A connector and the Secrets found beside it (by name, in the connector's namespace).
#[derive(Debug)]
pub struct Manifests {
    pub connector: AzureAdConnector,
    pub namespace: String,
    pub secrets: BTreeMap<String, SecretData>,
}

/// A manifest problem: exit code 2, with the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: document {document}: not valid YAML: {message}")]
    Yaml {
        path: PathBuf,
        document: usize,
        message: String,
    },
    #[error("{path}: document {document}: {message}")]
    Object {
        path: PathBuf,
        document: usize,
        message: String,
    },
    #[error("{path}: AzureAdConnector {name} is invalid:\n  {}", errors.join("\n  "))]
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
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Io {
            path: path.clone(),
            source,
        })?;
        for (index, document) in serde_yaml::Deserializer::from_str(&text).enumerate() {
            let document_no = index + 1;
            let value = Value::deserialize(document).map_err(|e| ManifestError::Yaml {
                path: path.clone(),
                document: document_no,
                message: e.to_string(),
            })?;
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
                    let secret: Secret = serde_json::from_value(value)
                        .map_err(|e| object_error(format!("invalid Secret: {e}")))?;
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
