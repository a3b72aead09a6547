//! Full and incremental reads against the Graph simulator over real HTTP, with exact request
//! counts. A full read costs Σ⌈members/999⌉ member pages + 1 `$batch` bootstrapping the delta
//! links (+1 group resolution on the connector's first read, + the token call when due).

use std::time::Duration;

use crate::support::graph::env;
use pbconnector::azure::{GraphErrorKind, GraphSyncState, RESTORE_WINDOW, ReadOptions, UserLookup};
use pbconnector::resources::GroupSelector;
use pbconnector_simulators::graph::{Answer, PathKind};

fn opts(nested: bool) -> ReadOptions {
    ReadOptions {
        nested_groups: nested,
        full_sync_interval: Duration::from_secs(3600),
        delta: true,
        deadline: Duration::from_secs(30),
    }
}

#[tokio::test]
async fn nested_2500_members_read_completely_in_three_pages() {
    let e = env().await;
    let top = e.tenant.add_group("Password Boss Users");
    let sub_a = e.tenant.add_group("Sales");
    let sub_b = e.tenant.add_group("Support");
    let deep = e.tenant.add_group("Support EU");
    for id in e.users("direct", 499) {
        e.tenant.add_member(&top, &id);
    }
    for id in e.users("sales", 1000) {
        e.tenant.add_member(&sub_a, &id);
    }
    for id in e.users("eu", 1000) {
        e.tenant.add_member(&deep, &id);
    }
    e.tenant.add_member(&top, &sub_a);
    e.tenant.add_member(&top, &sub_b);
    e.tenant.add_member(&sub_b, &deep);
    let disabled = e.users("off", 1).remove(0);
    e.tenant.set_enabled(&disabled, false);
    // 2,499 enabled users + a disabled one; the listing also holds the 3 nested groups.
    e.tenant.add_member(&deep, &disabled);
    let client = e.client();
    let mut state = GraphSyncState::default();
    let snap = client
        .read(&mut state, &GroupSelector::by_id(&top), &[], &opts(true))
        .await
        .unwrap();
    assert!(snap.complete);
    assert_eq!(snap.users.len(), 2500);
    assert_eq!(snap.sync_group_name, "Password Boss Users");
    let off = &snap.users[&disabled];
    assert_eq!(off.account_enabled, Some(false));
    assert_eq!(off.user_type.as_deref(), Some("Member"));
    assert!(snap.users.values().all(|u| u.account_enabled.is_some()));
    let counts = e.sim.requests();
    assert_eq!(
        counts.http(PathKind::TransitiveMembers),
        3,
        "2,503 objects, $top=999"
    );
    // token + resolution + 3 member pages + 1 delta bootstrap $batch
    assert_eq!(client.requests(), 6);
    assert_eq!(counts.total_http(), 6);
    assert_eq!(counts.http(PathKind::Batch), 1);
}

#[tokio::test]
async fn full_read_costs_member_pages_per_group_plus_one() {
    let e = env().await;
    let sync = e.tenant.add_group("Password Boss Users");
    let hr = e.tenant.add_group("HR");
    let users = e.users("u", 1200);
    for id in &users {
        e.tenant.add_member(&sync, id);
    }
    for id in &users[..10] {
        e.tenant.add_member(&hr, id);
    }
    let client = e.client();
    let mut state = GraphSyncState::default();
    let groups = [GroupSelector::by_name("HR")];
    let first = client
        .read(
            &mut state,
            &GroupSelector::by_name("Password Boss Users"),
            &groups,
            &opts(false),
        )
        .await
        .unwrap();
    assert_eq!(first.users.len(), 1200);
    assert_eq!(first.groups.len(), 1);
    assert_eq!(first.groups[0].display_name, "HR");
    assert_eq!(first.groups[0].members.len(), 10);
    // token + 1 resolution $batch + (2 + 1) member pages + 1 bootstrap $batch
    assert_eq!(client.requests(), 1 + 1 + 3 + 1);
    assert_eq!(e.sim.requests().http(PathKind::Members), 3);

    // A periodic full read: resolution and token are cached.
    let before = client.requests();
    let mut periodic = opts(false);
    periodic.full_sync_interval = Duration::ZERO;
    let again = client
        .read(
            &mut state,
            &GroupSelector::by_name("Password Boss Users"),
            &groups,
            &periodic,
        )
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(client.requests() - before, 3 + 1);
}

