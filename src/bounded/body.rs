//! Reading a response body with a size cap, inside the process-wide memory budget
//! (`bounded::budget`): the body is streamed, reading stops as soon as it passes the cap (a
//! `Content-Length` above it is refused before reading anything), and every byte of buffer it
//! holds is reserved from the budget first: the whole `Content-Length` up front, else block by
//! block as the body arrives. The reservation goes back when the [`Body`] is dropped, so
//! callers parse it and drop it at once.
//!
//! A body of unknown length is held in blocks of at most [`BLOCK`] (the first one doubling up
//! to it), never in one buffer doubling to its full size: the allocator reuses freed blocks of
//! one size for the next body, where buffers of every size up to 32 MiB left it holding freed
//! memory the process could not use (eight large answers at once took a pod with a 256 MiB
//! limit past it with the budget at 128 MiB). A body of more than one block is joined into one
//! buffer once complete, block by block, the join reserved too.

use super::budget::{self, BudgetExhausted, MemoryBudget, Reservation};

/// The most any Graph, token endpoint or Password Boss response body may hold: 32 MiB. A real
/// page is far smaller (Graph pages of 999 users are about 1 MiB; Password Boss pages of 500
/// users a few hundred KiB).
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// The first buffer of a body without a `Content-Length`; it doubles up to [`BLOCK`].
const FIRST_STEP: usize = 16 * 1024;
/// The largest block a body of unknown length is held in while it arrives.
pub const BLOCK: usize = 1024 * 1024;

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
    #[error(transparent)]
    Budget(#[from] BudgetExhausted),
}

/// A response body read into memory, holding its share of the memory budget until dropped.
pub struct Body {
    bytes: Vec<u8>,
    /// Covers `bytes`' whole capacity.
    _reservation: Reservation,
}

impl Body {
    /// The bytes, leaving the budget: for a caller that must hand a `Vec` on (the token
    /// client gives oauth2 its answer, which parses it at once).
    pub fn into_vec(self) -> Vec<u8> {
        self.bytes
    }
}

impl std::ops::Deref for Body {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Body({} bytes)", self.bytes.len())
    }
}

/// Reads `resp`'s body, at most `limit` bytes, within the process-wide budget. Every client
/// reads its answers through this.
pub async fn read_capped(resp: reqwest::Response, limit: usize) -> Result<Body, BodyError> {
    read_within(budget::global(), resp, limit).await
}

