//! When the Entra credential expires, and the `CredentialExpiring` condition that warns about it
//! `EXPIRY_WARNING` ahead: a certificate's expiry is read from its PEM (`notAfter`), a client
//! secret's from `spec.azure.clientSecretExpiresAt` (Entra does not tell the app itself).
//! Workload identity tokens are short-lived and renewed by Kubernetes: nothing to warn about.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::conditions::{ConditionType, Reason, Truth, set_condition};
use crate::resources::{AzureAdConnectorStatus, AzureSpec, CONDITION_CREDENTIAL_EXPIRING};
use crate::sync::secrets::{SecretData, SecretError, secret_text};

/// How long before expiry the connector warns.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);

/// Which credential expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    ClientSecret,
    Certificate,
}

impl CredentialKind {
    fn describe(self) -> &'static str {
        match self {
            Self::ClientSecret => "client secret",
            Self::Certificate => "client certificate",
        }
    }
}

/// An expiring credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialExpiry {
    pub kind: CredentialKind,
    pub expires_at: Timestamp,
    /// `Secret name/key` holding it (never its value).
    pub location: String,
}

/// Why the expiry could not be read; says what to fix, never shows the credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    #[error("cannot read the certificate's expiry: {0}")]
    Secret(#[from] SecretError),
    #[error(
        "cannot read the certificate's expiry: secret `{location}` holds no usable certificate \
         ({reason}); it must hold the PEM certificate and its private key"
    )]
    Certificate {
        location: String,
        reason: &'static str,
    },
    #[error(
        "spec.azure.clientSecretExpiresAt {value:?} is not an RFC 3339 date or date-time \
         (e.g. 2028-11-25 or 2028-11-25T10:00:00Z): {reason}"
    )]
    Date { value: String, reason: String },
}

/// The expiry of the connector's Entra credential; `None` when it has none to watch (workload
/// identity, or a client secret whose expiry the spec does not give).
pub fn credential_expiry(
    namespace: &str,
    spec: &AzureSpec,
    secrets: &BTreeMap<String, SecretData>,
) -> Result<Option<CredentialExpiry>, ExpiryError> {
    if let Some(reference) = &spec.client_certificate_ref {
        let location = format!("{}/{}", reference.name, reference.key);
        let pem = secret_text(namespace, reference, secrets.get(&reference.name))?;
        let expires_at =
            certificate_not_after(&pem).map_err(|reason| ExpiryError::Certificate {
                location: location.clone(),
                reason,
            })?;
        return Ok(Some(CredentialExpiry {
            kind: CredentialKind::Certificate,
            expires_at,
            location,
        }));
    }
    match (&spec.client_secret_ref, &spec.client_secret_expires_at) {
        (Some(reference), Some(value)) => Ok(Some(CredentialExpiry {
            kind: CredentialKind::ClientSecret,
            expires_at: parse_date(value)?,
            location: format!("{}/{}", reference.name, reference.key),
        })),
        _ => Ok(None),
    }
}

/// `notAfter` of the first certificate in `pem`. Reasons are fixed texts: a parser's message
/// could quote bytes of the Secret.
pub(crate) fn certificate_not_after(pem: &str) -> Result<Timestamp, &'static str> {
    let blocks = pem::parse_many(pem).map_err(|_| "not PEM")?;
    let block = blocks
        .iter()
        .find(|b| b.tag() == "CERTIFICATE")
        .ok_or("no CERTIFICATE block")?;
    let (_, cert) = x509_parser::parse_x509_certificate(block.contents())
        .map_err(|_| "the CERTIFICATE block is not an X.509 certificate")?;
    Timestamp::from_second(cert.validity().not_after.timestamp())
        .map_err(|_| "its notAfter is out of range")
}

/// An RFC 3339 date (midnight UTC) or date-time.
pub fn parse_date(value: &str) -> Result<Timestamp, ExpiryError> {
    let text = if value.len() == 10 {
        format!("{value}T00:00:00Z")
    } else {
        value.to_string()
    };
    text.parse()
        .map_err(|e: k8s_openapi::jiff::Error| ExpiryError::Date {
            value: value.into(),
            reason: e.to_string(),
        })
}

/// Sets `CredentialExpiring` from what was read: True within `EXPIRY_WARNING` of expiry (reason
/// `ExpiresSoon`, or `Expired`), False before, Unknown when the expiry is unreadable; removed
/// when there is no expiry to watch. Messages name the date, not the days left, so the status
/// changes only when the state does.
pub fn set_expiry_condition(
    status: &mut AzureAdConnectorStatus,
    expiry: &Result<Option<CredentialExpiry>, ExpiryError>,
    generation: Option<i64>,
    now: Timestamp,
) {
    let expiry = match expiry {
        Ok(Some(expiry)) => expiry,
        Ok(None) => {
            status
                .conditions
                .retain(|c| c.type_ != CONDITION_CREDENTIAL_EXPIRING);
            return;
        }
        Err(error) => {
            let message = error.to_string();
            set_condition(
                status,
                ConditionType::CredentialExpiring,
                Truth::Unknown,
                Reason::ExpiryUnreadable,
                &message,
                generation,
                now,
            );
            return;
        }
    };
    let what = expiry.kind.describe();
    let at = expiry.expires_at;
    let warn_from = at - EXPIRY_WARNING;
    let rotate = format!(
        "rotate it without downtime: add a new {what} to the app registration in Entra, put it \
         into Secret {} (the operator re-reads it), then delete the old one in Entra",
        expiry.location
    );
    let (value, reason, message) = if now >= at {
        (
            Truth::True,
            Reason::Expired,
            format!("The {what} expired at {at}; Entra refuses it (AADSTS7000222): {rotate}"),
        )
    } else if now >= warn_from {
        (
            Truth::True,
            Reason::ExpiresSoon,
            format!("The {what} expires at {at}, within 30 days: {rotate}"),
        )
    } else {
        (
            Truth::False,
            Reason::NotExpiringSoon,
            format!("The {what} expires at {at}"),
        )
    };
    set_condition(
        status,
        ConditionType::CredentialExpiring,
        value,
        reason,
        &message,
        generation,
        now,
    );
}
