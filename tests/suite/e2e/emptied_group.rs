//! An emptied mirrored group survives on the real API server: the operator made the group in
//! Password Boss and an item is shared with it; every member leaves the Entra group (they stay
//! in the sync group), and the next syncs empty the Password Boss group through the safety
//! budget but keep it and its sharing, with no group delete sent.

use std::time::Duration;

use serde_json::json;

use crate::support::e2e::{Cluster, Operator, sample};
use pbconnector::resources::Connection;

const MINUTE: Duration = Duration::from_secs(60);
const SHARED: &str = "Payroll portal";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emptied_mirrored_group_is_kept_with_its_sharing() {
    let cluster = Cluster::shared().await;
    cluster.install_crd().await;
    let ns = cluster.namespace("e2e-emptied").await;
    let env = sample(8, "10s").await;
    let kubeconfig = cluster.operator_kubeconfig().await;
    let operator = Operator::start(&kubeconfig, &["--namespace", &ns]).await;

    // One mirrored group, HR; limits wide enough that emptying it is within the budget.
    let (_, hr_entra) = env
        .groups
        .iter()
        .find(|(name, _)| name == "HR")
        .expect("the sample mirrors HR")
        .clone();
    let mut manifests = env.manifests(&ns);
    let mut connector = env.connector_json(&ns);
    connector["spec"]["groups"] = json!([{"displayName": "HR"}]);
    connector["spec"]["safety"]["maxDeprovisionPercent"] = json!(100);
    connector["spec"]["safety"]["percentFloor"] = json!(100);
    manifests = manifests
        .split("\n---\n")
        .filter(|doc| !doc.contains("kind: AzureAdConnector"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    cluster.apply(&manifests).await;
    cluster.apply(&connector.to_string()).await;

    let first = cluster
        .wait_status(&ns, "HR made with its members", MINUTE, |s| {
            s.connection == Connection::Connected && s.users.active > 0
        })
        .await;
    let hr = env
        .password_boss
        .group_by_name("HR")
        .expect("the operator made HR");
    let members = env.password_boss.members(&hr.id).expect("HR's members");
    assert!(!members.is_empty(), "HR has members after the first sync");
    env.password_boss
        .share_item(&hr.id, SHARED)
        .expect("share an item with HR");
    let active = first.users.active;

    // Every member leaves HR in Entra; they stay in the sync group.
    // The sample puts member i in groups[i % 3]: HR's are 1, 4, 7, …
    let hr_index = env.groups.iter().position(|(name, _)| name == "HR");
    let leaving: Vec<&String> = env
        .members
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(i % env.groups.len()) == hr_index)
        .map(|(_, id)| id)
        .collect();
    assert_eq!(leaving.len(), members.len(), "one account per HR member");
    for member in &leaving {
        env.tenant.remove_member(&hr_entra, member);
    }
    let status = cluster
        .wait_status(&ns, "HR emptied", MINUTE, |s| {
            s.last_sync_time != first.last_sync_time
                && s.blocked.is_none()
                && env
                    .password_boss
                    .members(&hr.id)
                    .is_some_and(|m| m.is_empty())
        })
        .await;
    assert_eq!(status.connection, Connection::Connected);
    assert_eq!(
        status.users.active, active,
        "the members keep their accounts"
    );
    assert_eq!(status.last_sync.groups_deleted, 0);

    // Another sync leaves the empty group as it is.
    let emptied_at = status.last_sync_time.clone();
    let later = cluster
        .wait_status(&ns, "a later sync", MINUTE, |s| {
            s.last_sync_time != emptied_at
        })
        .await;
    assert_eq!(later.last_sync.groups_deleted, 0);
    let kept = env
        .password_boss
        .group_by_name("HR")
        .expect("HR is kept once emptied");
    assert_eq!(kept.id, hr.id);
    assert_eq!(env.password_boss.members(&hr.id), Some(Vec::new()));
    assert_eq!(
        env.password_boss.shared_items(&hr.id),
        Some(vec![SHARED.to_string()]),
        "HR's sharing is intact"
    );
    let deletes: Vec<_> = env
        .password_boss
        .write_log()
        .into_iter()
        .filter(|w| w.method == "DELETE" && w.path.starts_with("/v1/groups/"))
        .collect();
    assert!(deletes.is_empty(), "no group delete was sent: {deletes:?}");

    assert!(operator.stop().await.success());
    cluster.cleanup().await;
}