#[tokio::test]
async fn rename_and_removal_arrive_through_one_delta_request() {
    let e = env().await;
    let sync = e.tenant.add_group("Password Boss Users");
    let users = e.users("u", 30);
    for id in &users {
        e.tenant.add_member(&sync, id);
    }
    let client = e.client();
    let mut state = GraphSyncState::default();
    let sel = GroupSelector::by_id(&sync);
    let full = client
        .read(&mut state, &sel, &[], &opts(true))
        .await
        .unwrap();
    assert_eq!(full.users.len(), 30);

    let before = client.requests();
    let same = client
        .read(&mut state, &sel, &[], &opts(true))
        .await
        .unwrap();
    assert_eq!(
        client.requests() - before,
        1,
        "a no-change sync is one $batch"
    );
    assert_eq!(same, full);

    e.tenant.rename_user(&users[0], "Renamed Person");
    e.tenant.remove_member(&sync, &users[1]);
    let before = client.requests();
    let snap = client
        .read(&mut state, &sel, &[], &opts(true))
        .await
        .unwrap();
    assert_eq!(client.requests() - before, 1);
    assert!(snap.complete);
    assert_eq!(snap.users.len(), 29);
    assert!(!snap.users.contains_key(&users[1]));
    assert!(
        snap.deleted.is_empty(),
        "removed from the group, not deleted"
    );
    assert_eq!(
        snap.users[&users[0]].display_name.as_deref(),
        Some("Renamed Person")
    );
}

#[tokio::test]
async fn expired_delta_token_falls_back_to_one_full_read_without_losing_members() {
    let e = env().await;
    let sync = e.tenant.add_group("Password Boss Users");
    let users = e.users("u", 1500);
    for id in &users {
        e.tenant.add_member(&sync, id);
    }
    let client = e.client();
    let mut state = GraphSyncState::default();
    let sel = GroupSelector::by_id(&sync);
    client
        .read(&mut state, &sel, &[], &opts(true))
        .await
        .unwrap();
    let newcomer = e.users("new", 1).remove(0);
    e.tenant.add_member(&sync, &newcomer);
    e.sim.faults().expire_delta_tokens();
    e.sim.reset_requests();
    let before = client.requests();
    let snap = client
        .read(&mut state, &sel, &[], &opts(true))
        .await
        .unwrap();
    assert!(snap.complete);
    assert!(snap.deleted.is_empty());
    assert_eq!(snap.users.len(), 1501);
    assert!(snap.users.contains_key(&newcomer));
    // the refused delta $batch + 2 member pages + the new bootstrap $batch
    assert_eq!(client.requests() - before, 1 + 2 + 1);
    assert_eq!(e.sim.requests().http(PathKind::TransitiveMembers), 2);
    assert_eq!(e.sim.requests().in_batch(PathKind::Other), 0);
    // And the new links work.
    let before = client.requests();
    client
        .read(&mut state, &sel, &[], &opts(true))
        .await
        .unwrap();
    assert_eq!(client.requests() - before, 1);
}

/// Group delta names joiners by id only; their attributes come from users-delta queries filtered
/// by id, 50 ids each and 20 per `$batch`: 1,001 joiners cost two `$batch`es (21 queries), not
/// one `GET /users/{id}` each.
#[tokio::test]
async fn joiners_attributes_come_1000_per_batch() {
    let e = env().await;
    let sync = e.tenant.add_group("Password Boss Users");
    let first = e.users("first", 1);
    e.tenant.add_member(&sync, &first[0]);
    // Users that exist before the first read: joining changes no attribute, so the users
    // delta does not carry them.
    let joiners = e.users("joiner", 1001);
    let client = e.client();
    let mut state = GraphSyncState::default();
    let sel = GroupSelector::by_id(&sync);
    client
        .read(&mut state, &sel, &[], &opts(false))
        .await
        .unwrap();

    for id in &joiners {
        e.tenant.add_member(&sync, id);
    }
    let before = e.sim.requests();
    let snap = client
        .read(&mut state, &sel, &[], &opts(false))
        .await
        .unwrap();
    let after = e.sim.requests();
    let queries = after.in_batch(PathKind::UsersDelta) - before.in_batch(PathKind::UsersDelta);
    // The round's own users delta link, then ⌈1,001 / 50⌉ = 21 filtered queries.
    assert_eq!(queries, 1 + 21);
    // The delta round's `$batch`, then 20 + 1 queries in two more.
    assert_eq!(
        after.http(PathKind::Batch) - before.http(PathKind::Batch),
        3
    );
    assert_eq!(
        after.http(PathKind::User),
        before.http(PathKind::User),
        "no per-user GET"
    );
    assert!(snap.complete);
    assert_eq!(snap.users.len(), 1 + 1001);
    let j = &snap.users[&joiners[1000]];
    assert_eq!(j.display_name.as_deref(), Some("joiner 1000"));
    assert_eq!(j.account_enabled, Some(true));
}

