//! Per-connector gauges, labelled `namespace` and `name`: what a fleet's alerts and dashboard
//! read. A fixed set of series per connector (at most 15: ready, 4 connection states, last
//! success, interval, users in scope, 3 managed-user statuses, conflicts, held deprovisions by
//! cause (the safety limits, the fleet-wide freeze), credential expiry, quarantined), set from the status the controller computes after each sync and removed
//! when the connector is deleted or this process stops leading.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::resources::{AzureAdConnectorStatus, CONDITION_READY, Connection};
use crate::sync::target::TargetKind;

/// The connector a series is about.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectorLabels {
    pub namespace: String,
    pub name: String,
}

/// A connector and one of its connection states.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectorStateLabels {
    pub namespace: String,
    pub name: String,
    pub state: String,
}

/// A connector and the target it provisions (`passwordboss` or `scim`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectorTargetLabels {
    pub namespace: String,
    pub name: String,
    pub target: String,
}

/// A connector and a status of its managed users.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectorUsersLabels {
    pub namespace: String,
    pub name: String,
    pub status: String,
}

/// A connector and why its deprovisions are held: `SafetyLimitExceeded` (an approval releases
/// them) or `Frozen` (the operator's fleet-wide freeze; only lifting it does).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectorHeldLabels {
    pub namespace: String,
    pub name: String,
    pub cause: String,
}

const HELD_CAUSES: [&str; 2] = ["SafetyLimitExceeded", "Frozen"];

const STATES: [Connection; 4] = [
    Connection::WaitingForConnection,
    Connection::Connected,
    Connection::Unauthorized,
    Connection::Error,
];
const TARGETS: [TargetKind; 2] = [TargetKind::PasswordBoss, TargetKind::Scim];
const USER_STATUSES: [&str; 3] = ["active", "pending", "disabled"];

/// The per-connector families.
#[derive(Clone, Default)]
pub struct ConnectorMetrics {
    pub ready: Family<ConnectorLabels, Gauge>,
    pub connection: Family<ConnectorStateLabels, Gauge>,
    pub last_success: Family<ConnectorLabels, Gauge>,
    pub interval: Family<ConnectorLabels, Gauge>,
    pub users_in_scope: Family<ConnectorLabels, Gauge>,
    pub managed_users: Family<ConnectorUsersLabels, Gauge>,
    pub conflicts: Family<ConnectorLabels, Gauge>,
    pub held_deprovisions: Family<ConnectorHeldLabels, Gauge>,
    pub credential_expiry: Family<ConnectorLabels, Gauge>,
    pub quarantined: Family<ConnectorTargetLabels, Gauge>,
}

