//! Sends Graph requests: pacing, bearer tokens (one forced refresh on 401), retries on
//! 429/503/504 honouring `Retry-After`, backoff with jitter, a deadline, and `$batch`.

use crate::http_client::tally::{NO_RESPONSE, RequestTally};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::error::{GraphError, classify_graph_error};
use super::pacer::TenantPacer;
use super::retry::{RetryPolicy, parse_retry_after, retry_after};
use super::token::TokenProvider;
use super::wire::ErrorBody;
use crate::bounded::{BodyError, MAX_RESPONSE_BYTES, read_capped, remote_text};

/// `$batch` carries at most this many requests.
pub(crate) const BATCH_LIMIT: usize = 20;

/// A Graph answer that is not a success, as data (for callers that branch on it).
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: u16,
    pub code: String,
}

/// One sub-request's outcome.
pub(crate) type SubResult = Result<Value, Failure>;

pub(crate) struct Transport {
    pub(crate) http: reqwest::Client,
    pub(crate) root: String,
    pub(crate) tokens: TokenProvider,
    pub(crate) pacer: Arc<TenantPacer>,
    pub(crate) requests: Arc<RequestTally>,
    pub(crate) policy: RetryPolicy,
}

impl Transport {
    /// Makes `url` (absolute under the Graph root, or relative to it) relative to the root.
    pub(crate) fn relative<'a>(&self, url: &'a str) -> Result<&'a str, GraphError> {
        if url.starts_with('/') {
            return Ok(url);
        }
        url.strip_prefix(self.root.as_str())
            .filter(|rest| rest.starts_with('/'))
            .ok_or_else(|| {
                GraphError::protocol(format!(
                    "Graph returned a link outside {}: {}",
                    self.root,
                    remote_text(url)
                ))
            })
    }

    /// GET a JSON document; a Graph error becomes a `GraphError` (see `get_or_failure`).
    pub(crate) async fn get(&self, url: &str, deadline: Instant) -> Result<Value, GraphError> {
        match self.get_or_failure(url, deadline).await? {
            Ok(v) => Ok(v),
            Err(f) => Err(failure_error(f)),
        }
    }

    /// GET, returning non-retryable Graph errors as `Failure` data.
    pub(crate) async fn get_or_failure(
        &self,
        url: &str,
        deadline: Instant,
    ) -> Result<SubResult, GraphError> {
        let path = self.relative(url)?.to_owned();
        self.send(reqwest::Method::GET, &path, None, deadline).await
    }

    /// Runs `requests` (relative GET URLs) through `$batch`, in chunks of 20, retrying
    /// throttled sub-requests after the longest `Retry-After`. Results are in input order.
    pub(crate) async fn batch(
        &self,
        urls: &[String],
        deadline: Instant,
    ) -> Result<Vec<SubResult>, GraphError> {
        let mut results: Vec<Option<SubResult>> = urls.iter().map(|_| None).collect();
        for chunk_start in (0..urls.len()).step_by(BATCH_LIMIT) {
            let chunk_end = (chunk_start + BATCH_LIMIT).min(urls.len());
            let mut pending: Vec<usize> = (chunk_start..chunk_end).collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                let mut body = Vec::with_capacity(pending.len());
                for &i in &pending {
                    body.push(json!({
                        "id": i.to_string(),
                        "method": "GET",
                        "url": self.relative(&urls[i])?,
                    }));
                }
                let envelope = self
                    .send(
                        reqwest::Method::POST,
                        "/$batch",
                        Some(json!({ "requests": body })),
                        deadline,
                    )
                    .await?
                    .map_err(failure_error)?;
                let (retry, wait) = self.take_batch_responses(&envelope, &pending, &mut results)?;
                if retry.is_empty() {
                    break;
                }
                attempt += 1;
                let delay = wait.unwrap_or_else(|| self.policy.backoff(attempt - 1));
                if attempt >= self.policy.max_attempts || Instant::now() + delay > deadline {
                    return Err(GraphError::Throttled {
                        what: format!("{} $batch sub-requests still throttled", retry.len()),
                        retry_after: wait,
                    });
                }
                if let Some(w) = wait {
                    self.pacer.defer(w);
                }
                tracing::debug!(
                    count = retry.len(),
                    ?delay,
                    "retrying throttled $batch sub-requests"
                );
                crate::slots::waiting(tokio::time::sleep(delay)).await;
                pending = retry;
            }
        }
        results
            .into_iter()
            .map(|r| r.ok_or_else(|| GraphError::protocol("a $batch response lacks an answer")))
            .collect()
    }

    /// Files sub-responses into `results`; returns the ids to retry and the longest Retry-After.
    fn take_batch_responses(
        &self,
        envelope: &Value,
        pending: &[usize],
        results: &mut [Option<SubResult>],
    ) -> Result<(Vec<usize>, Option<Duration>), GraphError> {
        let responses = envelope
            .get("responses")
            .and_then(Value::as_array)
            .ok_or_else(|| GraphError::protocol("$batch answer has no responses array"))?;
        let mut retry = Vec::new();
        let mut wait: Option<Duration> = None;
        for r in responses {
            let idx: usize = r
                .get("id")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .filter(|i| pending.contains(i))
                .ok_or_else(|| GraphError::protocol("$batch response with an unknown id"))?;
            let status = r.get("status").and_then(Value::as_u64).unwrap_or(0) as u16;
            let body = r.get("body").cloned().unwrap_or(Value::Null);
            match status {
                200..=299 => results[idx] = Some(Ok(body)),
                429 | 503 | 504 => {
                    let ra = r
                        .get("headers")
                        .and_then(|h| h.get("Retry-After").or_else(|| h.get("retry-after")))
                        .and_then(Value::as_str)
                        .and_then(parse_retry_after);
                    if let Some(ra) = ra {
                        wait = Some(wait.map_or(ra, |w| w.max(ra)));
                    }
                    retry.push(idx);
                }
                401 => {
                    return Err(classify_graph_error(401, &error_code(&body)));
                }
                _ => {
                    results[idx] = Some(Err(Failure {
                        status,
                        code: error_code(&body),
                    }))
                }
            }
        }
        if pending
            .iter()
            .any(|i| results[*i].is_none() && !retry.contains(i))
        {
            return Err(GraphError::protocol("$batch answer misses some requests"));
        }
        Ok((retry, wait))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        deadline: Instant,
    ) -> Result<SubResult, GraphError> {
        let url = format!("{}{}", self.root, path);
        let mut attempt: u32 = 0;
        let mut refreshed = false;
        loop {
            let outcome = self
                .attempt(&method, &url, body.as_ref(), &mut refreshed, deadline)
                .await;
            let (err, wait) = match outcome {
                Attempt::Done(r) => return r,
                Attempt::Retry(err, wait) => (err, wait),
            };
            attempt += 1;
            let delay = wait.unwrap_or_else(|| self.policy.backoff(attempt - 1));
            if attempt >= self.policy.max_attempts || Instant::now() + delay > deadline {
                return Err(err);
            }
            if let Some(w) = wait {
                self.pacer.defer(w);
            }
            tracing::debug!(path, attempt, ?delay, error = %err, "retrying Graph request");
            crate::slots::waiting(tokio::time::sleep(delay)).await;
        }
    }

    /// One attempt: paced, then sent holding the sync's slot (`slots::request`).
    async fn attempt(
        &self,
        method: &reqwest::Method,
        url: &str,
        body: Option<&Value>,
        refreshed: &mut bool,
        deadline: Instant,
    ) -> Attempt {
        let _permit = self.pacer.acquire().await;
        crate::slots::request(self.exchange(method, url, body, refreshed, deadline)).await
    }

    /// The token (fetched if needed) and the HTTP exchange of one attempt.
    async fn exchange(
        &self,
        method: &reqwest::Method,
        url: &str,
        body: Option<&Value>,
        refreshed: &mut bool,
        deadline: Instant,
    ) -> Attempt {
        let bearer = match self.tokens.get().await {
            Ok(b) => b,
            Err(e) if e.is_retryable() => {
                let wait = match &e {
                    GraphError::Throttled { retry_after, .. } => *retry_after,
                    _ => None,
                };
                return Attempt::Retry(e, wait);
            }
            Err(e) => return Attempt::Done(Err(e)),
        };
        let Some(authorization) = bearer.header_value() else {
            return Attempt::Done(Err(GraphError::protocol(
                "the token endpoint issued an access token that is not a valid header value",
            )));
        };
        let mut req = self
            .http
            .request(method.clone(), url)
            .timeout(super::config::REQUEST_TIMEOUT)
            .header(http::header::AUTHORIZATION, authorization);
        if let Some(b) = body {
            req = req.json(b);
        }
        self.requests.sent();
        let sent = tokio::time::timeout_at(deadline.into(), req.send()).await;
        if !matches!(sent, Ok(Ok(_))) {
            self.requests.answered(NO_RESPONSE);
        }
        let resp = match sent {
            Ok(Ok(r)) => r,
            Err(_) => {
                return Attempt::Done(Err(GraphError::DeadlineExceeded {
                    what: "Microsoft Graph",
                }));
            }
            Ok(Err(e)) => {
                return Attempt::Retry(
                    GraphError::Transient {
                        what: format!(
                            "Graph unreachable: {}",
                            crate::http_client::describe_failure(&e.without_url())
                        ),
                    },
                    None,
                );
            }
        };
        let status = resp.status().as_u16();
        self.requests.answered(status);
        let wait = retry_after(resp.headers());
        let read = read_capped(resp, MAX_RESPONSE_BYTES);
        let bytes = match tokio::time::timeout_at(deadline.into(), read).await {
            Ok(Ok(b)) => b,
            Ok(Err(BodyError::TooLarge { limit })) => {
                return Attempt::Done(Err(GraphError::TooLarge {
                    what: "Microsoft Graph",
                    limit,
                }));
            }
            Ok(Err(BodyError::Budget(e))) => return Attempt::Done(Err(e.into())),
            Ok(Err(BodyError::Network(e))) => {
                return Attempt::Retry(
                    GraphError::Transient {
                        what: format!(
                            "Graph response cut short: {}",
                            crate::http_client::describe_failure(&e.without_url())
                        ),
                    },
                    None,
                );
            }
            Err(_) => {
                return Attempt::Done(Err(GraphError::DeadlineExceeded {
                    what: "Microsoft Graph",
                }));
            }
        };
        let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
        // Its share of the memory budget goes back before anything else happens.
        drop(bytes);
        match status {
            200..=299 => match parsed {
                Some(v) => Attempt::Done(Ok(Ok(v))),
                None => Attempt::Done(Err(GraphError::protocol(format!(
                    "Graph answered {status} with a body that is not JSON"
                )))),
            },
            401 if !*refreshed => {
                *refreshed = true;
                self.tokens.invalidate(&bearer).await;
                tracing::debug!("Graph answered 401; fetching one fresh token");
                Attempt::Retry(
                    GraphError::Transient {
                        what: "token refresh".into(),
                    },
                    Some(Duration::ZERO),
                )
            }
            429 => Attempt::Retry(
                GraphError::Throttled {
                    what: "429 TooManyRequests".into(),
                    retry_after: wait,
                },
                wait,
            ),
            500 | 502 | 503 | 504 => Attempt::Retry(
                GraphError::Transient {
                    what: format!("HTTP {status}"),
                },
                wait,
            ),
            _ => {
                let code = parsed.as_ref().map(error_code).unwrap_or_default();
                if status == 401 {
                    return Attempt::Done(Err(classify_graph_error(401, &code)));
                }
                Attempt::Done(Ok(Err(Failure { status, code })))
            }
        }
    }
}

enum Attempt {
    Done(Result<SubResult, GraphError>),
    Retry(GraphError, Option<Duration>),
}

fn error_code(body: &Value) -> String {
    serde_json::from_value::<ErrorBody>(body.clone())
        .map(|b| b.error.code)
        .unwrap_or_default()
}

/// Turns a Graph failure into the error callers report.
pub(crate) fn failure_error(f: Failure) -> GraphError {
    match (f.status, f.code.as_str()) {
        (400, "syncStateNotFound" | "resyncRequired") | (410, _) => GraphError::DeltaExpired {
            code: if f.code.is_empty() {
                format!("HTTP {}", f.status)
            } else {
                remote_text(&f.code)
            },
        },
        (401 | 403, code) => classify_graph_error(f.status, code),
        (status, code) => GraphError::protocol(format!(
            "Graph answered {status} {}",
            if code.is_empty() {
                "without an error code".to_owned()
            } else {
                remote_text(code)
            }
        )),
    }
}
