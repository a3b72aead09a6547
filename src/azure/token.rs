//! Access tokens through the `oauth2` crate's client-credentials flow, cached per connector and
//! refreshed from `expires_in` before they expire.

use crate::http_client::tally::{NO_RESPONSE, RequestTally};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use oauth2::basic::{
    BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenResponse,
};
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, HttpRequest, HttpResponse,
    RequestTokenError, Scope, StandardRevocableToken, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::assertion::CertificateKey;
use super::config::{AzureConfig, Credential};
use super::error::{GraphError, classify_token_error};
use super::federated::FederatedToken;
use super::retry::retry_after;
use crate::bounded::{BodyError, MAX_RESPONSE_BYTES, read_capped, remote_text};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Entra's error body: the OAuth fields plus `error_codes`, which classification relies on.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct EntraTokenError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_codes: Vec<u64>,
}

impl fmt::Display for EntraTokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.error, self.error_codes)
    }
}

impl oauth2::ErrorResponse for EntraTokenError {}

type EntraClient = oauth2::Client<
    EntraTokenError,
    BasicTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The token endpoint's transport outcome when it is not a parseable answer.
#[derive(Debug, thiserror::Error)]
enum TokenTransport {
    #[error("token endpoint unreachable: {}", crate::http_client::describe_failure(.0))]
    Network(#[from] reqwest::Error),
    #[error("token endpoint answered HTTP {status}")]
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("the token endpoint's answer is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error(transparent)]
    MemoryBudget(crate::bounded::BudgetExhausted),
}

/// A bearer token; never printed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Bearer(Arc<str>);

impl Bearer {
    /// The `Authorization` header, marked sensitive (never logged by the HTTP stack); `None`
    /// when the token endpoint handed out a token that cannot be a header value.
    pub(crate) fn header_value(&self) -> Option<http::HeaderValue> {
        let mut value = http::HeaderValue::from_str(&format!("Bearer {}", self.0)).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bearer(<redacted>)")
    }
}

struct Cached {
    bearer: Bearer,
    refresh_at: Instant,
}

enum Method {
    Secret,
    Certificate(CertificateKey),
    Federated(FederatedToken),
}

pub(crate) struct TokenProvider {
    client: EntraClient,
    http: reqwest::Client,
    method: Method,
    client_id: String,
    tenant: String,
    token_url: String,
    scope: String,
    /// The `tid` every token must carry (`AzureConfig::expected_tid`).
    expected_tid: Option<String>,
    requests: Arc<RequestTally>,
    cache: Mutex<Option<Cached>>,
}

impl TokenProvider {
    pub(crate) fn new(
        config: &AzureConfig,
        http: reqwest::Client,
        requests: Arc<RequestTally>,
    ) -> Result<Self, GraphError> {
        let token_url = config.token_url();
        let url = TokenUrl::new(token_url.clone())
            .map_err(|e| GraphError::config(format!("token URL {token_url}: {e}")))?;
        let mut client = oauth2::Client::new(ClientId::new(config.client_id.clone()))
            .set_token_uri(url)
            .set_auth_type(AuthType::RequestBody);
        let method = match &config.credential {
            Credential::ClientSecret(secret) => {
                if secret.trim().is_empty() {
                    return Err(GraphError::config(
                        "the client secret in the Secret is empty",
                    ));
                }
                client = client.set_client_secret(ClientSecret::new(secret.trim().to_owned()));
                Method::Secret
            }
            Credential::Certificate { pem } => Method::Certificate(CertificateKey::from_pem(pem)?),
            Credential::WorkloadIdentity(source) => Method::Federated(source.clone()),
        };
        Ok(Self {
            client,
            http,
            method,
            client_id: config.client_id.clone(),
            tenant: config.tenant_id.clone(),
            token_url,
            scope: config.scope(),
            expected_tid: config.expected_tid.clone(),
            requests,
            cache: Mutex::new(None),
        })
    }

    /// A valid token, from the cache unless it is due for refresh.
    pub(crate) async fn get(&self) -> Result<Bearer, GraphError> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref()
            && Instant::now() < cached.refresh_at
        {
            return Ok(cached.bearer.clone());
        }
        let fresh = self.acquire().await?;
        let bearer = fresh.bearer.clone();
        *cache = Some(fresh);
        Ok(bearer)
    }

    /// Drops `used` from the cache (after Graph answered 401 to it) so the next `get` fetches a
    /// new token; a token already replaced by another task is left alone.
    pub(crate) async fn invalidate(&self, used: &Bearer) {
        let mut cache = self.cache.lock().await;
        if cache.as_ref().is_some_and(|c| &c.bearer == used) {
            *cache = None;
        }
    }

    async fn acquire(&self) -> Result<Cached, GraphError> {
        let mut request = self
            .client
            .exchange_client_credentials()
            .add_scope(Scope::new(self.scope.clone()));
        let assertion = match &self.method {
            Method::Secret => None,
            Method::Certificate(key) => {
                Some(key.assertion(&self.client_id, &self.token_url, unix_now())?)
            }
            Method::Federated(source) => Some(source.token().await?),
        };
        if let Some(assertion) = assertion {
            request = request
                .add_extra_param("client_assertion_type", ASSERTION_TYPE)
                .add_extra_param("client_assertion", assertion);
        }
        tracing::debug!(tenant = %self.tenant, client_id = %self.client_id, "requesting an access token");
        let started = Instant::now();
        let http = CountingHttp {
            http: &self.http,
            requests: &self.requests,
        };
        let response = request
            .request_async(&http)
            .await
            .map_err(|e| self.map_error(e))?;
        let token = response.access_token().secret();
        if let Some(expected) = &self.expected_tid {
            check_tid(token, expected)?;
        }
        let lifetime = response.expires_in().unwrap_or(Duration::from_secs(3600));
        // Refresh a tenth of the lifetime (at most 5 minutes) before expiry.
        let margin = (lifetime / 10).min(Duration::from_secs(300));
        tracing::debug!(tenant = %self.tenant, expires_in = lifetime.as_secs(), "access token acquired");
        Ok(Cached {
            bearer: Bearer(Arc::from(token.as_str())),
            refresh_at: started + lifetime - margin,
        })
    }

    fn map_error(&self, err: RequestTokenError<TokenTransport, EntraTokenError>) -> GraphError {
        match err {
            RequestTokenError::ServerResponse(body) => classify_token_error(
                &body.error,
                &body.error_codes,
                &self.client_id,
                &self.tenant,
            ),
            RequestTokenError::Request(TokenTransport::Status {
                status: 429,
                retry_after,
            }) => GraphError::Throttled {
                what: "token endpoint answered 429".into(),
                retry_after,
            },
            RequestTokenError::Request(TokenTransport::TooLarge { limit }) => {
                GraphError::TooLarge {
                    what: "the Entra token endpoint",
                    limit,
                }
            }
            RequestTokenError::Request(TokenTransport::MemoryBudget(e)) => {
                GraphError::MemoryBudget(e)
            }
            RequestTokenError::Request(e) => GraphError::Transient {
                what: e.to_string(),
            },
            RequestTokenError::Parse(_, _) => {
                GraphError::protocol("the token endpoint answered with an unreadable body")
            }
            RequestTokenError::Other(what) => {
                GraphError::protocol(format!("token endpoint: {}", remote_text(&what)))
            }
        }
    }
}

/// The token endpoint's HTTP client: counts requests, turns 429/5xx into transport errors
/// (with their Retry-After) and never follows redirects (the reqwest client is built so).
struct CountingHttp<'a> {
    http: &'a reqwest::Client,
    requests: &'a RequestTally,
}

