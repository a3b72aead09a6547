//! The edge between the `AzureAdConnector` API and the core crate: the spec's rules become the
//! planner's `Rules`, the safety record goes between `status.safety` and the safety gate, and
//! the planner's user counts become `status.users`. The API's types change with the CRD's
//! versions; the core's change with the planner.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};

use super::{
    AzureAdConnectorSpec, EmailAttribute, ExistingUserRule, LeaveRule, Leaver, NewUserRule, Safety,
    SafetyRecord, SpentChanges, SyncRules, UserCounts, UserScope,
};
use crate::plan;

impl AzureAdConnectorSpec {
    /// The connector's rules, as the planner takes them.
    pub fn rules(&self) -> plan::Rules {
        plan::Rules {
            email_attribute: self.email_attribute.into(),
            sync_rules: self.plan_sync_rules(),
            safety: (&self.safety).into(),
            scope: (&self.scope).into(),
        }
    }
}

impl AzureAdConnectorSpec {
    /// The sync rules, `existingUser` defaulted by target: `Adopt` for Password Boss, `Skip`
    /// for SCIM (a SCIM service may hold admins and users of other provisioners).
    fn plan_sync_rules(&self) -> plan::SyncRules {
        let mut rules = plan::SyncRules::from(&self.sync_rules);
        if self.sync_rules.existing_user.is_none() && self.scim.is_some() {
            rules.existing_user = plan::ExistingUserRule::Skip;
        }
        rules
    }
}

impl From<EmailAttribute> for plan::EmailAttribute {
    fn from(attribute: EmailAttribute) -> Self {
        match attribute {
            EmailAttribute::Mail => Self::Mail,
            EmailAttribute::UserPrincipalName => Self::UserPrincipalName,
        }
    }
}

impl From<NewUserRule> for plan::NewUserRule {
    fn from(rule: NewUserRule) -> Self {
        match rule {
            NewUserRule::Create => Self::Create,
            NewUserRule::CreatePending => Self::CreatePending,
        }
    }
}

impl From<LeaveRule> for plan::LeaveRule {
    fn from(rule: LeaveRule) -> Self {
        match rule {
            LeaveRule::Disable => Self::Disable,
            LeaveRule::Remove => Self::Remove,
            LeaveRule::Delete => Self::Delete,
            LeaveRule::Ignore => Self::Ignore,
        }
    }
}

impl From<ExistingUserRule> for plan::ExistingUserRule {
    fn from(rule: ExistingUserRule) -> Self {
        match rule {
            ExistingUserRule::Adopt => Self::Adopt,
            ExistingUserRule::Skip => Self::Skip,
        }
    }
}

impl From<&SyncRules> for plan::SyncRules {
    fn from(rules: &SyncRules) -> Self {
        Self {
            new_user: rules.new_user.into(),
            user_disabled: rules.user_disabled.into(),
            user_deleted: rules.user_deleted.into(),
            user_removed_from_group: rules.user_removed_from_group.into(),
            existing_user: rules
                .existing_user
                .map_or(plan::ExistingUserRule::Adopt, Into::into),
        }
    }
}

impl From<&UserScope> for plan::UserScope {
    fn from(scope: &UserScope) -> Self {
        Self {
            exclude_guests: scope.exclude_guests,
            email_domains: scope.email_domains.clone(),
        }
    }
}

impl From<&Safety> for plan::Safety {
    fn from(safety: &Safety) -> Self {
        Self {
            max_deprovisions_per_sync: safety.max_deprovisions_per_sync,
            max_deprovision_percent: safety.max_deprovision_percent,
            percent_floor: safety.percent_floor,
            max_deprovisions_per_window: safety.max_deprovisions_per_window,
            window: safety.window(),
            removal_grace_period: safety.removal_grace_period(),
        }
    }
}

impl From<&SafetyRecord> for plan::SafetyRecord {
    fn from(record: &SafetyRecord) -> Self {
        Self {
            owned_groups: record.owned_groups.clone(),
            spent: record
                .spent
                .iter()
                .map(|s| plan::SpentChanges {
                    time: s.time.0,
                    changes: s.changes,
                })
                .collect(),
            leavers: record
                .leavers
                .iter()
                .map(|l| plan::Leaver {
                    entra_id: l.entra_id.clone(),
                    since: l.since.0,
                })
                .collect(),
            leaving_groups: record
                .leaving_groups
                .iter()
                .map(|l| plan::Leaver {
                    entra_id: l.entra_id.clone(),
                    since: l.since.0,
                })
                .collect(),
            approvals_used: record.approvals_used.clone(),
        }
    }
}

