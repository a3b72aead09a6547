//! What PyPI's scim2-server really does with the requests the SCIM client makes: the facts the
//! client relies on (and the harness's doc comment lists), checked against the server itself, so
//! that a new version of it that behaves differently fails here first.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::scim::{Dump, Options, ScimServer};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// One answer: status, `Location` (when set) and the JSON body (`Null` when empty).
struct Answer {
    status: StatusCode,
    location: Option<String>,
    www_authenticate: Option<String>,
    body: Value,
}

async fn call(server: &ScimServer, method: Method, path: &str, body: Option<Value>) -> Answer {
    call_with_token(server, method, path, body, Some(server.token())).await
}

async fn call_with_token(
    server: &ScimServer,
    method: Method,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> Answer {
    let mut request =
        reqwest::Client::new().request(method, format!("{}{path}", server.base_url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/scim+json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("scim2-server answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().expect("an ASCII header").to_owned())
    };
    let status = response.status();
    let location = header("location");
    let www_authenticate = header("www-authenticate");
    let text = response.text().await.expect("a body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("a JSON body")
    };
    Answer {
        status,
        location,
        www_authenticate,
        body,
    }
}

async fn create_user(server: &ScimServer, user_name: &str, external_id: &str) -> String {
    let answer = call(
        server,
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER], "userName": user_name, "externalId": external_id})),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.body["id"].as_str().expect("an id").to_owned()
}

fn filter(path: &str, filter: &str) -> String {
    let mut url = url::Url::parse("http://x/").unwrap();
    url.query_pairs_mut().append_pair("filter", filter);
    format!("{path}?{}", url.query().unwrap())
}

fn user_names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .map(|r| r["userName"].as_str().expect("a userName").to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn discovery_announces_patch_filter_paging_bounds_and_the_bearer_scheme() {
    let server = ScimServer::start().await;
    let config = call(&server, Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(config.status, StatusCode::OK);
    let c = &config.body;
    assert_eq!(c["patch"]["supported"], true);
    assert_eq!(c["filter"]["supported"], true);
    assert_eq!(c["filter"]["maxResults"], 1000);
    assert_eq!(c["etag"]["supported"], true);
    assert_eq!(c["bulk"]["supported"], true);
    assert_eq!(c["authenticationSchemes"][0]["type"], "oauthbearertoken");

    // Without the token, or with another one: 401 and a Bearer challenge.
    for token in [None, Some("not-the-token")] {
        let answer = call_with_token(&server, Method::GET, "/Users", None, token).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            answer.www_authenticate.as_deref(),
            Some(r#"Bearer realm="SCIM""#)
        );
        assert_eq!(answer.body["status"], "401");
    }
}

#[tokio::test]
async fn paging_by_start_index_honours_a_smaller_max_results_in_items_per_page() {
    let server = ScimServer::start_with(Options {
        max_results: Some(3),
        ..Options::default()
    })
    .await;
    let config = call(&server, Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(config.body["filter"]["maxResults"], 3);
    for n in 0..7 {
        create_user(&server, &format!("user{n}@contoso.com"), &format!("e{n}")).await;
    }

    // Asked for 10, given 3: itemsPerPage tells; totalResults counts them all.
    let mut seen = Vec::new();
    let mut start = 1;
    loop {
        let page = call(
            &server,
            Method::GET,
            &format!("/Users?startIndex={start}&count=10"),
            None,
        )
        .await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.body["totalResults"], 7);
        assert_eq!(page.body["startIndex"], start);
        let items = page.body["itemsPerPage"].as_u64().unwrap() as usize;
        assert!(items <= 3, "{}", page.body);
        assert_eq!(items, page.body["Resources"].as_array().unwrap().len());
        if items == 0 {
            break;
        }
        seen.extend(user_names(&page.body));
        start += items;
    }
    seen.sort();
    let expected: Vec<String> = (0..7).map(|n| format!("user{n}@contoso.com")).collect();
    assert_eq!(seen, expected, "the pages hold every user once");

    // startIndex below 1 reads as 1; past the end, an empty page.
    let first = call(&server, Method::GET, "/Users?startIndex=0&count=1", None).await;
    assert_eq!(first.body["startIndex"], 1);
    let past = call(&server, Method::GET, "/Users?startIndex=100&count=2", None).await;
    assert_eq!(past.body["itemsPerPage"], 0);
    assert_eq!(past.body["totalResults"], 7);
}

#[tokio::test]
async fn username_filters_match_case_insensitively_and_take_escaped_quotes() {
    let server = ScimServer::start().await;
    create_user(&server, "alice@contoso.com", "e-alice").await;
    create_user(&server, r#"odd"name\x@contoso.com"#, "e-odd").await;

    let found = call(
        &server,
        Method::GET,
        &filter("/Users", r#"userName eq "ALICE@Contoso.com""#),
        None,
    )
    .await;
    assert_eq!(found.status, StatusCode::OK);
    assert_eq!(user_names(&found.body), ["alice@contoso.com"]);

    // `"` and `\` escaped with `\` find the user whose name holds them.
    let escaped = call(
        &server,
        Method::GET,
        &filter("/Users", r#"userName eq "odd\"name\\x@contoso.com""#),
        None,
    )
    .await;
    assert_eq!(escaped.status, StatusCode::OK, "{}", escaped.body);
    assert_eq!(user_names(&escaped.body), [r#"odd"name\x@contoso.com"#]);

    // externalId is compared exactly.
    let exact = call(
        &server,
        Method::GET,
        &filter("/Users", r#"externalId eq "E-ALICE""#),
        None,
    )
    .await;
    assert_eq!(exact.body["totalResults"], 0);

    // An unescaped quote ends the string early: the filter is refused, not widened.
    let broken = call(
        &server,
        Method::GET,
        &filter("/Users", r#"userName eq "odd"name""#),
        None,
    )
    .await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    assert_eq!(broken.body["scimType"], "invalidFilter");
}

#[tokio::test]
async fn a_duplicate_username_is_409_uniqueness_but_external_ids_may_repeat() {
    let server = ScimServer::start().await;
    let alice = create_user(&server, "alice@contoso.com", "e1").await;

    for name in ["alice@contoso.com", "ALICE@contoso.com"] {
        let dup = call(
            &server,
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER], "userName": name, "externalId": "e2"})),
        )
        .await;
        assert_eq!(dup.status, StatusCode::CONFLICT, "{name}");
        assert_eq!(dup.body["status"], "409");
        assert_eq!(dup.body["scimType"], "uniqueness");
        // An error answer names a Location too (the collection): never to be followed.
        assert_eq!(
            dup.location.as_deref(),
            Some(format!("{}/Users", server.base_url()).as_str())
        );
    }

    // A rename onto a taken userName is refused the same way.
    let bob = create_user(&server, "bob@contoso.com", "e3").await;
    let rename = call(
        &server,
        Method::PATCH,
        &format!("/Users/{bob}"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "userName", "value": "alice@contoso.com"}]})),
    )
    .await;
    assert_eq!(rename.status, StatusCode::CONFLICT);
    assert_eq!(rename.body["scimType"], "uniqueness");

    // The server does not keep externalId unique: ownership cannot lean on it.
    create_user(&server, "carol@contoso.com", "e1").await;
    let same = call(
        &server,
        Method::GET,
        &filter("/Users", r#"externalId eq "e1""#),
        None,
    )
    .await;
    assert_eq!(
        user_names(&same.body),
        ["alice@contoso.com", "carol@contoso.com"]
    );

    // No userName: 400 invalidValue.
    let missing = call(
        &server,
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER], "externalId": "e9"})),
    )
    .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.body["scimType"], "invalidValue");
    assert!(!alice.is_empty());
}

