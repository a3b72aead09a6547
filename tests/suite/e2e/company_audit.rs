//! Issue 16, cases 7 and 9, and issue 29's forged company, through the built `pbconnector run`
//! binary with the chart's RBAC on a real kube-apiserver, driven with kubectl:
//! - two connectors whose tokens reach one Password Boss company: the older claims it (a Lease in
//!   the operator's namespace) and syncs, the newer is held before its first write
//!   (`Ready=False/CompanyConflict`, a Warning Event), also after an operator restart; deleting
//!   the older releases the claim and lets the newer sync;
//! - a tenant forging `status.company` on its own older connector holds nobody;
//! - the audit trail of a sync that deprovisions: one `UsersDeprovisioned` Event naming the users,
//!   `status.lastSync.actions`, and one JSON log line per write under `pbconnector::audit`.

use std::time::Duration;

use crate::support::e2e::{Cluster, NAME, Operator, cluster_with_sample, eventually};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams};
use pbconnector::controller::companies::claim_name;
use pbconnector::resources::{
    ANNOTATION_SYNC_REQUESTED_AT, AzureAdConnectorStatus, CONDITION_READY, CompanyRef, Connection,
    GroupSelector, WriteOutcome,
};
use pbconnector::sync::state::AUDIT_TARGET;
use pbconnector_simulators::passwordboss::wire::UserStatus;
use pbconnector_simulators::sample::SampleEnvironment;
use serde_json::{Value, json};

const MINUTE: Duration = Duration::from_secs(60);
/// The connector created second, with its own token of the same company.
const NEWER: &str = "contoso-2";

/// `Ready`'s (status, reason, message).
fn ready(s: &AzureAdConnectorStatus) -> Option<(&str, &str, &str)> {
    s.conditions
        .iter()
        .find(|c| c.type_ == CONDITION_READY)
        .map(|c| (c.status.as_str(), c.reason.as_str(), c.message.as_str()))
}

/// The status of connector `name` once `accept` holds for it.
async fn wait_for(
    cluster: &Cluster,
    ns: &str,
    name: &str,
    what: &str,
    accept: impl Fn(&AzureAdConnectorStatus) -> bool,
) -> AzureAdConnectorStatus {
    let api = cluster.connectors(ns);
    eventually(&format!("{name}: {what}"), MINUTE, || {
        let api = api.clone();
        let accept = &accept;
        async move {
            let c = api.get(name).await.ok()?;
            c.status.filter(|s| accept(s))
        }
    })
    .await
}

async fn request_sync(cluster: &Cluster, ns: &str, name: &str, value: &str) {
    cluster
        .kubectl
        .ok(&[
            "-n",
            ns,
            "annotate",
            &format!("aadc/{name}"),
            "--overwrite",
            &format!("{ANNOTATION_SYNC_REQUESTED_AT}={value}"),
        ])
        .await;
}

/// A second connector of the sample tenant whose token (a Secret of its own) reaches the same
/// Password Boss company, syncing another group (Engineering, a third of the members) with the
/// safety limits lifted: left to write, it would disable every other account the first one
/// keeps — the fight of issue 16 case 7.
fn newer_connector(env: &SampleEnvironment, ns: &str, token: &str) -> String {
    let mut spec: pbconnector::resources::AzureAdConnectorSpec =
        serde_json::from_value(env.spec_json()).unwrap();
    spec.password_boss
        .as_mut()
        .expect("a Password Boss connector")
        .token_secret_ref
        .name = "passwordboss-2".into();
    spec.sync_group = GroupSelector::by_name("Engineering");
    spec.safety.max_deprovisions_per_sync = 1_000;
    spec.safety.max_deprovision_percent = 100;
    json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
             "metadata": {"name": "passwordboss-2", "namespace": ns},
             "stringData": {"token": token}},
            {"apiVersion": "passwordboss.com/v1alpha1", "kind": "AzureAdConnector",
             "metadata": {"name": NEWER, "namespace": ns},
             "spec": spec},
        ]
    })
    .to_string()
}

/// The company id `token` reaches, as `GET /v1/connector` names it.
async fn company_id(env: &SampleEnvironment) -> String {
    let info: Value = reqwest::Client::new()
        .get(env.password_boss.url().join("v1/connector").unwrap())
        .bearer_auth(env.password_boss.token())
        .send()
        .await
        .expect("the simulator answers")
        .json()
        .await
        .expect("JSON");
    info["companyId"].as_str().expect("companyId").to_owned()
}

