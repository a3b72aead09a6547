//! `pbconnector sync` and `pbconnector plan`: the controller's sync, from manifest files.

use std::path::PathBuf;

use super::credentials::SecretArgs;
use super::manifest::{self, Manifests};
use super::output::{Exit, Format, exit_for, text_summary};
use super::state_file::StateFileStore;
use crate::sync::spending::SafetyStoreHandle;
use crate::sync::state::ConnectorState;
use crate::sync::status::{status_from_report, suspended_status, with_every_action};
use crate::sync::{ConnectorKey, SyncRequest, read_credentials, run_sync};

/// `pbconnector sync --help`'s examples.
pub const SYNC_EXAMPLES: &str = "\
Examples:
  # One sync, the Secrets in the file beside the connector:
  pbconnector sync -f contoso.yaml --once
  # No Secret in any file: the credentials come from the environment and standard input:
  export ENTRA_CLIENT_SECRET=...   # from your secret store
  pass show pbconnector/token | pbconnector sync -f contoso-connector.yaml --once \\
      --secret-from-env entra-app/client-secret=ENTRA_CLIENT_SECRET \\
      --secret-from-stdin passwordboss/token
  # From cron: each run keeps the safety record (rolling window, approvals) in a state file:
  pbconnector sync -f contoso.yaml --once --state-file /var/lib/pbconnector/contoso.json
  # Apply exactly the held-back changes a blocked run printed:
  pbconnector sync -f contoso.yaml --once --approve-deprovisions 242-5f1c2a9e
  # Sync every spec.interval until Ctrl-C, printing the status as JSON:
  pbconnector sync -f contoso.yaml -o json";

/// Arguments shared by `sync` and `plan`.
#[derive(clap::Args, Debug)]
pub struct SyncArgs {
    /// YAML files holding one AzureAdConnector and the Secrets it references (repeatable).
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// Run one sync and exit (otherwise sync at the connector's interval until interrupted).
    #[arg(long)]
    pub once: bool,
    /// Output format: a short human summary, or the status object the controller would write.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// Apply exactly the held-back changes this token names (the `approval` a blocked sync
    /// printed), once.
    #[arg(long, value_name = "TOKEN")]
    pub approve_deprovisions: Option<String>,
    /// Stop a sync that takes longer than this (Microsoft Graph and Password Boss together),
    /// Kubernetes-style duration.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = crate::resources::parse_duration)]
    pub sync_deadline: std::time::Duration,
    /// Log level (RUST_LOG syntax); logs go to stderr.
    #[arg(long, default_value = "warn", env = "PBCONNECTOR_LOG")]
    pub log_level: String,
    /// Keep the safety record (spending in the rolling window, approvals used, owned groups,
    /// leavers) in FILE between runs: read before each run (it takes precedence over a
    /// `status.safety` in the manifest), written atomically before the first destructive write.
    /// FILE.lock keeps two runs from overlapping.
    #[arg(long, value_name = "FILE")]
    pub state_file: Option<PathBuf>,
    #[command(flatten)]
    pub secrets: SecretArgs,
}