impl ConnectorMetrics {
    /// Registers every family in `registry` (names under its prefix).
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "connector_ready",
            "1 when the connector's Ready condition is True, else 0",
            m.ready.clone(),
        );
        registry.register(
            "connector_connection",
            "1 for the connector's connection state, 0 for the other three",
            m.connection.clone(),
        );
        registry.register(
            "connector_last_success_timestamp_seconds",
            "Unix time the connector's last successful sync ended",
            m.last_success.clone(),
        );
        registry.register(
            "connector_interval_seconds",
            "The connector's sync interval (spec.interval)",
            m.interval.clone(),
        );
        registry.register(
            "connector_users_in_scope",
            "Entra users in the connector's sync group",
            m.users_in_scope.clone(),
        );
        registry.register(
            "connector_managed_users",
            "Password Boss users the connector manages, by status",
            m.managed_users.clone(),
        );
        registry.register(
            "connector_conflicts",
            "Per-user conflicts of the connector's last sync",
            m.conflicts.clone(),
        );
        registry.register(
            "connector_held_deprovisions",
            "Deprovisions held back, by cause: SafetyLimitExceeded (until approved) or Frozen \
             (the operator's fleet-wide freeze)",
            m.held_deprovisions.clone(),
        );
        registry.register(
            "connector_credential_expiry_timestamp_seconds",
            "Unix time the connector's Entra certificate or client secret expires",
            m.credential_expiry.clone(),
        );
        registry.register(
            "connector_quarantined",
            "1 while the connector is quarantined (its credentials were refused in a way waiting \
             will not fix; attempts back off to the quarantine ceiling), else 0",
            m.quarantined.clone(),
        );
        m
    }

    /// Sets the connector's series from the status computed for it (written or not).
    pub fn observe(
        &self,
        namespace: &str,
        name: &str,
        status: &AzureAdConnectorStatus,
        interval: Duration,
    ) {
        let labels = labels(namespace, name);
        let ready = status
            .conditions
            .iter()
            .any(|c| c.type_ == CONDITION_READY && c.status == "True");
        self.ready.get_or_create(&labels).set(ready.into());
        for state in STATES {
            self.connection
                .get_or_create(&state_labels(namespace, name, state))
                .set((status.connection == state).into());
        }
        match &status.last_successful_sync_time {
            Some(time) => {
                self.last_success
                    .get_or_create(&labels)
                    .set(time.0.as_second());
            }
            None => {
                self.last_success.remove(&labels);
            }
        }
        self.interval
            .get_or_create(&labels)
            .set(interval.as_secs() as i64);
        let users = &status.users;
        self.users_in_scope
            .get_or_create(&labels)
            .set(users.in_scope.into());
        for (kind, n) in
            USER_STATUSES
                .into_iter()
                .zip([users.active, users.pending, users.disabled])
        {
            self.managed_users
                .get_or_create(&users_labels(namespace, name, kind))
                .set(n.into());
        }
        self.conflicts
            .get_or_create(&labels)
            .set(status.last_sync.conflicts.into());
        for cause in HELD_CAUSES {
            let held = status
                .blocked
                .as_ref()
                .filter(|b| (cause == "Frozen") == b.frozen)
                .map_or(0, |b| b.deprovisions);
            self.held_deprovisions
                .get_or_create(&held_labels(namespace, name, cause))
                .set(held.into());
        }
    }

    /// Sets (or, with `None`: removes) the connector's credential expiry.
    pub fn set_credential_expiry(&self, namespace: &str, name: &str, at: Option<Timestamp>) {
        let labels = labels(namespace, name);
        match at {
            Some(at) => {
                self.credential_expiry
                    .get_or_create(&labels)
                    .set(at.as_second());
            }
            None => {
                self.credential_expiry.remove(&labels);
            }
        }
    }

    /// Sets whether the connector (provisioning `target`) is quarantined.
    pub fn set_quarantined(&self, namespace: &str, name: &str, target: TargetKind, on: bool) {
        for other in TARGETS.into_iter().filter(|t| *t != target) {
            self.quarantined
                .remove(&target_labels(namespace, name, other));
        }
        self.quarantined
            .get_or_create(&target_labels(namespace, name, target))
            .set(on.into());
    }

    /// Removes every series of a deleted connector.
    pub fn forget(&self, namespace: &str, name: &str) {
        let labels = labels(namespace, name);
        for family in [
            &self.ready,
            &self.last_success,
            &self.interval,
            &self.users_in_scope,
            &self.conflicts,
            &self.credential_expiry,
        ] {
            family.remove(&labels);
        }
        for cause in HELD_CAUSES {
            self.held_deprovisions
                .remove(&held_labels(namespace, name, cause));
        }
        for state in STATES {
            self.connection
                .remove(&state_labels(namespace, name, state));
        }
        for kind in USER_STATUSES {
            self.managed_users
                .remove(&users_labels(namespace, name, kind));
        }
        for target in TARGETS {
            self.quarantined
                .remove(&target_labels(namespace, name, target));
        }
    }

    /// Removes every connector's series (this process stopped reconciling them).
    pub fn clear(&self) {
        for family in [
            &self.ready,
            &self.last_success,
            &self.interval,
            &self.users_in_scope,
            &self.conflicts,
            &self.credential_expiry,
        ] {
            family.clear();
        }
        self.held_deprovisions.clear();
        self.connection.clear();
        self.managed_users.clear();
        self.quarantined.clear();
    }
}

