//! Faults under a fleet of connectors, and what must hold after each: shared by the suite's
//! `e2e::faults` (20 connectors, one etcd kill) and the scenario at scale (`benches/faults.rs`,
//! run by `scripts/fault-scenario.sh`), which include this file and `apiserver.rs` as they are.
//!
//! - `Fleet`: one sample tenant and company (both simulators, in this process) per connector,
//!   each connector in a namespace of its own, as MSPs lay them out.
//! - `OperatorProcess`: the built `pbconnector run` as a process of its own, which a fault can
//!   SIGKILL and start again, with its CPU time read from `/proc`.
//! - A fault round: every connector is given one intended change of each kind (one member joins
//!   the sync group: one create; one leaves it: one disable, which spends the safety budget), every
//!   company holds its writes (`Faults::hold_writes`) until each has one on the wire, the fault
//!   strikes, the writes go on, and the fleet converges.
//! - The invariants (`Fleet::check_round`): every intended change applied exactly once (the
//!   simulator's write log: no applied write repeated, no create refused as existing), the
//!   safety record in status still counts every destructive write applied, every status
//!   converged; the operator's requests to the API server by verb, from its audit log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use pbconnector::resources::{AzureAdConnector, AzureAdConnectorStatus, Connection};
use pbconnector_simulators::passwordboss::WriteRecord;
use pbconnector_simulators::passwordboss::wire::UserStatus;
use pbconnector_simulators::sample::{SampleEnvironment, SampleOptions};

use crate::support::apiserver::{self, AuditEvent};

/// How many fault rounds a fleet supports: each round moves one regular member (of the first
/// four, all direct members of the sync group) out and one outsider in.
pub const MAX_ROUNDS: usize = 4;

/// How many API requests the fleet's set-up keeps in flight.
const SETUP_CONCURRENCY: usize = 16;

/// The connectors and their simulators.
pub struct Fleet {
    pub members: Vec<Member>,
}

/// One connector: its namespace, its simulators, and what its company held once first synced.
pub struct Member {
    pub namespace: String,
    pub env: SampleEnvironment,
    /// Users of the Entra connector (`managedBy` Azure AD) in the company after the first sync.
    baseline_users: usize,
}

impl Fleet {
    /// Starts `size` sample environments (`users` members each, `interval`) and creates their
    /// namespaces (`{prefix}-{i}`), Secrets and connectors with `client` (the admin).
    pub async fn create(
        client: &Client,
        prefix: &str,
        size: usize,
        users: usize,
        interval: &str,
    ) -> Fleet {
        // Each round disables one user; the sample's safety limits allow 20% of the managed
        // users per 24 h, so every round's disable fits only with five users per round.
        assert!(
            users >= 5 * MAX_ROUNDS,
            "{users} users: at least {} keep {MAX_ROUNDS} rounds of disables within the 20% limit",
            5 * MAX_ROUNDS
        );
        let mut members = Vec::with_capacity(size);
        for i in 0..size {
            let env = SampleEnvironment::start(SampleOptions {
                users,
                interval: interval.into(),
                ..SampleOptions::default()
            })
            .await
            .expect("the simulators start");
            members.push(Member {
                namespace: format!("{prefix}-{i:05}"),
                env,
                baseline_users: 0,
            });
        }
        futures::stream::iter(&members)
            .map(|m| create_connector(client, m))
            .buffer_unordered(SETUP_CONCURRENCY)
            .collect::<Vec<()>>()
            .await;
        Fleet { members }
    }

    /// Every connector's status, by namespace (one list of the fleet's connectors).
    pub async fn statuses(&self, client: &Client) -> BTreeMap<String, AzureAdConnectorStatus> {
        let mut by_namespace: BTreeMap<String, AzureAdConnectorStatus> =
            Api::<AzureAdConnector>::all(client.clone())
                .list(&ListParams::default())
                .await
                .expect("the connectors are listed")
                .items
                .into_iter()
                .filter_map(|c| Some((c.metadata.namespace?, c.status?)))
                .collect();
        self.members
            .iter()
            .filter_map(|m| Some((m.namespace.clone(), by_namespace.remove(&m.namespace)?)))
            .collect()
    }

