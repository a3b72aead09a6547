//! The HTTP front: one handler that parses the path, applies injected faults, dispatches to the
//! verbs and logs the request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::admission::FieldValidation;
use crate::discovery;
use crate::error::ApiError;
use crate::faults::{FaultAction, Faults, RequestLog, RequestRecord};
use crate::ops::{Part, Target, WriteOptions};
use crate::patch::PatchKind;
use crate::protobuf;
use crate::render::Rendering;
use crate::route::{ResourcePath, Route, parse};
use crate::selector::{Filter, Selector};
use crate::store::Store;
use crate::watch::{self, WatchPlan};

/// State shared by every request.
pub struct Shared {
    pub store: Mutex<Store>,
    pub faults: Faults,
    pub log: RequestLog,
    pub dropped: tokio::sync::watch::Sender<u64>,
    pub bookmark_interval: Duration,
    pub address: String,
}

impl Shared {
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

const MAX_BODY: usize = 32 * 1024 * 1024;

fn json_response(code: u16, value: &Value, warnings: &[String]) -> Response {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for warning in warnings {
        let text = format!(
            "299 - {}",
            serde_json::to_string(warning).unwrap_or_default()
        );
        if let Ok(v) = HeaderValue::from_str(&text) {
            response.headers_mut().append(header::WARNING, v);
        }
    }
    response
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.code(), &e.status(), &[])
}

type Query = HashMap<String, String>;

fn query_map(query: &str) -> Query {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn flag(q: &Query, name: &str) -> bool {
    q.get(name).is_some_and(|v| v == "true" || v == "1")
}

/// The Kubernetes verb of a resource request.
fn verb(method: &Method, path: &ResourcePath, q: &Query) -> &'static str {
    match (method.as_str(), path.name.is_some()) {
        ("GET", true) => "get",
        ("GET", false) if flag(q, "watch") => "watch",
        ("GET", false) => "list",
        ("POST", false) => "create",
        ("PUT", true) => "update",
        ("PATCH", true) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unsupported",
    }
}

/// Serves one request.
pub async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let raw_query = request.uri().query().unwrap_or("").to_owned();
    let headers = request.headers().clone();
    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return error_response(&ApiError::BadRequest(format!(
                "the request body could not be read: {e}"
            )));
        }
    };
    let query = query_map(&raw_query);
    let route = parse(&path, &shared.store().catalog);
    let (verb, resource, response) = match route {
        Route::Resource(rp) => {
            let verb = verb(&method, &rp, &query);
            let resource = match &rp.subresource {
                Some(sub) => format!("{}/{sub}", rp.plural),
                None => rp.plural.clone(),
            };
            let response = match shared.faults.take(verb, &resource) {
                Some(FaultAction::Fail(code)) => error_response(&ApiError::Injected {
                    code,
                    message: format!("injected failure for {verb} {resource}"),
                }),
                other => {
                    if let Some(FaultAction::Delay(d)) = other {
                        tokio::time::sleep(d).await;
                    }
                    resource_request(&shared, &rp, verb, &query, &headers, &body)
                        .unwrap_or_else(|e| error_response(&e))
                }
            };
            (Some(verb.to_owned()), Some(resource), response)
        }
        other => (None, None, non_resource(&shared, &method, other)),
    };
    shared.log.push(RequestRecord {
        method: method.to_string(),
        path,
        query: raw_query,
        status: response.status().as_u16(),
        verb,
        resource,
    });
    response
}

fn non_resource(shared: &Shared, method: &Method, route: Route) -> Response {
    if method != Method::GET {
        return error_response(&ApiError::MethodNotAllowed);
    }
    let store = shared.store();
    let found = match route {
        Route::Version => Some(discovery::version()),
        Route::Health => {
            let mut r = Response::new(Body::from("ok"));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            return r;
        }
        Route::CoreVersions => Some(discovery::core_versions(&shared.address)),
        Route::Groups => Some(discovery::groups(&store.catalog)),
        Route::Group(g) => discovery::group(&store.catalog, &g),
        Route::Resources { group, version } => {
            discovery::resources(&store.catalog, &group, &version)
        }
        Route::OpenApiIndex => Some(discovery::openapi_index(&store.catalog)),
        Route::OpenApiGroupVersion { group, version } => {
            discovery::openapi_gv(&store.catalog, &group, &version)
        }
        Route::Resource(_) | Route::Unknown => None,
    };
    match found {
        Some(doc) => json_response(200, &doc, &[]),
        None => error_response(&ApiError::NoRoute),
    }
}

/// The object in a create or update body: JSON or YAML, or protobuf for the built-in kinds
/// client-go's typed clients send that way.
fn parse_object(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if protobuf::is_protobuf(content_type) {
        return protobuf::decode(body);
    }
    serde_json::from_slice(body)
        .or_else(|_| serde_yaml::from_slice(body))
        .map_err(|e| ApiError::BadRequest(format!("the request body is not a valid object: {e}")))
}