/// Reads `resp`'s body, at most `limit` bytes (and never more than `budget` holds).
pub async fn read_within(
    budget: &MemoryBudget,
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Body, BodyError> {
    // Room for one more block than the body: what joining its blocks holds at most.
    let limit = limit.min(budget.total().saturating_sub(BLOCK).max(BLOCK));
    let first = match resp.content_length() {
        Some(len) if len > limit as u64 => return Err(BodyError::TooLarge { limit }),
        Some(len) => len as usize,
        None => FIRST_STEP.min(limit),
    };
    let mut reservation = budget.reserve(first).await?;
    let mut blocks = vec![Vec::with_capacity(first)];
    let mut len = 0;
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Network)? {
        len += chunk.len();
        if len > limit {
            return Err(BodyError::TooLarge { limit });
        }
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            let last = blocks.len() - 1;
            let spare = blocks[last].capacity() - blocks[last].len();
            if spare > 0 {
                let (now, later) = rest.split_at(spare.min(rest.len()));
                blocks[last].extend_from_slice(now);
                rest = later;
                continue;
            }
            let held = reservation.bytes();
            // Never zero: `len` passed the limit above before the blocks could.
            let room = limit.saturating_sub(held);
            if room == 0 {
                return Err(BodyError::TooLarge { limit });
            }
            if last == 0 && held < BLOCK {
                // The first block doubles (small copies) up to a whole block.
                let more = held.max(FIRST_STEP).min(BLOCK - held).min(room);
                reservation.grow(more).await?;
                blocks[0].reserve_exact(more);
            } else {
                let more = BLOCK.min(room);
                reservation.grow(more).await?;
                blocks.push(Vec::with_capacity(more));
            }
        }
    }
    if blocks.len() == 1 {
        let bytes = blocks.pop().expect("one block");
        return Ok(Body {
            bytes,
            _reservation: reservation,
        });
    }
    // Joined block by block: each block is given back once copied, so the join holds one
    // block more than the body, never the body twice (the whole's pages are touched as they
    // are written).
    let mut bytes = Vec::with_capacity(len);
    for block in blocks {
        reservation.grow(block.len()).await?;
        bytes.extend_from_slice(&block);
        let held = block.capacity();
        drop(block);
        reservation.release(held);
    }
    Ok(Body {
        bytes,
        _reservation: reservation,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Bytes;

    use super::*;

    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;

    /// A loopback server answering every request with `len` bytes in 64 KiB chunks, streamed
    /// without a length unless `with_length`.
    async fn serve(len: usize, with_length: bool) -> String {
        let app = axum::Router::new().fallback(move || async move {
            let chunks = (0..len.div_ceil(64 * KIB)).map(move |i| {
                let n = (len - i * 64 * KIB).min(64 * KIB);
                Ok::<_, std::convert::Infallible>(Bytes::from(vec![b'x'; n]))
            });
            let body = axum::body::Body::from_stream(futures::stream::iter(chunks));
            let mut response = axum::response::Response::new(body);
            if with_length {
                response
                    .headers_mut()
                    .insert(http::header::CONTENT_LENGTH, len.into());
            }
            response
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/")
    }

    async fn get(url: &str) -> reqwest::Response {
        reqwest::get(url)
            .await
            .expect("the loopback server answers")
    }

    #[tokio::test]
    async fn a_body_of_unknown_length_holds_its_blocks_until_dropped() {
        let budget = MemoryBudget::new(8 * MIB, Duration::from_secs(3600));
        let url = serve(3 * MIB + 5, false).await;
        let body = read_within(&budget, get(&url).await, MAX_RESPONSE_BYTES)
            .await
            .expect("fits");
        assert_eq!(body.len(), 3 * MIB + 5);
        assert!(body.iter().all(|b| *b == b'x'));
        // Joined from its blocks: only the whole is held now.
        assert_eq!(budget.in_use(), 3 * MIB + 5);
        assert_eq!(budget.metrics().waits.get(), 0);
        drop(body);
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test]
    async fn a_content_length_is_reserved_whole_and_a_small_body_stays_one_block() {
        let budget = MemoryBudget::new(8 * MIB, Duration::from_secs(3600));
        let url = serve(2 * MIB, true).await;
        let body = read_within(&budget, get(&url).await, MAX_RESPONSE_BYTES)
            .await
            .expect("fits");
        assert_eq!((body.len(), budget.in_use()), (2 * MIB, 2 * MIB));
        drop(body);
        let url = serve(40 * KIB, false).await;
        let body = read_within(&budget, get(&url).await, MAX_RESPONSE_BYTES)
            .await
            .expect("fits");
        // 16 KiB doubled to 64 KiB: one block, no join.
        assert_eq!((body.len(), budget.in_use()), (40 * KIB, 64 * KIB));
    }

    #[tokio::test]
    async fn no_body_is_larger_than_the_budget_less_a_block_or_the_cap() {
        let budget = MemoryBudget::new(3 * MIB, Duration::from_secs(3600));
        let url = serve(3 * MIB, false).await;
        let e = read_within(&budget, get(&url).await, MAX_RESPONSE_BYTES)
            .await
            .expect_err("3 MiB and a block never fit a budget of 3");
        assert!(
            matches!(e, BodyError::TooLarge { limit } if limit == 2 * MIB),
            "{e}"
        );
        let url = serve(3 * MIB, true).await;
        let e = read_within(&budget, get(&url).await, MAX_RESPONSE_BYTES)
            .await
            .expect_err("refused by its length");
        assert!(matches!(e, BodyError::TooLarge { .. }), "{e}");
        assert_eq!(budget.in_use(), 0, "a refused body holds nothing");
        assert_eq!(budget.metrics().waits.get(), 0);
    }

    #[tokio::test]
    async fn a_body_that_finds_no_room_fails_after_its_wait_and_gives_back_what_it_held() {
        let budget = MemoryBudget::new(4 * MIB, Duration::from_millis(50));
        let held = budget.reserve(3 * MIB).await.expect("free");
        let url = serve(2 * MIB, false).await;
        let e = read_within(&budget, get(&url).await, MAX_RESPONSE_BYTES)
            .await
            .expect_err("only 1 MiB is free");
        assert!(matches!(e, BodyError::Budget(_)), "{e}");
        assert!(e.to_string().contains("resources.limits.memory"), "{e}");
        assert_eq!(
            budget.in_use(),
            3 * MIB,
            "the failed body gave back its blocks"
        );
        assert_eq!(budget.metrics().exhausted.get(), 1);
        drop(held);
        let body = read_within(&budget, get(&url).await, MAX_RESPONSE_BYTES)
            .await
            .expect("room again");
        assert_eq!(body.len(), 2 * MIB);
    }
}
