//! Who left Entra, and how: settled by asking Graph about each managed user that is gone from
//! the snapshot, never guessed. Part of the plan step: the answers are the planner's evidence.

use std::collections::{BTreeMap, BTreeSet};

use crate::azure::{GraphClient, GraphSyncState, UserLookup};
use crate::domain::{DirectoryState, EntraSnapshot, Owner};
use crate::resources::{AzureAdConnectorSpec, LeaveRule, TargetSpec};

/// Managed users who left scope are "deleted" or "removed from the group". Deleted only on
/// evidence: Graph answers 404 when asked for the user (see `azure::UserLookup`); a delta
/// `@removed` only makes the user worth asking about. Every departed user is asked about when
/// the two rules differ (the answer decides the action); otherwise only those a delta reported
/// removed (the answer names the reason). A failed lookup makes the snapshot incomplete, so
/// nothing is deprovisioned on a guess. Whose a departed account is, is settled by
/// `find_foreign`.
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
    let every_departed = matches!(spec.target(), Ok(TargetSpec::Scim(_)));
    let foreign = Foreign {
        graph_state,
        departed: &departed,
        every_departed,
    };
    find_foreign(graph, snapshot, directory, foreign, looked_up).await;
}

/// Which departed accounts `find_foreign` settles.
struct Foreign<'a> {
    graph_state: &'a GraphSyncState,
    departed: &'a [String],
    /// Every departed account, not only those holding an in-scope user's email: the target
    /// marks no owner (SCIM: an externalId holding a GUID may be another tenant's object id,
    /// written by another provisioner), so an account is the connector's only on Graph's word.
    every_departed: bool,
}

/// `snapshot.foreign`: the departed externalIds Graph does not know in this tenant (404 on the
/// user and on the recycle bin, and not found deleted while a member of the sync group): such an
/// account is `OwnedByOther`, never re-linked or deprovisioned. Settled for the departed
/// accounts holding an in-scope user's email (an account the planner would re-link), and for
/// every departed account when the target marks no owner (`Foreign::every_departed`). Only these
/// are looked up, at most once a sync each (those `classify_departures` already asked about are
/// not asked again, nor those the kept Graph state shows deleted here); a lookup without an
/// answer makes the snapshot incomplete, as any other.
async fn find_foreign(
    graph: &GraphClient,
    snapshot: &mut EntraSnapshot,
    directory: &DirectoryState,
    foreign: Foreign<'_>,
    mut looked_up: BTreeMap<String, UserLookup>,
) {
    let Foreign {
        graph_state,
        departed,
        every_departed,
    } = foreign;
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
        .filter(|u| every_departed || emails.contains(&u.email.to_ascii_lowercase()))
        .filter_map(|u| u.external_id.clone())
        .filter(|id| departed.contains(id.as_str()))
        .filter(|id| !graph_state.deleted_here(id))
        .collect::<BTreeSet<_>>()
        .into_iter()
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
                    "could not tell whether {} departed accounts are linked to users of this \
                     tenant: {e}",
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
