//! Credentials against the simulated Entra token endpoint: secret, certificate assertion,
//! federated token file; error classification; token caching and refresh; no secrets in logs.

use crate::support::log_capture;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::graph::{DOMAIN, SECRET, env, spec};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use log_capture::Capture;
use pbconnector::azure::{
    AzureConfig, Credential, FederatedToken, GraphClient, GraphErrorKind, GraphSyncState,
    ReadOptions, TokenFile,
};
use pbconnector::resources::GroupSelector;
use pbconnector_simulators::graph::{FederatedCredential, JwtAlgorithm, PathKind};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};

/// A PEM holding a self-signed certificate and its RSA private key.
fn certificate_pem() -> String {
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("rsa key");
    let key_pem = key.to_pkcs8_pem(LineEnding::LF).expect("pkcs8").to_string();
    let pair = rcgen::KeyPair::from_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256)
        .expect("key pair");
    let cert = rcgen::CertificateParams::new(vec!["pbconnector.test".into()])
        .expect("params")
        .self_signed(&pair)
        .expect("certificate");
    format!("{}{}", cert.pem(), key_pem)
}

const ISSUER: &str = "https://oidc.cluster.test";
const SUBJECT: &str = "system:serviceaccount:pbconnector:pbconnector";
const AUDIENCE: &str = "api://AzureADTokenExchange";

/// A Kubernetes-like service account token signed by `key`.
fn federated_token(key: &rcgen::KeyPair, subject: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({"iss": ISSUER, "sub": subject, "aud": [AUDIENCE], "iat": now, "nbf": now, "exp": now + 3600});
    let key = EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).expect("ec key");
    jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &key).expect("jwt")
}

fn federated_credential(key: &rcgen::KeyPair) -> FederatedCredential {
    FederatedCredential {
        issuer: ISSUER.into(),
        subject: SUBJECT.into(),
        audience: AUDIENCE.into(),
        issuer_key_pem: key.public_key_pem(),
        algorithm: JwtAlgorithm::ES256,
    }
}

fn assert_unauthorized(err: pbconnector::azure::GraphError, code: &str) {
    assert_eq!(err.kind(), GraphErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains(code), "{err} should name {code}");
    assert!(!err.to_string().contains(SECRET));
}

#[tokio::test]
async fn refused_credentials_are_unauthorized_with_their_code() {
    let e = env().await;
    let wrong = e.client_with(Credential::ClientSecret("not-the-secret".into()));
    assert_unauthorized(wrong.check_token().await.unwrap_err(), "AADSTS7000215");

    e.tenant.add_secret(&e.app, "old-secret", true);
    let expired = e.client_with(Credential::ClientSecret("old-secret".into()));
    assert_unauthorized(expired.check_token().await.unwrap_err(), "AADSTS7000222");

    let cred = || Credential::ClientSecret(SECRET.into());
    let unknown_tenant =
        AzureConfig::from_spec(&spec(&e.sim, "fabrikam.onmicrosoft.com", &e.app), cred()).unwrap();
    let err = GraphClient::new(unknown_tenant)
        .unwrap()
        .check_token()
        .await
        .unwrap_err();
    assert_unauthorized(err, "AADSTS90002");

    let unknown_app = AzureConfig::from_spec(
        &spec(&e.sim, DOMAIN, "11111111-2222-4333-8444-555555555555"),
        cred(),
    )
    .unwrap();
    let err = GraphClient::new(unknown_app)
        .unwrap()
        .check_token()
        .await
        .unwrap_err();
    assert_unauthorized(err, "AADSTS700016");

    e.tenant.set_consent(&e.app, false);
    let err = e.client().check_token().await.unwrap_err();
    assert_unauthorized(err, "Authorization_RequestDenied");
    let err = e.client().check_token().await.unwrap_err();
    assert!(err.to_string().contains("Group.Read.All"));
    e.tenant.set_consent(&e.app, true);
    e.client().check_token().await.unwrap();
}

