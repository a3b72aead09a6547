//! The start-up permission checks: how many SelfSubjectAccessReviews, and how many at once.

use futures::FutureExt;
use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use pbconnector::controller::permissions::{
    CLAIMS, PermissionError, REQUIRED, REVIEWS_AT_ONCE, Scope, check_all,
};
use serde_json::{Value, json};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;
type Send = tower_test::mock::SendResponse<Response<Body>>;

/// The review's body, and the answer: allowed unless it asks about `denied` (a verb/resource).
async fn answer(request: Request<Body>, send: Send, denied: Option<(&str, &str)>) -> Value {
    let review: Value =
        serde_json::from_slice(&request.into_body().collect_bytes().await.unwrap()).unwrap();
    let attrs = &review["spec"]["resourceAttributes"];
    let allowed = denied.is_none_or(|(verb, resource)| {
        attrs["verb"] != json!(verb) || attrs["resource"] != json!(resource)
    });
    let mut answer = review.clone();
    answer["status"] = json!({ "allowed": allowed });
    send.send_response(
        Response::builder()
            .status(201)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(&answer).unwrap()))
            .unwrap(),
    );
    review
}

/// Lets the checking task run until it waits on the API server again.
async fn settle() {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}

fn client() -> (Client, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, "default"), handle)
}

/// Cluster-wide, the operator asks a fixed set of questions: the permissions it uses in all
/// namespaces and the company claims' in its own, however many namespaces the cluster has.
#[tokio::test(flavor = "current_thread")]
async fn cluster_wide_asks_a_fixed_number_of_reviews() {
    let (client, mut handle) = client();
    let scopes = [
        (Scope::AllNamespaces, REQUIRED),
        (Scope::Namespace("pbconnector".into()), CLAIMS),
    ];
    let check = tokio::spawn(async move { check_all(&client, &scopes).await });
    let mut asked = Vec::new();
    while asked.len() < REQUIRED.len() + CLAIMS.len() {
        let (request, send) = handle.next_request().await.expect("a review");
        asked.push(answer(request, send, None).await);
    }
    let missing = check.await.unwrap().expect("every review answered");
    assert!(missing.is_empty(), "{missing:?}");
    let cluster_wide = asked
        .iter()
        .filter(|r| r["spec"]["resourceAttributes"].get("namespace").is_none())
        .count();
    assert_eq!(cluster_wide, REQUIRED.len(), "{asked:#?}");
    assert_eq!(REQUIRED.len() + CLAIMS.len(), 15);
}

/// A list of namespaces: 9 reviews each, sent together up to the bound (not one after another),
/// never more than the bound in flight, and every namespace missing a permission named.
#[tokio::test(flavor = "current_thread")]
async fn namespaces_are_checked_concurrently_up_to_the_bound() {
    const NAMESPACES: usize = 10;
    let (client, mut handle) = client();
    let mut scopes: Vec<(Scope, &[_])> = (0..NAMESPACES)
        .map(|i| (Scope::Namespace(format!("msp-{i}")), REQUIRED))
        .collect();
    scopes.push((Scope::Namespace("pbconnector".into()), CLAIMS));
    let check = tokio::spawn(async move { check_all(&client, &scopes).await });

    // The first REVIEWS_AT_ONCE arrive before any is answered...
    let mut in_flight = Vec::new();
    for _ in 0..REVIEWS_AT_ONCE {
        in_flight.push(handle.next_request().await.expect("a review in flight"));
    }
    // ... and no more until one is.
    settle().await;
    assert!(
        handle.next_request().now_or_never().is_none(),
        "more than {REVIEWS_AT_ONCE} reviews in flight at once"
    );
    let total = NAMESPACES * REQUIRED.len() + CLAIMS.len();
    let mut answered = 0;
    let denied = Some(("patch", "azureadconnectors"));
    while answered < total {
        let (request, send) = if in_flight.is_empty() {
            handle.next_request().await.expect("a review")
        } else {
            in_flight.remove(0)
        };
        answer(request, send, denied).await;
        answered += 1;
    }
    let missing = check.await.unwrap().expect("every review answered");
    assert_eq!(missing.len(), NAMESPACES, "{missing:?}");
    for (i, error) in missing.iter().enumerate() {
        let PermissionError::Missing { missing, scope } = error else {
            panic!("{error}");
        };
        assert_eq!(scope, &Scope::Namespace(format!("msp-{i}")));
        assert_eq!(missing, &[REQUIRED[2]], "patch azureadconnectors/status");
    }
}
