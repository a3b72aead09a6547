//! The SCIM 2.0 client: discovery, paged listings, and the writes the apply step needs.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde::de::DeserializeOwned;

use super::config::ScimConfig;
use super::error::ScimError;
use super::wire::{
    Group, ListResponse, MEDIA_TYPE, NewGroup, NewUser, PatchOperation, PatchRequest,
    ServiceProviderConfig, User, eq_filter,
};
use crate::bounded::{PageTracker, remote_text};
use crate::passwordboss::RequestCounts;
use crate::passwordboss::transport::{Reply, SendError, Transport, TransportConfig};

/// Times a create whose answer was lost is looked up and, when not found, sent again.
const CREATE_ROUNDS: u32 = 3;

/// What `GET /ServiceProviderConfig` says the service supports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Features {
    pub patch: bool,
    pub filter: bool,
    /// The most results a filtered listing returns, when the service says.
    pub filter_max_results: Option<u64>,
    pub bulk: bool,
    pub etag: bool,
    pub sort: bool,
}

impl From<ServiceProviderConfig> for Features {
    fn from(c: ServiceProviderConfig) -> Self {
        Self {
            patch: c.patch.supported,
            filter: c.filter.supported,
            filter_max_results: c.filter.max_results,
            bulk: c.bulk.supported,
            etag: c.etag.supported,
            sort: c.sort.supported,
        }
    }
}

/// A client for one SCIM service (one base URL and token). Cheap to clone.
#[derive(Clone)]
pub struct ScimClient {
    inner: Arc<Inner>,
}

struct Inner {
    base: url::Url,
    transport: Transport,
    concurrency: usize,
    page_size: u32,
    /// What discovery found, once it ran.
    features: Mutex<Option<Features>>,
}

impl std::fmt::Debug for ScimClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimClient")
            .field("base_url", &self.inner.base.as_str())
            .finish_non_exhaustive()
    }
}

/// A created resource, and whether it was found made by an attempt whose answer was lost (or
/// by an earlier, interrupted sync) rather than made now.
pub struct Created<T> {
    pub resource: T,
    pub recovered: bool,
}

impl ScimClient {
    pub fn new(config: ScimConfig) -> Result<Self, ScimError> {
        config.validate()?;
        let transport = Transport::new(TransportConfig {
            service: "SCIM",
            token: &config.token,
            media_type: MEDIA_TYPE,
            request_timeout: config.request_timeout,
            max_response_bytes: config.max_response_bytes,
            retry: config.retry.clone(),
        })
        .map_err(|e| ScimError::of_send("", e))?;
        Ok(Self {
            inner: Arc::new(Inner {
                base: config.base_url,
                transport,
                concurrency: config.concurrency,
                page_size: config.page_size,
                features: Mutex::new(None),
            }),
        })
    }

    /// The base URL requests go to (and the only place the token is sent).
    pub fn base_url(&self) -> &url::Url {
        &self.inner.base
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

    /// The base URL with `segments` appended, each one percent-encoded path segment (an id
    /// holding `/` or `?` stays inside its segment), and `query`.
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

    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
        lost_answer_stops: bool,
    ) -> Result<(String, Reply), (String, SendError)> {
        let url = self.url(segments, query);
        // Ids the service gave are remote text: stripped and capped before they reach an error.
        let shown: Vec<String> = segments.iter().map(|s| remote_text(s)).collect();
        let what = format!("{method} /{}", shown.join("/"));
        match self
            .inner
            .transport
            .send(method, url, &what, body, None, lost_answer_stops)
            .await
        {
            Ok(reply) => Ok((what, reply)),
            Err(e) => Err((what, e)),
        }
    }

    /// A call whose success answer is JSON.
    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<T, ScimError> {
        let (what, reply) = self
            .send(method, segments, query, body, false)
            .await
            .map_err(|(what, e)| ScimError::of_send(&what, e))?;
        parse(&what, &reply)
    }

