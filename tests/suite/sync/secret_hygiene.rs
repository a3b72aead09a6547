//! No secret value in any output: every kind of malformed Secret goes through the CLI
//! (`sync`, `plan`, `verify -f`) and through the controller's engine, and everything printed,
//! logged, reported or put in a status is searched for the value.

use crate::support::log_capture;

use std::path::Path;

use base64::Engine;
use log_capture::Capture;
use pbconnector::controller::{PipelineEngine, SyncEngine};
use pbconnector::sync::secrets::SecretData;
use pbconnector::sync::status::status_from_report;
use pbconnector::sync::{ConnectorKey, SyncRequest};
use pbconnector_simulators::sample::{SampleEnvironment, SampleOptions};

/// The value every malformed Secret holds somewhere.
const SECRET: &str = "Zq7-SECRET-VALUE-9xK";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `(what, the Password Boss token Secret's body after `type: Opaque`)`: every way the Secret
/// can be wrong, each holding `SECRET` somewhere.
fn malformed_token_secrets() -> Vec<(&'static str, String)> {
    let mut non_utf8 = vec![0xff, 0xfe];
    non_utf8.extend_from_slice(SECRET.as_bytes());
    vec![
        (
            "missing key",
            format!("stringData:\n  other: \"{SECRET}\"\n"),
        ),
        (
            "empty",
            format!("stringData:\n  token: \"\"\n  other: \"{SECRET}\"\n"),
        ),
        ("non-UTF-8", format!("data:\n  token: {}\n", b64(&non_utf8))),
        ("not base64", format!("data:\n  token: \"{SECRET}!!\"\n")),
        (
            "huge",
            format!("stringData:\n  token: \"{}\"\n", SECRET.repeat(5_000)),
        ),
        (
            "newline inside",
            format!("stringData:\n  token: \"{SECRET}\\n{SECRET}\"\n"),
        ),
        (
            "whitespace-wrapped, wrong",
            format!("stringData:\n  token: \"  \\n{SECRET}\\n \"\n"),
        ),
        (
            "wrong type",
            format!("stringData:\n  token: [\"{SECRET}\"]\n"),
        ),
        ("number type", "stringData:\n  token: 12345\n".to_string()),
        (
            "broken YAML",
            format!("stringData:\n  token: \"{SECRET}\n  other: [\n"),
        ),
    ]
}

/// The connector (as JSON, which is YAML), with the Entra secret Secret and `token_secret`.
fn manifests(env: &SampleEnvironment, token_secret: &str) -> String {
    let connector = serde_json::json!({
        "apiVersion": "passwordboss.com/v1alpha1",
        "kind": "AzureAdConnector",
        "metadata": {"name": "contoso", "namespace": "msp"},
        "spec": env.spec_json(),
    });
    format!(
        "{connector}\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: entra-app\n  \
         namespace: msp\ntype: Opaque\nstringData:\n  client-secret: \"{}\"\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata:\n  name: passwordboss\n  namespace: msp\n\
         type: Opaque\n{token_secret}",
        env.client_secret
    )
}

