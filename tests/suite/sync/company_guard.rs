//! The company guard in the sync pipeline: asked once per sync with the company
//! `GET /v1/connector` named (the read every sync makes anyway), after the reads and before any
//! Password Boss write; a refusal ends the sync with `CompanyConflict` and nothing written.

use std::sync::{Arc, Mutex};

use pbconnector::resources::{CompanyRef, WriteOutcome};
use pbconnector::sync::company::CompanyGuard;
use pbconnector::sync::report::SyncReport;
use pbconnector::sync::state::ConnectorState;
use pbconnector::sync::status::failure::FailureReason;
use pbconnector::sync::{ConnectorKey, SyncRequest, read_credentials, run_sync};
use pbconnector_simulators::sample::{SampleEnvironment, SampleOptions};

async fn sync(
    env: &SampleEnvironment,
    state: &mut ConnectorState,
    guard: CompanyGuard,
) -> SyncReport {
    let spec: pbconnector::resources::AzureAdConnectorSpec =
        serde_json::from_value(env.spec_json()).unwrap();
    let secrets = env.secrets();
    let credentials = read_credentials(&spec, "msp-contoso", |n| secrets.get(n).cloned());
    let request = SyncRequest {
        company_guard: guard,
        ..SyncRequest::new(ConnectorKey::new("msp-contoso", "contoso"), spec)
    };
    run_sync(&request, credentials, state).await
}

#[tokio::test]
async fn a_held_sync_writes_nothing_and_an_admitted_one_syncs() {
    let env = SampleEnvironment::start(SampleOptions {
        users: 20,
        ..SampleOptions::default()
    })
    .await
    .expect("simulators start");
    let asked: Arc<Mutex<Vec<CompanyRef>>> = Arc::default();
    let refusing = {
        let asked = asked.clone();
        CompanyGuard::new(move |company| {
            asked.lock().unwrap().push(company.clone());
            async move { Err(format!("msp-old/older already syncs {}", company.name)) }
        })
    };
    let mut state = ConnectorState::default();
    let held = sync(&env, &mut state, refusing).await;

    let failure = held.failure.as_ref().expect("held");
    assert_eq!(failure.reason, FailureReason::CompanyConflict);
    assert_eq!(failure.to_string(), "msp-old/older already syncs Contoso");
    let company = held.company.clone().expect("the company is reported");
    assert_eq!(company.name, "Contoso");
    assert_eq!(
        *asked.lock().unwrap(),
        vec![company.clone()],
        "asked once, with the company read"
    );
    assert!(held.reached.azure && held.reached.password_boss);
    assert!(held.plan.is_none() && held.actions.is_empty());
    let requests = env.password_boss.requests();
    assert_eq!(requests.writes(), 0, "nothing written: {requests:?}");
    assert!(requests.reads() > 0);
    assert!(env.password_boss.azure_users().is_empty());

    let admitting = {
        let asked = asked.clone();
        CompanyGuard::new(move |company| {
            asked.lock().unwrap().push(company);
            async { Ok(()) }
        })
    };
    let synced = sync(&env, &mut state, admitting).await;
    assert!(synced.succeeded(), "{:?}", synced.failure);
    assert_eq!(synced.company, Some(company.clone()));
    assert_eq!(asked.lock().unwrap().len(), 2);
    assert!(env.password_boss.requests().writes() > 0);
    assert_eq!(env.password_boss.azure_users().len(), 22);
    // The report keeps every write with its outcome, in plan order.
    let a = &synced.applied;
    assert_eq!(
        synced.actions.len() as u32,
        a.created + a.adopted + a.groups_created
    );
    assert!(
        synced
            .actions
            .iter()
            .all(|r| r.outcome == WriteOutcome::Applied)
    );
    let created = synced
        .actions
        .iter()
        .find(|r| r.action == "CreateUser")
        .expect("a create");
    let user = env
        .password_boss
        .user_by_email(created.email.as_deref().unwrap())
        .expect("in Password Boss");
    assert_eq!(created.password_boss_id.as_deref(), Some(user.id.as_str()));
    assert_eq!(created.entra_id, user.external_id);
}
