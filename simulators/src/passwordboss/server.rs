//! The loopback HTTP server: one hyper connection task per client, each of which a handler can
//! kill (to drop a connection after a write was applied, as a crashed proxy would).

use std::sync::Arc;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower_service::Service as _;

/// Lets a handler close its own connection without answering.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionKill(Arc<Notify>);

impl ConnectionKill {
    pub fn kill(&self) {
        self.0.notify_one();
    }
}

/// Accept connections until `shutdown` changes.
pub(crate) async fn serve(listener: TcpListener, app: Router, shutdown: watch::Receiver<bool>) {
    loop {
        let mut stop = shutdown.clone();
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let kill = ConnectionKill(Arc::new(Notify::new()));
        let service = TowerToHyperService::new(app.clone().layer(Extension(kill.clone())));
        tokio::spawn(async move {
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = kill.0.notified() => tracing::debug!("simulator dropped a connection after applying a write"),
                _ = stop.changed() => {}
            }
        });
    }
}

/// Hands a request for `/c{i}/rest` to company `i`'s router as `/rest` (`PbSim::start_many`): a
/// lookup, whatever the number of companies. Anything else is a 404.
pub(crate) async fn dispatch(routers: &[Router], mut request: Request) -> Response {
    let path = request.uri().path();
    let company = path
        .strip_prefix("/c")
        .and_then(|rest| rest.split_once('/'))
        .and_then(|(i, rest)| Some((i.parse::<usize>().ok()?, format!("/{rest}"))));
    let Some((router, rest)) = company.and_then(|(i, rest)| Some((routers.get(i)?, rest))) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let uri = match request.uri().query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest,
    };
    match uri.parse() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => return StatusCode::NOT_FOUND.into_response(),
    }
    match router.clone().call(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