impl From<&plan::SafetyRecord> for SafetyRecord {
    fn from(record: &plan::SafetyRecord) -> Self {
        Self {
            owned_groups: record.owned_groups.clone(),
            spent: record
                .spent
                .iter()
                .map(|s| SpentChanges {
                    time: MicroTime(s.time),
                    changes: s.changes,
                })
                .collect(),
            leavers: record
                .leavers
                .iter()
                .map(|l| Leaver {
                    entra_id: l.entra_id.clone(),
                    since: Time(l.since),
                })
                .collect(),
            leaving_groups: record
                .leaving_groups
                .iter()
                .map(|l| Leaver {
                    entra_id: l.entra_id.clone(),
                    since: Time(l.since),
                })
                .collect(),
            approvals_used: record.approvals_used.clone(),
        }
    }
}

impl From<plan::UserCounts> for UserCounts {
    fn from(users: plan::UserCounts) -> Self {
        Self {
            in_scope: users.in_scope,
            active: users.active,
            pending: users.pending,
            disabled: users.disabled,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_default_spec_gives_the_planners_default_rules() {
        let spec: AzureAdConnectorSpec = serde_json::from_value(serde_json::json!({
            "azure": {"tenantId": "00000000-0000-0000-0000-000000000001",
                      "clientId": "00000000-0000-0000-0000-000000000002"},
            "passwordBoss": {"tokenSecretRef": {"name": "pb", "key": "token"}},
            "syncGroup": {"id": "00000000-0000-0000-0000-000000000003"}
        }))
        .expect("a minimal spec");
        assert_eq!(spec.rules(), plan::Rules::default());
    }

    #[test]
    fn the_spec_rules_reach_the_planner() {
        let spec = Safety {
            max_deprovisions_per_sync: 3,
            max_deprovision_percent: 40,
            percent_floor: 0,
            max_deprovisions_per_window: 9,
            window: "1h30m".into(),
            removal_grace_period: "0s".into(),
        };
        let safety = plan::Safety::from(&spec);
        assert_eq!(
            (
                safety.max_deprovisions_per_sync,
                safety.max_deprovision_percent
            ),
            (3, 40)
        );
        assert_eq!(
            (safety.percent_floor, safety.max_deprovisions_per_window),
            (0, 9)
        );
        assert_eq!(safety.window, Duration::from_secs(5_400));
        assert_eq!(safety.removal_grace_period, Duration::ZERO);

        let rules = SyncRules {
            new_user: NewUserRule::CreatePending,
            user_disabled: LeaveRule::Ignore,
            user_deleted: LeaveRule::Delete,
            user_removed_from_group: LeaveRule::Remove,
            existing_user: Some(ExistingUserRule::Skip),
        };
        assert_eq!(
            plan::SyncRules::from(&rules),
            plan::SyncRules {
                new_user: plan::NewUserRule::CreatePending,
                user_disabled: plan::LeaveRule::Ignore,
                user_deleted: plan::LeaveRule::Delete,
                user_removed_from_group: plan::LeaveRule::Remove,
                existing_user: plan::ExistingUserRule::Skip,
            }
        );
        assert_eq!(
            plan::EmailAttribute::from(EmailAttribute::UserPrincipalName),
            plan::EmailAttribute::UserPrincipalName
        );
        let scope = UserScope {
            exclude_guests: true,
            email_domains: vec!["contoso.com".into()],
        };
        let scope = plan::UserScope::from(&scope);
        assert!(scope.exclude_guests);
        assert_eq!(scope.email_domains, ["contoso.com"]);
    }

    #[test]
    fn a_safety_record_survives_the_round_trip_through_the_status() {
        let at = |s: i64| k8s_openapi::jiff::Timestamp::from_second(1_800_000_000 + s).unwrap();
        let record = plan::SafetyRecord {
            owned_groups: vec!["g1".into()],
            spent: vec![plan::SpentChanges {
                time: at(10),
                changes: 4,
            }],
            leavers: vec![plan::Leaver {
                entra_id: "u1".into(),
                since: at(5),
            }],
            leaving_groups: vec![plan::Leaver {
                entra_id: "g2".into(),
                since: at(7),
            }],
            approvals_used: vec!["4-0123abcd".into()],
        };
        let status = SafetyRecord::from(&record);
        let json = serde_json::to_value(&status).expect("serializes");
        let read: SafetyRecord = serde_json::from_value(json).expect("reads back");
        assert_eq!(plan::SafetyRecord::from(&read), record);
    }
}
