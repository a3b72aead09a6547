//! The smallest valid `AzureAdConnector` spec, for tests that build connectors as JSON.
use serde_json::{Value, json};

/// A client-secret connector syncing the group "Password Boss Users"; tests add to it.
pub fn minimal_spec() -> Value {
    json!({
        "azure": {
            "tenantId": "contoso.onmicrosoft.com",
            "clientId": "00000000-0000-0000-0000-000000000000",
            "clientSecretRef": {"name": "entra-app", "key": "client-secret"}
        },
        "passwordBoss": {"tokenSecretRef": {"name": "passwordboss", "key": "token"}},
        "syncGroup": {"displayName": "Password Boss Users"}
    })
}

/// `minimal_spec()` with `extra`'s top-level fields set.
pub fn spec_with(extra: Value) -> Value {
    let mut spec = minimal_spec();
    if let (Some(spec), Value::Object(extra)) = (spec.as_object_mut(), extra) {
        spec.extend(extra);
    }
    spec
}

/// A complete connector object in `namespace` (the minimal spec plus two mirrored groups), as
/// `kubectl apply` would send it.
pub fn connector(namespace: &str) -> Value {
    json!({
        "apiVersion": "passwordboss.com/v1alpha1",
        "kind": "AzureAdConnector",
        "metadata": {"name": "contoso", "namespace": namespace},
        "spec": spec_with(json!({
            "groups": [{"displayName": "HR"}, {"id": "11111111-1111-1111-1111-111111111111"}]
        }))
    })
}

/// `obj` with the field at `path` set to `value`.
pub fn set_at(mut obj: Value, path: &[&str], value: Value) -> Value {
    parent(&mut obj, path)[path[path.len() - 1]] = value;
    obj
}

/// `obj` without the field at `path`.
pub fn remove_at(mut obj: Value, path: &[&str]) -> Value {
    parent(&mut obj, path)
        .as_object_mut()
        .expect("an object")
        .remove(path[path.len() - 1]);
    obj
}

fn parent<'a>(obj: &'a mut Value, path: &[&str]) -> &'a mut Value {
    let mut node = obj;
    for key in &path[..path.len() - 1] {
        node = node.get_mut(*key).unwrap_or_else(|| panic!("no {key}"));
    }
    node
}
