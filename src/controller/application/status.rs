//! The status of each `AzureAdApplication`: whether its credential can be read, when it
//! expires (a warning condition and Event from 30 days before), and per bound tenant the
//! consent state and the admin-consent URL. Consent is learned from the app's connectors' token
//! requests (`ConsentBook`); a tenant nothing was learned of for `probe_interval` is probed with
//! one token request, at most once per `probe_interval`.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, Resource, ResourceExt};
use tokio::sync::broadcast;

use super::consent::{ConsentBook, Learned};
use super::{AppRefusal, read_app_credential};
use crate::azure::{AzureConfig, GraphClient};
use crate::resources::{
    ApplicationRef, AzureAdApplication, AzureAdApplicationStatus, AzureSpec, Consent, TenantStatus,
};
use crate::sync::AppCredential;
use crate::sync::status::EventType;
use crate::sync::status::credential_expiry::{
    EXPIRY_WARNING, ExpiryError, certificate_not_after, parse_date,
};

use super::super::endpoints::EndpointPolicy;
use super::super::events::EventRecorder;
use super::super::status_writer::publish;
use super::super::watch_retry::retried;

/// Default: one probe per tenant per 5 minutes at most.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(300);

const FIELD_MANAGER: &str = "pbconnector";

/// What every app reconcile shares.
pub struct AppContext {
    pub client: Client,
    /// Where the apps' credential Secrets must be.
    pub operator_namespace: String,
    pub endpoints: EndpointPolicy,
    pub consents: Arc<ConsentBook>,
    pub recorder: EventRecorder,
    /// At most one probe per tenant this often; also how often each app is looked at again.
    pub probe_interval: Duration,
    /// When each (app, tenant) was last probed.
    probed: Mutex<HashMap<(String, String), Instant>>,
    /// Each app's last seen generation and credential fingerprint (see `noticed_change`).
    seen: Mutex<HashMap<String, Seen>>,
    /// Apps whose spec or credential changed: the connectors using them end a quarantine and
    /// sync at once (`run::scope_controller` subscribes).
    pub changes: broadcast::Sender<AzureAdApplication>,
}

/// What makes an app's change real: its spec generation and a hash of its credential's text
/// (in memory only; `None` while it cannot be read or is the operator's own identity).
type Seen = (Option<i64>, Option<u64>);

impl AppContext {
    pub fn new(
        client: Client,
        operator_namespace: String,
        endpoints: EndpointPolicy,
        consents: Arc<ConsentBook>,
        recorder: EventRecorder,
        probe_interval: Duration,
    ) -> Self {
        Self {
            client,
            operator_namespace,
            endpoints,
            consents,
            recorder,
            probe_interval,
            probed: Mutex::default(),
            seen: Mutex::default(),
            changes: broadcast::channel(64).0,
        }
    }

    /// Whether `app`'s spec (generation) or credential changed since the last look; the first
    /// look at an app is no change, and neither is a status-only update.
    pub fn noticed_change(
        &self,
        app: &str,
        generation: Option<i64>,
        credential: &Result<AppCredential, AppRefusal>,
    ) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        changed(&mut seen, app, (generation, fingerprint(credential)))
    }

    /// Whether `tenant` of `app` may be probed now (and if so, notes the probe).
    fn may_probe(&self, app: &str, tenant: &str, now: Instant) -> bool {
        let mut probed = self.probed.lock().unwrap_or_else(|e| e.into_inner());
        let key = (app.to_owned(), tenant.to_ascii_lowercase());
        if probed
            .get(&key)
            .is_some_and(|last| now.duration_since(*last) < self.probe_interval)
        {
            return false;
        }
        probed.insert(key, now);
        true
    }
}

/// A hash of the credential's text, to tell a changed Secret from an unchanged one.
fn fingerprint(credential: &Result<AppCredential, AppRefusal>) -> Option<u64> {
    match credential {
        Ok(AppCredential::ClientSecret(text) | AppCredential::Certificate(text)) => {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            text.hash(&mut hasher);
            Some(hasher.finish())
        }
        Ok(AppCredential::OperatorIdentity(_)) | Err(_) => None,
    }
}