    /// Waits until every connector has converged on `rounds` rounds of changes (`Member::lag`),
    /// failing with the laggards after `timeout` (a bound on a hung fleet, not a measurement).
    /// The first call (`rounds` 0) records each company's users as its baseline.
    pub async fn wait_converged(&mut self, client: &Client, rounds: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let statuses = self.statuses(client).await;
            let lagging: Vec<String> = self
                .members
                .iter()
                .filter_map(|m| {
                    m.lag(statuses.get(&m.namespace), rounds)
                        .map(|why| format!("{}: {why}", m.namespace))
                })
                .collect();
            if lagging.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {} connectors not converged on round {rounds} after {timeout:?}, e.g. {:#?}",
                lagging.len(),
                self.members.len(),
                &lagging[..lagging.len().min(10)]
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if rounds == 0 {
            for m in &mut self.members {
                m.baseline_users = m.env.password_boss.azure_users().len();
            }
        }
    }

    /// Round `round` (1-based): every connector's tenant moves one member out of the sync group
    /// and one outsider in, and every company holds the writes that arrive from now on.
    /// Returns each company's write-log length before the round (for `check_round`).
    pub fn begin_round(&self, round: usize) -> Vec<usize> {
        assert!(
            (1..=MAX_ROUNDS).contains(&round),
            "rounds are 1..={MAX_ROUNDS}"
        );
        self.members
            .iter()
            .map(|m| {
                let env = &m.env;
                let logged = env.password_boss.write_log().len();
                env.password_boss.faults().hold_writes();
                env.tenant
                    .remove_member(&env.sync_group_id, &env.members[round - 1]);
                env.tenant
                    .add_member(&env.sync_group_id, &env.outsiders[round - 1]);
                logged
            })
            .collect()
    }

    /// Waits until at least `companies` companies each hold a write of this round on the wire
    /// (the syncs are mid-apply), failing after `timeout`.
    pub async fn wait_writes_held(&self, companies: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let holding = self
                .members
                .iter()
                .filter(|m| m.env.password_boss.faults().writes_waiting() > 0)
                .count();
            if holding >= companies {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {holding} of {companies} companies received a write within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Lets every held write through, and holds no more.
    pub fn release_writes(&self) {
        for m in &self.members {
            m.env.password_boss.faults().release_writes();
        }
    }

    /// The invariants after a round, given its `begin_round`'s write-log lengths: for each
    /// company, the round's intended changes applied exactly once, no applied write repeated, no
    /// write refused as a duplicate, and the safety record counting every destructive write
    /// applied since the start. Returns every violation (empty: all held).
    pub async fn check_round(&self, client: &Client, before: &[usize]) -> Vec<String> {
        let statuses = self.statuses(client).await;
        let mut violations = Vec::new();
        for (m, &from) in self.members.iter().zip(before) {
            let log = m.env.password_boss.write_log();
            let round_log = &log[from..];
            let mut problems = repeated_writes(round_log);
            let creates = round_log
                .iter()
                .filter(|w| w.applied() && is_create(w))
                .count();
            let disables = round_log
                .iter()
                .filter(|w| w.applied() && is_disable(w))
                .count();
            if creates != 1 {
                problems.push(format!("{creates} users created for the one joiner"));
            }
            if disables != 1 {
                problems.push(format!("{disables} users disabled for the one leaver"));
            }
            let destructive = log
                .iter()
                .filter(|w| w.applied() && is_destructive(w))
                .count();
            let spent = statuses.get(&m.namespace).map_or(0, spent_changes);
            if (spent as usize) < destructive {
                problems.push(format!(
                    "the safety record counts {spent} changes spent, {destructive} destructive \
                     writes were applied"
                ));
            }
            violations.extend(
                problems
                    .into_iter()
                    .map(|p| format!("{}: {p}", m.namespace)),
            );
        }
        violations
    }
}

impl Member {
    /// Why this connector has not converged on `rounds` rounds (`None`: it has): Connected, its
    /// status counting `rounds` disabled users, and the company holding every joiner active and
    /// every leaver disabled.
    fn lag(&self, status: Option<&AzureAdConnectorStatus>, rounds: usize) -> Option<String> {
        let Some(status) = status else {
            return Some("no status yet".into());
        };
        if status.connection != Connection::Connected {
            return Some(format!("{:?}: {}", status.connection, status.message));
        }
        if status.users.disabled as usize != rounds {
            return Some(format!(
                "status counts {} disabled users, {rounds} expected",
                status.users.disabled
            ));
        }
        let pb = &self.env.password_boss;
        if rounds > 0 && pb.azure_users().len() != self.baseline_users + rounds {
            return Some(format!(
                "the company has {} connector users, {} expected",
                pb.azure_users().len(),
                self.baseline_users + rounds
            ));
        }
        for round in 0..rounds {
            let joiner = self.env.tenant.user(&self.env.outsiders[round])?;
            let mail = joiner.mail.unwrap_or(joiner.user_principal_name);
            match pb.user_by_email(&mail) {
                Some(u) if u.status == UserStatus::Active => {}
                other => return Some(format!("joiner {mail} is {other:?}")),
            }
        }
        None
    }
}

async fn create_connector(client: &Client, m: &Member) {
    let ns = &m.namespace;
    let namespace: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).expect("a namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .expect("the namespace is created");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    for (name, data) in m.env.secrets() {
        let data: BTreeMap<String, String> = data
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v).expect("sample secrets are text")))
            .collect();
        let secret: Secret = serde_json::from_value(
            serde_json::json!({"metadata": {"name": name}, "stringData": data}),
        )
        .expect("a secret");
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("the secret is created");
    }
    let connector: AzureAdConnector =
        serde_json::from_value(m.env.connector_json(ns)).expect("the sample connector parses");
    Api::<AzureAdConnector>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &connector)
        .await
        .expect("the connector is created");
}

