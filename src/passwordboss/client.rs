//! The Password Boss API v1 client: one method per endpoint the connector needs.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::config::PasswordBossConfig;
use super::error::PasswordBossError;
use super::model::{ConnectorInfo, Group, NewGroup, NewUser, User, UserPatch, UserStatus};
use super::transport::{Reply, RequestCounts, Transport, TransportConfig};
use crate::bounded::PageTracker;
use crate::domain::{self, Account};

/// A client for one company (one token). Cheap to clone.
#[derive(Clone)]
pub struct PasswordBossClient {
    inner: Arc<Inner>,
}

struct Inner {
    base: url::Url,
    transport: Transport,
    concurrency: usize,
    page_size: u32,
}

impl std::fmt::Debug for PasswordBossClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordBossClient")
            .field("api_url", &self.inner.base.as_str())
            .finish_non_exhaustive()
    }
}

/// One page of a cursor-paged listing: the items (under `users` or `groups`) and the
/// cursor of the next page.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page<T> {
    #[serde(alias = "users", alias = "groups")]
    items: Vec<T>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Members {
    user_ids: Vec<String>,
}

impl PasswordBossClient {
    pub fn new(config: PasswordBossConfig) -> Result<Self, PasswordBossError> {
        config.validate()?;
        let transport = Transport::new(TransportConfig {
            service: "Password Boss",
            token: &config.token,
            media_type: "application/json",
            request_timeout: config.request_timeout,
            max_response_bytes: config.max_response_bytes,
            retry: config.retry.clone(),
        })
        .map_err(|e| PasswordBossError::of_send("", e))?;
        Ok(Self {
            inner: Arc::new(Inner {
                base: config.api_url,
                transport,
                concurrency: config.concurrency,
                page_size: config.page_size,
            }),
        })
    }

    /// Writes the apply step keeps in flight at once.
    pub fn concurrency(&self) -> usize {
        self.inner.concurrency
    }

    /// Requests sent so far by this client and its clones (every retry counts); monotonic.
    pub fn requests(&self) -> RequestCounts {
        self.inner.transport.counts()
    }

    /// Answers so far by HTTP status (0: no response); monotonic per status.
    pub fn requests_by_status(&self) -> std::collections::BTreeMap<u16, u64> {
        self.inner.transport.by_status()
    }

    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> url::Url {
        let mut url = self.inner.base.clone();
        url.path_segments_mut()
            .expect("validated as a base URL")
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
        idempotency_key: Option<&str>,
    ) -> Result<(String, Reply), PasswordBossError> {
        let url = self.url(segments, query);
        let what = format!("{method} /{}", segments.join("/"));
        let body = body.map(|b| serde_json::to_vec(&b).expect("JSON values serialize"));
        let reply = self
            .inner
            .transport
            .send(method, url, &what, body, idempotency_key, false)
            .await
            .map_err(|e| PasswordBossError::of_send(&what, e))?;
        Ok((what, reply))
    }

