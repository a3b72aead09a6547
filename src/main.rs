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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => {
            print!("{}", pbconnector::resources::crd_yaml());
            ExitCode::SUCCESS
        }
    }
}
