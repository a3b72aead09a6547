//! The report → status mapping shared by the controller and `pbconnector sync -o json`.

use std::time::Duration;

use crate::support::held;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use pbconnector::plan::{ActionCounts, Conflict, ConflictKind};
use pbconnector::resources::{
    AzureAdConnectorStatus, Connection, MAX_STATUS_ACTIONS, UserCounts, WriteOutcome,
};
use pbconnector::sync::ConnectorKey;
use pbconnector::sync::report::{Reached, SyncFailure, SyncReport};
use pbconnector::sync::state::AuditRecord;
use pbconnector::sync::status::failure::FailureReason;
use pbconnector::sync::status::{
    EventType, LAST_SUCCESS_REFRESH, deprovision_event, is_meaningful_change, refresh_period,
    status_from_report, suspended_status, transitions, waiting_status, with_every_action,
};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).unwrap()
}

fn ok_report(finished: Timestamp) -> SyncReport {
    let mut r = SyncReport::failed(
        finished - SignedDuration::from_millis(120),
        SyncFailure::new(FailureReason::GraphUnavailable, "x"),
        Reached {
            azure: true,
            password_boss: true,
        },
    );
    r.failure = None;
    r.finished = finished;
    r.duration = Duration::from_millis(120);
    r.snapshot_complete = true;
    r.users = UserCounts {
        in_scope: 812,
        active: 800,
        pending: 4,
        disabled: 8,
    };
    r.groups = 4;
    r.graph_requests = 1;
    r.password_boss_requests = 3;
    r
}

fn condition<'a>(
    s: &'a AzureAdConnectorStatus,
    kind: &str,
) -> &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    s.conditions
        .iter()
        .find(|c| c.type_ == kind)
        .unwrap_or_else(|| panic!("no {kind} condition"))
}

#[test]
fn a_new_connector_waits_for_connection_with_ready_unknown() {
    let s = waiting_status(Some(1), at(0));
    assert_eq!(s.connection, Connection::WaitingForConnection);
    assert_eq!(condition(&s, "Ready").status, "Unknown");
}

#[test]
fn a_successful_sync_is_connected_ready_and_says_what_it_synced() {
    let s = status_from_report(None, &ok_report(at(10)), Some(3), Some("req-1".into()));
    assert_eq!(s.connection, Connection::Connected);
    assert_eq!(s.message, "Synced 812 users, 4 groups");
    assert_eq!(s.observed_generation, Some(3));
    assert_eq!(s.last_handled_sync_request.as_deref(), Some("req-1"));
    let ready = condition(&s, "Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("True", "Synced")
    );
    assert_eq!(ready.observed_generation, Some(3));
    assert_eq!(condition(&s, "AzureAuthorized").status, "True");
    assert_eq!(condition(&s, "PasswordBossAuthorized").status, "True");
    assert_eq!(condition(&s, "DeprovisionBlocked").status, "False");
    assert_eq!(s.users.in_scope, 812);
    assert_eq!(s.last_sync.graph_requests, 1);
    assert_eq!(s.last_sync.duration_ms, 120);
}

#[test]
fn an_azure_refusal_is_unauthorized_and_names_the_side() {
    let first = status_from_report(None, &ok_report(at(10)), Some(1), None);
    let failure = SyncFailure::new(
        FailureReason::AzureUnauthorized,
        "Entra ID refused the client secret (AADSTS7000215): use the secret's Value",
    );
    let report = SyncReport::failed(at(20), failure, Reached::default());
    let s = status_from_report(Some(&first), &report, Some(1), None);
    assert_eq!(s.connection, Connection::Unauthorized);
    assert!(s.message.contains("AADSTS7000215"));
    assert_eq!(condition(&s, "Ready").status, "False");
    assert_eq!(condition(&s, "AzureAuthorized").status, "False");
    assert_eq!(condition(&s, "AzureAuthorized").reason, "Unauthorized");
    // The last success stays visible.
    assert_eq!(s.users.in_scope, 812);
    assert!(s.last_successful_sync_time.is_some());
    let events = transitions(Some(&first), &s);
    assert!(
        events
            .iter()
            .any(|(t, r, _)| *t == EventType::Warning && *r == "AzureUnauthorized"),
        "the Event is named by the failure reason: {events:?}"
    );
}

