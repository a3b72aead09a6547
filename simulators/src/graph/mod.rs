//! Microsoft Graph and Entra token endpoint simulator: a loopback axum server holding tenants,
//! users, nested groups and app registrations, strict about the protocol (paging, `$select`,
//! `$top`, delta, `$batch`, token expiry, error bodies), with fault injection and request
//! counting. One URL serves as both the authority host and the Graph endpoint.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use pbconnector_simulators::graph::GraphSimulator;
//! let sim = GraphSimulator::start().await?;
//! let tenant = sim.add_tenant("contoso.onmicrosoft.com");
//! let app = tenant.add_app();
//! tenant.add_secret(&app, "s3cret", false);
//! let group = tenant.add_group("Password Boss Users");
//! let alice = tenant.add_user("Alice", "alice@contoso.com");
//! tenant.add_member(&group, &alice);
//! # Ok(()) }
//! ```

mod api;
mod auth;
mod directory;
mod faults;
mod jwt;
mod odata;
mod server;
mod state;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

pub use api::{DEFAULT_PAGE_SIZE, DELTA_FILTER_MAX};
pub use directory::{FederatedCredential, SimUser, UserState};
pub use faults::Answer;
pub use jwt::JwtAlgorithm;
pub use server::BATCH_MAX;
pub use state::PathKind;

use directory::{App, AppCert, SimGroup, Tenant};
use server::{Shared, lock};
use state::SimState;

/// Starts simulators.
pub struct GraphSimulator;