    /// A call whose success answer is JSON.
    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
        idempotency_key: Option<&str>,
    ) -> Result<T, PasswordBossError> {
        let (what, reply) = self
            .call(method, segments, query, body, idempotency_key)
            .await?;
        if !reply.status.is_success() {
            return Err(PasswordBossError::from_status(
                &what,
                reply.status.as_u16(),
                &reply.body,
            ));
        }
        serde_json::from_slice(&reply.body).map_err(|e| PasswordBossError::Protocol {
            what,
            detail: format!("the answer is not the documented JSON: {e}"),
        })
    }

    /// A `DELETE`: 204. A 404 after an attempt whose answer was lost means that attempt
    /// already deleted it, which is success.
    async fn delete(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<(), PasswordBossError> {
        let (what, reply) = self
            .call(Method::DELETE, segments, query, None, None)
            .await?;
        match reply.status {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND if reply.after_lost_answer => Ok(()),
            s => Err(PasswordBossError::from_status(
                &what,
                s.as_u16(),
                &reply.body,
            )),
        }
    }

    /// `GET /v1/connector`: the company and its licences.
    pub async fn connector(&self) -> Result<ConnectorInfo, PasswordBossError> {
        self.json(Method::GET, &["v1", "connector"], &[], None, None)
            .await
    }

    /// Every user of the company, all pages.
    pub async fn list_users(&self) -> Result<Vec<Account>, PasswordBossError> {
        let users: Vec<User> = self.list_all("users").await?;
        Ok(users.into_iter().map(Account::from).collect())
    }

    /// Every group of the company (the Everyone group included), all pages.
    pub async fn list_groups(&self) -> Result<Vec<domain::Group>, PasswordBossError> {
        let groups: Vec<Group> = self.list_all("groups").await?;
        Ok(groups.into_iter().map(domain::Group::from).collect())
    }

    /// `GET /v1/{collection}` following `nextCursor` to the last page.
    pub(crate) async fn list_all<T: DeserializeOwned>(
        &self,
        collection: &str,
    ) -> Result<Vec<T>, PasswordBossError> {
        let limit = self.inner.page_size.to_string();
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = PageTracker::new(format!("GET /v1/{collection}"));
        loop {
            let mut query = vec![("limit", limit.as_str())];
            if let Some(c) = &cursor {
                query.push(("cursor", c));
            }
            let page: Page<T> = self
                .json(Method::GET, &["v1", collection], &query, None, None)
                .await?;
            all.extend(page.items);
            match page.next_cursor {
                Some(next) => {
                    pages.next(&next)?;
                    cursor = Some(next);
                }
                None => return Ok(all),
            }
        }
    }

    /// `GET /v1/groups/{id}/members`.
    pub async fn group_members(&self, group_id: &str) -> Result<Vec<String>, PasswordBossError> {
        let members: Members = self
            .json(
                Method::GET,
                &["v1", "groups", group_id, "members"],
                &[],
                None,
                None,
            )
            .await?;
        Ok(members.user_ids)
    }

    /// `POST /v1/users` with an `Idempotency-Key`: a repeated key never makes a second user.
    pub async fn create_user(
        &self,
        user: &NewUser,
        idempotency_key: &str,
    ) -> Result<Account, PasswordBossError> {
        let user: User = self
            .json(
                Method::POST,
                &["v1", "users"],
                &[],
                Some(json!(user)),
                Some(idempotency_key),
            )
            .await?;
        Ok(user.into())
    }

    /// `PATCH /v1/users/{id}`.
    pub async fn update_user(
        &self,
        user_id: &str,
        patch: &UserPatch,
    ) -> Result<Account, PasswordBossError> {
        let user: User = self
            .json(
                Method::PATCH,
                &["v1", "users", user_id],
                &[],
                Some(json!(patch)),
                None,
            )
            .await?;
        Ok(user.into())
    }

    /// Status `disabled`: the account stays, the user cannot sign in.
    pub async fn disable_user(&self, user_id: &str) -> Result<Account, PasswordBossError> {
        let patch = UserPatch {
            status: Some(UserStatus::Disabled),
            ..Default::default()
        };
        self.update_user(user_id, &patch).await
    }

    /// Status `active`; needs a free licence (`409 license_limit`).
    pub async fn enable_user(&self, user_id: &str) -> Result<Account, PasswordBossError> {
        let patch = UserPatch {
            status: Some(UserStatus::Active),
            ..Default::default()
        };
        self.update_user(user_id, &patch).await
    }

    /// `DELETE ?keepPersonalAccount=true`: leaves the company, keeps a personal account.
    pub async fn remove_user(&self, user_id: &str) -> Result<(), PasswordBossError> {
        self.delete(
            &["v1", "users", user_id],
            &[("keepPersonalAccount", "true")],
        )
        .await
    }

    /// `DELETE`: the account and its vault are destroyed.
    pub async fn delete_user(&self, user_id: &str) -> Result<(), PasswordBossError> {
        self.delete(&["v1", "users", user_id], &[]).await
    }

    /// `POST /v1/groups` with an `Idempotency-Key`.
    pub async fn create_group(
        &self,
        group: &NewGroup,
        idempotency_key: &str,
    ) -> Result<domain::Group, PasswordBossError> {
        let group: Group = self
            .json(
                Method::POST,
                &["v1", "groups"],
                &[],
                Some(json!(group)),
                Some(idempotency_key),
            )
            .await?;
        Ok(group.into())
    }

    /// `PATCH /v1/groups/{id}` with a new name.
    pub async fn rename_group(
        &self,
        group_id: &str,
        name: &str,
    ) -> Result<domain::Group, PasswordBossError> {
        let group: Group = self
            .json(
                Method::PATCH,
                &["v1", "groups", group_id],
                &[],
                Some(json!({ "name": name })),
                None,
            )
            .await?;
        Ok(group.into())
    }

    /// `DELETE /v1/groups/{id}`.
    pub async fn delete_group(&self, group_id: &str) -> Result<(), PasswordBossError> {
        self.delete(&["v1", "groups", group_id], &[]).await
    }

    /// `PUT /v1/groups/{id}/members`: replaces the membership.
    pub async fn set_group_members(
        &self,
        group_id: &str,
        user_ids: &[String],
    ) -> Result<(), PasswordBossError> {
        let _: serde_json::Value = self
            .json(
                Method::PUT,
                &["v1", "groups", group_id, "members"],
                &[],
                Some(json!({ "userIds": user_ids })),
                None,
            )
            .await?;
        Ok(())
    }
}
