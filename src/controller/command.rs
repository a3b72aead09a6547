//! `pbconnector run`: flags, logging, the health server, signals, then [`super::run()`].

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::ArgAction;
use kube::Client;

use super::endpoints::{BadAllowedHost, EndpointPolicy};
use super::engine::SyncEngine;
use super::leader::LeaderElection;
use super::policy::CredentialPolicy;
use super::run::{ControllerConfig, run};
use super::shard::{Shard, ShardError};
use crate::telemetry::logging::{self, LogFormat};
use crate::telemetry::server;

/// Flags of `pbconnector run` (the Helm chart passes exactly these).
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Watch only these namespaces (comma-separated); none watches all namespaces.
    #[arg(
        long = "namespace",
        env = "WATCH_NAMESPACE",
        value_delimiter = ',',
        num_args = 0..
    )]
    pub namespaces: Vec<String>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "PBCONNECTOR_LISTEN_ADDR", default_value = "0.0.0.0:8080")]
    pub listen_addr: SocketAddr,
    /// Run the controller only while holding the leader Lease.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    pub leader_elect: bool,
    /// Name of the leader Lease.
    #[arg(long, default_value = "pbconnector-leader")]
    pub lease_name: String,
    /// The operator's namespace: where the leader Lease and the company claims (Leases) live
    /// (default: the client's namespace).
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Split the connectors between this many shards (replica sets), by a fixed hash of their
    /// namespace's name; more than 1 needs --leader-elect (one Lease per shard).
    #[arg(long, env = "PBCONNECTOR_SHARDS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub shards: u32,
    /// The shard this process reconciles the connectors of, 0 to --shards - 1.
    #[arg(long, env = "PBCONNECTOR_SHARD", default_value_t = 0)]
    pub shard: u32,
    /// At most this many syncs at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrent_syncs: u16,
    /// Stop a sync that takes longer than this (Microsoft Graph and Password Boss together);
    /// it fails with SyncDeadlineExceeded and the other connectors are not held up.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = crate::resources::parse_duration)]
    pub sync_deadline: Duration,
    /// The longest wait between two attempts of a quarantined connector (one whose
    /// credentials were refused in a way waiting will not fix: attempts back off from its
    /// interval, doubling, to this); a connector waiting for consent caps at 15 minutes.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = crate::resources::parse_duration)]
    pub quarantine_ceiling: Duration,
    /// While a sync runs longer than this many seconds, its progress goes into
    /// status.message, at most this often.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub progress_status_interval: u64,
    /// A shared app's (AzureAdApplication's) bound tenant that no connector's token request
    /// spoke of for this long gets one probe token request, at most once per this long; its
    /// consent goes into the app's status.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = crate::resources::parse_duration)]
    pub consent_probe_interval: Duration,
    /// Log line format.
    #[arg(long, value_enum, default_value = "json")]
    pub log_format: LogFormat,
    /// Log filter, RUST_LOG style (e.g. `info` or `pbconnector=debug`).
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Hosts (`host` or `host:port`, comma-separated) connectors may name in authorityHost,
    /// graphEndpoint and apiUrl, beyond the built-in hosts of each cloud and of Password Boss.
    #[arg(
        long,
        env = "PBCONNECTOR_ALLOWED_ENDPOINT_HOSTS",
        value_delimiter = ',',
        num_args = 0..
    )]
    pub allowed_endpoint_hosts: Vec<String>,
    /// Let connectors name loopback endpoints (127.0.0.0/8, ::1, localhost): tests and demos only.
    #[arg(long, env = "PBCONNECTOR_ALLOW_LOOPBACK_ENDPOINTS", action = ArgAction::Set, num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    pub allow_loopback_endpoints: bool,
    /// Let connectors present the operator's own workload identity
    /// (`workloadIdentity: {operatorIdentity: true}`), not only a ServiceAccount of their namespace.
    #[arg(long, env = "PBCONNECTOR_ALLOW_OPERATOR_WORKLOAD_IDENTITY", action = ArgAction::Set, num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    pub allow_operator_workload_identity: bool,
    /// Fleet-wide freeze: hold every destructive change (disable, remove, delete, group member
    /// removed, group deleted) in every connector, whatever its safety limits; creates and
    /// updates go on. Each connector shows it (DeprovisionBlocked and Ready reason `Frozen`,
    /// the held set in status.blocked); no approval releases it. For the day something
    /// upstream looks wrong.
    #[arg(long, env = "PBCONNECTOR_FREEZE_DESTRUCTIVE", action = ArgAction::Set, num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    pub freeze_destructive: bool,
    /// The pod's memory limit, bytes or a Kubernetes quantity (`256Mi`); the chart passes
    /// `limits.memory` through the downward API. A third of it, at most 256 MiB, is the budget
    /// every buffered response body of every sync shares; unset, the budget is 85 MiB (a third of 256Mi).
    #[arg(long, env = "PBCONNECTOR_MEMORY_LIMIT", value_name = "BYTES", value_parser = parse_memory_limit)]
    pub memory_limit: Option<u64>,
}

