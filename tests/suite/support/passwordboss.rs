//! Shared by the `passwordboss_*` test files: a simulator, a client with fast retries, and plan
//! builders.
use std::time::Duration;

use pbconnector::domain::AccountStatus;
use pbconnector::passwordboss::{PasswordBossClient, PasswordBossConfig, RetryPolicy};
use pbconnector::plan::{Action, Deprovision, LeaveReason, MemberRef, Plan, UserChanges};
use pbconnector_simulators::passwordboss::{PbSim, SimConfig};

pub async fn sim(license_total: u32) -> PbSim {
    PbSim::start(SimConfig {
        license_total,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// Retries with millisecond backoff, so fault tests stay fast (`Retry-After` is still honoured).
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(5),
    }
}

pub fn config_for(url: url::Url, token: &str) -> PasswordBossConfig {
    let mut config = PasswordBossConfig::new(url, token);
    config.retry = fast_retry();
    config
}

pub fn client(sim: &PbSim) -> PasswordBossClient {
    PasswordBossClient::new(config_for(sim.url(), sim.token())).expect("valid config")
}

pub fn client_with(sim: &PbSim, edit: impl FnOnce(&mut PasswordBossConfig)) -> PasswordBossClient {
    let mut config = config_for(sim.url(), sim.token());
    edit(&mut config);
    PasswordBossClient::new(config).expect("valid config")
}

pub fn create(n: usize) -> Action {
    create_with(&format!("e{n}"), &format!("user{n}@contoso.com"))
}

pub fn create_with(external_id: &str, email: &str) -> Action {
    Action::CreateUser {
        external_id: external_id.into(),
        email: email.into(),
        first_name: "First".into(),
        last_name: "Last".into(),
        status: AccountStatus::Active,
    }
}

pub fn enable(user_id: &str, external_id: &str, email: &str) -> Action {
    Action::UpdateUser {
        user_id: user_id.into(),
        external_id: external_id.into(),
        email: email.into(),
        changes: UserChanges {
            enable: true,
            ..Default::default()
        },
    }
}

pub fn rename(user_id: &str, external_id: &str, email: &str, first: &str) -> Action {
    Action::UpdateUser {
        user_id: user_id.into(),
        external_id: external_id.into(),
        email: email.into(),
        changes: UserChanges {
            first_name: Some(first.into()),
            ..Default::default()
        },
    }
}

pub fn deprovision(user_id: &str, email: &str, how: Deprovision) -> Action {
    Action::DeprovisionUser {
        user_id: user_id.into(),
        external_id: None,
        email: email.into(),
        how,
        reason: LeaveReason::RemovedFromGroup,
    }
}

pub fn create_group(external_id: &str, name: &str, members: Vec<MemberRef>) -> Action {
    Action::CreateGroup {
        external_id: external_id.into(),
        name: name.into(),
        members,
    }
}

pub fn plan(actions: Vec<Action>) -> Plan {
    Plan {
        actions,
        ..Plan::default()
    }
}
