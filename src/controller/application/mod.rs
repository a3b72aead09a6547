//! Shared apps (`AzureAdApplication`): a connector naming one in `spec.azure.applicationRef` is
//! admitted only when the app binds its tenant to its namespace (`resolve`, before any token is
//! asked for or used), and then syncs with the app's client id, endpoints and credential — the
//! credential read from a Secret of the operator's own namespace, or the operator's projected
//! token. The app's own status (each bound tenant's consent and admin-consent URL, the
//! credential's expiry) is kept by `status`.

pub mod consent;
pub mod status;

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::Api;

use crate::azure::{FEDERATED_TOKEN_FILE_ENV, FederatedToken};
use crate::resources::{
    AzureAdApplication, AzureAdConnectorSpec, NamespacedSecretKeyRef, NotBound, SecretKeyRef,
    binding,
};
use crate::sync::AppCredential;
use crate::sync::secrets::{SecretError, secret_data, secret_text};
use crate::sync::status::failure::FailureReason;

/// Why a connector may not use the shared app it names, or the app cannot be used at all. Each
/// message names the app and what to fix; none shows a credential.
#[derive(Debug, thiserror::Error)]
pub enum AppRefusal {
    #[error(
        "spec.azure.applicationRef names AzureAdApplication {0}, which does not exist; the \
         operator's administrator creates it (kubectl get aadapp lists the shared apps)"
    )]
    NotFound(String),
    #[error(transparent)]
    NotBound(#[from] NotBound),
    #[error(
        "cannot read AzureAdApplication {name}: {source}; check the operator's RBAC for \
         azureadapplications (get)"
    )]
    Read {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "AzureAdApplication {app}: its credential Secret is in namespace {namespace}, but the \
         operator reads a shared app's credential only from its own namespace {operator}; move \
         the Secret there and set {field}.namespace: {operator}"
    )]
    SecretNamespace {
        app: String,
        field: &'static str,
        namespace: String,
        operator: String,
    },
    #[error(
        "AzureAdApplication {app}: cannot read Secret {namespace}/{name}: {source}; check the \
         operator's RBAC for Secrets in its own namespace (get)"
    )]
    SecretUnreadable {
        app: String,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("AzureAdApplication {app}: {source}")]
    Secret {
        app: String,
        #[source]
        source: SecretError,
    },
    #[error(
        "AzureAdApplication {0} uses operatorIdentity, but the operator has no \
         {FEDERATED_TOKEN_FILE_ENV}; enable Azure Workload Identity for it (Helm value \
         workloadIdentity.enabled)"
    )]
    NoOperatorToken(String),
    #[error(
        "AzureAdApplication {0} names no credential; set exactly one of clientSecretRef, \
         clientCertificateRef or operatorIdentity: true"
    )]
    NoCredential(String),
}

impl AppRefusal {
    /// The condition and Event reason of a connector refused for this.
    pub fn reason(&self) -> FailureReason {
        match self {
            Self::NotFound(_) | Self::NotBound(_) => FailureReason::TenantNotBound,
            Self::SecretUnreadable { .. } => FailureReason::SecretUnreadable,
            Self::Secret { .. } => FailureReason::SecretError,
            Self::NoOperatorToken(_) => FailureReason::OperatorIdentityNotAllowed,
            Self::Read { .. } | Self::SecretNamespace { .. } | Self::NoCredential(_) => {
                FailureReason::InvalidConfiguration
            }
        }
    }
}

/// A connector admitted by its shared app: its spec with the app's client id, cloud and
/// endpoints in `azure`, and the app's credential.
pub struct Resolved {
    pub spec: AzureAdConnectorSpec,
    pub credential: AppCredential,
    /// The app's name.
    pub app: String,
}

