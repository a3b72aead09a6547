//! Patch bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and an approximation of
//! strategic merge patch: maps merge, lists of objects merge by a well-known key (`name`, `type`,
//! `containerPort`, `port`, `mountPath`), other lists are replaced; the directives kubectl sends
//! (`$patch`, `$setElementOrder/…`, `$retainKeys`, `$deleteFromPrimitiveList/…`) are honoured
//! where they matter and otherwise dropped.

use serde_json::{Map, Value};

/// The patch content types the server accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let mime = content_type.split(';').next().unwrap_or("").trim();
        match mime {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Why a patch could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("the patch is not valid JSON: {0}")]
    Parse(String),
    #[error("the JSON patch could not be applied: {0}")]
    Json(String),
    #[error("server-side apply is not a plain patch; use the apply module")]
    NotAPatch,
}

/// Applies a merge, JSON or strategic merge patch to `target`.
pub fn apply_patch(kind: PatchKind, target: &Value, body: &[u8]) -> Result<Value, PatchError> {
    let mut out = target.clone();
    match kind {
        PatchKind::Json => {
            let ops: json_patch::Patch =
                serde_json::from_slice(body).map_err(|e| PatchError::Parse(e.to_string()))?;
            json_patch::patch(&mut out, &ops.0).map_err(|e| PatchError::Json(e.to_string()))?;
        }
        PatchKind::Merge => {
            let patch: Value =
                serde_json::from_slice(body).map_err(|e| PatchError::Parse(e.to_string()))?;
            json_patch::merge(&mut out, &patch);
        }
        PatchKind::Strategic => {
            let patch: Value =
                serde_json::from_slice(body).map_err(|e| PatchError::Parse(e.to_string()))?;
            strategic_merge(&mut out, &patch);
        }
        PatchKind::Apply => return Err(PatchError::NotAPatch),
    }
    Ok(out)
}

const MERGE_KEYS: &[&str] = &["name", "type", "containerPort", "port", "mountPath"];

fn merge_key(items: &[Value]) -> Option<&'static str> {
    MERGE_KEYS.iter().copied().find(|key| {
        !items.is_empty()
            && items
                .iter()
                .all(|i| i.as_object().is_some_and(|o| o.contains_key(*key)))
    })
}

/// A strategic-merge approximation (see the module docs).
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replaced = patch_map.clone();
        replaced.remove("$patch");
        *target = Value::Object(strip_directives(replaced));
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target_map = target.as_object_mut().expect("target is an object");
    for (key, value) in patch_map {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(remove)) =
                (target_map.get_mut(field), value.as_array())
            {
                list.retain(|v| !remove.contains(v));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        match value {
            Value::Null => {
                target_map.remove(key);
            }
            Value::Array(patch_items) => {
                let current = target_map.get(key).and_then(Value::as_array).cloned();
                let merged = match current {
                    Some(current) => merge_lists(current, patch_items),
                    None => patch_items
                        .iter()
                        .filter(|i| i.get("$patch").is_none())
                        .cloned()
                        .collect(),
                };
                target_map.insert(key.clone(), Value::Array(merged));
            }
            Value::Object(_) => {
                let slot = target_map.entry(key.clone()).or_insert(Value::Null);
                strategic_merge(slot, value);
            }
            other => {
                target_map.insert(key.clone(), other.clone());
            }
        }
    }
}

fn merge_lists(mut current: Vec<Value>, patch_items: &[Value]) -> Vec<Value> {
    let all: Vec<Value> = current.iter().chain(patch_items).cloned().collect();
    let Some(key) = merge_key(&all) else {
        return patch_items.to_vec();
    };
    for item in patch_items {
        let id = item.get(key);
        let position = current.iter().position(|c| c.get(key) == id);
        if item.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(i) = position {
                current.remove(i);
            }
            continue;
        }
        match position {
            Some(i) => strategic_merge(&mut current[i], item),
            None => {
                let mut fresh = Value::Null;
                strategic_merge(&mut fresh, item);
                current.push(fresh);
            }
        }
    }
    current
}

fn strip_directives(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merge_merges_named_list_items_and_drops_directives() {
        let mut target = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "args": ["x"]},
            {"name": "b", "image": "b:1"}
        ]}, "metadata": {"finalizers": ["f1", "f2"]}});
        let patch = json!({
            "spec": {
                "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                "containers": [{"name": "a", "image": "a:2"}, {"name": "b", "$patch": "delete"}]
            },
            "metadata": {"$deleteFromPrimitiveList/finalizers": ["f1"]}
        });
        strategic_merge(&mut target, &patch);
        assert_eq!(
            target,
            json!({"spec": {"containers": [{"name": "a", "image": "a:2", "args": ["x"]}]},
                   "metadata": {"finalizers": ["f2"]}})
        );
    }

    #[test]
    fn merge_and_json_patches() {
        let target = json!({"a": {"b": 1, "c": 2}});
        let merged = apply_patch(PatchKind::Merge, &target, br#"{"a":{"b":null,"d":3}}"#).unwrap();
        assert_eq!(merged, json!({"a": {"c": 2, "d": 3}}));
        let patched = apply_patch(
            PatchKind::Json,
            &target,
            br#"[{"op":"replace","path":"/a/b","value":5}]"#,
        )
        .unwrap();
        assert_eq!(patched, json!({"a": {"b": 5, "c": 2}}));
        assert!(
            apply_patch(
                PatchKind::Json,
                &target,
                br#"[{"op":"remove","path":"/x"}]"#
            )
            .is_err()
        );
    }
}
