//! `pbconnector verify`: the portal's "Verify Connection" — each check on its own line.

use std::path::PathBuf;

use super::manifest;
use super::output::Exit;
use crate::sync::read_credentials;

/// `pbconnector verify --help`'s examples.
pub const EXAMPLES: &str = "\
Examples:
  pbconnector verify -f contoso.yaml
  # The client secret from the environment, the Password Boss token from standard input:
  pass show pbconnector/token | pbconnector verify -f contoso-connector.yaml \\
      --secret-from-env entra-app/client-secret=ENTRA_CLIENT_SECRET \\
      --secret-from-stdin passwordboss/token";

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// YAML files holding one AzureAdConnector and the Secrets it references (repeatable).
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// Log level (RUST_LOG syntax); logs go to stderr.
    #[arg(long, default_value = "warn", env = "PBCONNECTOR_LOG")]
    pub log_level: String,
    #[command(flatten)]
    pub secrets: super::credentials::SecretArgs,
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
    let mut m = m;
    if let Err(e) = args.secrets.apply_from_process(&mut m.secrets) {
        eprintln!("error: {e}");
        return Exit::Usage;
    }
    let spec = &m.connector.spec;
    let credentials = match read_credentials(spec, &m.namespace, |n| m.secrets.get(n).cloned()) {
        Ok(c) => c,
        Err(e @ crate::sync::secrets::SecretError::SharedApplication(_)) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
        Err(e) => {
            eprintln!(
                "error: {e} (pass the file that holds that Secret with -f, or give the key with \
                 --secret-from-env or --secret-from-stdin)"
            );
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
