//! A fault-injecting HTTP/1 reverse proxy on loopback, for servers this project did not write
//! (the SCIM tests run PyPI's `scim2-server` behind it). It forwards each request to the
//! upstream as it came (method, path and query, headers — `Host` included, so the upstream's
//! `Location`s name the proxy — and body), counts requests by method and path, and on command
//! answers in the upstream's place: a status with `Retry-After`, a slow answer, or a connection
//! cut before the request is forwarded, after the upstream applied it, or in the middle of the
//! answer's body.
//!
//! Faults are rules matched in the order they were added: the first rule that matches a request
//! and has uses left decides what happens to it (one use spent); a request no rule takes is
//! forwarded untouched.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The largest request or answer body the proxy buffers.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// What the proxy does to a request a rule takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answers `status` (with `Retry-After: retry_after` seconds, when set) and a small JSON
    /// error body, without forwarding: the upstream never sees the request.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Forwards the request, then holds the upstream's answer for this long before passing it
    /// on: a slow server (the request is applied whether or not the client waits).
    Slow(Duration),
    /// Closes the client's connection without forwarding or answering.
    CutBeforeForward,
    /// Forwards the request and lets the upstream apply it, then closes the client's connection
    /// without answering: an answer lost on the way back.
    CutAfterForward,
    /// Forwards the request, then sends the upstream's status line, headers (with the full
    /// `Content-Length`) and half its body, and closes the connection.
    CutMidResponse,
}

/// Which requests a rule takes: a method (any when `None`) and a path prefix (the path without
/// the query; `""` takes every path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    pub method: Option<Method>,
    pub path_prefix: String,
}

impl Match {
    /// Every request.
    pub fn any() -> Self {
        Self {
            method: None,
            path_prefix: String::new(),
        }
    }

    /// Requests with `method` whose path starts with `path_prefix`.
    pub fn new(method: Method, path_prefix: &str) -> Self {
        Self {
            method: Some(method),
            path_prefix: path_prefix.to_owned(),
        }
    }

    /// Requests of any method whose path starts with `path_prefix`.
    pub fn path(path_prefix: &str) -> Self {
        Self {
            method: None,
            path_prefix: path_prefix.to_owned(),
        }
    }

    fn takes(&self, method: &Method, path: &str) -> bool {
        self.method.as_ref().is_none_or(|m| m == method) && path.starts_with(&self.path_prefix)
    }
}

/// What became of one request the proxy received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The upstream's answer reached the client with this status.
    Answered(u16),
    /// The proxy answered this status in the upstream's place.
    Injected(u16),
    /// The connection was cut; `forwarded` says whether the upstream saw the request.
    Cut { forwarded: bool },
    /// The upstream could not be reached or its answer could not be read.
    UpstreamFailed,
}

/// One request the proxy received, in arrival order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    pub query: Option<String>,
    pub outcome: Outcome,
}

#[derive(Debug)]
struct Rule {
    matches: Match,
    uses_left: u32,
    fault: Fault,
}

#[derive(Debug, Default)]
struct State {
    rules: VecDeque<Rule>,
    log: Vec<Recorded>,
}

#[derive(Clone, Debug)]
struct Shared {
    upstream: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    /// How many requests were recorded (their outcome known).
    recorded: Arc<watch::Sender<usize>>,
}

impl Shared {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().expect("fault proxy state lock"))
    }

    /// The fault of the first rule with uses left that takes the request, spending one use.
    fn decide(&self, method: &Method, path: &str) -> Option<Fault> {
        self.with(|s| {
            let rule = s
                .rules
                .iter_mut()
                .find(|r| r.uses_left > 0 && r.matches.takes(method, path))?;
            rule.uses_left -= 1;
            Some(rule.fault.clone())
        })
    }

    fn record(&self, method: Method, path: String, query: Option<String>, outcome: Outcome) {
        let recorded = self.with(|s| {
            s.log.push(Recorded {
                method,
                path,
                query,
                outcome,
            });
            s.log.len()
        });
        self.recorded.send_replace(recorded);
    }
}