#[tokio::test]
async fn a_user_is_created_disabled_and_deleted_as_the_mapping_writes_it() {
    let server = ScimServer::start().await;
    let created = call(
        &server,
        Method::POST,
        "/Users",
        Some(json!({
            "schemas": [USER],
            "userName": "alice@contoso.com",
            "externalId": "0f1e2d3c-entra-object-id",
            "name": {"givenName": "Alice", "familyName": "Archer"},
            "displayName": "Alice Archer",
            "emails": [{"value": "alice@contoso.com", "primary": true}],
            "active": true,
        })),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.location.as_deref(),
        Some(format!("{}/Users/{id}", server.base_url()).as_str())
    );

    let disable = call(
        &server,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "active", "value": false}]})),
    )
    .await;
    assert_eq!(disable.status, StatusCode::NO_CONTENT);
    assert_eq!(disable.body, Value::Null, "PATCH answers without a body");
    let read = call(&server, Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(read.body["active"], false);
    assert_eq!(read.body["name"]["givenName"], "Alice");

    let delete = call(&server, Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(delete.status, StatusCode::NO_CONTENT);
    for method in [Method::GET, Method::DELETE] {
        let gone = call(&server, method.clone(), &format!("/Users/{id}"), None).await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(gone.body["status"], "404");
    }
    let patch_gone = call(
        &server,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "active", "value": true}]})),
    )
    .await;
    assert_eq!(patch_gone.status, StatusCode::NOT_FOUND);

    // A percent-encoded slash in an id is decoded before routing: no such endpoint.
    let slash = call(&server, Method::GET, "/Users/a%2Fb", None).await;
    assert_eq!(slash.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn group_members_change_by_patch_add_and_remove_and_are_never_checked() {
    let mut server = ScimServer::start().await;
    let alice = create_user(&server, "alice@contoso.com", "e1").await;
    let bob = create_user(&server, "bob@contoso.com", "e2").await;
    let carol = create_user(&server, "carol@contoso.com", "e3").await;
    let group = call(
        &server,
        Method::POST,
        "/Groups",
        Some(
            json!({"schemas": [GROUP], "displayName": "Engineering", "externalId": "g1",
            "members": [{"value": alice}]}),
        ),
    )
    .await;
    assert_eq!(group.status, StatusCode::CREATED);
    let gid = group.body["id"].as_str().unwrap().to_owned();
    let parent = call(
        &server,
        Method::POST,
        "/Groups",
        Some(
            json!({"schemas": [GROUP], "displayName": "Everyone", "externalId": "g2",
            "members": [{"value": gid, "type": "Group"}]}),
        ),
    )
    .await;
    assert_eq!(parent.status, StatusCode::CREATED);
    // displayName is not unique.
    let twin = server
        .add_group(json!({"displayName": "Engineering"}))
        .await;
    assert_eq!(twin.external_id, None);
    let twin_id = twin.id;
    let drop_twin = call(&server, Method::DELETE, &format!("/Groups/{twin_id}"), None).await;
    assert_eq!(drop_twin.status, StatusCode::NO_CONTENT);

    let patch = |ops: Value| {
        let server = &server;
        let gid = gid.clone();
        async move {
            call(
                server,
                Method::PATCH,
                &format!("/Groups/{gid}"),
                Some(json!({"schemas": [PATCH_OP], "Operations": ops})),
            )
            .await
        }
    };
    // add merges: alice, already a member, is not doubled.
    let add = patch(json!([{"op": "add", "path": "members",
        "value": [{"value": alice}, {"value": bob}, {"value": carol}]}]))
    .await;
    assert_eq!(add.status, StatusCode::NO_CONTENT);
    let remove = patch(json!([{"op": "remove",
        "path": format!("members[value eq \"{bob}\"]")}]))
    .await;
    assert_eq!(remove.status, StatusCode::NO_CONTENT);
    // An id that is no resource is accepted as a member.
    let unknown = patch(json!([{"op": "add", "path": "members",
        "value": [{"value": "no-such-id"}]}]))
    .await;
    assert_eq!(unknown.status, StatusCode::NO_CONTENT);
    // Deleting a user leaves it among the members.
    let delete = call(&server, Method::DELETE, &format!("/Users/{carol}"), None).await;
    assert_eq!(delete.status, StatusCode::NO_CONTENT);

    let dump: Dump = server.stop().await;
    let engineering = dump.group("Engineering").expect("the group");
    assert_eq!(engineering.external_id.as_deref(), Some("g1"));
    assert_eq!(
        dump.member_names(engineering),
        [
            format!("?{carol}"),
            "?no-such-id".to_owned(),
            "alice@contoso.com".to_owned()
        ]
    );
    let everyone = dump.group("Everyone").expect("the parent group");
    assert_eq!(dump.member_names(everyone), ["Engineering"]);
    assert_eq!(everyone.members[0].kind.as_deref(), Some("Group"));
}

#[tokio::test]
async fn the_dump_holds_the_end_state_and_a_restart_forgets_everything() {
    let mut server = ScimServer::start().await;
    let token = server.token().to_owned();
    let before = server
        .add_user(json!({
            "userName": "alice@contoso.com",
            "externalId": "e1",
            "name": {"givenName": "Alice", "familyName": "Archer"},
            "displayName": "Alice Archer",
            "emails": [{"value": "alice@contoso.com", "primary": true}],
            "active": true,
        }))
        .await;
    assert_eq!(server.snapshot().await.user_names(), ["alice@contoso.com"]);

    let dump = server.restart().await;
    let alice = dump.user("ALICE@contoso.com").expect("alice in the dump");
    assert_eq!(alice.id, before.id);
    assert_eq!(alice.external_id.as_deref(), Some("e1"));
    assert_eq!(alice.display_name.as_deref(), Some("Alice Archer"));
    assert_eq!(alice.active, Some(true));
    assert_eq!(alice.primary_email(), Some("alice@contoso.com"));
    let name = alice.name.as_ref().expect("a name");
    assert_eq!(name.given_name.as_deref(), Some("Alice"));
    assert_eq!(name.family_name.as_deref(), Some("Archer"));

    // Same port, same token, nothing kept.
    assert_eq!(server.token(), token);
    let old = call(&server, Method::GET, &format!("/Users/{}", before.id), None).await;
    assert_eq!(old.status, StatusCode::NOT_FOUND);
    assert!(server.snapshot().await.users.is_empty());
    assert!(server.stop().await.users.is_empty());
}

#[tokio::test]
#[should_panic(expected = "run scripts/install-test-tools.sh")]
async fn a_missing_server_binary_fails_the_test_with_the_command_to_run() {
    ScimServer::start_with(Options {
        binary: Some("/nonexistent/scim2-server".into()),
        ..Options::default()
    })
    .await;
}
