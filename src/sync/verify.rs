//! The portal's "Verify Connection": both credentials, the sync group and the groups, each
//! check on its own line. Run by `pbconnector verify` and for the annotation
//! `passwordboss.com/verify-requested-at`; never carries a secret.

use std::time::Duration;

use super::state::ConnectorState;
use super::{Credentials, graph_message};
use crate::azure::{AzureConfig, GraphClient, GraphErrorKind, GraphSyncState, ReadOptions};
use crate::http_client::kind::ErrorKind;
use crate::passwordboss::{PasswordBossClient, PasswordBossErrorKind};
use crate::resources::{AzureAdConnectorSpec, GroupSelector, TargetSpec, VerifyCheck};
use crate::scim::ScimClient;
use crate::sync::target::Target;

/// The checks in order, and whether a failure was a refused credential.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checks {
    pub checks: Vec<VerifyCheck>,
    pub unauthorized: bool,
}

impl Checks {
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| !c.ok)
    }

    /// `✓ name`, or `✗ name` and what to fix on the next line, one check after the other.
    pub fn lines(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let mark = if c.ok { '✓' } else { '✗' };
            out.push_str(&format!("{mark} {}\n", c.name));
            if !c.message.is_empty() {
                out.push_str(&format!("    {}\n", c.message));
            }
        }
        out
    }

    fn pass(&mut self, name: &str) {
        self.checks.push(VerifyCheck {
            name: name.into(),
            ok: true,
            message: String::new(),
        });
    }

    fn fail(&mut self, name: &str, why: &str, unauthorized: bool) {
        self.checks.push(VerifyCheck {
            name: name.into(),
            ok: false,
            message: why.into(),
        });
        self.unauthorized |= unauthorized;
    }
}

/// Runs every check that can run (the groups only when the Entra token works), with clients
/// of its own: `pbconnector verify`.
pub async fn verify(spec: &AzureAdConnectorSpec, credentials: Credentials) -> Checks {
    let graph = AzureConfig::from_spec(&spec.azure, credentials.azure)
        .and_then(GraphClient::new)
        .map_err(|e| e.to_string());
    let target = spec
        .target()
        .map_err(|e| e.to_string())
        .and_then(|target| super::read::target_client(target, credentials.target_token));
    run_checks(spec, graph, target).await
}

/// The same checks through the clients the connector's syncs keep in `state` (made if needed):
/// the tenant's shared Graph pacer and the connector's token cache, as a sync would use them.
pub async fn verify_kept(
    spec: &AzureAdConnectorSpec,
    credentials: Credentials,
    state: &mut ConnectorState,
) -> Checks {
    let graph = super::read::graph_client(spec, credentials.azure, state);
    let target = super::read::kept_target_client(spec, credentials.target_token, state)
        .map(|(client, _)| client);
    run_checks(spec, graph, target).await
}

async fn run_checks(
    spec: &AzureAdConnectorSpec,
    graph: Result<GraphClient, String>,
    target: Result<Target, String>,
) -> Checks {
    let mut checks = Checks::default();
    let azure = format!(
        "Entra ID: token for app {} in tenant {}",
        spec.azure.client_id, spec.azure.tenant_id
    );
    match graph {
        Err(e) => checks.fail(&azure, &e, false),
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
    match target {
        Ok(Target::PasswordBoss(client)) => verify_password_boss(&client, &mut checks).await,
        Ok(Target::Scim(client)) => {
            let base_url = spec.scim.as_ref().map_or("", |s| s.base_url.as_str());
            verify_scim(&client, base_url, spec.groups.len(), &mut checks).await;
        }
        Err(why) => {
            let unchecked = match spec.target() {
                Ok(TargetSpec::Scim(scim)) => {
                    format!("SCIM service {}: token not checked", scim.base_url)
                }
                _ => "Password Boss: token not checked".to_owned(),
            };
            checks.fail(&unchecked, &why, false);
        }
    }
    checks
}

/// The SCIM service: the token, then what `/ServiceProviderConfig` says it supports, and what
/// it lacks that the connector would use.
async fn verify_scim(client: &ScimClient, base_url: &str, spec_groups: usize, checks: &mut Checks) {
    let accepted = format!("SCIM service {base_url}: token accepted");
    let unchecked = format!("SCIM service {base_url}: token not checked");
    let features = match client.check_token().await {
        Err(e) => {
            let unauthorized = e.kind() == ErrorKind::Unauthorized;
            let what = if unauthorized {
                format!("SCIM service {base_url}: token refused")
            } else {
                unchecked
            };
            checks.fail(&what, &e.to_string(), unauthorized);
            return;
        }
        Ok(features) => {
            checks.pass(&accepted);
            features
        }
    };
    let mut supported = Vec::new();
    let mut lacking = Vec::new();
    for (name, has) in [
        ("PATCH", features.patch),
        ("filter", features.filter),
        ("sort", features.sort),
        ("ETag", features.etag),
        ("Bulk", features.bulk),
    ] {
        if has { &mut supported } else { &mut lacking }.push(name);
    }
    checks.pass(&format!(
        "SCIM service supports: {}; lacks: {} (sort, ETag and Bulk are not needed)",
        none_if_empty(&supported),
        none_if_empty(&lacking),
    ));
    if features.patch {
        checks.pass("PATCH: users and group members change without replacing them");
    } else {
        checks.fail(
            "PATCH not supported",
            "the connector changes users and group members only with PATCH (never a PUT that \
             would drop what it does not manage); this service cannot be provisioned",
            false,
        );
    }
    // The connector reads /Groups on every full read (groups it owns are found there); a
    // service without it cannot be provisioned, mirrored groups or not.
    match client.check_groups().await {
        Ok(()) if spec_groups > 0 => checks.pass(&format!(
            "Groups: served; spec.groups mirrors {spec_groups} group(s) into it"
        )),
        Ok(()) => checks.pass("Groups: served"),
        Err(e) => checks.fail(
            "Groups not served",
            &format!("the connector reads /Groups on every full read: {e}"),
            e.kind() == ErrorKind::Unauthorized,
        ),
    }
    if features.filter {
        checks.pass("filter: a create whose answer was lost is looked up by userName");
    } else {
        checks.pass(
            "filter not supported: a create whose answer was lost is looked up by listing \
             every user (slower, still safe)",
        );
    }
}

fn none_if_empty(names: &[&str]) -> String {
    if names.is_empty() {
        "nothing".into()
    } else {
        names.join(", ")
    }
}

async fn verify_password_boss(client: &PasswordBossClient, checks: &mut Checks) {
    // The failing line says what failed, never "token accepted".
    let pb = "Password Boss: token accepted";
    let pb_unchecked = "Password Boss: token not checked";
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

async fn verify_groups(graph: &GraphClient, spec: &AzureAdConnectorSpec, checks: &mut Checks) {
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
        Ok(s) => {
            checks.pass(&format!(
                "Members readable: {} users in the sync group{}",
                s.users.len(),
                if spec.nested_groups {
                    " (nested groups included)"
                } else {
                    ""
                }
            ));
            // A mirrored group whose members cannot be read does not stop a sync, but it is
            // left out of it: say so.
            for p in &s.group_problems {
                checks.fail(&format!("Group {}", p.selector), &p.message, false);
            }
        }
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
