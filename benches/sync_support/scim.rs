//! The SCIM rows: the same connector and tenant synced into a local PyPI scim2-server (a SCIM
//! 2.0 server nobody here wrote), next to the protocol's lower bound in requests.
//!
//! The server is `$SCIM2_SERVER`, else `.tools/venv/bin/scim2-server` (installed by
//! `scripts/install-test-tools.sh`); missing, the bench fails saying so.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pbconnector::sync::secrets::SecretData;
use pbconnector::sync::state::ConnectorState;
use serde_json::json;

use crate::report::Row;
use crate::world::{Latency, World};

/// Objects per SCIM page the connector asks for (`count`); scim2-server serves up to 1,000.
pub const SCIM_PAGE: usize = pbconnector::scim::DEFAULT_PAGE_SIZE as usize;

/// A scim2-server child process on a free loopback port, killed on drop.
pub struct ScimProcess {
    child: Child,
    pub base_url: String,
    pub token: String,
}

impl ScimProcess {
    pub async fn start() -> Self {
        let binary = std::env::var_os("SCIM2_SERVER")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join(".tools/venv/bin/scim2-server")
            });
        assert!(
            binary.is_file(),
            "scim2-server not found at {}: run scripts/install-test-tools.sh or set SCIM2_SERVER",
            binary.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let token = format!("bench-{}", uuid::Uuid::new_v4().simple());
        let child = Command::new(&binary)
            .args(["--bearer-token", &token, "--hostname", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("scim2-server starts");
        let base_url = format!("http://127.0.0.1:{port}/v2");
        let deadline = Instant::now() + Duration::from_secs(60);
        let probe = format!("{base_url}/ServiceProviderConfig");
        loop {
            if reqwest::get(&probe)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            assert!(Instant::now() < deadline, "scim2-server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            child,
            base_url,
            token,
        }
    }
}

impl Drop for ScimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `world` pointed at `server` instead of Password Boss.
fn use_scim(world: &mut World, server: &ScimProcess) {
    world.spec.password_boss = None;
    world.spec.scim = Some(
        serde_json::from_value(json!({
            "baseUrl": server.base_url,
            "tokenSecretRef": {"name": "scim", "key": "token"},
        }))
        .expect("a SCIM spec"),
    );
    world.secrets.insert(
        "scim".into(),
        SecretData::from([("token".into(), server.token.as_bytes().to_vec())]),
    );
}

/// First sync, no change (after the writing sync, and steady), 1 % churn: SCIM requests against
/// the protocol's bound. scim2-server adds no latency of its own beyond its work, so the wall
/// bound is the Graph part.
pub async fn scenarios(n: usize, groups: usize, latency: Latency) -> Vec<Row> {
    let server = ScimProcess::start().await;
    let mut world = World::start(n, groups, latency).await;
    use_scim(&mut world, &server);
    let mut rows = Vec::new();
    let mode = "SCIM, delta";
    let graph_wall = |pages: u64| latency.graph * pages as u32;
    let pages = |k: usize| k.div_ceil(SCIM_PAGE).max(1) as u64;
    let g = groups as u64;

    // First sync: discovery, one (empty) page each of users and groups; a POST per user and per
    // group (members ride in the group's POST).
    let mut state = ConnectorState::default();
    let graph_pages = world.full_read_pages();
    let m = world.sync_target(&mut state).await;
    rows.push(Row::new(
        "first sync",
        n,
        mode,
        &m,
        graph_pages,
        3 + n as u64 + g,
        graph_wall((n as u64).div_ceil(crate::world::GRAPH_PAGE as u64)),
    ));

    // No change after a writing sync: discovery and every page of users and groups; then the
    // steady state: nothing.
    let reads = 1 + pages(world.members.len()) + pages(groups);
    let m = world.sync_target(&mut state).await;
    rows.push(Row::new(
        "no change, after a writing sync",
        n,
        mode,
        &m,
        1,
        reads,
        graph_wall(1),
    ));
    let m = world.sync_target(&mut state).await;
    rows.push(Row::new(
        "no change, steady",
        n,
        mode,
        &m,
        1,
        0,
        graph_wall(1),
    ));

    // 1 % churn: one write per changed user (POST, PATCH or PATCH active:false) and one PATCH
    // per mirrored group whose membership changed.
    let churn = world.churn(1.0);
    let m = world.sync_target(&mut state).await;
    rows.push(churn.row(n, mode, &m, |pages, _| graph_wall(pages)));
    rows
}
