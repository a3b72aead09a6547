//! The executor against the simulator over real HTTP: faults, licences, conflicts, 401, order,
//! request counts, and convergence after an interrupted sync.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::support::passwordboss::*;
use pbconnector::domain::EntraSnapshot;
use pbconnector::passwordboss::PasswordBossErrorKind;
use pbconnector::plan::{Action, ConflictKind, Deprovision, MemberRef};
use pbconnector::sync::apply::execute;
use pbconnector::sync::state::Outcome;
use pbconnector_simulators::passwordboss::SeedUser;
use pbconnector_simulators::passwordboss::wire::{
    MANAGED_BY_AZURE_AD, MANAGED_BY_PASSWORD_BOSS, UserStatus,
};

#[tokio::test]
async fn thousand_creates_through_one_in_ten_503s_make_exactly_thousand_users() {
    let sim = sim(2000).await;
    // One create in ten is refused (503) its first two attempts. Chosen by the create, not by
    // the order requests arrive in: with `fail_every_nth` a retry could land on the nth arrival
    // again, and under load (retries fired together) meet 503s until its attempts ran out.
    sim.faults().refuse_every_nth_write(10, 2, 503);
    let client = client(&sim);
    let plan = plan((0..1000).map(create).collect());

    let report = execute(&client, &plan, "sync-1").await;

    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.applied.created, 1000);
    let users = sim.users();
    assert_eq!(users.len(), 1000);
    let emails: BTreeSet<String> = users.iter().map(|u| u.email.to_lowercase()).collect();
    assert_eq!(emails.len(), 1000, "no duplicates");
    // Exactly two 503s for each of 100 creates: every retry carried its create's key.
    assert_eq!(sim.requests().with_status(503), 200, "{:?}", sim.requests());
}

#[tokio::test]
async fn a_create_whose_connection_dropped_after_apply_is_retried_into_one_user() {
    let sim = sim(10).await;
    sim.faults().drop_next_writes_after_apply(1);
    let client = client(&sim);

    let report = execute(&client, &plan(vec![create(1)]), "sync-1").await;

    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.applied.created, 1);
    assert_eq!(sim.requests().dropped, 1);
    assert_eq!(sim.requests().writes(), 2, "the create was sent twice");
    assert_eq!(sim.users().len(), 1);
    // The retry was answered from the idempotency key (201 again), not recovered from a 409.
    assert_eq!(sim.requests().with_status(409), 0);
    let Outcome::Applied(applied) = &report.outcomes[0].outcome else {
        panic!("applied: {report:?}");
    };
    assert_eq!(applied.note, None);
}

#[tokio::test]
async fn a_dropped_delete_that_already_applied_is_success() {
    let sim = sim(10).await;
    let user = sim
        .add_user(SeedUser::new("gone@contoso.com", "G", "One").azure("e1"))
        .unwrap();
    sim.faults().drop_next_writes_after_apply(1);
    let client = client(&sim);

    let report = execute(
        &client,
        &plan(vec![deprovision(
            &user.id,
            &user.email,
            Deprovision::Delete,
        )]),
        "sync-1",
    )
    .await;

    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.applied.deleted, 1);
    assert!(sim.users().is_empty());
}

#[tokio::test]
async fn retry_after_on_429_is_honoured() {
    let sim = sim(10).await;
    sim.faults().fail_next(1, 429, Some(1));
    let client = client(&sim);

    let started = Instant::now();
    let info = client.connector().await.expect("second attempt succeeds");

    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(info.company_name, "Contoso");
    assert_eq!(sim.requests().reads(), 2);
    assert_eq!(client.requests().reads, 2);
}

#[tokio::test]
async fn licence_limit_of_ten_with_fifteen_creates_gives_ten_active_five_pending() {
    let sim = sim(10).await;
    let client = client(&sim);

    let report = execute(&client, &plan((0..15).map(create).collect()), "sync-1").await;

    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.applied.created, 15);
    assert_eq!(report.pending_created, 5);
    let users = sim.users();
    let count = |s| users.iter().filter(|u| u.status == s).count();
    assert_eq!(
        (count(UserStatus::Active), count(UserStatus::Pending)),
        (10, 5)
    );
    let pending: usize = report
        .outcomes
        .iter()
        .filter(|o| matches!(&o.outcome, Outcome::Applied(a) if a.pending_no_license))
        .count();
    assert_eq!(pending, 5);
}

