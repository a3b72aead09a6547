//! `pbconnector run`: flags, logging, the health server, signals, then [`super::run()`].

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::ArgAction;
use kube::Client;

use super::engine::SyncEngine;
use super::leader::LeaderElection;
use super::run::{ControllerConfig, run};
use crate::telemetry::logging::{self, LogFormat};
use crate::telemetry::server;

/// Flags of `pbconnector run` (the Helm chart passes exactly these).
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Watch only this namespace; empty watches all namespaces.
    #[arg(long, env = "WATCH_NAMESPACE", default_value = "")]
    pub namespace: String,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "PBCONNECTOR_LISTEN_ADDR", default_value = "0.0.0.0:8080")]
    pub listen_addr: SocketAddr,
    /// Run the controller only while holding the leader Lease.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    pub leader_elect: bool,
    /// Name of the leader Lease.
    #[arg(long, default_value = "pbconnector-leader")]
    pub lease_name: String,
    /// Namespace of the leader Lease (default: the client's namespace).
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// At most this many syncs at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrent_syncs: u16,
    /// While a sync runs longer than this many seconds, its progress goes into
    /// status.message, at most this often.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub progress_status_interval: u64,
    /// Log line format.
    #[arg(long, value_enum, default_value = "json")]
    pub log_format: LogFormat,
    /// Log filter, RUST_LOG style (e.g. `info` or `pbconnector=debug`).
    #[arg(long, default_value = "info")]
    pub log_level: String,
}

impl RunArgs {
    /// The controller configuration these flags describe.
    pub fn config(&self, identity: String, default_namespace: &str) -> ControllerConfig {
        let mut config = ControllerConfig::new(identity);
        config.namespace = Some(self.namespace.trim().to_string()).filter(|ns| !ns.is_empty());
        config.max_concurrent_syncs = self.max_concurrent_syncs;
        config.progress_status_interval = Duration::from_secs(self.progress_status_interval);
        config.leader_election = self.leader_elect.then(|| {
            let namespace = self
                .lease_namespace
                .clone()
                .filter(|ns| !ns.is_empty())
                .unwrap_or_else(|| default_namespace.to_string());
            LeaderElection::new(&self.lease_name, namespace)
        });
        config
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
    let client = match Client::try_default().await {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot configure the Kubernetes client: run in a cluster or set KUBECONFIG");
            return ExitCode::FAILURE;
        }
    };
    let config = args.config(identity(), client.default_namespace());
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
        let config = cli.run.config("pod-0".into(), "ops");
        assert_eq!(config.namespace, None);
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
        let config = cli.run.config("pod-0".into(), "default");
        assert_eq!(config.namespace.as_deref(), Some("msp"));
        assert_eq!(config.max_concurrent_syncs, 4);
        let election = config.leader_election.unwrap();
        assert_eq!(election.lease_name, "pbconnector-leader");
        assert_eq!(election.lease_namespace, "ops");

        let cli = Cli::try_parse_from(["run", "--leader-elect=false"]).unwrap();
        assert!(!cli.run.leader_elect);
        assert!(Cli::try_parse_from(["run", "--max-concurrent-syncs", "0"]).is_err());
    }
}
