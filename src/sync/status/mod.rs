//! What the connector says about itself, worked out in one place: the status from a sync report
//! (used by the controller, which patches it, and by `pbconnector sync -o json`, which prints
//! it), the waiting, suspended and invalid-spec statuses, the conditions (`conditions`, whose
//! `set_condition` is the one place a transition time is set), the failure reasons (`failure`),
//! the credential-expiry warning (`credential_expiry`), the Events worth a transition, and the
//! human description of a plan (`describe`). Writing to the API server is the controller's.

pub mod conditions;
pub mod credential_expiry;
pub mod describe;
pub mod failure;

use crate::bounded::remote_text;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use sha2::{Digest, Sha256};
use std::time::Duration;

use super::ConnectorKey;

use k8s_openapi::jiff::Timestamp;

use self::conditions::{ConditionType, Reason, Truth, set_condition};
use self::describe::plan_entries;
use self::failure::{FailureReason, Side};
use super::report::SyncReport;
use super::state::AuditRecord;
use crate::plan::{Action, Approval, Conflict, ConflictKind, Held};
use crate::resources::{
    ActionEntry, AzureAdConnectorStatus, Blocked, BlockedUser, CONDITION_CREDENTIAL_EXPIRING,
    CONDITION_DEPROVISION_BLOCKED, CONDITION_READY, ConflictEntry, Connection, MAX_STATUS_ACTIONS,
    MAX_STATUS_BLOCKED_USERS, MAX_STATUS_CONFLICTS, SyncCounts, WriteOutcome,
};

/// The status right after creation, before the first sync attempt ends.
pub fn waiting_status(generation: Option<i64>, now: Timestamp) -> AzureAdConnectorStatus {
    let mut status = AzureAdConnectorStatus {
        observed_generation: generation,
        connection: Connection::WaitingForConnection,
        message: "Waiting for the first sync".into(),
        ..Default::default()
    };
    set_condition(
        &mut status,
        ConditionType::Ready,
        Truth::Unknown,
        Reason::WaitingForConnection,
        "The first sync has not finished yet",
        generation,
        now,
    );
    status
}

/// The status of a connector whose object does not match the schema (`error` says why): no sync
/// runs until its spec is fixed.
pub fn invalid_spec_status(
    error: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> AzureAdConnectorStatus {
    let message = remote_text(&format!(
        "The connector cannot be read, fix its spec: {error}"
    ));
    let mut status = AzureAdConnectorStatus {
        observed_generation: generation,
        connection: Connection::Error,
        message: message.clone(),
        ..Default::default()
    };
    set_condition(
        &mut status,
        ConditionType::Ready,
        Truth::False,
        Reason::Failed(FailureReason::InvalidSpec),
        &message,
        generation,
        now,
    );
    status
}

/// The status of a suspended connector: previous results kept, Ready=False/Suspended.
pub fn suspended_status(
    previous: Option<&AzureAdConnectorStatus>,
    generation: Option<i64>,
    now: Timestamp,
) -> AzureAdConnectorStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.observed_generation = generation;
    status.message = "Suspended: spec.suspend is true, no sync runs".into();
    // No attempt runs, so none is due: resuming changes the spec, which ends a quarantine.
    status.quarantine = None;
    set_condition(
        &mut status,
        ConditionType::Ready,
        Truth::False,
        Reason::Suspended,
        "spec.suspend is true; set it to false to resume syncing",
        generation,
        now,
    );
    status
}

