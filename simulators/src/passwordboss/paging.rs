//! Cursor paging of the simulated API: `limit` 1..500 (default 100) and an opaque cursor that
//! names the last object of the previous page, so deletions between pages skip nothing.

use std::collections::BTreeMap;

use super::api_error::ApiError;

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 500;

/// A page request, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    /// Sequence number of the last object already returned.
    pub after: Option<u64>,
}

impl PageRequest {
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<Self, ApiError> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ApiError::bad_request(
                        "invalid_limit",
                        format!("limit must be an integer from 1 to {MAX_LIMIT}, got {raw:?}"),
                    ));
                }
            },
        };
        let after = match cursor {
            None => None,
            Some(raw) => Some(decode_cursor(raw).ok_or_else(|| {
                ApiError::bad_request("invalid_cursor", "cursor is not one this API returned")
            })?),
        };
        Ok(Self { limit, after })
    }

    /// One page of `items` (keyed by sequence number) and the cursor of the next page.
    pub fn page<T: Clone>(&self, items: &BTreeMap<u64, T>) -> (Vec<T>, Option<String>) {
        let start = self.after.map_or(0, |a| a.saturating_add(1));
        let mut iter = items.range(start..);
        let page: Vec<(u64, T)> = iter
            .by_ref()
            .take(self.limit)
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        let next = match (iter.next(), page.last()) {
            (Some(_), Some((last, _))) => Some(encode_cursor(*last)),
            _ => None,
        };
        (page.into_iter().map(|(_, v)| v).collect(), next)
    }
}

fn encode_cursor(seq: u64) -> String {
    format!("c{seq:016x}")
}

fn decode_cursor(raw: &str) -> Option<u64> {
    let hex = raw.strip_prefix('c')?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_bounds() {
        assert_eq!(PageRequest::parse(None, None).unwrap().limit, 100);
        assert_eq!(PageRequest::parse(Some("500"), None).unwrap().limit, 500);
        for bad in ["0", "501", "-1", "ten"] {
            let err = PageRequest::parse(Some(bad), None).unwrap_err();
            assert_eq!(err.code, "invalid_limit");
        }
        assert_eq!(
            PageRequest::parse(None, Some("nope")).unwrap_err().code,
            "invalid_cursor"
        );
    }

    #[test]
    fn pages_cover_everything_once() {
        let items: BTreeMap<u64, u64> = (1..=7).map(|i| (i * 3, i)).collect();
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let req = PageRequest::parse(Some("3"), cursor.as_deref()).unwrap();
            let (page, next) = req.page(&items);
            assert!(page.len() <= 3);
            seen.extend(page);
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, (1..=7).collect::<Vec<_>>());
    }
}