#[tokio::test]
async fn delta_reports_deletes_restores_disables_and_new_members() {
    let e = env().await;
    let sync = e.tenant.add_group("Password Boss Users");
    let hr = e.tenant.add_group("HR");
    let users = e.users("u", 5);
    for id in &users[..4] {
        e.tenant.add_member(&sync, id);
    }
    e.tenant.add_member(&hr, &users[0]);
    let client = e.client();
    let mut state = GraphSyncState::default();
    let sel = GroupSelector::by_id(&sync);
    let groups = [GroupSelector::by_id(&hr)];
    client
        .read(&mut state, &sel, &groups, &opts(true))
        .await
        .unwrap();

    e.tenant.soft_delete_user(&users[0]);
    e.tenant.hard_delete_user(&users[1]);
    e.tenant.set_enabled(&users[2], false);
    e.tenant.add_member(&sync, &users[4]);
    e.tenant.add_member(&hr, &users[3]);
    e.tenant.rename_group(&hr, "Human Resources");
    let before = client.requests();
    let mut snap = client
        .read(&mut state, &sel, &groups, &opts(true))
        .await
        .unwrap();
    // the delta $batch + one $batch fetching the new member's attributes
    assert_eq!(client.requests() - before, 2);
    assert!(snap.complete);
    let ids: Vec<&String> = snap.users.keys().collect();
    let mut expected = vec![&users[2], &users[3], &users[4]];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(
        snap.deleted.is_empty(),
        "a delta @removed is no evidence: {:?}",
        snap.deleted
    );
    // The two departed users were reported removed: a lookup tells how they left, even when
    // the rules do not need it (`every` false). Users $batch + recycle bin $batch.
    let departed = [users[0].clone(), users[1].clone()];
    let before = client.requests();
    let found = client
        .classify_departures(&mut state, &mut snap, &departed, false)
        .await;
    assert_eq!(client.requests() - before, 2);
    assert!(matches!(
        found[&users[0]],
        UserLookup::SoftDeleted {
            restorable_until: Some(_)
        }
    ));
    assert_eq!(found[&users[1]], UserLookup::HardDeleted);
    assert!(snap.complete);
    assert_eq!(snap.deleted.iter().collect::<Vec<_>>(), {
        let mut d = vec![&users[0], &users[1]];
        d.sort();
        d
    });
    // Known now: not asked again.
    let before = client.requests();
    let again = client
        .classify_departures(&mut state, &mut snap, &departed, true)
        .await;
    assert!(again.is_empty());
    assert_eq!(client.requests(), before);
    assert_eq!(snap.users[&users[2]].account_enabled, Some(false));
    assert_eq!(
        snap.users[&users[4]].mail.as_deref(),
        Some("u4@contoso.com")
    );
    assert_eq!(snap.groups[0].display_name, "Human Resources");
    assert_eq!(
        snap.groups[0].members.iter().collect::<Vec<_>>(),
        vec![&users[3]]
    );

    e.tenant.restore_user(&users[0]);
    let snap = client
        .read(&mut state, &sel, &groups, &opts(true))
        .await
        .unwrap();
    assert!(
        snap.users.contains_key(&users[0]),
        "a restored user comes back"
    );
    assert!(!snap.deleted.contains(&users[0]));
    assert!(snap.groups[0].members.contains(&users[0]));
}

