//! The HTTP surface of the simulator: the gate (faults, counting, bearer check) and one handler
//! per endpoint of the contract. Bodies are parsed strictly, so every refusal has a coded body.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::api_error::ApiError;
use super::faults::{Faults, InjectedError};
use super::paging::PageRequest;
use super::server::ConnectionKill;
use super::stats::Counters;
use super::store::{SeedUser, Store, StoredResponse, UserUpdate};
use super::wire::{Role, UserStatus};
use crate::hostile::{Hostile, huge_body, next_token};

/// State shared by the handlers and the test's handle.
#[derive(Clone, Debug)]
pub(crate) struct Shared {
    pub store: Arc<Mutex<Store>>,
    pub tokens: Arc<Mutex<BTreeSet<String>>>,
    pub faults: Faults,
    pub counters: Counters,
    pub clock_offset: Arc<Mutex<Duration>>,
}

impl Shared {
    fn now(&self) -> Instant {
        Instant::now() + *self.clock_offset.lock().expect("clock lock")
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().expect("store lock")
    }
}

type ApiResult = Result<Response, ApiError>;

/// The largest write body the simulator reads (the contract's requests are a few KiB; a
/// membership of 100,000 ids is about 2 MiB).
const MAX_WRITE_BODY: usize = 16 * 1024 * 1024;

pub(crate) fn router(shared: Shared) -> Router {
    Router::new()
        .route("/v1/connector", get(connector))
        .route("/v1/users", get(list_users).post(create_user))
        .route(
            "/v1/users/{id}",
            axum::routing::patch(update_user).delete(delete_user),
        )
        .route("/v1/groups", get(list_groups).post(create_group))
        .route(
            "/v1/groups/{id}",
            axum::routing::patch(rename_group).delete(delete_group),
        )
        .route("/v1/groups/{id}/members", get(members).put(set_members))
        .fallback(unknown_route)
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

/// Faults, then the bearer check, then the handler; counts every request by its answer.
async fn gate(State(shared): State<Shared>, req: Request, next: Next) -> Response {
    let write = req.method() != Method::GET;
    let token = bearer(req.headers()).map(str::to_owned);
    let kill = req.extensions().get::<ConnectionKill>().cloned();
    shared.counters.arrived(write);
    if write {
        shared.faults.pass_write().await;
    }
    let mut decision = shared.faults.decide();
    if write && decision.error.is_none() {
        let identity = match req.headers().get("idempotency-key") {
            Some(key) => String::from_utf8_lossy(key.as_bytes()).into_owned(),
            None => format!("{} {}", req.method(), req.uri().path()),
        };
        decision.error = shared.faults.refusal(&identity);
    }
    if !decision.latency.is_zero() {
        crate::latency::delay(decision.latency).await;
    }
    tracing::trace!(method = %req.method(), path = %req.uri().path(), "simulator request");
    if let Some(hostile) = shared.faults.hostile() {
        shared.counters.record(token.as_deref(), write, 200);
        let (path, query) = (
            req.uri().path().to_owned(),
            req.uri().query().map(str::to_owned),
        );
        return hostile_answer(&shared, hostile, &path, query.as_deref()).await;
    }
    // A write that reaches its handler is logged with its body (`PbSim::write_log`).
    let mut logged = None;
    let response = if let Some(injected) = decision.error {
        injected_error(injected)
    } else if !authorized(&shared, req.headers()) {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the token is missing, unknown or revoked",
        )
        .into_response()
    } else if write {
        let (parts, body) = req.into_parts();
        match axum::body::to_bytes(body, MAX_WRITE_BODY).await {
            Ok(bytes) => {
                let path = parts
                    .uri
                    .path_and_query()
                    .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
                logged = Some((parts.method.to_string(), path, bytes.clone()));
                next.run(Request::from_parts(parts, bytes.into())).await
            }
            Err(_) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("a request body may hold at most {MAX_WRITE_BODY} bytes"),
            )
            .into_response(),
        }
    } else {
        next.run(req).await
    };
    if let Some((method, path, body)) = &logged {
        let replayed = response.extensions().get::<Replayed>().is_some();
        shared
            .counters
            .log_write(method, path, body, response.status().as_u16(), replayed);
    }
    if write
        && response.status().is_success()
        && let Some(kill) = kill
        && shared.faults.drop_after_write()
    {
        shared.counters.record_dropped(token.as_deref());
        kill.kill();
        return std::future::pending().await;
    }
    shared
        .counters
        .record(token.as_deref(), write, response.status().as_u16());
    response
}

/// What a hostile server answers (`Faults::set_hostile`).
async fn hostile_answer(
    shared: &Shared,
    hostile: Hostile,
    path: &str,
    query: Option<&str>,
) -> Response {
    match hostile {
        Hostile::NeverAnswer => std::future::pending().await,
        Hostile::HugeBody(bytes) => huge_body(bytes),
        Hostile::CyclicPaging | Hostile::EndlessPaging => {
            let collection = path.trim_start_matches("/v1/");
            if !matches!(collection, "users" | "groups") {
                return Json(json!(shared.store().connector())).into_response();
            }
            let query: HashMap<String, String> = query
                .map(|q| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .into_owned()
                        .collect()
                })
                .unwrap_or_default();
            let cursor = query.get("cursor").map(String::as_str);
            let next = next_token(hostile, cursor, shared.faults.pages());
            Json(json!({ collection: [], "nextCursor": next })).into_response()
        }
    }
}

