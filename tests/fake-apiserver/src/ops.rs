//! The verbs' rules on top of the store: create, update (main resource or `status`), patch,
//! server-side apply, delete (with finalizers), list with pagination, and the side effects of
//! CustomResourceDefinitions and Namespaces.

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::admission::{FieldValidation, admit};
use crate::apply::{self, Managers};
use crate::catalog::{ResourceType, from_crd};
use crate::error::{ApiError, Cause, Subject};
use crate::patch::{PatchKind, apply_patch};
use crate::selector::Filter;
use crate::store::{EventType, ObjKey, Store};

/// Options common to writes.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_validation: FieldValidation,
    pub field_manager: Option<String>,
    pub force: bool,
}

/// A successful write.
#[derive(Debug)]
pub struct Written {
    pub object: Value,
    pub created: bool,
    pub warnings: Vec<String>,
}

/// Which part of an object a request addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Main,
    Status,
}

/// The request's target collection.
pub struct Target<'a> {
    pub rt: &'a ResourceType,
    pub namespace: Option<&'a str>,
}

impl Target<'_> {
    fn key(&self, name: &str) -> ObjKey {
        ObjKey::new(self.rt, self.namespace, name)
    }

    fn subject(&self, name: &str) -> Subject {
        Subject::new(&self.rt.group, &self.rt.plural, name)
    }
}

fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| jiff::Timestamp::now().to_string())
}

fn meta(object: &mut Value) -> &mut Map<String, Value> {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    object["metadata"]
        .as_object_mut()
        .expect("metadata is an object")
}

fn str_at<'v>(object: &'v Value, pointer: &str) -> Option<&'v str> {
    object.pointer(pointer).and_then(Value::as_str)
}

/// Everything but metadata and status: what `metadata.generation` tracks.
fn spec_part(object: &Value) -> Value {
    let mut v = object.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    v
}

fn tracks_generation(rt: &ResourceType, object: &Value) -> bool {
    rt.is_custom() || object.get("spec").is_some()
}

fn check_type(rt: &ResourceType, object: &mut Value) -> Result<(), ApiError> {
    let Some(map) = object.as_object_mut() else {
        return Err(ApiError::BadRequest(
            "the request body must be a JSON object".into(),
        ));
    };
    let api_version = rt.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        Some(v) if v != api_version => {
            return Err(ApiError::BadRequest(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )));
        }
        _ => {}
    }
    match map.get("kind").and_then(Value::as_str) {
        Some(k) if k != rt.kind => {
            return Err(ApiError::BadRequest(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                rt.kind
            )));
        }
        _ => {}
    }
    map.insert("apiVersion".into(), json!(api_version));
    map.insert("kind".into(), json!(rt.kind));
    Ok(())
}

