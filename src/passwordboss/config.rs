//! How the client reaches Password Boss. The token never appears in `Debug` output.

use std::fmt;
use std::time::Duration;

use super::error::PasswordBossError;
use super::retry::RetryPolicy;

/// Default concurrency of writes (the apply step keeps this many in flight).
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Page size used for listings (the contract's maximum, fewest requests).
pub const DEFAULT_PAGE_SIZE: u32 = 500;

#[derive(Clone)]
pub struct PasswordBossConfig {
    /// Base URL (`https://api.passwordboss.com`); plain `http://` only for loopback hosts.
    pub api_url: url::Url,
    /// The Authentication token from the connector's Secret.
    pub token: String,
    /// Writes in flight at once while executing a plan (at least 1).
    pub concurrency: usize,
    pub retry: RetryPolicy,
    /// Timeout of one HTTP attempt.
    pub request_timeout: Duration,
    /// `limit` of listing requests, 1..=500.
    pub page_size: u32,
    /// The most of one response body that is read (`bounded::MAX_RESPONSE_BYTES`).
    pub max_response_bytes: usize,
}

impl PasswordBossConfig {
    /// Defaults: concurrency 8, the default retry policy, 30 s per attempt, pages of 500.
    pub fn new(api_url: url::Url, token: impl Into<String>) -> Self {
        Self {
            api_url,
            token: token.into(),
            concurrency: DEFAULT_CONCURRENCY,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(30),
            page_size: DEFAULT_PAGE_SIZE,
            max_response_bytes: crate::bounded::MAX_RESPONSE_BYTES,
        }
    }

    /// Checks everything `PasswordBossClient::new` relies on.
    pub fn validate(&self) -> Result<(), PasswordBossError> {
        let bad = |m: String| Err(PasswordBossError::Config(m));
        match self.api_url.scheme() {
            "https" => {}
            "http" if crate::http_client::is_loopback(&self.api_url) => {}
            "http" => {
                return bad(format!(
                    "apiUrl {} uses plain http; use https (http is allowed for loopback only)",
                    self.api_url
                ));
            }
            other => return bad(format!("apiUrl scheme {other:?} is not https")),
        }
        if self.api_url.cannot_be_a_base() || self.api_url.host().is_none() {
            return bad(format!("apiUrl {} is not a base URL", self.api_url));
        }
        if self.token.trim().is_empty() {
            return bad("the Password Boss token is empty; check the token Secret's key".into());
        }
        if self
            .token
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
        {
            return bad(
                "the Password Boss token holds whitespace or non-ASCII characters; \
                 store it in the Secret without a trailing newline"
                    .into(),
            );
        }
        if self.concurrency == 0 {
            return bad("concurrency must be at least 1".into());
        }
        if self.retry.max_attempts == 0 {
            return bad("retry.max_attempts must be at least 1".into());
        }
        if !(1..=500).contains(&self.page_size) {
            return bad(format!("page_size must be 1..=500, got {}", self.page_size));
        }
        Ok(())
    }
}

impl fmt::Debug for PasswordBossConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordBossConfig")
            .field("api_url", &self.api_url.as_str())
            .field("token", &"<redacted>")
            .field("concurrency", &self.concurrency)
            .field("retry", &self.retry)
            .field("request_timeout", &self.request_timeout)
            .field("page_size", &self.page_size)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str, token: &str) -> PasswordBossConfig {
        PasswordBossConfig::new(url::Url::parse(url).unwrap(), token)
    }

    #[test]
    fn http_only_for_loopback() {
        assert!(
            config("https://api.passwordboss.com", "t")
                .validate()
                .is_ok()
        );
        assert!(config("http://127.0.0.1:8080/", "t").validate().is_ok());
        assert!(config("http://[::1]:8080/", "t").validate().is_ok());
        assert!(config("http://localhost:8080/", "t").validate().is_ok());
        let err = config("http://api.passwordboss.com", "t")
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("plain http"));
        assert!(config("ftp://127.0.0.1/", "t").validate().is_err());
    }

    #[test]
    fn token_checked_and_never_debug_printed() {
        assert!(config("https://x.example", "").validate().is_err());
        assert!(config("https://x.example", "tok\n").validate().is_err());
        let printed = format!("{:?}", config("https://x.example", "s3cr3t-token"));
        assert!(!printed.contains("s3cr3t"), "{printed}");
    }
}
