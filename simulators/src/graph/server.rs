//! The axum front: token endpoint, Graph under `/v1.0`, `$batch`, faults and counting.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::api;
use super::auth;
use super::faults::take;
use super::odata::Reply;
use super::state::{PathKind, SimState};
use crate::hostile::{Hostile, huge_body, next_token};

pub(crate) type Shared = Arc<Mutex<SimState>>;

/// `$batch` takes at most this many requests.
pub const BATCH_MAX: usize = 20;

pub(crate) fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, SimState> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let hostile = lock(&shared).faults.hostile;
    match hostile {
        Some(Hostile::NeverAnswer) => return std::future::pending().await,
        Some(Hostile::HugeBody(bytes)) => return huge_body(bytes),
        _ => {}
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if let [tenant, "oauth2", "v2.0", "token"] = segments.as_slice() {
        let mut st = lock(&shared);
        let reply = if method != Method::POST {
            Reply::graph_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "Use POST.",
            )
        } else if st.faults.token_unavailable > 0 {
            st.faults.token_unavailable -= 1;
            Reply::graph_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "The service is temporarily unavailable.",
            )
        } else {
            auth::token(&mut st, tenant, &body)
        };
        st.count(PathKind::Token, reply.status.as_u16(), false);
        return to_response(reply);
    }
    let Some(rest) = path.strip_prefix("/v1.0") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let delay = lock(&shared).faults.delay;
    if let Some(d) = delay {
        crate::latency::delay(d).await;
    }
    let authorization = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let mut st = lock(&shared);
    let (kind, reply) = route(&mut st, &method, rest, uri.query(), authorization, &body);
    st.count(kind, reply.status.as_u16(), false);
    to_response(reply)
}

fn route(
    st: &mut SimState,
    method: &Method,
    path: &str,
    query: Option<&str>,
    authorization: Option<&str>,
    body: &[u8],
) -> (PathKind, Reply) {
    let batch = path == "/$batch";
    let guess = if batch {
        PathKind::Batch
    } else {
        PathKind::Other
    };
    let (tenant, _) = match auth::authorize(st, authorization) {
        Ok(who) => who,
        Err(reply) => return (guess, reply),
    };
    if let Some(retry_after) = take(&mut st.faults.throttle) {
        return (guess, Reply::throttled(retry_after));
    }
    if let Some(&retry_after) = st.faults.tenant_throttle.get(&tenant) {
        return (guess, Reply::throttled(retry_after));
    }
    if let Some((status, retry_after)) = take(&mut st.faults.unavailable) {
        let mut r = Reply::graph_error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            "serviceNotAvailable",
            "The service is temporarily unavailable.",
        );
        if let Some(ra) = retry_after {
            r.headers.push(("Retry-After", ra.to_string()));
        }
        return (guess, r);
    }
    if let Some(kind @ (Hostile::CyclicPaging | Hostile::EndlessPaging)) = st.faults.hostile
        && !batch
        && (path.ends_with("/members") || path.ends_with("/transitiveMembers"))
    {
        return (PathKind::Other, hostile_page(st, kind, path, query));
    }
    match (method, batch) {
        (&Method::POST, true) => (PathKind::Batch, run_batch(st, &tenant, body)),
        (&Method::GET, false) => api::get(st, &tenant, path, query),
        _ => (
            guess,
            Reply::graph_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "Request_BadRequest",
                "The HTTP method is not supported on this resource.",
            ),
        ),
    }
}

/// An empty member page whose nextLink goes round a cycle or on forever.
fn hostile_page(st: &SimState, kind: Hostile, path: &str, query: Option<&str>) -> Reply {
    let current = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "$skiptoken")
            .map(|(_, v)| v.into_owned())
    });
    let next = next_token(kind, current.as_deref(), &st.hostile_pages);
    Reply::ok(json!({
        "value": [],
        "@odata.nextLink": format!("{}/v1.0{path}?$skiptoken={next}", st.base),
    }))
}