/// The status after a sync attempt.
pub fn status_from_report(
    previous: Option<&AzureAdConnectorStatus>,
    report: &SyncReport,
    generation: Option<i64>,
    handled_request: Option<String>,
) -> AzureAdConnectorStatus {
    let now = report.finished;
    let mut status = previous.cloned().unwrap_or_default();
    status.observed_generation = generation;
    status.last_sync_time = Some(Time(now));
    if handled_request.is_some() {
        status.last_handled_sync_request = handled_request;
    }
    if let Some(company) = &report.company {
        status.company = Some(company.clone());
    }

    match &report.failure {
        None => {
            status.connection = Connection::Connected;
            status.message = success_message(report);
            status.last_successful_sync_time = Some(Time(now));
            if report.full_read {
                status.last_full_sync_time = Some(Time(now));
            }
            status.users = report.users;
            status.last_sync = sync_counts(report);
            status.conflicts = conflict_entries(&report.conflicts);
            status.blocked = report.held().map(blocked);
            status.approval_problem = approval_problem(report);
            status.plan = if report.dry_run {
                report.plan.as_ref().map(plan_entries)
            } else {
                requested_plan(&status)
            };
            set_blocked_condition(&mut status, report, generation, now);
            // Held-back deprovisions need a person: not Ready, though the credentials work.
            let (value, reason, message) = if report.dry_run {
                (
                    Truth::True,
                    Reason::DryRun,
                    "Dry run: the plan is in status.plan; nothing was changed".to_string(),
                )
            } else if let Some(held) = report.held() {
                let reason = if held.frozen {
                    Reason::Frozen
                } else {
                    Reason::DeprovisionBlocked
                };
                let held = status
                    .conditions
                    .iter()
                    .find(|c| c.type_ == CONDITION_DEPROVISION_BLOCKED)
                    .map(|c| c.message.clone())
                    .unwrap_or_default();
                (Truth::False, reason, held)
            } else {
                (Truth::True, Reason::Synced, status.message.clone())
            };
            set_condition(
                &mut status,
                ConditionType::Ready,
                value,
                reason,
                &message,
                generation,
                now,
            );
        }
        Some(failure) => {
            status.connection = failure.reason.connection();
            status.message = remote_text(&failure.to_string());
            let (actions, actions_omitted) = action_entries(&report.actions, MAX_STATUS_ACTIONS);
            status.last_sync = SyncCounts {
                graph_requests: report.graph_requests,
                password_boss_requests: report.password_boss_requests,
                duration_ms: report.duration.as_millis() as u64,
                actions,
                actions_omitted,
                ..Default::default()
            };
            status.plan = requested_plan(&status);
            set_condition(
                &mut status,
                ConditionType::Ready,
                Truth::False,
                Reason::Failed(failure.reason),
                &failure.to_string(),
                generation,
                now,
            );
        }
    }
    if let Some(record) = report.safety_record() {
        status.safety = Some(record.into());
    }
    set_authorized(&mut status, report, Side::Azure, generation, now);
    set_authorized(
        &mut status,
        report,
        Side::of_target(report.target),
        generation,
        now,
    );
    status
}

/// The plan a sync keeps in `status.plan`: the one written for the last plan request, until
/// the next request replaces it (a sync that is no dry run writes none of its own).
fn requested_plan(status: &AzureAdConnectorStatus) -> Option<Vec<crate::resources::PlanEntry>> {
    status
        .plan_request
        .as_ref()
        .filter(|p| p.succeeded)
        .and(status.plan.clone())
}

/// The status answering the plan request `requested_at` with the dry-run `report`: the plan in
/// `status.plan` and `status.planRequest`; everything else as it was (nothing was changed).
pub fn planned_status(
    previous: Option<&AzureAdConnectorStatus>,
    report: &SyncReport,
    requested_at: String,
) -> AzureAdConnectorStatus {
    let mut status = previous.cloned().unwrap_or_default();
    let (succeeded, message, actions) = match (&report.failure, &report.plan) {
        (None, Some(plan)) => {
            let mut message = format!(
                "{} actions planned; nothing was changed",
                plan.actions.len()
            );
            if let Some(held) = &plan.held {
                let then = if held.frozen {
                    String::new()
                } else {
                    format!(": approve with {}", held.token)
                };
                message.push_str(&format!(
                    "; {} destructive changes would be held back ({}){then}",
                    held.users.len() as u32 + held.group_changes,
                    held.limit,
                ));
            }
            (true, message, plan.actions.len() as u32)
        }
        (Some(failure), _) => (false, remote_text(&failure.to_string()), 0),
        (None, None) => (false, "no plan was made".to_string(), 0),
    };
    status.plan = if succeeded {
        report.plan.as_ref().map(plan_entries)
    } else {
        None
    };
    status.plan_request = Some(crate::resources::PlanRequestStatus {
        requested_at,
        time: Some(Time(report.finished)),
        succeeded,
        message,
        actions,
    });
    status
}

