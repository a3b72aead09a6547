//! One HTTP exchange with Password Boss, with the bearer token, bounded retries (backoff with
//! jitter, `Retry-After` honoured) and request counting. Knows nothing of endpoints.

use crate::http_client::tally::{NO_RESPONSE, RequestTally};
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};

use super::config::PasswordBossConfig;
use super::error::PasswordBossError;
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

pub(crate) struct Transport {
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
    pub fn new(config: &PasswordBossConfig) -> Result<Self, PasswordBossError> {
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", config.token)).map_err(|_| {
                PasswordBossError::Config(
                    "the Password Boss token is not a valid header value".into(),
                )
            })?;
        auth.set_sensitive(true);
        let http = crate::http_client::shared().map_err(PasswordBossError::Config)?;
        Ok(Self {
            http,
            timeout: config.request_timeout,
            max_body: config.max_response_bytes,
            auth,
            retry: config.retry.clone(),
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
            .header(ACCEPT, "application/json");
        if let Some(body) = body {
            req = req
                .header(CONTENT_TYPE, "application/json")
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
    /// errors and logs (`POST /v1/users`).
    pub async fn send(
        &self,
        method: Method,
        url: url::Url,
        what: &str,
        body: Option<Vec<u8>>,
        idempotency_key: Option<&str>,
    ) -> Result<Reply, PasswordBossError> {
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
                    tracing::warn!(request = what, "Password Boss refused the token");
                    return Err(PasswordBossError::from_status(what, 401, &body));
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
                    let wait = if honours_retry_after {
                        self.retry.wait(attempt, retry_after, jitter)
                    } else {
                        Some(self.retry.backoff(attempt, jitter))
                    };
                    match wait {
                        Some(wait) if !last => {
                            tracing::debug!(
                                request = what,
                                status = status.as_u16(),
                                attempt,
                                wait_ms = wait.as_millis() as u64,
                                "retrying Password Boss request"
                            );
                            crate::slots::waiting(tokio::time::sleep(wait)).await;
                        }
                        _ if status == StatusCode::TOO_MANY_REQUESTS => {
                            return Err(PasswordBossError::Throttled {
                                what: what.to_string(),
                                attempts: attempt,
                            });
                        }
                        _ => {
                            let detail = String::from_utf8_lossy(&body);
                            return Err(PasswordBossError::Transient {
                                what: what.to_string(),
                                attempts: attempt,
                                detail: format!("HTTP {status} {}", remote_text(&detail)),
                            });
                        }
                    }
                }
                Attempt::Answer { status, body, .. } => {
                    tracing::trace!(
                        request = what,
                        status = status.as_u16(),
                        attempt,
                        "Password Boss answered"
                    );
                    return Ok(Reply {
                        status,
                        body,
                        after_lost_answer,
                    });
                }
                Attempt::TooLarge => {
                    return Err(PasswordBossError::TooLarge {
                        what: what.to_string(),
                        limit: self.max_body,
                    });
                }
                Attempt::NoBudget(source) => {
                    return Err(PasswordBossError::MemoryBudget {
                        what: what.to_string(),
                        source,
                    });
                }
                Attempt::Broken(e) => {
                    // A connect error never reached the server; anything later may have.
                    after_lost_answer |= write && !e.is_connect();
                    let detail = describe(&e);
                    if last {
                        return Err(PasswordBossError::Transient {
                            what: what.to_string(),
                            attempts: attempt,
                            detail,
                        });
                    }
                    let wait = self.retry.backoff(attempt, jitter);
                    tracing::debug!(request = what, attempt, error = %detail, wait_ms = wait.as_millis() as u64, "retrying Password Boss request");
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
