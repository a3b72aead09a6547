//! `kubectl aadc …`: the binary run as `kubectl-aadc` (a link or copy of it by that name on
//! `PATH`), a kubectl plugin for connectors in a cluster.
//!
//! It acts only through the annotations and the status the operator writes: it gets, lists and
//! patches `azureadconnectors`, and reads no Secret (the operator, which checks every endpoint
//! against its allow-list, is the only one that sends credentials anywhere). Every verb takes
//! one connector (`NAME [-n NS]`) or all of them (`-A`).

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, ResourceExt};
use serde_json::json;

use super::output::Exit;
use crate::resources::{
    ANNOTATION_APPROVE_DEPROVISIONS, ANNOTATION_PLAN_REQUESTED_AT, ANNOTATION_SYNC_REQUESTED_AT,
    ANNOTATION_VERIFY_REQUESTED_AT, AzureAdConnector, AzureAdConnectorStatus, CONDITION_READY,
    Connection,
};

/// The name the binary answers to as a plugin (argv[0]'s file name, without `.exe`).
pub const PLUGIN_NAME: &str = "kubectl-aadc";

const EXAMPLES: &str = "\
Examples:
  kubectl aadc status -A                          # every connector, one line each
  kubectl aadc status contoso -n msp-contoso      # one connector, in full
  kubectl aadc sync-now contoso -n msp-contoso --wait
  kubectl aadc verify contoso -n msp-contoso      # the portal's Verify Connection
  kubectl aadc plan contoso -n msp-contoso        # what a sync would do, changing nothing
  kubectl aadc approve contoso -n msp-contoso     # show the held-back changes, then approve them

Install: link (or copy) the pbconnector binary as kubectl-aadc on PATH:
  ln -s \"$(command -v pbconnector)\" ~/.local/bin/kubectl-aadc";

/// kubectl plugin for Password Boss connectors (AzureAdConnector): sync now, approve held-back
/// changes, verify, plan and status, through annotations and the status the operator writes.
#[derive(Parser, Debug)]
#[command(name = "kubectl aadc", bin_name = "kubectl aadc", version, after_help = EXAMPLES)]
struct PluginCli {
    #[command(subcommand)]
    verb: Verb,
}

/// Which connectors, and which cluster.
#[derive(clap::Args, Debug, Clone)]
struct Target {
    /// The connector (AzureAdConnector) name.
    #[arg(
        required_unless_present = "all_namespaces",
        conflicts_with = "all_namespaces"
    )]
    name: Option<String>,
    /// Its namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Every connector in every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// The kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<std::path::PathBuf>,
    /// The kubeconfig context.
    #[arg(long)]
    context: Option<String>,
    /// How long to wait for the operator's answer.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = crate::resources::parse_duration)]
    timeout: Duration,
}