/// `status.blocked` for what the safety limits held back.
fn blocked(held: &Held) -> Blocked {
    Blocked {
        approval: held.token.clone(),
        frozen: held.frozen,
        deprovisions: held.users.len() as u32,
        group_changes: held.group_changes,
        limit: held.limit.clone(),
        users: held
            .users
            .iter()
            .take(MAX_STATUS_BLOCKED_USERS)
            .filter_map(|a| match a {
                Action::DeprovisionUser {
                    external_id,
                    email,
                    how,
                    reason,
                    ..
                } => Some(BlockedUser {
                    email: remote_text(email),
                    entra_id: external_id.as_deref().map(remote_text),
                    action: format!("{how:?}"),
                    reason: format!("{reason:?}"),
                }),
                _ => None,
            })
            .collect(),
    }
}

/// What a person reads about the approval given for this sync, when it did not apply.
pub fn approval_problem(report: &SyncReport) -> Option<String> {
    match report.approval() {
        Approval::None | Approval::Applied(_) => None,
        Approval::AlreadyUsed(given) => Some(format!(
            "the approval \"{}\" was already used; an approval applies once",
            remote_text(given)
        )),
        Approval::NotMatching {
            given,
            expected: Some(expected),
        } => Some(format!(
            "the approval \"{}\" does not match the held-back changes, whose approval is \"{expected}\"",
            remote_text(given)
        )),
        Approval::NotMatching {
            given,
            expected: None,
        } => Some(format!(
            "the approval \"{}\" does not match: nothing is held back",
            remote_text(given)
        )),
        Approval::Frozen(given) => Some(format!(
            "the approval \"{}\" was not applied: the operator's fleet-wide freeze holds every \
             destructive change and no approval releases it",
            remote_text(given)
        )),
    }
}

/// The longest an idle connector's `lastSuccessfulSyncTime` goes unrefreshed when nothing else
/// changed: a "Last Success" older than this (plus one interval) means syncs stopped succeeding.
/// Each connector refreshes after its own [`refresh_period`] of this.
pub const LAST_SUCCESS_REFRESH: Duration = Duration::from_secs(1200);

/// One connector's refresh period of `lastSuccessfulSyncTime`: between half of `longest` and
/// `longest`, fixed per connector (a hash of `namespace/name`, so a restarted operator keeps it).
/// Connectors created or restarted together would otherwise refresh together, every period, in
/// one burst of writes; spread, 10,000 idle connectors cost about 11 status writes a second
/// (20 minutes as shipped: 10 to 20 minutes each).
pub fn refresh_period(key: &ConnectorKey, longest: Duration) -> Duration {
    let digest = Sha256::digest(key.to_string().as_bytes());
    let hash = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes of a SHA-256"));
    // In [0, 1): the top 53 bits, exact in an f64.
    let fraction = (hash >> 11) as f64 / (1u64 << 53) as f64;
    longest / 2 + (longest / 2).mul_f64(fraction)
}

