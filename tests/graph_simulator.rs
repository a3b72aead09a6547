//! The simulator's protocol strictness, through raw HTTP: paging, `$top`, `$select`, delta
//! rules, `$batch` limits and the exact error bodies of graph-protocol.md.

mod graph_support;

use graph_support::{DOMAIN, SECRET, env};
use serde_json::{Value, json};

async fn token(url: &str, client_id: &str) -> String {
    token_in(url, DOMAIN, client_id).await
}

/// An access token of `client_id` in the tenant `domain` (client secret `SECRET`).
async fn token_in(url: &str, domain: &str, client_id: &str) -> String {
    let body: Value = reqwest::Client::new()
        .post(format!("{url}/{domain}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", SECRET),
            ("scope", &format!("{url}/.default")),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_u64().unwrap() > 0);
    body["access_token"].as_str().unwrap().to_owned()
}

async fn get(url: &str, bearer: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(url)
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn paging_top_and_select_follow_graph() {
    let e = env().await;
    let group = e.tenant.add_group("G");
    for id in e.users("u", 250) {
        e.tenant.add_member(&group, &id);
    }
    let base = format!("{}/v1.0", e.sim.url());
    let t = token(e.sim.url(), &e.app).await;

    let (status, page) = get(&format!("{base}/groups/{group}/members"), &t).await;
    assert_eq!(status, 200);
    assert_eq!(
        page["value"].as_array().unwrap().len(),
        100,
        "default page size"
    );
    let first = &page["value"][0];
    assert_eq!(first["@odata.type"], "#microsoft.graph.user");
    assert!(first.get("accountEnabled").is_none() && first.get("userType").is_none());
    assert!(first.get("displayName").is_some());
    let next = page["@odata.nextLink"].as_str().unwrap().to_owned();
    assert!(next.contains("$skiptoken="));
    let (_, page2) = get(&next, &t).await;
    assert_eq!(page2["value"].as_array().unwrap().len(), 100);
    let (_, page3) = get(page2["@odata.nextLink"].as_str().unwrap(), &t).await;
    assert_eq!(page3["value"].as_array().unwrap().len(), 50);
    assert!(page3.get("@odata.nextLink").is_none());

    let (_, sel) = get(
        &format!("{base}/groups/{group}/members?$select=id,accountEnabled&$top=999"),
        &t,
    )
    .await;
    assert_eq!(sel["value"].as_array().unwrap().len(), 250);
    let u = &sel["value"][0];
    assert_eq!(u["accountEnabled"], true);
    assert!(u.get("displayName").is_none() && u.get("userType").is_none());

    let (status, err) = get(&format!("{base}/groups/{group}/members?$top=1000"), &t).await;
    assert_eq!(status, 400);
    assert_eq!(
        err["error"]["message"],
        "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."
    );
    let (status, err) = get(&format!("{base}/groups/{}", uuid::Uuid::new_v4()), &t).await;
    assert_eq!(status, 404);
    assert_eq!(err["error"]["code"], "Request_ResourceNotFound");
    assert!(err["error"]["innerError"]["request-id"].is_string());
}

#[tokio::test]
async fn delta_rules_and_batch_limits() {
    let e = env().await;
    let group = e.tenant.add_group("G");
    let alice = e.tenant.add_user("Alice A", "alice@contoso.com");
    e.tenant.add_member(&group, &alice);
    let base = format!("{}/v1.0", e.sim.url());
    let t = token(e.sim.url(), &e.app).await;

    let (status, _) = get(&format!("{base}/users/delta?$top=10"), &t).await;
    assert_eq!(status, 400);
    let (status, _) = get(&format!("{base}/groups/delta?$expand=members"), &t).await;
    assert_eq!(status, 400);
    let ids: Vec<String> = (0..51)
        .map(|_| format!("id eq '{}'", uuid::Uuid::new_v4()))
        .collect();
    let (status, _) = get(
        &format!("{base}/groups/delta?$filter={}", ids.join(" or ")),
        &t,
    )
    .await;
    assert_eq!(status, 400, "at most 50 ids");

    let (_, round) = get(
        &format!("{base}/groups/delta?$filter=id eq '{group}'&$select=displayName,members"),
        &t,
    )
    .await;
    assert_eq!(round["value"][0]["members@delta"][0]["id"], alice.as_str());
    let link = round["@odata.deltaLink"].as_str().unwrap().to_owned();
    let (_, latest) = get(&format!("{base}/users/delta?$deltatoken=latest"), &t).await;
    assert!(latest["value"].as_array().unwrap().is_empty());
    let users_link = latest["@odata.deltaLink"].as_str().unwrap().to_owned();

    e.tenant.remove_member(&group, &alice);
    e.tenant.soft_delete_user(&alice);
    let (_, changed) = get(&link, &t).await;
    assert_eq!(
        changed["value"][0]["members@delta"][0]["@removed"]["reason"],
        "deleted"
    );
    let (_, users) = get(&users_link, &t).await;
    assert_eq!(
        users["value"][0],
        json!({"id": alice, "@removed": {"reason": "changed"}})
    );

    e.sim.faults().expire_delta_tokens();
    let (status, err) = get(changed["@odata.deltaLink"].as_str().unwrap(), &t).await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["code"], "syncStateNotFound");

    let requests: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/groups"}))
        .collect();
    let r = reqwest::Client::new()
        .post(format!("{base}/$batch"))
        .bearer_auth(&t)
        .json(&json!({"requests": requests}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "Number of requests inside batch exceed the limit."
    );

    let (status, err) = get(&format!("{base}/groups"), "sim.unknown").await;
    assert_eq!(status, 401);
    assert_eq!(err["error"]["code"], "InvalidAuthenticationToken");
}

#[tokio::test]
async fn one_tenant_can_be_throttled_while_the_others_are_served() {
    let e = env().await;
    let other = e.sim.add_tenant("fabrikam.onmicrosoft.com");
    let other_app = other.add_app();
    other.add_secret(&other_app, SECRET, false);
    let other_token = token_in(e.sim.url(), "fabrikam.onmicrosoft.com", &other_app).await;
    let t = token(e.sim.url(), &e.app).await;
    let groups = format!("{}/v1.0/groups", e.sim.url());

    e.sim.faults().throttle_tenant(e.tenant.id(), Some(30));
    for _ in 0..2 {
        let r = reqwest::Client::new()
            .get(&groups)
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429, "throttled until cleared");
        assert_eq!(r.headers()["retry-after"], "30");
        let (status, _) = get(&groups, &other_token).await;
        assert_eq!(status, 200, "the other tenant is served");
    }
    e.sim.faults().throttle_tenant(e.tenant.id(), None);
    assert_eq!(get(&groups, &t).await.0, 200, "cleared");
}