#[tokio::test]
async fn an_invalid_token_is_unauthorized_and_writes_nothing() {
    let sim = sim(10).await;
    let client =
        pbconnector::passwordboss::PasswordBossClient::new(config_for(sim.url(), "not-the-token"))
            .unwrap();

    let err = client.read_state().await.unwrap_err();
    assert_eq!(err.kind(), PasswordBossErrorKind::Unauthorized);
    assert!(
        err.to_string().contains("Password Boss token was refused"),
        "{err}"
    );

    let report = execute(&client, &plan((0..20).map(create).collect()), "sync-1").await;
    let unauthorized = report.unauthorized.as_ref().expect("reported");
    assert_eq!(unauthorized.kind(), PasswordBossErrorKind::Unauthorized);
    assert_eq!(sim.requests().applied_writes(), 0);
    assert!(sim.users().is_empty());
    assert_eq!(report.applied.created, 0);
    assert!(
        report.skipped > 0,
        "writes stopped after the 401: {report:?}"
    );
}

#[tokio::test]
async fn a_401_stops_every_further_write() {
    let sim = sim(10).await;
    let client = client_with(&sim, |c| c.concurrency = 1);
    sim.revoke_token(sim.token());

    let report = execute(&client, &plan((0..5).map(create).collect()), "sync-1").await;

    assert_eq!(sim.requests().writes(), 1, "only the first write was sent");
    assert_eq!((report.failed, report.skipped), (1, 4));
    assert!(report.unauthorized.is_some());
}

#[tokio::test]
async fn refused_objects_are_conflicts_and_the_rest_proceeds() {
    let sim = sim(2).await;
    let pending = sim
        .add_user(
            SeedUser::new("pending@contoso.com", "P", "Ending")
                .azure("e-pending")
                .status(UserStatus::Pending),
        )
        .unwrap();
    sim.add_user(SeedUser::new("admin@contoso.com", "A", "Dmin").admin())
        .unwrap();
    sim.add_user(SeedUser::new("other@contoso.com", "O", "Ther"))
        .unwrap();
    // Both licences are used: enabling `pending` is refused.
    let client = client(&sim);
    let actions = vec![
        create_with("e-raced", "OTHER@contoso.com"),
        create_with("e-bad", "bad@contoso"),
        enable(&pending.id, "e-pending", &pending.email),
        deprovision("u_999", "ghost@contoso.com", Deprovision::Disable),
        create(1),
    ];

    let report = execute(&client, &plan(actions), "sync-1").await;

    let kinds: Vec<(ConflictKind, Option<String>)> = report
        .conflicts
        .iter()
        .map(|c| (c.kind, c.email.clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (ConflictKind::Rejected, Some("OTHER@contoso.com".into())),
            (ConflictKind::Rejected, Some("bad@contoso".into())),
            (ConflictKind::NoLicense, Some(pending.email.clone())),
            (ConflictKind::Rejected, Some("ghost@contoso.com".into())),
        ]
    );
    assert!(report.conflicts[0].message.contains("email_exists"));
    assert!(report.conflicts[1].message.contains("invalid_email"));
    assert!(report.conflicts[3].message.contains("404"));
    assert_eq!(report.applied.created, 1, "the valid create went through");
    assert_eq!(report.failed, 0);
    assert!(sim.user_by_email("user1@contoso.com").is_some());
}

#[tokio::test]
async fn deprovisions_run_after_creates() {
    // One licence, held by a user being disabled. Creates go first, so the new user is pending.
    let sim = sim(1).await;
    let leaver = sim
        .add_user(SeedUser::new("leaver@contoso.com", "L", "Eaver").azure("e-leaver"))
        .unwrap();
    let client = client_with(&sim, |c| c.concurrency = 8);
    let actions = vec![
        deprovision(&leaver.id, &leaver.email, Deprovision::Disable),
        create(1),
    ];

    let report = execute(&client, &plan(actions), "sync-1").await;

    assert!(report.is_complete(), "{report:?}");
    assert_eq!((report.applied.created, report.applied.disabled), (1, 1));
    assert_eq!(report.pending_created, 1);
    assert_eq!(
        sim.user_by_email("user1@contoso.com").unwrap().status,
        UserStatus::Pending
    );
    // Outcomes come back in plan order.
    let order: Vec<usize> = report.outcomes.iter().map(|o| o.index).collect();
    assert_eq!(order, vec![0, 1]);
}

