//! Server-side apply, simplified: each field manager's last applied configuration is remembered
//! per object. Applying merges the configuration into the object (maps recursively; lists whose
//! schema says `x-kubernetes-list-type: map` merge by their keys, other lists are atomic), removes
//! what the same manager applied before but no longer applies, and refuses (409, unless `force`)
//! to change a value another manager applied. Ownership taken by plain updates is not tracked.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Another manager owns a field this apply would change.
#[derive(Debug, PartialEq, Eq)]
pub struct ApplyConflict {
    pub manager: String,
    pub fields: Vec<String>,
}

/// Last applied configuration per field manager, for one object and subresource.
pub type Managers = BTreeMap<String, Value>;

fn list_map_keys(schema: Option<&Value>) -> Option<Vec<String>> {
    let schema = schema?;
    if schema.get("x-kubernetes-list-type").and_then(Value::as_str) != Some("map") {
        return None;
    }
    let keys: Vec<String> = schema
        .get("x-kubernetes-list-map-keys")?
        .as_array()?
        .iter()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    (!keys.is_empty()).then_some(keys)
}

fn child_schema<'a>(schema: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    let schema = schema?;
    schema
        .get("properties")
        .and_then(|p| p.get(key))
        .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()))
}

fn item_key(item: &Value, keys: &[String]) -> Vec<Value> {
    keys.iter()
        .map(|k| item.get(k).cloned().unwrap_or(Value::Null))
        .collect()
}

/// Leaf fields of a configuration as (path, value); list-map items are addressed by key.
fn leaves(config: &Value, schema: Option<&Value>, path: String, out: &mut Vec<(String, Value)>) {
    match config {
        Value::Object(map) => {
            for (k, v) in map {
                leaves(v, child_schema(schema, k), format!("{path}.{k}"), out);
            }
        }
        Value::Array(items) => match list_map_keys(schema) {
            Some(keys) => {
                let item_schema = schema.and_then(|s| s.get("items"));
                for item in items {
                    let id = serde_json::to_string(&item_key(item, &keys)).unwrap_or_default();
                    leaves(item, item_schema, format!("{path}[{id}]"), out);
                }
            }
            None => out.push((path, config.clone())),
        },
        _ => out.push((path, config.clone())),
    }
}

/// Fields that `incoming` sets to a value different from what another manager applied and the
/// object still holds (a manager loses a field once anyone changed or removed it).
pub fn conflicts(
    managers: &Managers,
    manager: &str,
    incoming: &Value,
    current: &Value,
    schema: Option<&Value>,
) -> Option<ApplyConflict> {
    let mut mine = Vec::new();
    leaves(incoming, schema, String::new(), &mut mine);
    let mut present = Vec::new();
    leaves(current, schema, String::new(), &mut present);
    for (other, config) in managers {
        if other == manager {
            continue;
        }
        let mut theirs = Vec::new();
        leaves(config, schema, String::new(), &mut theirs);
        let fields: Vec<String> = mine
            .iter()
            .filter(|(path, value)| {
                !matches!(
                    path.as_str(),
                    ".apiVersion" | ".kind" | ".metadata.name" | ".metadata.namespace"
                ) && theirs.iter().any(|(p, v)| {
                    p == path && v != value && present.iter().any(|(cp, cv)| cp == p && cv == v)
                })
            })
            .map(|(p, _)| p.clone())
            .collect();
        if !fields.is_empty() {
            return Some(ApplyConflict {
                manager: other.clone(),
                fields,
            });
        }
    }
    None
}