/// The operator's JSON log lines under the audit target.
fn audit_lines(operator: &Operator) -> Vec<Value> {
    operator
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == AUDIT_TARGET)
        .collect()
}

/// Azure AD–managed accounts disabled in Password Boss.
fn disabled(env: &SampleEnvironment) -> usize {
    env.password_boss
        .azure_users()
        .iter()
        .filter(|u| u.status == UserStatus::Disabled)
        .count()
}

fn events_about<'a>(events: &'a [Value], name: &str, reason: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["regarding"]["name"] == name && e["reason"] == reason)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connectors_of_one_company_only_the_older_writes() {
    let (cluster, ns, env) = cluster_with_sample("e2e-company", 20, "10s").await;
    let second_token = format!("pbsim-second-{}", uuid::Uuid::new_v4().simple());
    env.password_boss.add_token(&second_token);
    let kubeconfig = cluster.operator_kubeconfig().await;
    let operator = Operator::start(&kubeconfig, &["--namespace", &ns]).await;

    cluster.apply(&env.manifests(&ns)).await;
    let older = wait_for(&cluster, &ns, NAME, "synced", |s| {
        ready(s).is_some_and(|r| r.1 == "Synced")
    })
    .await;
    let company = older.company.clone().expect("status.company of the older");
    assert_eq!(company.name, "Contoso");
    let managed = env.password_boss.azure_users().len();
    assert!(managed > 20, "{managed}");

    // The newer connector, created later, reaches the same company with its own token.
    cluster
        .apply(&newer_connector(&env, &ns, &second_token))
        .await;
    let held = wait_for(&cluster, &ns, NEWER, "held", |s| {
        ready(s).is_some_and(|r| r.1 == "CompanyConflict")
    })
    .await;
    let (value, _, message) = ready(&held).expect("Ready");
    assert_eq!(value, "False");
    assert!(
        message.contains(&format!(
            "{ns}/{NAME} reaches the same Password Boss company"
        )) && message.contains(&format!("{} ({})", company.name, company.id)),
        "names the older connector and the company: {message}"
    );
    assert_eq!(
        held.connection,
        Connection::Connected,
        "its credentials work: {}",
        held.message
    );
    assert_eq!(held.company.as_ref(), Some(&company));
    let newer_requests = env.password_boss.requests_with_token(&second_token);
    assert!(newer_requests.reads() > 0, "the newer read Password Boss");
    assert_eq!(
        newer_requests.writes(),
        0,
        "the newer wrote nothing, not even on its first sync: {newer_requests:?}"
    );
    assert_eq!(disabled(&env), 0, "nobody was disabled");
    let events = cluster.events(&ns).await;
    let warnings = events_about(&events, NEWER, "CompanyConflict");
    assert_eq!(warnings.len(), 1, "{events:#?}");
    assert_eq!(warnings[0]["type"], "Warning");
    assert!(
        warnings[0]["note"]
            .as_str()
            .is_some_and(|n| n.contains(&format!("{ns}/{NAME}"))),
        "{warnings:#?}"
    );
    assert!(events_about(&events, NAME, "CompanyConflict").is_empty());

    // The older keeps syncing.
    request_sync(&cluster, &ns, NAME, "older-1").await;
    let older = wait_for(&cluster, &ns, NAME, "request handled", |s| {
        s.last_handled_sync_request.as_deref() == Some("older-1")
    })
    .await;
    assert_eq!(ready(&older).map(|r| (r.0, r.1)), Some(("True", "Synced")));

    // The claim is a Lease in the operator's namespace, held by the older connector's uid.
    let older_uid = cluster
        .connectors(&ns)
        .get(NAME)
        .await
        .expect("the older")
        .metadata
        .uid
        .expect("a uid");
    let identity = cluster.operator_identity(&[]).await;
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), &identity.namespace);
    let claim = leases
        .get(&claim_name(&company.id))
        .await
        .expect("the company's claim");
    assert_eq!(
        claim.spec.and_then(|s| s.holder_identity),
        Some(older_uid.clone())
    );

    // A restarted operator decides from the claim before the newer writes anything.
    operator.stop().await;
    let operator = Operator::start(&kubeconfig, &["--namespace", &ns]).await;
    request_sync(&cluster, &ns, NEWER, "after-restart").await;
    let held = wait_for(&cluster, &ns, NEWER, "request handled", |s| {
        s.last_handled_sync_request.as_deref() == Some("after-restart")
    })
    .await;
    assert_eq!(
        ready(&held).map(|r| r.1),
        Some("CompanyConflict"),
        "{}",
        held.message
    );
    assert_eq!(
        env.password_boss
            .requests_with_token(&second_token)
            .writes(),
        0
    );
    assert_eq!(disabled(&env), 0);
    assert!(
        !audit_lines(&operator)
            .iter()
            .any(|l| l["connector"] == format!("{ns}/{NEWER}")),
        "no write of the newer was even attempted"
    );

    // The older goes: its claim is released, the newer syncs at its next sync, and now writes —
    // its own group's view.
    cluster
        .kubectl
        .ok(&["-n", &ns, "delete", &format!("aadc/{NAME}")])
        .await;
    eventually("the older's claim released", MINUTE, || {
        let leases = leases.clone();
        let company = company.clone();
        let older_uid = older_uid.clone();
        async move {
            let claim = leases.get_opt(&claim_name(&company.id)).await.ok()?;
            let holder = claim.and_then(|c| c.spec).and_then(|s| s.holder_identity);
            (holder.as_deref() != Some(older_uid.as_str())).then_some(())
        }
    })
    .await;
    request_sync(&cluster, &ns, NEWER, "older-deleted").await;
    let synced = wait_for(&cluster, &ns, NEWER, "synced", |s| {
        s.last_handled_sync_request.as_deref() == Some("older-deleted")
    })
    .await;
    assert_eq!(
        ready(&synced).map(|r| (r.0, r.1)),
        Some(("True", "Synced")),
        "{}",
        synced.message
    );
    assert!(synced.last_sync.disabled > 0, "{:?}", synced.last_sync);
    assert_eq!(disabled(&env), synced.last_sync.disabled as usize);
    assert!(
        env.password_boss
            .requests_with_token(&second_token)
            .writes()
            > 0
    );
    let lines = audit_lines(&operator);
    assert!(
        lines
            .iter()
            .any(|l| l["connector"] == format!("{ns}/{NEWER}")
                && l["action"] == "DisableUser"
                && l["outcome"] == "applied"),
        "{lines:#?}"
    );
    operator.stop().await;
    cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deprovisioning_sync_names_the_users_in_an_event_status_and_logs() {
    let (cluster, ns, env) = cluster_with_sample("e2e-audit", 30, "10s").await;
    let operator =
        Operator::start(&cluster.operator_kubeconfig().await, &["--namespace", &ns]).await;
    cluster.apply(&env.manifests(&ns)).await;
    let first = cluster
        .wait_connection(&ns, Connection::Connected, MINUTE)
        .await;
    assert_eq!(first.last_sync.actions_omitted, 0);

    // Three direct members leave the sync group: disabled (the default rule), within the
    // safety limits.
    let leavers: Vec<(String, String)> = env
        .members
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 5 != 4)
        .skip(1)
        .take(3)
        .map(|(_, id)| {
            let mail = env.tenant.user(id).and_then(|u| u.mail).expect("a mail");
            (id.clone(), mail)
        })
        .collect();
    for (id, _) in &leavers {
        env.tenant.remove_member(&env.sync_group_id, id);
    }
    request_sync(&cluster, &ns, NAME, "leavers").await;
    // The requested sync, or a periodic one that came first.
    let status = cluster
        .wait_status(&ns, "the leavers disabled", MINUTE, |s| {
            s.last_sync.disabled == 3
        })
        .await;

    // status.lastSync.actions: who, how, why.
    for (id, mail) in &leavers {
        let user = env.password_boss.user_by_email(mail).expect("still there");
        assert_eq!(user.status, UserStatus::Disabled);
        let entry = status
            .last_sync
            .actions
            .iter()
            .find(|a| a.target == *mail)
            .unwrap_or_else(|| panic!("{mail} in {:#?}", status.last_sync.actions));
        assert_eq!(entry.action, "DisableUser");
        assert_eq!(entry.outcome, WriteOutcome::Applied);
        assert_eq!(entry.reason.as_deref(), Some("RemovedFromGroup"));
        assert_eq!(entry.entra_id.as_deref(), Some(id.as_str()));
        assert_eq!(entry.password_boss_id.as_deref(), Some(user.id.as_str()));
    }
    // Besides the disables, the mirrored groups lose the leavers.
    let actions = &status.last_sync.actions;
    assert_eq!(
        actions.iter().filter(|a| a.action == "DisableUser").count(),
        3
    );
    assert!(
        actions[..3].iter().all(|a| a.action == "DisableUser"),
        "deprovisions first: {actions:#?}"
    );
    assert!(
        actions[3..].iter().all(|a| a.action == "UpdateGroup"),
        "{actions:#?}"
    );

    // One Event naming them.
    let events = eventually("the UsersDeprovisioned Event", MINUTE, || {
        let cluster = &cluster;
        let ns = &ns;
        async move {
            let events = cluster.events(ns).await;
            let found: Vec<Value> = events_about(&events, NAME, "UsersDeprovisioned")
                .into_iter()
                .cloned()
                .collect();
            (!found.is_empty()).then_some(found)
        }
    })
    .await;
    assert_eq!(events.len(), 1, "{events:#?}");
    let note = events[0]["note"].as_str().expect("a note");
    assert!(note.starts_with("Deprovisioned 3 users: "), "{note}");
    for (_, mail) in &leavers {
        assert!(note.contains(&format!("{mail} (DisableUser)")), "{note}");
    }

    // One audit line per write, the deprovisions among them.
    let lines = audit_lines(&operator);
    let connector = format!("{ns}/{NAME}");
    for (id, mail) in &leavers {
        let disables: Vec<&Value> = lines
            .iter()
            .filter(|l| l["email"] == mail.as_str() && l["action"] == "DisableUser")
            .collect();
        assert_eq!(disables.len(), 1, "{lines:#?}");
        let line = disables[0];
        assert_eq!(line["connector"], connector.as_str());
        assert_eq!(line["entra_id"], id.as_str());
        assert_eq!(line["outcome"], "applied");
        assert_eq!(line["reason"], "RemovedFromGroup");
        assert!(line["passwordboss_id"].is_string(), "{line}");
    }
    // Idle syncs write nothing: the lines are those of the first sync and of this one.
    assert_eq!(
        lines.len(),
        first.last_sync.actions.len() + actions.len(),
        "{lines:#?}"
    );
    operator.stop().await;
    cluster.cleanup().await;
}

