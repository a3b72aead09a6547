//! Where and how to authenticate: tenant, app, cloud hosts and the credential.

use std::fmt;
use std::time::Duration;

use url::Url;

use super::error::GraphError;
use super::federated::FederatedToken;
use crate::resources::{AzureSpec, Cloud};

/// Timeout of one HTTP exchange with Entra or Graph (the per-sync deadline bounds the whole read).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The app registration's credential, as read from the connector's Secret or the pod.
#[derive(Clone)]
pub enum Credential {
    ClientSecret(String),
    /// PEM holding the certificate and its RSA private key.
    Certificate {
        pem: String,
    },
    /// A federated token, asked for whenever a new access token is requested.
    WorkloadIdentity(FederatedToken),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::ClientSecret(_) => f.write_str("ClientSecret(<redacted>)"),
            Credential::Certificate { .. } => f.write_str("Certificate(<redacted>)"),
            Credential::WorkloadIdentity(source) => {
                f.debug_tuple("WorkloadIdentity").field(source).finish()
            }
        }
    }
}

/// Everything needed to get tokens and call Graph for one connector.
#[derive(Clone, Debug)]
pub struct AzureConfig {
    pub tenant_id: String,
    pub client_id: String,
    /// e.g. `https://login.microsoftonline.com`
    pub authority_host: Url,
    /// e.g. `https://graph.microsoft.com`
    pub graph_endpoint: Url,
    pub credential: Credential,
    /// The tenant every access token must be issued in (its `tid` claim), checked before the
    /// token is used: set for a connector using a shared app (`applicationRef`), whose tenant
    /// is a GUID. `None`: not checked (a connector's own app registration).
    pub expected_tid: Option<String>,
}

/// The authority and Graph hosts of a national cloud.
pub fn cloud_hosts(cloud: Cloud) -> (&'static str, &'static str) {
    match cloud {
        Cloud::Public => (
            "https://login.microsoftonline.com",
            "https://graph.microsoft.com",
        ),
        Cloud::USGovernment => (
            "https://login.microsoftonline.us",
            "https://graph.microsoft.us",
        ),
        Cloud::China => (
            "https://login.chinacloudapi.cn",
            "https://microsoftgraph.chinacloudapi.cn",
        ),
    }
}

/// The page where an administrator of the tenant grants the app's permissions (admin consent),
/// on the authority host of the connector's cloud (or its `authorityHost`).
pub fn admin_consent_url(spec: &AzureSpec) -> String {
    crate::resources::admin_consent_url(
        spec.cloud,
        spec.authority_host.as_deref(),
        &spec.tenant_id,
        &spec.client_id,
    )
}

impl AzureConfig {
    pub fn from_spec(spec: &AzureSpec, credential: Credential) -> Result<Self, GraphError> {
        let (authority, graph) = cloud_hosts(spec.cloud);
        let authority_host = endpoint(
            "authorityHost",
            spec.authority_host.as_deref().unwrap_or(authority),
        )?;
        let graph_endpoint = endpoint(
            "graphEndpoint",
            spec.graph_endpoint.as_deref().unwrap_or(graph),
        )?;
        let tenant_ok = !spec.tenant_id.is_empty()
            && spec
                .tenant_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !tenant_ok {
            return Err(GraphError::config(format!(
                "tenantId {:?} must be a GUID or a domain such as contoso.onmicrosoft.com",
                spec.tenant_id
            )));
        }
        if spec.client_id.trim().is_empty() {
            return Err(GraphError::config("clientId must be set"));
        }
        Ok(Self {
            tenant_id: spec.tenant_id.clone(),
            client_id: spec.client_id.clone(),
            authority_host,
            graph_endpoint,
            credential,
            expected_tid: spec
                .application_ref
                .is_some()
                .then(|| spec.tenant_id.clone()),
        })
    }

    /// `{authorityHost}/{tenant}/oauth2/v2.0/token`
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority_host.as_str().trim_end_matches('/'),
            self.tenant_id
        )
    }

    /// `{graphEndpoint}/.default`
    pub fn scope(&self) -> String {
        format!(
            "{}/.default",
            self.graph_endpoint.as_str().trim_end_matches('/')
        )
    }

    /// `{graphEndpoint}/v1.0`
    pub fn graph_root(&self) -> String {
        format!(
            "{}/v1.0",
            self.graph_endpoint.as_str().trim_end_matches('/')
        )
    }
}

/// Parses an endpoint: https anywhere, plain http only on a loopback host (the simulators).
pub(crate) fn endpoint(field: &str, value: &str) -> Result<Url, GraphError> {
    let url = Url::parse(value)
        .map_err(|e| GraphError::config(format!("{field} {value:?} is not a URL: {e}")))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if crate::http_client::is_loopback(&url) => Ok(url),
        "http" => Err(GraphError::config(format!(
            "{field} {value:?} uses plain http, which is only allowed for loopback addresses; use https"
        ))),
        other => Err(GraphError::config(format!(
            "{field} {value:?} has scheme {other}; use https"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::GraphErrorKind;

    fn spec(cloud: Cloud) -> AzureSpec {
        serde_json::from_value(serde_json::json!({
            "tenantId": "contoso.onmicrosoft.com",
            "clientId": "00000000-0000-0000-0000-000000000001",
            "cloud": cloud,
            "clientSecretRef": {"name": "s", "key": "k"},
        }))
        .unwrap()
    }

    #[test]
    fn clouds_map_to_hosts_and_overrides_win() {
        let cred = || Credential::ClientSecret("x".into());
        let gov = AzureConfig::from_spec(&spec(Cloud::USGovernment), cred()).unwrap();
        assert_eq!(
            gov.token_url(),
            "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(gov.scope(), "https://graph.microsoft.us/.default");
        let cn = AzureConfig::from_spec(&spec(Cloud::China), cred()).unwrap();
        assert_eq!(
            cn.graph_root(),
            "https://microsoftgraph.chinacloudapi.cn/v1.0"
        );
        let mut s = spec(Cloud::Public);
        s.graph_endpoint = Some("http://127.0.0.1:8080".into());
        s.authority_host = Some("http://localhost:9000/".into());
        let local = AzureConfig::from_spec(&s, cred()).unwrap();
        assert_eq!(local.scope(), "http://127.0.0.1:8080/.default");
        assert_eq!(
            local.token_url(),
            "http://localhost:9000/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let mut s = spec(Cloud::Public);
        s.graph_endpoint = Some("http://graph.example.com".into());
        let err = AzureConfig::from_spec(&s, Credential::ClientSecret("x".into())).unwrap_err();
        assert_eq!(err.kind(), GraphErrorKind::Config);
        assert!(err.to_string().contains("loopback"));
    }

    #[test]
    fn credential_debug_hides_secrets() {
        let shown = format!("{:?}", Credential::ClientSecret("hunter2".into()));
        assert!(!shown.contains("hunter2"));
    }
}
