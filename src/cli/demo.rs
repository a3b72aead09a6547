//! `pbconnector demo`: both simulators with a sample tenant, a connector syncing them, and
//! scripted changes in Entra picked up live. `--serve` only runs the simulators.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::jiff::Zoned;
use pbconnector_simulators::sample::{SampleEnvironment, SampleOptions};

use super::output::Exit;
use crate::resources::{AzureAdConnectorSpec, parse_duration};
use crate::sync::report::SyncReport;
use crate::sync::state::ConnectorState;
use crate::sync::status::describe::plan_lines;
use crate::sync::status::{conflict_reason, status_from_report};
use crate::sync::{ConnectorKey, SyncRequest, read_credentials, run_sync};

/// `pbconnector demo --help`'s examples.
pub const EXAMPLES: &str = "\
Examples:
  pbconnector demo                       # simulators and a connector syncing them, until Ctrl-C
  pbconnector demo --users 5000 --syncs 3
  # Only the simulators, with manifests for `pbconnector sync` or a cluster:
  pbconnector demo --serve --write-manifests contoso.yaml";

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Only run the simulators and print their URLs and ready-to-use manifests.
    #[arg(long)]
    pub serve: bool,
    /// Regular members of the sample sync group.
    #[arg(long, default_value_t = 300)]
    pub users: usize,
    /// Sync interval of the demo connector.
    #[arg(long, default_value = "10s")]
    pub interval: String,
    /// Stop after this many syncs (0: run until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    pub syncs: u32,
    /// With --serve: also write the manifests to this file.
    #[arg(long, value_name = "FILE")]
    pub write_manifests: Option<PathBuf>,
    /// Namespace written into the manifests.
    #[arg(long, default_value = "default")]
    pub namespace: String,
}

pub async fn run(args: DemoArgs) -> Exit {
    crate::telemetry::logging::init(crate::telemetry::logging::LogFormat::Text, "warn");
    let interval = match parse_duration(&args.interval) {
        Ok(d) if d >= Duration::from_secs(1) => d,
        _ => {
            eprintln!("error: --interval must be a duration of at least 1s, such as 10s");
            return Exit::Usage;
        }
    };
    let options = SampleOptions {
        users: args.users,
        licenses: None,
        interval: args.interval.clone(),
    };
    let env = match SampleEnvironment::start(options).await {
        Ok(env) => env,
        Err(e) => {
            eprintln!("error: cannot start the simulators: {e}");
            return Exit::Failure;
        }
    };
    if args.serve {
        return serve(&env, &args).await;
    }
    live(&env, &args, interval).await
}

async fn serve(env: &SampleEnvironment, args: &DemoArgs) -> Exit {
    let manifests = env.manifests(&args.namespace);
    println!(
        "Microsoft Graph + Entra token endpoint simulator: {}",
        env.graph.url()
    );
    println!(
        "  tenant {} · app {} · sync group \"Password Boss Users\"",
        env.tenant_domain, env.client_id
    );
    println!("Password Boss simulator: {}", env.password_boss.url());
    if let Some(path) = &args.write_manifests {
        if let Err(e) = std::fs::write(path, &manifests) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return Exit::Failure;
        }
        println!("Manifests written to {}. Try:", path.display());
        let p = path.display();
        println!(
            "  pbconnector verify -f {p}\n  pbconnector plan -f {p}\n  pbconnector sync -f {p} --once"
        );
    }
    println!(
        "The simulators listen on loopback: an operator syncing these manifests must run with \
         `pbconnector run --allow-loopback-endpoints` (it refuses loopback endpoints otherwise)."
    );
    println!("\n--- manifests (kubectl apply -f, or pbconnector sync -f) ---\n{manifests}");
    println!("Serving until Ctrl-C.");
    let _ = std::io::stdout().flush();
    super::signals::interrupted().await;
    Exit::Success
}

