//! OData query parameters, `$select` projection and the exact Graph error bodies.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::directory::{SimGroup, SimUser};

/// Properties Graph returns for a user without `$select` (among those simulated).
const USER_DEFAULT: &[&str] = &[
    "id",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "userPrincipalName",
];
/// Properties returned only when selected.
const USER_SELECT_ONLY: &[&str] = &["accountEnabled", "userType"];

/// A simulated HTTP answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
}

impl Reply {
    pub(crate) fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            headers: Vec::new(),
            body,
        }
    }

    /// `{"error":{"code","message","innerError":{…}}}`
    pub(crate) fn graph_error(status: StatusCode, code: &str, message: &str) -> Self {
        let request_id = uuid::Uuid::new_v4().to_string();
        Self {
            status,
            headers: vec![("request-id", request_id.clone())],
            body: json!({"error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": "2026-01-01T00:00:00",
                    "request-id": request_id,
                    "client-request-id": request_id,
                }
            }}),
        }
    }

    pub(crate) fn bad_request(message: &str) -> Self {
        Self::graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    pub(crate) fn unsupported() -> Self {
        Self::graph_error(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "Unsupported Query.",
        )
    }

    pub(crate) fn not_found(id: &str) -> Self {
        Self::graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    pub(crate) fn throttled(retry_after: u64) -> Self {
        let mut r = Self::graph_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Please retry again later.",
        );
        r.headers.push(("Retry-After", retry_after.to_string()));
        r
    }
}

/// The query string, decoded; OData names are matched case-insensitively.
pub(crate) struct Query {
    params: BTreeMap<String, String>,
}

impl Query {
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        let params = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
            .collect();
        Self { params }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// `$top`, checked against Graph's 1..=999.
    pub(crate) fn top(&self) -> Result<Option<usize>, Reply> {
        let Some(raw) = self.get("$top") else {
            return Ok(None);
        };
        match raw.parse::<usize>() {
            Ok(n) if (1..=999).contains(&n) => Ok(Some(n)),
            _ => Err(Reply::bad_request(&format!(
                "Invalid page size specified: '{raw}'. Must be between 1 and 999 inclusive."
            ))),
        }
    }

    pub(crate) fn select(&self) -> Option<Vec<String>> {
        self.get("$select")
            .map(|s| s.split(',').map(|p| p.trim().to_owned()).collect())
    }
}

/// `id eq 'a' or id eq 'b'` → ids; `None` when the filter has another shape.
pub(crate) fn parse_id_filter(filter: &str) -> Option<Vec<String>> {
    filter
        .split(" or ")
        .map(|term| {
            let rest = term.trim().strip_prefix("id eq '")?;
            let id = rest.strip_suffix('\'')?;
            (!id.contains('\'')).then(|| id.to_owned())
        })
        .collect()
}

/// `displayName eq 'x'` (with `''` escapes) → `x`.
pub(crate) fn parse_name_filter(filter: &str) -> Option<String> {
    let rest = filter.trim().strip_prefix("displayName eq '")?;
    let inner = rest.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}

fn wanted<'a>(
    select: &'a Option<Vec<String>>,
    defaults: &'a [&'a str],
) -> impl Fn(&str) -> bool + 'a {
    move |prop| match select {
        Some(sel) => prop == "id" || sel.iter().any(|s| s.eq_ignore_ascii_case(prop)),
        None => defaults.contains(&prop),
    }
}

pub(crate) fn user_json(u: &SimUser, select: &Option<Vec<String>>, typed: bool) -> Value {
    let want = wanted(select, USER_DEFAULT);
    let mut m = Map::new();
    if typed {
        m.insert("@odata.type".into(), json!("#microsoft.graph.user"));
    }
    let props: [(&str, Value); 8] = [
        ("id", json!(u.id)),
        ("displayName", json!(u.display_name)),
        ("givenName", json!(u.given_name)),
        ("surname", json!(u.surname)),
        ("mail", json!(u.mail)),
        ("userPrincipalName", json!(u.user_principal_name)),
        ("accountEnabled", json!(u.account_enabled)),
        ("userType", json!(u.user_type)),
    ];
    for (name, value) in props {
        let selected_only = USER_SELECT_ONLY.contains(&name);
        if want(name) && (!selected_only || select.is_some()) {
            m.insert(name.into(), value);
        }
    }
    Value::Object(m)
}

pub(crate) fn group_json(g: &SimGroup, select: &Option<Vec<String>>, typed: bool) -> Value {
    let want = wanted(select, &["id", "displayName"]);
    let mut m = Map::new();
    if typed {
        m.insert("@odata.type".into(), json!("#microsoft.graph.group"));
    }
    m.insert("id".into(), json!(g.id));
    if want("displayName") {
        m.insert("displayName".into(), json!(g.display_name));
    }
    Value::Object(m)
}
