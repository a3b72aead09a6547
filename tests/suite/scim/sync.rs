//! Whole syncs into scim2-server, as `pbconnector sync` runs them (one connector state kept
//! between syncs), through the fault proxy: churn, groups, adoption per `existingUser`, a
//! duplicate userName, a server that lost its memory, and throttled, slow and cut answers. The
//! end state is read from the server's own dump.

use std::time::Duration;

use pbconnector::plan::ConflictKind;
use pbconnector_simulators::fault_proxy::{Fault, Match, Outcome};
use reqwest::Method;
use serde_json::json;

use crate::support::scim::{Dump, Options};
use crate::support::scim_sample::{ScimRun, ScimSample};

/// The requests the proxy saw that change something, as `METHOD path`.
fn writes(run: &ScimRun) -> Vec<String> {
    run.sample
        .proxy
        .requests()
        .iter()
        .filter(|r| r.method != Method::GET)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn active(dump: &Dump, email: &str) -> Option<bool> {
    dump.user(email)
        .unwrap_or_else(|| panic!("{email} is on the server: {:?}", dump.user_names()))
        .active
}

#[tokio::test]
async fn churn_join_leave_rename_disable_and_delete_reach_the_server() {
    let mut run = ScimRun::start(12).await;
    // Deleted in Entra: DELETE at once (no grace period), within the safety limits.
    run.sample.spec["syncRules"]["userDeleted"] = "Delete".into();
    run.sample.spec["safety"]["removalGracePeriod"] = "0s".into();
    // Three leavers of 14 are within the limits.
    run.sample.spec["safety"]["maxDeprovisionPercent"] = 50.into();
    let first = run.sync().await;
    assert_eq!(first.applied.created, 14, "{:?}", first.applied);

    // The sync after one that wrote reads afresh; the one after that, with nothing changed,
    // sends no SCIM request at all (the kept target state).
    run.sync().await;
    run.sample.proxy.reset_requests();
    let idle = run.sync().await;
    assert!(idle.plan.as_ref().unwrap().actions.is_empty());
    assert_eq!(run.sample.proxy.requests(), [], "no SCIM request");

    let s = &run.sample;
    let tenant = &s.env.tenant;
    // Join: an outsider enters the sync group.
    let joiner = s.env.outsiders[0].clone();
    tenant.add_member(&s.env.sync_group_id, &joiner);
    let joiner_email = tenant.user(&joiner).unwrap().mail.unwrap();
    // Leave: member 0 leaves the group (Disable).
    s.remove_member(0);
    // Rename: member 1 gets new names.
    tenant.rename_user(&s.env.members[1], "Renamed Person");
    tenant.set_names(&s.env.members[1], "Renamed", "Person");
    // Disable: member 2's account is disabled in Entra (Disable).
    tenant.set_enabled(&s.env.members[2], false);
    // Delete: member 3 is deleted in Entra (Delete).
    assert!(tenant.soft_delete_user(&s.env.members[3]));
    let emails: Vec<String> = (0..5).map(|i| s.member_email(i)).collect();

    run.sample.proxy.reset_requests();
    let churn = run.sync().await;
    let a = &churn.applied;
    assert_eq!(
        (a.created, a.updated, a.disabled, a.deleted),
        (1, 1, 2, 1),
        "{a:?}"
    );
    assert!(churn.held().is_none());
    assert_eq!(run.sample.proxy.count(&Method::DELETE, "/v2/Users/"), 1);
    assert_eq!(
        run.sample.proxy.count(&Method::PUT, "/"),
        0,
        "{:?}",
        writes(&run)
    );

    // Back in the group: enabled again.
    run.sample
        .env
        .tenant
        .add_member(&run.sample.env.sync_group_id, &run.sample.env.members[0]);
    let rejoin = run.sync().await;
    assert_eq!(rejoin.applied.enabled, 1, "{:?}", rejoin.applied);

    let dump = run.sample.server.stop().await;
    let joined = dump.user(&joiner_email).expect("the joiner was created");
    assert_eq!(joined.external_id.as_deref(), Some(joiner.as_str()));
    assert_eq!(joined.active, Some(true));
    assert_eq!(active(&dump, &emails[0]), Some(true), "rejoined");
    let renamed = dump.user(&emails[1]).unwrap();
    assert_eq!(renamed.display_name.as_deref(), Some("Renamed Person"));
    let name = renamed.name.as_ref().unwrap();
    assert_eq!(name.given_name.as_deref(), Some("Renamed"));
    assert_eq!(name.family_name.as_deref(), Some("Person"));
    assert_eq!(
        active(&dump, &emails[2]),
        Some(false),
        "disabled: active false"
    );
    assert!(dump.user(&emails[3]).is_none(), "deleted: DELETE");
    assert_eq!(active(&dump, &emails[4]), Some(true), "untouched");
    assert_eq!(dump.users.len(), 14, "{:?}", dump.user_names());
}

#[tokio::test]
async fn group_members_follow_entra_by_patch_nested_members_included() {
    let mut run = ScimRun::start(10).await;
    run.sync().await;
    let s = &run.sample;
    let (engineering, engineering_id) = s.env.groups[0].clone();
    let (hr, hr_id) = s.env.groups[1].clone();
    // Member 4 is in the sync group through the nested group, and in HR (4 % 3 == 1).
    let nested = s.member_email(4);
    // Member 3 moves from Engineering to HR; member 4 joins Engineering too.
    s.env
        .tenant
        .remove_member(&engineering_id, &s.env.members[3]);
    s.env.tenant.add_member(&hr_id, &s.env.members[3]);
    s.env.tenant.add_member(&engineering_id, &s.env.members[4]);
    let moved = s.member_email(3);

    run.sample.proxy.reset_requests();
    let report = run.sync().await;
    assert_eq!(report.applied.groups_updated, 2, "{:?}", report.applied);
    let patches = run.sample.proxy.count(&Method::PATCH, "/v2/Groups/");
    assert!(patches >= 2, "{:?}", writes(&run));
    assert_eq!(
        writes(&run).len(),
        patches,
        "only group PATCHes: {:?}",
        writes(&run)
    );

    let dump = run.sample.server.stop().await;
    let eng = dump.group(&engineering).unwrap();
    let eng_members = dump.member_names(eng);
    assert!(eng_members.contains(&nested), "{eng_members:?}");
    assert!(!eng_members.contains(&moved), "{eng_members:?}");
    let hr_members = dump.member_names(dump.group(&hr).unwrap());
    assert!(hr_members.contains(&moved), "{hr_members:?}");
    assert!(hr_members.contains(&nested), "{hr_members:?}");
}

/// An Entra object id of another tenant's user.
const OTHER_TENANTS_USER: &str = "0f0f0f0f-0000-4000-8000-000000000001";
/// An externalId another provisioner wrote (not an Entra object id).
const OTHER_PROVISIONERS_ID: &str = "00u1a2b3c4d5e6f7g8h9";

#[tokio::test]
async fn existing_users_are_skipped_by_default_and_adopted_by_their_username_when_asked() {
    let sample = ScimSample::start(6).await;
    let server = &sample.server;
    // Before the connector: an admin of the service, a user with member 0's email and no
    // externalId, member 1's email held by a user another tenant's connector made (its
    // externalId an Entra object id this tenant does not know), and member 2's by another
    // provisioner's user (its own kind of externalId).
    let admin = server
        .add_user(json!({"userName": "it-admin@contoso.com", "active": true}))
        .await;
    let unowned = server
        .add_user(json!({"userName": sample.member_email(0), "active": true}))
        .await;
    let foreign = server
        .add_user(json!({"userName": sample.member_email(1),
            "externalId": OTHER_TENANTS_USER, "active": true}))
        .await;
    let provisioned = server
        .add_user(json!({"userName": sample.member_email(2),
            "externalId": OTHER_PROVISIONERS_ID, "active": true}))
        .await;
    let mut run = ScimRun::from_sample(sample);

    // existingUser unset: Skip for SCIM. None of them is taken.
    let skipped = run.sync().await;
    assert_eq!(skipped.applied.adopted, 0);
    assert_eq!(skipped.applied.created, 5, "{:?}", skipped.applied);
    let snapshot = run.sample.server.snapshot().await;
    assert_eq!(
        snapshot
            .user(&run.sample.member_email(0))
            .unwrap()
            .external_id,
        None,
        "not adopted under Skip"
    );

    run.sample.spec["syncRules"]["existingUser"] = "Adopt".into();
    let adopted = run.sync().await;
    assert_eq!(adopted.applied.adopted, 1, "{:?}", adopted.applied);
    let email2 = run.sample.member_email(2);
    let conflict = adopted
        .conflicts
        .iter()
        .find(|c| c.email.as_deref() == Some(email2.as_str()))
        .unwrap_or_else(|| panic!("a conflict for {email2}: {:?}", adopted.conflicts));
    assert_eq!(
        conflict.kind,
        ConflictKind::OwnedByOther,
        "{}",
        conflict.message
    );
    let member0 = run.sample.env.members[0].clone();
    let dump = run.sample.server.stop().await;
    let taken = dump.user(&unowned.user_name).unwrap();
    assert_eq!(taken.id, unowned.id, "the same user, adopted in place");
    assert_eq!(taken.external_id.as_deref(), Some(member0.as_str()));
    let untouched = dump.user(&foreign.user_name).unwrap();
    assert_eq!(
        untouched.external_id.as_deref(),
        Some(OTHER_TENANTS_USER),
        "another connector's user is never taken"
    );
    let theirs = dump.user(&provisioned.user_name).unwrap();
    assert_eq!(
        (theirs.id.as_str(), theirs.external_id.as_deref()),
        (provisioned.id.as_str(), Some(OTHER_PROVISIONERS_ID)),
        "another provisioner's user is never taken"
    );
    let admin_now = dump.user("it-admin@contoso.com").unwrap();
    assert_eq!(
        (admin_now.id.as_str(), admin_now.active),
        (admin.id.as_str(), Some(true))
    );
    assert_eq!(admin_now.external_id, None);
}

#[tokio::test]
async fn a_username_taken_meanwhile_is_a_conflict_for_that_user_and_the_rest_syncs() {
    let mut run = ScimRun::start(6).await;
    run.sync().await;
    // The sync after one that wrote reads afresh; the next plans from what the connector keeps,
    // so its create meets the server's own uniqueness check.
    run.sync().await;
    // Two join; the server meanwhile got a user with the first joiner's userName from someone
    // else (in another case: the server compares userNames case-insensitively).
    let s = &run.sample;
    let [taken, free] = [&s.env.outsiders[0], &s.env.outsiders[1]].map(|id| {
        s.env.tenant.add_member(&s.env.sync_group_id, id);
        s.env.tenant.user(id).unwrap().mail.unwrap()
    });
    let squatter = s
        .server
        .add_user(json!({"userName": taken.to_uppercase(), "active": true}))
        .await;

    run.sample.proxy.reset_requests();
    let report = run.sync().await;
    assert_eq!(report.applied.created, 1, "{:?}", report.applied);
    assert!(
        report.conflicts.iter().any(|c| format!("{c:?}")
            .to_lowercase()
            .contains(&taken.to_lowercase())),
        "a conflict names {taken}: {:?}",
        report.conflicts
    );
    // The server refused the create: 409 uniqueness, once, not retried.
    let log = run.sample.proxy.requests();
    let refused = log
        .iter()
        .filter(|r| r.method == Method::POST && r.outcome == Outcome::Answered(409))
        .count();
    assert_eq!(refused, 1, "{log:?}");
    assert_eq!(
        run.sample.proxy.count(&Method::POST, "/v2/Users"),
        2,
        "{log:?}"
    );

    // The next syncs leave it so: nothing more is sent for the taken name.
    run.sync().await;
    run.sample.proxy.reset_requests();
    let settled = run.sync().await;
    assert_eq!(settled.applied.created, 0, "{:?}", settled.applied);
    let dump = run.sample.server.stop().await;
    let still = dump.user(&taken).unwrap();
    assert_eq!(
        (still.id.as_str(), still.external_id.as_deref()),
        (squatter.id.as_str(), None)
    );
    assert!(dump.user(&free).is_some());
}

#[tokio::test]
async fn a_server_that_lost_its_memory_is_refilled_and_nothing_is_deprovisioned() {
    let mut run = ScimRun::start(10).await;
    run.sync().await;
    // The sync after one that wrote reads afresh; from then on the connector plans from what
    // it keeps, which the restart makes wrong.
    run.sync().await;
    let before = run.sample.server.restart().await;
    assert_eq!(before.users.len(), 12);

    // A change in Entra: the sync's write meets a 404 for a user the connector made.
    let tenant = &run.sample.env.tenant;
    tenant.rename_user(&run.sample.env.members[1], "Renamed After");
    tenant.set_names(&run.sample.env.members[1], "Renamed", "After");
    run.sample.proxy.reset_requests();
    let mut reports = Vec::new();
    for _ in 0..3 {
        let report = run.try_sync().await;
        let settled =
            report.succeeded() && report.plan.as_ref().is_some_and(|p| p.actions.is_empty());
        reports.push(report);
        if settled {
            break;
        }
    }
    let last = reports.last().unwrap();
    assert!(
        last.succeeded() && last.plan.as_ref().unwrap().actions.is_empty(),
        "settles within three syncs: {:?}",
        reports
            .iter()
            .map(|r| (&r.failure, &r.applied))
            .collect::<Vec<_>>()
    );
    assert!(
        run.sample
            .proxy
            .requests()
            .iter()
            .any(|r| r.outcome == Outcome::Answered(404)),
        "the loss was met as 404s: {:?}",
        run.sample.proxy.requests()
    );
    for report in &reports {
        let a = &report.applied;
        assert_eq!(
            (a.disabled, a.deleted, a.groups_deleted),
            (0, 0, 0),
            "{a:?}"
        );
        assert!(
            report.held().is_none(),
            "nothing to hold: {:?}",
            report.held()
        );
    }
    assert_eq!(run.sample.proxy.count(&Method::DELETE, "/"), 0);

    let after = run.sample.server.stop().await;
    assert_eq!(
        after.user_names(),
        before.user_names(),
        "every user made again"
    );
    assert!(after.users.iter().all(|u| u.active == Some(true)));
    for user in &before.users {
        let again = after.user(&user.user_name).unwrap();
        assert_eq!(again.external_id, user.external_id);
    }
    let renamed = after.user(&run.sample.member_email(1)).unwrap();
    assert_eq!(renamed.display_name.as_deref(), Some("Renamed After"));
    assert_eq!(after.groups.len(), 3, "the groups made again");
    for group in &before.groups {
        let again = after.group(&group.display_name).unwrap();
        assert_eq!(after.member_names(again), before.member_names(group));
    }
}

#[tokio::test]
async fn throttled_and_slow_answers_are_waited_out_and_the_sync_completes() {
    let mut run = ScimRun::start(8).await;
    let proxy = &run.sample.proxy;
    proxy.inject(
        Match::new(Method::POST, "/v2/Users"),
        2,
        Fault::Status {
            status: 429,
            retry_after: Some(1),
        },
    );
    proxy.inject(
        Match::new(Method::POST, "/v2/Groups"),
        1,
        Fault::Status {
            status: 503,
            retry_after: Some(1),
        },
    );
    proxy.inject(Match::any(), 3, Fault::Slow(Duration::from_millis(300)));
    let report = run.sync().await;
    assert_eq!(report.applied.created, 10, "{:?}", report.applied);
    assert_eq!(report.applied.groups_created, 3);
    assert_eq!(run.sample.proxy.faults_pending(), 0, "every fault fired");
    let dump = run.sample.server.stop().await;
    assert_eq!(dump.users.len(), 10);
    assert_eq!(dump.groups.len(), 3);
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_looked_up_before_it_is_retried() {
    let mut run = ScimRun::start(8).await;
    // The third create reaches the server, which makes the user; the answer never arrives.
    let proxy = &run.sample.proxy;
    // Rules match in order: the first two creates pass (held for no time), the third is cut.
    proxy.inject(
        Match::new(Method::POST, "/v2/Users"),
        2,
        Fault::Slow(Duration::ZERO),
    );
    proxy.inject(
        Match::new(Method::POST, "/v2/Users"),
        1,
        Fault::CutAfterForward,
    );
    // And one listing page is cut in the middle of its body.
    proxy.inject(
        Match::new(Method::GET, "/v2/Users"),
        1,
        Fault::CutMidResponse,
    );

    let mut reports = vec![run.try_sync().await];
    if !reports[0].succeeded() {
        reports.push(run.sync().await);
    }
    let log = run.sample.proxy.requests();
    let cut = log
        .iter()
        .position(|r| r.outcome == Outcome::Cut { forwarded: true } && r.method == Method::POST)
        .expect("the lost create");
    assert!(
        log[cut..].iter().any(|r| r.method == Method::GET
            && r.query.as_deref().is_some_and(|q| q.contains("filter="))),
        "a lookup by filter follows the lost create: {log:?}"
    );
    assert!(
        !log.iter().any(|r| r.outcome == Outcome::Answered(409)),
        "no blind retry ran into the user the lost create made: {log:?}"
    );
    let created: u32 = reports.iter().map(|r| r.applied.created).sum();
    assert_eq!(
        created,
        10,
        "{:?}",
        reports.iter().map(|r| &r.applied).collect::<Vec<_>>()
    );
    for report in &reports {
        assert!(
            report
                .conflicts
                .iter()
                .all(|c| c.kind == ConflictKind::DuplicateEmail),
            "only the sample's two users sharing an email: {:?}",
            report.conflicts
        );
    }
    let dump = run.sample.server.stop().await;
    assert_eq!(dump.users.len(), 10, "{:?}", dump.user_names());
    assert!(dump.users.iter().all(|u| u.external_id.is_some()));
}

#[tokio::test]
async fn a_service_that_pages_smaller_than_asked_is_read_in_full() {
    let sample = ScimSample::start_with(
        20,
        Options {
            max_results: Some(5),
            ..Options::default()
        },
    )
    .await;
    let mut run = ScimRun::from_sample(sample);
    let first = run.sync().await;
    assert_eq!(first.applied.created, 22);
    // The sync after one that wrote reads the service afresh, five users a page.
    run.sample.proxy.reset_requests();
    let second = run.sync().await;
    assert!(
        second.plan.as_ref().unwrap().actions.is_empty(),
        "every user was read: {:?}",
        second.plan.as_ref().unwrap().actions
    );
    let pages = run.sample.proxy.count(&Method::GET, "/v2/Users");
    assert!(
        pages >= 5,
        "22 users in pages of 5: {:?}",
        run.sample.proxy.requests()
    );
    assert_eq!(run.sample.scim_writes(), 0);
    assert_eq!(run.sample.server.stop().await.users.len(), 22);
}