/// Whether `next` is worth writing over `previous`: it says something new, or its
/// `lastSuccessfulSyncTime` is at least `refresh` newer. Other times, request counts and
/// durations alone are not worth a write: an idle connector's status is written once per
/// `refresh` (its [`refresh_period`] in the controller), not every interval.
pub fn is_meaningful_change(
    previous: Option<&AzureAdConnectorStatus>,
    next: &AzureAdConnectorStatus,
    refresh: Duration,
) -> bool {
    let Some(previous) = previous else {
        return true;
    };
    normalized(previous) != normalized(next) || success_is_due(previous, next, refresh)
}

/// Whether `next`'s last success is at least `refresh` after `previous`'s (or `previous` has none).
fn success_is_due(
    previous: &AzureAdConnectorStatus,
    next: &AzureAdConnectorStatus,
    refresh: Duration,
) -> bool {
    match (
        &previous.last_successful_sync_time,
        &next.last_successful_sync_time,
    ) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(Time(before)), Some(Time(after))) => after
            .duration_since(*before)
            .try_into()
            .is_ok_and(|elapsed: Duration| elapsed >= refresh),
    }
}

fn normalized(status: &AzureAdConnectorStatus) -> AzureAdConnectorStatus {
    let mut s = status.clone();
    // Never written with the status (`controller::status_writer` carries the stored record; the
    // safety store alone writes it): a record that differs, or one a sync holds and the object
    // does not (an empty one is never stored), is no reason to write. Counting it made every
    // idle sync of a connector with nothing held write its status.
    s.safety = None;
    s.last_sync_time = None;
    s.last_successful_sync_time = None;
    s.last_full_sync_time = None;
    s.last_sync.graph_requests = 0;
    s.last_sync.password_boss_requests = 0;
    s.last_sync.duration_ms = 0;
    for c in &mut s.conditions {
        c.last_transition_time = Time(Timestamp::UNIX_EPOCH);
    }
    s
}

fn success_message(report: &SyncReport) -> String {
    let mut message = if report.dry_run {
        let actions = report.plan.as_ref().map_or(0, |p| p.actions.len());
        format!(
            "Dry run: {actions} actions planned for {} users",
            report.users.in_scope
        )
    } else {
        format!(
            "Synced {} users, {} groups",
            report.users.in_scope, report.groups
        )
    };
    if !report.conflicts.is_empty() {
        message.push_str(&format!(
            "; {} conflicts (see status.conflicts)",
            report.conflicts.len()
        ));
    }
    let leaving = report
        .plan
        .as_ref()
        .map_or(0, |p| p.groups_waiting_for_grace);
    if leaving > 0 {
        message.push_str(&format!(
            "; {leaving} groups dropped from spec.groups are kept until they have been out of it \
             for removalGracePeriod (status.safety.leavingGroups)"
        ));
    }
    if report.failed_actions > 0 {
        message.push_str(&format!(
            "; {} changes failed and will be retried by the next sync",
            report.failed_actions
        ));
    }
    if let Some(held) = report.held() {
        message.push_str(&format!(
            "; {} — {}",
            held_summary(held),
            approve_hint(held)
        ));
    }
    if let Some(problem) = approval_problem(report) {
        message.push_str(&format!("; {problem}"));
    }
    if !report.snapshot_complete {
        message.push_str(&format!(
            "; the Entra read was incomplete ({}), so nothing was deprovisioned",
            remote_text(
                report
                    .incomplete_reason
                    .as_deref()
                    .unwrap_or("partial read")
            )
        ));
    }
    message
}

/// "3 deprovisions and 2 group changes held back: <limit>".
pub fn held_summary(held: &Held) -> String {
    format!(
        "{} deprovisions and {} group changes held back: {}",
        held.users.len(),
        held.group_changes,
        held.limit
    )
}

/// How to approve exactly the held set (under the fleet-wide freeze: that none can).
pub fn approve_hint(held: &Held) -> String {
    if held.frozen {
        return "No approval releases them while the operator's fleet-wide freeze is on"
            .to_string();
    }
    format!(
        "If that is intended, annotate the connector with \
         passwordboss.com/approve-deprovisions=\"{}\" (or pass --approve-deprovisions {})",
        held.token, held.token
    )
}

