//! Plans with held-back changes, made by the real planner (not by hand), for the tests of what
//! the product writes and shows when the safety limits hold changes back.

use pbconnector::domain::EntraSnapshot;
use pbconnector::domain::{Account, AccountStatus, Licenses, Owner, Role};
use pbconnector::plan::{DirectoryState, Plan, Rules, SafetyInput, plan};

/// The plan of a sync in which `leaving` of `leaving + staying` managed users left the sync
/// group, under the default rules and limits (held when `leaving` is over 25, or over 20 % of
/// all, and over the floor of 2).
pub fn leavers_plan(leaving: usize, staying: usize) -> Plan {
    leavers_plan_under(leaving, staying, SafetyInput::now())
}

/// `leavers_plan` under the operator's fleet-wide freeze: held whatever the number.
pub fn frozen_leavers_plan(leaving: usize, staying: usize) -> Plan {
    leavers_plan_under(leaving, staying, SafetyInput::now().freezing())
}

fn leavers_plan_under(leaving: usize, staying: usize, input: SafetyInput) -> Plan {
    let mut snapshot = EntraSnapshot {
        sync_group_id: "sync".into(),
        sync_group_name: "Password Boss Users".into(),
        complete: true,
        ..EntraSnapshot::default()
    };
    let mut state = DirectoryState {
        licenses: Licenses {
            total: 100_000,
            used: 0,
        },
        ..DirectoryState::default()
    };
    for i in 0..leaving + staying {
        let entra_id = format!("e{i:05}");
        let email = format!("user{i:05}@contoso.com");
        state.users.push(Account {
            id: format!("u{i:05}"),
            email: email.clone(),
            first_name: "Ada".into(),
            last_name: format!("Lovelace{i}"),
            status: AccountStatus::Active,
            owner: Owner::AzureAd,
            external_id: Some(entra_id.clone()),
            role: Role::User,
        });
        if i >= leaving {
            let user = serde_json::from_value(serde_json::json!({
                "id": entra_id, "givenName": "Ada", "surname": format!("Lovelace{i}"),
                "mail": email, "accountEnabled": true,
            }))
            .expect("an Entra user");
            snapshot.users.insert(entra_id, user);
        }
    }
    plan(&snapshot, &state, &Rules::default(), &input)
}