impl GraphSimulator {
    /// Binds 127.0.0.1 on a free port and serves until `GraphSim::shutdown` or drop.
    pub async fn start() -> std::io::Result<GraphSim> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let listen = listener.local_addr()?;
        let base = format!("http://{listen}");
        let shared: Shared = Arc::new(Mutex::new(SimState::new(base.clone())));
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(GraphSim {
            base,
            listen,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// A running simulator.
pub struct GraphSim {
    base: String,
    listen: std::net::SocketAddr,
    shared: Shared,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for GraphSim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl GraphSim {
    /// Base URL: use it as both `authorityHost` and `graphEndpoint`.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Serves under `base` from now on (`https://login.example:8443`): the URL clients reach it
    /// by, in its links, token audiences and scopes, when a TLS front or a name stands before
    /// the loopback listener. Set it before handing out tokens or links.
    pub fn set_public_url(&mut self, base: &str) {
        let base = base.trim_end_matches('/').to_string();
        lock(&self.shared).base = base.clone();
        self.base = base;
    }

    /// The loopback address the simulator listens on (plain HTTP).
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.listen
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Creates a tenant with a generated GUID id, reachable also by `domain`.
    pub fn add_tenant(&self, domain: &str) -> SimTenant {
        let id = uuid::Uuid::new_v4().to_string();
        lock(&self.shared).add_tenant(Tenant {
            id: id.clone(),
            domains: vec![domain.to_owned()],
            ..Tenant::default()
        });
        SimTenant {
            shared: self.shared.clone(),
            id,
        }
    }

    /// Access tokens issued from now on live this long (default 3599 s).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        lock(&self.shared).token_lifetime = lifetime;
    }

    /// Expires every access token issued so far.
    pub fn expire_access_tokens(&self) {
        let now = std::time::Instant::now();
        for t in lock(&self.shared).tokens.values_mut() {
            t.expires = now;
        }
    }

    pub fn faults(&self) -> SimFaults {
        SimFaults {
            shared: self.shared.clone(),
        }
    }

    /// A snapshot of the request counters.
    pub fn requests(&self) -> RequestCounts {
        RequestCounts {
            counts: lock(&self.shared).counts.clone(),
        }
    }

    pub fn reset_requests(&self) {
        let mut state = lock(&self.shared);
        state.counts.clear();
        state.token_requests.clear();
    }

    /// Token requests that named `tenant` (its id or domain, as the request wrote it), whatever
    /// the answer.
    pub fn token_requests_for(&self, tenant: &str) -> u64 {
        lock(&self.shared)
            .token_requests
            .get(&tenant.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }

    /// Registers a multi-tenant app in `home` (the MSP's tenant), consented there; other
    /// tenants issue it tokens only after `grant_consent`. Returns its client id; its
    /// credentials are added in `home` (`add_secret`, `add_certificate`, …).
    pub fn add_multi_tenant_app(&self, home: &SimTenant) -> String {
        home.add_app()
    }

    /// An administrator of `tenant` consents to the multi-tenant app `client_id`: the app is
    /// provisioned there (its service principal), and the tenant issues it tokens checked
    /// against the credentials of its home registration.
    pub fn grant_consent(&self, client_id: &str, tenant: &str) {
        let mut state = lock(&self.shared);
        let home = state
            .tenants
            .iter()
            .find(|t| t.apps.get(client_id).is_some_and(|a| a.home.is_none()))
            .map(|t| t.id.clone())
            .expect("grant_consent: no tenant registers this app");
        let target = state
            .tenant_mut(tenant)
            .expect("grant_consent: no such tenant");
        target.apps.insert(
            client_id.to_owned(),
            App {
                consent: true,
                home: Some(home),
                ..App::default()
            },
        );
    }

    /// The administrator of `tenant` removes the multi-tenant app (its enterprise application):
    /// the tenant answers AADSTS700016 again. The app's home registration is untouched.
    pub fn revoke_consent(&self, client_id: &str, tenant: &str) {
        let mut state = lock(&self.shared);
        if let Some(target) = state.tenant_mut(tenant)
            && target.apps.get(client_id).is_some_and(|a| a.home.is_some())
        {
            target.apps.remove(client_id);
        }
    }
}

/// Fault injection.
pub struct SimFaults {
    shared: Shared,
}

impl SimFaults {
    /// The next `n` Graph requests answer 429 with `Retry-After: retry_after_secs`.
    pub fn throttle_next(&self, n: u32, retry_after_secs: u64) {
        lock(&self.shared).faults.throttle = (n > 0).then_some((n, retry_after_secs));
    }

    /// The next `n` Graph requests answer `status` (503 or 504), with an optional Retry-After.
    pub fn unavailable_next(&self, n: u32, status: u16, retry_after_secs: Option<u64>) {
        lock(&self.shared).faults.unavailable = (n > 0).then_some((n, (status, retry_after_secs)));
    }

    /// The next `n` `$batch` sub-requests answer 429 with their own Retry-After.
    pub fn throttle_batch_items(&self, n: u32, retry_after_secs: u64) {
        lock(&self.shared).faults.batch_throttle = (n > 0).then_some((n, retry_after_secs));
    }

    /// The next `n` token requests answer 503.
    pub fn token_unavailable_next(&self, n: u32) {
        lock(&self.shared).faults.token_unavailable = n;
    }

    /// Every Graph request of `tenant_id` answers 429 with `Retry-After: retry_after_secs` until
    /// called again with `None`; other tenants are unaffected.
    pub fn throttle_tenant(&self, tenant_id: &str, retry_after_secs: Option<u64>) {
        let mut st = lock(&self.shared);
        match retry_after_secs {
            Some(secs) => st.faults.tenant_throttle.insert(tenant_id.to_owned(), secs),
            None => st.faults.tenant_throttle.remove(tenant_id),
        };
    }

    /// Every Graph answer waits this long (None: no delay).
    pub fn set_delay(&self, delay: Option<Duration>) {
        lock(&self.shared).faults.delay = delay;
    }

    /// Behave as a hostile or broken server for every request from now on (`None`: stop).
    pub fn set_hostile(&self, hostile: Option<crate::hostile::Hostile>) {
        lock(&self.shared).faults.hostile = hostile;
    }

    /// The next `n` requests of `kind`, sent alone or inside a `$batch`, get `answer` instead of
    /// their real answer (`n` = 0 clears it).
    pub fn answer_next(&self, kind: PathKind, n: u32, answer: Answer) {
        self.set_answer((kind, None), n, answer);
    }

    /// As `answer_next`, for the requests of `kind` whose path contains `path_part` (a group's
    /// id, say) only.
    pub fn answer_next_for(&self, kind: PathKind, path_part: &str, n: u32, answer: Answer) {
        self.set_answer((kind, Some(path_part.to_owned())), n, answer);
    }

    fn set_answer(&self, key: (PathKind, Option<String>), n: u32, answer: Answer) {
        let mut st = lock(&self.shared);
        if n == 0 {
            st.faults.answers.remove(&key);
        } else {
            st.faults.answers.insert(key, (n, answer));
        }
    }

    /// Replication lag: while `lagging`, users delta queries (filtered by id or not, first
    /// rounds and replays) do not list `user`, who still exists and keeps its memberships. A
    /// replay that left the user out has moved past its change: only a first round lists the
    /// user again once the lag is cleared.
    pub fn lag_users_delta(&self, user: &str, lagging: bool) {
        let mut st = lock(&self.shared);
        if lagging {
            st.faults.users_delta_lag.insert(user.to_owned());
        } else {
            st.faults.users_delta_lag.remove(user);
        }
    }

    /// The next replay of a users delta link reports `user` as `{"@removed": {"reason":
    /// "changed"}}` though it exists and keeps its memberships, as Graph's replays of old
    /// changes can.
    pub fn replay_user_removal(&self, user: &str) {
        lock(&self.shared)
            .faults
            .users_delta_removals
            .insert(user.to_owned());
    }

    /// Every delta token issued so far answers 400 `syncStateNotFound`.
    pub fn expire_delta_tokens(&self) {
        for d in lock(&self.shared).deltas.values_mut() {
            d.expired = true;
        }
    }
}

/// Request counts by kind and status.
#[derive(Clone, Debug)]
pub struct RequestCounts {
    counts: HashMap<(PathKind, u16, bool), u64>,
}

impl RequestCounts {
    /// HTTP requests (not `$batch` sub-requests) of this kind.
    pub fn http(&self, kind: PathKind) -> u64 {
        self.sum(|k, _, b| k == kind && !b)
    }

    /// HTTP requests of this kind that got `status`.
    pub fn http_status(&self, kind: PathKind, status: u16) -> u64 {
        self.sum(|k, s, b| k == kind && s == status && !b)
    }

    /// `$batch` sub-requests of this kind.
    pub fn in_batch(&self, kind: PathKind) -> u64 {
        self.sum(|k, _, b| k == kind && b)
    }

    /// HTTP requests of every kind (token calls included, sub-requests excluded).
    pub fn total_http(&self) -> u64 {
        self.sum(|_, _, b| !b)
    }

    /// HTTP requests to Graph (token calls excluded).
    pub fn graph_http(&self) -> u64 {
        self.sum(|k, _, b| !b && k != PathKind::Token)
    }

    fn sum(&self, f: impl Fn(PathKind, u16, bool) -> bool) -> u64 {
        self.counts
            .iter()
            .filter(|((k, s, b), _)| f(*k, *s, *b))
            .map(|(_, n)| n)
            .sum()
    }
}

/// Builds and mutates one tenant while the simulator runs; every change is recorded for delta.
#[derive(Clone)]
pub struct SimTenant {
    shared: Shared,
    id: String,
}

impl SimTenant {
    /// The tenant's GUID.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn with<R>(&self, f: impl FnOnce(&mut Tenant, u64) -> R) -> R {
        let mut st = lock(&self.shared);
        let seq = st.next_seq();
        let tenant = st.tenant_mut(&self.id).expect("tenants are never removed");
        f(tenant, seq)
    }

    /// Registers an app with admin consent; returns its client id.
    pub fn add_app(&self) -> String {
        let client_id = uuid::Uuid::new_v4().to_string();
        self.with(|t, _| {
            t.apps.insert(
                client_id.clone(),
                App {
                    consent: true,
                    ..App::default()
                },
            )
        });
        client_id
    }

    pub fn add_secret(&self, app: &str, secret: &str, expired: bool) {
        self.with(|t, _| {
            if let Some(a) = t.apps.get_mut(app) {
                a.secrets.push((secret.to_owned(), expired));
            }
        });
    }

    /// Uploads a certificate (PEM) to the app; its RSA public key verifies assertions.
    pub fn add_certificate(&self, app: &str, cert_pem: &str) -> Result<(), String> {
        let block = pem::parse(cert_pem).map_err(|e| format!("certificate PEM: {e}"))?;
        let (_, cert) = x509_parser::parse_x509_certificate(block.contents())
            .map_err(|e| format!("certificate: {e}"))?;
        let key = jwt::VerifyingKey::new(
            JwtAlgorithm::PS256,
            &cert.public_key().subject_public_key.data,
        );
        use base64::Engine;
        let thumbprint = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(block.contents()));
        self.with(|t, _| {
            t.apps
                .get_mut(app)
                .map(|a| a.certs.push(AppCert { thumbprint, key }))
                .ok_or_else(|| format!("no app {app}"))
        })
    }

    pub fn add_federated_credential(
        &self,
        app: &str,
        cred: FederatedCredential,
    ) -> Result<(), String> {
        let key = jwt::VerifyingKey::from_spki_pem(cred.algorithm, &cred.issuer_key_pem)
            .map_err(|e| format!("issuer key: {e}"))?;
        self.with(|t, _| {
            t.apps
                .get_mut(app)
                .map(|a| a.federated.push((cred, key)))
                .ok_or_else(|| format!("no app {app}"))
        })
    }

    /// Grants or revokes admin consent for the app's Graph permissions.
    pub fn set_consent(&self, app: &str, consent: bool) {
        self.with(|t, _| {
            if let Some(a) = t.apps.get_mut(app) {
                a.consent = consent;
            }
        });
    }

    /// Adds an enabled member user with `mail` = `upn`; returns its id.
    pub fn add_user(&self, display_name: &str, upn: &str) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let (given, surname) = match display_name.split_once(' ') {
            Some((g, s)) => (Some(g.to_owned()), Some(s.to_owned())),
            None => (None, None),
        };
        self.add_user_with(SimUser {
            id: id.clone(),
            display_name: display_name.to_owned(),
            given_name: given,
            surname,
            mail: Some(upn.to_owned()),
            user_principal_name: upn.to_owned(),
            account_enabled: true,
            user_type: "Member".into(),
            state: UserState::Active,
            changed: 0,
        });
        id
    }

    /// Adds a user as given (its `id` must be a GUID).
    pub fn add_user_with(&self, user: SimUser) {
        self.with(|t, seq| {
            let id = user.id.clone();
            t.users.insert(id.clone(), user);
            t.user_changed(&id, seq);
        });
    }

    pub fn add_group(&self, display_name: &str) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.with(|t, seq| {
            t.groups.insert(
                id.clone(),
                SimGroup {
                    id: id.clone(),
                    display_name: display_name.to_owned(),
                    members: Default::default(),
                    name_changed: seq,
                    log: Vec::new(),
                    deleted: None,
                },
            )
        });
        id
    }