#[tokio::test]
async fn nested_changes_arrive_through_delta() {
    let e = env().await;
    let top = e.tenant.add_group("Password Boss Users");
    let sub = e.tenant.add_group("Sales");
    let users = e.users("u", 4);
    e.tenant.add_member(&top, &users[0]);
    e.tenant.add_member(&sub, &users[1]);
    e.tenant.add_member(&top, &sub);
    let client = e.client();
    let mut state = GraphSyncState::default();
    let sel = GroupSelector::by_id(&top);
    let snap = client
        .read(&mut state, &sel, &[], &opts(true))
        .await
        .unwrap();
    assert_eq!(snap.users.len(), 2);

    // Added to the nested group: one delta $batch + one attribute fetch.
    e.tenant.add_member(&sub, &users[2]);
    let before = client.requests();
    let snap = client
        .read(&mut state, &sel, &[], &opts(true))
        .await
        .unwrap();
    assert_eq!(client.requests() - before, 2);
    assert!(snap.users.contains_key(&users[2]));

    // Removed from the nested group but still a direct member: the re-read keeps it.
    e.tenant.add_member(&top, &users[1]);
    e.tenant.remove_member(&sub, &users[1]);
    let snap = client
        .read(&mut state, &sel, &[], &opts(true))
        .await
        .unwrap();
    assert!(snap.users.contains_key(&users[1]));
    e.tenant.remove_member(&top, &users[1]);
    let snap = client
        .read(&mut state, &sel, &[], &opts(true))
        .await
        .unwrap();
    assert!(!snap.users.contains_key(&users[1]));

    // A new nested group is tracked from then on.
    let fresh = e.tenant.add_group("Partners");
    e.tenant.add_member(&fresh, &users[3]);
    e.tenant.add_member(&top, &fresh);
    let snap = client
        .read(&mut state, &sel, &[], &opts(true))
        .await
        .unwrap();
    assert!(snap.users.contains_key(&users[3]));
    let other = e.users("late", 1).remove(0);
    e.tenant.add_member(&fresh, &other);
    let snap = client
        .read(&mut state, &sel, &[], &opts(true))
        .await
        .unwrap();
    assert!(snap.users.contains_key(&other));
    assert!(snap.complete);
}

#[tokio::test]
async fn group_resolution_errors_name_the_group() {
    let e = env().await;
    e.tenant.add_group("Twins");
    e.tenant.add_group("Twins");
    let only = e.tenant.add_group("O'Brien team");
    let client = e.client();
    let found = client
        .resolve_group(&GroupSelector::by_name("O'Brien team"))
        .await
        .unwrap();
    assert_eq!(found.id, only);
    let err = client
        .resolve_group(&GroupSelector::by_name("Twins"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), GraphErrorKind::NotFound);
    assert!(err.to_string().contains("\"Twins\"") && err.to_string().contains('2'));
    let err = client
        .resolve_group(&GroupSelector::by_name("Nobody"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), GraphErrorKind::NotFound);
    assert!(err.to_string().contains("\"Nobody\""));
    let missing = "6f1e1c9a-0000-4000-8000-000000000001";
    let mut state = GraphSyncState::default();
    let err = client
        .read(&mut state, &GroupSelector::by_id(missing), &[], &opts(true))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), GraphErrorKind::NotFound);
    assert!(err.to_string().contains(missing));
}

/// Deleted only on evidence: 404 `Request_ResourceNotFound` on `GET /users/{id}`, then the
/// recycle bin tells soft from hard. 25 lookups: two `$batch`es for the users (20 + 5) and one
/// for the recycle bin (the two 404s).
#[tokio::test]
async fn look_ups_tell_existing_soft_deleted_and_hard_deleted_users_apart() {
    let e = env().await;
    let users = e.users("u", 25);
    e.tenant.soft_delete_user(&users[3]);
    e.tenant.hard_delete_user(&users[21]);
    let client = e.client();
    let found = client.look_up_users(&users).await.unwrap();
    assert_eq!(found.len(), 25);
    let until = match &found[&users[3]] {
        UserLookup::SoftDeleted {
            restorable_until: Some(until),
        } => *until,
        other => panic!("soft-deleted: {other:?}"),
    };
    let now = k8s_openapi::jiff::Timestamp::now();
    let window = until.duration_since(now);
    assert!(
        window > RESTORE_WINDOW - k8s_openapi::jiff::SignedDuration::from_mins(5)
            && window <= RESTORE_WINDOW,
        "restorable for 30 days from the deletion: {window:?}"
    );
    assert_eq!(found[&users[21]], UserLookup::HardDeleted);
    match &found[&users[0]] {
        UserLookup::Exists(u) => {
            assert_eq!(u.display_name.as_deref(), Some("u 0"));
            assert_eq!(
                u.account_enabled,
                Some(true),
                "read with the connector's $select"
            );
        }
        other => panic!("exists: {other:?}"),
    }
    assert_eq!(found.values().filter(|l| l.is_deleted()).count(), 2);
    // token + 2 user $batch envelopes (20 + 5) + 1 recycle-bin $batch
    assert_eq!(client.requests(), 4);
    assert_eq!(e.sim.requests().in_batch(PathKind::User), 25);
    assert_eq!(e.sim.requests().in_batch(PathKind::DeletedItems), 2);
}

