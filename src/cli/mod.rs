//! The command line: argument parsing, manifest loading and output; no sync logic.

#[cfg(feature = "demo")]
pub mod demo;
pub mod manifest;
pub mod manifest_yaml;
pub mod output;
pub mod progress;
pub mod signals;
pub mod sync_cmd;
pub mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use self::output::Exit;

/// Password Boss Entra ID connector: keeps Password Boss users in step with an Entra ID group.
#[derive(Parser, Debug)]
#[command(name = "pbconnector", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the controller (in-cluster config or KUBECONFIG).
    Run(crate::controller::command::RunArgs),
    /// Print the AzureAdConnector CustomResourceDefinition as YAML.
    Crd,
    /// Run the sync without Kubernetes, from the manifests kubectl would apply.
    Sync(sync_cmd::SyncArgs),
    /// Show what a sync would do, changing nothing.
    Plan(PlanArgs),
    /// Check both credentials, the sync group and the groups.
    Verify(verify::VerifyArgs),
    /// Start the Graph and Password Boss simulators with sample data and show a connector syncing.
    #[cfg(feature = "demo")]
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
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    // One TLS crypto provider for the whole process (kube's client, reqwest), chosen here rather
    // than left to rustls' feature detection, which panics when a dependency brings a second.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    if let Command::Crd = cli.command {
        print!("{}", crate::resources::crd_yaml());
        return ExitCode::SUCCESS;
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
                };
                sync_cmd::run(args, true).await.into()
            }
            Command::Verify(args) => verify::run(args).await.into(),
            #[cfg(feature = "demo")]
            Command::Demo(args) => demo::run(args).await.into(),
            Command::Crd => Exit::Success.into(),
        }
    })
}
