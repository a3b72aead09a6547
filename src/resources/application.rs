//! `AzureAdApplication` (cluster-scoped, short name `aadapp`): one multi-tenant app registration
//! that the operator's administrator shares between connectors, and which customer tenant each
//! namespace may use it for. Connectors name it in `spec.azure.applicationRef`; the binding is
//! checked (`binding`) before any token of the app is asked for or used.
// `#[kube(printcolumn(...))]` repeats `type_ = ...` once per column, which clippy mistakes for a
// duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schema_rules::{
    application_tenants_schema, conditions_schema, guid_schema, optional_date_schema,
    optional_endpoint_schema,
};
use super::spec::Cloud;

/// A multi-tenant Entra app registration shared by connectors, and the customer tenants each
/// namespace may use it for.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "passwordboss.com",
    version = "v1alpha1",
    kind = "AzureAdApplication",
    plural = "azureadapplications",
    singular = "azureadapplication",
    shortname = "aadapp",
    category = "passwordboss",
    status = "AzureAdApplicationStatus",
    doc = "A multi-tenant Entra app shared by connectors, with the tenants each namespace may use it for.",
    printcolumn(name = "Client ID", type_ = "string", json_path = ".spec.clientId"),
    printcolumn(name = "Cloud", type_ = "string", json_path = ".spec.cloud"),
    printcolumn(
        name = "Tenants",
        type_ = "integer",
        json_path = ".status.boundTenants"
    ),
    printcolumn(
        name = "Consented",
        type_ = "integer",
        json_path = ".status.consentedTenants"
    ),
    printcolumn(
        name = "Credential Expires",
        type_ = "date",
        json_path = ".status.credentialExpiresAt"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "(has(self.clientSecretRef) ? 1 : 0) + (has(self.clientCertificateRef) ? 1 : 0) + ((has(self.operatorIdentity) && self.operatorIdentity) ? 1 : 0) == 1"
).message("exactly one credential must be set: clientSecretRef, clientCertificateRef or operatorIdentity: true"))]
#[x_kube(validation = Rule::new(
    "!has(self.clientSecretExpiresAt) || has(self.clientSecretRef)"
).message("clientSecretExpiresAt is the expiry of clientSecretRef's secret; set it only with clientSecretRef"))]
pub struct AzureAdApplicationSpec {
    /// Application (client) ID of the multi-tenant app registration (in the MSP's own tenant).
    #[schemars(schema_with = "guid_schema")]
    pub client_id: String,
    /// National cloud; selects the authority and Graph hosts.
    #[serde(default)]
    pub cloud: Cloud,
    /// Overrides the cloud's authority host (https, or http on a loopback address); the
    /// operator still sends the credential only to hosts its administrator allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_endpoint_schema")]
    pub authority_host: Option<String>,
    /// Overrides the cloud's Microsoft Graph endpoint (https, or http on a loopback address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_endpoint_schema")]
    pub graph_endpoint: Option<String>,
    /// The app's client secret: a key of a Secret in the operator's own namespace (any other
    /// namespace is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_ref: Option<NamespacedSecretKeyRef>,
    /// When the client secret expires, as the Entra portal shows it: an RFC 3339 date or
    /// date-time. From 30 days before, the app warns (condition CredentialExpiring and a
    /// Warning Event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_date_schema")]
    pub client_secret_expires_at: Option<String>,
    /// PEM holding the app's certificate and its private key, in a Secret of the operator's own
    /// namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_ref: Option<NamespacedSecretKeyRef>,
    /// Present the operator's own projected service-account token ($AZURE_FEDERATED_TOKEN_FILE)
    /// as the app's federated credential (Azure Workload Identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_identity: Option<bool>,
    /// Which customer tenant each namespace may use this app for. A connector using the app
    /// must be in a namespace listed for its tenantId here; anything else is refused before any
    /// token is asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "application_tenants_schema")]
    pub tenants: Vec<TenantBinding>,
}

/// One customer tenant and the namespaces whose connectors may use the app for it.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TenantBinding {
    /// The customer's directory (tenant) ID, a GUID.
    #[schemars(schema_with = "guid_schema")]
    pub tenant_id: String,
    /// Namespaces whose connectors may use the app for this tenant.
    #[schemars(
        length(min = 1, max = 100),
        inner(
            length(min = 1, max = 63),
            regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
        )
    )]
    pub namespaces: Vec<String>,
}

