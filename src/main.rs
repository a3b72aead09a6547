use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Password Boss Entra ID connector.
#[derive(Parser, Debug)]
#[command(name = "pbconnector", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the AzureAdConnector CustomResourceDefinition as YAML.
    Crd,
    /// Run the controller (in-cluster config or KUBECONFIG).
    Run(pbconnector::controller::command::RunArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => {
            print!("{}", pbconnector::resources::crd_yaml());
            ExitCode::SUCCESS
        }
        Command::Run(args) => match tokio::runtime::Runtime::new() {
            Ok(runtime) => runtime.block_on(pbconnector::controller::command::execute(
                args,
                engine_wiring::engine(),
            )),
            Err(error) => {
                eprintln!("cannot start the async runtime: {error}");
                ExitCode::FAILURE
            }
        },
    }
}

/// The sync engine `run` drives. The sync pipeline lives on another branch; until the lead wires
/// it here, every sync reports plainly that this build has no pipeline.
mod engine_wiring {
    use k8s_openapi::jiff::Timestamp;
    use pbconnector::controller::{ConnectorKey, SyncEngine, SyncRequest};
    use pbconnector::sync::report::{Reached, SyncFailure, SyncReport};

    pub fn engine() -> PipelineNotWired {
        PipelineNotWired
    }

    pub struct PipelineNotWired;

    impl SyncEngine for PipelineNotWired {
        async fn sync(&self, _request: SyncRequest) -> SyncReport {
            let failure = SyncFailure::Error {
                reason: "PipelineNotWired",
                message: "this build of pbconnector has no sync pipeline wired into `run`".into(),
            };
            SyncReport::failed(Timestamp::now(), failure, Reached::default())
        }

        fn forget(&self, _key: &ConnectorKey) {}
    }
}