#[tokio::test]
async fn requests_are_one_per_changed_object_plus_paging() {
    let sim = sim(100).await;
    let keep = sim
        .add_user(SeedUser::new("keep@contoso.com", "K", "Eep").azure("e-keep"))
        .unwrap();
    let leaver = sim
        .add_user(SeedUser::new("leaver@contoso.com", "L", "Eaver").azure("e-leaver"))
        .unwrap();
    for i in 0..5 {
        sim.add_user(SeedUser::new(
            &format!("portal{i}@contoso.com"),
            "P",
            "Ortal",
        ))
        .unwrap();
    }
    let hr = sim
        .add_group("HR", MANAGED_BY_AZURE_AD, Some("g-hr"), &[&keep.id])
        .unwrap();
    let old = sim
        .add_group("Old", MANAGED_BY_AZURE_AD, Some("g-old"), &[])
        .unwrap();
    sim.add_group("Portal", MANAGED_BY_PASSWORD_BOSS, None, &[])
        .unwrap();
    // Pages of 3: 7 users → 3 pages; 4 groups (Everyone, HR, Old, Portal) → 2 pages;
    // members of the 2 Azure AD groups → 2; connector → 1.
    let client = client_with(&sim, |c| c.page_size = 3);

    let state = client.read_state().await.unwrap();
    assert_eq!(client.requests().reads, 1 + 3 + 2 + 2);
    assert_eq!(sim.requests().reads(), 8);
    assert_eq!(state.users.len(), 7);
    assert_eq!(state.memberships.len(), 2);
    assert_eq!(state.memberships[&hr.id], BTreeSet::from([keep.id.clone()]));
    assert_eq!(state.licenses.used, 7);

    let actions = vec![
        create(1),
        create(2),
        rename(&keep.id, "e-keep", &keep.email, "Kept"),
        create_group(
            "g-eng",
            "Engineering",
            vec![
                MemberRef::Created("e1".into()),
                MemberRef::User(keep.id.clone()),
            ],
        ),
        create_group("g-empty", "Empty", vec![]),
        Action::UpdateGroup {
            group_id: hr.id.clone(),
            external_id: "g-hr".into(),
            name: hr.name.clone(),
            rename: Some("Human Resources".into()),
            members: Some(vec![MemberRef::Created("e2".into())]),
        },
        Action::DeleteGroup {
            group_id: old.id.clone(),
            name: "Old".into(),
        },
        deprovision(&leaver.id, &leaver.email, Deprovision::Remove),
    ];
    // creates 2 + rename 1 + group with members 2 + empty group 1 + rename&members 2 + delete 1
    // + remove 1.
    let expected_writes = 10;
    sim.reset_requests();

    let report = execute(&client, &plan(actions), "sync-1").await;

    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.requests.writes, expected_writes);
    assert_eq!(report.requests.reads, 0);
    assert_eq!(sim.requests().total(), expected_writes);
    let eng = sim.group_by_name("Engineering").unwrap();
    let user1 = sim.user_by_email("user1@contoso.com").unwrap();
    let user2 = sim.user_by_email("user2@contoso.com").unwrap();
    assert_eq!(
        sim.members(&eng.id).unwrap(),
        BTreeSet::from([user1.id.clone(), keep.id.clone()])
            .into_iter()
            .collect::<Vec<_>>()
    );
    assert_eq!(sim.members(&hr.id).unwrap(), vec![user2.id.clone()]);
    assert_eq!(sim.group_by_name("Human Resources").unwrap().id, hr.id);
    assert!(sim.group_by_name("Old").is_none());
    assert_eq!(sim.departed().len(), 1);
    assert_eq!(sim.user_by_email(&keep.email).unwrap().first_name, "Kept");
    let a = report.applied;
    assert_eq!(
        (
            a.created,
            a.updated,
            a.groups_created,
            a.groups_updated,
            a.groups_deleted,
            a.removed
        ),
        (2, 1, 2, 1, 1, 1)
    );
}

#[tokio::test]
async fn a_member_whose_create_failed_is_dropped_from_the_group() {
    let sim = sim(10).await;
    let client = client(&sim);
    let actions = vec![
        create(1),
        create_with("e-bad", "bad@contoso"),
        create_group(
            "g-1",
            "Team",
            vec![
                MemberRef::Created("e1".into()),
                MemberRef::Created("e-bad".into()),
            ],
        ),
    ];

    let report = execute(&client, &plan(actions), "sync-1").await;

    assert_eq!(report.conflicts.len(), 1);
    assert_eq!(report.applied.groups_created, 1);
    let team = sim.group_by_name("Team").unwrap();
    let user1 = sim.user_by_email("user1@contoso.com").unwrap();
    assert_eq!(sim.members(&team.id).unwrap(), vec![user1.id]);
    let Outcome::Applied(applied) = &report.outcomes[2].outcome else {
        panic!("group create applied: {report:?}");
    };
    assert!(applied.note.as_deref().unwrap().contains("1 member"));
}

