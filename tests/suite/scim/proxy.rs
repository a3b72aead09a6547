//! The fault proxy (`pbconnector_simulators::fault_proxy`) in front of scim2-server does what the
//! SCIM fault tests tell it: forwards untouched, counts by method and path, answers 429 with
//! `Retry-After` in the server's place, holds answers, and cuts connections before forwarding,
//! after the server applied the request, or in the middle of the answer.

use std::time::Duration;

use pbconnector_simulators::fault_proxy::{Fault, FaultProxy, Match, Outcome};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::scim::ScimServer;

async fn proxied() -> (ScimServer, FaultProxy, String) {
    let server = ScimServer::start().await;
    let proxy = FaultProxy::start(server.addr())
        .await
        .expect("proxy starts");
    let base = format!("http://{}/v2", proxy.addr());
    (server, proxy, base)
}

fn create(base: &str, token: &str, user_name: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{base}/Users"))
        .bearer_auth(token)
        .header("content-type", "application/scim+json")
        .body(
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": user_name,
            })
            .to_string(),
        )
}

#[tokio::test]
async fn requests_pass_through_untouched_and_are_counted_by_method_and_path() {
    let (mut server, proxy, base) = proxied().await;
    let created = create(&base, server.token(), "alice@contoso.com")
        .send()
        .await
        .expect("an answer");
    assert_eq!(created.status(), StatusCode::CREATED);
    // The server names the proxy in Location: it read the request's Host.
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{base}/Users/")),
        "{location}"
    );
    let listed = reqwest::Client::new()
        .get(format!("{base}/Users?count=5"))
        .bearer_auth(server.token())
        .send()
        .await
        .expect("an answer");
    assert_eq!(listed.status(), StatusCode::OK);
    let body: serde_json::Value = listed.json().await.unwrap();
    assert_eq!(body["totalResults"], 1);

    assert_eq!(proxy.count(&Method::POST, "/v2/Users"), 1);
    assert_eq!(proxy.count(&Method::GET, "/v2/Users"), 1);
    assert_eq!(proxy.count(&Method::PATCH, "/v2/"), 0);
    let log = proxy.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].outcome, Outcome::Answered(201));
    assert_eq!(log[1].query.as_deref(), Some("count=5"));
    proxy.reset_requests();
    assert!(proxy.requests().is_empty());
    assert_eq!(server.stop().await.user_names(), ["alice@contoso.com"]);
}

#[tokio::test]
async fn an_injected_429_carries_retry_after_and_never_reaches_the_server() {
    let (mut server, proxy, base) = proxied().await;
    proxy.inject(
        Match::new(Method::POST, "/v2/Users"),
        1,
        Fault::Status {
            status: 429,
            retry_after: Some(7),
        },
    );
    // A GET is not taken by the rule.
    let listed = reqwest::Client::new()
        .get(format!("{base}/Users"))
        .bearer_auth(server.token())
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);

    let throttled = create(&base, server.token(), "alice@contoso.com")
        .send()
        .await
        .unwrap();
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.headers()["retry-after"], "7");
    let error: serde_json::Value = throttled.json().await.unwrap();
    assert_eq!(error["status"], "429");
    assert_eq!(proxy.faults_pending(), 0);

    let again = create(&base, server.token(), "bob@contoso.com")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(
        proxy
            .requests()
            .iter()
            .map(|r| r.outcome.clone())
            .collect::<Vec<_>>(),
        [
            Outcome::Answered(200),
            Outcome::Injected(429),
            Outcome::Answered(201)
        ]
    );
    assert_eq!(server.stop().await.user_names(), ["bob@contoso.com"]);
}

#[tokio::test]
async fn a_cut_after_forwarding_loses_the_answer_of_a_create_the_server_applied() {
    let (mut server, proxy, base) = proxied().await;
    proxy.inject(
        Match::new(Method::POST, "/v2/Users"),
        1,
        Fault::CutAfterForward,
    );
    let lost = create(&base, server.token(), "alice@contoso.com")
        .send()
        .await;
    assert!(lost.is_err(), "no answer reaches the client: {lost:?}");
    assert_eq!(
        proxy.requests()[0].outcome,
        Outcome::Cut { forwarded: true }
    );
    assert_eq!(server.stop().await.user_names(), ["alice@contoso.com"]);
}

#[tokio::test]
async fn a_cut_before_forwarding_never_reaches_the_server() {
    let (mut server, proxy, base) = proxied().await;
    proxy.inject(Match::any(), 1, Fault::CutBeforeForward);
    let lost = create(&base, server.token(), "alice@contoso.com")
        .send()
        .await;
    assert!(lost.is_err(), "{lost:?}");
    assert_eq!(
        proxy.requests()[0].outcome,
        Outcome::Cut { forwarded: false }
    );
    assert!(server.stop().await.users.is_empty());
}

#[tokio::test]
async fn a_cut_mid_response_sends_the_headers_and_half_the_body() {
    let (server, proxy, base) = proxied().await;
    server
        .add_user(json!({"userName": "alice@contoso.com"}))
        .await;
    proxy.inject(
        Match::new(Method::GET, "/v2/Users"),
        1,
        Fault::CutMidResponse,
    );
    let answer = reqwest::Client::new()
        .get(format!("{base}/Users"))
        .bearer_auth(server.token())
        .send()
        .await
        .expect("the status line and headers arrive");
    assert_eq!(answer.status(), StatusCode::OK);
    let length = answer.content_length().expect("the full Content-Length");
    assert!(length > 0);
    let body = answer.bytes().await;
    assert!(body.is_err(), "the body is cut short: {body:?}");
}

#[tokio::test]
async fn a_slow_answer_outlasts_a_client_deadline_while_the_server_applies_the_write() {
    let (mut server, proxy, base) = proxied().await;
    proxy.inject(
        Match::new(Method::POST, "/v2/Users"),
        1,
        Fault::Slow(Duration::from_secs(600)),
    );
    let late = create(&base, server.token(), "alice@contoso.com")
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(late.expect_err("the client gives up").is_timeout());
    proxy.recorded(1).await;
    assert_eq!(proxy.requests()[0].outcome, Outcome::Answered(201));
    // The next request is not slowed.
    let next = create(&base, server.token(), "bob@contoso.com")
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), StatusCode::CREATED);
    assert_eq!(
        server.stop().await.user_names(),
        ["alice@contoso.com", "bob@contoso.com"]
    );
}