/// Records `now` for `app`: a change when it was seen before, differently.
fn changed(seen: &mut HashMap<String, Seen>, app: &str, now: Seen) -> bool {
    seen.insert(app.to_owned(), now)
        .is_some_and(|before| before != now)
}

/// Why an app's status could not be written.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot write the status of AzureAdApplication {name}: {source}; check the operator's RBAC \
     for azureadapplications/status (patch)"
)]
pub struct WriteError {
    name: String,
    #[source]
    source: kube::Error,
}

/// Runs the apps' status controller until `stop` resolves.
pub async fn run(
    ctx: Arc<AppContext>,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let api: Api<AzureAdApplication> = Api::all(ctx.client.clone());
    // The watch retries at its own pace (the CRD may be installed after the operator starts),
    // its errors logged and dropped (`watch_retry`).
    let (store, writer) = reflector::store::<AzureAdApplication>();
    let events = reflector(
        writer,
        retried(
            "azureadapplications",
            watcher(api, watcher::Config::default().any_semantic()),
        ),
    )
    .touched_objects();
    Controller::for_stream(events, store)
        .graceful_shutdown_on(stop)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::warn!(%error, "AzureAdApplication reconcile failed");
            }
        })
        .await;
}

fn error_policy(_: Arc<AzureAdApplication>, _: &WriteError, ctx: Arc<AppContext>) -> Action {
    Action::requeue(ctx.probe_interval.min(Duration::from_secs(30)))
}

