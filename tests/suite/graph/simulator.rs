//! The simulator's protocol strictness, through raw HTTP: paging, `$top`, `$select`, delta
//! rules, `$batch` rules, the recycle bin (`/directory/deletedItems`), the exact error bodies of
//! graph-protocol.md, and the fault hooks tests use (answers by kind, users-delta lag).

use crate::support::graph::{DOMAIN, SECRET, env};
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

async fn batch(base: &str, bearer: &str, requests: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/$batch"))
        .bearer_auth(bearer)
        .json(&json!({ "requests": requests }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The documented 404 body for an id that is not (or no longer) a user.
fn assert_not_found(status: u16, err: &Value, id: &str) {
    assert_eq!(status, 404, "{err}");
    assert_eq!(err["error"]["code"], "Request_ResourceNotFound");
    assert_eq!(
        err["error"]["message"],
        format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        )
    );
    assert!(err["error"]["innerError"]["request-id"].is_string());
}

#[tokio::test]
async fn deleted_users_are_404_and_soft_deleted_ones_sit_in_the_recycle_bin() {
    let e = env().await;
    let users = e.users("u", 3);
    let (soft, hard, alive) = (&users[0], &users[1], &users[2]);
    e.tenant.soft_delete_user(soft);
    e.tenant.hard_delete_user(hard);
    let unknown = uuid::Uuid::new_v4().to_string();
    let base = format!("{}/v1.0", e.sim.url());
    let t = token(e.sim.url(), &e.app).await;

    for id in [soft, hard, &unknown] {
        let (status, err) = get(&format!("{base}/users/{id}?$select=id"), &t).await;
        assert_not_found(status, &err, id);
    }
    let (status, user) = get(&format!("{base}/users/{alive}?$select=id"), &t).await;
    assert_eq!((status, &user["id"]), (200, &json!(alive)));

    // Only the soft-deleted user is in the recycle bin, with its type and deletion time.
    for url in [
        format!("{base}/directory/deletedItems/{soft}"),
        format!("{base}/directory/deletedItems/{soft}/microsoft.graph.user"),
    ] {
        let (status, item) = get(&url, &t).await;
        assert_eq!(status, 200, "{item}");
        assert_eq!(item["id"], soft.as_str());
        assert_eq!(item["@odata.type"], "#microsoft.graph.user");
        let deleted = item["deletedDateTime"].as_str().unwrap();
        assert!(
            deleted.parse::<k8s_openapi::jiff::Timestamp>().is_ok(),
            "{deleted}"
        );
    }
    for id in [hard, alive, &unknown] {
        let (status, err) = get(&format!("{base}/directory/deletedItems/{id}"), &t).await;
        assert_not_found(status, &err, id);
    }
    let (_, list) = get(
        &format!("{base}/directory/deletedItems/microsoft.graph.user"),
        &t,
    )
    .await;
    let listed: Vec<&Value> = list["value"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], soft.as_str());

    // A hard delete empties the recycle bin; a restore brings the user back.
    e.tenant.hard_delete_user(soft);
    let (status, err) = get(&format!("{base}/directory/deletedItems/{soft}"), &t).await;
    assert_not_found(status, &err, soft);
    let again = e.users("r", 1).remove(0);
    e.tenant.soft_delete_user(&again);
    e.tenant.restore_user(&again);
    let (status, _) = get(&format!("{base}/directory/deletedItems/{again}"), &t).await;
    assert_eq!(status, 404);
    assert_eq!(get(&format!("{base}/users/{again}"), &t).await.0, 200);
}

#[tokio::test]
async fn batch_envelopes_follow_the_documented_rules() {
    let e = env().await;
    let alice = e.tenant.add_user("Alice A", "alice@contoso.com");
    let base = format!("{}/v1.0", e.sim.url());
    let t = token(e.sim.url(), &e.app).await;
    let missing = uuid::Uuid::new_v4().to_string();

    let (status, body) = batch(
        &base,
        &t,
        json!([
            {"id": "a", "method": "GET", "url": format!("/users/{missing}")},
            {"id": "b", "method": "GET", "url": format!("users/{alice}"), "dependsOn": ["a"]},
            {"id": "c", "method": "GET", "url": format!("/users/{alice}?$select=id")},
        ]),
    )
    .await;
    assert_eq!(status, 200);
    let by_id = |id: &str| {
        body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_not_found(
        by_id("a")["status"].as_u64().unwrap() as u16,
        &by_id("a")["body"],
        &missing,
    );
    assert_eq!(by_id("b")["status"], 424, "its dependency failed");
    assert_eq!(by_id("c")["status"], 200);
    assert_eq!(by_id("c")["body"]["id"], alice.as_str());

    for (requests, why) in [
        (
            json!([{"id": "1", "method": "GET", "url": "/groups"}, {"id": "1", "method": "GET", "url": "/groups"}]),
            "duplicate id",
        ),
        (
            json!([{"id": "x", "method": "GET", "url": "/groups"}, {"id": "X", "method": "GET", "url": "/groups"}]),
            "ids are case-insensitive",
        ),
        (json!([{"id": "1", "method": "GET"}]), "no url"),
        (json!([{"method": "GET", "url": "/groups"}]), "no id"),
        (
            json!([{"id": "1", "method": "GET", "url": "/groups", "dependsOn": ["2"]}, {"id": "2", "method": "GET", "url": "/groups"}]),
            "dependsOn a later request",
        ),
    ] {
        let (status, body) = batch(&base, &t, requests).await;
        assert_eq!(status, 400, "{why}: {body}");
        assert_eq!(body["error"]["code"], "Request_BadRequest", "{why}");
    }
}

#[tokio::test]
async fn fault_hooks_replace_answers_by_kind_and_lag_the_users_delta() {
    use pbconnector_simulators::graph::{Answer, PathKind};
    let e = env().await;
    let users = e.users("u", 2);
    let base = format!("{}/v1.0", e.sim.url());
    let t = token(e.sim.url(), &e.app).await;
    let user_url = format!("{base}/users/{}?$select=id", users[0]);

    e.sim
        .faults()
        .answer_next(PathKind::User, 3, Answer::Status(500));
    let (status, err) = get(&user_url, &t).await;
    assert_eq!(status, 500);
    assert_eq!(err["error"]["code"], "serviceNotAvailable");
    let (status, body) = batch(
        &base,
        &t,
        json!([{"id": "1", "method": "GET", "url": format!("/users/{}", users[0])}]),
    )
    .await;
    assert_eq!(status, 200, "the envelope is fine");
    assert_eq!(
        body["responses"][0]["status"], 500,
        "the sub-request is not"
    );
    e.sim
        .faults()
        .answer_next(PathKind::User, 1, Answer::OtherId);
    let (status, other) = get(&user_url, &t).await;
    assert_eq!(status, 200);
    assert_ne!(other["id"], users[0].as_str());
    e.sim
        .faults()
        .answer_next(PathKind::User, 1, Answer::Malformed);
    assert_eq!(
        get(&user_url, &t).await.1,
        json!({"id": 42, "value": "malformed"})
    );
    assert_eq!(
        get(&user_url, &t).await.1["id"],
        users[0].as_str(),
        "used up"
    );

    let filter = format!("id eq '{}' or id eq '{}'", users[0], users[1]);
    let listed = |page: &Value| -> Vec<String> {
        page["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect()
    };
    e.sim.faults().lag_users_delta(&users[1], true);
    let (_, page) = get(&format!("{base}/users/delta?$filter={filter}"), &t).await;
    assert_eq!(
        listed(&page),
        vec![users[0].clone()],
        "the lagging user is not listed"
    );
    assert_eq!(
        get(&format!("{base}/users/{}", users[1]), &t).await.0,
        200,
        "but exists"
    );
    e.sim.faults().lag_users_delta(&users[1], false);
    let (_, page) = get(&format!("{base}/users/delta?$filter={filter}"), &t).await;
    let mut both = users.clone();
    both.sort();
    let mut got = listed(&page);
    got.sort();
    assert_eq!(got, both);
}
