//! The kinds the server serves: a fixed set of built-ins (stored as generic objects) plus one entry
//! per served version of every CustomResourceDefinition that has been created.

use std::sync::Arc;

use pbconnector::resources::validate::SchemaValidator;
use serde_json::{Value, json};

/// One `additionalPrinterColumns` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

/// A resource the server serves at `/api/v1` or `/apis/{group}/{version}`.
#[derive(Clone, Debug)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status_subresource: bool,
    pub printer_columns: Vec<PrinterColumn>,
    /// The version's `openAPIV3Schema` (custom resources only), used for pruning and list keys.
    pub openapi: Option<Arc<Value>>,
    pub validator: Option<Arc<SchemaValidator>>,
    /// The CRD that defines this resource, if any.
    pub crd_name: Option<String>,
}

impl ResourceType {
    fn builtin(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: kind.to_lowercase(),
            namespaced,
            short_names: Vec::new(),
            categories: Vec::new(),
            status_subresource: false,
            printer_columns: Vec::new(),
            openapi: None,
            validator: None,
            crd_name: None,
        }
    }

    fn short(mut self, names: &[&str]) -> Self {
        self.short_names = names.iter().map(|s| s.to_string()).collect();
        self
    }

    fn with_status(mut self) -> Self {
        self.status_subresource = true;
        self
    }

    /// `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `Kind.group` as used in `Invalid` messages (`Kind` alone for the core group).
    pub fn kind_group(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    pub fn is_custom(&self) -> bool {
        self.crd_name.is_some()
    }

    /// Where objects of this type live in storage: one collection per group and plural, shared
    /// by every version of a CRD (no conversion: objects are served as stored).
    pub fn storage_key(&self) -> (String, String) {
        (self.group.clone(), self.plural.clone())
    }
}

/// The built-in kinds: enough for the operator and for `kubectl apply` of its Helm chart.
pub fn builtins() -> Vec<ResourceType> {
    use ResourceType as R;
    vec![
        R::builtin("", "v1", "Namespace", "namespaces", false)
            .short(&["ns"])
            .with_status(),
        R::builtin("", "v1", "Secret", "secrets", true),
        R::builtin("", "v1", "ConfigMap", "configmaps", true).short(&["cm"]),
        R::builtin("", "v1", "ServiceAccount", "serviceaccounts", true).short(&["sa"]),
        R::builtin("", "v1", "Service", "services", true)
            .short(&["svc"])
            .with_status(),
        R::builtin("", "v1", "Event", "events", true).short(&["ev"]),
        R::builtin("events.k8s.io", "v1", "Event", "events", true).short(&["ev"]),
        R::builtin("coordination.k8s.io", "v1", "Lease", "leases", true),
        R::builtin("apps", "v1", "Deployment", "deployments", true)
            .short(&["deploy"])
            .with_status(),
        R::builtin("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
        R::builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            true,
        ),
        R::builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            false,
        ),
        R::builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
        ),
        R::builtin(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
        )
        .short(&["pdb"])
        .with_status(),
        R::builtin(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
        )
        .short(&["crd", "crds"])
        .with_status(),
    ]
}

/// Why a CRD cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error("{field}: Required value")]
    Missing { field: &'static str },
    #[error("metadata.name: Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group")]
    Name { name: String },
    #[error("spec.scope: Unsupported value: {0:?}: supported values: \"Cluster\", \"Namespaced\"")]
    Scope(String),
    #[error("spec.versions[{index}].schema.openAPIV3Schema: Invalid value: {message}")]
    Schema { index: usize, message: String },
}

impl CrdError {
    pub fn field(&self) -> String {
        match self {
            Self::Missing { field } => field.to_string(),
            Self::Name { .. } => "metadata.name".into(),
            Self::Scope(_) => "spec.scope".into(),
            Self::Schema { index, .. } => format!("spec.versions[{index}].schema.openAPIV3Schema"),
        }
    }
}

