//! The Entra credential's expiry: read from the certificate's PEM (`notAfter`) or from
//! `spec.azure.clientSecretExpiresAt`, and the `CredentialExpiring` condition and Event 30 days
//! ahead.

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;
use pbconnector::resources::{AzureAdConnectorStatus, AzureSpec};
use pbconnector::sync::secrets::SecretData;
use pbconnector::sync::status::credential_expiry::{
    CredentialKind, ExpiryError, credential_expiry, parse_date, set_expiry_condition,
};
use pbconnector::sync::status::{EventType, transitions};

fn spec(credential: serde_json::Value) -> AzureSpec {
    let mut spec = serde_json::json!({
        "tenantId": "contoso.onmicrosoft.com",
        "clientId": "00000000-0000-0000-0000-000000000001",
    });
    spec.as_object_mut()
        .unwrap()
        .extend(credential.as_object().unwrap().clone());
    serde_json::from_value(spec).expect("a spec")
}

/// A PEM with a self-signed certificate valid until `year`-01-01 and its private key.
fn certificate_pem(year: i32) -> String {
    let mut params = rcgen::CertificateParams::new(vec!["pbconnector".into()]).unwrap();
    params.not_after = rcgen::date_time_ymd(year, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    format!("{}{}", cert.pem(), key.serialize_pem())
}

fn secrets(name: &str, key: &str, value: &str) -> BTreeMap<String, SecretData> {
    BTreeMap::from([(
        name.to_string(),
        SecretData::from([(key.to_string(), value.as_bytes().to_vec())]),
    )])
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn condition(status: &AzureAdConnectorStatus) -> Option<(&str, &str, &str)> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == "CredentialExpiring")
        .map(|c| (c.status.as_str(), c.reason.as_str(), c.message.as_str()))
}

#[test]
fn a_certificates_expiry_is_read_from_its_pem() {
    let spec = spec(
        serde_json::json!({"clientCertificateRef": {"name": "entra-app-cert", "key": "tls.pem"}}),
    );
    let pem = certificate_pem(2031);
    let expiry = credential_expiry("msp", &spec, &secrets("entra-app-cert", "tls.pem", &pem))
        .unwrap()
        .expect("an expiry");
    assert_eq!(expiry.kind, CredentialKind::Certificate);
    assert_eq!(expiry.expires_at, at("2031-01-01T00:00:00Z"));
    assert_eq!(expiry.location, "entra-app-cert/tls.pem");

    let key_only = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let error = credential_expiry(
        "msp",
        &spec,
        &secrets("entra-app-cert", "tls.pem", &key_only),
    )
    .unwrap_err();
    assert!(matches!(error, ExpiryError::Certificate { .. }), "{error}");
    assert!(
        error.to_string().contains("entra-app-cert/tls.pem"),
        "{error}"
    );
    assert!(!error.to_string().contains("PRIVATE KEY-----\n"), "{error}");
}

#[test]
fn a_client_secrets_expiry_comes_from_the_spec_as_a_date_or_a_date_time() {
    let with = |expires: &str| {
        spec(serde_json::json!({
            "clientSecretRef": {"name": "entra-app", "key": "client-secret"},
            "clientSecretExpiresAt": expires,
        }))
    };
    let none = secrets("entra-app", "client-secret", "value");
    let expiry = credential_expiry("msp", &with("2028-11-25"), &none)
        .unwrap()
        .unwrap();
    assert_eq!(expiry.kind, CredentialKind::ClientSecret);
    assert_eq!(expiry.expires_at, at("2028-11-25T00:00:00Z"));
    let expiry = credential_expiry("msp", &with("2028-11-25T10:30:00+02:00"), &none)
        .unwrap()
        .unwrap();
    assert_eq!(expiry.expires_at, at("2028-11-25T08:30:00Z"));
    assert!(matches!(
        parse_date("2028-13-01"),
        Err(ExpiryError::Date { .. })
    ));

    let without =
        spec(serde_json::json!({"clientSecretRef": {"name": "entra-app", "key": "client-secret"}}));
    assert_eq!(credential_expiry("msp", &without, &none).unwrap(), None);
    let workload = spec(serde_json::json!({"workloadIdentity": {}}));
    assert_eq!(
        credential_expiry("msp", &workload, &BTreeMap::new()).unwrap(),
        None
    );
}

#[test]
fn the_condition_warns_30_days_ahead_once_with_an_event_and_says_how_to_rotate() {
    let spec = spec(serde_json::json!({
        "clientSecretRef": {"name": "entra-app", "key": "client-secret"},
        "clientSecretExpiresAt": "2028-11-25",
    }));
    let expiry = credential_expiry("msp", &spec, &BTreeMap::new());
    let mut far = AzureAdConnectorStatus::default();
    set_expiry_condition(&mut far, &expiry, Some(1), at("2028-10-25T23:59:59Z"));
    assert_eq!(
        condition(&far).map(|c| (c.0, c.1)),
        Some(("False", "NotExpiringSoon"))
    );
    assert!(
        transitions(None, &far)
            .iter()
            .all(|e| e.1 != "CredentialExpiring")
    );

    let mut soon = far.clone();
    set_expiry_condition(&mut soon, &expiry, Some(1), at("2028-10-26T00:00:00Z"));
    let (value, reason, message) = condition(&soon).unwrap();
    assert_eq!((value, reason), ("True", "ExpiresSoon"));
    assert!(message.contains("2028-11-25T00:00:00Z"), "{message}");
    assert!(
        message.contains("Secret entra-app/client-secret"),
        "{message}"
    );
    assert!(message.contains("delete the old one"), "{message}");
    let events = transitions(Some(&far), &soon);
    assert!(
        events
            .iter()
            .any(|e| e.0 == EventType::Warning && e.1 == "CredentialExpiring"),
        "{events:?}"
    );
    // A day later nothing new is said: no write, no second Event.
    let mut later = soon.clone();
    set_expiry_condition(&mut later, &expiry, Some(1), at("2028-10-27T00:00:00Z"));
    assert_eq!(later, soon);
    assert!(transitions(Some(&soon), &later).is_empty());

    let mut expired = soon.clone();
    set_expiry_condition(&mut expired, &expiry, Some(1), at("2028-11-25T00:00:00Z"));
    assert_eq!(condition(&expired).map(|c| c.1), Some("Expired"));
    assert!(condition(&expired).unwrap().2.contains("AADSTS7000222"));
    assert!(
        transitions(Some(&soon), &expired)
            .iter()
            .any(|e| e.1 == "CredentialExpiring")
    );

    // No expiry to watch any more (e.g. switched to workload identity): the condition goes.
    set_expiry_condition(&mut expired, &Ok(None), Some(2), at("2028-11-26T00:00:00Z"));
    assert_eq!(condition(&expired), None);
}