/// A memory limit: plain bytes (what the downward API gives with its default divisor) or a
/// Kubernetes quantity with a binary or decimal suffix; at least 64 MiB.
pub fn parse_memory_limit(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let units: [(&str, u64); 8] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    let (number, unit) = units
        .iter()
        .find_map(|(suffix, unit)| text.strip_suffix(suffix).map(|n| (n, *unit)))
        .unwrap_or((text, 1));
    let bytes = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| {
            format!("{text:?} is not a memory size: give bytes (268435456) or a quantity (256Mi)")
        })?;
    if bytes < crate::bounded::budget::MIN_MEMORY_LIMIT_BYTES {
        return Err(format!(
            "a memory limit of {bytes} bytes is below the operator's minimum of 64Mi: the \
             process alone needs about 48Mi (README, Sizing)"
        ));
    }
    Ok(bytes)
}

/// Flags that do not fit together.
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    #[error(transparent)]
    AllowedHost(#[from] BadAllowedHost),
    #[error(transparent)]
    Shard(#[from] ShardError),
    #[error(
        "--shards {count} needs --leader-elect: each shard runs under a Lease of its own, which \
         also keeps a changed shard count from having two writers"
    )]
    ShardsWithoutLeaderElection { count: u32 },
}

impl RunArgs {
    /// The controller configuration these flags describe.
    pub fn config(
        &self,
        identity: String,
        default_namespace: &str,
    ) -> Result<ControllerConfig, FlagError> {
        let mut config = ControllerConfig::new(identity);
        config.shard = Shard::new(self.shard, self.shards)?;
        if self.shards > 1 && !self.leader_elect {
            return Err(FlagError::ShardsWithoutLeaderElection { count: self.shards });
        }
        config.policy = CredentialPolicy {
            endpoints: EndpointPolicy::new(
                &self.allowed_endpoint_hosts,
                self.allow_loopback_endpoints,
            )?,
            operator_identity: self.allow_operator_workload_identity,
        };
        config.namespaces = self
            .namespaces
            .iter()
            .map(|ns| ns.trim().to_string())
            .filter(|ns| !ns.is_empty())
            .collect();
        config.namespaces.sort();
        config.namespaces.dedup();
        config.max_concurrent_syncs = self.max_concurrent_syncs;
        config.sync_deadline = self.sync_deadline;
        config.freeze_destructive = self.freeze_destructive;
        config.quarantine_ceiling = self.quarantine_ceiling;
        config.progress_status_interval = Duration::from_secs(self.progress_status_interval);
        config.consent_probe_interval = self.consent_probe_interval;
        // The company claims live in the operator's namespace, with or without leader election.
        config.claim_namespace = Some(
            self.lease_namespace
                .clone()
                .filter(|ns| !ns.is_empty())
                .unwrap_or_else(|| default_namespace.to_string()),
        );
        config.leader_election = self.leader_elect.then(|| {
            let namespace = self
                .lease_namespace
                .clone()
                .filter(|ns| !ns.is_empty())
                .unwrap_or_else(|| default_namespace.to_string());
            LeaderElection::new(&self.lease_name, namespace)
        });
        Ok(config)
    }
}

/// This process's identity for the lease and Events: POD_NAME, else the hostname.
pub fn identity() -> String {
    let from_env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    from_env("POD_NAME")
        .or_else(|| from_env("HOSTNAME"))
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| format!("pbconnector-{}", uuid::Uuid::new_v4()))
}