#[test]
fn a_new_failure_reason_is_a_new_event_and_a_repeated_one_is_not() {
    let first = status_from_report(None, &ok_report(at(10)), Some(1), None);
    let failed = |t, reason| {
        let failure = SyncFailure::new(reason, "it failed");
        SyncReport::failed(at(t), failure, Reached::default())
    };
    let down = status_from_report(
        Some(&first),
        &failed(20, FailureReason::GraphUnavailable),
        Some(1),
        None,
    );
    let reasons = |before, after| -> Vec<&'static str> {
        transitions(Some(before), after)
            .into_iter()
            .map(|(_, r, _)| r)
            .collect()
    };
    assert_eq!(reasons(&first, &down), ["GraphUnavailable"]);
    let still_down = status_from_report(
        Some(&down),
        &failed(30, FailureReason::GraphUnavailable),
        Some(1),
        None,
    );
    assert!(reasons(&down, &still_down).is_empty());
    let gone = status_from_report(
        Some(&still_down),
        &failed(40, FailureReason::GroupNotFound),
        Some(1),
        None,
    );
    assert_eq!(reasons(&still_down, &gone), ["GroupNotFound"]);
}

#[test]
fn lost_connection_recovered_emits_an_event() {
    let failed = SyncReport::failed(
        at(0),
        SyncFailure::new(
            FailureReason::PasswordBossUnauthorized,
            "Password Boss refused the token",
        ),
        Reached {
            azure: true,
            password_boss: false,
        },
    );
    let bad = status_from_report(None, &failed, Some(1), None);
    assert_eq!(condition(&bad, "PasswordBossAuthorized").status, "False");
    let good = status_from_report(Some(&bad), &ok_report(at(30)), Some(1), None);
    let events = transitions(Some(&bad), &good);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1, "ConnectionRecovered");
}

#[test]
fn condition_transition_times_only_move_when_the_status_changes() {
    let first = status_from_report(None, &ok_report(at(10)), Some(1), None);
    let second = status_from_report(Some(&first), &ok_report(at(70)), Some(1), None);
    assert_eq!(
        condition(&first, "Ready").last_transition_time,
        condition(&second, "Ready").last_transition_time
    );
    assert_ne!(first.last_sync_time, second.last_sync_time);
}

#[test]
fn idle_syncs_are_not_a_meaningful_change_but_new_counts_are() {
    let first = status_from_report(None, &ok_report(at(10)), Some(1), None);
    let mut idle = ok_report(at(70));
    idle.graph_requests = 2;
    idle.duration = Duration::from_millis(999);
    let second = status_from_report(Some(&first), &idle, Some(1), None);
    assert!(!is_meaningful_change(
        Some(&first),
        &second,
        LAST_SUCCESS_REFRESH
    ));
    let mut busy = ok_report(at(130));
    busy.applied = ActionCounts {
        created: 1,
        ..Default::default()
    };
    let third = status_from_report(Some(&second), &busy, Some(1), None);
    assert!(is_meaningful_change(
        Some(&second),
        &third,
        LAST_SUCCESS_REFRESH
    ));
    assert!(is_meaningful_change(None, &first, LAST_SUCCESS_REFRESH));
}

/// The safety record is the safety store's to write, never the status writer's: a sync's record
/// (an empty one, which is never stored, above all) is no reason for a status write.
#[test]
fn a_safety_record_alone_is_not_a_meaningful_change() {
    let written = status_from_report(None, &ok_report(at(10)), Some(1), None);
    let mut next = status_from_report(Some(&written), &ok_report(at(70)), Some(1), None);
    assert!(!is_meaningful_change(
        Some(&written),
        &next,
        LAST_SUCCESS_REFRESH
    ));
    next.safety = Some(Default::default());
    assert_ne!(next.safety, written.safety);
    assert!(!is_meaningful_change(
        Some(&written),
        &next,
        LAST_SUCCESS_REFRESH
    ));
}

