//! Request bodies in the Kubernetes protobuf encoding, which client-go's typed clients send for
//! built-in kinds (`kubectl create namespace`, `kubectl create secret`, Helm's release Secrets).
//!
//! The wire format: the magic `k8s\0`, then a `runtime.Unknown` message whose `raw` field holds
//! the object's own message (k8s.io/api generated.proto). Only the kinds those clients create
//! are decoded — Namespace, Secret, ConfigMap — and of ObjectMeta only the fields a client
//! sets on create/update. Anything else is refused with 415, as the real server refuses
//! protobuf for custom resources.

use std::collections::BTreeMap;

use base64::Engine;
use prost::Message;
use serde_json::{Map, Value, json};

use crate::error::ApiError;

pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

#[derive(Clone, PartialEq, Message)]
struct Unknown {
    #[prost(message, optional, tag = "1")]
    type_meta: Option<TypeMeta>,
    #[prost(bytes = "vec", tag = "2")]
    raw: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct TypeMeta {
    #[prost(string, tag = "1")]
    api_version: String,
    #[prost(string, tag = "2")]
    kind: String,
}

#[derive(Clone, PartialEq, Message)]
struct ObjectMeta {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    generate_name: String,
    #[prost(string, tag = "3")]
    namespace: String,
    #[prost(string, tag = "5")]
    uid: String,
    #[prost(string, tag = "6")]
    resource_version: String,
    #[prost(btree_map = "string, string", tag = "11")]
    labels: BTreeMap<String, String>,
    #[prost(btree_map = "string, string", tag = "12")]
    annotations: BTreeMap<String, String>,
    #[prost(string, repeated, tag = "14")]
    finalizers: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct Secret {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(btree_map = "string, bytes", tag = "2")]
    data: BTreeMap<String, Vec<u8>>,
    #[prost(string, tag = "3")]
    r#type: String,
    #[prost(btree_map = "string, string", tag = "4")]
    string_data: BTreeMap<String, String>,
    #[prost(bool, optional, tag = "5")]
    immutable: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
struct ConfigMap {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(btree_map = "string, string", tag = "2")]
    data: BTreeMap<String, String>,
    #[prost(btree_map = "string, bytes", tag = "3")]
    binary_data: BTreeMap<String, Vec<u8>>,
    #[prost(bool, optional, tag = "4")]
    immutable: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
struct Namespace {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(message, optional, tag = "2")]
    spec: Option<NamespaceSpec>,
}

#[derive(Clone, PartialEq, Message)]
struct NamespaceSpec {
    #[prost(string, repeated, tag = "1")]
    finalizers: Vec<String>,
}

/// Whether `content_type` is the Kubernetes protobuf media type.
pub fn is_protobuf(content_type: &str) -> bool {
    content_type.split(';').next().map(str::trim) == Some(CONTENT_TYPE)
}

/// Decodes a protobuf request body into the JSON object the rest of the server works on.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("the body does not start with the k8s protobuf magic"))?;
    let unknown = Unknown::decode(envelope).map_err(|e| bad(&e.to_string()))?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let raw = unknown.raw.as_slice();
    let mut object = match (type_meta.api_version.as_str(), type_meta.kind.as_str()) {
        ("v1", "Secret") => secret(Secret::decode(raw).map_err(|e| bad(&e.to_string()))?),
        ("v1", "ConfigMap") => config_map(ConfigMap::decode(raw).map_err(|e| bad(&e.to_string()))?),
        ("v1", "Namespace") => namespace(Namespace::decode(raw).map_err(|e| bad(&e.to_string()))?),
        (api_version, kind) => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "the test API server decodes {CONTENT_TYPE} only for v1 Namespace, Secret and ConfigMap, not {api_version} {kind}"
            )));
        }
    };
    object["apiVersion"] = json!(type_meta.api_version);
    object["kind"] = json!(type_meta.kind);
    Ok(object)
}

fn bad(why: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "the protobuf request body is not a valid object: {why}"
    ))
}

