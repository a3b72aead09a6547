//! How objects go out, chosen by the request's `Accept` header: as stored, as Tables
//! (`as=Table`, for `kubectl get`), or as metadata only (`as=PartialObjectMetadata[List]`, for
//! kube's `Api::get_metadata`/`list_metadata`/`watch_metadata` and metadata-only watchers).

use serde_json::{Value, json};

use crate::catalog::ResourceType;
use crate::table;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rendering {
    Full,
    /// A Table, with this `includeObject`.
    Table(String),
    Metadata,
}

impl Rendering {
    /// Picks the rendering from the first media type of `Accept`.
    pub fn from_accept(accept: &str, include_object: Option<&str>) -> Self {
        let first = accept.split(',').next().unwrap_or("");
        if first.contains("as=Table") {
            Self::Table(include_object.unwrap_or("Metadata").to_owned())
        } else if first.contains("as=PartialObjectMetadata") {
            Self::Metadata
        } else {
            Self::Full
        }
    }

    /// One object (a get, a write's result, a watch event's object).
    pub fn object(&self, rt: &ResourceType, mut object: Value) -> Value {
        object["apiVersion"] = json!(rt.api_version());
        match self {
            Self::Full => object,
            Self::Table(include) => {
                let rv = object.pointer("/metadata/resourceVersion").cloned();
                table::render(rt, &[object], json!({"resourceVersion": rv}), include)
            }
            Self::Metadata => partial(&object),
        }
    }

    /// A list response.
    pub fn list(&self, rt: &ResourceType, items: Vec<Value>, meta: Value) -> Value {
        let items: Vec<Value> = items
            .into_iter()
            .map(|mut o| {
                o["apiVersion"] = json!(rt.api_version());
                o
            })
            .collect();
        match self {
            Self::Full => json!({
                "kind": format!("{}List", rt.kind),
                "apiVersion": rt.api_version(),
                "metadata": meta,
                "items": items,
            }),
            Self::Table(include) => table::render(rt, &items, meta, include),
            Self::Metadata => json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": meta,
                "items": items.iter().map(partial).collect::<Vec<_>>(),
            }),
        }
    }
}

fn partial(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_choose_the_rendering() {
        assert_eq!(
            Rendering::from_accept(
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
                None
            ),
            Rendering::Table("Metadata".into())
        );
        assert_eq!(
            Rendering::from_accept(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
                None
            ),
            Rendering::Metadata
        );
        assert_eq!(
            Rendering::from_accept("application/json", None),
            Rendering::Full
        );
        assert_eq!(Rendering::from_accept("", None), Rendering::Full);
    }
}
