//! `GraphClient`: the connector's handle on Microsoft Graph.

use crate::http_client::tally::RequestTally;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::config::AzureConfig;
use super::error::GraphError;
use super::pacer::TenantPacer;
use super::retry::RetryPolicy;
use super::state::GraphSyncState;
use super::token::TokenProvider;
use super::transport::{Transport, failure_error};
use super::wire::{GroupList, WireGroup};
use crate::domain::EntraSnapshot;
use crate::resources::GroupSelector;

/// The user properties the connector reads. `accountEnabled` and `userType` are only returned
/// when selected.
pub(crate) const USER_SELECT: &str =
    "id,displayName,givenName,surname,mail,userPrincipalName,accountEnabled,userType";

/// A group as Graph names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedGroup {
    pub id: String,
    pub display_name: String,
}

/// How one read behaves.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Count members of nested groups (transitive members).
    pub nested_groups: bool,
    /// A full read runs when the last one is older than this, even with valid delta links.
    pub full_sync_interval: Duration,
    /// Use delta queries between full reads.
    pub delta: bool,
    /// The whole read (retries included) must finish within this.
    pub deadline: Duration,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            nested_groups: true,
            full_sync_interval: Duration::from_secs(3600),
            delta: true,
            deadline: Duration::from_secs(300),
        }
    }
}

/// Cheap to clone; clones share the token cache, the request counter and the tenant pacer.
#[derive(Clone)]
pub struct GraphClient {
    pub(crate) transport: Arc<Transport>,
    /// Where this client reads: authority host, tenant and Graph root. What a state kept from
    /// another origin holds is not this one's (see `GraphSyncState::origin`).
    origin: Arc<str>,
}

impl GraphClient {
    pub fn new(config: AzureConfig) -> Result<Self, GraphError> {
        Self::build(
            config,
            Arc::new(TenantPacer::default()),
            RetryPolicy::default(),
        )
    }

    /// A client that shares `pacer` with the other clients of the same tenant.
    pub fn with_pacer(config: AzureConfig, pacer: Arc<TenantPacer>) -> Result<Self, GraphError> {
        Self::build(config, pacer, RetryPolicy::default())
    }

    pub fn build(
        config: AzureConfig,
        pacer: Arc<TenantPacer>,
        policy: RetryPolicy,
    ) -> Result<Self, GraphError> {
        let http = crate::http_client::shared().map_err(GraphError::config)?;
        let requests = Arc::new(RequestTally::default());
        let tokens = TokenProvider::new(&config, http.clone(), requests.clone())?;
        let origin = format!(
            "{} {} {}",
            config.authority_host.as_str().trim_end_matches('/'),
            config.tenant_id,
            config.graph_root()
        );
        Ok(Self {
            origin: origin.into(),
            transport: Arc::new(Transport {
                http,
                root: config.graph_root(),
                tokens,
                pacer,
                requests,
                policy,
            }),
        })
    }

    /// HTTP requests sent so far (token calls included); monotonic.
    pub fn requests(&self) -> u64 {
        self.transport.requests.total()
    }

    /// Answers so far by HTTP status (0: no response), token calls included.
    pub fn requests_by_status(&self) -> std::collections::BTreeMap<u16, u64> {
        self.transport.requests.by_status()
    }

    /// Gets a token (the cached one while it is valid), and nothing else: whether the tenant's
    /// token endpoint issues the app a token (a shared app's consent probe).
    pub async fn acquire_token(&self) -> Result<(), GraphError> {
        self.transport.tokens.get().await.map(|_| ())
    }

