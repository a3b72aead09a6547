//! The annotation `passwordboss.com/verify-requested-at`: run the `pbconnector verify` checks
//! with the connector's Secrets and put them into `status.verify`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;

use super::engine::SyncEngine;
use super::policy::CredentialPolicy;
use super::secrets::read_secrets;
use crate::resources::{AzureAdConnectorSpec, AzureAdConnectorStatus, VerifyCheck, VerifyStatus};
use crate::sync::ConnectorKey;
use crate::sync::read_credentials_with;

/// How often a connector may be verified, unless a test shortens it: once a minute.
pub const VERIFY_INTERVAL: Duration = Duration::from_secs(60);

/// `previous` with `status.verify` answering `requested_at`, the checks run through `engine`
/// (for the real one: the clients the connector's syncs keep, with the tenant's pacer and the
/// token cache), and the next verify allowed `interval` later. The checks send the connector's
/// credentials, so they pass the same `policy` as a sync first (allowed endpoints, the
/// connector's own workload identity) — and, for a connector naming a shared app, the app's
/// binding of its tenant to its namespace, before anything of the app is used; a refusal, or a
/// Secret that cannot be read, is a failed check saying which, like any other.
#[allow(clippy::too_many_arguments)]
pub async fn verified_status<E: SyncEngine>(
    engine: &E,
    client: &Client,
    policy: &CredentialPolicy,
    operator_namespace: &str,
    key: &ConnectorKey,
    spec: &AzureAdConnectorSpec,
    previous: Option<&AzureAdConnectorStatus>,
    requested_at: String,
    interval: Duration,
) -> AzureAdConnectorStatus {
    let namespace = key.namespace.as_str();
    let credentials = async {
        // A shared app: its binding first, then its client id, endpoints and credential.
        let (spec, shared) =
            match super::application::resolve(client, operator_namespace, namespace, spec).await {
                Ok(Some(resolved)) => (resolved.spec, Some(resolved.credential)),
                Ok(None) => (spec.clone(), None),
                Err(refusal) => return Err(refusal.to_string()),
            };
        let federated = policy
            .admit(client, namespace, &spec)
            .map_err(|refusal| refusal.to_string())?;
        let read = read_secrets(client, namespace, &spec)
            .await
            .map_err(|e| e.to_string())?;
        let credentials = read_credentials_with(
            &spec,
            namespace,
            |n| read.data.get(n).cloned(),
            federated,
            shared,
        )
        .map_err(|e| e.to_string())?;
        Ok((spec, credentials))
    }
    .await;
    let started = Timestamp::now();
    let checks = match credentials {
        Ok((spec, credentials)) => engine.verify(key, &spec, credentials).await.checks,
        Err(why) => vec![VerifyCheck {
            name: "Credentials: allowed endpoints and the Secrets the connector references".into(),
            ok: false,
            message: why,
        }],
    };
    let failed = checks.iter().filter(|c| !c.ok).count();
    tracing::info!(checks = checks.len(), failed, "verify requested and run");
    let next = SignedDuration::try_from(interval)
        .ok()
        .and_then(|d| started.checked_add(d).ok());
    let mut status = previous.cloned().unwrap_or_default();
    status.verify = Some(VerifyStatus {
        requested_at,
        time: Some(Time(Timestamp::now())),
        next_allowed_time: next.map(Time),
        checks,
    });
    status
}
