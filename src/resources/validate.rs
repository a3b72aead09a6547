//! Validation of an object against a CRD's `openAPIV3Schema`, as the Kubernetes API server does it:
//! defaults applied, then structural checks (types, required, enums, patterns, bounds, unknown
//! fields), then the CEL `x-kubernetes-validations` rules. Used by `pbconnector sync -f` (so a
//! manifest is checked with the very rules the CRD enforces without a cluster);
//! tests/suite/kubernetes/crd_server.rs holds the real API server to the same refusals.

use std::fmt;

use kube::core::cel::{CompiledSchema, Validator as CelValidator, apply_defaults, compile_schema};
use serde_json::{Map, Value};

/// One rejected field, formatted the way the API server words it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path, e.g. `spec.azure.clientId`.
    pub field: String,
    /// e.g. `Invalid value: "abc": should match '^...$'`.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A compiled CRD schema.
pub struct SchemaValidator {
    openapi: Value,
    structural: jsonschema::Validator,
    cel: CompiledSchema,
}

impl fmt::Debug for SchemaValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchemaValidator").finish_non_exhaustive()
    }
}

impl SchemaValidator {
    /// Compiles an `openAPIV3Schema`. Fails when the schema itself is not usable.
    pub fn new(openapi: &Value) -> Result<Self, String> {
        let json_schema = to_json_schema(openapi);
        let structural = jsonschema::validator_for(&json_schema)
            .map_err(|e| format!("the CRD schema is not a valid schema: {e}"))?;
        let cel = compile_schema(openapi);
        if cel.has_errors() {
            let errors: Vec<String> = cel
                .compilation_errors()
                .iter()
                .map(|e| e.to_string())
                .collect();
            return Err(format!(
                "the CRD's CEL rules do not compile: {}",
                errors.join("; ")
            ));
        }
        Ok(Self {
            openapi: openapi.clone(),
            structural,
            cel,
        })
    }

    /// Applies defaults and validates. Returns the defaulted object, or every field error.
    pub fn validate(&self, object: &Value, old: Option<&Value>) -> Result<Value, Vec<FieldError>> {
        let defaulted = apply_defaults(&self.openapi, object);
        let mut errors: Vec<FieldError> = self
            .structural
            .iter_errors(&defaulted)
            .map(|e| structural_error(&e))
            .collect();
        // CEL rules assume a structurally valid object, as on the API server.
        if errors.is_empty()
            && let Err(cel_errors) =
                CelValidator::new().validate_compiled(&self.cel, &defaulted, old)
        {
            errors.extend(cel_errors.as_slice().iter().map(|e| FieldError {
                field: if e.field_path.is_empty() {
                    "<root>".into()
                } else {
                    e.field_path.clone()
                },
                message: format!("Invalid value: \"object\": {}", e.message),
            }));
        }
        if errors.is_empty() {
            Ok(defaulted)
        } else {
            errors.sort_by(|a, b| a.field.cmp(&b.field));
            errors.dedup();
            Err(errors)
        }
    }
}

