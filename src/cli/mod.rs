//! The command line: argument parsing, manifest loading and output; no sync logic.

pub mod credentials;
#[cfg(feature = "demo")]
pub mod demo;
pub mod manifest;
pub mod manifest_yaml;
pub mod output;
pub mod plugin;
pub mod progress;
pub mod signals;
pub mod state_file;
pub mod sync_cmd;
pub mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use self::output::Exit;

/// `pbconnector --help`'s examples.
const EXAMPLES: &str = "\
Examples:
  pbconnector demo                                  # see it sync two simulators, nothing installed
  pbconnector verify -f contoso.yaml                # check the credentials and the groups
  pbconnector plan -f contoso.yaml                  # what a sync would do, changing nothing
  pbconnector sync -f contoso.yaml --once           # one sync
  pbconnector crd | kubectl apply -f -              # install the CRD
  ln -s \"$(command -v pbconnector)\" ~/.local/bin/kubectl-aadc && kubectl aadc status -A";

const RUN_EXAMPLES: &str = "\
Examples:
  # In the cluster (the Helm chart runs this), or against the cluster of KUBECONFIG:
  pbconnector run
  # Let connectors use a private Password Boss endpoint:
  pbconnector run --allowed-endpoint-hosts pb.internal.example.com
  # Fleet-wide freeze: hold every destructive change in every connector (creates go on):
  pbconnector run --freeze-destructive";

const CRD_EXAMPLES: &str = "\
Examples:
  pbconnector crd | kubectl apply -f -
  pbconnector crd > crds/passwordboss.com_azureadconnectors.yaml
  pbconnector crd --kind AzureAdApplication > crds/passwordboss.com_azureadapplications.yaml";

const CONSENT_URL_EXAMPLES: &str = "\
Examples:
  # Where the customer's administrator consents to the MSP's multi-tenant app:
  pbconnector consent-url --client-id 11111111-2222-3333-4444-555555555555 \\
      --tenant 7c0c36f5-1111-2222-3333-444444444444
  # For a US Government tenant:
  pbconnector consent-url --client-id 11111111-2222-3333-4444-555555555555 \\
      --tenant 7c0c36f5-1111-2222-3333-444444444444 --cloud USGovernment
  # The app's status lists the URL of every bound tenant:
  kubectl get aadapp msp-app -o jsonpath='{range .status.tenants[*]}{.tenantId} {.consent} {.adminConsentUrl}{\"\\n\"}{end}'";

const PLAN_EXAMPLES: &str = "\
Examples:
  pbconnector plan -f contoso.yaml
  pbconnector plan -f contoso.yaml -o json | jq '.actions[]'
  # Plan from the safety record of earlier `sync --once --state-file` runs:
  pbconnector plan -f contoso.yaml --state-file /var/lib/pbconnector/contoso.json
  # Credentials from the environment instead of a Secret in the file:
  pbconnector plan -f contoso-connector.yaml \\
      --secret-from-env entra-app/client-secret=ENTRA_CLIENT_SECRET \\
      --secret-from-env passwordboss/token=PASSWORDBOSS_TOKEN";

/// The CRDs `pbconnector crd` prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
#[clap(rename_all = "verbatim")]
enum CrdKind {
    AzureAdConnector,
    AzureAdApplication,
}

/// `--cloud`: the national clouds of `spec.azure.cloud`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
#[clap(rename_all = "verbatim")]
enum CloudArg {
    Public,
    USGovernment,
    China,
}

impl From<CloudArg> for crate::resources::Cloud {
    fn from(cloud: CloudArg) -> Self {
        match cloud {
            CloudArg::Public => Self::Public,
            CloudArg::USGovernment => Self::USGovernment,
            CloudArg::China => Self::China,
        }
    }
}

fn parse_guid(value: &str) -> Result<String, String> {
    let re_ok = value.len() == 36
        && value.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    if re_ok {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "{value:?} is not an Application (client) ID: a GUID such as \
             11111111-2222-3333-4444-555555555555"
        ))
    }
}