/// Removes from `object` what `previous` set and `next` no longer sets.
fn remove_dropped(object: &mut Value, previous: &Value, next: &Value, schema: Option<&Value>) {
    match (object, previous) {
        (Value::Object(obj), Value::Object(prev)) => {
            for (k, prev_v) in prev {
                match next.get(k) {
                    None => {
                        obj.remove(k);
                    }
                    Some(next_v) => {
                        if let Some(child) = obj.get_mut(k) {
                            remove_dropped(child, prev_v, next_v, child_schema(schema, k));
                        }
                    }
                }
            }
        }
        (Value::Array(items), Value::Array(prev_items)) => {
            let Some(keys) = list_map_keys(schema) else {
                return;
            };
            let next_items = next.as_array().cloned().unwrap_or_default();
            let item_schema = schema.and_then(|s| s.get("items"));
            for prev_item in prev_items {
                let id = item_key(prev_item, &keys);
                let still = next_items.iter().find(|n| item_key(n, &keys) == id);
                let position = items.iter().position(|i| item_key(i, &keys) == id);
                match (still, position) {
                    (None, Some(i)) => {
                        items.remove(i);
                    }
                    (Some(next_item), Some(i)) => {
                        remove_dropped(&mut items[i], prev_item, next_item, item_schema)
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// Merges an applied configuration into an object.
fn merge(object: &mut Value, config: &Value, schema: Option<&Value>) {
    match config {
        Value::Object(cfg) => {
            if !object.is_object() {
                *object = Value::Object(Map::new());
            }
            let obj = object.as_object_mut().expect("object");
            for (k, v) in cfg {
                if v.is_null() {
                    obj.remove(k);
                    continue;
                }
                let slot = obj.entry(k.clone()).or_insert(Value::Null);
                merge(slot, v, child_schema(schema, k));
            }
        }
        Value::Array(cfg_items) => match (list_map_keys(schema), object.as_array_mut()) {
            (Some(keys), Some(items)) => {
                let item_schema = schema.and_then(|s| s.get("items"));
                for cfg_item in cfg_items {
                    let id = item_key(cfg_item, &keys);
                    match items.iter_mut().find(|i| item_key(i, &keys) == id) {
                        Some(existing) => merge(existing, cfg_item, item_schema),
                        None => items.push(cfg_item.clone()),
                    }
                }
            }
            _ => *object = config.clone(),
        },
        other => *object = other.clone(),
    }
}

/// Applies `config` for `manager` to `current`, updating `managers`. Conflicts are reported
/// unless `force` is set, in which case this apply wins (the other managers keep their record).
pub fn apply(
    current: &Value,
    config: &Value,
    manager: &str,
    force: bool,
    managers: &mut Managers,
    schema: Option<&Value>,
) -> Result<Value, ApplyConflict> {
    if let Some(conflict) = conflicts(managers, manager, config, current, schema)
        && !force
    {
        return Err(conflict);
    }
    let mut object = current.clone();
    if let Some(previous) = managers.get(manager) {
        remove_dropped(&mut object, previous, config, schema);
    }
    merge(&mut object, config, schema);
    managers.insert(manager.to_owned(), config.clone());
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"properties": {"status": {"properties": {"conditions": {
            "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
            "items": {"type": "object"}
        }}}}})
    }

    #[test]
    fn conditions_merge_by_type_and_dropped_fields_disappear() {
        let schema = schema();
        let mut managers = Managers::new();
        let current = json!({"status": {"conditions": [{"type": "Other", "status": "True"}]}});
        let first = json!({"status": {"message": "hi", "conditions": [
            {"type": "Ready", "status": "False"}, {"type": "Gone", "status": "True"}]}});
        let obj = apply(&current, &first, "op", false, &mut managers, Some(&schema)).unwrap();
        let second = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let obj = apply(&obj, &second, "op", false, &mut managers, Some(&schema)).unwrap();
        assert_eq!(
            obj,
            json!({"status": {"conditions": [
                {"type": "Other", "status": "True"}, {"type": "Ready", "status": "True"}]}})
        );
    }

    #[test]
    fn another_managers_value_conflicts_unless_forced() {
        let mut managers = Managers::new();
        let obj = apply(
            &json!({}),
            &json!({"spec": {"a": 1}}),
            "one",
            false,
            &mut managers,
            None,
        )
        .unwrap();
        let err = apply(
            &obj,
            &json!({"spec": {"a": 2}}),
            "two",
            false,
            &mut managers,
            None,
        )
        .unwrap_err();
        assert_eq!(err.manager, "one");
        assert_eq!(err.fields, vec![".spec.a".to_string()]);
        let obj = apply(
            &obj,
            &json!({"spec": {"a": 2}}),
            "two",
            true,
            &mut managers,
            None,
        )
        .unwrap();
        assert_eq!(obj, json!({"spec": {"a": 2}}));
        // "two" now holds the value "one" applied, so a third manager conflicts with "two" only.
        let err = apply(
            &obj,
            &json!({"spec": {"a": 3}}),
            "three",
            false,
            &mut managers,
            None,
        )
        .unwrap_err();
        assert_eq!(err.manager, "two");
    }

    #[test]
    fn a_field_changed_by_someone_else_is_no_longer_owned() {
        let mut managers = Managers::new();
        let cfg = |holder: &str| json!({"spec": {"holder": holder}});
        let obj = apply(&json!({}), &cfg("a"), "a", false, &mut managers, None).unwrap();
        // A plain patch removed the field: "a" no longer owns it.
        let mut released = obj.clone();
        released["spec"].as_object_mut().unwrap().remove("holder");
        let obj = apply(&released, &cfg("b"), "b", false, &mut managers, None).unwrap();
        assert_eq!(obj, cfg("b"));
    }
}
