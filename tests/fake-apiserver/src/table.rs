//! `meta.k8s.io/v1 Table` rendering for `kubectl get`: NAME plus the CRD's
//! `additionalPrinterColumns` (NAME and AGE for built-ins), `date` columns shown as ages the way
//! the real server words them.

use jsonpath_rust::JsonPath;
use serde_json::{Value, json};

use crate::catalog::{PrinterColumn, ResourceType};

fn columns(rt: &ResourceType) -> Vec<PrinterColumn> {
    let mut cols = vec![PrinterColumn {
        name: "Name".into(),
        type_: "string".into(),
        format: "name".into(),
        description: "Name must be unique within a namespace.".into(),
        priority: 0,
        json_path: ".metadata.name".into(),
    }];
    if rt.is_custom() {
        cols.extend(rt.printer_columns.iter().cloned());
    } else {
        cols.push(PrinterColumn {
            name: "Age".into(),
            type_: "date".into(),
            format: String::new(),
            description: "CreationTimestamp is a timestamp representing the server time when this object was created.".into(),
            priority: 0,
            json_path: ".metadata.creationTimestamp".into(),
        });
    }
    cols
}

/// The value of a printer column's JSONPath (`.a.b.c`, also `.a[0].b`), or null when absent.
fn cell(object: &Value, col: &PrinterColumn, now: jiff::Timestamp) -> Value {
    let path = format!("${}", col.json_path);
    let found = object
        .query(&path)
        .ok()
        .and_then(|hits| hits.first().map(|v| (*v).clone()));
    match (found, col.type_.as_str()) {
        (None, _) => Value::Null,
        (Some(Value::String(s)), "date") => match s.parse::<jiff::Timestamp>() {
            Ok(t) => Value::String(human_duration(now.duration_since(t))),
            Err(_) => Value::String("<invalid>".into()),
        },
        (Some(v), _) => v,
    }
}

/// Go's `duration.HumanDuration`, as `kubectl get` prints ages.
pub fn human_duration(d: jiff::SignedDuration) -> String {
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    let minutes = seconds / 60;
    let hours = seconds / 3600;
    let days = hours / 24;
    let years = days / 365;
    if seconds < 60 * 2 {
        format!("{seconds}s")
    } else if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        }
    } else if minutes < 60 * 3 {
        format!("{minutes}m")
    } else if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{h}h")
        }
    } else if hours < 24 * 365 * 2 {
        format!("{days}d")
    } else if hours < 24 * 365 * 8 {
        let dy = days % 365;
        if dy == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{dy}d")
        }
    } else {
        format!("{years}y")
    }
}

/// What a row carries as its object (`includeObject`: `None`, `Metadata` (default) or `Object`).
fn row_object(object: &Value, include: &str) -> Value {
    match include {
        "None" => Value::Null,
        "Object" => object.clone(),
        _ => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
        }),
    }
}

/// Renders objects as a Table.
pub fn render(
    rt: &ResourceType,
    objects: &[Value],
    list_meta: Value,
    include_object: &str,
) -> Value {
    let cols = columns(rt);
    let now = jiff::Timestamp::now();
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let cells: Vec<Value> = cols.iter().map(|c| cell(o, c, now)).collect();
            let mut row = json!({"cells": cells});
            let obj = row_object(o, include_object);
            if !obj.is_null() {
                row["object"] = obj;
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": cols.iter().map(|c| json!({
            "name": c.name, "type": c.type_, "format": c.format,
            "description": c.description, "priority": c.priority,
        })).collect::<Vec<_>>(),
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        let d = jiff::SignedDuration::from_secs;
        assert_eq!(human_duration(d(5)), "5s");
        assert_eq!(human_duration(d(150)), "2m30s");
        assert_eq!(human_duration(d(3600 * 5 + 60)), "5h1m");
        assert_eq!(human_duration(d(3600 * 30)), "30h");
        assert_eq!(human_duration(d(86400 * 3)), "3d");
    }

    #[test]
    fn printer_columns_follow_json_paths_and_missing_values_are_null() {
        let rt = crate::catalog::from_crd(&serde_json::json!({
            "metadata": {"name": "things.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "things", "kind": "Thing"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "additionalPrinterColumns": [
                        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                        {"name": "Count", "type": "integer", "jsonPath": ".status.counts.total"}
                    ]}]}
        }))
        .unwrap()
        .remove(0);
        let objects = vec![
            json!({"metadata": {"name": "a"}, "status": {"phase": "Up", "counts": {"total": 3}}}),
            json!({"metadata": {"name": "b"}}),
        ];
        let table = render(&rt, &objects, json!({}), "Metadata");
        assert_eq!(table["rows"][0]["cells"], json!(["a", "Up", 3]));
        assert_eq!(table["rows"][1]["cells"], json!(["b", null, null]));
        assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    }
}