/// Password Boss Entra ID connector: keeps Password Boss users in step with an Entra ID group.
#[derive(Parser, Debug)]
#[command(name = "pbconnector", version, about, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the controller (in-cluster config or KUBECONFIG).
    #[command(after_help = RUN_EXAMPLES)]
    Run(crate::controller::command::RunArgs),
    /// Print a CustomResourceDefinition as YAML (AzureAdConnector unless --kind says otherwise).
    #[command(after_help = CRD_EXAMPLES)]
    Crd {
        /// Which CRD: AzureAdConnector or AzureAdApplication.
        #[arg(long, value_enum, default_value = "AzureAdConnector")]
        kind: CrdKind,
    },
    /// Print the admin-consent URL where an administrator of a customer tenant consents to a
    /// multi-tenant app.
    #[command(after_help = CONSENT_URL_EXAMPLES)]
    ConsentUrl {
        /// The multi-tenant app's Application (client) ID.
        #[arg(long, value_parser = parse_guid)]
        client_id: String,
        /// The customer's tenant: its GUID (or a verified domain).
        #[arg(long)]
        tenant: String,
        /// The national cloud of the tenant.
        #[arg(long, value_enum, default_value = "Public")]
        cloud: CloudArg,
    },
    /// Run the sync without Kubernetes, from the manifests kubectl would apply.
    #[command(after_help = sync_cmd::SYNC_EXAMPLES)]
    Sync(sync_cmd::SyncArgs),
    /// Show what a sync would do, changing nothing.
    #[command(after_help = PLAN_EXAMPLES)]
    Plan(PlanArgs),
    /// Check both credentials, the sync group and the groups.
    #[command(after_help = verify::EXAMPLES)]
    Verify(verify::VerifyArgs),
    /// Start the Graph and Password Boss simulators with sample data and show a connector syncing.
    #[cfg(feature = "demo")]
    #[command(after_help = demo::EXAMPLES)]
    Demo(demo::DemoArgs),
}

/// `plan` takes the files, the output format and an approval, like `sync`, and runs once.
#[derive(clap::Args, Debug)]
struct PlanArgs {
    /// YAML files holding one AzureAdConnector and the Secrets it references (repeatable).
    #[arg(short = 'f', long = "filename", required = true)]
    files: Vec<std::path::PathBuf>,
    /// Output format: text, or the plan as JSON.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = output::Format::Text)]
    output: output::Format,
    /// Plan as if the held-back changes this token names were approved.
    #[arg(long, value_name = "TOKEN")]
    approve_deprovisions: Option<String>,
    /// Stop the reads when they take longer than this, Kubernetes-style duration.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = crate::resources::parse_duration)]
    sync_deadline: std::time::Duration,
    /// Log level (RUST_LOG syntax); logs go to stderr.
    #[arg(long, default_value = "warn", env = "PBCONNECTOR_LOG")]
    log_level: String,
    /// Plan from the safety record kept in FILE by `sync --state-file` (read only).
    #[arg(long, value_name = "FILE")]
    state_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    secrets: credentials::SecretArgs,
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    // One TLS crypto provider for the whole process (kube's client, reqwest), chosen here rather
    // than left to rustls' feature detection, which panics when a dependency brings a second.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Linked or copied as `kubectl-aadc`, the binary is a kubectl plugin.
    if plugin::invoked_as_plugin() {
        return plugin::main();
    }
    let cli = Cli::parse();
    match &cli.command {
        Command::Crd { kind } => {
            print!(
                "{}",
                match kind {
                    CrdKind::AzureAdConnector => crate::resources::crd_yaml(),
                    CrdKind::AzureAdApplication => crate::resources::application_crd_yaml(),
                }
            );
            return ExitCode::SUCCESS;
        }
        Command::ConsentUrl {
            client_id,
            tenant,
            cloud,
        } => {
            println!(
                "{}",
                crate::resources::admin_consent_url((*cloud).into(), None, tenant, client_id)
            );
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => {
                let engine = crate::controller::PipelineEngine::new();
                crate::controller::command::execute(args, engine).await
            }
            Command::Sync(args) => sync_cmd::run(args, false).await.into(),
            Command::Plan(args) => {
                let args = sync_cmd::SyncArgs {
                    files: args.files,
                    once: true,
                    output: args.output,
                    approve_deprovisions: args.approve_deprovisions,
                    sync_deadline: args.sync_deadline,
                    log_level: args.log_level,
                    state_file: args.state_file,
                    secrets: args.secrets,
                };
                sync_cmd::run(args, true).await.into()
            }
            Command::Verify(args) => verify::run(args).await.into(),
            #[cfg(feature = "demo")]
            Command::Demo(args) => demo::run(args).await.into(),
            Command::Crd { .. } | Command::ConsentUrl { .. } => Exit::Success.into(),
        }
    })
}
