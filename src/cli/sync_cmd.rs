//! `pbconnector sync` and `pbconnector plan`: the controller's sync, from manifest files.

use std::path::PathBuf;

use super::manifest::{self, Manifests};
use super::output::{Exit, Format, exit_for, text_summary};
use crate::sync::state::ConnectorState;
use crate::sync::status::{status_from_report, with_every_action};
use crate::sync::{ConnectorKey, SyncRequest, read_credentials, run_sync};

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
        secrets,
    } = manifests;
    let name = connector
        .metadata
        .name
        .clone()
        .unwrap_or_else(|| "connector".into());
    let credentials = || read_credentials(&connector.spec, &namespace, |n| secrets.get(n).cloned());
    if let Err(e) = credentials() {
        eprintln!(
            "error: {e} (pass the file that holds that Secret, in namespace `{namespace}`, with -f)"
        );
        return Exit::Usage;
    }

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
    let mut previous = connector.status.clone();
    let once = args.once || dry_run;
    let approval = args.approve_deprovisions.clone();
    loop {
        let (progress, display) = super::progress::Display::start();
        let request = SyncRequest {
            dry_run: dry_run || connector.spec.dry_run,
            // A token applies once, then the record says it is used.
            approval: approval.clone(),
            // The record of the last run (of the manifest's status at first): the command line
            // has no object to store it in before it is spent (`sync::spending`).
            safety_record: previous.as_ref().and_then(|s| s.safety.clone()),
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
