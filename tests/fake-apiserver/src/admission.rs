//! What the server checks and fills in before storing an object: metadata rules, unknown-field
//! handling (`fieldValidation`), and for custom resources the CRD's schema (defaults, structural
//! checks, CEL rules) through `pbconnector::resources::validate::SchemaValidator`.

use serde_json::Value;

use crate::catalog::ResourceType;
use crate::error::{ApiError, Cause, Invalid, Subject};
use crate::prune::prune;

/// The `fieldValidation` query parameter; the server's default is `Warn`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

impl FieldValidation {
    pub fn parse(s: Option<&str>) -> Result<Self, ApiError> {
        match s {
            None | Some("") | Some("Warn") => Ok(Self::Warn),
            Some("Ignore") => Ok(Self::Ignore),
            Some("Strict") => Ok(Self::Strict),
            Some(other) => Err(ApiError::BadRequest(format!(
                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }
}

fn is_dns_subdomain(name: &str) -> bool {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    !name.is_empty() && name.len() <= 253 && name.split('.').all(label_ok)
}

pub fn invalid(rt: &ResourceType, name: &str, causes: Vec<Cause>) -> ApiError {
    ApiError::Invalid(Box::new(Invalid {
        kind_group: rt.kind_group(),
        name: name.to_owned(),
        // Invalid errors name the kind (not the resource) in details, as the real server does.
        subject: Subject::new(&rt.group, &rt.kind, name),
        causes,
    }))
}

fn cause_reason(message: &str) -> &'static str {
    if message.starts_with("Required value") {
        "FieldValueRequired"
    } else if message.starts_with("Unsupported value") {
        "FieldValueNotSupported"
    } else if message.starts_with("Forbidden") {
        "FieldValueForbidden"
    } else {
        "FieldValueInvalid"
    }
}

/// Checks `metadata.name`.
pub fn check_name(rt: &ResourceType, name: &str) -> Result<(), ApiError> {
    // Names of these kinds may hold ':' (system:…); all others must be DNS subdomains.
    let relaxed = rt.group == "rbac.authorization.k8s.io" || rt.plural == "events";
    if relaxed || is_dns_subdomain(name) {
        return Ok(());
    }
    Err(invalid(
        rt,
        name,
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message: format!(
                "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ),
            field: "metadata.name".into(),
        }],
    ))
}

/// Admits an object: prunes or refuses unknown fields, applies defaults and validates custom
/// resources against their CRD. Returns the object to store; warnings go to `warnings`.
pub fn admit(
    rt: &ResourceType,
    mut object: Value,
    old: Option<&Value>,
    field_validation: FieldValidation,
    warnings: &mut Vec<String>,
) -> Result<Value, ApiError> {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    check_name(rt, &name)?;
    if rt.group.is_empty() && rt.plural == "secrets" {
        normalize_secret(&mut object);
    }
    let Some(schema) = rt.openapi.as_deref() else {
        return Ok(object);
    };
    let unknown = prune(schema, &mut object);
    if !unknown.is_empty() {
        let described: Vec<String> = unknown
            .iter()
            .map(|u| format!("unknown field {u:?}"))
            .collect();
        match field_validation {
            FieldValidation::Strict => {
                return Err(ApiError::BadRequest(format!(
                    "{kind} in version {version:?} cannot be handled as a {kind}: strict decoding error: {}",
                    described.join(", "),
                    kind = rt.kind,
                    version = rt.version,
                )));
            }
            FieldValidation::Warn => warnings.extend(described),
            FieldValidation::Ignore => {}
        }
    }
    let Some(validator) = rt.validator.as_deref() else {
        return Ok(object);
    };
    validator.validate(&object, old).map_err(|errors| {
        invalid(
            rt,
            &name,
            errors
                .into_iter()
                .map(|e| Cause {
                    reason: cause_reason(&e.message).into(),
                    message: e.message,
                    field: e.field,
                })
                .collect(),
        )
    })
}

/// What the real server does to every Secret written: `stringData` is merged into `data`
/// (base64) and dropped, and `type` defaults to `Opaque`.
fn normalize_secret(secret: &mut Value) {
    use base64::Engine;
    let Some(map) = secret.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(string_data)) = map.remove("stringData") {
        let data = map
            .entry("data")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if !data.is_object() {
            *data = Value::Object(serde_json::Map::new());
        }
        if let Some(data) = data.as_object_mut() {
            for (key, value) in string_data {
                let text = value.as_str().unwrap_or_default();
                let encoded = base64::engine::general_purpose::STANDARD.encode(text);
                data.insert(key, Value::String(encoded));
            }
        }
    }
    map.entry("type")
        .or_insert_with(|| Value::String("Opaque".into()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_get_string_data_encoded_into_data() {
        let mut secret = serde_json::json!({
            "data": {"a": "eA=="}, "stringData": {"b": "hello"}
        });
        normalize_secret(&mut secret);
        assert_eq!(
            secret,
            serde_json::json!({"data": {"a": "eA==", "b": "aGVsbG8="}, "type": "Opaque"})
        );
    }

    #[test]
    fn dns_subdomain_names() {
        assert!(is_dns_subdomain("contoso"));
        assert!(is_dns_subdomain("a.b-c.d"));
        assert!(!is_dns_subdomain("Contoso"));
        assert!(!is_dns_subdomain("-a"));
        assert!(!is_dns_subdomain("a..b"));
        assert!(!is_dns_subdomain(""));
    }
}
