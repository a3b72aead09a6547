//! The annotation `passwordboss.com/verify-requested-at`: run the `pbconnector verify` checks
//! with the connector's Secrets and put them into `status.verify`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Client;

use super::policy::CredentialPolicy;
use super::secrets::read_secrets;
use crate::resources::{AzureAdConnectorSpec, AzureAdConnectorStatus, VerifyCheck, VerifyStatus};
use crate::sync::read_credentials_with;
use crate::sync::verify::verify;

/// `previous` with `status.verify` answering `requested_at`. The checks send the connector's
/// credentials, so they pass the same `policy` as a sync first (allowed endpoints, the
/// connector's own workload identity); a refusal, or a Secret that cannot be read, is a failed
/// check saying which, like any other.
pub async fn verified_status(
    client: &Client,
    policy: &CredentialPolicy,
    namespace: &str,
    spec: &AzureAdConnectorSpec,
    previous: Option<&AzureAdConnectorStatus>,
    requested_at: String,
) -> AzureAdConnectorStatus {
    let credentials = match policy.admit(client, namespace, spec) {
        Err(refusal) => Err(refusal.to_string()),
        Ok(federated) => match read_secrets(client, namespace, spec).await {
            Ok(read) => {
                read_credentials_with(spec, namespace, |n| read.data.get(n).cloned(), federated)
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        },
    };
    let checks = match credentials {
        Ok(credentials) => verify(spec, credentials).await.checks,
        Err(why) => vec![VerifyCheck {
            name: "Credentials: allowed endpoints and the Secrets the connector references".into(),
            ok: false,
            message: why,
        }],
    };
    let failed = checks.iter().filter(|c| !c.ok).count();
    tracing::info!(checks = checks.len(), failed, "verify requested and run");
    let mut status = previous.cloned().unwrap_or_default();
    status.verify = Some(VerifyStatus {
        requested_at,
        time: Some(Time(Timestamp::now())),
        checks,
    });
    status
}
