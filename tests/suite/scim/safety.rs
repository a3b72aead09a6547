//! Every safety property the Password Boss target is tested for, for the SCIM target: held
//! deprovisions and the exact-set approval (through the built binary and in-process), no
//! destructive change on an incomplete read (of the SCIM service or of Entra), and changes to
//! owned users and groups only — a user or group without the connector's externalId is never
//! touched. The end state is read from scim2-server's own dump.

use pbconnector::plan::{Approval, ConflictKind};
use pbconnector::resources::AzureAdConnectorStatus;
use pbconnector::sync::state::ConnectorState;
use pbconnector_simulators::fault_proxy::{Fault, Match};
use reqwest::Method;
use serde_json::json;

use crate::support::cli::Run;
use crate::support::scim::Dump;
use crate::support::scim_sample::{ScimRun, ScimSample};

fn status(run: &Run) -> AzureAdConnectorStatus {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "-o json prints the status object ({e}):\n{}\n{}",
            run.stdout, run.stderr
        )
    })
}

fn inactive(dump: &Dump) -> usize {
    dump.users
        .iter()
        .filter(|u| u.active == Some(false))
        .count()
}

/// (group name, sorted member names) of every group.
fn memberships(dump: &Dump) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = dump
        .groups
        .iter()
        .map(|g| (g.display_name.clone(), dump.member_names(g)))
        .collect();
    groups.sort();
    groups
}

#[tokio::test]
async fn an_emptied_sync_group_holds_every_deprovision_until_its_exact_set_is_approved() {
    // 48 members + the guest + the user without mail = 50 accounts.
    let mut sample = ScimSample::start(48).await;
    let first = sample.cli("sync", &["--once"]).await;
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let before = sample.server.snapshot().await;
    assert_eq!(before.users.len(), 50);
    let groups_before = memberships(&before);

    sample.env.empty_sync_group();
    sample.proxy.reset_requests();
    let blocked = sample.cli("sync", &["--once", "-o", "json"]).await;
    assert_eq!(blocked.code, 4, "{}\n{}", blocked.stdout, blocked.stderr);
    let s = status(&blocked);
    let held = s.blocked.clone().expect("status.blocked");
    assert_eq!(held.deprovisions, 50);
    assert_eq!(
        held.group_changes, 0,
        "emptied mirrored groups are kept, never deleted: only the deprovisions are held \
         (members leave their groups with them): {held:?}"
    );
    assert_eq!(sample.scim_writes(), 0, "nothing written while held");

    // A count, or a token of another set, approves nothing.
    for wrong in ["50", "50-00000000"] {
        let run = sample
            .cli("sync", &["--once", "--approve-deprovisions", wrong])
            .await;
        assert_eq!(run.code, 4, "{wrong}: {}", run.stdout);
        assert!(run.stdout.contains("APPROVAL NOT USED"), "{}", run.stdout);
    }
    assert_eq!(sample.scim_writes(), 0);
    let still = sample.server.snapshot().await;
    assert_eq!(inactive(&still), 0);
    assert_eq!(memberships(&still), groups_before);

    let approved = sample
        .cli(
            "sync",
            &["--once", "--approve-deprovisions", &held.approval],
        )
        .await;
    assert_eq!(approved.code, 0, "{}\n{}", approved.stdout, approved.stderr);
    let dump = sample.server.stop().await;
    assert_eq!(
        dump.users.len(),
        50,
        "Disable is active: false, never DELETE"
    );
    assert_eq!(inactive(&dump), 50);
    assert_eq!(sample.proxy.count(&Method::DELETE, "/v2/Users"), 0);
}

#[tokio::test]
async fn an_approval_applies_its_set_once() {
    let mut run = ScimRun::start(40).await;
    run.sync().await;
    for i in 0..20 {
        run.sample.remove_member(i);
    }
    let held = run.sync().await;
    let token = held
        .held()
        .expect("20 of 42 is over the limits")
        .token
        .clone();
    assert_eq!(held.applied.disabled, 0);
    run.request.approval = Some(token.clone());
    let approved = run.sync().await;
    assert_eq!(approved.applied.disabled, 20);
    assert_eq!(
        approved.plan.as_ref().unwrap().approval,
        Approval::Applied(token.clone())
    );
    // Another held set: the used token approves nothing.
    for i in 20..40 {
        run.sample.remove_member(i);
    }
    run.sample.proxy.reset_requests();
    let again = run.sync().await;
    assert_eq!(again.applied.disabled, 0);
    assert!(again.held().is_some());
    assert_eq!(
        again.plan.as_ref().unwrap().approval,
        Approval::AlreadyUsed(token)
    );
    assert_eq!(
        run.sample.scim_writes(),
        0,
        "{:?}",
        run.sample.proxy.requests()
    );
    let dump = run.sample.server.stop().await;
    assert_eq!(inactive(&dump), 20);
}

