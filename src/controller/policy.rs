//! What the controller lets a connector's spec — written by whoever may create connectors in its
//! namespace — make it do with credentials, decided before any Secret is read or any request
//! sent: which endpoints receive credentials, and whose identity a workload-identity connector
//! presents.

use kube::Client;

use super::endpoints::{EndpointNotAllowed, EndpointPolicy};
use super::workload_identity::ServiceAccountToken;
use crate::azure::{FEDERATED_TOKEN_FILE_ENV, FederatedToken};
use crate::resources::AzureAdConnectorSpec;
use crate::sync::status::failure::FailureReason;

/// The administrator's choices at start (`pbconnector run` flags).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialPolicy {
    pub endpoints: EndpointPolicy,
    /// `--allow-operator-workload-identity`: connectors may present the operator's own
    /// projected token (`workloadIdentity: {operatorIdentity: true}`).
    pub operator_identity: bool,
}

/// Why a connector's credentials are not used at all.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Endpoint(#[from] EndpointNotAllowed),
    #[error(
        "spec.azure.workloadIdentity.operatorIdentity asks for the operator's own identity, \
         which this operator lends to no connector; use serviceAccountName (a ServiceAccount of \
         this namespace), or the operator's administrator starts it with \
         --allow-operator-workload-identity (Helm value allowOperatorWorkloadIdentity)"
    )]
    OperatorIdentity,
    #[error(
        "spec.azure.workloadIdentity.operatorIdentity: the operator's administrator allows the \
         operator's identity but the operator has no {FEDERATED_TOKEN_FILE_ENV}; enable Azure \
         Workload Identity for it (Helm value workloadIdentity.enabled)"
    )]
    NoOperatorToken,
    #[error(
        "spec.azure.workloadIdentity names no identity; set serviceAccountName (a ServiceAccount \
         of this namespace)"
    )]
    NoIdentity,
}

impl Refusal {
    /// The condition and Event reason.
    pub fn reason(&self) -> FailureReason {
        match self {
            Self::Endpoint(_) => FailureReason::EndpointNotAllowed,
            Self::OperatorIdentity | Self::NoOperatorToken => {
                FailureReason::OperatorIdentityNotAllowed
            }
            Self::NoIdentity => FailureReason::InvalidSpec,
        }
    }
}

impl CredentialPolicy {
    /// Checks `spec` of a connector in `namespace`; on success, the federated token source its
    /// workload identity uses (none for secret and certificate credentials).
    pub fn admit(
        &self,
        client: &Client,
        namespace: &str,
        spec: &AzureAdConnectorSpec,
    ) -> Result<Option<FederatedToken>, Refusal> {
        self.endpoints.check(spec)?;
        let Some(identity) = &spec.azure.workload_identity else {
            return Ok(None);
        };
        if let Some(name) = &identity.service_account_name {
            let source = ServiceAccountToken::new(client.clone(), namespace, name.clone());
            return Ok(Some(FederatedToken::new(source)));
        }
        if identity.operator_identity != Some(true) {
            return Err(Refusal::NoIdentity);
        }
        if !self.operator_identity {
            return Err(Refusal::OperatorIdentity);
        }
        FederatedToken::from_env()
            .map(Some)
            .ok_or(Refusal::NoOperatorToken)
    }
}
