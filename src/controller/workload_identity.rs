//! Workload identity per tenant: the federated token of a connector is a token of a ServiceAccount
//! of the connector's own namespace, which the controller gets through the TokenRequest API
//! (`POST /api/v1/namespaces/NS/serviceaccounts/NAME/token`, audience
//! `api://AzureADTokenExchange`, short-lived). Each company's app federates with its own
//! identity; no connector can present another namespace's identity or the operator's.

use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::api_error::api_message;
use crate::azure::{FEDERATED_TOKEN_AUDIENCE, FederatedTokenSource, GraphError};

/// Lifetime asked for each token: the API server's minimum (10 minutes).
pub const TOKEN_EXPIRATION: Duration = Duration::from_secs(600);

/// A token is reused until this fraction of its lifetime has passed (kubelet's own rule for
/// projected tokens), then a new one is requested.
const REUSE_FRACTION: f64 = 0.8;

/// Tokens of one ServiceAccount of one namespace, through the TokenRequest API.
pub struct ServiceAccountToken {
    client: Client,
    namespace: String,
    name: String,
    cached: Mutex<Option<(String, Instant)>>,
}

impl ServiceAccountToken {
    /// The ServiceAccount `name` of `namespace` (the connector's own namespace).
    pub fn new(client: Client, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            client,
            namespace: namespace.into(),
            name: name.into(),
            cached: Mutex::new(None),
        }
    }

    async fn request(&self) -> Result<(String, Instant), GraphError> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &self.namespace);
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                audiences: Some(vec![FEDERATED_TOKEN_AUDIENCE.to_string()]),
                expiration_seconds: Some(TOKEN_EXPIRATION.as_secs() as i64),
                ..TokenRequestSpec::default()
            }),
            ..TokenRequest::default()
        };
        let asked = Instant::now();
        let issued = api
            .create_token_request(&self.name, &PostParams::default(), &request)
            .await
            .map_err(|e| self.error(e))?;
        let status = issued.status.unwrap_or_default();
        let token = status
            .token
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                GraphError::config(format!(
                    "the TokenRequest for ServiceAccount `{}` in namespace `{}` returned no token",
                    self.name, self.namespace
                ))
            })?;
        // Without an expiration in the answer, the lifetime asked for.
        let lifetime = match status.expiration_timestamp {
            Some(expires) => {
                let remaining = expires.0.duration_since(Timestamp::now());
                if remaining.is_negative() {
                    Duration::ZERO
                } else {
                    remaining.unsigned_abs().min(TOKEN_EXPIRATION)
                }
            }
            None => TOKEN_EXPIRATION,
        };
        let reuse_until = asked + lifetime.mul_f64(REUSE_FRACTION);
        tracing::debug!(namespace = %self.namespace, service_account = %self.name, lifetime_s = lifetime.as_secs(), "service account token issued");
        Ok((token, reuse_until))
    }

    fn error(&self, error: kube::Error) -> GraphError {
        GraphError::config(token_request_error(&self.namespace, &self.name, &error))
    }
}

/// What to tell the administrator when the TokenRequest for ServiceAccount `name` of `namespace`
/// failed: the ServiceAccount and what to do, with the API server's own message (never kube's
/// debug rendering of the whole response) only where it adds something.
pub fn token_request_error(namespace: &str, name: &str, error: &kube::Error) -> String {
    let (ns, name) = (namespace, name);
    match error {
        kube::Error::Api(status) if status.code == 404 => format!(
            "ServiceAccount `{name}` does not exist in namespace `{ns}`: create it there \
             (spec.azure.workloadIdentity.serviceAccountName names a ServiceAccount of the \
             connector's own namespace)"
        ),
        kube::Error::Api(status) if status.code == 403 => format!(
            "the operator may not create tokens for ServiceAccount `{name}` in namespace `{ns}`: \
             grant it `create` on serviceaccounts/token there (the Helm chart's RBAC does)"
        ),
        other => format!(
            "cannot get a token of ServiceAccount `{name}` in namespace `{ns}` through the \
             TokenRequest API: {}; check that the ServiceAccount exists and the API server is \
             reachable",
            api_message(other)
        ),
    }
}

impl FederatedTokenSource for ServiceAccountToken {
    fn id(&self) -> String {
        format!("serviceaccount {}/{}", self.namespace, self.name)
    }

    fn token(&self) -> BoxFuture<'_, Result<String, GraphError>> {
        Box::pin(async move {
            let mut cached = self.cached.lock().await;
            if let Some((token, reuse_until)) = cached.as_ref()
                && Instant::now() < *reuse_until
            {
                return Ok(token.clone());
            }
            let (token, reuse_until) = self.request().await?;
            *cached = Some((token.clone(), reuse_until));
            Ok(token)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Box::new(Status::failure(message, reason).with_code(code)))
    }

    #[test]
    fn a_missing_service_account_is_named_without_kube_debug_text() {
        let text = token_request_error(
            "msp-contoso",
            "pbconnector-contoso",
            &api(
                404,
                "NotFound",
                "serviceaccounts \"pbconnector-contoso\" not found",
            ),
        );
        assert_eq!(
            text,
            "ServiceAccount `pbconnector-contoso` does not exist in namespace `msp-contoso`: \
             create it there (spec.azure.workloadIdentity.serviceAccountName names a \
             ServiceAccount of the connector's own namespace)"
        );
        for debug in ["ApiError", "ErrorResponse", "Status {", "code:"] {
            assert!(!text.contains(debug), "{debug} in {text}");
        }
        let other = token_request_error("ns", "sa", &api(500, "InternalError", "etcd timeout"));
        assert!(other.contains("etcd timeout (HTTP 500)"), "{other}");
        assert!(
            !other.contains("ApiError") && !other.contains("Status {"),
            "{other}"
        );
    }
}