/// `POST /v1/users`.
pub fn is_create(w: &WriteRecord) -> bool {
    w.method == "POST" && w.path.starts_with("/v1/users")
}

/// `PATCH /v1/users/{id}` setting the status to disabled.
pub fn is_disable(w: &WriteRecord) -> bool {
    w.method == "PATCH"
        && w.path.starts_with("/v1/users/")
        && serde_json::from_str::<serde_json::Value>(&w.body)
            .is_ok_and(|b| b["status"] == "disabled")
}

/// A write the safety budget must have paid for: a disable, or a user or group deleted.
fn is_destructive(w: &WriteRecord) -> bool {
    is_disable(w) || (w.method == "DELETE" && w.path.starts_with("/v1/"))
}

/// Applied writes that repeat an earlier applied one (same method, path and body), and writes
/// refused because what they create exists (409): each described once.
pub fn repeated_writes(log: &[WriteRecord]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut problems = Vec::new();
    for w in log {
        if w.status == 409 {
            problems.push(format!("{} {} refused 409: {}", w.method, w.path, w.body));
        } else if w.applied() && !seen.insert((&w.method, &w.path, &w.body)) {
            problems.push(format!("{} {} applied twice: {}", w.method, w.path, w.body));
        }
    }
    problems
}

/// The changes the connector's safety record counts as spent (`status.safety.spent`).
pub fn spent_changes(status: &AzureAdConnectorStatus) -> u32 {
    status
        .safety
        .as_ref()
        .map_or(0, |s| s.spent.iter().map(|c| c.changes).sum())
}

/// The operator's requests (ServiceAccount users) among `events`: by verb, list and watch by
/// resource, and how many the server answered 429.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct OperatorRequests {
    pub by_verb: BTreeMap<String, u64>,
    /// `list <resource>` and `watch <resource>`: a relist per connector shows here.
    pub lists_and_watches: BTreeMap<String, u64>,
    pub throttled: u64,
}

impl OperatorRequests {
    pub fn of(events: &[AuditEvent]) -> Self {
        let mut out = Self::default();
        for e in events
            .iter()
            .filter(|e| e.user.username.starts_with("system:serviceaccount:"))
        {
            *out.by_verb.entry(e.verb.clone()).or_default() += 1;
            if matches!(e.verb.as_str(), "list" | "watch") {
                *out.lists_and_watches
                    .entry(format!("{} {}", e.verb, e.resource()))
                    .or_default() += 1;
            }
            if e.code() == 429 {
                out.throttled += 1;
            }
        }
        out
    }