#[tokio::test]
async fn an_incomplete_read_of_the_service_or_of_entra_changes_nothing_destructive() {
    let mut run = ScimRun::start(30).await;
    run.sync().await;
    // Three leave (within the limits); the connector restarts (nothing kept): the next sync
    // must read the service in full, and every listing of users fails.
    for i in 0..3 {
        run.sample.remove_member(i);
    }
    run.state = ConnectorState::default();
    run.sample.proxy.inject(
        Match::new(Method::GET, "/v2/Users"),
        u32::MAX,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
    );
    run.sample.proxy.reset_requests();
    let failed = run.try_sync().await;
    assert!(!failed.succeeded(), "an unread service fails the sync");
    assert_eq!(failed.applied.disabled, 0);
    assert_eq!(
        run.sample.scim_writes(),
        0,
        "{:?}",
        run.sample.proxy.requests()
    );

    // A listing cut in the middle of a page.
    run.sample.proxy.clear_faults();
    run.sample.proxy.inject(
        Match::new(Method::GET, "/v2/Users"),
        u32::MAX,
        Fault::CutMidResponse,
    );
    let cut = run.try_sync().await;
    assert!(!cut.succeeded(), "a cut listing fails the sync");
    assert_eq!(
        run.sample.scim_writes(),
        0,
        "{:?}",
        run.sample.proxy.requests()
    );

    // Entra throttled for longer than a sync waits: no SCIM write either.
    run.sample.proxy.clear_faults();
    let graph = run.sample.env.graph.faults();
    graph.throttle_tenant(run.sample.env.tenant.id(), Some(3600));
    let throttled = run.try_sync().await;
    assert!(!throttled.succeeded(), "an unread tenant fails the sync");
    assert_eq!(
        run.sample.scim_writes(),
        0,
        "{:?}",
        run.sample.proxy.requests()
    );
    graph.throttle_tenant(run.sample.env.tenant.id(), None);

    // Read in full, the same leavers are disabled.
    let complete = run.sync().await;
    assert_eq!(complete.applied.disabled, 3, "{:?}", complete.applied);
    let dump = run.sample.server.stop().await;
    assert_eq!(inactive(&dump), 3);
}

/// An externalId another provisioner wrote (not an Entra object id).
const OTHER_PROVISIONERS_ID: &str = "00u1a2b3c4d5e6f7g8h9";

#[tokio::test]
async fn only_owned_users_and_groups_change_and_others_are_never_touched() {
    let sample = ScimSample::start(20).await;
    let server = &sample.server;
    // Already on the service: an admin, another provisioner's user and group, and a group made
    // in the admin console without an externalId.
    let admin = server
        .add_user(json!({"userName": "it-admin@contoso.com", "active": true}))
        .await;
    let other = server
        .add_user(json!({"userName": "someone@fabrikam.example",
            "externalId": OTHER_PROVISIONERS_ID, "active": true}))
        .await;
    server
        .add_group(json!({"displayName": "Finance (other provisioner)",
            "externalId": "88888888-8888-8888-8888-888888888888",
            "members": [{"value": other.id}]}))
        .await;
    let mut run = ScimRun::from_sample(sample);
    // A group dropped from spec.groups is deleted once removalGracePeriod has passed: now.
    run.sample.spec["safety"]["removalGracePeriod"] = json!("0s");
    let first = run.sync().await;
    assert_eq!(first.applied.groups_created, 3);
    // The console group holds an admin and a user the connector made.
    let owned = run
        .sample
        .server
        .snapshot()
        .await
        .user(&run.sample.member_email(0))
        .expect("member 0")
        .clone();
    run.sample
        .server
        .add_group(json!({"displayName": "Vault admins",
            "members": [{"value": admin.id}, {"value": owned.id}]}))
        .await;
    let foreign_before = {
        let snapshot = run.sample.server.snapshot().await;
        memberships(&snapshot)
            .into_iter()
            .filter(|(name, _)| name == "Vault admins" || name.starts_with("Finance"))
            .collect::<Vec<_>>()
    };

    // HR is dropped from spec.groups: that group is deleted, no other.
    let hr = run.sample.env.groups[1].0.clone();
    run.sample.spec["groups"]
        .as_array_mut()
        .unwrap()
        .retain(|g| g["displayName"] != hr.as_str());
    let dropped = run.sync().await;
    assert_eq!(dropped.applied.groups_deleted, 1, "{:?}", dropped.applied);

    // Member 0 leaves; the whole group empties after an approval: only owned users change.
    run.sample.remove_member(0);
    run.sync().await;
    run.sample.env.empty_sync_group();
    let held = run.sync().await;
    run.request.approval = Some(held.held().expect("held").token.clone());
    run.sync().await;

    let dump = run.sample.server.stop().await;
    // HR went with the spec; the other mirrored groups emptied with the sync group (the
    // approved set) and are kept, empty; the groups not ours are untouched.
    let names: Vec<String> = memberships(&dump)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let mut expected: Vec<String> = run
        .sample
        .env
        .groups
        .iter()
        .map(|(name, _)| name.clone())
        .filter(|name| *name != hr)
        .chain(["Finance (other provisioner)".into(), "Vault admins".into()])
        .collect();
    expected.sort();
    assert_eq!(names, expected);
    for (name, members) in memberships(&dump) {
        if name != "Vault admins" && !name.starts_with("Finance") {
            assert!(members.is_empty(), "{name} is kept, emptied: {members:?}");
        }
    }
    let foreign_after: Vec<_> = memberships(&dump)
        .into_iter()
        .filter(|(name, _)| name == "Vault admins" || name.starts_with("Finance"))
        .collect();
    assert_eq!(
        foreign_after, foreign_before,
        "groups not ours keep their members"
    );
    let vault = dump.group("Vault admins").unwrap();
    assert_eq!(vault.external_id, None, "never adopted");
    for (user_name, id) in [
        ("it-admin@contoso.com", &admin.id),
        ("someone@fabrikam.example", &other.id),
    ] {
        let user = dump.user(user_name).expect("never deleted");
        assert_eq!(&user.id, id);
        assert_eq!(user.active, Some(true), "{user_name} never disabled");
    }
    assert_eq!(
        dump.user("someone@fabrikam.example")
            .unwrap()
            .external_id
            .as_deref(),
        Some(OTHER_PROVISIONERS_ID)
    );
    // Every user the connector made is disabled (Disable), none deleted.
    let ours: Vec<_> = dump
        .users
        .iter()
        .filter(|u| {
            u.user_name != "it-admin@contoso.com" && u.user_name != "someone@fabrikam.example"
        })
        .collect();
    assert_eq!(ours.len(), 22);
    assert!(ours.iter().all(|u| u.active == Some(false)));
}