/// A running proxy. Dropping it stops accepting connections.
#[derive(Debug)]
pub struct FaultProxy {
    addr: std::net::SocketAddr,
    shared: Shared,
    shutdown: watch::Sender<bool>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream` (a loopback `host:port`).
    pub async fn start(upstream: std::net::SocketAddr) -> std::io::Result<FaultProxy> {
        if !upstream.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the fault proxy forwards to loopback only",
            ));
        }
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Shared {
            upstream,
            state: Arc::default(),
            recorded: Arc::new(watch::Sender::new(0)),
        };
        let (shutdown, stop) = watch::channel(false);
        tokio::spawn(serve(listener, shared.clone(), stop));
        Ok(FaultProxy {
            addr,
            shared,
            shutdown,
        })
    }

    /// The proxy's address; a URL with it in place of the upstream's reaches the upstream.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Adds a rule: the next `times` requests `matches` takes get `fault`.
    pub fn inject(&self, matches: Match, times: u32, fault: Fault) {
        self.shared.with(|s| {
            s.rules.push_back(Rule {
                matches,
                uses_left: times,
                fault,
            })
        });
    }

    /// Removes every rule: from now on every request is forwarded untouched.
    pub fn clear_faults(&self) {
        self.shared.with(|s| s.rules.clear());
    }

    /// Uses left of all rules (0 when every injected fault has fired).
    pub fn faults_pending(&self) -> u64 {
        self.shared
            .with(|s| s.rules.iter().map(|r| u64::from(r.uses_left)).sum())
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.with(|s| s.log.clone())
    }

    /// How many requests with `method` whose path starts with `path_prefix` were received.
    pub fn count(&self, method: &Method, path_prefix: &str) -> usize {
        self.shared.with(|s| {
            s.log
                .iter()
                .filter(|r| r.method == *method && r.path.starts_with(path_prefix))
                .count()
        })
    }

    /// Waits until `n` requests have been recorded since the last reset: a request is recorded
    /// once its fate is known (the upstream answered it, or the proxy answered or cut it), even
    /// when the client gave up waiting.
    /// Panics after a minute (a hung test becomes a failure).
    pub async fn recorded(&self, n: usize) {
        let mut recorded = self.shared.recorded.subscribe();
        let wait = recorded.wait_for(|&count| count >= n);
        match tokio::time::timeout(Duration::from_secs(60), wait).await {
            Ok(result) => {
                result.expect("the proxy holds the sender");
            }
            Err(_) => panic!(
                "the fault proxy recorded fewer than {n} requests within a minute: {:?}",
                self.requests()
            ),
        }
    }

    /// Forgets the requests received so far (the rules stay).
    pub fn reset_requests(&self) {
        self.shared.with(|s| s.log.clear());
        self.shared.recorded.send_replace(0);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

async fn serve(listener: TcpListener, shared: Shared, shutdown: watch::Receiver<bool>) {
    loop {
        let mut stop = shutdown.clone();
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                // An error here is a cut the handler chose (or the client went away).
                _ = connection => {}
                _ = stop.changed() => {}
            }
        });
    }
}

/// Why the proxy closes a connection without a (whole) answer.
#[derive(Debug)]
struct Cut;

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the fault proxy cut the connection")
    }
}

impl std::error::Error for Cut {}

async fn handle(shared: Shared, req: Request<Incoming>) -> Result<Response<Body>, Cut> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let fault = shared.decide(&method, &path);
    let record = |outcome| shared.record(method.clone(), path.clone(), query.clone(), outcome);

    match fault {
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            record(Outcome::Injected(status));
            return Ok(injected(status, retry_after));
        }
        Some(Fault::CutBeforeForward) => {
            record(Outcome::Cut { forwarded: false });
            return Err(Cut);
        }
        _ => {}
    }

    // The request is read whole, then forwarded, answered and recorded by a task of its own: the
    // upstream gets all of it, and its fate is recorded, even when the client gives up waiting
    // (hyper then drops this handler).
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(Body::new(body), MAX_BODY).await else {
        record(Outcome::Cut { forwarded: false });
        return Err(Cut);
    };
    let request = Request::from_parts(parts, Body::from(body));
    let task = {
        let (shared, fault) = (shared.clone(), fault.clone());
        let (method, path, query) = (method.clone(), path.clone(), query.clone());
        tokio::spawn(async move {
            let answer = match forward(shared.upstream, request).await {
                Ok(answer) => {
                    // The whole answer: the upstream has applied the request when it answered.
                    let (parts, body) = answer.into_parts();
                    axum::body::to_bytes(Body::new(body), MAX_BODY)
                        .await
                        .ok()
                        .map(|bytes| (parts, bytes))
                }
                Err(_) => None,
            };
            let outcome = match (&answer, &fault) {
                (None, _) => Outcome::UpstreamFailed,
                (Some(_), Some(Fault::CutAfterForward | Fault::CutMidResponse)) => {
                    Outcome::Cut { forwarded: true }
                }
                (Some((parts, _)), _) => Outcome::Answered(parts.status.as_u16()),
            };
            shared.record(method, path, query, outcome);
            answer
        })
    };
    let Ok(Some((parts, bytes))) = task.await else {
        return Ok(injected(502, None));
    };
    match fault {
        Some(Fault::CutAfterForward) => Err(Cut),
        Some(Fault::CutMidResponse) => {
            // Half the body, then (once hyper has flushed it: the body is pending once) an error,
            // on which hyper closes the connection.
            let half = bytes.slice(..bytes.len() / 2);
            let frames = futures::stream::unfold(0, move |step| {
                let half = half.clone();
                async move {
                    match step {
                        0 => Some((Ok(half), 1)),
                        1 => {
                            tokio::task::yield_now().await;
                            Some((Err(Cut), 2))
                        }
                        _ => None,
                    }
                }
            });
            let mut response = Response::from_parts(parts, Body::from_stream(frames));
            response.headers_mut().insert(
                header::CONTENT_LENGTH,
                HeaderValue::from_str(&bytes.len().to_string()).expect("a number is a header"),
            );
            Ok(response)
        }
        Some(Fault::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            Ok(Response::from_parts(parts, Body::from(bytes)))
        }
        _ => Ok(Response::from_parts(parts, Body::from(bytes))),
    }
}

/// The request on a connection of its own to the upstream (one per request: a server that
/// answers HTTP/1.0 closes it anyway).
async fn forward(
    upstream: std::net::SocketAddr,
    req: Request<Body>,
) -> Result<Response<Incoming>, Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect(upstream).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let (mut parts, body) = req.into_parts();
    parts.uri = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .parse()?;
    Ok(sender
        .send_request(Request::from_parts(parts, body))
        .await?)
}

fn injected(status: u16, retry_after: Option<u64>) -> Response<Body> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": status.as_u16().to_string(),
        "detail": "injected by the fault proxy",
    });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/scim+json"),
    );
    if let Some(secs) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}
