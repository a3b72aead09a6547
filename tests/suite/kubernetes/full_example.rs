//! `examples/connector-full.yaml` carries every field of the `AzureAdConnector` spec: the test
//! walks the property paths of the generated schema (`pbconnector crd`) and fails on any the
//! example's documents lack (exclusive alternatives — one credential, one target, the sync group
//! by id or by name — are spread over its documents), and on any field the schema does not know.
//! `readme::commands` applies the file with `kubectl apply --dry-run=server` on the real API
//! server.

use std::collections::BTreeSet;

use pbconnector::resources::crd_yaml;
use serde_json::Value;

/// Every property path under `schema` (`a.b`, `a[].b` for list items), alternatives included.
fn schema_paths(schema: &Value, at: &str, out: &mut BTreeSet<String>) {
    if let Some(properties) = schema["properties"].as_object() {
        for (name, sub) in properties {
            let path = format!("{at}.{name}");
            out.insert(path.clone());
            schema_paths(sub, &path, out);
        }
    }
    if schema["items"].is_object() {
        schema_paths(&schema["items"], &format!("{at}[]"), out);
    }
    for alternatives in ["oneOf", "anyOf", "allOf"] {
        for sub in schema[alternatives].as_array().into_iter().flatten() {
            schema_paths(sub, at, out);
        }
    }
}

/// Every key path in `value`, as `schema_paths` names them.
fn value_paths(value: &Value, at: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, sub) in map {
                let path = format!("{at}.{key}");
                out.insert(path.clone());
                value_paths(sub, &path, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                value_paths(item, &format!("{at}[]"), out);
            }
        }
        _ => {}
    }
}

fn crd_spec_paths() -> BTreeSet<String> {
    let crd: Value = serde_yaml::from_str(&crd_yaml()).expect("the CRD is YAML");
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert!(schema.is_object(), "the CRD has a spec schema");
    let mut paths = BTreeSet::new();
    schema_paths(schema, "spec", &mut paths);
    paths
}

fn example_spec_paths() -> BTreeSet<String> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/connector-full.yaml"
    ))
    .expect("examples/connector-full.yaml");
    let mut paths = BTreeSet::new();
    let mut connectors = 0;
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let doc: Value = serde::Deserialize::deserialize(doc).expect("a YAML document");
        assert_eq!(doc["kind"], "AzureAdConnector", "{doc}");
        connectors += 1;
        value_paths(&doc["spec"], "spec", &mut paths);
    }
    assert!(connectors >= 1);
    paths
}

#[test]
fn the_full_example_carries_every_field_of_the_crd_and_no_other() {
    let schema = crd_spec_paths();
    assert!(
        schema.contains("spec.azure.tenantId") && schema.contains("spec.groups[].id"),
        "the walk finds nested fields: {schema:?}"
    );
    let example = example_spec_paths();
    let missing: Vec<&String> = schema.difference(&example).collect();
    assert!(
        missing.is_empty(),
        "examples/connector-full.yaml lacks {missing:?}: add each (with a comment saying what it \
         does) and show it in the README's API reference"
    );
    let unknown: Vec<&String> = example.difference(&schema).collect();
    assert!(unknown.is_empty(), "the CRD has no {unknown:?}");
}

#[test]
fn the_readme_shows_the_full_example_as_it_is() {
    let root = env!("CARGO_MANIFEST_DIR");
    let example = std::fs::read_to_string(format!("{root}/examples/connector-full.yaml"))
        .expect("examples/connector-full.yaml");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).expect("README.md");
    assert!(
        readme.contains(&format!("```yaml\n{example}```")),
        "the README's API reference embeds examples/connector-full.yaml verbatim: copy it again"
    );
}

#[test]
fn a_new_field_is_caught_by_the_walk() {
    let mut schema: Value = serde_json::json!({"properties": {
        "azure": {"properties": {"tenantId": {"type": "string"}}},
        "groups": {"items": {"oneOf": [{"properties": {"id": {}}}, {"properties": {"newField": {}}}]}}
    }});
    let mut paths = BTreeSet::new();
    schema_paths(&schema, "spec", &mut paths);
    assert!(paths.contains("spec.groups[].newField"), "{paths:?}");
    schema["properties"]["azure"]["properties"]["added"] = serde_json::json!({});
    let mut paths = BTreeSet::new();
    schema_paths(&schema, "spec", &mut paths);
    assert!(paths.contains("spec.azure.added"), "{paths:?}");
}