/// The served versions of a CRD, each as a resource type.
pub fn from_crd(crd: &Value) -> Result<Vec<ResourceType>, CrdError> {
    let str_at = |ptr: &str| crd.pointer(ptr).and_then(Value::as_str).map(str::to_owned);
    let name = str_at("/metadata/name").ok_or(CrdError::Missing {
        field: "metadata.name",
    })?;
    let group = str_at("/spec/group").ok_or(CrdError::Missing {
        field: "spec.group",
    })?;
    let plural = str_at("/spec/names/plural").ok_or(CrdError::Missing {
        field: "spec.names.plural",
    })?;
    let kind = str_at("/spec/names/kind").ok_or(CrdError::Missing {
        field: "spec.names.kind",
    })?;
    if name != format!("{plural}.{group}") {
        return Err(CrdError::Name { name });
    }
    let namespaced = match str_at("/spec/scope").as_deref() {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        Some(other) => return Err(CrdError::Scope(other.into())),
        None => {
            return Err(CrdError::Missing {
                field: "spec.scope",
            });
        }
    };
    let strings = |ptr: &str| -> Vec<String> {
        crd.pointer(ptr)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let singular = str_at("/spec/names/singular").unwrap_or_else(|| kind.to_lowercase());
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())
        .ok_or(CrdError::Missing {
            field: "spec.versions",
        })?;
    let mut out = Vec::new();
    for (index, version) in versions.iter().enumerate() {
        if version.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let version_name =
            version
                .get("name")
                .and_then(Value::as_str)
                .ok_or(CrdError::Missing {
                    field: "spec.versions[].name",
                })?;
        let (openapi, validator) = match version.pointer("/schema/openAPIV3Schema") {
            Some(schema) => {
                let schema = with_object_meta(schema);
                let validator = SchemaValidator::new(&schema)
                    .map_err(|message| CrdError::Schema { index, message })?;
                (Some(Arc::new(schema)), Some(Arc::new(validator)))
            }
            None => (None, None),
        };
        out.push(ResourceType {
            group: group.clone(),
            version: version_name.into(),
            kind: kind.clone(),
            plural: plural.clone(),
            singular: singular.clone(),
            namespaced,
            short_names: strings("/spec/names/shortNames"),
            categories: strings("/spec/names/categories"),
            status_subresource: version.pointer("/subresources/status").is_some(),
            printer_columns: printer_columns(version),
            openapi,
            validator,
            crd_name: Some(name.clone()),
        });
    }
    Ok(out)
}

/// The root of a CRD schema with `apiVersion`, `kind` and `metadata` accepted as the API server
/// accepts them (metadata is validated by the server itself, not by the CRD's schema).
fn with_object_meta(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Some(obj) = schema.as_object_mut() {
        let props = obj
            .entry("properties")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        if let Some(props) = props {
            props.insert("apiVersion".into(), json!({"type": "string"}));
            props.insert("kind".into(), json!({"type": "string"}));
            props.insert(
                "metadata".into(),
                json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            );
        }
    }
    schema
}

fn printer_columns(version: &Value) -> Vec<PrinterColumn> {
    let Some(columns) = version
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
    else {
        // The real server's default for a CRD without printer columns: NAME and AGE.
        return vec![PrinterColumn {
            name: "Age".into(),
            type_: "date".into(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            json_path: ".metadata.creationTimestamp".into(),
        }];
    };
    columns
        .iter()
        .map(|c| {
            let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            PrinterColumn {
                name: s("name"),
                type_: s("type"),
                format: s("format"),
                description: s("description"),
                priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                json_path: s("jsonPath"),
            }
        })
        .collect()
}

/// Built-ins plus the resources of every established CRD.
#[derive(Debug)]
pub struct Catalog {
    builtin: Vec<ResourceType>,
    custom: Vec<ResourceType>,
}

impl Default for Catalog {
    fn default() -> Self {
        Self {
            builtin: builtins(),
            custom: Vec::new(),
        }
    }
}

impl Catalog {
    pub fn all(&self) -> impl Iterator<Item = &ResourceType> {
        self.builtin.iter().chain(self.custom.iter())
    }

    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.all()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    /// Replaces the resources served for one CRD.
    pub fn register_crd(&mut self, crd_name: &str, types: Vec<ResourceType>) {
        self.unregister_crd(crd_name);
        self.custom.extend(types);
    }

    pub fn unregister_crd(&mut self, crd_name: &str) {
        self.custom
            .retain(|r| r.crd_name.as_deref() != Some(crd_name));
    }

    /// Served group/versions: `(group, [versions])`, core first, in a stable order.
    pub fn group_versions(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for r in self.all() {
            match out.iter_mut().find(|(g, _)| *g == r.group) {
                Some((_, versions)) => {
                    if !versions.contains(&r.version) {
                        versions.push(r.version.clone());
                    }
                }
                None => out.push((r.group.clone(), vec![r.version.clone()])),
            }
        }
        out
    }

    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a ResourceType> + 'a {
        self.all()
            .filter(move |r| r.group == group && r.version == version)
    }
}
