//! Who left Entra, and how: settled by asking Graph about each managed user that is gone from
//! the snapshot, never guessed. Part of the plan step: the answers are the planner's evidence.

use std::collections::{BTreeMap, BTreeSet};

use crate::azure::{GraphClient, GraphSyncState, UserLookup};
use crate::domain::{DirectoryState, EntraSnapshot, Owner};
use crate::resources::{AzureAdConnectorSpec, LeaveRule};

/// Managed users who left scope are "deleted" or "removed from the group". Deleted only on
/// evidence: Graph answers 404 when asked for the user (see `azure::UserLookup`); a delta
/// `@removed` only makes the user worth asking about. Every departed user is asked about when
/// the two rules differ (the answer decides the action); otherwise only those a delta reported
/// removed (the answer names the reason). A failed lookup makes the snapshot incomplete, so
/// nothing is deprovisioned on a guess.
pub(super) async fn classify_departures(
    spec: &AzureAdConnectorSpec,
    graph: &GraphClient,
    graph_state: &mut GraphSyncState,
    snapshot: &mut EntraSnapshot,
    directory: &DirectoryState,
) {
    let rules = &spec.sync_rules;
    if !snapshot.complete {
        return;
    }
    let departed: Vec<String> = directory
        .users
        .iter()
        .filter(|u| u.owner == Owner::AzureAd)
        .filter_map(|u| u.external_id.clone())
        .filter(|id| !snapshot.users.contains_key(id) && !snapshot.out_of_scope.contains(id))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if departed.is_empty() {
        return;
    }
    let ignored = rules.user_deleted == LeaveRule::Ignore
        && rules.user_removed_from_group == LeaveRule::Ignore;
    let every = rules.user_deleted != rules.user_removed_from_group;
    let looked_up = if ignored {
        BTreeMap::new()
    } else {
        graph
            .classify_departures(graph_state, snapshot, &departed, every)
            .await
    };
    find_foreign(graph, snapshot, directory, &departed, looked_up).await;
}

/// `snapshot.foreign`: of the departed externalIds held by an account whose email an in-scope
/// user has (an account the planner would re-link), those Graph does not know in this tenant.
/// Only these are looked up (those `classify_departures` already asked about are not asked
/// again); a lookup without an answer makes the snapshot incomplete, as any other.
async fn find_foreign(
    graph: &GraphClient,
    snapshot: &mut EntraSnapshot,
    directory: &DirectoryState,
    departed: &[String],
    mut looked_up: BTreeMap<String, UserLookup>,
) {
    if !snapshot.complete {
        return;
    }
    let emails: BTreeSet<String> = snapshot
        .users
        .values()
        .flat_map(|u| [u.mail.as_deref(), u.user_principal_name.as_deref()])
        .flatten()
        .map(str::to_ascii_lowercase)
        .collect();
    let departed: BTreeSet<&str> = departed.iter().map(String::as_str).collect();
    let candidates: Vec<String> = directory
        .users
        .iter()
        .filter(|u| u.owner == Owner::AzureAd)
        .filter(|u| emails.contains(&u.email.to_ascii_lowercase()))
        .filter_map(|u| u.external_id.clone())
        .filter(|id| departed.contains(id.as_str()))
        .collect();
    let ask: Vec<String> = candidates
        .iter()
        .filter(|id| !looked_up.contains_key(*id))
        .cloned()
        .collect();
    if !ask.is_empty() {
        match graph.look_up_users(&ask).await {
            Ok(answers) => looked_up.extend(answers),
            Err(e) => {
                snapshot.complete = false;
                snapshot.incomplete_reason = Some(format!(
                    "could not tell whether {} accounts holding members' emails are linked to \
                     users of this tenant: {e}",
                    ask.len()
                ));
                return;
            }
        }
    }
    snapshot.foreign = candidates
        .into_iter()
        .filter(|id| matches!(looked_up.get(id), Some(UserLookup::HardDeleted)))
        .collect();
}
