//! The fleet-wide freeze on the real API server: `pbconnector run --freeze-destructive` holds a
//! departed user's deprovision in two connectors at once (each against its own simulators),
//! while creates go on; each status says `Frozen` and lists the held set without an approval
//! token, and an approval annotation does not release it. Restarted without the freeze, the
//! operator applies the deprovisions (one leaver each, within the safety limits).

use std::time::Duration;

use crate::support::e2e::{Cluster, NAME, Operator, sample};
use pbconnector::resources::{
    ANNOTATION_APPROVE_DEPROVISIONS, AzureAdConnectorStatus, CONDITION_DEPROVISION_BLOCKED,
    CONDITION_READY, Connection,
};
use pbconnector_simulators::passwordboss::wire::UserStatus;
use pbconnector_simulators::sample::SampleEnvironment;

const MINUTE: Duration = Duration::from_secs(60);

fn reason<'a>(status: &'a AzureAdConnectorStatus, kind: &str) -> Option<(&'a str, &'a str)> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| (c.status.as_str(), c.reason.as_str()))
}

/// The email of the member who leaves the sync group.
fn leave(env: &SampleEnvironment) -> String {
    let leaver = env.members[0].clone();
    let mail = env
        .tenant
        .user(&leaver)
        .and_then(|u| u.mail)
        .expect("a member with mail");
    env.tenant.remove_member(&env.sync_group_id, &leaver);
    mail
}

fn pb_status(env: &SampleEnvironment, email: &str) -> UserStatus {
    env.password_boss
        .user_by_email(email)
        .unwrap_or_else(|| panic!("{email} in Password Boss"))
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_freeze_holds_a_deprovision_in_two_connectors_until_it_is_lifted() {
    let cluster = Cluster::shared().await;
    cluster.install_crd().await;
    let namespaces = [
        cluster.namespace("e2e-freeze-a").await,
        cluster.namespace("e2e-freeze-b").await,
    ];
    let envs = [sample(8, "10s").await, sample(8, "10s").await];
    let watched = namespaces.join(",");
    let kubeconfig = cluster.operator_kubeconfig().await;
    let operator = Operator::start(
        &kubeconfig,
        &["--namespace", &watched, "--freeze-destructive"],
    )
    .await;
    for (ns, env) in namespaces.iter().zip(&envs) {
        cluster.apply(&env.manifests(ns)).await;
    }
    // Creates go on under the freeze; the condition says the freeze is on.
    for ns in &namespaces {
        let status = cluster
            .wait_status(ns, "the first sync, frozen", MINUTE, |s| {
                s.connection == Connection::Connected && s.users.active > 0
            })
            .await;
        assert_eq!(
            reason(&status, CONDITION_DEPROVISION_BLOCKED),
            Some(("False", "Frozen")),
            "{status:?}"
        );
    }

    let leavers: Vec<String> = envs.iter().map(leave).collect();
    for (ns, (env, leaver)) in namespaces.iter().zip(envs.iter().zip(&leavers)) {
        let status = cluster
            .wait_status(ns, "the leaver held by the freeze", MINUTE, |s| {
                s.blocked.as_ref().is_some_and(|b| b.deprovisions == 1)
            })
            .await;
        let blocked = status.blocked.as_ref().expect("status.blocked");
        assert!(blocked.frozen, "{blocked:?}");
        assert_eq!(blocked.approval, "", "no approval token under the freeze");
        assert_eq!(blocked.users.len(), 1);
        assert_eq!(&blocked.users[0].email, leaver);
        assert!(blocked.limit.contains("fleet-wide freeze"), "{blocked:?}");
        assert_eq!(
            reason(&status, CONDITION_DEPROVISION_BLOCKED),
            Some(("True", "Frozen"))
        );
        assert_eq!(reason(&status, CONDITION_READY), Some(("False", "Frozen")));
        assert_eq!(status.connection, Connection::Connected);
        assert!(status.safety.as_ref().is_none_or(|s| s.spent.is_empty()));
        assert_eq!(pb_status(env, leaver), UserStatus::Active, "not disabled");
        assert_eq!(status.last_sync.disabled, 0);
    }

    // An approval annotation does not release the freeze: the next handled sync says so.
    let ns = &namespaces[0];
    cluster
        .kubectl
        .ok(&[
            "-n",
            ns,
            "annotate",
            &format!("aadc/{NAME}"),
            &format!("{ANNOTATION_APPROVE_DEPROVISIONS}=1-00000000"),
        ])
        .await;
    let status = cluster
        .wait_status(ns, "the approval reported as not applied", MINUTE, |s| {
            s.approval_problem
                .as_deref()
                .is_some_and(|p| p.contains("fleet-wide freeze"))
        })
        .await;
    assert!(status.blocked.is_some_and(|b| b.frozen));
    assert_eq!(pb_status(&envs[0], &leavers[0]), UserStatus::Active);
    cluster
        .kubectl
        .ok(&[
            "-n",
            ns,
            "annotate",
            &format!("aadc/{NAME}"),
            &format!("{ANNOTATION_APPROVE_DEPROVISIONS}-"),
        ])
        .await;
    assert!(operator.stop().await.success());

    // Lifted: one leaver each is within the limits and is disabled at once.
    let operator = Operator::start(&kubeconfig, &["--namespace", &watched]).await;
    for (ns, (env, leaver)) in namespaces.iter().zip(envs.iter().zip(&leavers)) {
        let status = cluster
            .wait_status(ns, "the leaver disabled after the freeze", MINUTE, |s| {
                s.users.disabled == 1 && s.blocked.is_none()
            })
            .await;
        assert_eq!(
            reason(&status, CONDITION_DEPROVISION_BLOCKED),
            Some(("False", "WithinLimits"))
        );
        assert_eq!(pb_status(env, leaver), UserStatus::Disabled);
    }
    assert!(operator.stop().await.success());
    cluster.cleanup().await;
}
