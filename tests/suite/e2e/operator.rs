//! The operator as users run it: the built `pbconnector run` binary, with the identity and RBAC
//! the chart gives it, against a real kube-apiserver (tests/suite/support/apiserver.rs), driven with
//! the real kubectl the way the README tells users to (`kubectl apply`, `annotate`, `wait`,
//! `get events`), syncing the Graph and Password Boss simulators.

use std::time::Duration;

use crate::support::apiserver;
use crate::support::e2e::{Cluster, NAME, Operator, cluster_with_sample, eventually, sample};
use crate::support::kubectl::{Kubectl, find_kubectl};
use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};
use pbconnector::resources::{
    ANNOTATION_APPROVE_DEPROVISIONS, ANNOTATION_SYNC_REQUESTED_AT, AzureAdConnectorStatus,
    CONDITION_DEPROVISION_BLOCKED, CONDITION_READY, Connection,
};
use pbconnector_simulators::graph::PathKind;
use pbconnector_simulators::passwordboss::wire::UserStatus;
use pbconnector_simulators::sample::SampleEnvironment;

const MINUTE: Duration = Duration::from_secs(60);

fn condition<'a>(s: &'a AzureAdConnectorStatus, kind: &str) -> Option<&'a str> {
    s.conditions
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| c.status.as_str())
}

fn active_in_password_boss(env: &SampleEnvironment) -> usize {
    env.password_boss
        .azure_users()
        .iter()
        .filter(|u| u.status == UserStatus::Active)
        .count()
}

async fn annotate(cluster: &Cluster, ns: &str, annotation: &str, value: &str) {
    cluster
        .kubectl
        .ok(&[
            "-n",
            ns,
            "annotate",
            &format!("aadc/{NAME}"),
            "--overwrite",
            &format!("{annotation}={value}"),
        ])
        .await;
}

