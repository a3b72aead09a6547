//! The Entra token endpoint: client credentials with a secret, a certificate assertion (PS256,
//! `x5t#S256`, verified against the registered certificate) or a federated token (verified
//! against the registered issuer key), with Entra's error bodies.

use std::collections::HashMap;
use std::time::Instant;

use axum::http::StatusCode;
use serde_json::json;

use super::directory::App;
use super::jwt::{self, Expected};
use super::odata::Reply;
use super::state::{IssuedToken, SimState};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An Entra token endpoint error, shaped as graph-protocol.md §1 shows.
fn entra_error(status: StatusCode, error: &str, code: u64, message: &str) -> Reply {
    let trace = uuid::Uuid::new_v4();
    let correlation = uuid::Uuid::new_v4();
    let timestamp = "2026-01-01 00:00:00Z";
    Reply {
        status,
        headers: Vec::new(),
        body: json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {message}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}"),
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace.to_string(),
            "correlation_id": correlation.to_string(),
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    }
}

/// Handles `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) fn token(state: &mut SimState, tenant_name: &str, body: &[u8]) -> Reply {
    *state
        .token_requests
        .entry(tenant_name.to_ascii_lowercase())
        .or_default() += 1;
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if field("grant_type") != "client_credentials" {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    let Some(tenant) = state.tenant(tenant_name) else {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            &format!(
                "Tenant '{tenant_name}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    };
    let client_id = field("client_id");
    let Some(app) = tenant.apps.get(client_id) else {
        return app_not_found(client_id, tenant_name);
    };
    let expected_scope = format!("{}/.default", state.base);
    if field("scope") != expected_scope {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            &format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {} is not valid.",
                field("scope")
            ),
        );
    }
    let audience = format!("{}/{tenant_name}/oauth2/v2.0/token", state.base);
    // A multi-tenant app provisioned here by consent has its credentials in its home tenant's
    // registration.
    let app = match &app.home {
        Some(home) => match state.tenant(home).and_then(|t| t.apps.get(client_id)) {
            Some(registration) => registration,
            None => return app_not_found(client_id, tenant_name),
        },
        None => app,
    };
    let verdict = if let Some(secret) = form.get("client_secret") {
        check_secret(app, client_id, secret)
    } else if let Some(assertion) = form.get("client_assertion") {
        if field("client_assertion_type") != ASSERTION_TYPE {
            Err(entra_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ))
        } else {
            check_assertion(app, client_id, assertion, &audience)
        }
    } else {
        Err(entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ))
    };
    if let Err(reply) = verdict {
        return reply;
    }
    let tenant_id = tenant.id.clone();
    let access = access_token(&state.base, &tenant_id, client_id, state.token_lifetime);
    let lifetime = state.token_lifetime;
    state.tokens.insert(
        access.clone(),
        IssuedToken {
            tenant: tenant_id,
            client_id: client_id.to_owned(),
            expires: Instant::now() + lifetime,
        },
    );
    Reply::ok(json!({
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": access,
    }))
}

/// AADSTS700016: the tenant does not know the app (a multi-tenant app its admin has not
/// consented to, or a client id of another directory).
fn app_not_found(client_id: &str, tenant_name: &str) -> Reply {
    entra_error(
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        700016,
        &format!(
            "Application with identifier '{client_id}' was not found in the directory '{tenant_name}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
        ),
    )
}

/// An access token shaped as Entra's: a JWT whose claims name the tenant (`tid`) and the app
/// (`appid`); its signature part is random, since the simulator alone checks its tokens, by
/// lookup.
fn access_token(
    base: &str,
    tenant_id: &str,
    client_id: &str,
    lifetime: std::time::Duration,
) -> String {
    use base64::Engine;
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let claims = json!({
        "aud": base,
        "iss": format!("https://sts.windows.net/{tenant_id}/"),
        "tid": tenant_id,
        "appid": client_id,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime.as_secs(),
        "uti": SimState::opaque(),
    });
    format!(
        "{}.{}.{}",
        b64(br#"{"typ":"JWT","alg":"RS256"}"#),
        b64(claims.to_string().as_bytes()),
        b64(SimState::opaque().as_bytes())
    )
}

fn check_secret(app: &App, client_id: &str, secret: &str) -> Result<(), Reply> {
    match app.secrets.iter().find(|(value, _)| value == secret) {
        Some((_, false)) => Ok(()),
        Some((_, true)) => Err(entra_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000222,
            &format!(
                "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."
            ),
        )),
        None => Err(entra_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            &format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        )),
    }
}

fn check_assertion(
    app: &App,
    client_id: &str,
    assertion: &str,
    audience: &str,
) -> Result<(), Reply> {
    let header = jwt::header(assertion).ok_or_else(|| {
        entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50027,
            "JWT token is invalid or malformed.",
        )
    })?;
    if let Some(thumb) = header.x5t_s256.as_deref() {
        let bad_signature = || {
            entra_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                700027,
                "Client assertion failed signature validation.",
            )
        };
        if header.alg != "PS256" {
            return Err(bad_signature());
        }
        let cert = app
            .certs
            .iter()
            .find(|c| c.thumbprint == thumb)
            .ok_or_else(bad_signature)?;
        let expected = Expected {
            audience,
            issuer: client_id,
            subject: client_id,
        };
        if !jwt::verify(assertion, &cert.key, &expected) {
            return Err(bad_signature());
        }
        return Ok(());
    }
    let mismatch = |iss: &str, sub: &str, aud: &str| {
        entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            70021,
            &format!(
                "No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{aud}'."
            ),
        )
    };
    for (cred, key) in &app.federated {
        let expected = Expected {
            audience: &cred.audience,
            issuer: &cred.issuer,
            subject: &cred.subject,
        };
        if jwt::verify(assertion, key, &expected) {
            return Ok(());
        }
    }
    let claims = unverified_claims(assertion);
    Err(mismatch(&claims.0, &claims.1, &claims.2))
}

/// iss, sub, aud of an unverified JWT, for the error message only.
fn unverified_claims(token: &str) -> (String, String, String) {
    let payload = jwt::unverified_claims(token);
    let s = |k: &str| match &payload[k] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a.first().and_then(|v| v.as_str()).unwrap_or("").to_owned(),
        _ => String::new(),
    };
    (s("iss"), s("sub"), s("aud"))
}

/// Checks the bearer of a Graph request: the tenant and app it stands for, or the 401/403.
pub(crate) fn authorize(
    state: &SimState,
    authorization: Option<&str>,
) -> Result<(String, String), Reply> {
    let token = authorization
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(unauthorized("Access token is empty."));
    };
    let issued = state
        .tokens
        .get(token)
        .filter(|t| t.expires > Instant::now())
        .ok_or_else(|| unauthorized("Access token has expired or is not yet valid."))?;
    let consent = state
        .tenant(&issued.tenant)
        .and_then(|t| t.apps.get(&issued.client_id))
        .is_some_and(|a| a.consent);
    if !consent {
        return Err(Reply::graph_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ));
    }
    Ok((issued.tenant.clone(), issued.client_id.clone()))
}

fn unauthorized(message: &str) -> Reply {
    let mut r = Reply::graph_error(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        message,
    );
    r.headers.push((
        "WWW-Authenticate",
        "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"".into(),
    ));
    r
}