    /// The most lists and watches of any one resource the operator watches: a watch that
    /// resumes adds one watch, one that relists a list and a watch; a relist per connector adds
    /// one per connector. (Lists of resources it does not watch, such as the company claims a
    /// new process looks up once per connector, are in `lists_and_watches` but not here.)
    pub fn most_per_watched_resource(&self) -> u64 {
        self.lists_and_watches
            .keys()
            .filter_map(|k| k.strip_prefix("watch "))
            .map(|resource| {
                ["list", "watch"]
                    .iter()
                    .map(|verb| {
                        self.lists_and_watches
                            .get(&format!("{verb} {resource}"))
                            .copied()
                            .unwrap_or(0)
                    })
                    .sum()
            })
            .max()
            .unwrap_or(0)
    }
}

/// The built `pbconnector run` as a process of its own, killed with the process that started it.
pub struct OperatorProcess {
    child: Child,
    pub addr: String,
    binary: PathBuf,
    kubeconfig: PathBuf,
    log: PathBuf,
    extra: Vec<String>,
}

impl OperatorProcess {
    /// Starts `binary run` with `kubeconfig`, allowed the loopback simulators, with `extra`
    /// flags, logging (JSON) to `log` (appended); does not wait for it to be ready.
    pub fn start(binary: &Path, kubeconfig: &Path, log: &Path, extra: &[&str]) -> Self {
        let addr = free_addr();
        Self {
            child: launch(binary, kubeconfig, log, extra, &addr),
            addr,
            binary: binary.to_owned(),
            kubeconfig: kubeconfig.to_owned(),
            log: log.to_owned(),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running (it did not exit).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL (no shutdown of its own: in-flight writes are cut off), waiting until it is gone.
    pub fn sigkill(&mut self) {
        // `Child::kill` is SIGKILL on Unix.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A new process with the same flags, after `sigkill` (a pod restarted by its kubelet).
    pub fn start_again(&mut self) {
        assert!(!self.alive(), "start_again after the process is gone");
        self.addr = free_addr();
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        self.child = launch(
            &self.binary,
            &self.kubeconfig,
            &self.log,
            &extra,
            &self.addr,
        );
    }

    /// CPU seconds (user + system, all threads) the process used so far (`/proc/PID/stat`).
    pub fn cpu_seconds(&self) -> f64 {
        let path = format!("/proc/{}/stat", self.pid());
        let stat = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // The fields after the command name (which is in parentheses and may hold spaces);
        // utime and stime are fields 14 and 15 of the whole line.
        let rest = &stat[stat.rfind(')').expect("a command name") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        ticks as f64 / pbconnector_testkit::clock_ticks_per_second()
    }

    /// Syncs ended so far (`pbconnector_syncs_total`, every result), `None` while `/metrics`
    /// does not answer.
    pub async fn syncs(&self) -> Option<u64> {
        let text = reqwest::get(format!("http://{}/metrics", self.addr))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        Some(
            text.lines()
                .filter(|l| l.starts_with("pbconnector_syncs_total"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>() as u64,
        )
    }

    /// Waits until `/readyz` answers 200, failing with the log's tail after `timeout`.
    pub async fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let ready = reqwest::get(format!("http://{}/readyz", self.addr))
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            assert!(self.alive(), "the operator exited:\n{}", self.log_tail());
            assert!(
                Instant::now() < deadline,
                "the operator was not ready within {timeout:?}:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last 40 lines of the log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        self.sigkill();
    }
}

/// A free loopback address for the operator's HTTP server.
fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    format!("127.0.0.1:{port}")
}

fn launch(binary: &Path, kubeconfig: &Path, log: &Path, extra: &[&str], addr: &str) -> Child {
    let file = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("the operator's log file")
    };
    let mut cmd = Command::new(binary);
    cmd.args(["run", "--listen-addr", addr, "--log-format", "json"])
        .arg("--allow-loopback-endpoints")
        .args(extra)
        .env("KUBECONFIG", kubeconfig)
        .env("POD_NAME", "pbconnector-faults")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(file())
        .stderr(file());
    apiserver::spawn(cmd)
}
