//! Throttling and faults: Retry-After honoured (never sooner), backoff, bounded attempts, the
//! per-sync deadline, `$batch` sub-request throttling and per-tenant pacing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::graph;
use crate::support::graph::{env, fast_policy};
use pbconnector::azure::{
    Credential, GraphClient, GraphErrorKind, GraphSyncState, ReadOptions, TenantPacer,
};
use pbconnector::resources::GroupSelector;
use pbconnector_simulators::graph::{Answer, PathKind};

fn opts(deadline: Duration) -> ReadOptions {
    ReadOptions {
        nested_groups: true,
        full_sync_interval: Duration::from_secs(3600),
        delta: true,
        deadline,
    }
}

#[tokio::test]
async fn retry_after_2_delays_the_next_request_by_2_seconds() {
    let e = env().await;
    let client = e.client();
    client.check_token().await.unwrap();
    e.sim.faults().throttle_next(1, 2);
    let started = Instant::now();
    client.check_token().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "retried after {:?}",
        started.elapsed()
    );
    let counts = e.sim.requests();
    assert_eq!(counts.http_status(PathKind::Other, 429), 1);
    assert_eq!(counts.http_status(PathKind::GroupList, 200), 2);
}

#[tokio::test]
async fn unavailable_is_retried_with_backoff_and_bounded() {
    let e = env().await;
    let client = e.client();
    e.sim.faults().unavailable_next(2, 503, None);
    client.check_token().await.unwrap();
    assert_eq!(e.sim.requests().http_status(PathKind::Other, 503), 2);

    e.sim.faults().unavailable_next(100, 504, None);
    let before = client.requests();
    let err = client.check_token().await.unwrap_err();
    assert_eq!(err.kind(), GraphErrorKind::Transient);
    assert_eq!(
        client.requests() - before,
        u64::from(fast_policy().max_attempts)
    );
}

#[tokio::test]
async fn the_sync_deadline_bounds_throttling_and_slow_answers() {
    let e = env().await;
    let group = e.tenant.add_group("Password Boss Users");
    let client = e.client();
    client.check_token().await.unwrap();
    let mut state = GraphSyncState::default();
    e.sim.faults().throttle_next(10, 30);
    let err = client
        .read(
            &mut state,
            &GroupSelector::by_id(&group),
            &[],
            &opts(Duration::from_secs(1)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), GraphErrorKind::Throttled);
    assert!(err.to_string().contains("429"));
    assert_eq!(
        e.sim.requests().http_status(PathKind::Other, 429),
        1,
        "never retried sooner than Retry-After"
    );
    assert!(!state.has_delta_links());

    // An answer an hour away: only the 300 ms deadline can end the read (the guard turns a
    // read that waits for the answer into a failure instead of a hung test).
    e.sim.faults().throttle_next(0, 0);
    e.sim.faults().set_delay(Some(Duration::from_secs(3600)));
    let selector = GroupSelector::by_id(&group);
    let options = opts(Duration::from_millis(300));
    let read = client.read(&mut state, &selector, &[], &options);
    let err = tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the read ends at its deadline, not with the answer")
        .unwrap_err();
    assert_eq!(err.kind(), GraphErrorKind::Deadline, "{err}");
}

