//! One connector's world in the simulators, and the single-connector scenarios: first sync,
//! no-change sync, 1 % churn, each with delta reads and as a full re-list baseline.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pbconnector::resources::AzureAdConnectorSpec;
use pbconnector::sync::report::SyncReport;
use pbconnector::sync::secrets::SecretData;
use pbconnector::sync::state::ConnectorState;
use pbconnector::sync::{ConnectorKey, SyncRequest, read_credentials, run_sync};
use pbconnector_simulators::graph::{GraphSim, GraphSimulator, SimTenant};
use pbconnector_simulators::passwordboss::{PbSim, SimConfig};
use pbconnector_testkit::alloc;
use serde::Serialize;
use serde_json::json;

use crate::report::{Row, peak_rss_kb, reset_peak_rss};

/// What one churn changed.
pub struct Churn {
    /// Users renamed, joined or left.
    pub changed: usize,
    pub renamed: usize,
    pub joined: usize,
    /// Mirrored groups whose membership changed.
    pub groups_touched: usize,
}

impl Churn {
    /// The churn's row. Bounds: the users delta pages of the renamed users (the groups round's
    /// first page rides in the same `$batch`), then the joiners' attributes (group delta names
    /// members by id only; one `$batch` reads up to 1,000 users); one write per changed user and
    /// per mirrored group whose membership changed.
    pub fn row(
        &self,
        n: usize,
        mode: &str,
        m: &Measured,
        wall_bound: impl Fn(u64, u64) -> Duration,
    ) -> Row {
        let graph = (self.renamed as u64).div_ceil(DELTA_PAGE as u64).max(1)
            + (self.joined as u64).div_ceil(USERS_PER_ATTRIBUTE_BATCH as u64);
        let writes = (self.changed + self.groups_touched) as u64;
        Row::new(
            "1 % churn",
            n,
            mode,
            m,
            graph,
            writes,
            wall_bound(graph, writes),
        )
    }
}

/// Joiners in a churn of `k` users: a third.
fn joiners_of(k: usize) -> usize {
    k / 3
}

/// Joiners in a 1 % churn of `n` users.
fn joiners(n: usize) -> usize {
    joiners_of(n.div_ceil(100).max(3))
}

/// Users whose attributes one `$batch` reads: 20 users-delta queries filtered by 50 ids each.
pub const USERS_PER_ATTRIBUTE_BATCH: usize = 1000;

/// Graph `$top` maximum: members per page.
pub const GRAPH_PAGE: usize = 999;
/// Objects per delta page: delta takes no `$top`, the server picks (the simulator, like
/// Graph's default, serves 100).
pub const DELTA_PAGE: usize = pbconnector_simulators::graph::DEFAULT_PAGE_SIZE;
/// Objects per Password Boss page the connector asks for.
pub const PB_PAGE: usize = pbconnector::passwordboss::DEFAULT_PAGE_SIZE as usize;
/// The executor's default concurrency.
pub const PB_CONCURRENCY: usize = 8;

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Latency {
    #[serde(serialize_with = "as_ms")]
    pub graph: Duration,
    #[serde(serialize_with = "as_ms")]
    pub password_boss: Duration,
}

fn as_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// What one sync cost, from the simulators' counters (the ground truth) and the report. Graph
/// requests exclude token requests (one an hour per connector; not Graph calls).
pub struct Measured {
    pub report: SyncReport,
    pub wall: Duration,
    pub graph_requests: u64,
    pub pb_reads: u64,
    pub pb_writes: u64,
    pub peak_rss_kb: u64,
}

pub struct World {
    pub graph: GraphSim,
    pub tenant: SimTenant,
    pub password_boss: PbSim,
    pub spec: AzureAdConnectorSpec,
    pub secrets: BTreeMap<String, SecretData>,
    pub sync_group: String,
    /// Mirrored groups (id) and the users (ids) of each.
    pub groups: Vec<(String, Vec<String>)>,
    /// Users still in the sync group, in order.
    pub members: Vec<String>,
    /// Users in the tenant, not in the sync group, that churn makes join it.
    reserve: Vec<String>,
    /// Churn rounds so far (each renames to new names).
    churns: usize,
}

