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
                LeaveReason::OutOfScope => "outside spec.scope",
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

/// Kinds of action as the text output groups them, in the order it shows them: destructive
/// actions first, then group changes, then changes to existing accounts, then creates — so the
/// actions an administrator must check are never hidden behind thousands of creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LineKind {
    Delete,
    Removal,
    Disable,
    GroupDelete,
    GroupCreate,
    GroupUpdate,
    Adoption,
    Update,
    Create,
}

impl LineKind {
    /// Every kind, in display order.
    pub const ALL: [LineKind; 9] = [
        LineKind::Delete,
        LineKind::Removal,
        LineKind::Disable,
        LineKind::GroupDelete,
        LineKind::GroupCreate,
        LineKind::GroupUpdate,
        LineKind::Adoption,
        LineKind::Update,
        LineKind::Create,
    ];

    fn of(action: &Action) -> Self {
        match action {
            Action::DeprovisionUser { how, .. } => match how {
                Deprovision::Delete => LineKind::Delete,
                Deprovision::Remove => LineKind::Removal,
                Deprovision::Disable => LineKind::Disable,
            },
            Action::DeleteGroup { .. } => LineKind::GroupDelete,
            Action::CreateGroup { .. } => LineKind::GroupCreate,
            Action::UpdateGroup { .. } => LineKind::GroupUpdate,
            Action::UpdateUser { changes, .. } if changes.adopt => LineKind::Adoption,
            Action::UpdateUser { .. } => LineKind::Update,
            Action::CreateUser { .. } => LineKind::Create,
        }
    }

    /// "1 create", "5 adoptions".
    pub fn count(self, n: usize) -> String {
        let (one, many) = match self {
            LineKind::Delete => ("deletion", "deletions"),
            LineKind::Removal => ("removal", "removals"),
            LineKind::Disable => ("disable", "disables"),
            LineKind::GroupDelete => ("group deletion", "group deletions"),
            LineKind::GroupCreate => ("group create", "group creates"),
            LineKind::GroupUpdate => ("group update", "group updates"),
            LineKind::Adoption => ("adoption", "adoptions"),
            LineKind::Update => ("update", "updates"),
            LineKind::Create => ("create", "creates"),
        };
        format!("{n} {}", if n == 1 { one } else { many })
    }
}

/// "100 creates, 5 adoptions": the number of lines of each kind, in display order, zeros left
/// out.
pub fn count_by_kind(lines: &[(LineKind, String)]) -> String {
    LineKind::ALL
        .iter()
        .filter_map(|&kind| {
            let n = lines.iter().filter(|(k, _)| *k == kind).count();
            (n > 0).then(|| kind.count(n))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line per action, for text output, in display order (see [`LineKind`]); within a kind
/// the plan's own order.
pub fn plan_lines(plan: &Plan) -> Vec<(LineKind, String)> {
    let mut lines: Vec<(LineKind, String)> = plan
        .actions
        .iter()
        .map(|a| {
            let e = describe(a);
            let line = match e.detail {
                Some(d) => format!("{:<16} {}  ({d})", e.action, e.target),
                None => format!("{:<16} {}", e.action, e.target),
            };
            (LineKind::of(a), line)
        })
        .collect();
    lines.sort_by_key(|(kind, _)| *kind);
    lines
}