    /// A write whose answer carries nothing the connector needs (PATCH: 200 or 204).
    async fn write(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<Vec<u8>>,
    ) -> Result<(), ScimError> {
        let (what, reply) = self
            .send(method.clone(), segments, &[], body, false)
            .await
            .map_err(|(what, e)| ScimError::of_send(&what, e))?;
        match reply.status.as_u16() {
            s if (200..300).contains(&s) => Ok(()),
            // A DELETE resent after its answer was lost finds the resource gone: done.
            404 if method == Method::DELETE && reply.after_lost_answer => Ok(()),
            s => Err(ScimError::from_status(&what, s, &reply.body)),
        }
    }

    /// `GET /ServiceProviderConfig`, always sent; what it says is kept for `features`.
    pub async fn discover(&self) -> Result<Features, ScimError> {
        let config: ServiceProviderConfig = self
            .json(Method::GET, &["ServiceProviderConfig"], &[], None)
            .await?;
        let features = Features::from(config);
        *self.inner.features.lock().expect("features lock") = Some(features.clone());
        Ok(features)
    }

    /// What the service supports: discovered once per client.
    pub async fn features(&self) -> Result<Features, ScimError> {
        let known = self.inner.features.lock().expect("features lock").clone();
        match known {
            Some(f) => Ok(f),
            None => self.discover().await,
        }
    }

    /// Discovery, then one page of one user: `/ServiceProviderConfig` may be served without
    /// authentication, a listing is not.
    pub async fn check_token(&self) -> Result<Features, ScimError> {
        let features = self.discover().await?;
        let _: ListResponse<User> = self
            .json(
                Method::GET,
                &["Users"],
                &[("startIndex", "1"), ("count", "1")],
                None,
            )
            .await?;
        Ok(features)
    }

    /// One page of one group: whether the service serves `/Groups` to this token.
    pub async fn check_groups(&self) -> Result<(), ScimError> {
        let _: ListResponse<Group> = self
            .json(
                Method::GET,
                &["Groups"],
                &[("startIndex", "1"), ("count", "1")],
                None,
            )
            .await?;
        Ok(())
    }

    /// Every user, all pages.
    pub async fn list_users(&self) -> Result<Vec<User>, ScimError> {
        self.list_all("Users", None, |u: &User| u.id.clone()).await
    }

    /// Every group with its members, all pages.
    pub async fn list_groups(&self) -> Result<Vec<Group>, ScimError> {
        self.list_all("Groups", None, |g: &Group| g.id.clone())
            .await
    }

    /// `GET /{resource}?startIndex=…&count=…` to the end, honouring a page smaller than asked
    /// (`itemsPerPage`), at most `bounded::MAX_PAGES` pages. A listing that stops short of its
    /// `totalResults`, or repeats a resource, is an error: a partial read is never taken whole.
    async fn list_all<T: DeserializeOwned>(
        &self,
        resource: &str,
        filter: Option<&str>,
        id: impl Fn(&T) -> String,
    ) -> Result<Vec<T>, ScimError> {
        let what = format!("GET /{resource}");
        let count = self.inner.page_size.to_string();
        let mut all: Vec<T> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut start: u64 = 1;
        let mut pages = PageTracker::new(what.clone());
        loop {
            let start_text = start.to_string();
            let mut query = vec![
                ("startIndex", start_text.as_str()),
                ("count", count.as_str()),
            ];
            if let Some(f) = filter {
                query.push(("filter", f));
            }
            let page: ListResponse<T> = self.json(Method::GET, &[resource], &query, None).await?;
            let got = page.resources.len() as u64;
            for item in page.resources {
                if !seen.insert(id(&item)) {
                    return Err(ScimError::protocol(
                        &what,
                        "a resource is listed twice; the service's paging is broken",
                    ));
                }
                all.push(item);
            }
            if all.len() as u64 >= page.total_results {
                return Ok(all);
            }
            if got == 0 {
                return Err(ScimError::protocol(
                    &what,
                    format!(
                        "the listing stopped at {} of the {} resources it announced",
                        all.len(),
                        page.total_results
                    ),
                ));
            }
            start += got;
            pages.next(&start.to_string())?;
        }
    }