    /// Gets a token and makes one cheap Graph call, which fails with 403 without consent.
    pub async fn check_token(&self) -> Result<(), GraphError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        self.transport
            .get("/groups?$select=id&$top=1", deadline)
            .await
            .map(|_| ())
    }

    /// Finds the group a selector names; zero or several matches are errors naming it.
    pub async fn resolve_group(&self, sel: &GroupSelector) -> Result<ResolvedGroup, GraphError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = resolve_url(sel)?;
        let result = self.transport.get_or_failure(&url, deadline).await?;
        resolved_from(sel, result.map_err(failure_error_for(sel)))
    }

    /// Reads the sync group and the mirrored groups, and what they hold as a snapshot.
    pub async fn read(
        &self,
        state: &mut GraphSyncState,
        sync_group: &GroupSelector,
        groups: &[GroupSelector],
        opts: &ReadOptions,
    ) -> Result<EntraSnapshot, GraphError> {
        self.refresh(state, sync_group, groups, opts).await?;
        Ok(state.snapshot())
    }

    /// Brings `state` up to date with the sync group and the mirrored groups: a full read when
    /// due (first read, `full_sync_interval` elapsed, changed selectors, delta off or expired,
    /// a kept link outside the Graph root, the last delta read failed on a malformed answer),
    /// else a delta read. A state kept from another authority, tenant or Graph root is dropped
    /// first. The snapshot is built from `state` only when it is needed
    /// (`GraphSyncState::snapshot`).
    pub async fn refresh(
        &self,
        state: &mut GraphSyncState,
        sync_group: &GroupSelector,
        groups: &[GroupSelector],
        opts: &ReadOptions,
    ) -> Result<(), GraphError> {
        let deadline = Instant::now() + opts.deadline;
        if state.origin.as_deref() != Some(&*self.origin) {
            if state.origin.is_some() {
                tracing::info!(
                    "the Graph endpoint, tenant or cloud changed: what was kept is dropped and the next read is a full one"
                );
            }
            *state = GraphSyncState {
                origin: Some(self.origin.to_string()),
                ..GraphSyncState::default()
            };
        }
        let mut links = state.users_delta.iter().chain(&state.groups_delta);
        if links.any(|link| self.transport.relative(link).is_err()) {
            tracing::warn!("a kept delta link is outside the Graph root; reading in full");
            state.reset();
        }
        let mut selectors = Vec::with_capacity(groups.len() + 1);
        selectors.push(sync_group.clone());
        selectors.extend(groups.iter().cloned());
        let shape = Some((selectors.clone(), opts.nested_groups));
        let full_due = state
            .last_full
            .is_none_or(|t| t.elapsed() >= opts.full_sync_interval);
        if opts.delta && !full_due && state.shape == shape && state.has_delta_links() {
            match self.delta_read(state, opts.nested_groups, deadline).await {
                Ok(()) => return Ok(()),
                Err(GraphError::DeltaExpired { code }) => {
                    tracing::info!(%code, "the delta read cannot go on; falling back to a full read");
                }
                // A malformed answer (a link outside the root, an unreadable page) says nothing
                // of the delta links kept: this sync fails, and the next reads in full.
                Err(e @ GraphError::Protocol { .. }) => {
                    state.reset();
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        self.full_read(state, &selectors, opts, deadline).await
    }
}

pub(crate) fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub(crate) fn resolve_url(sel: &GroupSelector) -> Result<String, GraphError> {
    match (&sel.id, &sel.display_name) {
        (Some(id), _) => Ok(format!("/groups/{}?$select=id,displayName", enc(id))),
        (None, Some(name)) => Ok(format!(
            "/groups?$filter={}&$select=id,displayName",
            enc(&format!("displayName eq '{}'", name.replace('\'', "''")))
        )),
        (None, None) => Err(GraphError::config(
            "a group selector needs an id or a displayName",
        )),
    }
}

pub(crate) fn failure_error_for(
    sel: &GroupSelector,
) -> impl Fn(super::transport::Failure) -> GraphError + '_ {
    move |f| {
        if f.status == 404 {
            GraphError::GroupNotFound {
                group: sel.to_string(),
            }
        } else {
            failure_error(f)
        }
    }
}

/// Interprets the answer to `resolve_url(sel)`.
pub(crate) fn resolved_from(
    sel: &GroupSelector,
    result: Result<Value, GraphError>,
) -> Result<ResolvedGroup, GraphError> {
    let body = result?;
    let group = if sel.id.is_some() {
        serde_json::from_value::<WireGroup>(body)
            .map_err(|e| GraphError::protocol(format!("group answer: {e}")))?
    } else {
        let list: GroupList = serde_json::from_value(body)
            .map_err(|e| GraphError::protocol(format!("group list answer: {e}")))?;
        let count = list.value.len();
        let mut it = list.value.into_iter();
        match (it.next(), count) {
            (Some(g), 1) => g,
            (_, 0) => {
                return Err(GraphError::GroupNotFound {
                    group: sel.to_string(),
                });
            }
            _ => {
                return Err(GraphError::GroupAmbiguous {
                    group: sel.to_string(),
                    count,
                });
            }
        }
    };
    Ok(ResolvedGroup {
        display_name: group.display_name.unwrap_or_default(),
        id: group.id,
    })
}