#[derive(Subcommand, Debug)]
enum Verb {
    /// Synchronize now: sets passwordboss.com/sync-requested-at (and with --wait waits until
    /// status.lastHandledSyncRequest echoes it).
    #[command(after_help = "\
Examples:
  kubectl aadc sync-now contoso -n msp-contoso
  kubectl aadc sync-now contoso -n msp-contoso --wait   # exit 0 synced, 3 unauthorized, 4 held
  kubectl aadc sync-now -A --wait")]
    SyncNow {
        #[command(flatten)]
        target: Target,
        /// Wait until the operator has handled the request, and show the outcome.
        #[arg(long)]
        wait: bool,
    },
    /// Show the destructive changes the safety limits hold back (status.blocked) and apply
    /// exactly that set with its token (passwordboss.com/approve-deprovisions).
    #[command(after_help = "\
Examples:
  kubectl aadc approve contoso -n msp-contoso          # shows the held set, asks before applying
  kubectl aadc approve contoso -n msp-contoso --yes    # no question (scripts)")]
    Approve {
        #[command(flatten)]
        target: Target,
        /// Apply without asking.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Run the connection checks in the operator (passwordboss.com/verify-requested-at) and
    /// show them from status.verify.
    #[command(after_help = "\
Examples:
  kubectl aadc verify contoso -n msp-contoso   # exit 0 when every check passes, else 1
  kubectl aadc verify -A")]
    Verify {
        #[command(flatten)]
        target: Target,
    },
    /// Ask the operator for the plan a sync would make now (passwordboss.com/plan-requested-at)
    /// and show it from status.plan; nothing is changed.
    #[command(after_help = "\
Examples:
  kubectl aadc plan contoso -n msp-contoso
  kubectl aadc plan -A")]
    Plan {
        #[command(flatten)]
        target: Target,
    },
    /// A readable summary of the status: one connector in full, or -A as a table.
    #[command(after_help = "\
Examples:
  kubectl aadc status contoso -n msp-contoso
  kubectl aadc status -A")]
    Status {
        #[command(flatten)]
        target: Target,
    },
}

/// What stops a verb: the message says what to do.
#[derive(Debug, thiserror::Error)]
enum PluginError {
    #[error("cannot load the kubeconfig: {0}")]
    Config(String),
    #[error("connector {namespace}/{name}: {source}")]
    Api {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("cannot list connectors: {0}; check that you may list azureadconnectors")]
    List(#[source] kube::Error),
    #[error(
        "connector {namespace}/{name}: the operator did not answer within {timeout:?}; is it \
         running (kubectl get pods -A -l app.kubernetes.io/name=pbconnector)?"
    )]
    Timeout {
        namespace: String,
        name: String,
        timeout: Duration,
    },
}

impl PluginError {
    fn exit(&self) -> Exit {
        match self {
            Self::Config(_) => Exit::Usage,
            _ => Exit::Failure,
        }
    }
}

