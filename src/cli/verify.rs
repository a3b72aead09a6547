//! `pbconnector verify`: the portal's "Verify Connection" — each check on its own line.

use std::path::PathBuf;

use super::manifest;
use super::output::Exit;
use crate::sync::read_credentials;

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// YAML files holding one AzureAdConnector and the Secrets it references (repeatable).
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// Log level (RUST_LOG syntax); logs go to stderr.
    #[arg(long, default_value = "warn", env = "PBCONNECTOR_LOG")]
    pub log_level: String,
}

pub async fn run(args: VerifyArgs) -> Exit {
    crate::telemetry::logging::init(crate::telemetry::logging::LogFormat::Text, &args.log_level);
    let m = match manifest::load(&args.files) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let spec = &m.connector.spec;
    let credentials = match read_credentials(spec, &m.namespace, |n| m.secrets.get(n).cloned()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e} (pass the file that holds that Secret with -f)");
            return Exit::Usage;
        }
    };
    let checks = crate::sync::verify::verify(spec, credentials).await;
    print!("{}", checks.lines());
    match (checks.unauthorized, checks.failed()) {
        (true, _) => Exit::Unauthorized,
        (false, true) => Exit::Failure,
        (false, false) => Exit::Success,
    }
}