    /// The user whose `userName` is `user_name` (compared as the service compares it), by a
    /// filter when the service supports filtering, else by listing every user.
    pub async fn find_user(&self, user_name: &str) -> Result<Option<User>, ScimError> {
        let users = if self.features().await?.filter {
            let filter = eq_filter("userName", user_name);
            self.list_all("Users", Some(&filter), |u: &User| u.id.clone())
                .await?
        } else {
            self.list_users().await?
        };
        Ok(users
            .into_iter()
            .find(|u| u.user_name.eq_ignore_ascii_case(user_name)))
    }

    /// The group named `display_name` that carries `external_id` (a foreign group of the same
    /// name is passed over), by a filter when the service supports filtering.
    pub async fn find_group(
        &self,
        display_name: &str,
        external_id: &str,
    ) -> Result<Option<Group>, ScimError> {
        let groups = if self.features().await?.filter {
            let filter = eq_filter("displayName", display_name);
            self.list_all("Groups", Some(&filter), |g: &Group| g.id.clone())
                .await?
        } else {
            self.list_groups().await?
        };
        Ok(groups.into_iter().find(|g| {
            g.display_name.eq_ignore_ascii_case(display_name)
                && g.external_id.as_deref() == Some(external_id)
        }))
    }

    /// `POST /Users`. A `409` or a lost answer is looked up by `userName` first: the user found
    /// carrying this `externalId` was made by that attempt (or an interrupted earlier sync).
    pub async fn create_user(&self, user: &NewUser) -> Result<Created<User>, ScimError> {
        let external_id = user.external_id.clone();
        let user_name = user.user_name.clone();
        self.create("Users", body(user), || async {
            Ok(self
                .find_user(&user_name)
                .await?
                .filter(|u| u.external_id.as_deref() == Some(external_id.as_str())))
        })
        .await
    }

    /// `POST /Groups`, looked up by `displayName` on a `409` or a lost answer, as users are.
    pub async fn create_group(&self, group: &NewGroup) -> Result<Created<Group>, ScimError> {
        let external_id = group.external_id.clone();
        let name = group.display_name.clone();
        self.create("Groups", body(group), || async {
            self.find_group(&name, &external_id).await
        })
        .await
    }

    async fn create<T, F, Fut>(
        &self,
        resource: &str,
        body: Vec<u8>,
        made_earlier: F,
    ) -> Result<Created<T>, ScimError>
    where
        T: DeserializeOwned,
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, ScimError>>,
    {
        let mut round = 0;
        loop {
            round += 1;
            match self
                .send(Method::POST, &[resource], &[], Some(body.clone()), true)
                .await
            {
                Ok((what, reply)) if reply.status.is_success() => {
                    return Ok(Created {
                        resource: parse(&what, &reply)?,
                        recovered: false,
                    });
                }
                Ok((what, reply)) => {
                    let error = ScimError::from_status(&what, reply.status.as_u16(), &reply.body);
                    if reply.status.as_u16() == 409
                        && let Some(resource) = made_earlier().await?
                    {
                        return Ok(Created {
                            resource,
                            recovered: true,
                        });
                    }
                    return Err(error);
                }
                Err((what, SendError::LostAnswer { attempts, detail })) => {
                    if let Some(resource) = made_earlier().await? {
                        return Ok(Created {
                            resource,
                            recovered: true,
                        });
                    }
                    if round >= CREATE_ROUNDS {
                        return Err(ScimError::Transient {
                            what,
                            attempts: attempts + round - 1,
                            detail,
                        });
                    }
                    tracing::debug!(
                        request = what,
                        round,
                        "a create's answer was lost and it was not made; sending it again"
                    );
                }
                Err((what, e)) => return Err(ScimError::of_send(&what, e)),
            }
        }
    }