/// Whether the process was started as the plugin.
pub fn invoked_as_plugin() -> bool {
    std::env::args_os()
        .next()
        .and_then(|arg0| {
            std::path::Path::new(&arg0)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .is_some_and(|stem| stem == PLUGIN_NAME)
}

/// Parses the plugin's command line and runs the verb.
pub fn main() -> ExitCode {
    let cli = PluginCli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let exit = runtime.block_on(async move {
        match run(cli.verb).await {
            Ok(exit) => exit,
            Err(e) => {
                eprintln!("error: {e}");
                e.exit()
            }
        }
    });
    exit.into()
}

/// One connector the verb acts on.
struct Connector {
    api: Api<AzureAdConnector>,
    namespace: String,
    name: String,
}

impl Connector {
    async fn get(&self) -> Result<AzureAdConnector, PluginError> {
        self.api
            .get(&self.name)
            .await
            .map_err(|source| self.error(source))
    }

    fn error(&self, source: kube::Error) -> PluginError {
        PluginError::Api {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            source,
        }
    }

    /// Sets `annotation` to `value` (a merge patch of that one annotation).
    async fn annotate(&self, annotation: &str, value: &str) -> Result<(), PluginError> {
        let patch = json!({"metadata": {"annotations": {annotation: value}}});
        self.api
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(|_| ())
            .map_err(|source| self.error(source))
    }

    /// The status once `answered` holds for it, polled every half second up to `timeout`.
    async fn wait(
        &self,
        timeout: Duration,
        answered: impl Fn(&AzureAdConnectorStatus) -> bool,
    ) -> Result<AzureAdConnectorStatus, PluginError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.get().await?.status.filter(|s| answered(s)) {
                return Ok(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(PluginError::Timeout {
                    namespace: self.namespace.clone(),
                    name: self.name.clone(),
                    timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

async fn client(target: &Target) -> Result<(Client, String), PluginError> {
    let config = if target.kubeconfig.is_some() || target.context.is_some() {
        let options = KubeConfigOptions {
            context: target.context.clone(),
            ..KubeConfigOptions::default()
        };
        match &target.kubeconfig {
            Some(path) => {
                let kubeconfig =
                    Kubeconfig::read_from(path).map_err(|e| PluginError::Config(e.to_string()))?;
                Config::from_custom_kubeconfig(kubeconfig, &options).await
            }
            None => Config::from_kubeconfig(&options).await,
        }
        .map_err(|e| PluginError::Config(e.to_string()))?
    } else {
        Config::infer()
            .await
            .map_err(|e| PluginError::Config(e.to_string()))?
    };
    let namespace = config.default_namespace.clone();
    let client = Client::try_from(config).map_err(|e| PluginError::Config(e.to_string()))?;
    Ok((client, namespace))
}

/// The connectors `target` names, by namespace and name.
async fn connectors(target: &Target) -> Result<Vec<Connector>, PluginError> {
    let (client, default_namespace) = client(target).await?;
    if !target.all_namespaces {
        let namespace = target.namespace.clone().unwrap_or(default_namespace);
        return Ok(vec![Connector {
            api: Api::namespaced(client, &namespace),
            namespace,
            name: target.name.clone().unwrap_or_default(),
        }]);
    }
    let all: Api<AzureAdConnector> = Api::all(client.clone());
    let list = all
        .list(&ListParams::default())
        .await
        .map_err(PluginError::List)?;
    let mut found: Vec<Connector> = list
        .items
        .iter()
        .map(|c| {
            let namespace = c.namespace().unwrap_or_default();
            Connector {
                api: Api::namespaced(client.clone(), &namespace),
                namespace,
                name: c.name_any(),
            }
        })
        .collect();
    found.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Ok(found)
}

/// A value no earlier request used: the time, to the nanosecond.
fn request_value() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

async fn run(verb: Verb) -> Result<Exit, PluginError> {
    match verb {
        Verb::SyncNow { target, wait } => sync_now(&target, wait).await,
        Verb::Approve { target, yes } => approve(&target, yes).await,
        Verb::Verify { target } => verify(&target).await,
        Verb::Plan { target } => plan(&target).await,
        Verb::Status { target } => status(&target).await,
    }
}

/// The worse of two exit codes (a failure over a held set over success).
fn worse(a: Exit, b: Exit) -> Exit {
    let rank = |e: &Exit| match e {
        Exit::Success => 0,
        Exit::DeprovisionsBlocked => 1,
        Exit::Unauthorized => 2,
        Exit::Failure => 3,
        Exit::Usage => 4,
    };
    if rank(&b) > rank(&a) { b } else { a }
}

fn ready(status: &AzureAdConnectorStatus) -> (String, String) {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == CONDITION_READY)
        .map(|c| (c.status.clone(), c.reason.clone()))
        .unwrap_or_else(|| ("Unknown".into(), String::new()))
}

/// The exit code a connector's status deserves after a sync.
fn exit_of(status: &AzureAdConnectorStatus) -> Exit {
    match status.connection {
        Connection::Unauthorized => Exit::Unauthorized,
        Connection::Error | Connection::WaitingForConnection => Exit::Failure,
        Connection::Connected if status.blocked.is_some() => Exit::DeprovisionsBlocked,
        Connection::Connected => Exit::Success,
    }
}

async fn sync_now(target: &Target, wait: bool) -> Result<Exit, PluginError> {
    let value = request_value();
    let targets = connectors(target).await?;
    for c in &targets {
        c.annotate(ANNOTATION_SYNC_REQUESTED_AT, &value).await?;
        println!("{}/{}: sync requested ({value})", c.namespace, c.name);
    }
    if !wait {
        return Ok(Exit::Success);
    }
    let mut exit = Exit::Success;
    for c in &targets {
        let status = c
            .wait(target.timeout, |s| {
                s.last_handled_sync_request.as_deref() == Some(value.as_str())
            })
            .await?;
        println!(
            "{}/{}: {} — {}",
            c.namespace, c.name, status.connection, status.message
        );
        exit = worse(exit, exit_of(&status));
    }
    Ok(exit)
}

/// Asks on the terminal; anything but y/yes is no.
fn confirm(question: &str) -> bool {
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_lowercase().as_str(), "y" | "yes")
}

async fn approve(target: &Target, yes: bool) -> Result<Exit, PluginError> {
    let mut exit = Exit::Success;
    let targets = connectors(target).await?;
    let mut held_anywhere = false;
    for c in &targets {
        let status = c.get().await?.status.unwrap_or_default();
        let Some(blocked) = status.blocked else {
            if !target.all_namespaces {
                println!(
                    "{}/{}: nothing is held back; nothing to approve",
                    c.namespace, c.name
                );
            }
            continue;
        };
        held_anywhere = true;
        println!(
            "{}/{}: {} destructive changes held back ({}): {} deprovisions, {} group changes",
            c.namespace,
            c.name,
            blocked.deprovisions + blocked.group_changes,
            blocked.limit,
            blocked.deprovisions,
            blocked.group_changes
        );
        for user in &blocked.users {
            println!("  {} {} ({})", user.action, user.email, user.reason);
        }
        let listed = blocked.users.len() as u32;
        if blocked.deprovisions > listed {
            println!("  … and {} more", blocked.deprovisions - listed);
        }
        if blocked.frozen {
            // The limit text says why and how the freeze ends; there is no token to apply.
            println!("  not applied: the operator's fleet-wide freeze holds these changes");
            exit = worse(exit, Exit::DeprovisionsBlocked);
            continue;
        }
        println!("  approval token: {}", blocked.approval);
        let go = yes
            || (std::io::stdin().is_terminal() && confirm("Apply exactly these changes, once?"));
        if !go {
            if !yes && !std::io::stdin().is_terminal() {
                println!("  not applied: no terminal to ask on; pass --yes to apply");
            } else {
                println!("  not applied");
            }
            exit = worse(exit, Exit::DeprovisionsBlocked);
            continue;
        }
        c.annotate(ANNOTATION_APPROVE_DEPROVISIONS, &blocked.approval)
            .await?;
        println!(
            "  approved: the operator applies exactly this set at its next sync ({} = {})",
            ANNOTATION_APPROVE_DEPROVISIONS, blocked.approval
        );
    }
    if target.all_namespaces && !held_anywhere {
        println!("nothing is held back in any connector");
    }
    Ok(exit)
}

async fn verify(target: &Target) -> Result<Exit, PluginError> {
    let value = request_value();
    let targets = connectors(target).await?;
    for c in &targets {
        c.annotate(ANNOTATION_VERIFY_REQUESTED_AT, &value).await?;
    }
    let mut exit = Exit::Success;
    for c in &targets {
        let status = c
            .wait(target.timeout, |s| {
                s.verify.as_ref().is_some_and(|v| v.requested_at == value)
            })
            .await?;
        println!("{}/{}:", c.namespace, c.name);
        for check in status.verify.map(|v| v.checks).unwrap_or_default() {
            let mark = if check.ok { "✓" } else { "✗" };
            if check.message.is_empty() {
                println!("  {mark} {}", check.name);
            } else {
                println!("  {mark} {}: {}", check.name, check.message);
            }
            if !check.ok {
                exit = worse(exit, Exit::Failure);
            }
        }
    }
    Ok(exit)
}

async fn plan(target: &Target) -> Result<Exit, PluginError> {
    let value = request_value();
    let mut asked = Vec::new();
    for c in connectors(target).await? {
        let connector = c.get().await?;
        if connector.spec.suspend {
            println!(
                "{}/{}: suspended (spec.suspend is true): the operator makes no plan",
                c.namespace, c.name
            );
            continue;
        }
        c.annotate(ANNOTATION_PLAN_REQUESTED_AT, &value).await?;
        asked.push(c);
    }
    let mut exit = Exit::Success;
    for c in &asked {
        let status = c
            .wait(target.timeout, |s| {
                s.plan_request
                    .as_ref()
                    .is_some_and(|p| p.requested_at == value)
            })
            .await?;
        let answer = status.plan_request.clone().unwrap_or_default();
        println!("{}/{}: {}", c.namespace, c.name, answer.message);
        if !answer.succeeded {
            exit = worse(exit, Exit::Failure);
            continue;
        }
        let entries = status.plan.unwrap_or_default();
        for entry in &entries {
            match &entry.detail {
                Some(detail) => println!("  {} {} ({detail})", entry.action, entry.target),
                None => println!("  {} {}", entry.action, entry.target),
            }
        }
        if answer.actions as usize > entries.len() {
            println!("  … and {} more", answer.actions as usize - entries.len());
        }
    }
    Ok(exit)
}

fn time_text(time: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> String {
    time.map_or_else(
        || "never".to_string(),
        |t| t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

async fn status(target: &Target) -> Result<Exit, PluginError> {
    let targets = connectors(target).await?;
    if target.all_namespaces {
        let mut rows = vec![[
            "NAMESPACE".to_string(),
            "NAME".into(),
            "CONNECTION".into(),
            "READY".into(),
            "USERS".into(),
            "HELD".into(),
            "CONFLICTS".into(),
            "LAST SUCCESS".into(),
        ]];
        for c in &targets {
            let s = c.get().await?.status.unwrap_or_default();
            let (ready, reason) = ready(&s);
            rows.push([
                c.namespace.clone(),
                c.name.clone(),
                s.connection.to_string(),
                if reason.is_empty() {
                    ready
                } else {
                    format!("{ready}/{reason}")
                },
                s.users.in_scope.to_string(),
                s.blocked.as_ref().map_or(0, |b| b.deprovisions).to_string(),
                s.last_sync.conflicts.to_string(),
                time_text(s.last_successful_sync_time.as_ref()),
            ]);
        }
        let widths: Vec<usize> = (0..8)
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        for row in &rows {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            println!("{}", line.join("   ").trim_end());
        }
        if targets.is_empty() {
            println!("no connectors found");
        }
        return Ok(Exit::Success);
    }
    for c in &targets {
        let connector = c.get().await?;
        let s = connector.status.clone().unwrap_or_default();
        let (ready, reason) = ready(&s);
        let mut lines = vec![
            format!("{}/{}", c.namespace, c.name),
            format!("  Connection:    {}", s.connection),
            format!("  Ready:         {ready} ({reason})"),
            format!("  Message:       {}", s.message),
            format!(
                "  Users:         {} in scope: {} active, {} pending, {} disabled",
                s.users.in_scope, s.users.active, s.users.pending, s.users.disabled
            ),
            match &s.blocked {
                Some(b) if b.frozen => format!(
                    "  Held back:     {} deprovisions, {} group changes ({})",
                    b.deprovisions, b.group_changes, b.limit
                ),
                Some(b) => format!(
                    "  Held back:     {} deprovisions, {} group changes ({}); review and approve: \
                     kubectl aadc approve {} -n {}",
                    b.deprovisions, b.group_changes, b.limit, c.name, c.namespace
                ),
                None => "  Held back:     nothing".to_string(),
            },
            format!("  Conflicts:     {}", s.last_sync.conflicts),
            format!(
                "  Last sync:     {} (last success {})",
                time_text(s.last_sync_time.as_ref()),
                time_text(s.last_successful_sync_time.as_ref())
            ),
        ];
        if let Some(company) = &s.company {
            lines.push(format!(
                "  Company:       {} ({})",
                company.name, company.id
            ));
        }
        if connector.spec.suspend {
            lines.push("  Suspended:     yes (spec.suspend)".to_string());
        }
        println!("{}", lines.join("\n"));
    }
    Ok(Exit::Success)
}