fn labels(namespace: &str, name: &str) -> ConnectorLabels {
    ConnectorLabels {
        namespace: namespace.into(),
        name: name.into(),
    }
}

fn held_labels(namespace: &str, name: &str, cause: &str) -> ConnectorHeldLabels {
    ConnectorHeldLabels {
        namespace: namespace.into(),
        name: name.into(),
        cause: cause.into(),
    }
}

fn state_labels(namespace: &str, name: &str, state: Connection) -> ConnectorStateLabels {
    ConnectorStateLabels {
        namespace: namespace.into(),
        name: name.into(),
        state: state.as_str().into(),
    }
}

fn target_labels(namespace: &str, name: &str, target: TargetKind) -> ConnectorTargetLabels {
    ConnectorTargetLabels {
        namespace: namespace.into(),
        name: name.into(),
        target: target.as_str().into(),
    }
}

fn users_labels(namespace: &str, name: &str, status: &str) -> ConnectorUsersLabels {
    ConnectorUsersLabels {
        namespace: namespace.into(),
        name: name.into(),
        status: status.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{Blocked, SyncCounts, UserCounts};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn encode(registry: &Registry) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, registry).unwrap();
        out
    }

    #[test]
    fn a_connector_has_a_fixed_set_of_series_and_none_once_forgotten() {
        let mut registry = Registry::with_prefix("pbconnector");
        let m = ConnectorMetrics::register(&mut registry);
        let status = AzureAdConnectorStatus {
            connection: Connection::Connected,
            last_successful_sync_time: Some(Time(Timestamp::from_second(1_800_000_000).unwrap())),
            users: UserCounts {
                in_scope: 812,
                active: 800,
                pending: 4,
                disabled: 8,
            },
            last_sync: SyncCounts {
                conflicts: 3,
                ..Default::default()
            },
            blocked: Some(Blocked {
                deprovisions: 242,
                ..Default::default()
            }),
            ..Default::default()
        };
        m.observe("msp-a", "contoso", &status, Duration::from_secs(60));
        m.observe("msp-a", "contoso", &status, Duration::from_secs(60));
        m.set_credential_expiry(
            "msp-a",
            "contoso",
            Timestamp::from_second(1_900_000_000).ok(),
        );
        m.observe("msp-b", "fabrikam", &status, Duration::from_secs(60));
        let text = encode(&registry);
        let series = |who: &str| {
            text.lines()
                .filter(|l| !l.starts_with('#') && l.contains(who))
                .count()
        };
        assert_eq!(series("name=\"contoso\""), 15, "{text}");
        for line in [
            "pbconnector_connector_ready{namespace=\"msp-a\",name=\"contoso\"} 0",
            "pbconnector_connector_connection{namespace=\"msp-a\",name=\"contoso\",state=\"Connected\"} 1",
            "pbconnector_connector_connection{namespace=\"msp-a\",name=\"contoso\",state=\"Error\"} 0",
            "pbconnector_connector_last_success_timestamp_seconds{namespace=\"msp-a\",name=\"contoso\"} 1800000000",
            "pbconnector_connector_managed_users{namespace=\"msp-a\",name=\"contoso\",status=\"pending\"} 4",
            "pbconnector_connector_held_deprovisions{namespace=\"msp-a\",name=\"contoso\",cause=\"SafetyLimitExceeded\"} 242",
            "pbconnector_connector_held_deprovisions{namespace=\"msp-a\",name=\"contoso\",cause=\"Frozen\"} 0",
            "pbconnector_connector_conflicts{namespace=\"msp-a\",name=\"contoso\"} 3",
            "pbconnector_connector_credential_expiry_timestamp_seconds{namespace=\"msp-a\",name=\"contoso\"} 1900000000",
        ] {
            assert!(text.contains(line), "missing {line} in {text}");
        }
        m.forget("msp-a", "contoso");
        let text = encode(&registry);
        assert!(!text.contains("contoso"), "{text}");
        assert!(text.contains("fabrikam"), "{text}");
        m.clear();
        assert!(!encode(&registry).contains("fabrikam"));
    }
}
