//! A long sync's progress in `status.message` ("Creating and updating accounts: 12,000 of
//! 100,000"): nothing for a sync shorter than the interval, then at most one write per interval,
//! and only when the progress moved. Only the message is written: the sync may have stored its
//! spending in `status.safety` meanwhile.

use std::time::Duration;

use kube::api::Api;
use tokio::sync::watch;
use tokio::time::Instant;

use super::reconcile::Watched;
use super::status_writer::write_message;
use crate::sync::progress::Progress;

/// Runs until aborted (when the sync ends) or the sync drops its sender.
pub async fn write_progress(
    api: Api<Watched>,
    name: String,
    mut watching: watch::Receiver<Progress>,
    every: Duration,
) {
    let mut written: Option<Progress> = None;
    loop {
        tokio::time::sleep_until(Instant::now() + every).await;
        if watching.has_changed().is_err() {
            return;
        }
        let progress = *watching.borrow_and_update();
        if written == Some(progress) {
            continue;
        }
        match write_message(&api, &name, &progress.to_string()).await {
            Ok(()) => written = Some(progress),
            Err(error) => tracing::debug!(%error, "progress not written; the sync goes on"),
        }
    }
}
