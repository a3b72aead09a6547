//! Shards: N operator replica sets split the connectors, each reconciling only its own.
//!
//! **Which shard.** A connector belongs to shard `fnv1a64(namespace) % N`: the 64-bit FNV-1a
//! hash of its namespace's name (UTF-8 bytes), nothing else. No label or annotation takes part,
//! so a tenant cannot choose its shard by relabelling its objects; every connector of a
//! namespace is on one shard. The hash is fixed (not std's randomised hasher): the same
//! namespace lands on the same shard in every version and every process (`tests` pins values).
//!
//! Every replica still watches and caches every connector (they are small): the company claims
//! (`companies`) judge a claim's holder from the cache, whichever shard it is on, so the
//! one-connector-per-company rule (the older wins) holds across shards. Only a connector of its
//! own shard is ever reconciled: the others' watch events are dropped before they reach the
//! controller (`run`), so no status, Event, claim or Password Boss write is made for them.
//!
//! **One Lease per shard.** Shard I of N stands for leader election on `<leaseName>-shard-I-of-N`
//! (N = 1: `<leaseName>` itself, as before sharding, so an upgrade keeps its lease); standby
//! replicas of a shard wait for that shard's lease as before. Every shard Lease carries the
//! label `passwordboss.com/shard-lease=true` so that the topology check lists only them.
//!
//! **Resharding.** Changing N moves connectors between shards, so a replica of the new topology
//! must not write while one of the old still may. The rule, followed by every replica:
//!
//! > A replica runs its controller only after it has acquired its shard Lease and *then* found
//! > no live Lease (held, `renewTime + leaseDurationSeconds` not passed) of another topology
//! > (another N). Finding one, it gives its own Lease up and stands again once none is live.
//!
//! Invariant: two replicas of different topologies never run their controllers at the same
//! time. Suppose X and Y did, X having acquired its Lease first. X holds its Lease, live, from
//! its acquisition through all the time it runs (it stops `lease_watch::EXPIRY_MARGIN` before
//! the Lease as last renewed expires, and a new acquisition starts a new check). Y checked after
//! its own acquisition, hence after X's, while X was holding: Y saw X's Lease live and did not
//! run. Clock skew between the replicas within the margin is tolerated as for leader election.
//!
//! A replica of the old topology that stops gracefully (SIGTERM, as when Helm rolls the
//! Deployments for a new `shards`) releases its Lease at once; a crashed one's expires after the
//! lease duration (15 s). Waiting replicas report ready (they are settled standbys), so rolling
//! updates proceed. An operator of a version before sharding does not check: change the shard
//! count only once every replica runs a version that does.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};

use super::api_error::api_message;

/// Label on every shard Lease (value `true`): the topology check lists Leases by it.
pub const LABEL_SHARD_LEASE: &str = "passwordboss.com/shard-lease";

/// One shard of N: this process reconciles the connectors of namespaces hashed to `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

/// A shard that cannot be.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("--shards must be at least 1 (it is {count})")]
    NoShards { count: u32 },
    #[error(
        "--shard {index} is not one of the {count} shards: give a shard from 0 to {} (each \
         Deployment of the chart runs one)",
        count.saturating_sub(1)
    )]
    OutOfRange { index: u32, count: u32 },
}

impl Default for Shard {
    fn default() -> Self {
        Self::single()
    }
}

impl Shard {
    /// Shard `index` of `count`.
    pub fn new(index: u32, count: u32) -> Result<Self, ShardError> {
        if count == 0 {
            return Err(ShardError::NoShards { count });
        }
        if index >= count {
            return Err(ShardError::OutOfRange { index, count });
        }
        Ok(Self { index, count })
    }