#[test]
fn an_idle_success_is_written_once_the_refresh_period_has_passed_since_the_last_written_one() {
    // 20 minutes at most: what the README's Status section and "Running a fleet" state.
    assert_eq!(LAST_SUCCESS_REFRESH, Duration::from_secs(1200));
    let written = status_from_report(None, &ok_report(at(0)), Some(1), None);
    let just_before = status_from_report(Some(&written), &ok_report(at(1199)), Some(1), None);
    assert!(!is_meaningful_change(
        Some(&written),
        &just_before,
        LAST_SUCCESS_REFRESH
    ));
    let due = status_from_report(Some(&written), &ok_report(at(1200)), Some(1), None);
    assert!(is_meaningful_change(
        Some(&written),
        &due,
        LAST_SUCCESS_REFRESH
    ));
    // A failure does not move the last success, so it never refreshes it.
    let mut refused = ok_report(at(900));
    refused.failure = Some(SyncFailure::new(
        FailureReason::PasswordBossUnauthorized,
        "Password Boss refused the token",
    ));
    let failed = status_from_report(Some(&written), &refused, Some(1), None);
    assert_eq!(
        failed.last_successful_sync_time,
        written.last_successful_sync_time
    );
}

/// Each connector's refresh period is its own, between half the longest and the longest, the
/// same every time it is asked (a restarted operator keeps it), and the periods of a fleet are
/// spread over that range: connectors created together do not refresh together.
#[test]
fn refresh_periods_are_fixed_per_connector_and_spread_over_the_upper_half() {
    let key = |i: usize| ConnectorKey::new(format!("msp-{i}"), "contoso");
    let longest = LAST_SUCCESS_REFRESH;
    let periods: Vec<Duration> = (0..10_000)
        .map(|i| refresh_period(&key(i), longest))
        .collect();
    for (i, period) in periods.iter().enumerate() {
        assert!(
            *period >= longest / 2 && *period < longest,
            "{}: {period:?}",
            key(i)
        );
        assert_eq!(*period, refresh_period(&key(i), longest));
    }
    // Every tenth of the range holds a share of the fleet near a tenth (a hash, not a clock).
    let mut tenths = [0usize; 10];
    for period in &periods {
        let tenth =
            ((*period - longest / 2).as_secs_f64() / (longest / 2).as_secs_f64() * 10.0) as usize;
        tenths[tenth] += 1;
    }
    for (tenth, n) in tenths.iter().enumerate() {
        assert!(
            (800..=1_200).contains(n),
            "tenth {tenth} holds {n}: {tenths:?}"
        );
    }
}

/// A report of a sync whose plan (made by the real planner) held `n` of 812 leavers back.
fn held_report(finished: Timestamp, n: usize) -> SyncReport {
    let mut r = ok_report(finished);
    let plan = held::leavers_plan(n, 812 - n);
    r.blocked_deprovisions = plan.blocked_deprovisions;
    r.plan = Some(plan);
    r
}

#[test]
fn held_deprovisions_are_in_status_blocked_until_a_sync_holds_none() {
    let r = held_report(at(10), 242);
    let held = status_from_report(None, &r, Some(1), None);
    let blocked = held.blocked.as_ref().expect("status.blocked");
    assert_eq!(blocked.deprovisions, 242);
    assert_eq!(blocked.users.len(), 100, "the first 100 users are listed");
    assert_eq!(blocked.users[0].email, "user00000@contoso.com");
    assert_eq!(blocked.users[0].entra_id.as_deref(), Some("e00000"));
    assert_eq!(blocked.users[0].action, "Disable");
    assert_eq!(blocked.users[0].reason, "RemovedFromGroup");
    assert!(blocked.approval.starts_with("242-"), "{}", blocked.approval);
    assert!(
        blocked.limit.contains("maxDeprovisionsPerSync"),
        "{}",
        blocked.limit
    );
    let clear = status_from_report(Some(&held), &ok_report(at(70)), Some(1), None);
    assert_eq!(clear.blocked, None);
}

#[test]
fn blocked_deprovisions_set_the_condition_say_how_to_approve_and_emit_an_event() {
    let r = held_report(at(10), 50);
    let token = r.held().expect("held").token.clone();
    let s = status_from_report(None, &r, Some(1), None);
    let blocked = condition(&s, "DeprovisionBlocked");
    assert_eq!(blocked.status, "True");
    assert!(
        blocked.message.contains(&format!(
            "passwordboss.com/approve-deprovisions=\"{token}\""
        )),
        "{}",
        blocked.message
    );
    assert_eq!(s.last_sync.blocked_deprovisions, 50);
    assert_eq!(s.connection, Connection::Connected);
    let ready = condition(&s, "Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "DeprovisionBlocked"),
        "held deprovisions need a person: not Ready, though Connected"
    );
    assert!(ready.message.contains("approve-deprovisions"));
    let events = transitions(None, &s);
    assert!(events.iter().any(|(_, r, _)| *r == "DeprovisionBlocked"));
}