    /// Adds a user or a group (nesting) as a direct member.
    pub fn add_member(&self, group: &str, member: &str) {
        self.with(|t, seq| {
            let added = t
                .groups
                .get_mut(group)
                .is_some_and(|g| g.members.insert(member.to_owned()));
            if added {
                t.log_member(group, member, true, seq);
            }
        });
    }

    pub fn remove_member(&self, group: &str, member: &str) {
        self.with(|t, seq| {
            let removed = t
                .groups
                .get_mut(group)
                .is_some_and(|g| g.members.remove(member));
            if removed {
                t.log_member(group, member, false, seq);
            }
        });
    }

    fn update_user(&self, id: &str, f: impl FnOnce(&mut SimUser)) {
        self.with(|t, seq| {
            if let Some(u) = t.users.get_mut(id) {
                f(u);
                t.user_changed(id, seq);
            }
        });
    }

    pub fn rename_user(&self, id: &str, display_name: &str) {
        self.update_user(id, |u| u.display_name = display_name.to_owned());
    }

    /// Changes the user's given name and surname (and display name), as a rename in Entra does.
    pub fn set_names(&self, id: &str, given_name: &str, surname: &str) {
        self.update_user(id, |u| {
            u.given_name = Some(given_name.to_owned());
            u.surname = Some(surname.to_owned());
            u.display_name = format!("{given_name} {surname}");
        });
    }

