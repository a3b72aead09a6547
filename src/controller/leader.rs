//! Leader election on a coordination.k8s.io Lease (kube-lease-manager): only the holder runs the
//! controller; the others stand by, ready, until the lease frees up.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::Api;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where the lease lives and how long it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderElection {
    pub lease_name: String,
    pub lease_namespace: String,
    /// How long a lease holds without renewal; the holder renews 5 s before it ends.
    pub lease_duration: Duration,
}

impl LeaderElection {
    pub fn new(lease_name: impl Into<String>, lease_namespace: impl Into<String>) -> Self {
        Self {
            lease_name: lease_name.into(),
            lease_namespace: lease_namespace.into(),
            lease_duration: Duration::from_secs(15),
        }
    }
}

/// Leader election failed to start.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot take part in leader election on Lease {namespace}/{name}: {source}; check that the \
     namespace exists and the service account may get, create and patch leases there"
)]
pub struct ElectionError {
    pub namespace: String,
    pub name: String,
    #[source]
    pub source: LeaseManagerError,
}

/// This process's candidacy: the lease manager runs in the background and reports whether we
/// hold the lease.
pub struct Candidate {
    leading: watch::Receiver<bool>,
    /// `leading`, ended early when the lease as last renewed is about to expire
    /// (`lease_watch`): what syncs follow.
    acting: watch::Receiver<bool>,
    watch_task: JoinHandle<()>,
    task: JoinHandle<Result<LeaseManager, LeaseManagerError>>,
    client: Client,
    election: LeaderElection,
    identity: String,
}

impl Candidate {
    pub async fn start(
        client: Client,
        election: LeaderElection,
        identity: String,
    ) -> Result<Self, ElectionError> {
        let duration = election.lease_duration.as_secs().max(2);
        let grace = (duration / 3).clamp(1, 5);
        let manager = LeaseManagerBuilder::new(client.clone(), &election.lease_name)
            .with_namespace(&election.lease_namespace)
            .with_identity(&identity)
            .with_duration(duration)
            .with_grace(grace)
            .build()
            .await
            .map_err(|source| ElectionError {
                namespace: election.lease_namespace.clone(),
                name: election.lease_name.clone(),
                source,
            })?;
        let (leading, task) = manager.watch().await;
        let (acting, watch_task) =
            super::lease_watch::spawn(client.clone(), &election, identity.clone(), leading.clone());
        Ok(Self {
            leading,
            acting,
            watch_task,
            task,
            client,
            election,
            identity,
        })
    }

    /// Resolves once this process holds the lease; false when the lease manager stopped.
    pub async fn leading(&self) -> bool {
        let mut leading = self.leading.clone();
        if leading.wait_for(|leading| *leading).await.is_err() {
            return false;
        }
        // The local lease watch follows a moment later.
        let mut acting = self.acting.clone();
        acting.wait_for(|acting| *acting).await.is_ok()
    }

    /// This process's leadership, for syncs to stop on its loss.
    pub fn leadership(&self) -> super::leadership::Leadership {
        super::leadership::Leadership::following(self.acting.clone())
    }

    /// Resolves when this process no longer holds the lease (or it is about to expire).
    pub fn lost(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let mut leading = self.acting.clone();
        async move {
            let _ = leading.wait_for(|leading| !*leading).await;
        }
    }

    /// Whether another live process holds the lease: the election has settled for a standby.
    pub async fn other_holder(&self) -> bool {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), &self.election.lease_namespace);
        match api.get_opt(&self.election.lease_name).await {
            Ok(Some(lease)) => lease
                .spec
                .and_then(|s| s.holder_identity)
                .is_some_and(|holder| !holder.is_empty() && holder != self.identity),
            Ok(None) => false,
            Err(error) => {
                tracing::debug!(%error, "cannot read the leader lease");
                false
            }
        }
    }

    /// Gives the lease up (if held) and stops the lease manager.
    pub async fn resign(self) {
        let Self {
            leading,
            acting,
            watch_task,
            task,
            ..
        } = self;
        watch_task.abort();
        drop(acting);
        drop(leading);
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Ok(_))) => tracing::info!("leader lease released"),
            Ok(Ok(Err(error))) => tracing::warn!(%error, "could not release the leader lease"),
            Ok(Err(error)) => tracing::warn!(%error, "lease manager task failed"),
            Err(_) => tracing::warn!("releasing the leader lease timed out"),
        }
    }
}
