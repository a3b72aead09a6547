//! The one HTTP client every connector's Graph and Password Boss clients share.
//!
//! A `reqwest::Client` carries its TLS configuration (the parsed root certificates) and its
//! connection pools; building one per connector cost tens of kilobytes each, which dominated the
//! operator's memory with 1,000 connectors. Clones share everything. Timeouts are set on each
//! request (the clients differ), and the shared settings are the strict ones both need: no
//! redirects (a bearer token must never follow one to another host) and no retries (retries are
//! the clients' own, so every request sent is counted and paced).
//!
//! `tally` is that count: requests sent and answers by HTTP status, kept by each client and
//! read by the sync report and the metrics.

pub mod tally;

use std::sync::OnceLock;

static SHARED: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();

/// The process-wide client; an error (say, no TLS backend) is the same for every caller.
pub fn shared() -> Result<reqwest::Client, String> {
    SHARED
        .get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .retry(reqwest::retry::never())
                .user_agent(concat!("pbconnector/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| format!("cannot build the HTTP client: {e}"))
        })
        .clone()
}