async fn run(args: &[&str], file: &Path) -> (i32, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pbconnector"))
        .args(args)
        .arg("-f")
        .arg(file)
        .args(["--log-level", "trace"])
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("pbconnector runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn assert_no_secret(what: &str, text: &str) {
    assert!(
        !text.contains(SECRET) && !text.contains(&SECRET[..10]),
        "{what}: the secret value was printed:\n{text}"
    );
}

#[tokio::test]
async fn the_cli_never_prints_a_malformed_secret() {
    let env = SampleEnvironment::start(SampleOptions {
        users: 3,
        ..SampleOptions::default()
    })
    .await
    .expect("simulators start");
    let dir = tempfile::tempdir().expect("temp dir");
    for (i, (what, secret)) in malformed_token_secrets().into_iter().enumerate() {
        let file = dir.path().join(format!("case-{i}.yaml"));
        std::fs::write(&file, manifests(&env, &secret)).expect("write manifests");
        for command in [&["sync", "--once"][..], &["plan"], &["verify"]] {
            let (code, output) = run(command, &file).await;
            assert_ne!(code, 0, "{what} with {command:?} fails:\n{output}");
            assert_no_secret(&format!("{what}, {command:?}"), &output);
        }
    }
    assert_eq!(env.password_boss.requests().writes(), 0);
}

#[tokio::test]
async fn a_malformed_certificate_secret_is_never_printed() {
    let env = SampleEnvironment::start(SampleOptions::default())
        .await
        .expect("simulators start");
    let garbage = format!(
        "-----BEGIN CERTIFICATE-----\\n{}\\n-----END CERTIFICATE-----\\n\
         -----BEGIN PRIVATE KEY-----\\n{}\\n-----END PRIVATE KEY-----\\n",
        b64(SECRET.as_bytes()),
        b64(SECRET.repeat(20).as_bytes())
    );
    let mut text = manifests(
        &env,
        &format!("stringData:\n  token: \"{}\"\n", env.password_boss.token()),
    );
    text = text.replace(
        "\"clientSecretRef\":{\"key\":\"client-secret\",\"name\":\"entra-app\"}",
        "\"clientCertificateRef\":{\"key\":\"tls.pem\",\"name\":\"entra-cert\"}",
    );
    assert!(text.contains("clientCertificateRef"), "{text}");
    text.push_str(&format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: entra-cert\n  namespace: msp\n\
         type: Opaque\nstringData:\n  tls.pem: \"{garbage}\"\n"
    ));
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("cert.yaml");
    std::fs::write(&file, text).expect("write manifests");
    for command in [&["sync", "--once"][..], &["plan"], &["verify"]] {
        let (code, output) = run(command, &file).await;
        assert_ne!(code, 0, "{command:?} fails:\n{output}");
        assert_no_secret(&format!("PEM garbage, {command:?}"), &output);
        assert!(
            !output.contains(&b64(SECRET.as_bytes())[..12]),
            "{command:?} printed the PEM:\n{output}"
        );
    }
}

/// The controller's path: Secrets as the API server hands them (bytes), through the engine.
#[tokio::test]
async fn the_controller_never_reports_or_logs_a_malformed_secret() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.subscriber());
    let env = SampleEnvironment::start(SampleOptions {
        users: 3,
        ..SampleOptions::default()
    })
    .await
    .expect("simulators start");
    let mut non_utf8 = vec![0xff];
    non_utf8.extend_from_slice(SECRET.as_bytes());
    let cases: Vec<(&str, SecretData)> = vec![
        (
            "missing key",
            SecretData::from([("other".into(), SECRET.into())]),
        ),
        (
            "empty",
            SecretData::from([("token".into(), Vec::new()), ("x".into(), SECRET.into())]),
        ),
        ("non-UTF-8", SecretData::from([("token".into(), non_utf8)])),
        (
            "huge",
            SecretData::from([("token".into(), SECRET.repeat(5_000).into())]),
        ),
        (
            "newline inside",
            SecretData::from([("token".into(), format!("{SECRET}\n{SECRET}").into())]),
        ),
        (
            "wrapped, wrong",
            SecretData::from([("token".into(), format!(" \n{SECRET}\n").into())]),
        ),
        (
            "control characters",
            SecretData::from([("token".into(), format!("{SECRET}\u{1b}[2J").into())]),
        ),
    ];
    let engine = PipelineEngine::new();
    for (what, data) in cases {
        let mut secrets = env.secrets();
        secrets.insert("passwordboss".into(), data);
        let request = SyncRequest {
            uid: "uid-1".into(),
            secrets,
            ..SyncRequest::new(
                ConnectorKey::new("msp", "contoso"),
                serde_json::from_value(env.spec_json()).unwrap(),
            )
        };
        let debug = format!("{request:?}");
        let report = engine.sync(request).await;
        let failure = report
            .failure
            .clone()
            .unwrap_or_else(|| panic!("{what}: the sync fails"));
        let status = status_from_report(None, &report, Some(1), None);
        let shown = format!(
            "{debug}\n{failure}\n{failure:?}\n{}",
            serde_json::to_string(&status).expect("status JSON")
        );
        assert_no_secret(what, &shown);
    }
    assert_no_secret("logs", &capture.text());
    assert_eq!(env.password_boss.requests().writes(), 0);
}