/// Under the operator's fleet-wide freeze one leaver (well within the limits) is held: the
/// status says `Frozen` on `DeprovisionBlocked` and `Ready`, lists the held set without an
/// approval, says how the freeze ends, and an approval given is reported as not applied.
#[test]
fn the_freeze_holds_within_the_limits_and_says_so_without_an_approval() {
    let mut r = ok_report(at(10));
    let plan = held::frozen_leavers_plan(1, 811);
    r.blocked_deprovisions = plan.blocked_deprovisions;
    r.plan = Some(plan);
    let s = status_from_report(None, &r, Some(1), None);
    let blocked = s.blocked.as_ref().expect("status.blocked");
    assert!(blocked.frozen);
    assert_eq!(blocked.deprovisions, 1);
    assert_eq!(blocked.approval, "", "no approval releases the freeze");
    assert!(
        blocked.limit.contains("fleet-wide freeze"),
        "{}",
        blocked.limit
    );
    let condition_of = |kind| condition(&s, kind).clone();
    let held = condition_of("DeprovisionBlocked");
    assert_eq!(
        (held.status.as_str(), held.reason.as_str()),
        ("True", "Frozen")
    );
    assert!(
        held.message.contains("without --freeze-destructive")
            && held.message.contains("No approval releases them"),
        "{}",
        held.message
    );
    assert!(
        !held.message.contains("approve-deprovisions="),
        "{}",
        held.message
    );
    let ready = condition_of("Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "Frozen")
    );
    assert_eq!(s.connection, Connection::Connected);

    // An approval given meanwhile is not applied, and the status says why.
    let mut approved = r.clone();
    if let Some(plan) = approved.plan.as_mut() {
        plan.approval = pbconnector::plan::Approval::Frozen("1-abcdef12".into());
    }
    let s = status_from_report(None, &approved, Some(1), None);
    let problem = s.approval_problem.expect("the approval is reported");
    assert!(problem.contains("fleet-wide freeze"), "{problem}");

    // Frozen with nothing to hold: the condition still says the freeze is on.
    let mut quiet = ok_report(at(20));
    let mut plan = held::frozen_leavers_plan(0, 812);
    assert!(plan.held.is_none());
    plan.frozen = true;
    quiet.plan = Some(plan);
    let s = status_from_report(None, &quiet, Some(1), None);
    let held = condition(&s, "DeprovisionBlocked");
    assert_eq!(
        (held.status.as_str(), held.reason.as_str()),
        ("False", "Frozen")
    );
    assert_eq!(condition(&s, "Ready").status, "True");
}

#[test]
fn conflicts_are_listed_and_counted() {
    let mut r = ok_report(at(10));
    r.conflicts = (0..60)
        .map(|i| Conflict {
            kind: ConflictKind::DuplicateEmail,
            external_id: Some(format!("id-{i}")),
            email: Some(format!("u{i}@contoso.com")),
            message: "two Entra users share this email".into(),
        })
        .collect();
    let s = status_from_report(None, &r, Some(1), None);
    assert_eq!(s.last_sync.conflicts, 60);
    assert_eq!(
        s.conflicts.len(),
        50,
        "the list is capped, the count is exact"
    );
    assert_eq!(s.conflicts[0].reason, "DuplicateEmail");
    assert!(s.message.contains("60 conflicts"));
}

#[test]
fn suspension_keeps_results_and_says_so() {
    let first = status_from_report(None, &ok_report(at(10)), Some(1), None);
    let s = suspended_status(Some(&first), Some(2), at(20));
    assert_eq!(condition(&s, "Ready").reason, "Suspended");
    assert_eq!(s.users.in_scope, 812);
    assert!(s.message.contains("Suspended"));
}

fn company(id: &str) -> pbconnector::resources::CompanyRef {
    pbconnector::resources::CompanyRef {
        id: id.into(),
        name: "Contoso".into(),
    }
}