/// Runs the operator until SIGTERM or SIGINT; exit code 0 after a graceful stop.
pub async fn execute<E: SyncEngine>(args: RunArgs, engine: E) -> ExitCode {
    logging::init(args.log_format, &args.log_level);
    // Sized before anything reads a response.
    let budget = args.memory_limit.map_or(
        crate::bounded::budget::DEFAULT_BUDGET_BYTES,
        crate::bounded::budget::budget_for_limit,
    );
    if let Err(error) = crate::bounded::budget::configure(budget) {
        tracing::error!(%error, "cannot size the response memory budget");
        return ExitCode::FAILURE;
    }
    tracing::info!(
        memory_limit = args.memory_limit,
        response_budget_bytes = budget,
        "response bodies of all syncs share one memory budget"
    );
    let client = match kubernetes_client().await {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot configure the Kubernetes client: run in a cluster or set KUBECONFIG");
            return ExitCode::FAILURE;
        }
    };
    // The Graph and Password Boss client: an unusable SSL_CERT_FILE stops the start here.
    // What is logged is what the client trusts: both come from one reading of the environment.
    match crate::http_client::trusted_roots() {
        Ok(roots) => {
            for (file, reason) in &roots.skipped {
                tracing::warn!(
                    file = %file.display(),
                    reason = %reason,
                    "skipped a file of SSL_CERT_DIR that holds no PEM certificate"
                );
            }
            if !roots.sources.is_empty() {
                tracing::info!(
                    certificates = roots.certificates,
                    files = ?roots.sources,
                    "trusting these CA certificates besides the bundled roots"
                );
            }
        }
        Err(error) => {
            tracing::error!(%error, "cannot set up the HTTPS client");
            return ExitCode::FAILURE;
        }
    }
    let config = match args.config(identity(), client.default_namespace()) {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(%error, "invalid flags");
            return ExitCode::from(2);
        }
    };
    log_policy(&config.policy);
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let listen = server::serve(
        args.listen_addr,
        config.metrics.clone(),
        config.readiness.clone(),
        async move {
            let _ = server_stopped.await;
        },
    )
    .await;
    match listen {
        Ok(addr) => tracing::info!(%addr, "serving /metrics, /healthz and /readyz"),
        Err(error) => {
            tracing::error!(%error, addr = %args.listen_addr, "cannot listen; choose another --listen-addr");
            return ExitCode::FAILURE;
        }
    }
    let result = run(client, config, engine, shutdown_signal()).await;
    let _ = stop_server.send(());
    // Let the server answer the requests it already accepted.
    tokio::time::sleep(Duration::from_millis(100)).await;
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(%error, "controller failed");
            ExitCode::FAILURE
        }
    }
}

/// The Kubernetes client, always connected to the API server directly: `HTTPS_PROXY` and a
/// kubeconfig's `proxy-url` are ignored, so the ServiceAccount token (which can read tenants'
/// Secrets) never crosses a proxy, TLS-inspecting or not. Proxies are for the Graph, token and
/// Password Boss requests only.
async fn kubernetes_client() -> Result<Client, kube::Error> {
    let mut config = kube::Config::infer()
        .await
        .map_err(kube::Error::InferConfig)?;
    if let Some(proxy) = config.proxy_url.take() {
        tracing::info!(
            proxy = %proxy_host(&proxy),
            "the Kubernetes API server is reached directly, not through the proxy"
        );
    }
    Client::try_from(config)
}

/// The proxy's host and port, never its user name or password.
fn proxy_host(proxy: &http::Uri) -> String {
    proxy
        .host()
        .map(|host| match proxy.port_u16() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        })
        .unwrap_or_default()
}