/// New connector → WaitingForConnection → Connected; users appear in Password Boss;
/// `kubectl wait --for=condition=Ready` (also after a spec change, with observedGeneration); a
/// user added in Entra reaches Password Boss within one interval; the sync-now annotation is
/// handled within 2 s; SIGTERM stops the operator cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_connector_connects_and_follows_entra() {
    // The chart's default mode watches every namespace: a server of this test's own, so no other
    // test's connectors are in sight.
    let cluster = Cluster::owned().await;
    cluster.install_crd().await;
    let ns = cluster.namespace("e2e-connect").await;
    let env = sample(200, "10s").await;
    let operator = Operator::start(&cluster.operator_kubeconfig().await, &[]).await;

    // Every connection state the connector's status goes through, in order.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Connection>::new()));
    let recorder = {
        let seen = seen.clone();
        let stream = watcher(cluster.connectors(&ns), watcher::Config::default())
            .applied_objects()
            .boxed();
        tokio::spawn(async move {
            let mut stream = stream;
            while let Some(Ok(c)) = stream.next().await {
                if let Some(connection) = c.status.map(|s| s.connection) {
                    let mut seen = seen.lock().unwrap();
                    if seen.last() != Some(&connection) {
                        seen.push(connection);
                    }
                }
            }
        })
    };

    cluster.apply(&env.manifests(&ns)).await;
    cluster
        .kubectl
        .ok(&[
            "-n",
            &ns,
            "wait",
            "--for=condition=Ready",
            &format!("aadc/{NAME}"),
            "--timeout=60s",
        ])
        .await;
    let connector = cluster.connectors(&ns).get(NAME).await.expect("connector");
    let status = connector.status.clone().expect("status");
    assert_eq!(
        status.connection,
        Connection::Connected,
        "{}",
        status.message
    );
    assert_eq!(status.observed_generation, connector.metadata.generation);
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == CONDITION_READY)
        .expect("Ready condition");
    assert_eq!(ready.status, "True");
    assert_eq!(ready.observed_generation, connector.metadata.generation);
    eventually("the watcher to see Connected", MINUTE, || {
        let seen = seen.lock().unwrap().clone();
        async move { seen.contains(&Connection::Connected).then_some(()) }
    })
    .await;
    assert_eq!(
        seen.lock().unwrap()[..2],
        [Connection::WaitingForConnection, Connection::Connected],
        "the status says WaitingForConnection until the first sync ends"
    );
    recorder.abort();
    assert!(status.users.active > 200, "{:?}", status.users);
    assert_eq!(
        active_in_password_boss(&env),
        status.users.active as usize,
        "every user the status counts is active in Password Boss"
    );
    let out = cluster.kubectl.ok(&["get", "aadc", "-A"]).await;
    assert!(out.contains(&ns) && out.contains("Connected"), "{out}");

    // A user joins the sync group in Entra: in Password Boss with the first sync that starts
    // after the join, the next interval's (each sync reads the group's delta once).
    let joiner = env.outsiders[0].clone();
    let mail = env
        .tenant
        .user(&joiner)
        .and_then(|u| u.mail)
        .expect("the joiner has a mail");
    let reads_at_join = env.graph.requests().http(PathKind::GroupsDelta);
    env.tenant.add_member(&env.sync_group_id, &joiner);
    eventually(
        "the new member in Password Boss",
        Duration::from_secs(15),
        || {
            let found = env.password_boss.user_by_email(&mail);
            async move { found.map(|_| ()) }
        },
    )
    .await;
    let syncs_since_join = env.graph.requests().http(PathKind::GroupsDelta) - reads_at_join;
    assert!(
        syncs_since_join <= 1,
        "reached Password Boss with the first sync after the join, not {syncs_since_join} syncs later"
    );

    // Sync now: handled and echoed within 2 s.
    annotate(
        &cluster,
        &ns,
        ANNOTATION_SYNC_REQUESTED_AT,
        "2026-11-25T08:00:00Z",
    )
    .await;
    cluster
        .wait_status(
            &ns,
            "the sync request echoed",
            Duration::from_secs(2),
            |s| s.last_handled_sync_request.as_deref() == Some("2026-11-25T08:00:00Z"),
        )
        .await;

    // A spec change: Ready again for the new generation.
    cluster
        .kubectl
        .ok(&[
            "-n",
            &ns,
            "patch",
            &format!("aadc/{NAME}"),
            "--type=merge",
            "-p",
            r#"{"spec":{"interval":"15s"}}"#,
        ])
        .await;
    let generation = cluster
        .connectors(&ns)
        .get(NAME)
        .await
        .expect("connector")
        .metadata
        .generation;
    cluster
        .wait_status(&ns, "the new generation observed", MINUTE, |s| {
            s.observed_generation == generation
        })
        .await;
    cluster
        .kubectl
        .ok(&[
            "-n",
            &ns,
            "wait",
            "--for=condition=Ready",
            &format!("aadc/{NAME}"),
            "--timeout=30s",
        ])
        .await;

    let metrics = operator.metrics().await;
    assert!(
        metrics.contains(r#"pbconnector_syncs_total{result="success",target="passwordboss"}"#),
        "{metrics}"
    );
    let logs = operator.logs();
    assert!(
        !logs.contains(&env.client_secret),
        "the client secret was logged"
    );
    assert!(
        !logs.contains(env.password_boss.token()),
        "the Password Boss token was logged"
    );
    let exit = operator.stop().await;
    assert!(exit.success(), "graceful stop on SIGTERM: {exit:?}");
    cluster.cleanup().await;
}