    /// No sharding: the one shard owns every connector.
    pub fn single() -> Self {
        Self { index: 0, count: 1 }
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether the connectors of `namespace` are this shard's.
    pub fn owns(&self, namespace: &str) -> bool {
        shard_of(namespace, self.count) == self.index
    }

    /// The name of this shard's leader Lease, from the configured `lease_name`.
    pub fn lease_name(&self, lease_name: &str) -> String {
        if self.count == 1 {
            lease_name.to_owned()
        } else {
            format!("{lease_name}-shard-{}-of-{}", self.index, self.count)
        }
    }

    /// The topology (shard count) a Lease named `name` is a shard Lease of, for leases of
    /// `lease_name`; `None` for any other Lease.
    pub fn topology_of(lease_name: &str, name: &str) -> Option<u32> {
        if name == lease_name {
            return Some(1);
        }
        let rest = name.strip_prefix(lease_name)?.strip_prefix("-shard-")?;
        let (index, count) = rest.split_once("-of-")?;
        let shard = Self::new(index.parse().ok()?, count.parse().ok()?).ok()?;
        // Only the canonical spelling (no leading zeros, no sign).
        (shard.lease_name(lease_name) == name).then_some(shard.count)
    }
}

/// The 64-bit FNV-1a hash of `bytes` (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The shard (of `count`) owning the connectors of `namespace`.
pub fn shard_of(namespace: &str, count: u32) -> u32 {
    let shard = fnv1a64(namespace.as_bytes()) % u64::from(count.max(1));
    u32::try_from(shard).unwrap_or(0)
}

/// Whether `lease` is held and not expired at `now`. A held Lease that does not say when it was
/// renewed or for how long counts as live: it is not ours to judge it over.
pub fn is_live(lease: &Lease, now: SystemTime) -> bool {
    let Some(spec) = lease.spec.as_ref() else {
        return false;
    };
    if spec.holder_identity.as_deref().is_none_or(str::is_empty) {
        return false;
    }
    let (Some(renewed), Some(seconds)) = (spec.renew_time.as_ref(), spec.lease_duration_seconds)
    else {
        return true;
    };
    let renewed: SystemTime = renewed.0.into();
    let seconds = u64::try_from(seconds).unwrap_or(0);
    renewed
        .checked_add(Duration::from_secs(seconds))
        .is_none_or(|expiry| now < expiry)
}

/// The topology check could not read the Leases.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot read the shard Leases in namespace {namespace}: {message}; check that the operator \
     may get, list, create and patch leases (coordination.k8s.io) there (the Helm chart's RBAC \
     grants it)"
)]
pub struct TopologyError {
    pub namespace: String,
    pub message: String,
}

/// The shard Leases of the operator whose leases are named after `lease_name`, in one namespace.
#[derive(Clone)]
pub struct ShardLeases {
    api: Api<Lease>,
    namespace: String,
    lease_name: String,
    shard: Shard,
}