/// Runs `sync` (apply) or `plan` (dry run, one pass).
pub async fn run(args: SyncArgs, dry_run: bool) -> Exit {
    crate::telemetry::logging::init(crate::telemetry::logging::LogFormat::Text, &args.log_level);
    let manifests = match manifest::load(&args.files) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let Manifests {
        connector,
        namespace,
        mut secrets,
    } = manifests;
    let name = connector
        .metadata
        .name
        .clone()
        .unwrap_or_else(|| "connector".into());
    if connector.spec.suspend && !dry_run {
        // As the controller: a suspended connector does not sync (and needs no credentials).
        let status = suspended_status(
            connector.status.as_ref(),
            connector.metadata.generation,
            k8s_openapi::jiff::Timestamp::now(),
        );
        match args.output {
            Format::Json => println!("{}", to_json(&status)),
            Format::Text => println!(
                "{name}: suspended (spec.suspend is true): no sync runs, nothing was read or \
                 changed; set spec.suspend to false to resume"
            ),
        }
        return Exit::Success;
    }
    if let Err(e) = args.secrets.apply_from_process(&mut secrets) {
        eprintln!("error: {e}");
        return Exit::Usage;
    }
    let credentials = || read_credentials(&connector.spec, &namespace, |n| secrets.get(n).cloned());
    if let Err(e) = credentials() {
        if matches!(e, crate::sync::secrets::SecretError::SharedApplication(_)) {
            eprintln!("error: {e}");
        } else {
            eprintln!(
                "error: {e} (pass the file that holds that Secret, in namespace `{namespace}`, \
                 with -f, or give the key with --secret-from-env or --secret-from-stdin)"
            );
        }
        return Exit::Usage;
    }
    let state_file = match &args.state_file {
        None => None,
        Some(path) => match StateFileStore::open(path, &format!("{namespace}/{name}")) {
            Ok(store) => Some(store),
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Failure;
            }
        },
    };
    let mut previous = connector.status.clone();
    let mut safety_record = previous.as_ref().and_then(|s| s.safety.clone());
    let safety_store = match state_file {
        None => None,
        Some(store) => {
            match store.load() {
                // The state file, once written, takes precedence over the manifest's status.
                Ok((Some(record), _)) => safety_record = Some(record),
                Ok((None, _)) => {}
                Err(e) => {
                    eprintln!("error: {e}");
                    return Exit::Failure;
                }
            }
            Some(SafetyStoreHandle::new(store))
        }
    };

    // SIGTERM or Ctrl-C stops the loop at once, a sync in flight included: it is dropped where
    // it waits, so no request starts after the signal.
    let (interrupt, interrupted) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        super::signals::interrupted().await;
        let _ = interrupt.send(true);
    });
    let stop = move || {
        let mut interrupted = interrupted.clone();
        async move {
            let _ = interrupted.wait_for(|stop| *stop).await;
        }
    };

    let mut state = ConnectorState::default();
    let once = args.once || dry_run;
    let approval = args.approve_deprovisions.clone();
    loop {
        let (progress, display) = super::progress::Display::start();
        let request = SyncRequest {
            dry_run: dry_run || connector.spec.dry_run,
            // A token applies once, then the record says it is used.
            approval: approval.clone(),
            // The record of the last run (of the state file, else the manifest's status, at
            // first). With a state file it is stored there before it is spent
            // (`sync::spending`); without, only this process carries it.
            safety_record: safety_record.clone(),
            safety_store: safety_store.clone(),
            deadline: args.sync_deadline,
            progress,
            connector: name.clone(),
            ..SyncRequest::new(
                ConnectorKey::new(namespace.as_str(), name.as_str()),
                connector.spec.clone(),
            )
        };
        let sync = run_sync(&request, credentials(), &mut state);
        let report = tokio::select! {
            report = sync => report,
            () = stop() => {
                display.finish().await;
                eprintln!("interrupted: the sync in progress was stopped");
                return Exit::Failure;
            }
        };
        display.finish().await;
        let status = status_from_report(
            previous.as_ref(),
            &report,
            connector.metadata.generation,
            None,
        );
        match (args.output, dry_run) {
            (Format::Json, true) => match &report.plan {
                Some(plan) => println!("{}", to_json(plan)),
                None => println!("{}", to_json(&status)),
            },
            // Every write of the sync, none omitted: the terminal has no etcd size limit.
            (Format::Json, false) => {
                println!("{}", to_json(&with_every_action(status.clone(), &report)))
            }
            // A loop's runs are told apart by the time each ended.
            (Format::Text, _) if !once => print!(
                "{} {}",
                report.finished.strftime("%Y-%m-%dT%H:%M:%SZ"),
                text_summary(&name, &report, &status)
            ),
            (Format::Text, _) => print!("{}", text_summary(&name, &report, &status)),
        }
        let exit = exit_for(&report);
        if let Some(record) = report.safety_record() {
            safety_record = Some(record.into());
        }
        previous = Some(status);
        if once {
            return exit;
        }
        tokio::select! {
            _ = tokio::time::sleep(connector.spec.interval()) => {}
            () = stop() => return exit,
        }
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("status and plans serialize to JSON")
}
