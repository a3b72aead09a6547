//! One HTTP exchange with a target service (Password Boss, a SCIM service), with the bearer
//! token, bounded retries (backoff with jitter, `Retry-After` honoured) and request counting.
//! Knows nothing of endpoints; each client turns a `SendError` into its own error.

use crate::http_client::tally::{NO_RESPONSE, RequestTally};
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};

use super::retry::{RetryPolicy, parse_retry_after};
use crate::bounded::{Body, BodyError, BudgetExhausted, read_capped, remote_text};

/// Requests sent so far (every attempt counts), split into reads (`GET`) and writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts {
    pub reads: u64,
    pub writes: u64,
}

impl RequestCounts {
    pub fn total(&self) -> u64 {
        self.reads + self.writes
    }

    /// Requests made since `earlier`.
    pub fn since(&self, earlier: RequestCounts) -> RequestCounts {
        RequestCounts {
            reads: self.reads.saturating_sub(earlier.reads),
            writes: self.writes.saturating_sub(earlier.writes),
        }
    }
}

/// A final answer (not 401, 429 or 5xx).
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    /// Holds its share of the memory budget (`bounded::budget`) until dropped: parse it, then
    /// let it go.
    pub body: Body,
    /// An earlier attempt of this write may have reached the server (its answer was lost).
    pub after_lost_answer: bool,
}

enum Attempt {
    Answer {
        status: StatusCode,
        retry_after: Option<std::time::Duration>,
        body: Body,
    },
    Broken(reqwest::Error),
    /// The body passed `bounded::MAX_RESPONSE_BYTES`; reading stopped there.
    TooLarge,
    /// The body found no room in the process-wide memory budget within its wait.
    NoBudget(BudgetExhausted),
}

/// Why a request got no final answer; the client names the service and what to fix.
#[derive(Debug)]
pub(crate) enum SendError {
    /// 401: the token was refused (the answer's body, for the error code).
    Unauthorized { body: Vec<u8> },
    /// 429 after every retry.
    Throttled { attempts: u32 },
    /// 5xx or connection failures after every retry.
    Transient { attempts: u32, detail: String },
    /// The body passed the limit.
    TooLarge { limit: usize },
    /// The body found no room in the process-wide memory budget within its wait.
    NoBudget(BudgetExhausted),
    /// A write may have reached the server but its answer was lost (a 5xx other than 503, a
    /// connection cut after sending), and the caller asked to look before it is sent again.
    LostAnswer { attempts: u32, detail: String },
    /// The token is not a header value, or no HTTP client could be built.
    Config(String),
}

/// How a client reaches its service.
pub(crate) struct TransportConfig<'a> {
    /// The service's name in logs (`Password Boss`, `SCIM`).
    pub service: &'static str,
    pub token: &'a str,
    /// `Accept` and `Content-Type` (`application/json`, `application/scim+json`).
    pub media_type: &'static str,
    pub request_timeout: std::time::Duration,
    pub max_response_bytes: usize,
    pub retry: RetryPolicy,
}

pub(crate) struct Transport {
    service: &'static str,
    media_type: &'static str,
    /// The process-wide client (`crate::http_client`).
    http: reqwest::Client,
    /// Per request: the shared client has no timeout of its own.
    timeout: std::time::Duration,
    /// The most of a response body that is read (`bounded::MAX_RESPONSE_BYTES` by default).
    max_body: usize,
    auth: HeaderValue,
    retry: RetryPolicy,
    reads: AtomicU64,
    writes: AtomicU64,
    statuses: RequestTally,
}

