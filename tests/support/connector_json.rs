//! The smallest valid `AzureAdConnector` spec, for tests that build connectors as JSON.
// Each tests/*.rs file is its own crate and uses only part of this module.
#![allow(dead_code)]

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