#[test]
fn the_company_the_token_reaches_is_in_status_and_kept_by_a_failure() {
    let mut report = ok_report(at(10));
    report.company = Some(company("c_123"));
    let s = status_from_report(None, &report, Some(1), None);
    assert_eq!(s.company, Some(company("c_123")));
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(
        json["company"],
        serde_json::json!({"id": "c_123", "name": "Contoso"})
    );
    let failed = SyncReport::failed(
        at(20),
        SyncFailure::new(FailureReason::GraphUnavailable, "down"),
        Reached::default(),
    );
    let after = status_from_report(Some(&s), &failed, Some(1), None);
    assert_eq!(
        after.company,
        Some(company("c_123")),
        "still the same token"
    );
}

#[test]
fn a_company_conflict_is_connected_not_ready_and_warns_once() {
    // What the pipeline reports for a sync the company guard held: both services answered.
    let held = |at, reached, company, why: String| {
        let mut report = SyncReport::failed(
            at,
            SyncFailure::new(FailureReason::CompanyConflict, why),
            reached,
        );
        report.company = Some(company);
        report
    };
    let synced = status_from_report(None, &ok_report(at(10)), Some(1), None);
    let why = "msp/older reaches the same Password Boss company, Contoso (c_123), and is older";
    let both = Reached {
        azure: true,
        password_boss: true,
    };
    let report = held(at(20), both, company("c_123"), why.into());
    let s = status_from_report(Some(&synced), &report, Some(1), None);
    assert_eq!(
        s.connection,
        Connection::Connected,
        "the credentials work: connection stays Connected"
    );
    let ready = condition(&s, "Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "CompanyConflict")
    );
    assert_eq!(ready.message, why);
    assert_eq!(s.message, why);
    assert_eq!(s.company, Some(company("c_123")));
    assert_eq!(condition(&s, "PasswordBossAuthorized").status, "True");
    assert_eq!(
        s.last_successful_sync_time, synced.last_successful_sync_time,
        "a held sync is no success"
    );
    let events = transitions(Some(&synced), &s);
    assert_eq!(
        events,
        vec![(EventType::Warning, "CompanyConflict", why.to_string())]
    );
    let again = status_from_report(
        Some(&s),
        &held(at(30), both, company("c_123"), why.into()),
        Some(1),
        None,
    );
    assert!(
        transitions(Some(&s), &again).is_empty(),
        "held again: no second Event"
    );
    // The first sync of a connector can be held too (WaitingForConnection → Connected).
    let first = status_from_report(
        Some(&waiting_status(Some(1), at(0))),
        &report,
        Some(1),
        None,
    );
    let events = transitions(Some(&waiting_status(Some(1), at(0))), &first);
    assert!(
        events
            .iter()
            .any(|(k, r, _)| *k == EventType::Warning && *r == "CompanyConflict"),
        "{events:?}"
    );
}

fn write(action: &'static str, email: &str, outcome: WriteOutcome) -> AuditRecord {
    AuditRecord {
        action,
        email: Some(email.into()),
        group: None,
        entra_id: Some(format!("entra-{email}")),
        password_boss_id: Some(format!("u-{email}")),
        outcome,
        reason: match (action, outcome) {
            ("DisableUser" | "DeleteUser", WriteOutcome::Applied) => {
                Some("RemovedFromGroup".into())
            }
            (_, WriteOutcome::Failed) => Some("unavailable".into()),
            _ => None,
        },
    }
}

