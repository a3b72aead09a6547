//! Errors of the Graph side and their classification into the few kinds the controller maps to
//! status. Classification always uses the service's codes (`error_codes`, `error.code`), never
//! message text. No message here ever carries a secret, assertion or token.

use std::time::Duration;

use crate::bounded::remote_text;

/// What the controller needs to know about a failed Graph read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GraphErrorKind {
    /// Entra or Graph refused the credentials or the app lacks permissions.
    Unauthorized,
    /// A configured group does not exist (or a name matched zero or several groups).
    NotFound,
    /// Graph kept answering 429 until the attempts or the sync deadline ran out.
    Throttled,
    /// Network failures or 5xx until the attempts or the sync deadline ran out.
    Transient,
    /// Graph answered something this client does not understand.
    Protocol,
    /// The connector's configuration cannot work (bad endpoint, unreadable PEM or token file).
    Config,
    /// A response body passed `bounded::MAX_RESPONSE_BYTES`.
    TooLarge,
    /// The process-wide memory budget for response bodies had no room within its wait.
    MemoryBudget,
    /// A listing's links went round in a cycle or past `bounded::MAX_PAGES`.
    Paging,
    /// The sync's deadline passed while reading.
    Deadline,
}

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("Entra ID refused the token request with AADSTS{code}: {fix}")]
    TokenRejected { code: u64, fix: String },
    #[error("Entra ID refused the token request ({error}): {fix}")]
    TokenRefused { error: String, fix: String },
    #[error("Microsoft Graph answered {status} {code}: {fix}")]
    GraphRefused {
        status: u16,
        code: String,
        fix: String,
    },
    #[error("{group} was not found in Entra ID: check the id or displayName and the tenant")]
    GroupNotFound { group: String },
    #[error(
        "{group} matches {count} groups in Entra ID: display names are not unique, select the group by id instead"
    )]
    GroupAmbiguous { group: String, count: usize },
    #[error("Microsoft Graph is throttling requests ({what}); last Retry-After {retry_after:?}")]
    Throttled {
        what: String,
        retry_after: Option<Duration>,
    },
    #[error("Microsoft Graph is unavailable ({what}); the read is retried on the next sync")]
    Transient { what: String },
    #[error("Microsoft Graph answered unexpectedly: {what}")]
    Protocol { what: String },
    #[error("invalid Azure configuration: {what}")]
    Config { what: String },
    #[error(
        "{what}: the answer is larger than {limit} bytes; check the endpoint (a broken or hostile server)"
    )]
    TooLarge { what: &'static str, limit: usize },
    #[error("{0}; check graphEndpoint")]
    Paging(#[from] crate::bounded::PagingError),
    #[error("reading a Microsoft Graph answer: {0}")]
    MemoryBudget(#[from] crate::bounded::BudgetExhausted),
    #[error("the sync deadline passed while waiting for {what}")]
    DeadlineExceeded { what: &'static str },
    /// A user lookup gave no evidence either way (see `GraphClient::look_up_users`).
    #[error("could not tell whether {who} was deleted in Entra ID: {what}")]
    LookupFailed { who: String, what: String },
    /// A delta link is no longer valid; handled inside the client by a full read.
    #[error("the delta token expired ({code}); a full read is required")]
    DeltaExpired { code: String },
}

impl GraphError {
    pub fn kind(&self) -> GraphErrorKind {
        match self {
            GraphError::TokenRejected { .. }
            | GraphError::TokenRefused { .. }
            | GraphError::GraphRefused { .. } => {
                if let GraphError::GraphRefused { status, .. } = self
                    && !matches!(status, 401 | 403)
                {
                    return GraphErrorKind::Protocol;
                }
                GraphErrorKind::Unauthorized
            }
            GraphError::GroupNotFound { .. } | GraphError::GroupAmbiguous { .. } => {
                GraphErrorKind::NotFound
            }
            GraphError::Throttled { .. } => GraphErrorKind::Throttled,
            GraphError::Transient { .. }
            | GraphError::DeltaExpired { .. }
            | GraphError::LookupFailed { .. } => GraphErrorKind::Transient,
            GraphError::Protocol { .. } => GraphErrorKind::Protocol,
            GraphError::Config { .. } => GraphErrorKind::Config,
            GraphError::TooLarge { .. } => GraphErrorKind::TooLarge,
            GraphError::MemoryBudget(_) => GraphErrorKind::MemoryBudget,
            GraphError::Paging(_) => GraphErrorKind::Paging,
            GraphError::DeadlineExceeded { .. } => GraphErrorKind::Deadline,
        }
    }

    /// The app lacks admin consent for its Graph permissions (Graph answered 403, or Entra
    /// refused the token with AADSTS65001 "consent required").
    pub fn needs_admin_consent(&self) -> bool {
        self.consent_missing()
            || matches!(
                self,
                GraphError::GraphRefused { status: 403, .. }
                    | GraphError::TokenRejected { code: 65001, .. }
            )
    }

    /// Entra does not know the app in the tenant (AADSTS700016, `unauthorized_client`): no
    /// administrator of that tenant has consented to it, or the consent was revoked. For a
    /// multi-tenant app that is the normal state while a customer is being onboarded.
    pub fn consent_missing(&self) -> bool {
        matches!(self, GraphError::TokenRejected { code: 700016, .. })
    }

    pub(crate) fn config(what: impl Into<String>) -> Self {
        GraphError::Config { what: what.into() }
    }

    pub(crate) fn protocol(what: impl Into<String>) -> Self {
        GraphError::Protocol { what: what.into() }
    }

    /// Worth retrying within the same sync.
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(
            self,
            GraphError::Throttled { .. } | GraphError::Transient { .. }
        )
    }
}

/// Classifies an Entra token endpoint error by its first AADSTS code, falling back to the OAuth
/// `error` value when no code was sent. `client_id`/`tenant` only go into the fix text.
pub(crate) fn classify_token_error(
    error: &str,
    codes: &[u64],
    client_id: &str,
    tenant: &str,
) -> GraphError {
    let Some(&code) = codes.first() else {
        let fix = match error {
            "invalid_client" | "unauthorized_client" => {
                "the app registration or its credential is not accepted; check clientId and the credential"
            }
            "invalid_tenant" => "the tenant was not found; check tenantId and cloud",
            "invalid_scope" => "the Graph endpoint does not match the cloud of the authority host",
            _ => "see the Entra sign-in logs of the app registration",
        };
        return GraphError::TokenRefused {
            error: remote_text(error),
            fix: fix.to_owned(),
        };
    };
    let fix = match code {
        7000215 => format!(
            "the client secret of app {client_id} is wrong; put the secret's Value (not its ID) in the Secret"
        ),
        7000222 => format!(
            "the client secret of app {client_id} has expired; create a new secret in the app registration and update the Secret"
        ),
        700016 => format!(
            "application {client_id} was not found in tenant {tenant}; check clientId and tenantId, or have an administrator consent the app in that tenant"
        ),
        90002 => format!(
            "tenant {tenant} was not found; check tenantId and the cloud (Public, USGovernment, China)"
        ),
        70021 => format!(
            "no federated credential of app {client_id} matches the service account token; add a federated credential with this cluster's issuer and the service account as subject"
        ),
        7000218 => "the request carried no credential; set clientSecretRef, clientCertificateRef or workloadIdentity".to_owned(),
        700027 => format!(
            "the client assertion signature was not accepted; upload the certificate in the Secret to app {client_id}"
        ),
        70011 => "the scope is invalid; the Graph endpoint must match the cloud of the authority host".to_owned(),
        _ => format!("see https://login.microsoftonline.com/error?code={code}"),
    };
    GraphError::TokenRejected { code, fix }
}

/// Classifies a Graph error body by HTTP status and `error.code`.
pub(crate) fn classify_graph_error(status: u16, code: &str) -> GraphError {
    let fix = match (status, code) {
        (401, _) => "Graph rejected a freshly issued access token; check that graphEndpoint matches the cloud of the authority host".to_owned(),
        (403, "Authorization_RequestDenied") => "insufficient privileges: add the Microsoft Graph application permissions Group.Read.All and User.Read.All and grant admin consent for them".to_owned(),
        (403, _) => "access denied: grant admin consent for Group.Read.All and User.Read.All".to_owned(),
        (400, "Request_UnsupportedQuery" | "Request_BadRequest") => "the query was refused; this is a client bug, please report it".to_owned(),
        _ => "unexpected Graph error".to_owned(),
    };
    GraphError::GraphRefused {
        status,
        code: remote_text(code),
        fix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_codes_are_unauthorized_and_named() {
        for code in [7000215, 7000222, 700016, 90002, 70021] {
            let err = classify_token_error("invalid_client", &[code], "app", "t");
            assert_eq!(err.kind(), GraphErrorKind::Unauthorized);
            assert!(err.to_string().contains(&format!("AADSTS{code}")));
        }
    }

    #[test]
    fn graph_403_names_the_permission() {
        let err = classify_graph_error(403, "Authorization_RequestDenied");
        assert_eq!(err.kind(), GraphErrorKind::Unauthorized);
        assert!(err.to_string().contains("Group.Read.All"));
        assert!(err.to_string().contains("Authorization_RequestDenied"));
        assert_eq!(
            classify_graph_error(400, "Request_BadRequest").kind(),
            GraphErrorKind::Protocol
        );
    }
}