    pub fn set_mail(&self, id: &str, mail: Option<&str>) {
        self.update_user(id, |u| u.mail = mail.map(str::to_owned));
    }

    pub fn set_enabled(&self, id: &str, enabled: bool) {
        self.update_user(id, |u| u.account_enabled = enabled);
    }

    /// Moves the user to the recycle bin (restorable).
    pub fn soft_delete_user(&self, id: &str) -> bool {
        self.with(|t, seq| t.delete_user(id, false, seq))
    }

    pub fn hard_delete_user(&self, id: &str) -> bool {
        self.with(|t, seq| t.delete_user(id, true, seq))
    }

    pub fn restore_user(&self, id: &str) -> bool {
        self.with(|t, seq| t.restore_user(id, seq))
    }

    pub fn rename_group(&self, id: &str, display_name: &str) {
        self.with(|t, seq| {
            if let Some(g) = t.groups.get_mut(id) {
                g.display_name = display_name.to_owned();
                g.name_changed = seq;
            }
        });
    }

    /// Deletes a group (security groups cannot be restored).
    pub fn delete_group(&self, id: &str) {
        self.with(|t, seq| {
            if let Some(g) = t.groups.get_mut(id) {
                g.deleted = Some(seq);
            }
        });
    }

    /// The user as stored.
    pub fn user(&self, id: &str) -> Option<SimUser> {
        self.with(|t, _| t.users.get(id).cloned())
    }
}