/// For a connector in `namespace` naming a shared app: the app, its binding checked (nothing
/// about the app's credential is read unless the binding admits the connector), then the
/// credential read; `None` for a connector with credentials of its own.
pub async fn resolve(
    client: &Client,
    operator_namespace: &str,
    namespace: &str,
    spec: &AzureAdConnectorSpec,
) -> Result<Option<Resolved>, AppRefusal> {
    let Some(reference) = &spec.azure.application_ref else {
        return Ok(None);
    };
    let app = get_app(client, &reference.name).await?;
    binding(&app, namespace, &spec.azure.tenant_id)?;
    let credential = read_app_credential(client, operator_namespace, &app).await?;
    Ok(Some(Resolved {
        spec: effective_spec(spec, &app),
        credential,
        app: reference.name.clone(),
    }))
}

/// The app named `name`.
pub async fn get_app(client: &Client, name: &str) -> Result<AzureAdApplication, AppRefusal> {
    let api: Api<AzureAdApplication> = Api::all(client.clone());
    api.get_opt(name)
        .await
        .map_err(|source| AppRefusal::Read {
            name: name.to_owned(),
            source,
        })?
        .ok_or_else(|| AppRefusal::NotFound(name.to_owned()))
}

/// `spec` with the app's client id, cloud and endpoints: what the sync pipeline runs (the
/// tenant stays the connector's, and the app reference stays, so the token's tenant is checked).
pub fn effective_spec(
    spec: &AzureAdConnectorSpec,
    app: &AzureAdApplication,
) -> AzureAdConnectorSpec {
    let mut spec = spec.clone();
    spec.azure.client_id = app.spec.client_id.clone();
    spec.azure.cloud = app.spec.cloud;
    spec.azure.authority_host = app.spec.authority_host.clone();
    spec.azure.graph_endpoint = app.spec.graph_endpoint.clone();
    spec.azure.client_secret_ref = None;
    spec.azure.client_secret_expires_at = None;
    spec.azure.client_certificate_ref = None;
    spec.azure.workload_identity = None;
    spec
}

/// The app's credential: a Secret key of the operator's own namespace (any other namespace is
/// refused), or the operator's projected token.
pub async fn read_app_credential(
    client: &Client,
    operator_namespace: &str,
    app: &AzureAdApplication,
) -> Result<AppCredential, AppRefusal> {
    let name = kube::ResourceExt::name_any(app);
    if let Some(reference) = &app.spec.client_secret_ref {
        let text = read_key(
            client,
            operator_namespace,
            &name,
            "spec.clientSecretRef",
            reference,
        )
        .await?;
        return Ok(AppCredential::ClientSecret(text));
    }
    if let Some(reference) = &app.spec.client_certificate_ref {
        let text = read_key(
            client,
            operator_namespace,
            &name,
            "spec.clientCertificateRef",
            reference,
        )
        .await?;
        return Ok(AppCredential::Certificate(text));
    }
    if app.spec.operator_identity == Some(true) {
        return FederatedToken::from_env()
            .map(AppCredential::OperatorIdentity)
            .ok_or(AppRefusal::NoOperatorToken(name));
    }
    Err(AppRefusal::NoCredential(name))
}

async fn read_key(
    client: &Client,
    operator_namespace: &str,
    app: &str,
    field: &'static str,
    reference: &NamespacedSecretKeyRef,
) -> Result<String, AppRefusal> {
    if reference.namespace != operator_namespace {
        return Err(AppRefusal::SecretNamespace {
            app: app.to_owned(),
            field,
            namespace: reference.namespace.clone(),
            operator: operator_namespace.to_owned(),
        });
    }
    let api: Api<Secret> = Api::namespaced(client.clone(), operator_namespace);
    let secret =
        api.get_opt(&reference.name)
            .await
            .map_err(|source| AppRefusal::SecretUnreadable {
                app: app.to_owned(),
                namespace: operator_namespace.to_owned(),
                name: reference.name.clone(),
                source,
            })?;
    let data = secret.map(secret_data);
    let key = SecretKeyRef {
        name: reference.name.clone(),
        key: reference.key.clone(),
    };
    secret_text(operator_namespace, &key, data.as_ref()).map_err(|source| AppRefusal::Secret {
        app: app.to_owned(),
        source,
    })
}