#[tokio::test]
async fn throttled_batch_sub_requests_are_retried_after_their_retry_after() {
    let e = env().await;
    let group = e.tenant.add_group("Password Boss Users");
    let users = e.users("u", 3);
    for id in &users {
        e.tenant.add_member(&group, id);
    }
    let client = e.client();
    let mut state = GraphSyncState::default();
    let sel = GroupSelector::by_id(&group);
    client
        .read(&mut state, &sel, &[], &opts(Duration::from_secs(30)))
        .await
        .unwrap();
    e.tenant.rename_user(&users[2], "Late Rename");
    e.sim.faults().throttle_batch_items(1, 1);
    let started = Instant::now();
    let before = client.requests();
    let snap = client
        .read(&mut state, &sel, &[], &opts(Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        client.requests() - before,
        2,
        "the batch, then the throttled part again"
    );
    assert_eq!(
        snap.users[&users[2]].display_name.as_deref(),
        Some("Late Rename")
    );
    assert!(snap.complete);
}

#[tokio::test]
async fn clients_of_one_tenant_share_retry_after_through_the_pacer() {
    let e = env().await;
    let pacer = Arc::new(TenantPacer::new(2));
    let make = || {
        GraphClient::build(
            e.config(Credential::ClientSecret(graph::SECRET.into())),
            pacer.clone(),
            fast_policy(),
        )
        .unwrap()
    };
    let (a, b) = (make(), make());
    a.check_token().await.unwrap();
    b.check_token().await.unwrap();
    e.sim.faults().throttle_next(1, 2);
    let started = Instant::now();
    let first = tokio::spawn({
        let a = a.clone();
        async move { a.check_token().await }
    });
    // The simulator counts the 429 before a's client has read it: what b must wait on is a's
    // client telling the shared pacer, so wait for that.
    while pacer.wait().is_none() {
        assert!(
            !first.is_finished(),
            "a finished without its Retry-After ever holding the tenant back: {:?}",
            e.sim.requests().http_status(PathKind::Other, 429)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(e.sim.requests().http_status(PathKind::Other, 429), 1);
    b.check_token().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "b waited for a's Retry-After"
    );
    first.await.unwrap().unwrap();
}

/// A lookup that gives no evidence (5xx, throttled past the retries, a malformed body, another
/// user's id) leaves the read incomplete, naming the user and the answer, and changes nothing:
/// the next read asks again.
#[tokio::test]
async fn a_lookup_without_evidence_leaves_the_read_incomplete_and_is_asked_again() {
    let e = env().await;
    let group = e.tenant.add_group("Password Boss Users");
    let users = e.users("u", 3);
    for id in &users {
        e.tenant.add_member(&group, id);
    }
    let client = e.client();
    let mut state = GraphSyncState::default();
    let sel = GroupSelector::by_id(&group);
    let long = opts(Duration::from_secs(30));
    client.read(&mut state, &sel, &[], &long).await.unwrap();
    let cases = [
        (PathKind::User, Answer::Status(500), "500"),
        (PathKind::User, Answer::Status(503), "throttl"),
        (PathKind::User, Answer::Malformed, "unreadable user"),
        (PathKind::User, Answer::OtherId, "another user"),
    ];
    for (kind, answer, says) in cases {
        e.sim.faults().replay_user_removal(&users[1]);
        e.sim.faults().answer_next(kind, 100, answer);
        let snap = client.read(&mut state, &sel, &[], &long).await.unwrap();
        e.sim.faults().answer_next(kind, 0, answer);
        assert!(!snap.complete, "{answer:?}");
        let reason = snap.incomplete_reason.unwrap_or_default();
        assert!(
            reason.contains(says) && reason.contains("deleted in Entra ID"),
            "{answer:?}: {reason}"
        );
        if !matches!(answer, Answer::Status(503)) {
            assert!(reason.contains(&users[1]), "names the user: {reason}");
        }
        assert!(snap.deleted.is_empty());
        assert_eq!(snap.users.len(), 3, "no member lost on a guess");

        let settled = client.read(&mut state, &sel, &[], &long).await.unwrap();
        assert!(
            settled.complete,
            "asked again: {:?}",
            settled.incomplete_reason
        );
        assert_eq!(settled.users.len(), 3);
    }

    // Departed users: a recycle-bin lookup that fails is no evidence either.
    e.tenant.remove_member(&group, &users[2]);
    e.tenant.soft_delete_user(&users[2]);
    let mut snap = client.read(&mut state, &sel, &[], &long).await.unwrap();
    assert!(snap.complete);
    e.sim
        .faults()
        .answer_next(PathKind::DeletedItems, 1, Answer::Status(500));
    let departed = [users[2].clone()];
    let found = client
        .classify_departures(&mut state, &mut snap, &departed, true)
        .await;
    assert!(found.is_empty());
    assert!(!snap.complete);
    let reason = snap.incomplete_reason.clone().unwrap_or_default();
    assert!(
        reason.contains(&users[2]) && reason.contains("deletedItems") && reason.contains("500"),
        "{reason}"
    );
    assert!(snap.deleted.is_empty());
    let mut snap = client.read(&mut state, &sel, &[], &long).await.unwrap();
    let found = client
        .classify_departures(&mut state, &mut snap, &departed, true)
        .await;
    assert!(found[&users[2]].is_deleted());
    assert!(snap.complete && snap.deleted.contains(&users[2]));
}

/// A Graph that stops answering: the request ends at the shared client's read timeout (not at
/// the 60 s request timeout or the sync's deadline), as a transient failure that names it.
#[tokio::test]
async fn a_stalled_request_ends_at_the_read_timeout_as_a_transient_failure_naming_it() {
    let e = env().await;
    let client = GraphClient::build(
        e.config(Credential::ClientSecret(graph::SECRET.into())),
        Arc::new(TenantPacer::default()),
        pbconnector::azure::RetryPolicy {
            max_attempts: 1,
            ..fast_policy()
        },
    )
    .expect("client");
    client.check_token().await.expect("a token, cached");
    e.sim
        .faults()
        .set_hostile(Some(pbconnector_simulators::hostile::Hostile::NeverAnswer));
    // The guard only turns a hung test into a failure: the request timeout is 60 s.
    let err = tokio::time::timeout(
        pbconnector::http_client::READ_TIMEOUT * 3,
        client.check_token(),
    )
    .await
    .expect("the stalled request ends at the read timeout")
    .unwrap_err();
    assert_eq!(err.kind(), GraphErrorKind::Transient, "{err}");
    assert!(err.to_string().contains("the read timeout"), "{err}");
}