    /// `PATCH /Users/{id}` with these operations.
    pub async fn patch_user(&self, id: &str, ops: Vec<PatchOperation>) -> Result<(), ScimError> {
        let id = checked_id("PATCH /Users", id)?;
        self.write(
            Method::PATCH,
            &["Users", id],
            Some(body(&PatchRequest::new(ops))),
        )
        .await
    }

    /// `DELETE /Users/{id}`.
    pub async fn delete_user(&self, id: &str) -> Result<(), ScimError> {
        let id = checked_id("DELETE /Users", id)?;
        self.write(Method::DELETE, &["Users", id], None).await
    }

    /// `PATCH /Groups/{id}` with these operations.
    pub async fn patch_group(&self, id: &str, ops: Vec<PatchOperation>) -> Result<(), ScimError> {
        let id = checked_id("PATCH /Groups", id)?;
        self.write(
            Method::PATCH,
            &["Groups", id],
            Some(body(&PatchRequest::new(ops))),
        )
        .await
    }

    /// `DELETE /Groups/{id}`.
    pub async fn delete_group(&self, id: &str) -> Result<(), ScimError> {
        let id = checked_id("DELETE /Groups", id)?;
        self.write(Method::DELETE, &["Groups", id], None).await
    }
}

/// An id the service gave, as one path segment: never empty, `.` or `..` (which would name
/// another path once the URL is resolved).
fn checked_id<'a>(what: &str, id: &'a str) -> Result<&'a str, ScimError> {
    if id.is_empty() || id == "." || id == ".." {
        return Err(ScimError::protocol(
            what,
            format!("the service gave an unusable id {:?}", remote_text(id)),
        ));
    }
    Ok(id)
}

fn body<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("SCIM bodies serialize")
}

