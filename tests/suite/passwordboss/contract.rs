//! The Password Boss v1 contract, written once and run against the simulator and, with
//! `--ignored` and `PASSWORDBOSS_API_URL` and `PASSWORDBOSS_TOKEN` set, against that endpoint. Against a
//! real endpoint only uniquely named test objects are created (pending users, which use no
//! licence), and they are deleted afterwards.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use crate::support::passwordboss::*;
use futures::FutureExt;
use pbconnector::domain::{AccountStatus, EVERYONE_GROUP, Owner};
use pbconnector::passwordboss::model::{NewGroup, NewUser, UserPatch, UserStatus};
use pbconnector::passwordboss::{PasswordBossClient, PasswordBossErrorKind};
use pbconnector_simulators::passwordboss::{PbSim, SeedUser, SimConfig};
use reqwest::Method;
use serde_json::{Value, json};

struct Target {
    url: url::Url,
    token: String,
    client: PasswordBossClient,
    http: reqwest::Client,
    /// Unique per run: every test object's name starts with it.
    tag: String,
}

#[derive(Default)]
struct Created {
    users: Vec<String>,
    groups: Vec<String>,
}

impl Target {
    fn new(url: url::Url, token: &str) -> Self {
        Self {
            client: PasswordBossClient::new(config_for(url.clone(), token)).unwrap(),
            url,
            token: token.to_string(),
            http: reqwest::Client::new(),
            tag: format!("pbc-test-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    fn email(&self, name: &str) -> String {
        format!("{}-{name}@example.com", self.tag)
    }

    /// A request the client would never send, with the given token.
    async fn raw_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = self.url.join(path.trim_start_matches('/')).unwrap();
        let mut req = self.http.request(method, url).bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn raw(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.raw_as(&self.token.clone(), method, path, body).await
    }

    fn new_user(&self, name: &str) -> NewUser {
        NewUser {
            email: self.email(name),
            first_name: "Contract".into(),
            last_name: "Test".into(),
            external_id: Some(format!("{}-{name}", self.tag)),
            managed_by: Owner::AzureAd.name().into(),
            status: UserStatus::Pending,
        }
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no code>")
}

/// Run `suite`, then delete what it created, then re-raise its panic.
async fn run_contract(target: &Target) {
    let mut created = Created::default();
    let outcome = AssertUnwindSafe(suite(target, &mut created))
        .catch_unwind()
        .await;
    for id in &created.groups {
        let _ = target.client.delete_group(id).await;
    }
    for id in &created.users {
        let _ = target.client.delete_user(id).await;
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn suite(t: &Target, created: &mut Created) {
    // Identity.
    let info = t.client.connector().await.unwrap();
    assert!(!info.company_id.is_empty());
    assert!(info.licenses.used <= info.licenses.total.max(info.licenses.used));
    let (status, body) = t
        .raw_as("wrong-token", Method::GET, "/v1/connector", None)
        .await;
    assert_eq!((status, code(&body)), (401, "invalid_token"));
    let (status, _) = t.raw_as("", Method::GET, "/v1/users", None).await;
    assert_eq!(status, 401);

    // Users: create, idempotent replay, case-insensitive uniqueness.
    let new = t.new_user("ada");
    let ada = t
        .client
        .create_user(&new, &format!("{}-k1", t.tag))
        .await
        .unwrap();
    created.users.push(ada.id.clone());
    assert_eq!(
        (ada.email.as_str(), ada.status, &ada.owner),
        (new.email.as_str(), AccountStatus::Pending, &Owner::AzureAd)
    );
    let again = t
        .client
        .create_user(&new, &format!("{}-k1", t.tag))
        .await
        .unwrap();
    assert_eq!(again.id, ada.id, "same Idempotency-Key, same answer");
    let mut shouted = new.clone();
    shouted.email = new.email.to_uppercase();
    let err = t
        .client
        .create_user(&shouted, &format!("{}-k2", t.tag))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("email_exists"));
    assert_eq!(err.existing_user_id(), Some(ada.id.as_str()));
    let mut bad = t.new_user("bad");
    bad.email = format!("{}@nowhere", t.tag);
    let err = t
        .client
        .create_user(&bad, &format!("{}-k3", t.tag))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.code()),
        (PasswordBossErrorKind::Rejected, Some("invalid_email"))
    );

    // Listing finds it; paging limits are enforced.
    let users = t.client.list_users().await.unwrap();
    assert_eq!(users.iter().filter(|u| u.id == ada.id).count(), 1);
    for limit in ["0", "501", "x"] {
        let (status, body) = t
            .raw(Method::GET, &format!("/v1/users?limit={limit}"), None)
            .await;
        assert_eq!(status, 400, "limit={limit}: {body}");
        assert!(body["error"]["code"].is_string());
    }
    let (status, page) = t.raw(Method::GET, "/v1/users?limit=1", None).await;
    assert_eq!(status, 200);
    assert_eq!(page["users"].as_array().unwrap().len(), 1);
    if let Some(cursor) = page["nextCursor"].as_str() {
        let (status, next) = t
            .raw(
                Method::GET,
                &format!("/v1/users?limit=1&cursor={cursor}"),
                None,
            )
            .await;
        assert_eq!(status, 200);
        assert_ne!(next["users"][0]["id"], page["users"][0]["id"]);
    }

    // Updates; email is immutable.
    let patch = UserPatch {
        first_name: Some("Augusta".into()),
        ..Default::default()
    };
    let renamed = t.client.update_user(&ada.id, &patch).await.unwrap();
    assert_eq!(
        (renamed.first_name.as_str(), renamed.email.as_str()),
        ("Augusta", ada.email.as_str())
    );
    let (status, body) = t
        .raw(
            Method::PATCH,
            &format!("/v1/users/{}", ada.id),
            Some(json!({"email": t.email("other")})),
        )
        .await;
    assert_eq!((status, code(&body)), (422, "email_immutable"));
    let disabled = t.client.disable_user(&ada.id).await.unwrap();
    assert_eq!(disabled.status, AccountStatus::Disabled);
    let err = t
        .client
        .update_user(&format!("{}-missing", t.tag), &patch)
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.code()),
        (PasswordBossErrorKind::NotFound, Some("not_found"))
    );

