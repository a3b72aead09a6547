//! `pbconnector verify`: the portal's "Verify Connection" — each check on its own line.

use std::path::PathBuf;
use std::time::Duration;

use super::manifest;
use super::output::Exit;
use crate::azure::{AzureConfig, GraphClient, GraphErrorKind, GraphSyncState, ReadOptions};
use crate::passwordboss::{PasswordBossClient, PasswordBossConfig, PasswordBossErrorKind};
use crate::resources::GroupSelector;
use crate::sync::pipeline::{graph_message, read_credentials};

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// YAML files holding one AzureAdConnector and the Secrets it references (repeatable).
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// Log level (RUST_LOG syntax); logs go to stderr.
    #[arg(long, default_value = "warn", env = "PBCONNECTOR_LOG")]
    pub log_level: String,
}

#[derive(Default)]
struct Checks {
    failed: bool,
    unauthorized: bool,
}

impl Checks {
    fn pass(&self, what: &str) {
        println!("✓ {what}");
    }

    fn fail(&mut self, what: &str, why: &str, unauthorized: bool) {
        println!("✗ {what}\n    {why}");
        self.failed = true;
        self.unauthorized |= unauthorized;
    }

    fn exit(&self) -> Exit {
        match (self.unauthorized, self.failed) {
            (true, _) => Exit::Unauthorized,
            (false, true) => Exit::Failure,
            (false, false) => Exit::Success,
        }
    }
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
    let mut checks = Checks::default();

    let azure = format!(
        "Entra ID: token for app {} in tenant {}",
        spec.azure.client_id, spec.azure.tenant_id
    );
    let graph = AzureConfig::from_spec(&spec.azure, credentials.azure).and_then(GraphClient::new);
    match graph {
        Err(e) => checks.fail(&azure, &e.to_string(), false),
        Ok(graph) => match graph.check_token().await {
            Err(e) => checks.fail(
                &azure,
                &graph_message(&spec.azure, &e),
                e.kind() == GraphErrorKind::Unauthorized,
            ),
            Ok(()) => {
                checks.pass(&format!("{azure}, with permission to read groups"));
                verify_groups(&graph, spec, &mut checks).await;
            }
        },
    }

    // The failing line says what failed, never "token accepted".
    let pb = "Password Boss: token accepted";
    let pb_unchecked = "Password Boss: token not checked";
    let url = spec.password_boss.api_url.parse();
    let client = match url {
        Err(e) => {
            checks.fail(
                pb_unchecked,
                &format!("passwordBoss.apiUrl is not a URL: {e}"),
                false,
            );
            None
        }
        Ok(url) => match PasswordBossClient::new(PasswordBossConfig::new(
            url,
            credentials.password_boss_token,
        )) {
            Err(e) => {
                checks.fail(pb_unchecked, &e.to_string(), false);
                None
            }
            Ok(c) => Some(c),
        },
    };
    if let Some(client) = client {
        match client.connector().await {
            Err(e) => {
                let unauthorized = e.kind() == PasswordBossErrorKind::Unauthorized;
                let what = if unauthorized {
                    "Password Boss: token refused"
                } else {
                    pb_unchecked
                };
                checks.fail(what, &e.to_string(), unauthorized);
            }
            Ok(info) => {
                checks.pass(&format!(
                    "{pb} for company {} ({})",
                    info.company_name, info.company_id
                ));
                let l = info.licenses;
                let line = format!(
                    "Licences: {} of {} used, {} free",
                    l.used,
                    l.total,
                    l.free()
                );
                if l.free() == 0 {
                    checks.pass(&format!(
                        "{line} — new users will be created pending until licences are added"
                    ));
                } else {
                    checks.pass(&line);
                }
            }
        }
    }
    checks.exit()
}

async fn verify_groups(
    graph: &GraphClient,
    spec: &crate::resources::AzureAdConnectorSpec,
    checks: &mut Checks,
) {
    let mut all_found = true;
    for (role, selector) in std::iter::once(("Sync group", &spec.sync_group))
        .chain(spec.groups.iter().map(|g| ("Group", g)))
    {
        let what = format!("{role} {}", selector_name(selector));
        match graph.resolve_group(selector).await {
            Ok(g) => checks.pass(&format!("{what}: found \"{}\" ({})", g.display_name, g.id)),
            Err(e) => {
                all_found = false;
                checks.fail(
                    &what,
                    &graph_message(&spec.azure, &e),
                    e.kind() == GraphErrorKind::Unauthorized,
                );
            }
        }
    }
    if !all_found {
        return;
    }
    let options = ReadOptions {
        nested_groups: spec.nested_groups,
        full_sync_interval: spec.full_sync_interval(),
        delta: false,
        deadline: Duration::from_secs(120),
    };
    let mut state = GraphSyncState::default();
    match graph
        .read(&mut state, &spec.sync_group, &spec.groups, &options)
        .await
    {
        Ok(s) => checks.pass(&format!(
            "Members readable: {} users in the sync group{}",
            s.users.len(),
            if spec.nested_groups {
                " (nested groups included)"
            } else {
                ""
            }
        )),
        Err(e) => checks.fail(
            "Members readable",
            &graph_message(&spec.azure, &e),
            e.kind() == GraphErrorKind::Unauthorized,
        ),
    }
}

/// `"HR"` or `id 1111…`: a selector after a role that already says "group".
fn selector_name(selector: &GroupSelector) -> String {
    match (&selector.id, &selector.display_name) {
        (Some(id), _) => format!("id {id}"),
        (None, Some(name)) => format!("\"{name}\""),
        (None, None) => "(no id or displayName)".into(),
    }
}