/// The fleet view of one connector, scraped from the running operator's `/metrics`: its series
/// follow its status (ready, connection state, users, last success), a client secret expiring in
/// 10 days turns on `CredentialExpiring` with a Warning Event and the expiry metric, and
/// `kubectl delete aadc` removes every series of the connector.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_metrics_follow_a_connector_and_go_with_it() {
    let (cluster, ns, env) = cluster_with_sample("e2e-fleet", 20, "10s").await;
    let operator =
        Operator::start(&cluster.operator_kubeconfig().await, &["--namespace", &ns]).await;
    cluster.apply(&env.manifests(&ns)).await;
    let status = cluster
        .wait_connection(&ns, Connection::Connected, MINUTE)
        .await;
    let users = status.users;
    assert!(users.in_scope > 0 && users.active > 0, "{users:?}");
    let series = |name: &str, extra: &str, value: &str| {
        format!("pbconnector_{name}{{namespace=\"{ns}\",name=\"{NAME}\"{extra}}} {value}")
    };
    let expected = [
        series("connector_ready", "", "1"),
        series("connector_connection", ",state=\"Connected\"", "1"),
        series("connector_connection", ",state=\"Unauthorized\"", "0"),
        series("connector_users_in_scope", "", &users.in_scope.to_string()),
        series(
            "connector_managed_users",
            ",status=\"active\"",
            &users.active.to_string(),
        ),
        series(
            "connector_held_deprovisions",
            ",cause=\"SafetyLimitExceeded\"",
            "0",
        ),
        series("connector_held_deprovisions", ",cause=\"Frozen\"", "0"),
        series(
            "connector_conflicts",
            "",
            &status.last_sync.conflicts.to_string(),
        ),
        series("connector_interval_seconds", "", "10"),
    ];
    let metrics = operator.metrics().await;
    for line in &expected {
        assert!(
            metrics.contains(line.as_str()),
            "missing {line} in {metrics}"
        );
    }
    let last_success = metrics
        .lines()
        .find(|l| {
            l.starts_with("pbconnector_connector_last_success_timestamp_seconds{")
                && l.contains(&ns)
        })
        .and_then(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
        .unwrap_or_else(|| panic!("no last success series: {metrics}"));
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    assert!(
        (now - 120..=now).contains(&last_success),
        "{last_success} vs now {now}"
    );
    assert!(
        !metrics.contains("connector_credential_expiry_timestamp_seconds{"),
        "no expiry is known for a client secret without clientSecretExpiresAt: {metrics}"
    );

    // The client secret expires in 10 days, as the Entra portal would show it.
    let expires =
        k8s_openapi::jiff::Timestamp::now() + k8s_openapi::jiff::SignedDuration::from_hours(240);
    let expires = expires.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let patch = format!(r#"{{"spec":{{"azure":{{"clientSecretExpiresAt":"{expires}"}}}}}}"#);
    cluster
        .kubectl
        .ok(&[
            "-n",
            &ns,
            "patch",
            &format!("aadc/{NAME}"),
            "--type=merge",
            "-p",
            &patch,
        ])
        .await;
    let status = cluster
        .wait_status(&ns, "CredentialExpiring", MINUTE, |s| {
            condition(s, "CredentialExpiring") == Some("True")
        })
        .await;
    let expiring = status
        .conditions
        .iter()
        .find(|c| c.type_ == "CredentialExpiring")
        .expect("the condition");
    assert_eq!(expiring.reason, "ExpiresSoon");
    assert!(
        expiring.message.contains(&expires) && expiring.message.contains("entra-app/client-secret"),
        "{}",
        expiring.message
    );
    assert!(!expiring.message.contains(&env.client_secret));
    let events = cluster.events(&ns).await;
    assert!(
        events
            .iter()
            .any(|e| e["reason"] == "CredentialExpiring" && e["type"] == "Warning"),
        "a Warning Event CredentialExpiring: {events:#?}"
    );
    let at = expires
        .parse::<k8s_openapi::jiff::Timestamp>()
        .expect("a time")
        .as_second();
    let metrics = operator.metrics().await;
    let line = series(
        "connector_credential_expiry_timestamp_seconds",
        "",
        &at.to_string(),
    );
    assert!(metrics.contains(&line), "missing {line} in {metrics}");

    // Deleted: every series of the connector goes.
    cluster
        .kubectl
        .ok(&["-n", &ns, "delete", &format!("aadc/{NAME}")])
        .await;
    let needle = format!("namespace=\"{ns}\"");
    eventually(
        "the connector's series removed",
        Duration::from_secs(30),
        || {
            let metrics = operator.metrics();
            let needle = needle.clone();
            async move { (!metrics.await.contains(&needle)).then_some(()) }
        },
    )
    .await;
    operator.stop().await;
    cluster.cleanup().await;
}

/// A wrong client secret: Unauthorized with the AADSTS code and a Warning Event; applying the
/// corrected Secret recovers at once, not after the 5-minute interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_unauthorized_until_the_secret_is_fixed() {
    let (cluster, ns, env) = cluster_with_sample("e2e-auth", 20, "5m").await;
    let operator =
        Operator::start(&cluster.operator_kubeconfig().await, &["--namespace", &ns]).await;

    let good = env.manifests(&ns);
    cluster
        .apply(&good.replace(&env.client_secret, "not-the-secret"))
        .await;
    let status = cluster
        .wait_connection(&ns, Connection::Unauthorized, MINUTE)
        .await;
    assert!(
        status.message.contains("AADSTS7000215"),
        "the message names the Entra error: {}",
        status.message
    );
    assert_eq!(condition(&status, CONDITION_READY), Some("False"));
    let events = cluster.events(&ns).await;
    assert!(
        events
            .iter()
            .any(|e| e["reason"] == "AzureUnauthorized" && e["type"] == "Warning"),
        "a Warning Event AzureUnauthorized: {events:#?}"
    );
    assert!(
        env.password_boss.azure_users().is_empty(),
        "nothing written"
    );
    // Read as a log pipeline reads JSON lines (with duplicate keys the last one wins): the
    // failed sync keeps its message, its error and the connector it is about.
    let failed = operator
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["message"] == "sync failed")
        .unwrap_or_else(|| panic!("no 'sync failed' line: {}", operator.logs()));
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("AADSTS7000215")),
        "{failed}"
    );
    assert_eq!(failed["span"]["namespace"], ns.as_str(), "{failed}");
    assert_eq!(failed["span"]["connector"], NAME, "{failed}");

    // The interval is 5 minutes: Connected within the wait is the Secret's change at work.
    let out = cluster.apply(&good).await;
    assert!(out.contains("secret/entra-app configured"), "{out}");
    cluster
        .wait_connection(&ns, Connection::Connected, Duration::from_secs(30))
        .await;
    let events = cluster.events(&ns).await;
    assert!(
        events.iter().any(|e| e["reason"] == "ConnectionRecovered"),
        "{events:#?}"
    );
    assert!(active_in_password_boss(&env) > 20);
    assert!(!operator.logs().contains(&env.client_secret));
    operator.stop().await;
    cluster.cleanup().await;
}