/// Issue 29: a tenant with status write on its own, older connector — whose syncs fail before
/// they reach Password Boss — sets its `status.company` to another customer's company. The other
/// customer's connector, in another namespace, syncs all the same: status takes no part in the
/// claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_status_company_holds_nobody() {
    let (cluster, victim_ns, env) = cluster_with_sample("e2e-victim", 10, "10s").await;
    let tenant_ns = cluster.namespace("e2e-forger").await;
    let operator = Operator::start(
        &cluster.operator_kubeconfig().await,
        &["--namespace", &format!("{tenant_ns},{victim_ns}")],
    )
    .await;

    // The tenant's connector, older, without its Secrets: every sync fails before Password Boss.
    let forger = env.connector_json(&tenant_ns);
    cluster.apply(&forger.to_string()).await;
    let failed = wait_for(&cluster, &tenant_ns, NAME, "failed", |s| {
        ready(s).is_some_and(|r| r.0 == "False" && r.1.starts_with("Secret"))
    })
    .await;
    assert_eq!(failed.company, None, "it never reached Password Boss");
    let company = CompanyRef {
        id: company_id(&env).await,
        name: "Contoso".into(),
    };
    cluster
        .connectors(&tenant_ns)
        .patch_status(
            NAME,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"company": company}})),
        )
        .await
        .expect("the tenant may write its connector's status");

    // The victim's connector, created later, reaches that company with its genuine token.
    cluster.apply(&env.manifests(&victim_ns)).await;
    let synced = wait_for(&cluster, &victim_ns, NAME, "synced", |s| {
        ready(s).is_some_and(|r| r.1 == "Synced")
    })
    .await;
    assert_eq!(synced.company.as_ref(), Some(&company));
    assert!(env.password_boss.requests().writes() > 0);
    let forged = cluster
        .connectors(&tenant_ns)
        .get(NAME)
        .await
        .expect("the forger")
        .status
        .expect("a status");
    assert_eq!(
        forged.company.as_ref(),
        Some(&company),
        "the forged status stood while the victim synced"
    );
    assert!(events_about(&cluster.events(&victim_ns).await, NAME, "CompanyConflict").is_empty());
    operator.stop().await;
    cluster.cleanup().await;
}
