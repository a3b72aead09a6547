//! Whether this process may write: always without leader election; with it, only while it holds
//! the lease. A sync in flight is stopped the moment the lease is lost (see `while_leading`), so a
//! replica that lost its lease makes no Password Boss write once it knows.

use std::future::Future;

use tokio::sync::watch;

/// This process's leadership as seen by running syncs. Cloning shares it.
#[derive(Clone, Debug, Default)]
pub struct Leadership {
    /// `None`: no leader election, this process always leads.
    leading: Option<watch::Receiver<bool>>,
}

impl Leadership {
    /// No leader election: never lost.
    pub fn always() -> Self {
        Self::default()
    }

    /// Follows `leading` (true while the lease is held); a closed channel counts as lost.
    pub fn following(leading: watch::Receiver<bool>) -> Self {
        Self {
            leading: Some(leading),
        }
    }

    /// Whether this process leads now.
    pub fn is_leading(&self) -> bool {
        match &self.leading {
            None => true,
            Some(rx) => *rx.borrow() && rx.has_changed().is_ok(),
        }
    }

    /// Resolves once leadership is lost (never without leader election).
    pub fn lost(&self) -> impl Future<Output = ()> + Send + 'static {
        let leading = self.leading.clone();
        async move {
            match leading {
                None => std::future::pending::<()>().await,
                Some(mut rx) => {
                    let _ = rx.wait_for(|leading| !*leading).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn lost_resolves_when_the_lease_goes_or_the_manager_stops() {
        assert!(Leadership::always().is_leading());
        assert!(Leadership::always().lost().now_or_never().is_none());

        let (tx, rx) = watch::channel(true);
        let leadership = Leadership::following(rx);
        assert!(leadership.is_leading());
        assert!(leadership.lost().now_or_never().is_none());
        tx.send(false).unwrap();
        assert!(!leadership.is_leading());
        assert!(leadership.lost().now_or_never().is_some());

        let (tx, rx) = watch::channel(true);
        let leadership = Leadership::following(rx);
        drop(tx);
        assert!(!leadership.is_leading());
        assert!(leadership.lost().now_or_never().is_some());
    }
}