/// An emptied sync group: DeprovisionBlocked with the users listed, nothing deprovisioned, until
/// `kubectl annotate … passwordboss.com/approve-deprovisions=<status.blocked.approval>`; then
/// exactly that set is disabled. The annotation left in place approves nothing later: the next
/// held set says the approval was used. Then a watch that gets 410 Gone: the operator re-lists
/// and still sees new annotations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emptied_group_waits_for_approval_and_a_410_gone_watch_recovers() {
    // The API server is restarted below: a server of this test's own.
    let cluster = Cluster::owned().await;
    cluster.install_crd().await;
    let ns = cluster.namespace("e2e-safety").await;
    let env = sample(60, "10s").await;
    let operator = Operator::start(&cluster.operator_kubeconfig().await, &[]).await;
    cluster.apply(&env.manifests(&ns)).await;
    let connected = cluster
        .wait_connection(&ns, Connection::Connected, MINUTE)
        .await;
    let active = connected.users.active as usize;

    env.empty_sync_group();
    annotate(&cluster, &ns, ANNOTATION_SYNC_REQUESTED_AT, "emptied").await;
    let blocked = cluster
        .wait_status(&ns, "DeprovisionBlocked", MINUTE, |s| {
            condition(s, CONDITION_DEPROVISION_BLOCKED) == Some("True")
        })
        .await;
    let n = blocked.last_sync.blocked_deprovisions;
    assert!(n as usize >= 60, "every member is held back: {n}");
    let held = blocked.blocked.clone().expect("status.blocked");
    assert_eq!(held.deprovisions, n, "the Held column's field");
    assert_eq!(held.users.len(), n as usize, "the held users are listed");
    assert!(
        held.approval
            .starts_with(&format!("{}-", n + held.group_changes))
    );
    assert_eq!(blocked.connection, Connection::Connected);
    assert_eq!(
        condition(&blocked, CONDITION_READY),
        Some("False"),
        "held deprovisions need a person: not Ready"
    );
    assert_eq!(
        active_in_password_boss(&env),
        active,
        "nothing deprovisioned"
    );
    let events = cluster.events(&ns).await;
    assert!(
        events.iter().any(|e| e["reason"] == "DeprovisionBlocked"),
        "{events:#?}"
    );

    // A count (what the annotation took before) approves nothing, and says so.
    annotate(
        &cluster,
        &ns,
        ANNOTATION_APPROVE_DEPROVISIONS,
        &n.to_string(),
    )
    .await;
    let refused = cluster
        .wait_status(&ns, "the count reported as not matching", MINUTE, |s| {
            s.approval_problem
                .as_deref()
                .is_some_and(|p| p.contains("does not match"))
        })
        .await;
    assert_eq!(
        condition(&refused, CONDITION_DEPROVISION_BLOCKED),
        Some("True")
    );
    assert_eq!(
        active_in_password_boss(&env),
        active,
        "nothing deprovisioned"
    );

    annotate(
        &cluster,
        &ns,
        ANNOTATION_APPROVE_DEPROVISIONS,
        &held.approval,
    )
    .await;
    let applied = cluster
        .wait_status(&ns, "the approved deprovisions applied", MINUTE, |s| {
            condition(s, CONDITION_DEPROVISION_BLOCKED) == Some("False")
        })
        .await;
    let record = applied.safety.clone().expect("status.safety");
    assert_eq!(
        record.approvals_used,
        vec![held.approval.clone()],
        "recorded as used"
    );
    let disabled = env
        .password_boss
        .azure_users()
        .iter()
        .filter(|u| u.status == UserStatus::Disabled)
        .count();
    assert_eq!(disabled, n as usize, "exactly the approved number disabled");
    let events = cluster.events(&ns).await;
    assert!(
        events.iter().any(|e| e["reason"] == "ApprovalNotMatching"),
        "{events:#?}"
    );

    // Back in the group (enabled again: not destructive), then emptied again: a new held set,
    // and the approval still annotated is not used a second time.
    env.refill_sync_group();
    annotate(&cluster, &ns, ANNOTATION_SYNC_REQUESTED_AT, "refilled").await;
    cluster
        .wait_status(&ns, "the users enabled again", MINUTE, |s| {
            s.users.disabled == 0 && s.users.active as usize == active
        })
        .await;
    env.empty_sync_group();
    annotate(&cluster, &ns, ANNOTATION_SYNC_REQUESTED_AT, "emptied again").await;
    let again = cluster
        .wait_status(&ns, "held again, the old approval refused", MINUTE, |s| {
            s.approval_problem
                .as_deref()
                .is_some_and(|p| p.contains("already used"))
        })
        .await;
    let again_held = again.blocked.clone().expect("held again");
    assert_ne!(again_held.approval, held.approval, "a new set, a new token");
    assert_eq!(
        active_in_password_boss(&env),
        active,
        "nothing deprovisioned"
    );

    // 410 Gone, as after an etcd compaction: the API server goes away (every watch is cut),
    // etcd moves on meanwhile, and the restarted server's watch cache starts past every
    // resourceVersion the operator has seen.
    let api = cluster.connectors(&ns);
    let seen = api
        .get(NAME)
        .await
        .expect("the connector")
        .metadata
        .resource_version
        .expect("a resourceVersion");
    let server = cluster.server();
    tokio::task::block_in_place(|| {
        server.stop_apiserver();
        for _ in 0..5 {
            server.advance_etcd_revision();
        }
        server.start_apiserver();
    });
    let restarted = server.requests().len();
    // What the operator's watch now gets from its last resourceVersion: 410 Gone.
    let mut stale = api
        .watch(&kube::api::WatchParams::default(), &seen)
        .await
        .expect("a watch starts")
        .boxed();
    match stale.next().await {
        Some(Ok(kube::api::WatchEvent::Error(e))) => assert_eq!(e.code, 410, "{e:?}"),
        other => panic!("a watch from {seen} should get 410 Gone, got {other:?}"),
    }
    annotate(&cluster, &ns, ANNOTATION_SYNC_REQUESTED_AT, "after-410").await;
    cluster
        .wait_status(&ns, "the request after the 410", MINUTE, |s| {
            s.last_handled_sync_request.as_deref() == Some("after-410")
        })
        .await;
    let after = server.requests().split_off(restarted);
    let operator_user =
        |e: &&apiserver::AuditEvent| e.user.username.starts_with("system:serviceaccount:");
    assert!(
        after
            .iter()
            .filter(operator_user)
            .any(|e| e.verb == "watch" && e.resource() == "azureadconnectors"),
        "the operator watched connectors again after its watch was cut: {after:#?}"
    );
    operator.stop().await;
    cluster.cleanup().await;
}

