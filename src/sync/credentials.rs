//! A connector's credentials, read from the Secrets of its namespace.

use super::secrets::{SecretData, SecretError, secret_text};
use crate::azure::{
    Credential, FEDERATED_TOKEN_AUDIENCE, FEDERATED_TOKEN_FILE_ENV, FederatedToken,
};
use crate::resources::AzureAdConnectorSpec;

/// The credential of a shared `AzureAdApplication`, as the controller read it (from a Secret of
/// the operator's own namespace, or the operator's projected token) after the app's binding
/// admitted the connector. `Debug` never shows the value.
#[derive(Clone, PartialEq)]
pub enum AppCredential {
    ClientSecret(String),
    /// PEM holding the certificate and its private key.
    Certificate(String),
    /// The operator's own federated token.
    OperatorIdentity(FederatedToken),
}

impl std::fmt::Debug for AppCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ClientSecret(_) => "ClientSecret(<redacted>)",
            Self::Certificate(_) => "Certificate(<redacted>)",
            Self::OperatorIdentity(_) => "OperatorIdentity",
        })
    }
}

impl From<AppCredential> for Credential {
    fn from(credential: AppCredential) -> Self {
        match credential {
            AppCredential::ClientSecret(secret) => Credential::ClientSecret(secret),
            AppCredential::Certificate(pem) => Credential::Certificate { pem },
            AppCredential::OperatorIdentity(token) => Credential::WorkloadIdentity(token),
        }
    }
}

/// The credentials of one connector, read from its Secrets.
pub struct Credentials {
    pub azure: Credential,
    /// The target's token: Password Boss's Authentication token, or the SCIM bearer token.
    pub target_token: String,
}

/// Reads the connector's credentials from the Secrets of its namespace, for the CLI, whose user
/// owns the manifest: a workload-identity connector presents the token in the file named by
/// `$AZURE_FEDERATED_TOKEN_FILE`, whatever ServiceAccount the spec names.
pub fn read_credentials(
    spec: &AzureAdConnectorSpec,
    namespace: &str,
    secret: impl Fn(&str) -> Option<SecretData>,
) -> Result<Credentials, SecretError> {
    credentials_from(spec, namespace, secret, None, || {
        FederatedToken::from_env().ok_or_else(|| {
            SecretError::NoFederatedToken(format!(
                "outside the cluster the token comes from the file named by \
                 {FEDERATED_TOKEN_FILE_ENV}; set it to a file holding a token of the federated \
                 identity (e.g. `kubectl create token NAME --audience {FEDERATED_TOKEN_AUDIENCE}`)"
            ))
        })
    })
}

/// Reads the connector's credentials as the controller does: the federated token source is the
/// one the controller resolved for this connector (its own ServiceAccount), never the process's
/// environment; a connector naming a shared app (`applicationRef`) uses `shared`, the app's
/// credential the controller read once the app's binding admitted the connector.
pub fn read_credentials_with(
    spec: &AzureAdConnectorSpec,
    namespace: &str,
    secret: impl Fn(&str) -> Option<SecretData>,
    federated: Option<FederatedToken>,
    shared: Option<AppCredential>,
) -> Result<Credentials, SecretError> {
    credentials_from(spec, namespace, secret, shared, || {
        federated.ok_or_else(|| {
            SecretError::NoFederatedToken("no federated token source was resolved".into())
        })
    })
}

fn credentials_from(
    spec: &AzureAdConnectorSpec,
    namespace: &str,
    secret: impl Fn(&str) -> Option<SecretData>,
    shared: Option<AppCredential>,
    federated: impl FnOnce() -> Result<FederatedToken, SecretError>,
) -> Result<Credentials, SecretError> {
    let text =
        |r: &crate::resources::SecretKeyRef| secret_text(namespace, r, secret(&r.name).as_ref());
    let azure = if let Some(app) = &spec.azure.application_ref {
        shared
            .ok_or_else(|| SecretError::SharedApplication(app.name.clone()))?
            .into()
    } else if let Some(r) = &spec.azure.client_secret_ref {
        Credential::ClientSecret(text(r)?)
    } else if let Some(r) = &spec.azure.client_certificate_ref {
        Credential::Certificate { pem: text(r)? }
    } else {
        Credential::WorkloadIdentity(federated()?)
    };
    let target = spec.target()?;
    let target_token = text(target.token_secret_ref())?;
    Ok(Credentials {
        azure,
        target_token,
    })
}