impl ShardLeases {
    pub fn new(client: Client, namespace: &str, lease_name: &str, shard: Shard) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            lease_name: lease_name.to_owned(),
            shard,
        }
    }

    fn error(&self, e: &kube::Error) -> TopologyError {
        TopologyError {
            namespace: self.namespace.clone(),
            message: api_message(e),
        }
    }

    /// Makes sure this shard's Lease exists and carries `LABEL_SHARD_LEASE`, so that replicas
    /// of other topologies find it. Changes nothing of who holds it.
    pub async fn label_own(&self) -> Result<(), TopologyError> {
        let name = self.shard.lease_name(&self.lease_name);
        let labels = BTreeMap::from([(LABEL_SHARD_LEASE.to_owned(), "true".to_owned())]);
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(labels.clone()),
                ..ObjectMeta::default()
            },
            spec: None,
        };
        match self.api.create(&PostParams::default(), &lease).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => return Err(self.error(&e)),
        }
        let patch = serde_json::json!({"metadata": {"labels": labels}});
        self.api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(|_| ())
            .map_err(|e| self.error(&e))
    }

    /// The live shard Leases of other topologies (their names), as of now. The Lease of one
    /// shard (`<leaseName>`) is also read by name, in case a version that did not label it
    /// holds it.
    pub async fn other_topologies_live(&self) -> Result<Vec<String>, TopologyError> {
        let mut leases = self
            .api
            .list(&ListParams::default().labels(&format!("{LABEL_SHARD_LEASE}=true")))
            .await
            .map_err(|e| self.error(&e))?
            .items;
        if !leases.iter().any(|l| l.name_any() == self.lease_name) {
            leases.extend(
                self.api
                    .get_opt(&self.lease_name)
                    .await
                    .map_err(|e| self.error(&e))?,
            );
        }
        let now = SystemTime::now();
        Ok(leases
            .iter()
            .filter(|lease| {
                Shard::topology_of(&self.lease_name, &lease.name_any())
                    .is_some_and(|count| count != self.shard.count)
            })
            .filter(|lease| is_live(lease, now))
            .map(ResourceExt::name_any)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    #[test]
    fn the_hash_is_fnv1a_and_stable_across_versions() {
        // The published FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        // Pinned: changing any of these moves tenants between shards on upgrade.
        assert_eq!(shard_of("msp-contoso", 2), 1);
        assert_eq!(shard_of("msp-fabrikam", 2), 1);
        assert_eq!(shard_of("msp-contoso", 3), 1);
        assert_eq!(shard_of("msp-fabrikam", 3), 2);
        assert_eq!(shard_of("default", 4), 2);
        assert_eq!(shard_of("anything", 1), 0);
    }

    #[test]
    fn every_namespace_has_exactly_one_owner() {
        for count in 1..=5 {
            let shards: Vec<Shard> = (0..count).map(|i| Shard::new(i, count).unwrap()).collect();
            for n in 0..200 {
                let ns = format!("tenant-{n}");
                let owners = shards.iter().filter(|s| s.owns(&ns)).count();
                assert_eq!(owners, 1, "{ns} of {count}");
            }
        }
        assert!(Shard::single().owns("anything"));
    }

    #[test]
    fn shards_are_validated() {
        assert_eq!(Shard::new(0, 0), Err(ShardError::NoShards { count: 0 }));
        let e = Shard::new(3, 3).unwrap_err();
        assert_eq!(e, ShardError::OutOfRange { index: 3, count: 3 });
        assert!(e.to_string().contains("from 0 to 2"), "{e}");
        assert_eq!(Shard::new(2, 3).unwrap().index(), 2);
    }

    #[test]
    fn lease_names_name_the_topology() {
        let base = "pbconnector-leader";
        assert_eq!(Shard::single().lease_name(base), base, "as before sharding");
        let s = Shard::new(1, 3).unwrap();
        assert_eq!(s.lease_name(base), "pbconnector-leader-shard-1-of-3");
        assert_eq!(Shard::topology_of(base, base), Some(1));
        assert_eq!(
            Shard::topology_of(base, "pbconnector-leader-shard-1-of-3"),
            Some(3)
        );
        for other in [
            "pbconnector-company-0123",
            "pbconnector-leader-shard-3-of-3",
            "pbconnector-leader-shard-01-of-3",
            "pbconnector-leader-shard-1-of-3x",
            "other-leader-shard-0-of-2",
            "pbconnector-leader-x",
        ] {
            assert_eq!(Shard::topology_of(base, other), None, "{other}");
        }
    }

    fn lease(holder: Option<&str>, renewed: Option<SystemTime>, seconds: Option<i32>) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_owned),
                renew_time: renewed.map(|t| MicroTime(t.try_into().unwrap())),
                lease_duration_seconds: seconds,
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        }
    }

    #[test]
    fn a_lease_is_live_while_held_and_unexpired() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let held = lease(Some("pod-a"), Some(t), Some(15));
        assert!(is_live(&held, t + Duration::from_secs(14)));
        assert!(!is_live(&held, t + Duration::from_secs(15)));
        assert!(!is_live(&lease(None, Some(t), Some(15)), t), "released");
        assert!(!is_live(&lease(Some(""), Some(t), Some(15)), t), "released");
        assert!(
            is_live(
                &lease(Some("pod-a"), None, None),
                t + Duration::from_secs(3600)
            ),
            "held, no expiry said: live"
        );
        assert!(!is_live(&Lease::default(), t), "never held");
    }
}