/// Two replicas with `--leader-elect`: only the Lease holder syncs; when it stops (SIGTERM
/// releases the Lease) the standby takes over and handles the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_sync_only_on_the_leader_and_fail_over() {
    let (cluster, ns, env) = cluster_with_sample("e2e-leader", 20, "10s").await;
    let identity = cluster
        .operator_identity(&["leaderElection.enabled=true"])
        .await;
    // The chart's Role lets the operator use its Lease in the release namespace only.
    let release_ns = identity.namespace.clone();
    let elect = [
        "--leader-elect",
        "--lease-namespace",
        release_ns.as_str(),
        "--namespace",
        ns.as_str(),
    ];
    let leader = Operator::start_as(&identity.kubeconfig, "replica-a", &elect).await;
    let standby = Operator::start_as(&identity.kubeconfig, "replica-b", &elect).await;
    cluster.apply(&env.manifests(&ns)).await;
    cluster
        .wait_connection(&ns, Connection::Connected, MINUTE)
        .await;
    let lease = cluster
        .kubectl
        .ok(&[
            "-n",
            &release_ns,
            "get",
            "lease",
            "pbconnector-leader",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ])
        .await;
    assert_eq!(lease.trim(), "replica-a");
    assert!(leader.logs().contains("sync started"), "{}", leader.logs());
    assert!(
        !standby.logs().contains("sync started"),
        "the standby never syncs: {}",
        standby.logs()
    );

    let exit = leader.stop().await;
    assert!(exit.success(), "{exit:?}");
    eventually("the standby to lead", MINUTE, || {
        let leads = standby.logs().contains("leading: starting the controller");
        async move { leads.then_some(()) }
    })
    .await;
    annotate(
        &cluster,
        &ns,
        ANNOTATION_SYNC_REQUESTED_AT,
        "after-failover",
    )
    .await;
    cluster
        .wait_status(&ns, "the request handled by the new leader", MINUTE, |s| {
            s.last_handled_sync_request.as_deref() == Some("after-failover")
        })
        .await;
    assert!(standby.logs().contains("sync started"));
    standby.stop().await;
    cluster.cleanup().await;
}