type BoxedSend<'c> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<HttpResponse, TokenTransport>> + Send + Sync + 'c>,
>;

impl<'c> oauth2::AsyncHttpClient<'c> for CountingHttp<'_> {
    type Error = TokenTransport;
    type Future = BoxedSend<'c>;

    fn call(&'c self, req: HttpRequest) -> Self::Future {
        Box::pin(self.send(req))
    }
}

impl CountingHttp<'_> {
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, TokenTransport> {
        self.requests.sent();
        let mut req = reqwest::Request::try_from(req)?;
        *req.timeout_mut() = Some(super::config::REQUEST_TIMEOUT);
        let resp = match self.http.execute(req).await {
            Ok(resp) => resp,
            Err(e) => {
                self.requests.answered(NO_RESPONSE);
                return Err(e.into());
            }
        };
        let status = resp.status();
        self.requests.answered(status.as_u16());
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(TokenTransport::Status {
                status: status.as_u16(),
                retry_after: retry_after(resp.headers()),
            });
        }
        let headers = resp.headers().clone();
        let body = read_capped(resp, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge { limit } => TokenTransport::TooLarge { limit },
                BodyError::Network(e) => TokenTransport::Network(e),
                BodyError::Budget(e) => TokenTransport::MemoryBudget(e),
            })?;
        let mut out = http::Response::builder().status(status);
        if let Some(h) = out.headers_mut() {
            *h = headers;
        }
        // A token answer is a few KiB, and oauth2 parses it as soon as it has it.
        out.body(body.into_vec())
            .map_err(|_| TokenTransport::Status {
                status: status.as_u16(),
                retry_after: None,
            })
    }
}