impl Transport {
    pub fn new(config: TransportConfig<'_>) -> Result<Self, SendError> {
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", config.token)).map_err(|_| {
                SendError::Config(format!(
                    "the {} token is not a valid header value",
                    config.service
                ))
            })?;
        auth.set_sensitive(true);
        let http = crate::http_client::shared().map_err(SendError::Config)?;
        Ok(Self {
            service: config.service,
            media_type: config.media_type,
            http,
            timeout: config.request_timeout,
            max_body: config.max_response_bytes,
            auth,
            retry: config.retry,
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            statuses: RequestTally::default(),
        })
    }

    /// Answers so far by HTTP status (0: no response).
    pub fn by_status(&self) -> std::collections::BTreeMap<u16, u64> {
        self.statuses.by_status()
    }

    pub fn counts(&self) -> RequestCounts {
        RequestCounts {
            reads: self.reads.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &url::Url,
        body: Option<&[u8]>,
        idempotency_key: Option<&str>,
    ) -> Attempt {
        let counter = if *method == Method::GET {
            &self.reads
        } else {
            &self.writes
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .timeout(self.timeout)
            .header(AUTHORIZATION, self.auth.clone())
            .header(ACCEPT, self.media_type);
        if let Some(body) = body {
            req = req
                .header(CONTENT_TYPE, self.media_type)
                .body(body.to_vec());
        }
        if let Some(key) = idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        let resp = match req.send().await {
            Ok(resp) => resp,
            Err(e) => {
                self.statuses.answered(NO_RESPONSE);
                return Attempt::Broken(e);
            }
        };
        let status = resp.status();
        self.statuses.answered(status.as_u16());
        let retry_after = parse_retry_after(
            resp.headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
        );
        match read_capped(resp, self.max_body).await {
            Ok(body) => Attempt::Answer {
                status,
                retry_after,
                body,
            },
            Err(BodyError::Network(e)) => Attempt::Broken(e),
            Err(BodyError::TooLarge { .. }) => Attempt::TooLarge,
            Err(BodyError::Budget(e)) => Attempt::NoBudget(e),
        }
    }

    /// Send until a final answer or until the retries are spent. `what` names the request in
    /// errors and logs (`POST /v1/users`). With `lost_answer_stops`, a write whose answer may
    /// have been lost is not sent again: `SendError::LostAnswer` lets the caller look first
    /// (a service without idempotency keys would otherwise make a second object).
    pub async fn send(
        &self,
        method: Method,
        url: url::Url,
        what: &str,
        body: Option<Vec<u8>>,
        idempotency_key: Option<&str>,
        lost_answer_stops: bool,
    ) -> Result<Reply, SendError> {
        let write = method != Method::GET;
        let max = self.retry.max_attempts.max(1);
        let mut after_lost_answer = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= max;
            let jitter: f64 = rand::random();
            let exchange = self.attempt(&method, &url, body.as_deref(), idempotency_key);
            match crate::slots::request(exchange).await {
                Attempt::Answer { status, body, .. } if status == StatusCode::UNAUTHORIZED => {
                    tracing::warn!(request = what, "{} refused the token", self.service);
                    return Err(SendError::Unauthorized {
                        body: body.into_vec(),
                    });
                }
                Attempt::Answer {
                    status,
                    retry_after,
                    body,
                } if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() => {
                    let honours_retry_after = status == StatusCode::TOO_MANY_REQUESTS
                        || status == StatusCode::SERVICE_UNAVAILABLE;
                    // A 500/502/504 may come after the write was applied.
                    after_lost_answer |= write && !honours_retry_after;
                    if after_lost_answer && lost_answer_stops {
                        return Err(SendError::LostAnswer {
                            attempts: attempt,
                            detail: format!("HTTP {status}"),
                        });
                    }
                    let wait = if honours_retry_after {
                        self.retry.wait(attempt, retry_after, jitter)
                    } else {
                        Some(self.retry.backoff(attempt, jitter))
                    };
                    match wait {
                        Some(wait) if !last => {
                            tracing::debug!(
                                service = self.service,
                                request = what,
                                status = status.as_u16(),
                                attempt,
                                wait_ms = wait.as_millis() as u64,
                                "retrying {} request",
                                self.service
                            );
                            crate::slots::waiting(tokio::time::sleep(wait)).await;
                        }
                        _ if status == StatusCode::TOO_MANY_REQUESTS => {
                            return Err(SendError::Throttled { attempts: attempt });
                        }
                        _ => {
                            let detail = String::from_utf8_lossy(&body);
                            return Err(SendError::Transient {
                                attempts: attempt,
                                detail: format!("HTTP {status} {}", remote_text(&detail)),
                            });
                        }
                    }
                }
                Attempt::Answer { status, body, .. } => {
                    tracing::trace!(
                        service = self.service,
                        request = what,
                        status = status.as_u16(),
                        attempt,
                        "{} answered",
                        self.service
                    );
                    return Ok(Reply {
                        status,
                        body,
                        after_lost_answer,
                    });
                }
                Attempt::TooLarge => {
                    return Err(SendError::TooLarge {
                        limit: self.max_body,
                    });
                }
                Attempt::NoBudget(source) => return Err(SendError::NoBudget(source)),
                Attempt::Broken(e) => {
                    // A connect error never reached the server; anything later may have.
                    after_lost_answer |= write && !e.is_connect();
                    let detail = describe(&e);
                    if after_lost_answer && lost_answer_stops {
                        return Err(SendError::LostAnswer {
                            attempts: attempt,
                            detail,
                        });
                    }
                    if last {
                        return Err(SendError::Transient {
                            attempts: attempt,
                            detail,
                        });
                    }
                    let wait = self.retry.backoff(attempt, jitter);
                    tracing::debug!(service = self.service, request = what, attempt, error = %detail, wait_ms = wait.as_millis() as u64, "retrying {} request", self.service);
                    crate::slots::waiting(tokio::time::sleep(wait)).await;
                }
            }
        }
    }
}

/// The error and its causes, one line (URLs hold no secrets; the token is only in a header).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return crate::http_client::describe_failure(e);
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    remote_text(&text)
}