/// Replication lag: a member re-added to the sync group whom the users delta filtered by id
/// does not list yet exists all the same. A lookup gives its attributes; it is no deleted user.
#[tokio::test]
async fn a_rejoining_member_the_users_delta_misses_is_looked_up_not_deleted() {
    let e = env().await;
    let sync = e.tenant.add_group("Password Boss Users");
    let users = e.users("u", 3);
    for id in &users {
        e.tenant.add_member(&sync, id);
    }
    let client = e.client();
    let mut state = GraphSyncState::default();
    let sel = GroupSelector::by_id(&sync);
    client
        .read(&mut state, &sel, &[], &opts(true))
        .await
        .unwrap();
    e.tenant.remove_member(&sync, &users[0]);
    let left = client
        .read(&mut state, &sel, &[], &opts(true))
        .await
        .unwrap();
    assert!(!left.users.contains_key(&users[0]));

    e.tenant.add_member(&sync, &users[0]);
    e.sim.faults().lag_users_delta(&users[0], true);
    let before = client.requests();
    let back = client
        .read(&mut state, &sel, &[], &opts(true))
        .await
        .unwrap();
    // the delta $batch + the filtered users delta that misses it + the lookup
    assert_eq!(client.requests() - before, 3);
    assert!(back.complete, "{:?}", back.incomplete_reason);
    assert!(back.deleted.is_empty(), "{:?}", back.deleted);
    assert_eq!(
        back.users[&users[0]].display_name.as_deref(),
        Some("u 0"),
        "a member again, with the attributes the lookup read"
    );
    assert_eq!(back.users.len(), 3);

    // A joiner the users delta misses and that is gone by the time of the lookup (deleted in
    // between): the lookup's 404 is evidence, and a deleted user is a member of nothing.
    let late = e.users("late", 1).remove(0);
    e.tenant.add_member(&sync, &late);
    e.sim.faults().lag_users_delta(&late, true);
    e.sim
        .faults()
        .answer_next(PathKind::User, 1, Answer::Status(404));
    let snap = client
        .read(&mut state, &sel, &[], &opts(true))
        .await
        .unwrap();
    assert!(snap.complete, "{:?}", snap.incomplete_reason);
    assert!(!snap.users.contains_key(&late));
    assert_eq!(snap.deleted.iter().collect::<Vec<_>>(), vec![&late]);
    assert_eq!(e.sim.requests().in_batch(PathKind::DeletedItems), 1);
}

/// A users-delta round may replay an old `@removed` for a user who exists and is still a member:
/// the member set decides membership, and a lookup confirms the user exists.
#[tokio::test]
async fn a_replayed_removal_of_a_member_who_exists_keeps_the_member() {
    let e = env().await;
    let sync = e.tenant.add_group("Password Boss Users");
    let users = e.users("u", 3);
    for id in &users {
        e.tenant.add_member(&sync, id);
    }
    let client = e.client();
    let mut state = GraphSyncState::default();
    let sel = GroupSelector::by_id(&sync);
    let full = client
        .read(&mut state, &sel, &[], &opts(true))
        .await
        .unwrap();

    e.sim.faults().replay_user_removal(&users[1]);
    e.tenant.rename_user(&users[1], "Still Here");
    let before = client.requests();
    let snap = client
        .read(&mut state, &sel, &[], &opts(true))
        .await
        .unwrap();
    // the delta $batch + the lookup that finds the user
    assert_eq!(client.requests() - before, 2);
    assert!(snap.complete);
    assert!(snap.deleted.is_empty());
    assert_eq!(snap.users.len(), full.users.len());
    assert_eq!(
        snap.users[&users[1]].display_name.as_deref(),
        Some("Still Here")
    );
    // Settled: the next quiet sync is one request again.
    let before = client.requests();
    client
        .read(&mut state, &sel, &[], &opts(true))
        .await
        .unwrap();
    assert_eq!(client.requests() - before, 1);
}

