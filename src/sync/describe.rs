//! Human-readable renderings of planned actions, for status (dry run) and the CLI.

use crate::bounded::remote_text;
use crate::plan::{Action, Deprovision, LeaveReason, Plan};
use crate::resources::{MAX_STATUS_PLAN_ENTRIES, PlanEntry};

/// One action as a status entry.
pub fn describe(action: &Action) -> PlanEntry {
    let (kind, target, detail) = match action {
        Action::CreateUser {
            email,
            first_name,
            last_name,
            status,
            ..
        } => (
            "CreateUser",
            email.clone(),
            Some(format!("{first_name} {last_name}, {}", status.as_str())),
        ),
        Action::UpdateUser { email, changes, .. } => {
            let mut parts = Vec::new();
            if changes.adopt {
                parts.push("adopt (managed by Azure AD from now on)".to_string());
            }
            if changes.enable {
                parts.push("re-enable".to_string());
            }
            if let Some(first) = &changes.first_name {
                parts.push(format!("first name → {first}"));
            }
            if let Some(last) = &changes.last_name {
                parts.push(format!("last name → {last}"));
            }
            ("UpdateUser", email.clone(), Some(parts.join(", ")))
        }
        Action::DeprovisionUser {
            email, how, reason, ..
        } => {
            let kind = match how {
                Deprovision::Disable => "DisableUser",
                Deprovision::Remove => "RemoveUser",
                Deprovision::Delete => "DeleteUser",
            };
            let why = match reason {
                LeaveReason::Deleted => "deleted in Entra",
                LeaveReason::Disabled => "disabled in Entra",
                LeaveReason::RemovedFromGroup => "removed from the sync group",
            };
            (kind, email.clone(), Some(why.to_string()))
        }
        Action::CreateGroup { name, members, .. } => (
            "CreateGroup",
            name.clone(),
            Some(format!("{} members", members.len())),
        ),
        Action::UpdateGroup {
            name,
            rename,
            members,
            ..
        } => {
            let mut parts = Vec::new();
            if let Some(new_name) = rename {
                parts.push(format!("rename → {new_name}"));
            }
            if let Some(members) = members {
                parts.push(format!("{} members", members.len()));
            }
            ("UpdateGroup", name.clone(), Some(parts.join(", ")))
        }
        Action::DeleteGroup { name, .. } => (
            "DeleteGroup",
            name.clone(),
            Some("no member of the sync group left".into()),
        ),
    };
    // Names and emails come from Entra and Password Boss: cleaned and cut before anyone sees them.
    PlanEntry {
        action: kind.into(),
        target: remote_text(&target),
        detail: detail.filter(|d| !d.is_empty()).map(|d| remote_text(&d)),
    }
}

/// The first entries of a plan, as written into status in dry-run mode.
pub fn plan_entries(plan: &Plan) -> Vec<PlanEntry> {
    plan.actions
        .iter()
        .take(MAX_STATUS_PLAN_ENTRIES)
        .map(describe)
        .collect()
}

/// One line per action, for text output.
pub fn plan_lines(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .map(|a| {
            let e = describe(a);
            match e.detail {
                Some(d) => format!("{:<16} {}  ({d})", e.action, e.target),
                None => format!("{:<16} {}", e.action, e.target),
            }
        })
        .collect()
}
