//! `pbconnector sync | plan` with a `spec.scim` connector, as users run them: the built binary,
//! the sample tenant on the Graph simulator, PyPI's scim2-server behind the fault proxy, and the
//! end state read from the server's own dump.

use pbconnector::resources::{AzureAdConnectorStatus, Connection};
use reqwest::Method;

use crate::support::cli::Run;
use crate::support::scim::Dump;
use crate::support::scim_sample::ScimSample;

fn status(run: &Run) -> AzureAdConnectorStatus {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "-o json prints the status object ({e}):\n{}\n{}",
            run.stdout, run.stderr
        )
    })
}

/// A user who gets an account, as the sample's Entra tenant has it.
struct Expected {
    entra_id: String,
    email: String,
    display_name: String,
    given_name: Option<String>,
    surname: Option<String>,
}

/// Every member of the sync group (directly or through the nested group) that gets an account.
fn expected_users(sample: &ScimSample) -> Vec<Expected> {
    let env = &sample.env;
    env.members
        .iter()
        .chain(env.specials.iter())
        .filter_map(|id| {
            let user = env.tenant.user(id).expect("a sample user");
            let email = user
                .mail
                .clone()
                .unwrap_or_else(|| user.user_principal_name.clone());
            // The disabled user and the two sharing an email get no account.
            (user.account_enabled && email != "shared@contoso.com").then(|| Expected {
                entra_id: id.clone(),
                email,
                display_name: user.display_name.clone(),
                given_name: user.given_name.clone(),
                surname: user.surname.clone(),
            })
        })
        .collect()
}

/// The dump holds exactly `expected`, each mapped as the README's table says and active.
fn assert_users_mapped(dump: &Dump, expected: &[Expected]) {
    let mut want: Vec<String> = expected.iter().map(|u| u.email.to_lowercase()).collect();
    want.sort();
    let have: Vec<String> = dump.user_names().iter().map(|n| n.to_lowercase()).collect();
    assert_eq!(have, want, "the server holds exactly the users in scope");
    for e in expected {
        let email = &e.email;
        let user = dump.user(email).expect("the user");
        assert_eq!(
            user.external_id.as_deref(),
            Some(e.entra_id.as_str()),
            "{email}"
        );
        assert_eq!(
            user.display_name.as_deref(),
            Some(e.display_name.as_str()),
            "{email}"
        );
        assert_eq!(user.primary_email(), Some(email.as_str()), "{email}");
        assert_eq!(user.active, Some(true), "{email}");
        let name = user.name.as_ref().expect("a name");
        if e.given_name.is_some() {
            assert_eq!(name.given_name, e.given_name, "{email}");
        }
        if e.surname.is_some() {
            assert_eq!(name.family_name, e.surname, "{email}");
        }
    }
}

#[tokio::test]
async fn the_sample_tenant_syncs_into_scim2_server_and_a_second_run_writes_nothing() {
    let mut sample = ScimSample::start(20).await;
    let first = sample.cli("sync", &["--once", "-o", "json"]).await;
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let s = status(&first);
    assert_eq!(s.connection, Connection::Connected);
    // 20 members + the guest + the user without mail; not the disabled user nor the two
    // sharing an email (a conflict each).
    assert_eq!(s.last_sync.created, 22, "{:?}", s.last_sync);
    assert_eq!(s.last_sync.adopted, 0, "SCIM's default is Skip");
    assert_eq!(s.last_sync.groups_created, 3);
    assert_eq!(s.last_sync.conflicts, 2, "the two users sharing an email");
    let authorized = s
        .conditions
        .iter()
        .find(|c| c.type_ == "ScimAuthorized")
        .expect("a ScimAuthorized condition");
    assert_eq!(authorized.status, "True");
    assert!(
        !s.conditions
            .iter()
            .any(|c| c.type_ == "PasswordBossAuthorized"),
        "no Password Boss condition for a SCIM target: {:?}",
        s.conditions
    );
    let ready = s.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(ready.status, "True");
    // The sample's Password Boss simulator was never asked.
    assert_eq!(sample.env.password_boss.requests().total(), 0);
    // Groups change by PATCH, never a PUT that could drop members the connector does not manage.
    assert_eq!(sample.proxy.count(&Method::PUT, "/"), 0);

    // A second run (a fresh process: it reads both sides in full) writes nothing.
    sample.proxy.reset_requests();
    let second = sample.cli("sync", &["--once"]).await;
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    assert_eq!(sample.scim_writes(), 0, "{:?}", sample.proxy.requests());

    let expected = expected_users(&sample);
    let dump = sample.server.stop().await;
    assert_users_mapped(&dump, &expected);

    // The mirrored groups, owned (the Entra group's id as externalId), with their members: every
    // i-th member of the sample is in group i % 3, those in through the nested group included.
    for (g, (name, group_id)) in sample.env.groups.iter().enumerate() {
        let group = dump.group(name).expect("the mirrored group");
        assert_eq!(
            group.external_id.as_deref(),
            Some(group_id.as_str()),
            "{name}"
        );
        let mut want: Vec<String> = (0..20)
            .filter(|i| i % 3 == g)
            .map(|i| sample.member_email(i).to_lowercase())
            .collect();
        want.sort();
        let have: Vec<String> = dump
            .member_names(group)
            .iter()
            .map(|n| n.to_lowercase())
            .collect();
        assert_eq!(have, want, "{name}");
    }
}

#[tokio::test]
async fn plan_reads_and_sends_no_scim_write() {
    let sample = ScimSample::start(10).await;
    let run = sample.cli("plan", &[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("CreateUser"), "{}", run.stdout);
    assert!(run.stdout.contains("nothing was written"), "{}", run.stdout);
    assert!(sample.scim_requests() > 0, "plan reads the service");
    assert_eq!(sample.scim_writes(), 0);
}

#[tokio::test]
async fn a_wrong_scim_token_exits_3_and_writes_nothing() {
    let mut sample = ScimSample::start(5).await;
    sample.token = "not-the-token".into();
    let run = sample.cli("sync", &["--once", "-o", "json"]).await;
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let s = status(&run);
    let authorized = s
        .conditions
        .iter()
        .find(|c| c.type_ == "ScimAuthorized")
        .expect("a ScimAuthorized condition");
    assert_eq!(authorized.status, "False");
    assert!(!run.stdout.contains("not-the-token") && !run.stderr.contains("not-the-token"));
    assert_eq!(sample.scim_writes(), 0);
    assert!(sample.server.stop().await.users.is_empty());
}