/// Per-group isolation: a mirrored group that is missing, ambiguous or unreadable is a problem
/// of its own, left out of the groups; the users and the other groups are read all the same, and
/// the snapshot stays complete. Problem groups are tried again on the next (delta) read.
#[tokio::test]
async fn a_mirrored_group_that_cannot_be_read_is_a_problem_and_the_rest_still_reads() {
    let e = env().await;
    let sync = e.tenant.add_group("Password Boss Users");
    let hr = e.tenant.add_group("HR");
    let sales = e.tenant.add_group("Sales");
    e.tenant.add_group("Twins");
    e.tenant.add_group("Twins");
    let users = e.users("u", 6);
    for id in &users {
        e.tenant.add_member(&sync, id);
    }
    e.tenant.add_member(&hr, &users[0]);
    e.tenant.add_member(&sales, &users[1]);
    let groups = [
        GroupSelector::by_name("HR"),
        GroupSelector::by_name("Finance"),
        GroupSelector::by_name("Twins"),
        GroupSelector::by_id(&sales),
    ];
    let client = e.client();
    let mut state = GraphSyncState::default();
    let sel = GroupSelector::by_id(&sync);
    e.sim
        .faults()
        .answer_next_for(PathKind::TransitiveMembers, &sales, 1, Answer::Status(403));
    let snap = client
        .read(&mut state, &sel, &groups, &opts(true))
        .await
        .unwrap();
    assert!(snap.complete, "{:?}", snap.incomplete_reason);
    assert_eq!(snap.users.len(), 6);
    let ids: Vec<&str> = snap.groups.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, vec![hr.as_str()]);
    let problems: Vec<(&str, Option<&str>)> = snap
        .group_problems
        .iter()
        .map(|p| (p.selector.as_str(), p.group_id.as_deref()))
        .collect();
    let sales_selector = format!("id: {sales}");
    assert_eq!(
        problems,
        vec![
            ("displayName: Finance", None),
            ("displayName: Twins", None),
            (sales_selector.as_str(), Some(sales.as_str())),
        ]
    );
    let messages: Vec<&str> = snap
        .group_problems
        .iter()
        .map(|p| p.message.as_str())
        .collect();
    assert!(
        messages[0].contains("\"Finance\" was not found"),
        "{}",
        messages[0]
    );
    assert!(messages[1].contains("matches 2 groups"), "{}", messages[1]);
    assert!(
        messages[2].contains("403") && messages[2].contains(&sales),
        "{}",
        messages[2]
    );
    assert!(
        messages
            .iter()
            .all(|m| m.contains("the other groups still sync"))
    );

    // Finance now exists, Sales reads again: both are tracked from the next read on, in spec
    // order. The delta $batch + one resolution $batch (Finance, Twins) + a member page each for
    // Finance and Sales + one $batch bootstrapping their delta links.
    let finance = e.tenant.add_group("Finance");
    e.tenant.add_member(&finance, &users[2]);
    let before = client.requests();
    let snap = client
        .read(&mut state, &sel, &groups, &opts(true))
        .await
        .unwrap();
    assert_eq!(client.requests() - before, 5);
    assert!(snap.complete);
    let ids: Vec<&str> = snap.groups.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, vec![hr.as_str(), finance.as_str(), sales.as_str()]);
    assert_eq!(snap.group_problems.len(), 1, "{:?}", snap.group_problems);
    assert_eq!(snap.group_problems[0].selector, "displayName: Twins");
    // And their changes arrive through delta like the others'.
    e.tenant.add_member(&finance, &users[3]);
    let snap = client
        .read(&mut state, &sel, &groups, &opts(true))
        .await
        .unwrap();
    assert_eq!(snap.groups[1].members.len(), 2);

    // The sync group is no mirrored group: it failing still fails the read.
    let mut fresh = GraphSyncState::default();
    e.sim
        .faults()
        .answer_next_for(PathKind::TransitiveMembers, &sync, 1, Answer::Status(403));
    let err = client
        .read(&mut fresh, &sel, &groups, &opts(true))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), GraphErrorKind::Unauthorized, "{err}");
}