impl Store {
    fn require_namespace(&self, t: &Target<'_>) -> Result<(), ApiError> {
        match t.namespace {
            Some(ns) if t.rt.namespaced => match self.get(&ObjKey::namespace_of(ns)) {
                None => Err(ApiError::NotFound(Subject::new("", "namespaces", ns))),
                Some(n) if n.pointer("/metadata/deletionTimestamp").is_some() => {
                    Err(ApiError::Forbidden(format!(
                        "unable to create new content in namespace {ns} because it is being terminated"
                    )))
                }
                Some(_) => Ok(()),
            },
            None if t.rt.namespaced => Err(ApiError::BadRequest(
                "a namespaced resource needs a namespace in the request path".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Objects of the kinds a CRD serves, or in a namespace, deleted with their owner.
    fn cascade(&mut self, t: &Target<'_>, object: &Value) {
        let keys: Vec<ObjKey> = if t.rt.plural == "customresourcedefinitions" {
            let group = str_at(object, "/spec/group").unwrap_or_default().to_owned();
            let plural = str_at(object, "/spec/names/plural")
                .unwrap_or_default()
                .to_owned();
            self.collection(&group, &plural, None)
                .map(|(k, _)| k.clone())
                .collect()
        } else if t.rt.plural == "namespaces" && t.rt.group.is_empty() {
            let ns = str_at(object, "/metadata/name")
                .unwrap_or_default()
                .to_owned();
            let namespaced: Vec<(String, String)> = self
                .catalog
                .all()
                .filter(|r| r.namespaced)
                .map(|r| r.storage_key())
                .collect();
            namespaced
                .iter()
                .flat_map(|(g, p)| {
                    self.collection(g, p, Some(&ns))
                        .map(|(k, _)| k.clone())
                        .collect::<Vec<_>>()
                })
                .collect()
        } else {
            return;
        };
        for key in keys {
            if let Some(obj) = self.get(&key).cloned() {
                self.commit(key, EventType::Deleted, obj);
            }
        }
        if t.rt.plural == "customresourcedefinitions" {
            let name = str_at(object, "/metadata/name")
                .unwrap_or_default()
                .to_owned();
            self.catalog.unregister_crd(&name);
        }
    }

    /// Server-set parts of special kinds: a CRD is validated, established and served; a
    /// Namespace is Active.
    fn prepare_special(&self, t: &Target<'_>, object: &mut Value) -> Result<(), ApiError> {
        if t.rt.plural == "customresourcedefinitions" {
            let name = str_at(object, "/metadata/name")
                .unwrap_or_default()
                .to_owned();
            from_crd(object).map_err(|e| {
                crate::admission::invalid(
                    t.rt,
                    &name,
                    vec![Cause {
                        reason: "FieldValueInvalid".into(),
                        message: e.to_string(),
                        field: e.field(),
                    }],
                )
            })?;
            let names = object.pointer("/spec/names").cloned().unwrap_or(json!({}));
            let ts = now();
            object["status"] = json!({
                "acceptedNames": names,
                "storedVersions": object.pointer("/spec/versions").and_then(Value::as_array)
                    .map(|vs| vs.iter().filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                        .filter_map(|v| v.get("name").cloned()).collect::<Vec<_>>())
                    .unwrap_or_default(),
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                     "message": "no conflicts found", "lastTransitionTime": ts},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                     "message": "the initial names have been accepted", "lastTransitionTime": ts},
                ],
            });
        } else if t.rt.plural == "namespaces" && t.rt.group.is_empty() {
            object["status"] = json!({"phase": "Active"});
            let spec = object
                .get("spec")
                .cloned()
                .unwrap_or_else(|| json!({"finalizers": ["kubernetes"]}));
            object["spec"] = spec;
        }
        Ok(())
    }

    fn after_commit(&mut self, t: &Target<'_>, object: &Value) {
        if t.rt.plural == "customresourcedefinitions"
            && let Ok(types) = from_crd(object)
        {
            let name = str_at(object, "/metadata/name")
                .unwrap_or_default()
                .to_owned();
            self.catalog.register_crd(&name, types);
        }
    }

    /// POST: creates an object.
    pub fn create(
        &mut self,
        t: &Target<'_>,
        mut object: Value,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        check_type(t.rt, &mut object)?;
        self.require_namespace(t)?;
        let m = meta(&mut object);
        let name = match (
            m.get("name").and_then(Value::as_str),
            m.get("generateName").and_then(Value::as_str),
        ) {
            (Some(n), _) if !n.is_empty() => n.to_owned(),
            (_, Some(prefix)) if !prefix.is_empty() => {
                let suffix: String = uuid::Uuid::new_v4().simple().to_string()[..5].to_owned();
                format!("{prefix}{suffix}")
            }
            _ => {
                return Err(crate::admission::invalid(
                    t.rt,
                    "",
                    vec![Cause {
                        reason: "FieldValueRequired".into(),
                        message: "Required value: name or generateName is required".into(),
                        field: "metadata.name".into(),
                    }],
                ));
            }
        };
        m.insert("name".into(), json!(name));
        if let Some(ns) = t.namespace.filter(|_| t.rt.namespaced) {
            match m.get("namespace").and_then(Value::as_str) {
                Some(body_ns) if !body_ns.is_empty() && body_ns != ns => {
                    return Err(ApiError::BadRequest(
                        "the namespace of the provided object does not match the namespace sent on the request".into(),
                    ));
                }
                _ => {
                    m.insert("namespace".into(), json!(ns));
                }
            }
        } else {
            m.remove("namespace");
        }
        for server_field in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "managedFields",
        ] {
            m.remove(server_field);
        }
        if t.rt.is_custom()
            && t.rt.status_subresource
            && let Some(map) = object.as_object_mut()
        {
            map.remove("status");
        }
        let mut warnings = Vec::new();
        let mut object = admit(t.rt, object, None, opts.field_validation, &mut warnings)?;
        let key = t.key(&name);
        if self.get(&key).is_some() {
            return Err(ApiError::AlreadyExists(t.subject(&name)));
        }
        self.prepare_special(t, &mut object)?;
        let generation = tracks_generation(t.rt, &object);
        let m = meta(&mut object);
        m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        m.insert("creationTimestamp".into(), json!(now()));
        if generation {
            m.insert("generation".into(), json!(1));
        }
        let object = if opts.dry_run {
            object
        } else {
            let stored = self.commit(key, EventType::Added, object);
            self.after_commit(t, &stored);
            stored
        };
        Ok(Written {
            object,
            created: true,
            warnings,
        })
    }

