//! Hostile or broken server behaviour both simulators can switch on, for tests of the clients'
//! bounds: a body too large to hold, paging that never ends or goes round in a cycle, and a
//! server that accepts requests and never answers.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::Response;

/// One hostile behaviour, for every request the simulator gets while it is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hostile {
    /// Every answer is `200` with a body of this many bytes, streamed without a length (so
    /// the client cannot refuse it up front).
    HugeBody(u64),
    /// Every listing page is empty and links to the next, round a cycle A → B → A.
    CyclicPaging,
    /// Every listing page is empty and links to a new page, forever.
    EndlessPaging,
    /// Requests are accepted and never answered.
    NeverAnswer,
}

const CHUNK: usize = 64 * 1024;
static SPACES: [u8; CHUNK] = [b' '; CHUNK];

/// A `200` whose JSON-looking body is `bytes` long, made chunk by chunk as it is sent.
pub(crate) fn huge_body(bytes: u64) -> Response {
    let chunks = bytes.div_ceil(CHUNK as u64);
    let stream = futures::stream::iter((0..chunks).map(move |i| {
        let len = if i + 1 == chunks {
            (bytes - i * CHUNK as u64) as usize
        } else {
            CHUNK
        };
        let mut chunk = Bytes::from_static(&SPACES[..len]);
        if i == 0 {
            let mut first = b"{\"value\":[".to_vec();
            first.extend_from_slice(&SPACES[..len.saturating_sub(first.len())]);
            chunk = Bytes::from(first);
        }
        Ok::<_, std::convert::Infallible>(chunk)
    }));
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// The next page token for a hostile listing: alternating `A`/`B` after `current`, or a new
/// one every time.
pub(crate) fn next_token(kind: Hostile, current: Option<&str>, counter: &AtomicU64) -> String {
    match kind {
        Hostile::CyclicPaging => match current {
            Some("hostile-A") => "hostile-B".into(),
            _ => "hostile-A".into(),
        },
        _ => format!("hostile-{}", counter.fetch_add(1, Ordering::Relaxed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cyclic_tokens_alternate_and_endless_ones_never_repeat() {
        let n = AtomicU64::new(0);
        let a = next_token(Hostile::CyclicPaging, None, &n);
        let b = next_token(Hostile::CyclicPaging, Some(&a), &n);
        assert_eq!(next_token(Hostile::CyclicPaging, Some(&b), &n), a);
        let first = next_token(Hostile::EndlessPaging, None, &n);
        assert_ne!(next_token(Hostile::EndlessPaging, Some(&first), &n), first);
    }
}