/// A key of a Secret in a named namespace (which must be the operator's own).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedSecretKeyRef {
    /// The Secret's namespace: the operator's own.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub namespace: String,
    /// Secret name.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub name: String,
    /// Key within the Secret.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
}

/// What the operator knows of the app: per bound tenant, whether its admin consented.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AzureAdApplicationStatus {
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready (the credential is readable and usable) and CredentialExpiring.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// How many tenants `spec.tenants` binds.
    #[serde(default)]
    pub bound_tenants: u32,
    /// How many of them have consented (consent: Granted).
    #[serde(default)]
    pub consented_tenants: u32,
    /// When the app's credential expires (certificate notAfter, or clientSecretExpiresAt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_expires_at: Option<Time>,
    /// Each bound tenant's consent state and where its admin grants it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<TenantStatus>,
}

/// One bound tenant as the operator last saw it.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    pub tenant_id: String,
    /// Granted | Missing | Unknown.
    pub consent: Consent,
    /// Where an administrator of the tenant consents to the app.
    pub admin_consent_url: String,
    /// What the last token request for this tenant answered, when it was not a token.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When the consent was last learned (a connector's token request or the operator's probe).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checked: Option<Time>,
}

/// Whether a tenant's administrator consented to the app.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Consent {
    /// A token was issued in the tenant.
    Granted,
    /// The tenant's token endpoint does not know the app (AADSTS700016): its admin has not
    /// consented, or removed it.
    Missing,
    /// Not learned yet, or the last attempt failed for another reason.
    #[default]
    Unknown,
}

impl std::fmt::Display for Consent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Granted => "Granted",
            Self::Missing => "Missing",
            Self::Unknown => "Unknown",
        })
    }
}

/// Why a connector may not use a shared app for its tenant. Messages name the app and the
/// binding that is missing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotBound {
    #[error(
        "AzureAdApplication {app} binds no tenant {tenant}: its operator's administrator adds \
         {{tenantId: {tenant}, namespaces: [{namespace}]}} to its spec.tenants"
    )]
    Tenant {
        app: String,
        tenant: String,
        namespace: String,
    },
    #[error(
        "AzureAdApplication {app} binds tenant {tenant} to namespaces {bound:?}, not to \
         {namespace}: its operator's administrator adds {namespace} to that tenant's namespaces"
    )]
    Namespace {
        app: String,
        tenant: String,
        namespace: String,
        bound: Vec<String>,
    },
}

/// Whether a connector in `namespace` may use `app` for `tenant`: only when the app's
/// `spec.tenants` lists that namespace for that tenant (tenant ids compared as GUIDs, without
/// regard to case).
pub fn binding(app: &AzureAdApplication, namespace: &str, tenant: &str) -> Result<(), NotBound> {
    let name = kube::ResourceExt::name_any(app);
    let bound: Vec<&TenantBinding> = app
        .spec
        .tenants
        .iter()
        .filter(|b| b.tenant_id.eq_ignore_ascii_case(tenant))
        .collect();
    if bound.is_empty() {
        return Err(NotBound::Tenant {
            app: name,
            tenant: tenant.to_owned(),
            namespace: namespace.to_owned(),
        });
    }
    if bound
        .iter()
        .any(|b| b.namespaces.iter().any(|n| n == namespace))
    {
        return Ok(());
    }
    Err(NotBound::Namespace {
        app: name,
        tenant: tenant.to_owned(),
        namespace: namespace.to_owned(),
        bound: bound
            .iter()
            .flat_map(|b| b.namespaces.iter().cloned())
            .collect(),
    })
}

/// `https://{authority}/{tenant}/adminconsent?client_id={app}`: where an administrator of
/// `tenant` consents to the app, on the authority host of `cloud` (or `authority_host`).
pub fn admin_consent_url(
    cloud: Cloud,
    authority_host: Option<&str>,
    tenant: &str,
    client_id: &str,
) -> String {
    let host = authority_host.unwrap_or(crate::azure::cloud_hosts(cloud).0);
    format!(
        "{}/{tenant}/adminconsent?client_id={client_id}",
        host.trim_end_matches('/')
    )
}