    /// PUT: replaces the main resource or its status.
    pub fn update(
        &mut self,
        t: &Target<'_>,
        name: &str,
        mut object: Value,
        part: Part,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        check_type(t.rt, &mut object)?;
        let key = t.key(name);
        let current = self
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(t.subject(name)))?;
        let body_name = str_at(&object, "/metadata/name").unwrap_or(name);
        if body_name != name {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let body_rv = str_at(&object, "/metadata/resourceVersion").unwrap_or("");
        let current_rv = str_at(&current, "/metadata/resourceVersion").unwrap_or("");
        if !body_rv.is_empty() && body_rv != current_rv {
            return Err(ApiError::conflict_stale(t.subject(name)));
        }
        let with_status = t.rt.is_custom() && t.rt.status_subresource;
        let mut next = match part {
            Part::Status => {
                let mut next = current.clone();
                match object.get("status") {
                    Some(status) => next["status"] = status.clone(),
                    None => {
                        if let Some(map) = next.as_object_mut() {
                            map.remove("status");
                        }
                    }
                }
                next
            }
            Part::Main => {
                if with_status {
                    match current.get("status") {
                        Some(status) => object["status"] = status.clone(),
                        None => {
                            if let Some(map) = object.as_object_mut() {
                                map.remove("status");
                            }
                        }
                    }
                }
                let m = meta(&mut object);
                let cm = current["metadata"].as_object().cloned().unwrap_or_default();
                for server_field in [
                    "uid",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "generation",
                    "namespace",
                ] {
                    match cm.get(server_field) {
                        Some(v) => m.insert(server_field.into(), v.clone()),
                        None => m.remove(server_field),
                    };
                }
                m.remove("managedFields");
                object
            }
        };
        let mut warnings = Vec::new();
        next = admit(
            t.rt,
            next,
            Some(&current),
            opts.field_validation,
            &mut warnings,
        )?;
        if part == Part::Main && t.rt.plural == "customresourcedefinitions" {
            self.prepare_special(t, &mut next)?;
            if let Some(status) = current.get("status") {
                next["status"] = status.clone();
            }
        }
        if part == Part::Main
            && tracks_generation(t.rt, &next)
            && spec_part(&next) != spec_part(&current)
        {
            let generation = current
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta(&mut next).insert("generation".into(), json!(generation + 1));
        }
        meta(&mut next).insert("resourceVersion".into(), json!(current_rv));
        if next == current {
            return Ok(Written {
                object: current,
                created: false,
                warnings,
            });
        }
        let finalized = next.pointer("/metadata/deletionTimestamp").is_some()
            && next
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty);
        let object = if opts.dry_run {
            next
        } else if finalized {
            self.cascade(t, &next);
            self.commit(key, EventType::Deleted, next)
        } else {
            let stored = self.commit(key, EventType::Modified, next);
            self.after_commit(t, &stored);
            stored
        };
        Ok(Written {
            object,
            created: false,
            warnings,
        })
    }

    /// PATCH with a merge, JSON or strategic merge patch.
    pub fn patch(
        &mut self,
        t: &Target<'_>,
        name: &str,
        kind: PatchKind,
        body: &[u8],
        part: Part,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        if kind == PatchKind::Apply {
            return self.server_side_apply(t, name, body, part, opts);
        }
        let current = self
            .get(&t.key(name))
            .cloned()
            .ok_or_else(|| ApiError::NotFound(t.subject(name)))?;
        let patched =
            apply_patch(kind, &current, body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        self.update(t, name, patched, part, opts)
    }

    fn server_side_apply(
        &mut self,
        t: &Target<'_>,
        name: &str,
        body: &[u8],
        part: Part,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let manager = opts.field_manager.clone().filter(|m| !m.is_empty()).ok_or_else(|| {
            ApiError::BadRequest(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into(),
            )
        })?;
        let config: Value = serde_yaml::from_slice(body).map_err(|e| {
            ApiError::BadRequest(format!("the apply configuration is not valid YAML: {e}"))
        })?;
        if !config.is_object() {
            return Err(ApiError::BadRequest(
                "the apply configuration must be an object".into(),
            ));
        }
        let key = t.key(name);
        let current = self.get(&key).cloned();
        if current.is_none() && part == Part::Status {
            return Err(ApiError::NotFound(t.subject(name)));
        }
        let base = current.clone().unwrap_or_else(|| {
            let mut m = json!({"name": name});
            if let Some(ns) = t.namespace.filter(|_| t.rt.namespaced) {
                m["namespace"] = json!(ns);
            }
            json!({"apiVersion": t.rt.api_version(), "kind": t.rt.kind, "metadata": m})
        });
        let mut managers: Managers = self
            .managers
            .get(&(key.clone(), part == Part::Status))
            .cloned()
            .unwrap_or_default();
        let schema = t.rt.openapi.as_deref();
        let merged = apply::apply(&base, &config, &manager, opts.force, &mut managers, schema)
            .map_err(|c| ApiError::Conflict {
                subject: t.subject(name),
                message: format!(
                    "Apply failed with {} conflict{}: conflict with {:?}: {}",
                    c.fields.len(),
                    if c.fields.len() == 1 { "" } else { "s" },
                    c.manager,
                    c.fields.join(", ")
                ),
            })?;
        let written = match current {
            None => self.create(t, merged, opts)?,
            Some(_) => self.update(t, name, merged, part, opts)?,
        };
        if !opts.dry_run {
            self.managers.insert((key, part == Part::Status), managers);
        }
        Ok(written)
    }

    /// DELETE: removes an object, or marks it for deletion while finalizers remain.
    pub fn delete(
        &mut self,
        t: &Target<'_>,
        name: &str,
        options: &Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let key = t.key(name);
        let current = self
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(t.subject(name)))?;
        for (field, pointer) in [
            ("resourceVersion", "/metadata/resourceVersion"),
            ("uid", "/metadata/uid"),
        ] {
            if let Some(expected) = options
                .pointer(&format!("/preconditions/{field}"))
                .and_then(Value::as_str)
            {
                let actual = str_at(&current, pointer).unwrap_or_default();
                if expected != actual {
                    return Err(ApiError::Conflict {
                        subject: t.subject(name),
                        message: format!(
                            "Precondition failed: {field}: expected {expected}, actual {actual}"
                        ),
                    });
                }
            }
        }
        if dry_run {
            return Ok(current);
        }
        let has_finalizers = current
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        let is_namespace = t.rt.plural == "namespaces" && t.rt.group.is_empty();
        if has_finalizers || is_namespace {
            if current.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok(current);
            }
            let mut marked = current;
            let m = meta(&mut marked);
            m.insert("deletionTimestamp".into(), json!(now()));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            if is_namespace {
                marked["status"] = json!({"phase": "Terminating"});
            }
            return Ok(self.commit(key, EventType::Modified, marked));
        }
        self.cascade(t, &current);
        Ok(self.commit(key, EventType::Deleted, current))
    }

    /// The namespace controller's job: namespaces marked for deletion lose their content, then
    /// go. Called periodically by the server, so deletion is asynchronous as on a cluster.
    pub fn finalize_namespaces(&mut self) {
        let terminating: Vec<(ObjKey, Value)> = self
            .collection("", "namespaces", None)
            .filter(|(_, o)| o.pointer("/metadata/deletionTimestamp").is_some())
            .map(|(k, o)| (k.clone(), o.clone()))
            .collect();
        let Some(rt) = self.catalog.find("", "v1", "namespaces").cloned() else {
            return;
        };
        for (key, namespace) in terminating {
            let t = Target {
                rt: &rt,
                namespace: None,
            };
            self.cascade(&t, &namespace);
            self.commit(key, EventType::Deleted, namespace);
        }
    }

    /// GET of one object.
    pub fn read(&self, t: &Target<'_>, name: &str) -> Result<Value, ApiError> {
        self.get(&t.key(name))
            .cloned()
            .ok_or_else(|| ApiError::NotFound(t.subject(name)))
    }

    /// LIST with selectors and `limit`/`continue`. Pages are cut from the current state; the list
    /// resourceVersion is the first page's, so a watch from it replays what changed meanwhile.
    pub fn list(
        &self,
        t: &Target<'_>,
        filter: &Filter,
        limit: Option<usize>,
        continue_token: Option<&str>,
    ) -> Result<(Vec<Value>, Value), ApiError> {
        let (list_rv, after) = match continue_token.filter(|c| !c.is_empty()) {
            Some(token) => {
                let (rv, after) = decode_continue(token)?;
                self.check_not_expired(rv).map_err(|_| {
                    ApiError::Gone("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.".into())
                })?;
                (rv, Some(after))
            }
            None => (self.current_rv(), None),
        };
        let (group, plural) = t.rt.storage_key();
        let matching: Vec<(&ObjKey, &Value)> = self
            .collection(&group, &plural, t.namespace.filter(|_| t.rt.namespaced))
            .filter(|(k, _)| {
                after.as_ref().is_none_or(|a| {
                    (k.namespace.as_str(), k.name.as_str()) > (a.0.as_str(), a.1.as_str())
                })
            })
            .filter(|(_, o)| filter.matches(o))
            .collect();
        let page_len = limit
            .filter(|l| *l > 0)
            .map_or(matching.len(), |l| l.min(matching.len()));
        let (page, rest) = matching.split_at(page_len);
        let items: Vec<Value> = page.iter().map(|(_, o)| (*o).clone()).collect();
        if let (Some((last, _)), false) = (page.last(), rest.is_empty()) {
            return Ok((
                items,
                json!({
                    "resourceVersion": list_rv.to_string(),
                    "continue": encode_continue(list_rv, &last.namespace, &last.name),
                    "remainingItemCount": rest.len(),
                }),
            ));
        }
        Ok((items, json!({"resourceVersion": list_rv.to_string()})))
    }
}

fn encode_continue(rv: u64, namespace: &str, name: &str) -> String {
    let token = json!({"rv": rv, "ns": namespace, "name": name}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token)
}

fn decode_continue(token: &str) -> Result<(u64, (String, String)), ApiError> {
    let bad = || ApiError::BadRequest(format!("invalid continue token {token:?}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    let ns = v.get("ns").and_then(Value::as_str).ok_or_else(bad)?;
    let name = v.get("name").and_then(Value::as_str).ok_or_else(bad)?;
    Ok((rv, (ns.to_owned(), name.to_owned())))
}
