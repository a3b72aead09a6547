//! How the client reaches a SCIM service. The token never appears in `Debug` output.

use std::fmt;
use std::time::Duration;

use super::error::ScimError;
use crate::passwordboss::RetryPolicy;

/// `count` asked for in listings; a service may answer fewer per page (`itemsPerPage`).
pub const DEFAULT_PAGE_SIZE: u32 = 100;

#[derive(Clone)]
pub struct ScimConfig {
    /// The service's SCIM base URL (`https://scim.example.com/v2`); plain `http://` only for
    /// loopback hosts.
    pub base_url: url::Url,
    /// The bearer token from the connector's Secret.
    pub token: String,
    /// Writes in flight at once while executing a plan (at least 1).
    pub concurrency: usize,
    pub retry: RetryPolicy,
    /// Timeout of one HTTP attempt.
    pub request_timeout: Duration,
    /// `count` of listing requests, 1..=1000.
    pub page_size: u32,
    /// The most of one response body that is read (`bounded::MAX_RESPONSE_BYTES`).
    pub max_response_bytes: usize,
}

impl ScimConfig {
    /// Defaults: concurrency 8, the default retry policy, 30 s per attempt, pages of 100.
    pub fn new(base_url: url::Url, token: impl Into<String>) -> Self {
        Self {
            base_url,
            token: token.into(),
            concurrency: crate::passwordboss::DEFAULT_CONCURRENCY,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(30),
            page_size: DEFAULT_PAGE_SIZE,
            max_response_bytes: crate::bounded::MAX_RESPONSE_BYTES,
        }
    }

    /// Checks everything `ScimClient::new` relies on.
    pub fn validate(&self) -> Result<(), ScimError> {
        let bad = |m: String| Err(ScimError::Config(m));
        let url = &self.base_url;
        match url.scheme() {
            "https" => {}
            "http" if crate::http_client::is_loopback(url) => {}
            "http" => {
                return bad(format!(
                    "scim.baseUrl {url} uses plain http; use https (http is allowed for loopback only)"
                ));
            }
            other => return bad(format!("scim.baseUrl scheme {other:?} is not https")),
        }
        if url.cannot_be_a_base() || url.host().is_none() {
            return bad(format!("scim.baseUrl {url} is not a base URL"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return bad("scim.baseUrl must not carry a user name or password".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return bad(format!(
                "scim.baseUrl {url} must not have a query or fragment"
            ));
        }
        if self.token.trim().is_empty() {
            return bad(
                "the SCIM token is empty; check the Secret named by spec.scim.tokenSecretRef"
                    .into(),
            );
        }
        if self
            .token
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
        {
            return bad(
                "the SCIM token holds whitespace or non-ASCII characters; store it in the \
                 Secret without a trailing newline"
                    .into(),
            );
        }
        if self.concurrency == 0 {
            return bad("concurrency must be at least 1".into());
        }
        if self.retry.max_attempts == 0 {
            return bad("retry.max_attempts must be at least 1".into());
        }
        if !(1..=1000).contains(&self.page_size) {
            return bad(format!(
                "page_size must be 1..=1000, got {}",
                self.page_size
            ));
        }
        Ok(())
    }
}

/// The base URL as the company guard compares it: scheme and host lowercase, the default port
/// dropped, no trailing slash, no query or fragment. Two spellings of one service are one company.
pub fn normalised_base_url(url: &url::Url) -> String {
    // `Url` already lowercases the scheme and host and drops a default port.
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.as_str().trim_end_matches('/').to_owned()
}

impl fmt::Debug for ScimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScimConfig")
            .field("base_url", &self.base_url.as_str())
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

    fn config(url: &str, token: &str) -> ScimConfig {
        ScimConfig::new(url::Url::parse(url).unwrap(), token)
    }

    #[test]
    fn http_only_for_loopback_and_no_credentials_in_the_url() {
        assert!(
            config("https://scim.example.com/v2", "t")
                .validate()
                .is_ok()
        );
        assert!(config("http://127.0.0.1:8080/", "t").validate().is_ok());
        assert!(
            config("http://localhost:8080/scim/v2", "t")
                .validate()
                .is_ok()
        );
        let err = config("http://scim.example.com", "t")
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("plain http"), "{err}");
        assert!(
            config("https://u:p@scim.example.com", "t")
                .validate()
                .is_err()
        );
        assert!(
            config("https://scim.example.com/?a=b", "t")
                .validate()
                .is_err()
        );
    }

    #[test]
    fn token_checked_and_never_debug_printed() {
        assert!(config("https://x.example", "").validate().is_err());
        assert!(config("https://x.example", "tok\n").validate().is_err());
        let printed = format!("{:?}", config("https://x.example", "s3cr3t-token"));
        assert!(!printed.contains("s3cr3t"), "{printed}");
    }

    #[test]
    fn spellings_of_one_service_are_one_company() {
        let n = |u: &str| normalised_base_url(&url::Url::parse(u).unwrap());
        assert_eq!(
            n("HTTPS://SCIM.Example.com:443/v2/"),
            "https://scim.example.com/v2"
        );
        assert_eq!(
            n("https://scim.example.com/v2"),
            "https://scim.example.com/v2"
        );
        assert_ne!(
            n("https://scim.example.com/v2"),
            n("https://scim.example.com/V2")
        );
        assert_eq!(n("http://127.0.0.1:8080/"), "http://127.0.0.1:8080");
    }
}