fn parse<T: DeserializeOwned>(what: &str, reply: &Reply) -> Result<T, ScimError> {
    if !reply.status.is_success() {
        return Err(ScimError::from_status(
            what,
            reply.status.as_u16(),
            &reply.body,
        ));
    }
    serde_json::from_slice(&reply.body).map_err(|e| {
        ScimError::protocol(
            what,
            format!("the answer is not the SCIM JSON expected: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ScimClient {
        ScimClient::new(ScimConfig::new(
            url::Url::parse("https://scim.example.com/v2/").unwrap(),
            "t",
        ))
        .unwrap()
    }

    #[test]
    fn an_id_is_one_encoded_segment_on_the_base_url() {
        let c = client();
        let url = c.url(&["Users", "a/../../admin?x=1#f"], &[]);
        assert_eq!(
            url.as_str(),
            "https://scim.example.com/v2/Users/a%2F..%2F..%2Fadmin%3Fx=1%23f"
        );
        assert_eq!(url.host_str(), Some("scim.example.com"));
        assert!(checked_id("x", "..").is_err());
        assert!(checked_id("x", "").is_err());
        assert!(checked_id("x", "2819c223").is_ok());
    }

    /// A service on loopback: `users` answers `GET /v2/Users` by start index (1-based) and the
    /// query; `posts` answers `POST /v2/Users` by how many came before.
    async fn service(
        users: impl Fn(u64, &str) -> String + Clone + Send + Sync + 'static,
        posts: impl Fn(usize) -> (u16, String) + Clone + Send + Sync + 'static,
    ) -> (ScimClient, Arc<Mutex<Vec<String>>>) {
        use axum::extract::RawQuery;
        use axum::http::StatusCode;
        use axum::routing::get;
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = seen.clone();
        let log2 = seen.clone();
        let app = axum::Router::new()
            .route(
                "/v2/ServiceProviderConfig",
                get(|| async { r#"{"patch":{"supported":true},"filter":{"supported":true}}"# }),
            )
            .route(
                "/v2/Users",
                get(move |RawQuery(q): RawQuery| {
                    let users = users.clone();
                    let log = log.clone();
                    async move {
                        let q = q.unwrap_or_default();
                        log.lock().unwrap().push(format!("GET {q}"));
                        let start = url::form_urlencoded::parse(q.as_bytes())
                            .find(|(k, _)| k == "startIndex")
                            .and_then(|(_, v)| v.parse().ok())
                            .unwrap_or(1);
                        users(start, &q)
                    }
                })
                .post(move || {
                    let posts = posts.clone();
                    let log = log2.clone();
                    async move {
                        let n = {
                            let mut log = log.lock().unwrap();
                            log.push("POST".into());
                            log.iter().filter(|l| *l == "POST").count() - 1
                        };
                        let (status, body) = posts(n);
                        (StatusCode::from_u16(status).unwrap(), body)
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let base = url::Url::parse(&format!("http://{addr}/v2")).unwrap();
        let mut config = ScimConfig::new(base, "t");
        config.page_size = 10;
        config.retry.base_delay = std::time::Duration::from_millis(1);
        (ScimClient::new(config).unwrap(), seen)
    }

    fn user(i: u64) -> String {
        format!(
            r#"{{"id":"{i}","userName":"u{i}@contoso.com","externalId":"x{i}",
               "meta":{{"location":"https://elsewhere.example/Users/{i}"}}}}"#
        )
    }

    fn page(total: u64, items: impl Iterator<Item = u64>) -> String {
        let items: Vec<String> = items.map(user).collect();
        format!(
            r#"{{"totalResults":{total},"itemsPerPage":{},"Resources":[{}]}}"#,
            items.len(),
            items.join(",")
        )
    }

    fn no_posts(_: usize) -> (u16, String) {
        (500, String::new())
    }

    #[tokio::test]
    async fn a_smaller_page_than_asked_is_followed_to_the_end() {
        // 5 users, 2 a page although 10 were asked for.
        let (client, seen) = service(|start, _| page(5, (start..=5).take(2)), no_posts).await;
        let users = client.list_users().await.unwrap();
        let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "3", "4", "5"]);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(seen[2].contains("startIndex=5"), "{seen:?}");
    }

    #[tokio::test]
    async fn a_listing_that_stops_short_or_repeats_is_refused() {
        let (client, _) = service(
            |start, _| {
                if start == 1 {
                    page(5, 1..=2)
                } else {
                    page(5, 0..0)
                }
            },
            no_posts,
        )
        .await;
        let err = client.list_users().await.unwrap_err();
        assert!(err.to_string().contains("stopped at 2 of the 5"), "{err}");
        // startIndex ignored: the first page again and again.
        let (client, _) = service(|_, _| page(5, 1..=2), no_posts).await;
        let err = client.list_users().await.unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
    }

    #[tokio::test]
    async fn a_create_whose_answer_was_lost_is_looked_up_before_it_is_sent_again() {
        let new = NewUser {
            schemas: [crate::scim::wire::USER_SCHEMA],
            user_name: "u7@contoso.com".into(),
            external_id: "x7".into(),
            name: Default::default(),
            display_name: "U Seven".into(),
            emails: Vec::new(),
            active: true,
        };
        // The first POST was applied, but its answer is a 502: the lookup finds it.
        let (client, seen) = service(
            |_, q| {
                if q.contains("filter") {
                    page(1, 7..=7)
                } else {
                    page(0, 0..0)
                }
            },
            |_| (502, String::new()),
        )
        .await;
        let created = client.create_user(&new).await.unwrap();
        assert!(created.recovered);
        assert_eq!(created.resource.id, "7");
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.iter().filter(|l| *l == "POST").count(), 1, "{seen:?}");
        assert!(
            seen.iter()
                .any(|l| l.contains("userName+eq+%22u7%40contoso.com%22")),
            "{seen:?}"
        );
        // Not found by the lookup: sent again, and made.
        let (client, seen) = service(
            |_, _| page(0, 0..0),
            |n| {
                if n == 0 {
                    (502, String::new())
                } else {
                    (201, user(8))
                }
            },
        )
        .await;
        let created = client.create_user(&new).await.unwrap();
        assert!(!created.recovered);
        assert_eq!(
            seen.lock().unwrap().iter().filter(|l| *l == "POST").count(),
            2
        );
        // A user with that userName but another externalId is not ours: the 409 stands.
        let (client, _) = service(
            |_, _| page(1, 9..=9),
            |_| (409, r#"{"scimType":"uniqueness","detail":"taken"}"#.into()),
        )
        .await;
        let err = match client.create_user(&new).await {
            Err(e) => e,
            Ok(_) => panic!("another provisioner's user is not taken for ours"),
        };
        assert_eq!(err.code(), Some("uniqueness"));
    }

    /// A create whose answer was lost finds the group this connector made among groups of the
    /// same name (another provisioner's listed first), instead of sending it again.
    #[tokio::test]
    async fn a_lost_group_create_is_found_by_name_and_external_id_together() {
        use axum::http::StatusCode;
        use axum::routing::get;
        let posts: Arc<Mutex<usize>> = Arc::default();
        let counted = posts.clone();
        let app = axum::Router::new()
            .route(
                "/v2/ServiceProviderConfig",
                get(|| async { r#"{"patch":{"supported":true},"filter":{"supported":true}}"# }),
            )
            .route(
                "/v2/Groups",
                get(|| async {
                    r#"{"totalResults":2,"itemsPerPage":2,"Resources":[
                        {"id":"theirs","displayName":"Staff","externalId":"other-tenant"},
                        {"id":"ours","displayName":"Staff","externalId":"g1"}]}"#
                })
                .post(move || {
                    let counted = counted.clone();
                    async move {
                        let mut n = counted.lock().unwrap();
                        *n += 1;
                        // The first is applied but its answer lost; a second would be made.
                        if *n == 1 {
                            (StatusCode::BAD_GATEWAY, String::new())
                        } else {
                            (
                                StatusCode::CREATED,
                                r#"{"id":"duplicate","displayName":"Staff","externalId":"g1"}"#
                                    .to_owned(),
                            )
                        }
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut config =
            ScimConfig::new(url::Url::parse(&format!("http://{addr}/v2")).unwrap(), "t");
        config.retry.base_delay = std::time::Duration::from_millis(1);
        let client = ScimClient::new(config).unwrap();
        let created = client
            .create_group(&NewGroup {
                schemas: [crate::scim::wire::GROUP_SCHEMA],
                display_name: "Staff".into(),
                external_id: "g1".into(),
                members: Vec::new(),
            })
            .await
            .unwrap();
        assert!(created.recovered);
        assert_eq!(created.resource.id, "ours");
        assert_eq!(*posts.lock().unwrap(), 1, "no duplicate was sent");
    }

    /// An id the service gave reaches error text stripped and capped, like its other text.
    #[tokio::test]
    async fn an_id_from_the_service_is_stripped_and_capped_in_error_text() {
        let (client, _) = service(|_, _| page(0, 0..0), no_posts).await;
        let id = format!("\u{1b}[2J\u{202e}{}", "x".repeat(5_000));
        let err = client.delete_user(&id).await.unwrap_err();
        let shown = err.to_string();
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\u{202e}'),
            "{shown}"
        );
        assert!(shown.len() < 1_000, "{}", shown.len());
        assert!(shown.contains("DELETE /Users/[2J"), "{shown}");
        let err = checked_id("DELETE /Users", "").unwrap_err();
        assert!(err.to_string().contains("unusable id"), "{err}");
    }

    #[test]
    fn a_filter_is_one_query_value() {
        let c = client();
        let filter = eq_filter("userName", "a&count=1@b.co");
        let url = c.url(&["Users"], &[("filter", &filter)]);
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs, vec![("filter".into(), filter)]);
    }
}