    // Groups: create, duplicate name, rename, membership.
    let bob = t
        .client
        .create_user(&t.new_user("bob"), &format!("{}-k4", t.tag))
        .await
        .unwrap();
    created.users.push(bob.id.clone());
    let new_group = NewGroup {
        name: t.tag.clone(),
        external_id: Some(format!("{}-g", t.tag)),
        managed_by: Owner::AzureAd.name().into(),
    };
    let group = t
        .client
        .create_group(&new_group, &format!("{}-k5", t.tag))
        .await
        .unwrap();
    created.groups.push(group.id.clone());
    let err = t
        .client
        .create_group(&new_group, &format!("{}-k6", t.tag))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("name_exists"));
    let renamed = t
        .client
        .rename_group(&group.id, &format!("{}-renamed", t.tag))
        .await
        .unwrap();
    assert_eq!(renamed.name, format!("{}-renamed", t.tag));
    t.client
        .set_group_members(&group.id, &[ada.id.clone(), bob.id.clone()])
        .await
        .unwrap();
    let mut members = t.client.group_members(&group.id).await.unwrap();
    members.sort();
    let mut expected = vec![ada.id.clone(), bob.id.clone()];
    expected.sort();
    assert_eq!(members, expected);
    t.client
        .set_group_members(&group.id, std::slice::from_ref(&bob.id))
        .await
        .unwrap();
    assert_eq!(
        t.client.group_members(&group.id).await.unwrap(),
        vec![bob.id.clone()]
    );

    // The Everyone group is protected.
    let groups = t.client.list_groups().await.unwrap();
    let everyone = groups
        .iter()
        .find(|g| g.name == EVERYONE_GROUP && g.owner == Owner::PasswordBoss)
        .expect("every company has an Everyone group");
    let path = format!("/v1/groups/{}", everyone.id);
    let (status, body) = t
        .raw(Method::PATCH, &path, Some(json!({"name": "All"})))
        .await;
    assert_eq!((status, code(&body)), (403, "forbidden"));
    let (status, body) = t.raw(Method::DELETE, &path, None).await;
    assert_eq!((status, code(&body)), (403, "forbidden"));
    let (status, body) = t
        .raw(
            Method::PUT,
            &format!("{path}/members"),
            Some(json!({"userIds": []})),
        )
        .await;
    assert_eq!((status, code(&body)), (403, "forbidden"));

    // Deletes: a second delete is 404.
    t.client.delete_group(&group.id).await.unwrap();
    created.groups.clear();
    let (status, body) = t
        .raw(Method::DELETE, &path.replace(&everyone.id, &group.id), None)
        .await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    t.client.remove_user(&bob.id).await.unwrap();
    t.client.delete_user(&ada.id).await.unwrap();
    created.users.clear();
    let (status, body) = t
        .raw(Method::DELETE, &format!("/v1/users/{}", ada.id), None)
        .await;
    assert_eq!((status, code(&body)), (404, "not_found"));
}

#[tokio::test]
async fn contract_holds_on_the_simulator() {
    let sim = sim(5).await;
    let target = Target::new(sim.url(), sim.token());
    run_contract(&target).await;
    assert_eq!(sim.users().len(), 0, "the suite cleans up");
    assert_eq!(sim.departed().len(), 1, "bob left with a personal account");
    assert_eq!(sim.groups().len(), 1, "only Everyone is left");
}