fn write_options(q: &Query) -> Result<WriteOptions, ApiError> {
    Ok(WriteOptions {
        dry_run: q.get("dryRun").is_some_and(|v| v == "All"),
        field_validation: FieldValidation::parse(q.get("fieldValidation").map(String::as_str))?,
        field_manager: q.get("fieldManager").cloned(),
        force: flag(q, "force"),
    })
}

fn filter(q: &Query) -> Result<Filter, ApiError> {
    let parse = |name: &str| {
        Selector::parse(q.get(name).map(String::as_str).unwrap_or(""))
            .map_err(|e| ApiError::BadRequest(format!("{name}: {e}")))
    };
    Ok(Filter {
        labels: parse("labelSelector")?,
        fields: parse("fieldSelector")?,
    })
}

fn resource_request(
    shared: &Shared,
    rp: &ResourcePath,
    verb: &str,
    q: &Query,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let mut store = shared.store();
    let rt = store
        .catalog
        .find(&rp.group, &rp.version, &rp.plural)
        .cloned()
        .ok_or(ApiError::NoRoute)?;
    let part = match rp.subresource.as_deref() {
        None => Part::Main,
        Some("status") if rt.status_subresource => Part::Status,
        Some(_) => return Err(ApiError::NoRoute),
    };
    if part == Part::Status && !matches!(verb, "get" | "update" | "patch") {
        return Err(ApiError::MethodNotAllowed);
    }
    let namespace = rp.namespace.as_deref().filter(|_| rt.namespaced);
    let target = Target { rt: &rt, namespace };
    let name = rp.name.as_deref().unwrap_or_default();
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let rendering = Rendering::from_accept(accept, q.get("includeObject").map(String::as_str));
    match verb {
        "get" => {
            let object = rendering.object(&rt, store.read(&target, name)?);
            Ok(json_response(200, &object, &[]))
        }
        "list" => {
            let filter = filter(q)?;
            let limit = q.get("limit").and_then(|l| l.parse().ok());
            let (items, meta) = store.list(
                &target,
                &filter,
                limit,
                q.get("continue").map(String::as_str),
            )?;
            Ok(json_response(200, &rendering.list(&rt, items, meta), &[]))
        }
        "watch" => {
            let filter = filter(q)?;
            let send_initial = flag(q, "sendInitialEvents");
            let from = match q.get("resourceVersion").map(String::as_str) {
                _ if send_initial => None,
                None | Some("") | Some("0") => None,
                Some(rv) => Some(rv.parse::<u64>().map_err(|_| {
                    ApiError::BadRequest(format!("resourceVersion: Invalid value: {rv:?}"))
                })?),
            };
            let start = store.watch(&rt, namespace, &filter, from);
            let timeout = q
                .get("timeoutSeconds")
                .and_then(|t| t.parse::<u64>().ok())
                .map_or(Duration::from_secs(1800), Duration::from_secs);
            let plan = WatchPlan {
                rt: rt.clone(),
                namespace: namespace.map(str::to_owned),
                filter,
                start,
                send_initial_events: send_initial,
                bookmarks: flag(q, "allowWatchBookmarks"),
                timeout,
                bookmark_interval: shared.bookmark_interval,
                dropped: shared.dropped.subscribe(),
                rendering,
            };
            drop(store);
            let mut response = Response::new(Body::from_stream(watch::stream(plan)));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(response)
        }
        "create" => {
            let opts = write_options(q)?;
            let written = store.create(&target, parse_object(headers, body)?, &opts)?;
            let object = rendering.object(&rt, written.object);
            Ok(json_response(201, &object, &written.warnings))
        }
        "update" => {
            let opts = write_options(q)?;
            let written = store.update(&target, name, parse_object(headers, body)?, part, &opts)?;
            let object = rendering.object(&rt, written.object);
            Ok(json_response(200, &object, &written.warnings))
        }
        "patch" => {
            let opts = write_options(q)?;
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let kind = PatchKind::from_content_type(content_type).ok_or_else(|| {
                ApiError::UnsupportedMediaType(format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"
                ))
            })?;
            let written = store.patch(&target, name, kind, body, part, &opts)?;
            let code = if written.created { 201 } else { 200 };
            let object = rendering.object(&rt, written.object);
            Ok(json_response(code, &object, &written.warnings))
        }
        "delete" => {
            let options: Value = if body.is_empty() {
                json!({})
            } else {
                serde_json::from_slice(body).unwrap_or_else(|_| json!({}))
            };
            let dry_run = q.get("dryRun").is_some_and(|v| v == "All")
                || options
                    .get("dryRun")
                    .and_then(Value::as_array)
                    .is_some_and(|d| d.iter().any(|v| v == "All"));
            let object = store.delete(&target, name, &options, dry_run)?;
            Ok(json_response(200, &rendering.object(&rt, object), &[]))
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}
