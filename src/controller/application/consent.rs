//! What the operator learned of each shared app's consent in each tenant: from the token
//! requests of the app's connectors (a sync that reached Entra, or one refused with
//! AADSTS700016) and from the app's own probes. The app's status reads it, and probes a tenant
//! only when nothing was learned for it recently.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use k8s_openapi::jiff::Timestamp;

use crate::resources::Consent;
use crate::sync::report::SyncReport;
use crate::sync::status::failure::FailureReason;

/// One tenant's consent, as last learned.
#[derive(Clone, Debug, PartialEq)]
pub struct Learned {
    pub consent: Consent,
    /// What the token endpoint answered when it issued no token.
    pub message: String,
    /// When it was learned (for the status).
    pub at: Timestamp,
    /// When it was learned (for the probe schedule).
    pub instant: Instant,
}

/// Consent per (app, tenant), shared by the connectors' reconciles and the apps'.
#[derive(Debug, Default)]
pub struct ConsentBook {
    entries: Mutex<HashMap<(String, String), Learned>>,
}

impl ConsentBook {
    /// Records what a token request for `tenant` through `app` showed.
    pub fn record(&self, app: &str, tenant: &str, consent: Consent, message: &str) {
        let learned = Learned {
            consent,
            message: message.to_owned(),
            at: Timestamp::now(),
            instant: Instant::now(),
        };
        self.lock()
            .insert((app.to_owned(), tenant.to_ascii_lowercase()), learned);
    }

    /// What was last learned of `tenant` through `app`.
    pub fn get(&self, app: &str, tenant: &str) -> Option<Learned> {
        self.lock()
            .get(&(app.to_owned(), tenant.to_ascii_lowercase()))
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Learned>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a connector's sync says of its app's consent in its tenant: `Granted` once Entra issued
/// a token that Graph accepted, `Missing` when the token endpoint did not know the app; nothing
/// for any other outcome (a failure elsewhere says nothing about consent).
pub fn consent_of(report: &SyncReport) -> Option<(Consent, String)> {
    match &report.failure {
        Some(failure) if failure.reason == FailureReason::ConsentMissing => {
            Some((Consent::Missing, failure.message.clone()))
        }
        _ if report.reached.azure => Some((Consent::Granted, String::new())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_are_kept_per_app_without_regard_to_case() {
        let book = ConsentBook::default();
        book.record(
            "a",
            "7C0C36F5-0000-4000-8000-000000000001",
            Consent::Missing,
            "x",
        );
        let learned = book
            .get("a", "7c0c36f5-0000-4000-8000-000000000001")
            .expect("recorded");
        assert_eq!(
            (learned.consent, learned.message.as_str()),
            (Consent::Missing, "x")
        );
        assert!(
            book.get("b", "7c0c36f5-0000-4000-8000-000000000001")
                .is_none()
        );
        book.record(
            "a",
            "7c0c36f5-0000-4000-8000-000000000001",
            Consent::Granted,
            "",
        );
        assert_eq!(
            book.get("a", "7C0C36F5-0000-4000-8000-000000000001")
                .map(|l| l.consent),
            Some(Consent::Granted)
        );
    }
}