fn sync_counts(report: &SyncReport) -> SyncCounts {
    let a = &report.applied;
    let (actions, actions_omitted) = action_entries(&report.actions, MAX_STATUS_ACTIONS);
    SyncCounts {
        created: a.created,
        updated: a.updated,
        enabled: a.enabled,
        disabled: a.disabled,
        removed: a.removed,
        deleted: a.deleted,
        adopted: a.adopted,
        conflicts: report.conflicts.len() as u32,
        groups_created: a.groups_created,
        groups_updated: a.groups_updated,
        groups_deleted: a.groups_deleted,
        blocked_deprovisions: report.blocked_deprovisions,
        graph_requests: report.graph_requests,
        password_boss_requests: report.password_boss_requests,
        duration_ms: report.duration.as_millis() as u64,
        actions,
        actions_omitted,
    }
}

/// At most `cap` of a sync's writes as status entries — deprovisions first, then group deletes,
/// then failed and skipped writes, then the rest, each in plan order — and how many were left
/// out.
pub fn action_entries(records: &[AuditRecord], cap: usize) -> (Vec<ActionEntry>, u32) {
    let rank = |r: &AuditRecord| match () {
        _ if r.is_deprovision() => 0,
        _ if r.action == "DeleteGroup" => 1,
        _ if r.outcome != WriteOutcome::Applied => 2,
        _ => 3,
    };
    let mut ordered: Vec<&AuditRecord> = records.iter().collect();
    ordered.sort_by_key(|r| rank(r));
    let entries = ordered
        .into_iter()
        .take(cap)
        .map(|r| ActionEntry {
            action: r.action.to_owned(),
            target: r.target().to_owned(),
            entra_id: r.entra_id.clone(),
            password_boss_id: r.password_boss_id.clone(),
            outcome: r.outcome,
            reason: r.reason.clone(),
        })
        .collect();
    (entries, records.len().saturating_sub(cap) as u32)
}

/// The status `pbconnector sync -o json` prints: `status` with every write of the sync in
/// `lastSync.actions`, none omitted.
pub fn with_every_action(
    mut status: AzureAdConnectorStatus,
    report: &SyncReport,
) -> AzureAdConnectorStatus {
    let (actions, omitted) = action_entries(&report.actions, usize::MAX);
    status.last_sync.actions = actions;
    status.last_sync.actions_omitted = omitted;
    status
}

/// At most this many users are named in a `UsersDeprovisioned` Event.
pub const MAX_EVENT_USERS: usize = 20;
/// The Event's note stays within this many bytes (events.k8s.io/v1 allows 1 kB).
const EVENT_NOTE_BUDGET: usize = 900;

/// The `UsersDeprovisioned` Event of a sync that disabled, removed or deleted users: who, and
/// how, at most `MAX_EVENT_USERS` named (fewer when long emails would overflow the note), the
/// rest counted.
pub fn deprovision_event(report: &SyncReport) -> Option<(EventType, &'static str, String)> {
    let done: Vec<&AuditRecord> = report
        .actions
        .iter()
        .filter(|r| r.is_deprovision() && r.outcome == WriteOutcome::Applied)
        .collect();
    if done.is_empty() {
        return None;
    }
    let mut note = format!("Deprovisioned {} users: ", done.len());
    let mut named = 0;
    for record in &done {
        let name = format!("{} ({})", record.target(), record.action);
        let separator = if named == 0 { "" } else { ", " };
        if named == MAX_EVENT_USERS || note.len() + separator.len() + name.len() > EVENT_NOTE_BUDGET
        {
            break;
        }
        note.push_str(separator);
        note.push_str(&name);
        named += 1;
    }
    let rest = done.len() - named;
    if rest > 0 {
        note.push_str(&format!(" and {rest} more (see status.lastSync.actions)"));
    }
    Some((EventType::Normal, "UsersDeprovisioned", note))
}

