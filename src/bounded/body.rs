//! Reading a response body with a size cap: the body is streamed and reading stops as soon as
//! it passes the cap (a `Content-Length` above it is refused before reading anything).

/// The most any Graph, token endpoint or Password Boss response body may hold: 32 MiB. A real
/// page is far smaller (Graph pages of 999 users are about 1 MiB; Password Boss pages of 500
/// users a few hundred KiB).
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error(
        "the response body is larger than {limit} bytes; the server is broken or hostile, \
         check the endpoint"
    )]
    TooLarge { limit: usize },
    #[error("the response was cut short: {0}")]
    Network(#[source] reqwest::Error),
}

/// Reads `resp`'s body, at most `limit` bytes.
pub async fn read_capped(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|len| len > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Network)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