/// One look at an app: its credential, its expiry and each bound tenant's consent, written into
/// its status when that changed.
async fn reconcile(
    app: Arc<AzureAdApplication>,
    ctx: Arc<AppContext>,
) -> Result<Action, WriteError> {
    let name = app.name_any();
    let now = Timestamp::now();
    let credential = read_app_credential(&ctx.client, &ctx.operator_namespace, &app).await;
    if ctx.noticed_change(&name, app.metadata.generation, &credential) {
        tracing::info!(app = %name, "the shared app's spec or credential changed; its connectors sync now");
        // No receiver (no connector scope running yet) is no error.
        let _ = ctx.changes.send((*app).clone());
    }
    let previous = app.status.clone().unwrap_or_default();
    let mut next = AzureAdApplicationStatus {
        observed_generation: app.metadata.generation,
        conditions: previous.conditions.clone(),
        ..AzureAdApplicationStatus::default()
    };
    set_ready(&mut next, &credential, app.metadata.generation, now);
    let expiry = credential.as_ref().ok().map(|c| credential_expiry(&app, c));
    next.credential_expires_at = expiry
        .as_ref()
        .and_then(|e| e.as_ref().ok().copied().flatten())
        .map(Time);
    if let Some(expiry) = &expiry {
        set_expiring(&mut next, expiry, app.metadata.generation, now);
    }
    for bound in &app.spec.tenants {
        let tenant = &bound.tenant_id;
        let learned = match ctx.consents.get(&name, tenant) {
            Some(learned) if learned.instant.elapsed() < ctx.probe_interval => Some(learned),
            stale => match &credential {
                Ok(credential) if ctx.may_probe(&name, tenant, Instant::now()) => {
                    let (consent, message) = probe(&ctx, &app, tenant, credential).await;
                    ctx.consents.record(&name, tenant, consent, &message);
                    ctx.consents.get(&name, tenant)
                }
                _ => stale,
            },
        };
        next.tenants
            .push(tenant_status(&app, tenant, learned, &previous));
    }
    next.bound_tenants = next.tenants.len() as u32;
    next.consented_tenants = next
        .tenants
        .iter()
        .filter(|t| t.consent == Consent::Granted)
        .count() as u32;
    if next != previous {
        let api: Api<AzureAdApplication> = Api::all(ctx.client.clone());
        let patch = serde_json::json!({
            "apiVersion": "passwordboss.com/v1alpha1",
            "kind": "AzureAdApplication",
            "status": next,
        });
        api.patch_status(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(|source| WriteError {
            name: name.clone(),
            source,
        })?;
        let events = transitions(&previous, &next);
        if !events.is_empty() {
            publish(&ctx.recorder, &app.object_ref(&()), events).await;
        }
    }
    // Often enough to show what connectors learned soon; probes keep their own pace.
    Ok(Action::requeue(
        ctx.probe_interval.min(Duration::from_secs(15)),
    ))
}

/// One tenant's entry: what was learned, else what the status said, else Unknown.
fn tenant_status(
    app: &AzureAdApplication,
    tenant: &str,
    learned: Option<Learned>,
    previous: &AzureAdApplicationStatus,
) -> TenantStatus {
    let url = app.spec.admin_consent_url(tenant);
    if let Some(learned) = learned {
        return TenantStatus {
            tenant_id: tenant.to_owned(),
            consent: learned.consent,
            admin_consent_url: url,
            message: learned.message,
            last_checked: Some(Time(learned.at)),
        };
    }
    let kept = previous
        .tenants
        .iter()
        .find(|t| t.tenant_id.eq_ignore_ascii_case(tenant));
    TenantStatus {
        tenant_id: tenant.to_owned(),
        consent: kept.map_or(Consent::Unknown, |t| t.consent),
        admin_consent_url: url,
        message: kept.map(|t| t.message.clone()).unwrap_or_default(),
        last_checked: kept.and_then(|t| t.last_checked.clone()),
    }
}

/// One token request for `tenant` with the app's credential: Granted when Entra issues one,
/// Missing on AADSTS700016, Unknown (with the reason) otherwise. Sent only to allowed hosts.
async fn probe(
    ctx: &AppContext,
    app: &AzureAdApplication,
    tenant: &str,
    credential: &AppCredential,
) -> (Consent, String) {
    let azure = AzureSpec {
        tenant_id: tenant.to_owned(),
        client_id: app.spec.client_id.clone(),
        cloud: app.spec.cloud,
        authority_host: app.spec.authority_host.clone(),
        graph_endpoint: app.spec.graph_endpoint.clone(),
        client_secret_ref: None,
        client_secret_expires_at: None,
        client_certificate_ref: None,
        workload_identity: None,
        application_ref: Some(ApplicationRef {
            name: app.name_any(),
        }),
    };
    if let Err(refused) = ctx.endpoints.check_azure(&azure) {
        return (Consent::Unknown, refused.to_string());
    }
    let client =
        AzureConfig::from_spec(&azure, credential.clone().into()).and_then(GraphClient::new);
    let result = match client {
        Ok(client) => client.acquire_token().await,
        Err(e) => Err(e),
    };
    tracing::debug!(app = %app.name_any(), tenant, granted = result.is_ok(), "consent probed");
    match result {
        Ok(()) => (Consent::Granted, String::new()),
        Err(e) if e.consent_missing() => (Consent::Missing, e.to_string()),
        Err(e) => (Consent::Unknown, e.to_string()),
    }
}

/// When the app's credential expires: a certificate's notAfter, a secret's
/// `clientSecretExpiresAt`; `None` for the operator's identity or a secret of unknown expiry.
fn credential_expiry(
    app: &AzureAdApplication,
    credential: &AppCredential,
) -> Result<Option<Timestamp>, ExpiryError> {
    match credential {
        AppCredential::Certificate(pem) => {
            certificate_not_after(pem)
                .map(Some)
                .map_err(|reason| ExpiryError::Certificate {
                    location: app
                        .spec
                        .client_certificate_ref
                        .as_ref()
                        .map(|r| format!("{}/{}/{}", r.namespace, r.name, r.key))
                        .unwrap_or_default(),
                    reason,
                })
        }
        AppCredential::ClientSecret(_) => app
            .spec
            .client_secret_expires_at
            .as_deref()
            .map(parse_date)
            .transpose(),
        AppCredential::OperatorIdentity(_) => Ok(None),
    }
}

const READY: &str = "Ready";
const EXPIRING: &str = "CredentialExpiring";

fn set_ready(
    status: &mut AzureAdApplicationStatus,
    credential: &Result<AppCredential, AppRefusal>,
    generation: Option<i64>,
    now: Timestamp,
) {
    match credential {
        Ok(_) => set(
            status,
            READY,
            "True",
            "CredentialReadable",
            "The app's credential is readable; connectors of bound tenants may use it",
            generation,
            now,
        ),
        Err(refusal) => set(
            status,
            READY,
            "False",
            refusal.reason().as_str(),
            &refusal.to_string(),
            generation,
            now,
        ),
    }
}

fn set_expiring(
    status: &mut AzureAdApplicationStatus,
    expiry: &Result<Option<Timestamp>, ExpiryError>,
    generation: Option<i64>,
    now: Timestamp,
) {
    let at = match expiry {
        Ok(Some(at)) => *at,
        Ok(None) => {
            status.conditions.retain(|c| c.type_ != EXPIRING);
            return;
        }
        Err(e) => {
            set(
                status,
                EXPIRING,
                "Unknown",
                "ExpiryUnreadable",
                &e.to_string(),
                generation,
                now,
            );
            return;
        }
    };
    let rotate = "one credential reads every consenting customer's directory: add a new one to \
                  the app registration in Entra, put it into the app's Secret (the operator \
                  re-reads it), then delete the old one in Entra";
    if now >= at {
        let message = format!(
            "The app's credential expired at {at}; Entra refuses it for every tenant: {rotate}"
        );
        set(
            status, EXPIRING, "True", "Expired", &message, generation, now,
        );
    } else if now >= at - EXPIRY_WARNING {
        let message = format!("The app's credential expires at {at}, within 30 days: {rotate}");
        set(
            status,
            EXPIRING,
            "True",
            "ExpiresSoon",
            &message,
            generation,
            now,
        );
    } else {
        let message = format!("The app's credential expires at {at}");
        set(
            status,
            EXPIRING,
            "False",
            "NotExpiringSoon",
            &message,
            generation,
            now,
        );
    }
}

fn set(
    status: &mut AzureAdApplicationStatus,
    kind: &str,
    value: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    let transition = status
        .conditions
        .iter()
        .find(|c| c.type_ == kind && c.status == value)
        .map_or(Time(now), |c| c.last_transition_time.clone());
    let condition = Condition {
        type_: kind.into(),
        status: value.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: transition,
        observed_generation: generation,
    };
    match status.conditions.iter_mut().find(|c| c.type_ == kind) {
        Some(existing) => *existing = condition,
        None => status.conditions.push(condition),
    }
}

/// Warning Events when the credential starts expiring (or expires) or becomes unusable.
fn transitions(
    previous: &AzureAdApplicationStatus,
    next: &AzureAdApplicationStatus,
) -> Vec<(EventType, &'static str, String)> {
    let find = |s: &AzureAdApplicationStatus, kind: &str| {
        s.conditions
            .iter()
            .find(|c| c.type_ == kind)
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    let mut events = Vec::new();
    if let Some((status, reason, message)) = find(next, EXPIRING)
        && status == "True"
        && find(previous, EXPIRING).map(|(s, r, _)| (s, r)) != Some((status, reason))
    {
        events.push((EventType::Warning, "CredentialExpiring", message));
    }
    if let Some((status, reason, message)) = find(next, READY)
        && status == "False"
        && find(previous, READY).map(|(s, r, _)| (s, r)) != Some((status, reason))
    {
        events.push((EventType::Warning, "CredentialUnusable", message));
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> Option<u64> {
        fingerprint(&Ok(AppCredential::ClientSecret(text.to_owned())))
    }

    #[test]
    fn only_a_new_generation_or_credential_is_a_change_of_the_app() {
        let mut seen = HashMap::new();
        let look = |seen: &mut HashMap<String, Seen>, generation, credential| {
            changed(seen, "msp-app", (Some(generation), credential))
        };
        assert!(
            !look(&mut seen, 1, secret("a")),
            "the first look is no change"
        );
        assert!(
            !look(&mut seen, 1, secret("a")),
            "a status-only update (same generation, same credential) is no change"
        );
        assert!(look(&mut seen, 2, secret("a")), "the spec changed");
        assert!(!look(&mut seen, 2, secret("a")));
        assert!(look(&mut seen, 2, secret("b")), "the credential changed");
        assert!(
            look(
                &mut seen,
                2,
                fingerprint(&Err(AppRefusal::NoCredential("msp-app".into())))
            ),
            "the credential became unreadable"
        );
        assert!(look(&mut seen, 2, secret("b")), "… and readable again");
        assert!(
            !changed(&mut seen, "other-app", (Some(2), secret("b"))),
            "each app is its own"
        );
    }
}