/// Says at start where connectors' credentials may go.
fn log_policy(policy: &CredentialPolicy) {
    tracing::info!(
        allowed_endpoint_hosts = ?policy.endpoints.allowed_hosts(),
        loopback = policy.endpoints.allows_loopback(),
        operator_identity = policy.operator_identity,
        "credentials go only to the built-in hosts and these"
    );
    if policy.operator_identity && crate::azure::FederatedToken::from_env().is_none() {
        tracing::warn!(
            "--allow-operator-workload-identity is set but {} is not: connectors asking for the \
             operator's identity will be refused",
            crate::azure::FEDERATED_TOKEN_FILE_ENV
        );
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {},
                    _ = terminate.recv() => {},
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only SIGINT stops the operator");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutdown requested: finishing in-flight syncs");
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    #[test]
    fn defaults_and_flags_map_to_the_config() {
        let cli = Cli::try_parse_from(["run"]).unwrap();
        assert_eq!(cli.run.listen_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(cli.run.log_format, LogFormat::Json);
        let config = cli.run.config("pod-0".into(), "ops").unwrap();
        assert!(config.namespaces.is_empty());
        assert_eq!(config.max_concurrent_syncs, 16);
        assert!(config.leader_election.is_none());

        let cli = Cli::try_parse_from([
            "run",
            "--namespace",
            "msp",
            "--leader-elect",
            "--lease-namespace",
            "ops",
            "--max-concurrent-syncs",
            "4",
            "--log-format",
            "text",
        ])
        .unwrap();
        let config = cli.run.config("pod-0".into(), "default").unwrap();
        assert_eq!(config.namespaces, vec!["msp"]);
        assert_eq!(config.max_concurrent_syncs, 4);
        let election = config.leader_election.unwrap();
        assert_eq!(election.lease_name, "pbconnector-leader");
        assert_eq!(election.lease_namespace, "ops");

        let cli = Cli::try_parse_from(["run", "--namespace", "b,a, ,b", "--namespace=c"]).unwrap();
        let config = cli.run.config("pod-0".into(), "default").unwrap();
        assert_eq!(config.namespaces, vec!["a", "b", "c"]);
        let cli = Cli::try_parse_from(["run", "--namespace="]).unwrap();
        let config = cli.run.config("pod-0".into(), "default").unwrap();
        assert!(config.namespaces.is_empty(), "empty: all namespaces");

        let cli = Cli::try_parse_from(["run", "--leader-elect=false"]).unwrap();
        assert!(!cli.run.leader_elect);
        assert!(Cli::try_parse_from(["run", "--max-concurrent-syncs", "0"]).is_err());
    }

    #[test]
    fn shard_flags() {
        let cli = Cli::try_parse_from(["run"]).unwrap();
        let config = cli.run.config("pod-0".into(), "ops").unwrap();
        assert_eq!(config.shard, Shard::single());

        let cli = Cli::try_parse_from(["run", "--leader-elect", "--shards", "3", "--shard", "2"])
            .unwrap();
        let config = cli.run.config("pod-0".into(), "ops").unwrap();
        assert_eq!(config.shard, Shard::new(2, 3).unwrap());
        // The lease is named per shard when the controller runs; the flag stays the base name.
        assert_eq!(
            config.leader_election.unwrap().lease_name,
            "pbconnector-leader"
        );

        let cli = Cli::try_parse_from(["run", "--leader-elect", "--shards", "3", "--shard", "3"])
            .unwrap();
        let e = cli.run.config("pod-0".into(), "ops").err().unwrap();
        assert!(e.to_string().contains("from 0 to 2"), "{e}");
        let cli = Cli::try_parse_from(["run", "--shards", "2", "--shard", "1"]).unwrap();
        let e = cli.run.config("pod-0".into(), "ops").err().unwrap();
        assert!(e.to_string().contains("needs --leader-elect"), "{e}");
        assert!(Cli::try_parse_from(["run", "--shards", "0"]).is_err());
    }

    #[test]
    fn credential_policy_flags() {
        let cli = Cli::try_parse_from(["run"]).unwrap();
        let config = cli.run.config("pod-0".into(), "ops").unwrap();
        assert_eq!(config.policy, CredentialPolicy::default());
        assert!(!config.policy.endpoints.allows_loopback());

        let cli = Cli::try_parse_from([
            "run",
            "--allowed-endpoint-hosts",
            "graph.contoso.example,pb.internal:8443",
            "--allow-loopback-endpoints",
            "--allow-operator-workload-identity",
        ])
        .unwrap();
        let config = cli.run.config("pod-0".into(), "ops").unwrap();
        assert_eq!(
            config.policy.endpoints.allowed_hosts(),
            vec!["graph.contoso.example", "pb.internal:8443"]
        );
        assert!(config.policy.endpoints.allows_loopback());
        assert!(config.policy.operator_identity);

        // The chart passes an empty list when nothing is allowed.
        let cli = Cli::try_parse_from(["run", "--allowed-endpoint-hosts="]).unwrap();
        let config = cli.run.config("pod-0".into(), "ops").unwrap();
        assert!(config.policy.endpoints.allowed_hosts().is_empty());

        let cli =
            Cli::try_parse_from(["run", "--allowed-endpoint-hosts", "https://evil.example/x"])
                .unwrap();
        let err = cli.run.config("pod-0".into(), "ops").err().unwrap();
        assert!(err.to_string().contains("https://evil.example/x"), "{err}");
    }

    #[test]
    fn the_memory_limit_is_bytes_or_a_quantity() {
        let cli = Cli::try_parse_from(["run", "--memory-limit", "268435456"]).unwrap();
        assert_eq!(cli.run.memory_limit, Some(256 << 20));
        assert_eq!(parse_memory_limit("256Mi"), Ok(256 << 20));
        assert_eq!(parse_memory_limit("1Gi"), Ok(1 << 30));
        assert_eq!(parse_memory_limit("300M"), Ok(300_000_000));
        for bad in ["", "lots", "-1", "1.5Gi", "99999999999999Ti"] {
            let e = parse_memory_limit(bad).expect_err(bad);
            assert!(e.contains("256Mi"), "{e}");
        }
        let e = parse_memory_limit("32Mi").expect_err("too small");
        assert!(e.contains("minimum of 64Mi"), "{e}");
        assert!(Cli::try_parse_from(["run", "--memory-limit", "32Mi"]).is_err());
    }
}