/// A connector spec against the simulators. `tenant` is a domain; the sync group is found by
/// name (as real connectors are configured), mirrored groups by id.
pub fn spec(
    graph: &GraphSim,
    tenant: &str,
    app: &str,
    pb: &PbSim,
    groups: &[String],
) -> AzureAdConnectorSpec {
    let url = graph.url().trim_end_matches('/');
    serde_json::from_value(json!({
        "azure": {
            "tenantId": tenant, "clientId": app,
            "authorityHost": url, "graphEndpoint": url,
            "clientSecretRef": {"name": "entra-app", "key": "client-secret"}
        },
        "passwordBoss": {
            "apiUrl": pb.url().as_str().trim_end_matches('/'),
            "tokenSecretRef": {"name": "passwordboss", "key": "token"}
        },
        "syncGroup": {"displayName": "Password Boss Users"},
        "groups": groups.iter().map(|id| json!({"id": id})).collect::<Vec<_>>(),
        "nestedGroups": false,
        // Churn deprovisions more than the default safety limits allow in one sync and in one
        // window: the scenarios measure syncs that apply it (held changes would write less).
        "safety": {
            "maxDeprovisionsPerSync": 1_000_000,
            "maxDeprovisionsPerWindow": 1_000_000,
            "maxDeprovisionPercent": 100
        }
    }))
    .expect("a valid spec")
}

pub fn secrets(client_secret: &str, pb: &PbSim) -> BTreeMap<String, SecretData> {
    BTreeMap::from([
        (
            "entra-app".to_string(),
            SecretData::from([("client-secret".into(), client_secret.as_bytes().to_vec())]),
        ),
        (
            "passwordboss".to_string(),
            SecretData::from([("token".into(), pb.token().as_bytes().to_vec())]),
        ),
    ])
}

impl World {
    /// `n` users in the sync group, partitioned into `groups` mirrored groups; Password Boss
    /// empty (the first sync creates everyone).
    pub async fn start(n: usize, groups: usize, latency: Latency) -> Self {
        let graph = GraphSimulator::start().await.expect("Graph simulator");
        let tenant = graph.add_tenant("contoso.onmicrosoft.com");
        let app = tenant.add_app();
        tenant.add_secret(&app, "bench-secret", false);
        let sync_group = tenant.add_group("Password Boss Users");
        let mut mirrored: Vec<(String, Vec<String>)> = (0..groups)
            .map(|g| (tenant.add_group(&format!("Department {g}")), Vec::new()))
            .collect();
        let mut members = Vec::with_capacity(n);
        for i in 0..n {
            let id = tenant.add_user(&format!("User Number{i}"), &format!("user{i}@contoso.com"));
            tenant.add_member(&sync_group, &id);
            if groups > 0 {
                let (gid, users) = &mut mirrored[i % groups];
                tenant.add_member(gid, &id);
                users.push(id.clone());
            }
            members.push(id);
        }
        // Joiners exist in Entra before the first sync (hires are created, then added to the
        // group), so the users delta does not bring their attributes: enough for two churns.
        let reserve = (0..2 * joiners(n) + 2)
            .map(|i| {
                tenant.add_user(
                    &format!("Joiner Number{i}"),
                    &format!("joiner{i}@contoso.com"),
                )
            })
            .collect();
        let password_boss = PbSim::start(SimConfig {
            license_total: (n + 100) as u32,
            ..SimConfig::default()
        })
        .await
        .expect("Password Boss simulator");
        graph.faults().set_delay(Some(latency.graph));
        password_boss.faults().set_latency(latency.password_boss);
        let ids: Vec<String> = mirrored.iter().map(|(id, _)| id.clone()).collect();
        let spec = spec(
            &graph,
            "contoso.onmicrosoft.com",
            &app,
            &password_boss,
            &ids,
        );
        let secrets = secrets("bench-secret", &password_boss);
        Self {
            graph,
            tenant,
            password_boss,
            spec,
            secrets,
            sync_group,
            groups: mirrored,
            members,
            reserve,
            churns: 0,
        }
    }