/// An Entra object id of another tenant, as that tenant's provisioning writes it.
const OTHER_TENANTS_OBJECT_ID: &str = "7a1f0c4e-2b3d-4e5f-8a9b-0c1d2e3f4a5b";

/// A user another provisioner wrote with a GUID externalId (another tenant's Entra provisioning
/// mapping its objectId) looks like one the connector made, but Graph does not know that id in
/// this tenant (nor in its recycle bin): it is an `OwnedByOther` conflict and never disabled,
/// while a user the connector made who leaves the group (Graph knows the id) is.
#[tokio::test]
async fn a_guid_external_id_graph_does_not_know_here_is_never_deprovisioned() {
    let sample = ScimSample::start(10).await;
    let foreign = sample
        .server
        .add_user(json!({"userName": "someone@fabrikam.example",
            "externalId": OTHER_TENANTS_OBJECT_ID, "active": true}))
        .await;
    let mut run = ScimRun::from_sample(sample);
    let first = run.sync().await;
    assert_eq!(first.applied.disabled, 0, "{:?}", first.applied);
    let conflict = first
        .conflicts
        .iter()
        .find(|c| c.email.as_deref() == Some("someone@fabrikam.example"))
        .unwrap_or_else(|| panic!("a conflict for the foreign user: {:?}", first.conflicts));
    assert_eq!(
        conflict.kind,
        ConflictKind::OwnedByOther,
        "{}",
        conflict.message
    );
    assert!(
        conflict.message.contains("not a user of this tenant"),
        "{}",
        conflict.message
    );

    // Member 0 leaves the group: the connector's own user is disabled, the foreign one is not,
    // sync after sync (the evidence is asked for again, never assumed).
    run.sample.remove_member(0);
    let left = run.sync().await;
    assert_eq!(left.applied.disabled, 1, "{:?}", left.applied);
    let again = run.sync().await;
    assert_eq!(again.applied.disabled, 0, "{:?}", again.applied);
    assert!(
        again
            .conflicts
            .iter()
            .any(|c| c.kind == ConflictKind::OwnedByOther
                && c.email.as_deref() == Some("someone@fabrikam.example")),
        "{:?}",
        again.conflicts
    );

    let member0 = run.sample.member_email(0);
    let dump = run.sample.server.stop().await;
    let untouched = dump
        .user("someone@fabrikam.example")
        .expect("never deleted");
    assert_eq!(
        (untouched.id.as_str(), untouched.active),
        (foreign.id.as_str(), Some(true)),
        "another tenant's user is never disabled"
    );
    assert_eq!(
        untouched.external_id.as_deref(),
        Some(OTHER_TENANTS_OBJECT_ID)
    );
    assert_eq!(dump.user(&member0).unwrap().active, Some(false));
}
