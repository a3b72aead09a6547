//! A `spec.scim` connector run by the operator (the built binary, against a real kube-apiserver)
//! syncs the sample tenant into PyPI's scim2-server — a SCIM 2.0 server nobody here wrote — and
//! the end state is checked from the server's own dump.

use std::time::Duration;

use crate::support::e2e::{NAME, Operator, cluster_with_sample};
use crate::support::scim::ScimServer;
use pbconnector::resources::{
    ANNOTATION_VERIFY_REQUESTED_AT, AzureAdConnectorStatus, CONDITION_PASSWORDBOSS_AUTHORIZED,
    CONDITION_SCIM_AUTHORIZED, Connection,
};
use pbconnector_simulators::sample::SampleEnvironment;

const MINUTE: Duration = Duration::from_secs(60);

/// The sample's manifests in `ns` with the connector pointed at `server` instead of Password
/// Boss (and `existingUser` left to its SCIM default, `Skip`).
pub fn scim_manifests(env: &SampleEnvironment, ns: &str, server: &ScimServer) -> String {
    let mut connector = env.connector_json(ns);
    let spec = connector["spec"].as_object_mut().expect("a spec");
    spec.remove("passwordBoss");
    spec.insert(
        "scim".into(),
        serde_json::json!({
            "baseUrl": server.base_url().as_str(),
            "tokenSecretRef": {"name": "scim", "key": "token"},
        }),
    );
    spec["syncRules"]
        .as_object_mut()
        .expect("syncRules")
        .remove("existingUser");
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: entra-app\n  namespace: {ns}\n\
         type: Opaque\nstringData:\n  client-secret: \"{}\"\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata:\n  name: scim\n  namespace: {ns}\n\
         type: Opaque\nstringData:\n  token: \"{}\"\n---\n{}",
        env.client_secret,
        server.token(),
        serde_saphyr::to_string(&connector).expect("the connector serializes")
    )
}

fn condition<'a>(s: &'a AzureAdConnectorStatus, kind: &str) -> Option<&'a str> {
    s.conditions
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| c.status.as_str())
}

/// First sync from the controller: every enabled member with a usable email is a SCIM user
/// carrying its Entra id, names, primary email and `active`; the mirrored groups hold their
/// members; the condition is `ScimAuthorized`. A member removed from the sync group is then
/// disabled (`active: false`), never deleted; `verify` reports what the service supports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_syncs_a_scim_connector_into_scim2_server() {
    let (cluster, ns, env) = cluster_with_sample("e2e-scim", 20, "10s").await;
    let mut server = ScimServer::start().await;
    let operator =
        Operator::start(&cluster.operator_kubeconfig().await, &["--namespace", &ns]).await;
    cluster.apply(&scim_manifests(&env, &ns, &server)).await;

    let status = cluster
        .wait_status(&ns, "the first SCIM sync", MINUTE, |s| {
            s.connection == Connection::Connected && s.last_sync.created > 0
        })
        .await;
    assert_eq!(condition(&status, CONDITION_SCIM_AUTHORIZED), Some("True"));
    assert_eq!(
        condition(&status, CONDITION_PASSWORDBOSS_AUTHORIZED),
        None,
        "a SCIM connector has no Password Boss side"
    );
    let company = status.company.as_ref().expect("status.company");
    assert_eq!(
        company.id,
        server.base_url().as_str().trim_end_matches('/'),
        "the company is the normalised base URL"
    );
    // 20 members, the guest and the no-mail user (by UPN); not the disabled user nor the two
    // sharing an email.
    assert_eq!(status.users.active, 22, "{status:?}");
    assert_eq!(status.last_sync.groups_created, 3);

    // A member leaves the sync group: disabled in SCIM at the next sync (one is within the
    // safety limits), never deleted.
    let leaver = env.members[0].clone();
    env.tenant.remove_member(&env.sync_group_id, &leaver);
    let leaver_mail = env
        .tenant
        .user(&leaver)
        .and_then(|u| u.mail)
        .expect("a member with mail");
    cluster
        .wait_status(&ns, "the leaver disabled", MINUTE, |s| {
            s.users.disabled == 1
        })
        .await;

    // verify: the token, and what the service supports and lacks.
    cluster
        .kubectl
        .ok(&[
            "-n",
            &ns,
            "annotate",
            &format!("aadc/{NAME}"),
            &format!("{ANNOTATION_VERIFY_REQUESTED_AT}=v1"),
        ])
        .await;
    let status = cluster
        .wait_status(&ns, "verify answered", MINUTE, |s| {
            s.verify.as_ref().is_some_and(|v| v.requested_at == "v1")
        })
        .await;
    let checks = &status.verify.expect("verify").checks;
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
    let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    for start in [
        "SCIM service http://127.0.0.1:",
        "SCIM service supports: PATCH, filter",
        "PATCH: users and group members change",
        "Groups: served; spec.groups mirrors 3 group(s)",
    ] {
        assert!(
            names.iter().any(|n| n.starts_with(start)),
            "{start:?} in {names:?}"
        );
    }
    operator.stop().await;

    // The end state, as the server itself dumps it.
    let dump = server.stop().await;
    let users = dump.user_names();
    assert_eq!(users.len(), 22, "{users:?}");
    for id in env.members.iter().skip(1) {
        let entra = env.tenant.user(id).expect("a member");
        let mail = entra.mail.clone().expect("mail");
        let user = dump
            .user(&mail)
            .unwrap_or_else(|| panic!("{mail} in {users:?}"));
        assert_eq!(user.external_id.as_deref(), Some(id.as_str()));
        assert_eq!(user.active, Some(true), "{mail}");
        assert_eq!(user.primary_email(), Some(mail.as_str()));
        let name = user.name.as_ref().expect("name");
        assert_eq!(name.given_name, entra.given_name, "{mail}");
        assert_eq!(name.family_name, entra.surname, "{mail}");
        assert_eq!(
            user.display_name.as_deref(),
            Some(
                format!(
                    "{} {}",
                    name.given_name.as_deref().unwrap(),
                    name.family_name.as_deref().unwrap()
                )
                .as_str()
            )
        );
    }
    let gone = dump.user(&leaver_mail).expect("the leaver's account stays");
    assert_eq!(gone.active, Some(false), "disabled, not deleted");
    for (name, id) in &env.groups {
        let group = dump
            .group(name)
            .unwrap_or_else(|| panic!("group {name} mirrored"));
        assert_eq!(group.external_id.as_deref(), Some(id.as_str()));
        assert!(!group.members.is_empty(), "{name} has members");
    }
    cluster.cleanup().await;
}