/// The least-privilege mode: with `watchNamespaces` the chart grants a Role in each and
/// nothing cluster-wide on Secrets, and that Role is all the operator needs there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_least_privilege_mode_needs_only_its_namespace() {
    let (cluster, ns, env) = cluster_with_sample("e2e-scoped", 20, "10s").await;
    let watch = format!("watchNamespaces={{{ns}}}");
    let identity = cluster.operator_identity(&[watch.as_str()]).await;
    let as_operator = Kubectl::new(find_kubectl(), &identity.kubeconfig);
    let all = as_operator
        .run(&["auth", "can-i", "list", "secrets", "--all-namespaces"])
        .await;
    assert_eq!(
        String::from_utf8_lossy(&all.stdout).trim(),
        "no",
        "no Secret access outside the watched namespace"
    );
    let here = as_operator
        .ok(&["auth", "can-i", "watch", "secrets", "-n", &ns])
        .await;
    assert_eq!(here.trim(), "yes");

    let operator = Operator::start(&identity.kubeconfig, &["--namespace", &ns]).await;
    cluster.apply(&env.manifests(&ns)).await;
    cluster
        .wait_connection(&ns, Connection::Connected, MINUTE)
        .await;
    assert!(active_in_password_boss(&env) > 20);
    operator.stop().await;
    cluster.cleanup().await;
}

/// A Role missing one permission: the operator names exactly what it lacks and where, stays
/// unready, and starts on its own once the Role is fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_is_named_until_it_is_granted() {
    let (cluster, ns, env) = cluster_with_sample("e2e-rbac", 20, "10s").await;
    let watch = format!("watchNamespace={ns}");
    let values = [watch.as_str()];
    let identity = cluster.operator_identity(&values).await;
    // Take `patch` on the status subresource out of the chart's Role.
    let role = cluster
        .kubectl
        .ok(&[
            "-n",
            &ns,
            "get",
            "role",
            &identity.service_account,
            "-o",
            "json",
        ])
        .await;
    let mut role: serde_json::Value = serde_json::from_str(&role).expect("JSON");
    let rules = role["rules"].as_array_mut().expect("rules");
    let before = rules.len();
    rules.retain(|r| r["resources"] != serde_json::json!(["azureadconnectors/status"]));
    assert_eq!(
        rules.len(),
        before - 1,
        "the chart's Role grants status writes"
    );
    cluster
        .kubectl
        .ok_stdin(&["replace", "-f", "-"], &role.to_string())
        .await;

    cluster.apply(&env.manifests(&ns)).await;
    let operator = Operator::launch(
        &identity.kubeconfig,
        "pbconnector-e2e",
        &["--allow-loopback-endpoints", "--namespace", &ns],
    );
    let expected =
        format!("may not `patch azureadconnectors/status (passwordboss.com)` in namespace {ns}");
    eventually("the missing permission named in the log", MINUTE, || {
        let named = operator.logs().contains(&expected);
        async move { named.then_some(()) }
    })
    .await;
    assert!(!operator.ready().await, "not ready without its permissions");
    assert!(env.password_boss.azure_users().is_empty(), "nothing synced");

    // The chart's Role again: the operator starts without a restart.
    let rbac = cluster.chart_rbac(&identity, &values).await;
    cluster.kubectl.ok_stdin(&["apply", "-f", "-"], &rbac).await;
    operator.wait_ready(MINUTE).await;
    cluster
        .wait_connection(&ns, Connection::Connected, MINUTE)
        .await;
    operator.stop().await;
    cluster.cleanup().await;
}
