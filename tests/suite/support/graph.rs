//! Shared set-up for the Graph client tests: a simulator with one tenant and app.
use std::sync::Arc;
use std::time::Duration;

use pbconnector::azure::{AzureConfig, Credential, GraphClient, RetryPolicy, TenantPacer};
use pbconnector::resources::AzureSpec;
use pbconnector_simulators::graph::{GraphSim, GraphSimulator, SimTenant};

pub const DOMAIN: &str = "contoso.onmicrosoft.com";
pub const SECRET: &str = "sim-secret-value-7Q~abc";

pub struct Env {
    pub sim: GraphSim,
    pub tenant: SimTenant,
    pub app: String,
}

pub async fn env() -> Env {
    let sim = GraphSimulator::start().await.expect("simulator starts");
    let tenant = sim.add_tenant(DOMAIN);
    let app = tenant.add_app();
    tenant.add_secret(&app, SECRET, false);
    Env { sim, tenant, app }
}

pub fn spec(sim: &GraphSim, tenant: &str, client_id: &str) -> AzureSpec {
    serde_json::from_value(serde_json::json!({
        "tenantId": tenant,
        "clientId": client_id,
        "authorityHost": sim.url(),
        "graphEndpoint": sim.url(),
        "clientSecretRef": {"name": "entra-app", "key": "client-secret"},
    }))
    .expect("valid spec")
}

pub fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
    }
}

impl Env {
    pub fn config(&self, credential: Credential) -> AzureConfig {
        AzureConfig::from_spec(&spec(&self.sim, DOMAIN, &self.app), credential).expect("config")
    }

    pub fn client(&self) -> GraphClient {
        self.client_with(Credential::ClientSecret(SECRET.into()))
    }

    pub fn client_with(&self, credential: Credential) -> GraphClient {
        GraphClient::build(
            self.config(credential),
            Arc::new(TenantPacer::default()),
            fast_policy(),
        )
        .expect("client")
    }

    /// `n` users named `prefix-i`; returns their ids.
    pub fn users(&self, prefix: &str, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                self.tenant.add_user(
                    &format!("{prefix} {i}"),
                    &format!("{prefix}{i}@contoso.com"),
                )
            })
            .collect()
    }
}
