//! Password Boss API simulator: a loopback axum server that enforces the v1 contract
//! (`passwordboss-api.md`) strictly, injects faults and counts requests. Tests, `pbconnector demo`
//! and the benchmarks run the real client against it.
//!
//! Choices where the contract is silent: group names are unique case-insensitively; a member id
//! that is not a user answers `404 not_found`; malformed bodies and unknown fields answer
//! `400 invalid_request`; licences are used by active users (admins included).

mod api_error;
mod faults;
mod paging;
mod routes;
mod server;
mod stats;
mod store;
pub mod wire;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use api_error::ApiError;
pub use faults::{Faults, InjectedError};
pub use paging::{DEFAULT_LIMIT, MAX_LIMIT};
pub use stats::{RequestStats, WriteRecord};
pub use store::{IDEMPOTENCY_TTL, SeedUser, Store, UserUpdate};

use self::routes::Shared;
use self::stats::Counters;
use self::wire::{Group, Licenses, MANAGED_BY_AZURE_AD, User};

/// How a simulator starts.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The company's id; each simulator gets an id of its own by default (one simulator is one
    /// company, and the controller tells companies apart by id).
    pub company_id: String,
    pub company_name: String,
    pub license_total: u32,
    /// The valid token; a random one when `None`.
    pub token: Option<String>,
    /// Where to listen; must be loopback. Port 0 picks a free port.
    pub addr: SocketAddr,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            company_id: format!("c_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            company_name: "Contoso".into(),
            license_total: 50,
            token: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

/// A running simulator. Dropping it stops the server. `Debug` leaves the token out.
pub struct PbSim {
    url: url::Url,
    token: String,
    shared: Shared,
    /// Shared by the companies of one server (`start_many`).
    shutdown: Arc<watch::Sender<bool>>,
}

impl std::fmt::Debug for PbSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PbSim")
            .field("url", &self.url.as_str())
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// The name the brief uses for the simulator.
pub type PasswordBossSimulator = PbSim;

impl PbSim {
    /// Bind on loopback and serve until dropped.
    pub async fn start(config: SimConfig) -> std::io::Result<PbSim> {
        if !config.addr.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the Password Boss simulator listens on loopback only",
            ));
        }
        let listener = TcpListener::bind(config.addr).await?;
        let addr = listener.local_addr()?;
        let (token, shared) = Self::company(config);
        let (shutdown, stop) = watch::channel(false);
        tokio::spawn(server::serve(
            listener,
            routes::router(shared.clone()),
            stop,
        ));
        let url = url::Url::parse(&format!("http://{addr}/")).expect("a socket address is a URL");
        Ok(PbSim {
            url,
            token,
            shared: shared.clone(),
            shutdown: Arc::new(shutdown),
        })
    }

    /// Many companies behind one loopback listener (`addr`), the `i`th of `configs` under
    /// `/c{i}/` (its [`url`](Self::url)): thousands of companies for a benchmark without
    /// thousands of ports and connections. The server stops when the last of them is dropped.
    pub async fn start_many(
        addr: SocketAddr,
        configs: Vec<SimConfig>,
    ) -> std::io::Result<Vec<PbSim>> {
        if !addr.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the Password Boss simulator listens on loopback only",
            ));
        }
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (shutdown, stop) = watch::channel(false);
        let shutdown = Arc::new(shutdown);
        let mut routers = Vec::with_capacity(configs.len());
        let mut sims = Vec::with_capacity(configs.len());
        for (i, config) in configs.into_iter().enumerate() {
            let (token, shared) = Self::company(config);
            routers.push(routes::router(shared.clone()));
            let url = url::Url::parse(&format!("http://{addr}/c{i}/"))
                .expect("a socket address and a path are a URL");
            sims.push(PbSim {
                url,
                token,
                shared,
                shutdown: shutdown.clone(),
            });
        }
        let routers = Arc::new(routers);
        let app = Router::new().fallback(move |request: Request| {
            let routers = routers.clone();
            async move { server::dispatch(&routers, request).await }
        });
        tokio::spawn(server::serve(listener, app, stop));
        Ok(sims)
    }

    /// One company's state and its token.
    fn company(config: SimConfig) -> (String, Shared) {
        let token = config
            .token
            .unwrap_or_else(|| format!("pbsim-{}", uuid::Uuid::new_v4().simple()));
        let shared = Shared {
            store: Arc::new(Mutex::new(Store::new(
                &config.company_id,
                &config.company_name,
                config.license_total,
            ))),
            tokens: Arc::new(Mutex::new(BTreeSet::from([token.clone()]))),
            faults: Faults::default(),
            counters: Counters::default(),
            clock_offset: Arc::new(Mutex::new(Duration::ZERO)),
        };
        (token, shared)
    }

    /// Base URL, e.g. `http://127.0.0.1:41234/`.
    pub fn url(&self) -> url::Url {
        self.url.clone()
    }

    /// The token the simulator accepts (until revoked).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Accept another token.
    pub fn add_token(&self, token: &str) {
        self.shared
            .tokens
            .lock()
            .expect("tokens lock")
            .insert(token.to_string());
    }

    /// Stop accepting a token: requests with it get `401 invalid_token`.
    pub fn revoke_token(&self, token: &str) {
        self.shared
            .tokens
            .lock()
            .expect("tokens lock")
            .remove(token);
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    pub fn requests(&self) -> RequestStats {
        self.shared.counters.snapshot()
    }

    /// Requests made with `token` (whether or not the simulator accepted it).
    pub fn requests_with_token(&self, token: &str) -> RequestStats {
        self.shared.counters.snapshot_for(token)
    }

    /// Every write that reached a handler since the start (or `reset_requests`), in the order
    /// answered: method, path, body and status. Injected errors and refused tokens are not here.
    pub fn write_log(&self) -> Vec<WriteRecord> {
        self.shared.counters.write_log()
    }

    pub fn reset_requests(&self) {
        self.shared.counters.reset();
    }

    /// Move the simulator's clock forward (idempotency keys expire after 24 h).
    pub fn advance_clock(&self, by: Duration) {
        *self.shared.clock_offset.lock().expect("clock lock") += by;
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.shared.store.lock().expect("store lock")
    }

    pub fn set_company_name(&self, name: &str) {
        self.store().company_name = name.to_string();
    }

    pub fn set_license_total(&self, total: u32) {
        self.store().license_total = total;
    }

    pub fn licenses(&self) -> Licenses {
        self.store().licenses()
    }

    /// Add a user as given (any role, managedBy and status; no licence rule).
    pub fn add_user(&self, user: SeedUser) -> Result<User, ApiError> {
        self.store().seed_user(user)
    }

    /// Add a group, optionally with members.
    pub fn add_group(
        &self,
        name: &str,
        managed_by: &str,
        external_id: Option<&str>,
        members: &[&str],
    ) -> Result<Group, ApiError> {
        let mut store = self.store();
        let group = store.create_group(name, external_id.map(str::to_owned), managed_by)?;
        store.set_members(&group.id, members.iter().map(|m| m.to_string()).collect())?;
        Ok(group)
    }

    /// Users, in creation order.
    pub fn users(&self) -> Vec<User> {
        self.store().users()
    }

    pub fn user_by_email(&self, email: &str) -> Option<User> {
        self.users()
            .into_iter()
            .find(|u| u.email.eq_ignore_ascii_case(email))
    }

    /// Users managed by Azure AD.
    pub fn azure_users(&self) -> Vec<User> {
        self.users()
            .into_iter()
            .filter(|u| u.managed_by == MANAGED_BY_AZURE_AD)
            .collect()
    }

    /// Users that left the company keeping a personal account.
    pub fn departed(&self) -> Vec<User> {
        self.store().departed()
    }

    /// Groups, in creation order (the Everyone group first).
    pub fn groups(&self) -> Vec<Group> {
        self.store().groups()
    }

    pub fn group_by_name(&self, name: &str) -> Option<Group> {
        self.groups().into_iter().find(|g| g.name == name)
    }

    /// Member user ids of a group (`None` for an unknown group).
    pub fn members(&self, group_id: &str) -> Option<Vec<String>> {
        self.store().members(group_id).ok()
    }

    /// Shares a vault item with a group, as an admin does in the portal; deleting the group
    /// unshares it.
    pub fn share_item(&self, group_id: &str, item: &str) -> Result<(), ApiError> {
        self.store().share_item(group_id, item)
    }

    /// The vault items shared with a group (`None` for an unknown group).
    pub fn shared_items(&self, group_id: &str) -> Option<Vec<String>> {
        self.store().shared_items(group_id).ok()
    }
}

impl Drop for PbSim {
    fn drop(&mut self) {
        // The last company of its server stops it (and dropping the last sender stops it too).
        if Arc::strong_count(&self.shutdown) == 1 {
            let _ = self.shutdown.send(true);
        }
    }
}