#[test]
fn the_last_syncs_writes_are_listed_destructive_first_and_capped() {
    let mut report = ok_report(at(10));
    report.actions = (0..150)
        .map(|i| {
            write(
                "CreateUser",
                &format!("new{i}@contoso.com"),
                WriteOutcome::Applied,
            )
        })
        .collect();
    report.actions.push(write(
        "UpdateUser",
        "renamed@contoso.com",
        WriteOutcome::Failed,
    ));
    report.actions.push(AuditRecord {
        action: "DeleteGroup",
        email: None,
        group: Some("Old team".into()),
        entra_id: None,
        password_boss_id: Some("g_7".into()),
        outcome: WriteOutcome::Applied,
        reason: None,
    });
    for who in ["ada", "alan", "grace"] {
        report.actions.push(write(
            "DisableUser",
            &format!("{who}@contoso.com"),
            WriteOutcome::Applied,
        ));
    }
    let s = status_from_report(None, &report, Some(1), None);
    let actions = &s.last_sync.actions;
    assert_eq!(actions.len(), MAX_STATUS_ACTIONS);
    assert_eq!(s.last_sync.actions_omitted, 155 - 100);
    let first: Vec<(&str, &str)> = actions[..5]
        .iter()
        .map(|a| (a.action.as_str(), a.target.as_str()))
        .collect();
    assert_eq!(
        first,
        [
            ("DisableUser", "ada@contoso.com"),
            ("DisableUser", "alan@contoso.com"),
            ("DisableUser", "grace@contoso.com"),
            ("DeleteGroup", "Old team"),
            ("UpdateUser", "renamed@contoso.com"),
        ],
        "deprovisions, group deletes and failures are never the ones omitted"
    );
    let ada = &actions[0];
    assert_eq!(ada.entra_id.as_deref(), Some("entra-ada@contoso.com"));
    assert_eq!(ada.password_boss_id.as_deref(), Some("u-ada@contoso.com"));
    assert_eq!(ada.outcome, WriteOutcome::Applied);
    assert_eq!(ada.reason.as_deref(), Some("RemovedFromGroup"));
    assert_eq!(actions[4].outcome, WriteOutcome::Failed);
    assert_eq!(actions[5].action, "CreateUser");
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["lastSync"]["actionsOmitted"], 55);
    assert_eq!(
        json["lastSync"]["actions"][0],
        serde_json::json!({"action": "DisableUser", "target": "ada@contoso.com",
            "entraId": "entra-ada@contoso.com", "passwordBossId": "u-ada@contoso.com",
            "outcome": "Applied", "reason": "RemovedFromGroup"})
    );

    // `pbconnector sync -o json`: all of them.
    let all = with_every_action(s.clone(), &report);
    assert_eq!(all.last_sync.actions.len(), 155);
    assert_eq!(all.last_sync.actions_omitted, 0);
    assert!(
        serde_json::to_value(&all).unwrap()["lastSync"]
            .get("actionsOmitted")
            .is_none()
    );

    // The next sync that writes nothing clears the list.
    let idle = status_from_report(Some(&s), &ok_report(at(20)), Some(1), None);
    assert!(idle.last_sync.actions.is_empty());
    assert_eq!(idle.last_sync.actions_omitted, 0);
}

#[test]
fn a_sync_that_deprovisions_names_the_users_in_one_event() {
    let mut report = ok_report(at(10));
    assert_eq!(deprovision_event(&report), None, "nothing deprovisioned");
    report.actions = vec![
        write("CreateUser", "new@contoso.com", WriteOutcome::Applied),
        write("DisableUser", "ada@contoso.com", WriteOutcome::Applied),
        write("DeleteUser", "alan@contoso.com", WriteOutcome::Applied),
        write("DisableUser", "failed@contoso.com", WriteOutcome::Failed),
    ];
    let (kind, reason, note) = deprovision_event(&report).expect("an Event");
    assert_eq!((kind, reason), (EventType::Normal, "UsersDeprovisioned"));
    assert_eq!(
        note,
        "Deprovisioned 2 users: ada@contoso.com (DisableUser), alan@contoso.com (DeleteUser)"
    );

    report.actions = (0..25)
        .map(|i| {
            write(
                "DisableUser",
                &format!("u{i}@contoso.com"),
                WriteOutcome::Applied,
            )
        })
        .collect();
    let (_, _, note) = deprovision_event(&report).expect("an Event");
    assert!(
        note.starts_with("Deprovisioned 25 users: u0@contoso.com (DisableUser), "),
        "{note}"
    );
    assert!(note.contains("u19@contoso.com (DisableUser)"), "{note}");
    assert!(!note.contains("u20@"), "{note}");
    assert!(
        note.ends_with(" and 5 more (see status.lastSync.actions)"),
        "{note}"
    );

    // Long addresses: fewer names, the note still within the 1 kB an Event allows.
    let long = "a".repeat(60);
    report.actions = (0..30)
        .map(|i| {
            write(
                "RemoveUser",
                &format!("{long}{i}@contoso.com"),
                WriteOutcome::Applied,
            )
        })
        .collect();
    let (_, _, note) = deprovision_event(&report).expect("an Event");
    assert!(note.len() <= 1024, "{} bytes", note.len());
    let named = note.matches("(RemoveUser)").count();
    assert!((5..20).contains(&named), "{named} named: {note}");
    assert!(
        note.ends_with(&format!(
            " and {} more (see status.lastSync.actions)",
            30 - named
        )),
        "{note}"
    );
}