/// A mirrored group deleted and recreated under the same name is another group: the cached id
/// answers 404, the cache entry goes, and the name is resolved again in the same read (no
/// restart, no failed sync).
#[tokio::test]
async fn a_mirrored_group_deleted_and_recreated_under_its_name_is_resolved_again() {
    let e = env().await;
    let sync = e.tenant.add_group("Password Boss Users");
    let old = e.tenant.add_group("HR");
    let users = e.users("u", 3);
    for id in &users {
        e.tenant.add_member(&sync, id);
    }
    e.tenant.add_member(&old, &users[0]);
    let groups = [GroupSelector::by_name("HR")];
    let client = e.client();
    let mut state = GraphSyncState::default();
    let sel = GroupSelector::by_id(&sync);
    let first = client
        .read(&mut state, &sel, &groups, &opts(true))
        .await
        .unwrap();
    assert_eq!(first.groups[0].id, old);

    e.tenant.delete_group(&old);
    let new = e.tenant.add_group("HR");
    e.tenant.add_member(&new, &users[1]);
    e.tenant.add_member(&new, &users[2]);
    let snap = client
        .read(&mut state, &sel, &groups, &opts(true))
        .await
        .unwrap();
    assert!(snap.complete);
    assert!(snap.group_problems.is_empty(), "{:?}", snap.group_problems);
    assert_eq!(snap.groups[0].id, new);
    assert_eq!(snap.groups[0].members.len(), 2);
    // Tracked by delta again: a quiet sync is one request.
    let before = client.requests();
    client
        .read(&mut state, &sel, &groups, &opts(true))
        .await
        .unwrap();
    assert_eq!(client.requests() - before, 1);

    // Deleted for good: a problem, and the name is looked up again on every read until it
    // exists again.
    e.tenant.delete_group(&new);
    let snap = client
        .read(&mut state, &sel, &groups, &opts(true))
        .await
        .unwrap();
    assert!(snap.complete && snap.groups.is_empty());
    assert_eq!(snap.group_problems[0].selector, "displayName: HR");
    assert_eq!(snap.users.len(), 3);
    let again = e.tenant.add_group("HR");
    let snap = client
        .read(&mut state, &sel, &groups, &opts(true))
        .await
        .unwrap();
    assert_eq!(snap.groups[0].id, again);
    assert!(snap.group_problems.is_empty());
}

/// A delta link answering 404 (it follows a group that is gone) is no failed sync: the read
/// falls back to a full one, group by group, and the missing group becomes a problem.
#[tokio::test]
async fn a_delta_link_answering_404_falls_back_to_a_full_read_group_by_group() {
    let e = env().await;
    let sync = e.tenant.add_group("Password Boss Users");
    let hr = e.tenant.add_group("HR");
    let sales = e.tenant.add_group("Sales");
    let users = e.users("u", 2);
    for id in &users {
        e.tenant.add_member(&sync, id);
        e.tenant.add_member(&sales, id);
    }
    let groups = [GroupSelector::by_id(&hr), GroupSelector::by_id(&sales)];
    let client = e.client();
    let mut state = GraphSyncState::default();
    let sel = GroupSelector::by_id(&sync);
    client
        .read(&mut state, &sel, &groups, &opts(true))
        .await
        .unwrap();
    e.tenant.delete_group(&hr);
    e.sim
        .faults()
        .answer_next(PathKind::GroupsDelta, 1, Answer::Status(404));
    let snap = client
        .read(&mut state, &sel, &groups, &opts(true))
        .await
        .unwrap();
    assert!(snap.complete);
    assert_eq!(snap.users.len(), 2);
    assert_eq!(snap.groups.len(), 1);
    assert_eq!(snap.groups[0].id, sales);
    assert_eq!(snap.group_problems.len(), 1);
    assert_eq!(snap.group_problems[0].selector, format!("id: {hr}"));
    assert_eq!(
        snap.group_problems[0].group_id.as_deref(),
        Some(hr.as_str())
    );
}
