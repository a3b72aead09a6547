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
                pbconnector::controller::PipelineEngine::new(),
            )),
            Err(error) => {
                eprintln!("cannot start the async runtime: {error}");
                ExitCode::FAILURE
            }
        },
    }
}