/// Checks that an access token was issued in tenant `expected`: Entra's access tokens are JWTs
/// whose `tid` claim names the tenant (a GUID). The claim is read, not verified: the token came
/// over TLS from the authority the request named, and only Graph can verify its signature; the
/// check stops a token of another tenant (a misrouted authority) from being used for this one.
/// A token that is not a JWT with a `tid` is refused too: the tenant cannot be confirmed.
fn check_tid(token: &str, expected: &str) -> Result<(), GraphError> {
    use base64::Engine;
    let tid = token
        .split('.')
        .nth(1)
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload.trim_end_matches('='))
                .ok()
        })
        .and_then(|claims| serde_json::from_slice::<serde_json::Value>(&claims).ok())
        .and_then(|claims| claims.get("tid")?.as_str().map(str::to_owned));
    match tid {
        Some(tid) if tid.eq_ignore_ascii_case(expected) => Ok(()),
        Some(tid) => Err(GraphError::protocol(format!(
            "the token endpoint issued a token of tenant {} for tenant {expected}; it was not used",
            remote_text(&tid)
        ))),
        None => Err(GraphError::protocol(format!(
            "the token endpoint's access token carries no tenant (tid claim), so it cannot be \
             confirmed to be tenant {expected}'s; it was not used"
        ))),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::check_tid;
    use base64::Engine;

    fn token(claims: serde_json::Value) -> String {
        let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.signature",
            b64(br#"{"alg":"RS256","typ":"JWT"}"#),
            b64(claims.to_string().as_bytes())
        )
    }

    const TENANT: &str = "7c0c36f5-0000-4000-8000-000000000001";

    #[test]
    fn a_token_of_the_expected_tenant_passes() {
        let t = token(serde_json::json!({"tid": TENANT.to_uppercase()}));
        assert!(check_tid(&t, TENANT).is_ok());
    }

    #[test]
    fn a_token_of_another_tenant_or_without_one_is_refused() {
        let other = token(serde_json::json!({"tid": "7c0c36f5-0000-4000-8000-000000000002"}));
        let e = check_tid(&other, TENANT).unwrap_err().to_string();
        assert!(e.contains("7c0c36f5-0000-4000-8000-000000000002"), "{e}");
        for t in [
            token(serde_json::json!({"appid": "x"})),
            "opaque".to_owned(),
            "a.b.c".to_owned(),
        ] {
            assert!(check_tid(&t, TENANT).is_err(), "{t}");
        }
    }
}