    /// One sync with `state`, measured.
    pub async fn sync(&self, state: &mut ConnectorState, delta: bool) -> Measured {
        let credentials = read_credentials(&self.spec, "bench", |n| self.secrets.get(n).cloned());
        let request = SyncRequest {
            delta,
            ..SyncRequest::new(ConnectorKey::new("bench", "connector"), self.spec.clone())
        };
        let graph_before = self.graph.requests().graph_http();
        let pb_before = self.password_boss.requests();
        reset_peak_rss();
        let started = Instant::now();
        let report = run_sync(&request, credentials, state).await;
        let wall = started.elapsed();
        assert!(report.succeeded(), "the sync failed: {:?}", report.failure);
        assert_eq!(
            report.blocked_deprovisions, 0,
            "the safety limits held changes back: the scenario would not measure what it says"
        );
        let pb_after = self.password_boss.requests();
        Measured {
            report,
            wall,
            graph_requests: self.graph.requests().graph_http() - graph_before,
            pb_reads: pb_after.reads() - pb_before.reads(),
            pb_writes: pb_after.writes() - pb_before.writes(),
            peak_rss_kb: peak_rss_kb(),
        }
    }

    /// One sync with `state`, measured from the report (the target's own counting, every
    /// attempt included): for a target that is not the Password Boss simulator.
    pub async fn sync_target(&self, state: &mut ConnectorState) -> Measured {
        let credentials = read_credentials(&self.spec, "bench", |n| self.secrets.get(n).cloned());
        let request = SyncRequest::new(ConnectorKey::new("bench", "connector"), self.spec.clone());
        let graph_before = self.graph.requests().graph_http();
        reset_peak_rss();
        let started = Instant::now();
        let report = run_sync(&request, credentials, state).await;
        let wall = started.elapsed();
        assert!(report.succeeded(), "the sync failed: {:?}", report.failure);
        assert_eq!(report.blocked_deprovisions, 0, "nothing held back");
        assert!(report.conflicts.is_empty(), "{:?}", report.conflicts);
        let writes = u64::from(report.password_boss_writes);
        let reads = u64::from(report.password_boss_requests) - writes;
        Measured {
            report,
            wall,
            graph_requests: self.graph.requests().graph_http() - graph_before,
            pb_reads: reads,
            pb_writes: writes,
            peak_rss_kb: peak_rss_kb(),
        }
    }

    /// 1 % churn: a third renamed, a third joining (added to the sync group and a mirrored
    /// group, as onboarding does), a third leaving (removed from both, as offboarding does).
    pub fn churn(&mut self, percent: f64) -> Churn {
        let k = ((self.members.len() as f64 * percent / 100.0).ceil() as usize).max(3);
        let renamed = k / 3;
        let joined = joiners_of(k);
        self.churns += 1;
        for (j, id) in self.members.iter().step_by(7).take(renamed).enumerate() {
            let surname = format!("Person{j}Round{}", self.churns);
            self.tenant.set_names(id, "Renamed", &surname);
        }
        let mut touched = std::collections::BTreeSet::new();
        for j in 0..joined {
            let id = self.reserve.pop().expect("joiners left");
            self.tenant.add_member(&self.sync_group, &id);
            let g = j % self.groups.len().max(1);
            if let Some((gid, users)) = self.groups.get_mut(g) {
                self.tenant.add_member(gid, &id);
                users.push(id.clone());
                touched.insert(g);
            }
            self.members.insert(0, id);
        }
        for _ in 0..(k - renamed - joined) {
            let id = self.members.pop().expect("members left");
            self.tenant.remove_member(&self.sync_group, &id);
            for (g, (gid, users)) in self.groups.iter_mut().enumerate() {
                if let Some(pos) = users.iter().position(|u| *u == id) {
                    users.swap_remove(pos);
                    self.tenant.remove_member(gid, &id);
                    touched.insert(g);
                }
            }
        }
        Churn {
            changed: k,
            renamed,
            joined,
            groups_touched: touched.len(),
        }
    }

