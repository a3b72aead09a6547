//! Errors of the Password Boss client. Messages say what to fix and never carry the token.

use crate::bounded::remote_text;
use crate::passwordboss::model::ErrorBody;

/// The class of an error (shared with the SCIM client: the sync treats both alike).
pub use crate::http_client::kind::ErrorKind as PasswordBossErrorKind;

#[derive(thiserror::Error, Clone, Debug, PartialEq, Eq)]
pub enum PasswordBossError {
    #[error(
        "the Password Boss token was refused ({code}): put a current Authentication token from the Password Boss Portal into the Secret named by spec.passwordBoss.tokenSecretRef"
    )]
    Unauthorized { code: String },
    #[error(
        "{what}: Password Boss has no such object (404 {code}){}",
        detail(message)
    )]
    NotFound {
        what: String,
        code: String,
        message: String,
    },
    #[error("{what}: Password Boss refused it with 409 {code}{}", detail(message))]
    Conflict {
        what: String,
        code: String,
        message: String,
        user_id: Option<String>,
    },
    #[error(
        "{what}: Password Boss rejected it with {status} {code}{}",
        detail(message)
    )]
    Rejected {
        what: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error(
        "{what}: Password Boss still throttled the request after {attempts} attempts; the next sync tries again"
    )]
    Throttled { what: String, attempts: u32 },
    #[error(
        "{what}: Password Boss was unreachable or failing after {attempts} attempts ({detail}); check spec.passwordBoss.apiUrl and the service status"
    )]
    Transient {
        what: String,
        attempts: u32,
        detail: String,
    },
    #[error("{what}: unexpected answer from Password Boss: {detail}")]
    Protocol { what: String, detail: String },
    #[error("invalid Password Boss client configuration: {0}")]
    Config(String),
    #[error(
        "{what}: the Password Boss answer is larger than {limit} bytes; check spec.passwordBoss.apiUrl"
    )]
    TooLarge { what: String, limit: usize },
    #[error("{0}; check spec.passwordBoss.apiUrl")]
    Paging(#[from] crate::bounded::PagingError),
    #[error("{what}: reading the Password Boss answer: {source}")]
    MemoryBudget {
        what: String,
        source: crate::bounded::BudgetExhausted,
    },
}

/// `": message"`, or nothing when Password Boss sent no message (never a dangling colon).
fn detail(message: &str) -> String {
    let message = message.trim();
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl PasswordBossError {
    /// The error for a request `what` that got no final answer.
    pub(crate) fn of_send(what: &str, e: crate::passwordboss::transport::SendError) -> Self {
        use crate::passwordboss::transport::SendError;
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

    pub fn kind(&self) -> PasswordBossErrorKind {
        match self {
            Self::Unauthorized { .. } => PasswordBossErrorKind::Unauthorized,
            Self::NotFound { .. } => PasswordBossErrorKind::NotFound,
            Self::Conflict { .. } => PasswordBossErrorKind::Conflict,
            Self::Rejected { .. } => PasswordBossErrorKind::Rejected,
            Self::Throttled { .. } => PasswordBossErrorKind::Throttled,
            Self::Transient { .. } => PasswordBossErrorKind::Transient,
            Self::Protocol { .. } => PasswordBossErrorKind::Protocol,
            Self::Config(_) => PasswordBossErrorKind::Config,
            Self::TooLarge { .. } => PasswordBossErrorKind::TooLarge,
            Self::Paging(_) => PasswordBossErrorKind::Paging,
            Self::MemoryBudget { .. } => PasswordBossErrorKind::MemoryBudget,
        }
    }

    /// The API's machine code (`email_exists`, `license_limit`, ...), when it sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Unauthorized { code }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }

    /// With `409 email_exists`: the user that holds the email.
    pub fn existing_user_id(&self) -> Option<&str> {
        match self {
            Self::Conflict { user_id, .. } => user_id.as_deref(),
            _ => None,
        }
    }

    /// The error for a non-success answer that is not retried.
    pub(crate) fn from_status(what: &str, status: u16, body: &[u8]) -> Self {
        let detail = serde_json::from_slice::<ErrorBody>(body)
            .ok()
            .map(|b| b.error);
        let code = detail
            .as_ref()
            .map_or_else(|| format!("http_{status}"), |d| remote_text(&d.code));
        let message = detail
            .as_ref()
            .map(|d| remote_text(&d.message))
            .unwrap_or_default();
        let what = what.to_string();
        match status {
            401 => Self::Unauthorized { code },
            404 => Self::NotFound {
                what,
                code,
                message,
            },
            409 => Self::Conflict {
                what,
                code,
                message,
                user_id: detail.and_then(|d| d.user_id),
            },
            400..=499 => Self::Rejected {
                what,
                status,
                code,
                message,
            },
            _ => Self::Protocol {
                what,
                detail: format!("HTTP {status} ({code}) {message}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_status_and_code() {
        let body = br#"{"error":{"code":"email_exists","message":"taken","userId":"u_9"}}"#;
        let e = PasswordBossError::from_status("POST /v1/users", 409, body);
        assert_eq!(e.kind(), PasswordBossErrorKind::Conflict);
        assert_eq!(e.code(), Some("email_exists"));
        assert_eq!(e.existing_user_id(), Some("u_9"));
        let e = PasswordBossError::from_status("GET /v1/connector", 401, b"");
        assert_eq!(e.kind(), PasswordBossErrorKind::Unauthorized);
        assert!(e.to_string().contains("token was refused"));
        let e = PasswordBossError::from_status("PATCH /v1/users/u_1", 422, b"not json");
        assert_eq!(e.kind(), PasswordBossErrorKind::Rejected);
        assert_eq!(e.code(), Some("http_422"));
    }

    #[test]
    fn remote_text_is_cleaned_and_cut() {
        let long = "m".repeat(5_000);
        let body = format!(r#"{{"error":{{"code":"bad\u202ecode","message":"\u001b[2J{long}"}}}}"#);
        let e = PasswordBossError::from_status("POST /v1/users", 400, body.as_bytes());
        assert_eq!(e.code(), Some("badcode"));
        let shown = e.to_string();
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\u{202e}'),
            "{shown}"
        );
        assert!(shown.len() < 800, "{}", shown.len());
    }

    #[test]
    fn an_error_without_a_message_does_not_end_in_a_colon() {
        let e = PasswordBossError::from_status("DELETE /v1/users/u_1", 404, b"");
        assert_eq!(
            e.to_string(),
            "DELETE /v1/users/u_1: Password Boss has no such object (404 http_404)"
        );
        let body = br#"{"error":{"code":"not_found","message":"no user u_1"}}"#;
        let e = PasswordBossError::from_status("DELETE /v1/users/u_1", 404, body);
        assert!(
            e.to_string().ends_with("(404 not_found): no user u_1"),
            "{e}"
        );
    }
}