impl AzureAdApplicationSpec {
    /// The admin-consent URL of `tenant` for this app.
    pub fn admin_consent_url(&self, tenant: &str) -> String {
        admin_consent_url(
            self.cloud,
            self.authority_host.as_deref(),
            tenant,
            &self.client_id,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(tenants: Vec<TenantBinding>) -> AzureAdApplication {
        let mut app = AzureAdApplication::new(
            "msp-app",
            AzureAdApplicationSpec {
                client_id: "11111111-1111-1111-1111-111111111111".into(),
                cloud: Cloud::Public,
                authority_host: None,
                graph_endpoint: None,
                client_secret_ref: None,
                client_secret_expires_at: None,
                client_certificate_ref: None,
                operator_identity: Some(true),
                tenants,
            },
        );
        app.metadata.name = Some("msp-app".into());
        app
    }

    fn bind(tenant: &str, namespaces: &[&str]) -> TenantBinding {
        TenantBinding {
            tenant_id: tenant.into(),
            namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
        }
    }

    const CONTOSO: &str = "7c0c36f5-0000-4000-8000-000000000001";
    const FABRIKAM: &str = "7c0c36f5-0000-4000-8000-000000000002";

    #[test]
    fn a_bound_tenant_in_its_namespace_may_use_the_app() {
        let app = app(vec![bind(CONTOSO, &["msp-contoso"])]);
        assert_eq!(binding(&app, "msp-contoso", CONTOSO), Ok(()));
        // Tenant ids are GUIDs: compared without regard to case.
        assert_eq!(
            binding(&app, "msp-contoso", &CONTOSO.to_uppercase()),
            Ok(())
        );
    }

    #[test]
    fn another_tenant_is_refused_naming_the_missing_binding() {
        let app = app(vec![bind(CONTOSO, &["msp-contoso"])]);
        let refused = binding(&app, "msp-contoso", FABRIKAM).unwrap_err();
        assert!(matches!(refused, NotBound::Tenant { .. }));
        let message = refused.to_string();
        assert!(message.contains("msp-app"), "{message}");
        assert!(message.contains(FABRIKAM), "{message}");
        assert!(message.contains("namespaces: [msp-contoso]"), "{message}");
    }

    #[test]
    fn the_tenant_of_another_namespace_is_refused() {
        let app = app(vec![
            bind(CONTOSO, &["msp-contoso"]),
            bind(FABRIKAM, &["msp-fabrikam"]),
        ]);
        // The confused deputy: a tenant of the cluster names another customer's tenant id.
        let refused = binding(&app, "msp-fabrikam", CONTOSO).unwrap_err();
        assert_eq!(
            refused,
            NotBound::Namespace {
                app: "msp-app".into(),
                tenant: CONTOSO.into(),
                namespace: "msp-fabrikam".into(),
                bound: vec!["msp-contoso".into()],
            }
        );
        assert!(refused.to_string().contains("not to msp-fabrikam"));
        assert_eq!(binding(&app, "msp-fabrikam", FABRIKAM), Ok(()));
    }

    #[test]
    fn an_app_without_bindings_refuses_everyone() {
        let app = app(Vec::new());
        assert!(binding(&app, "default", CONTOSO).is_err());
    }

    #[test]
    fn a_namespace_must_match_exactly() {
        let app = app(vec![bind(CONTOSO, &["msp-contoso"])]);
        for namespace in ["msp-contoso2", "msp", "MSP-CONTOSO", ""] {
            assert!(binding(&app, namespace, CONTOSO).is_err(), "{namespace}");
        }
    }

    #[test]
    fn the_admin_consent_url_is_on_the_clouds_authority() {
        let app = app(Vec::new());
        assert_eq!(
            app.spec.admin_consent_url(CONTOSO),
            format!(
                "https://login.microsoftonline.com/{CONTOSO}/adminconsent?client_id=11111111-1111-1111-1111-111111111111"
            )
        );
        assert_eq!(
            admin_consent_url(Cloud::USGovernment, None, CONTOSO, "a"),
            format!("https://login.microsoftonline.us/{CONTOSO}/adminconsent?client_id=a")
        );
        assert_eq!(
            admin_consent_url(Cloud::Public, Some("http://127.0.0.1:9/"), CONTOSO, "a"),
            format!("http://127.0.0.1:9/{CONTOSO}/adminconsent?client_id=a")
        );
    }
}
