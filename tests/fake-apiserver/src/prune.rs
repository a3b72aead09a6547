//! Unknown-field pruning of custom resources against a structural schema, as the API server does
//! it: fields the schema does not declare are dropped (or refused under `fieldValidation=Strict`)
//! unless `x-kubernetes-preserve-unknown-fields` keeps them.

use serde_json::Value;

fn preserves(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// Removes undeclared fields from `value`, returning their dotted paths (`spec.foo`).
pub fn prune(schema: &Value, value: &mut Value) -> Vec<String> {
    let mut unknown = Vec::new();
    walk(schema, value, "", &mut unknown);
    unknown.sort();
    unknown
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(schema: &Value, value: &mut Value, path: &str, unknown: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let keep_unknown =
                preserves(schema) || schema.get("additionalProperties") == Some(&Value::Bool(true));
            if properties.is_none() && additional.is_none() && keep_unknown {
                return;
            }
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let child_path = join(path, &key);
                let child_schema = properties.and_then(|p| p.get(&key)).or(additional);
                match child_schema {
                    Some(child_schema) => {
                        if let Some(child) = map.get_mut(&key) {
                            walk(child_schema, child, &child_path, unknown);
                        }
                    }
                    None if keep_unknown => {}
                    None => {
                        map.remove(&key);
                        unknown.push(child_path);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item_schema, item, &format!("{path}[{i}]"), unknown);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prunes_undeclared_fields_and_keeps_preserved_ones() {
        let schema = json!({"type": "object", "properties": {
            "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "spec": {"type": "object", "properties": {
                "a": {"type": "string"},
                "list": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "string"}}}},
                "map": {"type": "object", "additionalProperties": {"type": "string"}}
            }}
        }});
        let mut value = json!({
            "metadata": {"name": "n", "anything": 1},
            "spec": {"a": "x", "b": 1, "list": [{"x": "1", "y": 2}], "map": {"k": "v"}},
            "extra": true
        });
        let unknown = prune(&schema, &mut value);
        assert_eq!(unknown, vec!["extra", "spec.b", "spec.list[0].y"]);
        assert_eq!(
            value,
            json!({"metadata": {"name": "n", "anything": 1},
                   "spec": {"a": "x", "list": [{"x": "1"}], "map": {"k": "v"}}})
        );
    }
}
