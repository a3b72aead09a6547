//! Discovery documents (legacy `APIVersions`/`APIGroupList`/`APIResourceList`; clients that ask
//! for aggregated discovery fall back to these, as they do against older servers), `/version`,
//! and a minimal OpenAPI v3 index whose PATCH operations declare `fieldValidation`, so kubectl
//! leaves field validation to the server instead of validating client-side.

use std::hash::{Hash, Hasher};

use serde_json::{Value, json};

use crate::catalog::{Catalog, ResourceType};

pub const VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "35",
        "emulationMajor": "1",
        "emulationMinor": "35",
        "gitVersion": "v1.35.0-fake",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub fn core_versions(address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    })
}

fn group_doc(group: &str, versions: &[String]) -> Value {
    let gvs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": gvs,
        "preferredVersion": gvs[0],
    })
}

/// `/apis/{group}`, when the group is served.
pub fn group(catalog: &Catalog, name: &str) -> Option<Value> {
    catalog
        .group_versions()
        .into_iter()
        .find(|(g, _)| g == name && !g.is_empty())
        .map(|(g, vs)| group_doc(&g, &vs))
}

/// `/apis`.
pub fn groups(catalog: &Catalog) -> Value {
    let groups: Vec<Value> = catalog
        .group_versions()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| group_doc(&g, &vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_entries(rt: &ResourceType) -> Vec<Value> {
    let mut main = json!({
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": VERBS,
    });
    if !rt.short_names.is_empty() {
        main["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        main["categories"] = json!(rt.categories);
    }
    let mut out = vec![main];
    if rt.status_subresource {
        out.push(json!({
            "name": format!("{}/status", rt.plural),
            "singularName": "",
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": ["get", "patch", "update"],
        }));
    }
    out
}

/// `/api/v1` or `/apis/{group}/{version}`, when served.
pub fn resources(catalog: &Catalog, group: &str, version: &str) -> Option<Value> {
    let entries: Vec<Value> = catalog
        .in_group_version(group, version)
        .flat_map(resource_entries)
        .collect();
    if entries.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": entries,
    }))
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: one entry per served group/version.
pub fn openapi_index(catalog: &Catalog) -> Value {
    let mut paths = serde_json::Map::new();
    for (group, versions) in catalog.group_versions() {
        for version in versions {
            let doc = openapi_gv(catalog, &group, &version).unwrap_or_default();
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            doc.to_string().hash(&mut hasher);
            let path = gv_path(&group, &version);
            paths.insert(
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={:016X}", hasher.finish())}),
            );
        }
    }
    json!({"paths": paths})
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/{group}/{version}`: the PATCH operation of each
/// kind, carrying its group/version/kind and the `fieldValidation` parameter.
pub fn openapi_gv(catalog: &Catalog, group: &str, version: &str) -> Option<Value> {
    let mut paths = serde_json::Map::new();
    for rt in catalog.in_group_version(group, version) {
        let base = format!("/{}", gv_path(group, version));
        let path = if rt.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", rt.plural)
        } else {
            format!("{base}/{}/{{name}}", rt.plural)
        };
        let op = json!({
            "operationId": format!("patch{}", rt.kind),
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": rt.kind},
            "parameters": [
                {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
                {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                {"name": "force", "in": "query", "schema": {"type": "boolean"}},
            ],
            "responses": {"200": {"description": "OK"}},
        });
        paths.insert(path, json!({"patch": op}));
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.35.0-fake"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}