#[tokio::test]
async fn certificate_credential_gets_a_token_and_a_foreign_one_does_not() {
    let e = env().await;
    let registered = certificate_pem();
    e.tenant.add_certificate(&e.app, &registered).unwrap();
    let client = e.client_with(Credential::Certificate { pem: registered });
    client.check_token().await.unwrap();
    assert_eq!(e.sim.requests().http_status(PathKind::Token, 200), 1);

    let foreign = e.client_with(Credential::Certificate {
        pem: certificate_pem(),
    });
    assert_unauthorized(foreign.check_token().await.unwrap_err(), "AADSTS700027");

    let bad = AzureConfig::from_spec(
        &spec(&e.sim, DOMAIN, &e.app),
        Credential::Certificate {
            pem: "garbage".into(),
        },
    )
    .unwrap();
    let err = GraphClient::new(bad)
        .err()
        .expect("unreadable PEM is refused");
    assert_eq!(err.kind(), GraphErrorKind::Config);
}

#[tokio::test]
async fn workload_identity_rereads_the_rotated_token_file() {
    let e = env().await;
    let issuer_key = rcgen::KeyPair::generate().unwrap();
    e.tenant
        .add_federated_credential(&e.app, federated_credential(&issuer_key))
        .unwrap();
    let dir = std::env::temp_dir().join(format!("pbconnector-wi-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("azure-identity-token");
    std::fs::write(&file, federated_token(&issuer_key, SUBJECT)).unwrap();
    let client = e.client_with(Credential::WorkloadIdentity(FederatedToken::new(
        TokenFile::new(&file),
    )));
    client.check_token().await.unwrap();

    // Kubelet rotates the file; the next token request must present the new content.
    std::fs::write(
        &file,
        federated_token(&issuer_key, "system:serviceaccount:other:sa"),
    )
    .unwrap();
    e.sim.expire_access_tokens();
    assert_unauthorized(client.check_token().await.unwrap_err(), "AADSTS70021");
    std::fs::write(&file, federated_token(&issuer_key, SUBJECT)).unwrap();
    client.check_token().await.unwrap();

    std::fs::remove_file(&file).unwrap();
    e.sim.expire_access_tokens();
    let err = client.check_token().await.unwrap_err();
    assert_eq!(err.kind(), GraphErrorKind::Config);
    assert!(err.to_string().contains("azure-identity-token"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn tokens_are_cached_refreshed_early_and_one_401_forces_one_refresh() {
    let e = env().await;
    let client = e.client();
    client.check_token().await.unwrap();
    client.check_token().await.unwrap();
    assert_eq!(e.sim.requests().http(PathKind::Token), 1, "cached");

    e.sim.expire_access_tokens();
    client.check_token().await.unwrap();
    let counts = e.sim.requests();
    assert_eq!(counts.http(PathKind::Token), 2);
    assert_eq!(counts.http_status(PathKind::GroupList, 401), 0);
    assert_eq!(counts.http_status(PathKind::Other, 401), 1);

    // Refreshed from expires_in before expiry: no 401 seen.
    e.sim.set_token_lifetime(Duration::from_secs(2));
    let short = e.client();
    short.check_token().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1850)).await;
    short.check_token().await.unwrap();
    let counts = e.sim.requests();
    assert_eq!(counts.http(PathKind::Token), 4);
    assert_eq!(counts.http_status(PathKind::Other, 401), 1);

    // A Graph that rejects every token: exactly one refresh, then Unauthorized.
    e.sim.set_token_lifetime(Duration::ZERO);
    let doomed = e.client();
    let err = doomed.check_token().await.unwrap_err();
    assert_unauthorized(err, "InvalidAuthenticationToken");
    assert_eq!(doomed.requests(), 4, "token, 401, token, 401");
}

#[tokio::test]
async fn no_secret_assertion_or_token_reaches_the_logs() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.subscriber());

    let e = env().await;
    let group = e.tenant.add_group("Password Boss Users");
    for id in e.users("u", 3) {
        e.tenant.add_member(&group, &id);
    }
    let mut state = GraphSyncState::default();
    let opts = ReadOptions::default();
    let client = e.client();
    client
        .read(&mut state, &GroupSelector::by_id(&group), &[], &opts)
        .await
        .unwrap();
    e.sim.expire_access_tokens();
    e.sim.faults().throttle_next(1, 0);
    client
        .read(&mut state, &GroupSelector::by_id(&group), &[], &opts)
        .await
        .unwrap();
    let _ = e
        .client_with(Credential::ClientSecret(format!("{SECRET}-wrong")))
        .check_token()
        .await;

    let cert = certificate_pem();
    e.tenant.add_certificate(&e.app, &cert).unwrap();
    e.client_with(Credential::Certificate { pem: cert })
        .check_token()
        .await
        .unwrap();
    let issuer_key = rcgen::KeyPair::generate().unwrap();
    e.tenant
        .add_federated_credential(&e.app, federated_credential(&issuer_key))
        .unwrap();
    let file = std::env::temp_dir().join(format!("pbconnector-log-{}", uuid::Uuid::new_v4()));
    let federated = federated_token(&issuer_key, SUBJECT);
    std::fs::write(&file, &federated).unwrap();
    e.client_with(Credential::WorkloadIdentity(FederatedToken::new(
        TokenFile::new(&file),
    )))
    .check_token()
    .await
    .unwrap();
    std::fs::remove_file(&file).unwrap();

    let logs = capture.text();
    assert!(
        logs.contains("requesting an access token"),
        "the capture works"
    );
    assert!(logs.contains("retrying Graph request"));
    assert!(!logs.contains(SECRET), "client secret logged");
    assert!(!logs.contains(&federated), "federated token logged");
    assert!(!logs.contains("eyJ"), "a JWT (assertion) logged");
    // Access tokens are JWTs too (`eyJ…`, checked above); and no Authorization header.
    assert!(
        !logs.contains("Bearer ey"),
        "an Authorization header logged"
    );
}

/// The simulator's multi-tenant app: a tenant issues it tokens only once its admin consented
/// (AADSTS700016 before, and again after the app is removed), checked against the credentials
/// of its home registration (AADSTS7000215); an unknown tenant is AADSTS90002. Every token
/// request is counted under the tenant it named, and the token's `tid` is the tenant's.
#[tokio::test]
async fn a_multi_tenant_app_gets_tokens_only_where_it_was_consented() {
    let e = env().await;
    let msp = e.sim.add_tenant("msp.onmicrosoft.com");
    let app = e.sim.add_multi_tenant_app(&msp);
    msp.add_secret(&app, SECRET, false);
    let customer = e.tenant.id().to_owned();
    let shared = |tenant: &str, secret: &str| {
        let mut azure = spec(&e.sim, tenant, &app);
        azure.application_ref = Some(pbconnector::resources::ApplicationRef {
            name: "msp-app".into(),
        });
        GraphClient::new(
            AzureConfig::from_spec(&azure, Credential::ClientSecret(secret.into())).unwrap(),
        )
        .unwrap()
    };

    let err = shared(&customer, SECRET).acquire_token().await.unwrap_err();
    assert!(err.consent_missing(), "{err}");
    assert_unauthorized(err, "AADSTS700016");

    e.sim.grant_consent(&app, &customer);
    shared(&customer, SECRET)
        .check_token()
        .await
        .expect("a token for the consenting tenant, accepted by Graph");
    let wrong = shared(&customer, "not-the-secret").acquire_token().await;
    assert_unauthorized(wrong.unwrap_err(), "AADSTS7000215");
    let unknown = "5b0c36f5-0000-4000-8000-00000000beef";
    assert_unauthorized(
        shared(unknown, SECRET).acquire_token().await.unwrap_err(),
        "AADSTS90002",
    );

    e.sim.revoke_consent(&app, &customer);
    assert_unauthorized(
        shared(&customer, SECRET).acquire_token().await.unwrap_err(),
        "AADSTS700016",
    );
    // The home registration is untouched by a customer's revocation.
    shared(msp.id(), SECRET)
        .acquire_token()
        .await
        .expect("the home tenant still issues tokens");
    assert_eq!(e.sim.token_requests_for(&customer), 4);
    assert_eq!(e.sim.token_requests_for(unknown), 1);
    assert_eq!(e.sim.token_requests_for(msp.id()), 1);
}
