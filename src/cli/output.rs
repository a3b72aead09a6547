//! Output and exit codes of `sync`, `plan` and `verify`.

use std::fmt::Write as _;
use std::process::ExitCode;

use crate::bounded::remote_text;
use crate::plan::Action;
use crate::resources::AzureAdConnectorStatus;
use crate::sync::report::SyncReport;
use crate::sync::status::describe::{count_by_kind, plan_lines};
use crate::sync::status::{approval_problem, conflict_reason, held_summary};

/// Exit codes of sync/plan/verify (interface.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Failure = 1,
    Usage = 2,
    Unauthorized = 3,
    DeprovisionsBlocked = 4,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// The exit code a sync report deserves.
pub fn exit_for(report: &SyncReport) -> Exit {
    match &report.failure {
        Some(f) if f.unauthorized_side().is_some() => Exit::Unauthorized,
        Some(_) => Exit::Failure,
        None if report.held().is_some() => Exit::DeprovisionsBlocked,
        None => Exit::Success,
    }
}

/// Output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// A short human summary of one sync, with the actions taken (or planned).
pub fn text_summary(name: &str, report: &SyncReport, status: &AzureAdConnectorStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{name}: {} — {}", status.connection, status.message);
    if report.failure.is_none() {
        let a = &report.applied;
        let verb = if report.dry_run {
            "would change"
        } else {
            "changed"
        };
        if report.dry_run {
            let planned = report.plan.as_ref().map_or(0, |p| p.actions.len());
            let _ = writeln!(out, "  {verb}: {planned} actions (nothing was written)");
        } else {
            let _ = writeln!(
                out,
                "  users: {} created, {} updated, {} enabled, {} disabled, {} removed, {} deleted, {} adopted",
                a.created, a.updated, a.enabled, a.disabled, a.removed, a.deleted, a.adopted
            );
            let _ = writeln!(
                out,
                "  groups: {} created, {} updated, {} deleted",
                a.groups_created, a.groups_updated, a.groups_deleted
            );
        }
        let u = &report.users;
        // A dry run counts the accounts as they would be after the sync, not as they are.
        let managed = if report.dry_run {
            "managed accounts once applied"
        } else {
            "managed accounts"
        };
        let _ = writeln!(
            out,
            "  in scope: {}; {managed}: {} active, {} pending, {} disabled",
            u.in_scope, u.active, u.pending, u.disabled
        );
    }
    if let Some(held) = report.held() {
        let verb = if report.dry_run { "would be" } else { "was" };
        let _ = writeln!(
            out,
            "  BLOCKED: {}; nothing destructive {verb} done. If that is intended, re-run with \
             --approve-deprovisions {}",
            held_summary(held),
            held.token
        );
        for action in held.users.iter().take(MAX_HELD_LINES) {
            if let Action::DeprovisionUser {
                external_id,
                email,
                how,
                reason,
                ..
            } = action
            {
                let _ = writeln!(
                    out,
                    "    held {how:?} {} ({}): {reason:?}",
                    remote_text(email),
                    remote_text(external_id.as_deref().unwrap_or("-"))
                );
            }
        }
        if held.users.len() > MAX_HELD_LINES {
            let _ = writeln!(out, "    … and {} more", held.users.len() - MAX_HELD_LINES);
        }
    }
    if let Some(problem) = approval_problem(report) {
        let _ = writeln!(out, "  APPROVAL NOT USED: {problem}");
    }
    if !report.conflicts.is_empty() {
        let _ = writeln!(out, "  conflicts ({}):", report.conflicts.len());
        for c in report.conflicts.iter().take(20) {
            let who = c
                .email
                .as_deref()
                .or(c.external_id.as_deref())
                .unwrap_or("-");
            let _ = writeln!(
                out,
                "    {:<22} {}: {}",
                conflict_reason(c.kind),
                remote_text(who),
                remote_text(&c.message)
            );
        }
        if report.conflicts.len() > 20 {
            let _ = writeln!(out, "    … and {} more", report.conflicts.len() - 20);
        }
    }
    let _ = writeln!(
        out,
        "  cost: {} Graph requests, {} {} requests ({} writes), {} ms",
        report.graph_requests,
        report.password_boss_requests,
        match report.target {
            crate::sync::report::TargetKind::PasswordBoss => "Password Boss",
            crate::sync::report::TargetKind::Scim => "SCIM",
        },
        report.password_boss_writes,
        report.duration.as_millis()
    );
    if let Some(plan) = &report.plan {
        write_actions(&mut out, plan, report.dry_run);
    }
    out
}

/// At most this many held-back users are printed.
const MAX_HELD_LINES: usize = 100;

/// At most this many action lines are printed; the rest are counted by kind.
const MAX_ACTION_LINES: usize = 200;

/// The actions: a count per kind, then one line each (destructive first, creates last), the
/// hidden ones counted by kind.
fn write_actions(out: &mut String, plan: &crate::plan::Plan, dry_run: bool) {
    let lines = plan_lines(plan);
    if lines.is_empty() {
        return;
    }
    let title = if dry_run {
        "planned actions"
    } else {
        "actions"
    };
    let _ = writeln!(out, "  {title}: {}", count_by_kind(&lines));
    for (_, line) in lines.iter().take(MAX_ACTION_LINES) {
        let _ = writeln!(out, "    {line}");
    }
    if lines.len() > MAX_ACTION_LINES {
        let hidden = &lines[MAX_ACTION_LINES..];
        let _ = writeln!(
            out,
            "    … and {} more: {}",
            hidden.len(),
            count_by_kind(hidden)
        );
    }
}
