//! The `AzureAdConnector` API (passwordboss.com/v1alpha1): types, defaults, schema rules, CRD.
//! No I/O here.

mod application;
mod convert;
mod schema_rules;
mod spec;
mod status;
pub mod validate;

pub use application::*;
pub use schema_rules::{
    DATE_PATTERN, DEFAULT_PASSWORDBOSS_API_URL, DURATION_PATTERN, EMAIL_DOMAIN_PATTERN,
    ENDPOINT_PATTERN, GUID_PATTERN, TENANT_PATTERN,
};
pub use spec::*;
pub use status::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Annotation: any new value requests an immediate sync; echoed into `lastHandledSyncRequest`.
pub const ANNOTATION_SYNC_REQUESTED_AT: &str = "passwordboss.com/sync-requested-at";
/// Flux's reconcile request annotation, honoured the same way.
pub const ANNOTATION_FLUX_REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";
/// Annotation: any new value runs the `pbconnector verify` checks into `status.verify`.
pub const ANNOTATION_VERIFY_REQUESTED_AT: &str = "passwordboss.com/verify-requested-at";
/// Annotation: any new value makes the operator write the plan a sync would make into
/// `status.plan` once (as `dryRun` does), changing nothing; echoed into
/// `status.planRequest.requestedAt`.
pub const ANNOTATION_PLAN_REQUESTED_AT: &str = "passwordboss.com/plan-requested-at";
/// Annotation: approves exactly this many blocked deprovisions.
pub const ANNOTATION_APPROVE_DEPROVISIONS: &str = "passwordboss.com/approve-deprovisions";

/// The CRD, as `pbconnector crd` prints it and `crds/` holds it.
pub fn crd() -> CustomResourceDefinition {
    AzureAdConnector::crd()
}

/// The CRD as YAML, exactly the content of `crds/passwordboss.com_azureadconnectors.yaml`.
pub fn crd_yaml() -> String {
    serde_saphyr::to_string(&crd()).expect("the CRD serializes to YAML")
}

/// The `AzureAdApplication` CRD as YAML (`pbconnector crd --kind AzureAdApplication`), exactly
/// the content of `crds/passwordboss.com_azureadapplications.yaml`.
pub fn application_crd_yaml() -> String {
    serde_saphyr::to_string(&AzureAdApplication::crd()).expect("the CRD serializes to YAML")
}

/// Parses a Kubernetes (Go-style) duration such as `1m`, `90s` or `1h30m`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d: kube::core::Duration = s
        .parse()
        .map_err(|e| format!("invalid duration {s:?}: {e}"))?;
    if d.is_negative() {
        return Err(format!("invalid duration {s:?}: negative"));
    }
    Ok(d.into())
}

impl AzureAdConnectorSpec {
    /// The sync interval; the schema guarantees it parses and is at least 10s.
    pub fn interval(&self) -> std::time::Duration {
        parse_duration(&self.interval).unwrap_or(std::time::Duration::from_secs(60))
    }

    /// The interval between full reads of Entra.
    pub fn full_sync_interval(&self) -> std::time::Duration {
        parse_duration(&self.full_sync_interval).unwrap_or(std::time::Duration::from_secs(3600))
    }

    /// The target this connector provisions: exactly one of `passwordBoss` and `scim`.
    pub fn target(&self) -> Result<TargetSpec<'_>, NoSingleTarget> {
        match (&self.password_boss, &self.scim) {
            (Some(pb), None) => Ok(TargetSpec::PasswordBoss(pb)),
            (None, Some(scim)) => Ok(TargetSpec::Scim(scim)),
            _ => Err(NoSingleTarget),
        }
    }

    /// Every Secret this connector reads, with the key it needs.
    pub fn secret_refs(&self) -> Vec<&SecretKeyRef> {
        let mut refs: Vec<&SecretKeyRef> = self
            .target()
            .map(|t| t.token_secret_ref())
            .into_iter()
            .collect();
        refs.extend(self.azure.client_secret_ref.iter());
        refs.extend(self.azure.client_certificate_ref.iter());
        refs
    }
}