fn injected_error(injected: InjectedError) -> Response {
    let status = StatusCode::from_u16(injected.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let code = match status {
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        _ => "unavailable",
    };
    let mut response = ApiError::new(status, code, "injected fault").into_response();
    if let Some(secs) = injected.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(token) = bearer(headers) else {
        return false;
    };
    shared.tokens.lock().expect("tokens lock").contains(token)
}

async fn unknown_route(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no endpoint {method} {}", uri.path()),
    )
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_request", format!("invalid body: {e}")))
}

fn page(query: &HashMap<String, String>) -> Result<PageRequest, ApiError> {
    PageRequest::parse(
        query.get("limit").map(String::as_str),
        query.get("cursor").map(String::as_str),
    )
}

async fn connector(State(shared): State<Shared>) -> Json<Value> {
    Json(json!(shared.store().connector()))
}

async fn list_users(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let (users, next) = shared.store().list_users(&page(&query)?);
    Ok(Json(json!({"users": users, "nextCursor": next})).into_response())
}

async fn list_groups(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let (groups, next) = shared.store().list_groups(&page(&query)?);
    Ok(Json(json!({"groups": groups, "nextCursor": next})).into_response())
}

/// Marks a response that replays an earlier answer to the same idempotency key (for the write
/// log; not sent).
#[derive(Clone, Copy, Debug)]
struct Replayed;

/// Runs a POST once per idempotency key: a repeated key gets the first answer again.
fn idempotent(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
    apply: impl FnOnce(&mut Store, &[u8]) -> Result<Value, ApiError>,
) -> Response {
    let now = shared.now();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut store = shared.store();
    if let Some(stored) = key.as_deref().and_then(|k| store.replay(k, now)) {
        let mut response = (stored.status, Json(stored.body)).into_response();
        response.extensions_mut().insert(Replayed);
        return response;
    }
    let stored = match apply(&mut store, body) {
        Ok(value) => StoredResponse {
            status: StatusCode::CREATED,
            body: value,
        },
        Err(e) => StoredResponse {
            status: e.status,
            body: json!(e.body()),
        },
    };
    if let Some(key) = key {
        store.remember(&key, now, stored.clone());
    }
    (stored.status, Json(stored.body)).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateUserBody {
    email: String,
    first_name: String,
    last_name: String,
    external_id: Option<String>,
    managed_by: String,
    status: UserStatus,
}

async fn create_user(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    idempotent(&shared, &headers, &body, |store, body| {
        let b: CreateUserBody = parse(body)?;
        let user = store.create_user(SeedUser {
            email: b.email,
            first_name: b.first_name,
            last_name: b.last_name,
            status: b.status,
            managed_by: b.managed_by,
            external_id: b.external_id,
            role: Role::User,
        })?;
        Ok(json!(user))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateUserBody {
    first_name: Option<String>,
    last_name: Option<String>,
    status: Option<UserStatus>,
    managed_by: Option<String>,
    external_id: Option<String>,
}

async fn update_user(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let raw: Value = parse(&body)?;
    if raw.get("email").is_some() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "email_immutable",
            "a user's email can never change",
        ));
    }
    let b: UpdateUserBody = parse(&body)?;
    let user = shared.store().update_user(
        &id,
        UserUpdate {
            first_name: b.first_name,
            last_name: b.last_name,
            status: b.status,
            managed_by: b.managed_by,
            external_id: b.external_id,
        },
    )?;
    Ok(Json(json!(user)).into_response())
}

async fn delete_user(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let keep = match query.get("keepPersonalAccount").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("keepPersonalAccount must be true or false, got {other:?}"),
            ));
        }
    };
    shared.store().delete_user(&id, keep)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateGroupBody {
    name: String,
    external_id: Option<String>,
    managed_by: String,
}

async fn create_group(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    idempotent(&shared, &headers, &body, |store, body| {
        let b: CreateGroupBody = parse(body)?;
        Ok(json!(store.create_group(
            &b.name,
            b.external_id,
            &b.managed_by
        )?))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameGroupBody {
    name: String,
}

async fn rename_group(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let b: RenameGroupBody = parse(&body)?;
    let group = shared.store().rename_group(&id, &b.name)?;
    Ok(Json(json!(group)).into_response())
}

async fn delete_group(State(shared): State<Shared>, Path(id): Path<String>) -> ApiResult {
    shared.store().delete_group(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn members(State(shared): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let ids = shared.store().members(&id)?;
    Ok(Json(json!({"userIds": ids})).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MembersBody {
    user_ids: Vec<String>,
}

async fn set_members(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let b: MembersBody = parse(&body)?;
    let ids = shared.store().set_members(&id, b.user_ids)?;
    Ok(Json(json!({"userIds": ids})).into_response())
}