#[tokio::test]
async fn a_new_sync_after_an_interrupted_one_converges_without_duplicates() {
    let sim = sim(10).await;
    let client = client(&sim);
    let actions = vec![
        create(1),
        create(2),
        create_group("g-1", "Team", vec![MemberRef::Created("e1".into())]),
    ];
    // The first sync "crashes": its creates are applied but every answer is lost, and it gives
    // up before it learns of them.
    let crashing = client_with(&sim, |c| c.retry.max_attempts = 1);
    sim.faults().drop_next_writes_after_apply(3);
    let first = execute(&crashing, &plan(actions.clone()), "sync-1").await;
    assert_eq!(first.applied.created, 0, "{first:?}");
    assert_eq!(sim.users().len(), 2);

    // The next sync (new id, so new idempotency keys) reads Password Boss afresh and plans from
    // what it finds, as a sync does: the accounts the lost answers made are linked, not made
    // again; only what is missing is planned.
    let snapshot: EntraSnapshot = serde_json::from_value(serde_json::json!({
        "syncGroupId": "sync", "syncGroupName": "Password Boss Users", "complete": true,
        "users": {
            "e1": {"id": "e1", "givenName": "First", "surname": "Last", "mail": "user1@contoso.com", "accountEnabled": true},
            "e2": {"id": "e2", "givenName": "First", "surname": "Last", "mail": "user2@contoso.com", "accountEnabled": true}
        },
        "deleted": [],
        "groups": [{"id": "g-1", "displayName": "Team", "members": ["e1"]}]
    }))
    .expect("a snapshot");
    let read = client.read_state().await.expect("a fresh read");
    let replanned = pbconnector::plan::plan(
        &snapshot,
        &read,
        &pbconnector::plan::Rules::default(),
        &pbconnector::plan::SafetyInput::now(),
    );
    assert!(
        !replanned
            .actions
            .iter()
            .any(|a| matches!(a, Action::CreateUser { .. })),
        "the accounts made before the crash are found: {:?}",
        replanned.actions
    );
    let second = execute(&client, &replanned, "sync-2").await;

    assert!(second.is_complete(), "{second:?}");
    assert!(second.conflicts.is_empty(), "{:?}", second.conflicts);
    assert_eq!(sim.users().len(), 2, "no duplicate user");
    let team = sim.group_by_name("Team").unwrap();
    let user1 = sim.user_by_email("user1@contoso.com").unwrap();
    assert_eq!(
        sim.members(&team.id).unwrap(),
        vec![user1.id],
        "no lost change"
    );
    assert_eq!(sim.groups().len(), 2, "Everyone and Team");
}

#[tokio::test]
async fn a_create_colliding_with_a_foreign_user_stays_a_conflict() {
    let sim = sim(10).await;
    // Same email, and even the same external id, but managed by another source.
    sim.add_user(
        SeedUser::new("user1@contoso.com", "U", "One")
            .azure("e1")
            .managed_by("Active Directory"),
    )
    .unwrap();
    let client = client(&sim);

    let report = execute(&client, &plan(vec![create(1)]), "sync-1").await;

    assert_eq!(report.conflicts.len(), 1);
    assert_eq!(report.conflicts[0].kind, ConflictKind::Rejected);
    assert_eq!(sim.users().len(), 1);
}

#[tokio::test]
async fn a_service_that_stays_down_ends_the_run_early() {
    let sim = sim(10).await;
    sim.faults().fail_every_nth(1, 500, None);
    let client = client_with(&sim, |c| {
        c.concurrency = 2;
        c.retry.max_attempts = 2;
    });

    let report = execute(&client, &plan((0..50).map(create).collect()), "sync-1").await;

    assert!(report.gave_up.is_some());
    assert_eq!(report.applied.created, 0);
    assert!(report.skipped > 0);
    assert!(report.failed >= 4);
    assert!(sim.requests().writes() < 50, "{:?}", sim.requests());
}

/// A Password Boss that stops answering: the request ends at the shared client's read timeout
/// (not at its own request timeout), as a transient failure that names it.
#[tokio::test]
async fn a_stalled_request_ends_at_the_read_timeout_as_a_transient_failure_naming_it() {
    let sim = sim(10).await;
    let client = client_with(&sim, |config| {
        config.retry.max_attempts = 1;
        // Only the read timeout can end the request before the guard below.
        config.request_timeout = Duration::from_secs(600);
    });
    sim.faults()
        .set_hostile(Some(pbconnector_simulators::hostile::Hostile::NeverAnswer));
    // The guard only turns a hung test into a failure.
    let err = tokio::time::timeout(
        pbconnector::http_client::READ_TIMEOUT * 3,
        client.connector(),
    )
    .await
    .expect("the stalled request ends at the read timeout")
    .unwrap_err();
    assert_eq!(err.kind(), PasswordBossErrorKind::Transient, "{err}");
    assert!(err.to_string().contains("the read timeout"), "{err}");
}