fn conflict_entries(conflicts: &[Conflict]) -> Vec<ConflictEntry> {
    conflicts
        .iter()
        .take(MAX_STATUS_CONFLICTS)
        .map(|c| ConflictEntry {
            external_id: c.external_id.as_deref().map(remote_text),
            email: c.email.as_deref().map(remote_text),
            reason: conflict_reason(c.kind).into(),
            message: remote_text(&c.message),
        })
        .collect()
}

/// The CamelCase name of a conflict kind, as written into status.
pub fn conflict_reason(kind: ConflictKind) -> &'static str {
    kind.as_str()
}

fn set_blocked_condition(
    status: &mut AzureAdConnectorStatus,
    report: &SyncReport,
    generation: Option<i64>,
    now: Timestamp,
) {
    if let Some(held) = report.held() {
        let mut message = format!(
            "{}; nothing destructive was done (status.blocked lists the users). {}",
            held_summary(held),
            approve_hint(held)
        );
        if let Some(problem) = approval_problem(report) {
            message.push_str(&format!("; {problem}"));
        }
        let reason = if held.frozen {
            Reason::Frozen
        } else {
            Reason::SafetyLimitExceeded
        };
        set_condition(
            status,
            ConditionType::DeprovisionBlocked,
            Truth::True,
            reason,
            &message,
            generation,
            now,
        );
    } else if report.plan.as_ref().is_some_and(|p| p.frozen) {
        set_condition(
            status,
            ConditionType::DeprovisionBlocked,
            Truth::False,
            Reason::Frozen,
            "No deprovision is pending; the operator's fleet-wide freeze (pbconnector run \
             --freeze-destructive) would hold any",
            generation,
            now,
        );
    } else {
        set_condition(
            status,
            ConditionType::DeprovisionBlocked,
            Truth::False,
            Reason::WithinLimits,
            "No deprovision was held back",
            generation,
            now,
        );
    }
}

fn set_authorized(
    status: &mut AzureAdConnectorStatus,
    report: &SyncReport,
    side: Side,
    generation: Option<i64>,
    now: Timestamp,
) {
    let (kind, reached, service) = match side {
        Side::Azure => (
            ConditionType::AzureAuthorized,
            report.reached.azure,
            "Microsoft Entra ID",
        ),
        Side::PasswordBoss => (
            ConditionType::PasswordBossAuthorized,
            report.reached.password_boss,
            "Password Boss",
        ),
        Side::Scim => (
            ConditionType::ScimAuthorized,
            report.reached.password_boss,
            "The SCIM service",
        ),
    };
    let refused = report
        .failure
        .as_ref()
        .filter(|f| f.unauthorized_side() == Some(side));
    if let Some(failure) = refused {
        set_condition(
            status,
            kind,
            Truth::False,
            Reason::Unauthorized,
            &failure.to_string(),
            generation,
            now,
        );
    } else if reached {
        let message = format!("{service} accepted the credentials");
        set_condition(
            status,
            kind,
            Truth::True,
            Reason::Authorized,
            &message,
            generation,
            now,
        );
    }
}

