//! Errors of the SCIM client. Messages say what to fix and never carry the token; the service's
//! `scimType` and `detail` are remote text, stripped and capped (`bounded::remote_text`).

use serde::Deserialize;

use crate::bounded::remote_text;
use crate::http_client::kind::ErrorKind;
use crate::passwordboss::transport::SendError;

#[derive(thiserror::Error, Clone, Debug, PartialEq, Eq)]
pub enum ScimError {
    #[error(
        "the SCIM service refused the token (401{}): put a current bearer token from the service's admin console into the Secret named by spec.scim.tokenSecretRef",
        suffix(detail)
    )]
    Unauthorized { detail: String },
    #[error(
        "{what}: the SCIM service has no such resource (404){}",
        suffix(detail)
    )]
    NotFound { what: String, detail: String },
    #[error(
        "{what}: the SCIM service refused it with 409 {}{}",
        scim_type.as_deref().unwrap_or("conflict"),
        suffix(detail)
    )]
    Conflict {
        what: String,
        scim_type: Option<String>,
        detail: String,
    },
    #[error(
        "{what}: the SCIM service rejected it with {status} {}{}",
        scim_type.as_deref().unwrap_or(""),
        suffix(detail)
    )]
    Rejected {
        what: String,
        status: u16,
        scim_type: Option<String>,
        detail: String,
    },
    #[error(
        "{what}: the SCIM service still throttled the request after {attempts} attempts; the next sync tries again"
    )]
    Throttled { what: String, attempts: u32 },
    #[error(
        "{what}: the SCIM service was unreachable or failing after {attempts} attempts ({detail}); check spec.scim.baseUrl and the service status"
    )]
    Transient {
        what: String,
        attempts: u32,
        detail: String,
    },
    #[error("{what}: unexpected answer from the SCIM service: {detail}")]
    Protocol { what: String, detail: String },
    #[error("invalid SCIM client configuration: {0}")]
    Config(String),
    #[error("{what}: the SCIM answer is larger than {limit} bytes; check spec.scim.baseUrl")]
    TooLarge { what: String, limit: usize },
    #[error("{0}; check spec.scim.baseUrl")]
    Paging(#[from] crate::bounded::PagingError),
    #[error("{what}: reading the SCIM answer: {source}")]
    MemoryBudget {
        what: String,
        source: crate::bounded::BudgetExhausted,
    },
}

/// `": detail"`, or nothing when the service sent none (never a dangling colon).
fn suffix(detail: &str) -> String {
    let detail = detail.trim();
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

/// RFC 7644 §3.12: `{"schemas": [...Error], "status": "409", "scimType": ..., "detail": ...}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    #[serde(default)]
    scim_type: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

impl ScimError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unauthorized { .. } => ErrorKind::Unauthorized,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::Conflict { .. } => ErrorKind::Conflict,
            Self::Rejected { .. } => ErrorKind::Rejected,
            Self::Throttled { .. } => ErrorKind::Throttled,
            Self::Transient { .. } => ErrorKind::Transient,
            Self::Protocol { .. } => ErrorKind::Protocol,
            Self::Config(_) => ErrorKind::Config,
            Self::TooLarge { .. } => ErrorKind::TooLarge,
            Self::Paging(_) => ErrorKind::Paging,
            Self::MemoryBudget { .. } => ErrorKind::MemoryBudget,
        }
    }

    /// The service's `scimType` (`uniqueness`, `invalidValue`, ...), when it sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Conflict { scim_type, .. } | Self::Rejected { scim_type, .. } => {
                scim_type.as_deref()
            }
            _ => None,
        }
    }

    /// The error for a non-success answer.
    pub(crate) fn from_status(what: &str, status: u16, body: &[u8]) -> Self {
        let parsed = serde_json::from_slice::<ErrorBody>(body).ok();
        let scim_type = parsed
            .as_ref()
            .and_then(|b| b.scim_type.as_deref())
            .map(remote_text)
            .filter(|t| !t.is_empty());
        let detail = parsed
            .as_ref()
            .and_then(|b| b.detail.as_deref())
            .map(remote_text)
            .unwrap_or_default();
        let what = what.to_string();
        match status {
            401 => Self::Unauthorized { detail },
            404 => Self::NotFound { what, detail },
            409 => Self::Conflict {
                what,
                scim_type,
                detail,
            },
            400..=499 => Self::Rejected {
                what,
                status,
                scim_type,
                detail,
            },
            _ => Self::Protocol {
                what,
                detail: format!(
                    "HTTP {status} {} {detail}",
                    scim_type.as_deref().unwrap_or_default()
                ),
            },
        }
    }

    /// The error for a request `what` that got no final answer.
    pub(crate) fn of_send(what: &str, e: SendError) -> Self {
        let what = what.to_string();
        match e {
            SendError::Unauthorized { body } => Self::from_status(&what, 401, &body),
            SendError::Throttled { attempts } => Self::Throttled { what, attempts },
            SendError::Transient { attempts, detail }
            | SendError::LostAnswer { attempts, detail } => Self::Transient {
                what,
                attempts,
                detail,
            },
            SendError::TooLarge { limit } => Self::TooLarge { what, limit },
            SendError::NoBudget(source) => Self::MemoryBudget { what, source },
            SendError::Config(message) => Self::Config(message),
        }
    }

    pub(crate) fn protocol(what: &str, detail: impl Into<String>) -> Self {
        Self::Protocol {
            what: what.to_string(),
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_status_and_scim_type() {
        let body = br#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"userName taken"}"#;
        let e = ScimError::from_status("POST /Users", 409, body);
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert_eq!(e.code(), Some("uniqueness"));
        assert!(
            e.to_string().ends_with("409 uniqueness: userName taken"),
            "{e}"
        );
        let e = ScimError::from_status("GET /Users", 401, b"");
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert!(e.to_string().contains("spec.scim.tokenSecretRef"), "{e}");
        let body = br#"{"status":400,"scimType":"invalidValue","detail":"bad"}"#;
        let e = ScimError::from_status("PATCH /Users/1", 400, body);
        assert_eq!(e.kind(), ErrorKind::Rejected);
        assert_eq!(e.code(), Some("invalidValue"));
        let e = ScimError::from_status("DELETE /Users/1", 404, b"not json");
        assert_eq!(
            e.to_string(),
            "DELETE /Users/1: the SCIM service has no such resource (404)"
        );
    }

    #[test]
    fn remote_text_is_stripped_and_capped() {
        let long = "m".repeat(5_000);
        let body = format!(r#"{{"scimType":"uniq\u202eueness","detail":"\u001b[2J{long}"}}"#);
        let e = ScimError::from_status("POST /Users", 409, body.as_bytes());
        assert_eq!(e.code(), Some("uniqueness"));
        let shown = e.to_string();
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\u{202e}'),
            "{shown}"
        );
        assert!(shown.len() < 800, "{}", shown.len());
    }
}