    /// Member pages of a full read: ⌈members/999⌉ for the sync group and each mirrored group.
    /// Requests a full Password Boss read takes: the connector, the user and group pages, and
    /// the members of each Azure AD group (one request each).
    pub fn password_boss_read_pages(&self) -> u64 {
        let pages = |n: usize| n.div_ceil(PB_PAGE).max(1) as u64;
        let groups = self.password_boss.groups();
        let azure = groups
            .iter()
            .filter(|g| {
                g.managed_by == pbconnector_simulators::passwordboss::wire::MANAGED_BY_AZURE_AD
            })
            .count() as u64;
        1 + pages(self.password_boss.users().len()) + pages(groups.len()) + azure
    }

    pub fn full_read_pages(&self) -> u64 {
        let pages = |n: usize| n.div_ceil(GRAPH_PAGE).max(1) as u64;
        pages(self.members.len()) + self.groups.iter().map(|(_, u)| pages(u.len())).sum::<u64>()
    }

    /// Every scenario for one size: the rows and the operator's bytes per managed user.
    pub async fn scenarios(n: usize, groups: usize, latency: Latency) -> (Vec<Row>, f64) {
        let mut world = World::start(n, groups, latency).await;
        let mut rows = Vec::new();
        let wall_bound = |graph_pages: u64, writes: u64| {
            latency.graph * graph_pages as u32
                + latency.password_boss * writes.div_ceil(PB_CONCURRENCY as u64) as u32
        };
        let g = groups as u64;

        // First sync: every user created, every group created and filled.
        let mut state = ConnectorState::default();
        let pages = world.full_read_pages();
        let m = world.sync(&mut state, true).await;
        let writes_bound = n as u64 + 2 * g;
        let largest_group_pages = (n as u64).div_ceil(GRAPH_PAGE as u64);
        // An empty company is read in 3 requests: the connector, one user page, one group page.
        let first_reads = 3;
        rows.push(Row::new(
            "first sync",
            n,
            "delta",
            &m,
            pages,
            first_reads + writes_bound,
            wall_bound(largest_group_pages, writes_bound),
        ));

        // No change: one delta round, nothing written. The first such sync reads Password Boss
        // (the first sync wrote, so its state was not kept); the next, the steady state, reads
        // nothing from it.
        let reads = world.password_boss_read_pages();
        let m = world.sync(&mut state, true).await;
        rows.push(Row::new(
            "no change, after a writing sync",
            n,
            "delta",
            &m,
            1,
            reads,
            wall_bound(1, 0) + latency.password_boss * reads as u32,
        ));
        let m = world.sync(&mut state, true).await;
        rows.push(Row::new(
            "no change, steady",
            n,
            "delta",
            &m,
            1,
            0,
            wall_bound(1, 0),
        ));

        // 1 % churn through delta, from the steady state; then the sync after it, which reads
        // Password Boss afresh.
        let churn = world.churn(1.0);
        let m = world.sync(&mut state, true).await;
        rows.push(churn.row(n, "delta", &m, wall_bound));
        let reads = world.password_boss_read_pages();
        let m = world.sync(&mut state, true).await;
        rows.push(Row::new(
            "no change, after 1 % churn",
            n,
            "delta",
            &m,
            1,
            reads,
            wall_bound(1, 0) + latency.password_boss * reads as u32,
        ));

        // The operator's memory for this connector: what dropping its state gives back.
        let held = alloc::live();
        drop(state);
        let per_user = (held - alloc::live()) as f64 / world.members.len() as f64;

        // Baseline: the same scenarios with a full re-list every sync.
        let mut baseline = ConnectorState::default();
        let m = world.sync(&mut baseline, false).await;
        rows.push(Row::new(
            "no change",
            n,
            "full re-list",
            &m,
            1,
            0,
            wall_bound(1, 0),
        ));
        let churn = world.churn(1.0);
        let m = world.sync(&mut baseline, false).await;
        rows.push(churn.row(n, "full re-list", &m, wall_bound));
        (rows, per_user)
    }
}