/// `$batch` as documented: the envelope is 400 when the payload is malformed, holds more than 20
/// requests, lacks a request's `id`, `method` or `url`, repeats an `id` (ids are compared
/// case-insensitively) or names in `dependsOn` an id that does not come earlier; otherwise 200,
/// with one answer per request, in any order. A request whose dependency did not succeed answers
/// 424. Faults apply per sub-request.
fn run_batch(st: &mut SimState, tenant: &str, body: &[u8]) -> Reply {
    let Ok(envelope) = serde_json::from_slice::<Value>(body) else {
        return Reply::bad_request("Invalid batch payload format.");
    };
    let Some(requests) = envelope.get("requests").and_then(Value::as_array) else {
        return Reply::bad_request("Invalid batch payload format.");
    };
    if requests.len() > BATCH_MAX {
        return Reply::bad_request("Number of requests inside batch exceed the limit.");
    }
    let mut seen: Vec<String> = Vec::with_capacity(requests.len());
    for r in requests {
        let field = |name: &str| r.get(name).and_then(Value::as_str).unwrap_or_default();
        if field("id").is_empty() || field("method").is_empty() || field("url").is_empty() {
            return Reply::bad_request("A batch request needs an id, a method and a url.");
        }
        let id = field("id").to_ascii_lowercase();
        if seen.contains(&id) {
            return Reply::bad_request("Batch request ids must be unique.");
        }
        for dep in depends_on(r) {
            if !seen.contains(&dep.to_ascii_lowercase()) {
                return Reply::bad_request(&format!(
                    "dependsOn names '{dep}', which is not an earlier request of this batch."
                ));
            }
        }
        seen.push(id);
    }
    let mut statuses: Vec<(String, u16)> = Vec::with_capacity(requests.len());
    let mut responses = Vec::with_capacity(requests.len());
    for r in requests {
        let field = |name: &str| r.get(name).and_then(Value::as_str).unwrap_or_default();
        let (id, method, url) = (field("id").to_owned(), field("method"), field("url"));
        let failed_dependency = depends_on(r).into_iter().any(|dep| {
            statuses
                .iter()
                .any(|(i, s)| i.eq_ignore_ascii_case(&dep) && !(200..300).contains(s))
        });
        let (kind, reply) = if failed_dependency {
            (
                PathKind::Other,
                Reply::graph_error(
                    StatusCode::FAILED_DEPENDENCY,
                    "FailedDependency",
                    "Failed dependency.",
                ),
            )
        } else if let Some(retry_after) = take(&mut st.faults.batch_throttle) {
            (PathKind::Other, Reply::throttled(retry_after))
        } else if !method.eq_ignore_ascii_case("GET") {
            (
                PathKind::Other,
                Reply::graph_error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "Request_BadRequest",
                    "Only GET is simulated inside $batch.",
                ),
            )
        } else if url.contains("://") {
            (
                PathKind::Other,
                Reply::bad_request("The url of a batch request must be relative."),
            )
        } else {
            let relative = if url.starts_with('/') {
                url.to_owned()
            } else {
                format!("/{url}")
            };
            let (p, q) = match relative.split_once('?') {
                Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
                None => (relative.clone(), None),
            };
            api::get(st, tenant, &p, q.as_deref())
        };
        st.count(kind, reply.status.as_u16(), true);
        statuses.push((id.clone(), reply.status.as_u16()));
        let mut headers = serde_json::Map::new();
        headers.insert("Content-Type".into(), json!("application/json"));
        for (k, v) in &reply.headers {
            headers.insert((*k).into(), json!(v));
        }
        responses.push(json!({
            "id": id,
            "status": reply.status.as_u16(),
            "headers": headers,
            "body": reply.body,
        }));
    }
    // Graph answers in any order; so does the simulator.
    responses.reverse();
    Reply::ok(json!({ "responses": responses }))
}

/// A batch request's `dependsOn` ids.
fn depends_on(request: &Value) -> Vec<String> {
    request
        .get("dependsOn")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn to_response(reply: Reply) -> Response {
    let mut resp = (reply.status, axum::Json(reply.body)).into_response();
    for (k, v) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}