fn metadata(meta: Option<ObjectMeta>) -> Value {
    let meta = meta.unwrap_or_default();
    let mut out = Map::new();
    let strings = [
        ("name", meta.name),
        ("generateName", meta.generate_name),
        ("namespace", meta.namespace),
        ("uid", meta.uid),
        ("resourceVersion", meta.resource_version),
    ];
    for (key, value) in strings {
        if !value.is_empty() {
            out.insert(key.into(), json!(value));
        }
    }
    if !meta.labels.is_empty() {
        out.insert("labels".into(), json!(meta.labels));
    }
    if !meta.annotations.is_empty() {
        out.insert("annotations".into(), json!(meta.annotations));
    }
    if !meta.finalizers.is_empty() {
        out.insert("finalizers".into(), json!(meta.finalizers));
    }
    Value::Object(out)
}

fn base64_map(map: BTreeMap<String, Vec<u8>>) -> Value {
    let engine = base64::engine::general_purpose::STANDARD;
    map.into_iter()
        .map(|(k, v)| (k, json!(engine.encode(v))))
        .collect::<Map<_, _>>()
        .into()
}

fn secret(s: Secret) -> Value {
    let mut out = json!({"metadata": metadata(s.metadata)});
    if !s.data.is_empty() {
        out["data"] = base64_map(s.data);
    }
    if !s.string_data.is_empty() {
        out["stringData"] = json!(s.string_data);
    }
    if !s.r#type.is_empty() {
        out["type"] = json!(s.r#type);
    }
    if let Some(immutable) = s.immutable {
        out["immutable"] = json!(immutable);
    }
    out
}

fn config_map(c: ConfigMap) -> Value {
    let mut out = json!({"metadata": metadata(c.metadata)});
    if !c.data.is_empty() {
        out["data"] = json!(c.data);
    }
    if !c.binary_data.is_empty() {
        out["binaryData"] = base64_map(c.binary_data);
    }
    if let Some(immutable) = c.immutable {
        out["immutable"] = json!(immutable);
    }
    out
}

fn namespace(n: Namespace) -> Value {
    let mut out = json!({"metadata": metadata(n.metadata)});
    if let Some(spec) = n.spec.filter(|s| !s.finalizers.is_empty()) {
        out["spec"] = json!({"finalizers": spec.finalizers});
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let unknown = Unknown {
            type_meta: Some(TypeMeta {
                api_version: api_version.into(),
                kind: kind.into(),
            }),
            raw,
        };
        [MAGIC.to_vec(), unknown.encode_to_vec()].concat()
    }

    #[test]
    fn a_secret_decodes_with_its_labels_and_base64_data() {
        let secret = Secret {
            metadata: Some(ObjectMeta {
                name: "sh.helm.release.v1.pbc.v1".into(),
                namespace: "ns".into(),
                labels: BTreeMap::from([("owner".into(), "helm".into())]),
                ..Default::default()
            }),
            data: BTreeMap::from([("release".into(), b"\x00\xffdata".to_vec())]),
            r#type: "helm.sh/release.v1".into(),
            ..Default::default()
        };
        let object = decode(&envelope("v1", "Secret", secret.encode_to_vec())).expect("decodes");
        assert_eq!(
            object,
            json!({"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
                "metadata": {"name": "sh.helm.release.v1.pbc.v1", "namespace": "ns", "labels": {"owner": "helm"}},
                "data": {"release": "AP9kYXRh"}})
        );
    }

    #[test]
    fn a_namespace_decodes_and_other_kinds_are_unsupported() {
        let ns = Namespace {
            metadata: Some(ObjectMeta {
                name: "msp-contoso".into(),
                ..Default::default()
            }),
            spec: None,
        };
        let object = decode(&envelope("v1", "Namespace", ns.encode_to_vec())).expect("decodes");
        assert_eq!(object["metadata"]["name"], "msp-contoso");
        let err = decode(&envelope("apps/v1", "Deployment", vec![])).expect_err("unsupported");
        assert!(matches!(err, ApiError::UnsupportedMediaType(_)), "{err:?}");
        assert!(matches!(decode(b"{}"), Err(ApiError::BadRequest(_))));
    }
}