async fn live(env: &SampleEnvironment, args: &DemoArgs, interval: Duration) -> Exit {
    let spec: AzureAdConnectorSpec = match serde_json::from_value(env.spec_json()) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("error: the sample connector's spec does not parse: {e}");
            return Exit::Failure;
        }
    };
    let secrets = env.secrets();
    println!(
        "Password Boss Entra ID connector demo\n\
         Entra (simulated): tenant {}, {} users in \"Password Boss Users\" (one nested group, a guest, \
         a disabled user, a user without mail, two sharing an email), mirrored groups Engineering, HR, Sales\n\
         Password Boss (simulated): company Contoso, {} licences, one portal user to adopt, an admin, \
         an on-premises AD user\n\
         Connector: sync every {}, rules: new users active, leavers disabled. Ctrl-C to stop.\n",
        env.tenant_domain,
        env.members.len() + 5,
        env.password_boss.licenses().total,
        args.interval
    );
    let mut state = ConnectorState::default();
    let mut previous = None;
    let mut number = 0u32;
    let interrupt = super::signals::interrupted();
    tokio::pin!(interrupt);
    loop {
        number += 1;
        let credentials = read_credentials(&spec, "default", |n| secrets.get(n).cloned());
        let request = SyncRequest {
            // The demo's audit lines name no connector.
            connector: String::new(),
            ..SyncRequest::new(ConnectorKey::new("default", "demo"), spec.clone())
        };
        let report = run_sync(&request, credentials, &mut state).await;
        let status = status_from_report(previous.as_ref(), &report, Some(1), None);
        print_sync(number, &report, &status.message);
        previous = Some(status);
        match number {
            1 => script_first_changes(env),
            2 => script_second_changes(env),
            _ => {}
        }
        let _ = std::io::stdout().flush();
        if args.syncs != 0 && number >= args.syncs {
            return Exit::Success;
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = &mut interrupt => {
                println!("\nStopped.");
                return Exit::Success;
            }
        }
    }
}

fn script_first_changes(env: &SampleEnvironment) {
    let t = &env.tenant;
    let joiner = &env.outsiders[0];
    let renamed = display(env, &env.members[3]);
    t.add_member(&env.sync_group_id, joiner);
    t.set_enabled(&env.members[1], false);
    t.remove_member(&env.sync_group_id, &env.members[2]);
    t.set_names(&env.members[3], "Barbara", "Liskov-Hopper");
    println!(
        "\n[{}] Entra changes: {} joined the sync group; {} was disabled; {} left the sync group; \
         {} was renamed to Barbara Liskov-Hopper. They show up at the next sync.\n",
        now(),
        display(env, joiner),
        display(env, &env.members[1]),
        display(env, &env.members[2]),
        renamed,
    );
}

fn script_second_changes(env: &SampleEnvironment) {
    let t = &env.tenant;
    t.set_enabled(&env.members[1], true);
    t.rename_group(&env.groups[2].1, "Sales & Marketing");
    t.add_member(&env.nested_group_id, &env.outsiders[1]);
    println!(
        "\n[{}] Entra changes: {} was re-enabled; group Sales was renamed to \"Sales & Marketing\"; \
         {} joined the nested group Contractors.\n",
        now(),
        display(env, &env.members[1]),
        display(env, &env.outsiders[1]),
    );
}

fn display(env: &SampleEnvironment, id: &str) -> String {
    env.tenant
        .user(id)
        .map(|u| u.display_name)
        .unwrap_or_else(|| id.to_string())
}

fn now() -> String {
    Zoned::now().strftime("%H:%M:%S").to_string()
}

fn print_sync(number: u32, report: &SyncReport, message: &str) {
    let kind = if report.full_read {
        "full read"
    } else {
        "delta"
    };
    println!("[{}] sync #{number} ({kind}): {message}", now());
    if report.failure.is_some() {
        return;
    }
    let a = &report.applied;
    println!(
        "    users: {} created, {} adopted, {} updated, {} enabled, {} disabled · groups: {} created, {} updated, {} deleted",
        a.created,
        a.adopted,
        a.updated,
        a.enabled,
        a.disabled,
        a.groups_created,
        a.groups_updated,
        a.groups_deleted
    );
    println!(
        "    cost: {} Graph requests, {} Password Boss requests ({} writes), {} ms",
        report.graph_requests,
        report.password_boss_requests,
        report.password_boss_writes,
        report.duration.as_millis()
    );
    if number == 1 {
        for c in &report.conflicts {
            let who = c
                .email
                .as_deref()
                .or(c.external_id.as_deref())
                .unwrap_or("-");
            println!(
                "    conflict {:<18} {who}: {}",
                conflict_reason(c.kind),
                c.message
            );
        }
    } else if let Some(plan) = &report.plan {
        for (_, line) in plan_lines(plan).iter().take(12) {
            println!("    {line}");
        }
    }
}