/// Against a real Password Boss endpoint: run it with
/// `PASSWORDBOSS_API_URL=… PASSWORDBOSS_TOKEN=… cargo test --test suite contract -- --ignored`.
#[tokio::test]
#[ignore = "needs a real Password Boss endpoint: set PASSWORDBOSS_API_URL and PASSWORDBOSS_TOKEN"]
async fn contract_holds_on_the_endpoint_from_the_environment() {
    let url = std::env::var("PASSWORDBOSS_API_URL")
        .expect("PASSWORDBOSS_API_URL is set to the Password Boss API's base URL");
    let token = std::env::var("PASSWORDBOSS_TOKEN")
        .expect("PASSWORDBOSS_TOKEN is set to a Password Boss connector token");
    let target = Target::new(
        url::Url::parse(&url).expect("PASSWORDBOSS_API_URL is a URL"),
        &token,
    );
    run_contract(&target).await;
}

#[tokio::test]
async fn simulator_licence_rules() {
    let sim = sim(1).await;
    let t = Target::new(sim.url(), sim.token());
    let mut first = t.new_user("one");
    first.status = UserStatus::Active;
    let mut second = t.new_user("two");
    second.status = UserStatus::Active;
    let one = t.client.create_user(&first, "k1").await.unwrap();
    let two = t.client.create_user(&second, "k2").await.unwrap();
    assert_eq!(
        (one.status, two.status),
        (AccountStatus::Active, AccountStatus::Pending)
    );
    let err = t.client.enable_user(&two.id).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.code()),
        (PasswordBossErrorKind::Conflict, Some("license_limit"))
    );
    t.client.disable_user(&one.id).await.unwrap();
    assert_eq!(
        t.client.enable_user(&two.id).await.unwrap().status,
        AccountStatus::Active
    );
    let info = t.client.connector().await.unwrap();
    assert_eq!((info.licenses.total, info.licenses.used), (1, 1));
}

#[tokio::test]
async fn simulator_idempotency_keys_last_a_day() {
    let sim = sim(5).await;
    let t = Target::new(sim.url(), sim.token());
    let new = t.new_user("one");
    let first = t.client.create_user(&new, "k").await.unwrap();
    sim.advance_clock(Duration::from_secs(23 * 3600));
    assert_eq!(t.client.create_user(&new, "k").await.unwrap().id, first.id);
    sim.advance_clock(Duration::from_secs(2 * 3600));
    let err = t.client.create_user(&new, "k").await.unwrap_err();
    assert_eq!(
        err.code(),
        Some("email_exists"),
        "the key expired; the email is still taken"
    );
}

#[tokio::test]
async fn simulator_refuses_malformed_bodies_with_coded_errors() {
    let sim = sim(5).await;
    let t = Target::new(sim.url(), sim.token());
    let (status, body) = t
        .raw(
            Method::POST,
            "/v1/users",
            Some(json!({"email": "a@contoso.com"})),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_request"));
    let (status, body) = t
        .raw(
            Method::POST,
            "/v1/users",
            Some(
                json!({"email": "a@contoso.com", "firstName": "A", "lastName": "B",
                        "externalId": null, "managedBy": "Okta", "status": "active"}),
            ),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_request"));
    let (status, body) = t.raw(Method::GET, "/v2/nothing", None).await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    assert!(sim.users().is_empty());
}

/// Many companies behind one listener (`PbSim::start_many`, the scale benchmark's): each at its
/// own path, with its own token, users and company id; another's token is refused.
#[tokio::test]
async fn companies_served_by_one_listener_are_apart() {
    let configs = (0..3)
        .map(|i| SimConfig {
            company_id: format!("c_many_{i}"),
            ..SimConfig::default()
        })
        .collect();
    let sims = PbSim::start_many(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), configs)
        .await
        .unwrap();
    assert_eq!(sims[0].url().port(), sims[2].url().port());
    for (i, sim) in sims.iter().enumerate() {
        for u in 0..=i {
            sim.add_user(SeedUser::new(&format!("u{u}@c{i}.com"), "U", "N"))
                .unwrap();
        }
    }
    for (i, sim) in sims.iter().enumerate() {
        let client = PasswordBossClient::new(config_for(sim.url(), sim.token())).unwrap();
        assert_eq!(
            client.connector().await.unwrap().company_id,
            format!("c_many_{i}")
        );
        assert_eq!(client.list_users().await.unwrap().len(), i + 1);
        assert_eq!(sim.requests().total(), 2);
    }
    let wrong = PasswordBossClient::new(config_for(sims[0].url(), sims[1].token())).unwrap();
    assert!(wrong.list_users().await.is_err());
    // The server stays up until the last company is dropped.
    let mut sims = sims;
    let last = sims.pop().unwrap();
    drop(sims);
    let client = PasswordBossClient::new(config_for(last.url(), last.token())).unwrap();
    assert_eq!(client.list_users().await.unwrap().len(), 3);
}