/// Transitions worth a Kubernetes Event: (type, reason, note).
pub fn transitions(
    previous: Option<&AzureAdConnectorStatus>,
    next: &AzureAdConnectorStatus,
) -> Vec<(EventType, &'static str, String)> {
    let mut events = Vec::new();
    let before = previous.map(|p| p.connection).unwrap_or_default();
    // A failed sync's Event is named by its failure reason (a quarantined connector's is in
    // `status.quarantine`, its `Ready` reason being `Quarantined`); a new reason is a new Event.
    let failing = |s: &AzureAdConnectorStatus| {
        matches!(s.connection, Connection::Error | Connection::Unauthorized)
            .then(|| match &s.quarantine {
                Some(q) => FailureReason::from_name(&q.reason),
                None => s
                    .conditions
                    .iter()
                    .find(|c| c.type_ == CONDITION_READY)
                    .and_then(|c| FailureReason::from_name(&c.reason)),
            })
            .flatten()
    };
    let failure = failing(next);
    if let Some(reason) = failure
        && (before != next.connection || previous.and_then(failing) != failure)
    {
        events.push((EventType::Warning, reason.as_str(), next.message.clone()));
    } else if before != next.connection {
        let (kind, reason) = match next.connection {
            Connection::Connected if before == Connection::WaitingForConnection => {
                (EventType::Normal, "Connected")
            }
            Connection::Connected => (EventType::Normal, "ConnectionRecovered"),
            Connection::Unauthorized | Connection::Error => (EventType::Warning, "SyncFailed"),
            Connection::WaitingForConnection => (EventType::Normal, "WaitingForConnection"),
        };
        events.push((kind, reason, next.message.clone()));
    }
    if next.quarantine.is_some() && previous.is_none_or(|p| p.quarantine.is_none()) {
        events.push((EventType::Warning, "Quarantined", next.message.clone()));
    }
    let blocked = |s: Option<&AzureAdConnectorStatus>| {
        s.and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == CONDITION_DEPROVISION_BLOCKED)
        })
        .is_some_and(|c| c.status == "True")
    };
    let blocked_now = blocked(Some(next));
    let approval = |s: Option<&AzureAdConnectorStatus>| {
        s.and_then(|s| s.blocked.as_ref())
            .map(|b| b.approval.clone())
    };
    if blocked_now && (!blocked(previous) || approval(previous) != approval(Some(next))) {
        let note = next
            .conditions
            .iter()
            .find(|c| c.type_ == CONDITION_DEPROVISION_BLOCKED)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        events.push((EventType::Warning, "DeprovisionBlocked", note));
    }
    if let Some(note) = company_conflict(previous, next) {
        events.push((
            EventType::Warning,
            FailureReason::CompanyConflict.as_str(),
            note,
        ));
    }
    if let Some(note) = credential_warning(previous, next) {
        events.push((EventType::Warning, "CredentialExpiring", note));
    }
    if let Some(problem) = &next.approval_problem
        && previous.and_then(|p| p.approval_problem.as_ref()) != Some(problem)
    {
        events.push((EventType::Warning, "ApprovalNotMatching", problem.clone()));
    }
    if !blocked_now && blocked(previous) {
        events.push((
            EventType::Normal,
            "DeprovisionUnblocked",
            "No deprovision is held back any more".to_string(),
        ));
    }
    events
}

/// The `Ready` message when the connector is newly held by `CompanyConflict`.
fn company_conflict(
    previous: Option<&AzureAdConnectorStatus>,
    next: &AzureAdConnectorStatus,
) -> Option<String> {
    let held = |s: &AzureAdConnectorStatus| {
        s.conditions
            .iter()
            .find(|c| {
                c.type_ == CONDITION_READY && c.reason == FailureReason::CompanyConflict.as_str()
            })
            .map(|c| c.message.clone())
    };
    let note = held(next)?;
    previous.and_then(held).is_none().then_some(note)
}

/// The `CredentialExpiring` message when it newly warns (became True, or expiring → expired).
fn credential_warning(
    previous: Option<&AzureAdConnectorStatus>,
    next: &AzureAdConnectorStatus,
) -> Option<String> {
    let now = expiring_condition(next)?;
    let before = previous.and_then(expiring_condition);
    (before.map(|c| &c.reason) != Some(&now.reason)).then(|| now.message.clone())
}

fn expiring_condition(status: &AzureAdConnectorStatus) -> Option<&Condition> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == CONDITION_CREDENTIAL_EXPIRING && c.status == "True")
}

/// Kubernetes Event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}