fn structural_error(e: &jsonschema::ValidationError<'_>) -> FieldError {
    use jsonschema::error::ValidationErrorKind as K;
    let path: Vec<String> = e
        .instance_path()
        .into_iter()
        .map(|segment| match segment {
            jsonschema::paths::LocationSegment::Property(p) => p.to_string(),
            jsonschema::paths::LocationSegment::Index(i) => format!("[{i}]"),
        })
        .collect();
    let mut field = path.iter().fold(String::new(), |mut acc, seg| {
        if !acc.is_empty() && !seg.starts_with('[') {
            acc.push('.');
        }
        acc.push_str(seg);
        acc
    });
    let instance = crate::bounded::remote_text(&e.instance().to_string());
    let message = match e.kind() {
        K::Required { property } => {
            let name = property
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| property.to_string());
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(&name);
            "Required value".to_string()
        }
        K::Enum { options } => {
            let supported = options
                .as_array()
                .map(|o| {
                    o.iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            format!("Unsupported value: {instance}: supported values: {supported}")
        }
        K::Pattern { pattern } => format!("Invalid value: {instance}: should match '{pattern}'"),
        K::AdditionalProperties { unexpected } => {
            let names: Vec<String> = unexpected
                .iter()
                .map(|u| {
                    if field.is_empty() {
                        u.clone()
                    } else {
                        format!("{field}.{u}")
                    }
                })
                .collect();
            format!("unknown field(s): {}", names.join(", "))
        }
        _ => format!("Invalid value: {instance}: {e}"),
    };
    if field.is_empty() {
        field = "<root>".into();
    }
    FieldError { field, message }
}

/// Rewrites an OpenAPI v3 structural schema into JSON Schema: `nullable` becomes a `null` type,
/// objects without `x-kubernetes-preserve-unknown-fields` refuse unknown properties (kubectl's
/// strict field validation), `x-kubernetes-int-or-string` accepts both.
fn to_json_schema(node: &Value) -> Value {
    let Value::Object(map) = node else {
        return node.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        match key.as_str() {
            "properties" | "patternProperties" | "definitions" | "$defs" => {
                let converted = value
                    .as_object()
                    .map(|props| {
                        props
                            .iter()
                            .map(|(k, v)| (k.clone(), to_json_schema(v)))
                            .collect::<Map<_, _>>()
                    })
                    .unwrap_or_default();
                out.insert(key.clone(), Value::Object(converted));
            }
            "items" | "additionalProperties" | "not" => {
                out.insert(key.clone(), to_json_schema(value));
            }
            "allOf" | "anyOf" | "oneOf" => {
                let converted = value
                    .as_array()
                    .map(|a| a.iter().map(to_json_schema).collect())
                    .unwrap_or_default();
                out.insert(key.clone(), Value::Array(converted));
            }
            k if k.starts_with("x-kubernetes-") || k == "nullable" || k == "format" => {}
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    let flag = |name: &str| map.get(name).and_then(Value::as_bool).unwrap_or(false);
    if flag("x-kubernetes-int-or-string") {
        out.remove("type");
        out.insert("type".into(), serde_json::json!(["integer", "string"]));
    }
    if flag("nullable")
        && let Some(Value::String(t)) = out.get("type").cloned()
    {
        out.insert("type".into(), serde_json::json!([t, "null"]));
    }
    let is_object = map.get("type").and_then(Value::as_str) == Some("object");
    if is_object
        && map.contains_key("properties")
        && !map.contains_key("additionalProperties")
        && !flag("x-kubernetes-preserve-unknown-fields")
    {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    Value::Object(out)
}

/// The `openAPIV3Schema` of the `AzureAdConnector` CRD, with `metadata`, `apiVersion` and `kind`
/// accepted as the API server accepts them.
pub fn connector_schema() -> Value {
    let crd = super::crd();
    let mut schema = serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("the derived CRD has an openAPIV3Schema"),
    )
    .expect("the CRD schema serializes");
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert("apiVersion".into(), serde_json::json!({"type": "string"}));
        props.insert("kind".into(), serde_json::json!({"type": "string"}));
        props.insert(
            "metadata".into(),
            serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        );
    }
    schema
}

/// Validates an `AzureAdConnector` manifest with the CRD's own rules and returns it defaulted.
pub fn validate_connector(object: &Value) -> Result<super::AzureAdConnector, Vec<FieldError>> {
    let validator = SchemaValidator::new(&connector_schema()).map_err(|message| {
        vec![FieldError {
            field: "<schema>".into(),
            message,
        }]
    })?;
    let defaulted = validator.validate(object, None)?;
    serde_json::from_value(defaulted).map_err(|e| {
        vec![FieldError {
            field: "<root>".into(),
            message: e.to_string(),
        }]
    })
}
