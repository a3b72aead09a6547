//! Following a paged listing safely: every link or cursor seen in the whole listing is
//! remembered (a cycle A→B→A is caught however long it is), and the number of pages is capped.

use std::collections::HashSet;

/// The most pages one listing may have: 20,000. At Graph's 999 members per page or Password
/// Boss's page sizes this is millions of objects, far beyond any company; a server that keeps
/// handing out new links is stopped here.
pub const MAX_PAGES: usize = 20_000;

/// Why a listing was stopped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PagingError {
    #[error("{what}: page {page} links back to a page already read; the server's paging is broken")]
    Cycle { what: String, page: usize },
    #[error("{what}: more than {limit} pages; the server keeps handing out new pages, check it")]
    TooManyPages { what: String, limit: usize },
}

/// Watches one listing.
#[derive(Debug)]
pub struct PageTracker {
    what: String,
    seen: HashSet<u64>,
    limit: usize,
}

impl PageTracker {
    /// A tracker for the listing `what` (e.g. `GET /v1/users`), at most `MAX_PAGES` pages.
    pub fn new(what: impl Into<String>) -> Self {
        Self::with_limit(what, MAX_PAGES)
    }

    pub fn with_limit(what: impl Into<String>, limit: usize) -> Self {
        Self {
            what: what.into(),
            seen: HashSet::new(),
            limit,
        }
    }

    /// Pages read so far (after the first one).
    pub fn pages(&self) -> usize {
        self.seen.len()
    }

    /// Call with each next link or cursor before following it.
    pub fn next(&mut self, link: &str) -> Result<(), PagingError> {
        if !self.seen.insert(fingerprint(link)) {
            return Err(PagingError::Cycle {
                what: self.what.clone(),
                page: self.seen.len() + 1,
            });
        }
        if self.seen.len() >= self.limit {
            return Err(PagingError::TooManyPages {
                what: self.what.clone(),
                limit: self.limit,
            });
        }
        Ok(())
    }
}

/// Links are kept as hashes: a hostile server's long links cost 8 bytes each.
fn fingerprint(link: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = foldhash::quality::FixedState::with_seed(0x5eed).build_hasher();
    h.write(link.as_bytes());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_over_several_pages_is_caught() {
        let mut pages = PageTracker::new("GET /v1/users");
        pages.next("A").unwrap();
        pages.next("B").unwrap();
        pages.next("C").unwrap();
        let err = pages.next("A").unwrap_err();
        assert!(matches!(err, PagingError::Cycle { page: 4, .. }), "{err}");
    }

    #[test]
    fn endless_new_links_stop_at_the_cap() {
        let mut pages = PageTracker::with_limit("GET /groups", 50);
        let mut followed = 0;
        let err = loop {
            match pages.next(&format!("link-{followed}")) {
                Ok(()) => followed += 1,
                Err(e) => break e,
            }
        };
        assert_eq!(followed, 49);
        assert_eq!(
            err,
            PagingError::TooManyPages {
                what: "GET /groups".into(),
                limit: 50
            }
        );
    }
}
