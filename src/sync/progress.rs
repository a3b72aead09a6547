//! Progress of one sync, from the pipeline to whoever shows it (the CLI's line, the
//! controller's `status.message`). A `watch` channel: the pipeline overwrites the latest state,
//! each front end reads it at its own pace, and a slow reader never holds the sync back.

use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

/// Where a sync is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Reading Entra ID and Password Boss (both at once); `done` counts the requests made.
    Reading,
    /// Planning.
    Planning,
    /// Creating and updating accounts.
    Accounts,
    /// Creating and updating groups.
    Groups,
    /// Deleting groups.
    GroupDeletes,
    /// Disabling, removing or deleting accounts.
    Deprovisions,
}

/// The latest progress: a step, and for the apply steps how many of its actions are done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub step: Step,
    pub done: u64,
    pub total: u64,
}

impl Progress {
    pub fn step(step: Step) -> Self {
        Self {
            step,
            done: 0,
            total: 0,
        }
    }
}

impl fmt::Display for Progress {
    /// "Creating and updating accounts: 12,000 of 100,000".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.step {
            Step::Reading if self.done == 0 => {
                return f.write_str("Reading Entra ID and Password Boss");
            }
            Step::Reading => {
                return write!(
                    f,
                    "Reading Entra ID and Password Boss: {} requests so far",
                    thousands(self.done)
                );
            }
            Step::Planning => return f.write_str("Planning"),
            Step::Accounts => "Creating and updating accounts",
            Step::Groups => "Creating and updating groups",
            Step::GroupDeletes => "Deleting groups",
            Step::Deprovisions => "Deprovisioning accounts",
        };
        write!(
            f,
            "{what}: {} of {}",
            thousands(self.done),
            thousands(self.total)
        )
    }
}

/// `12345678` → `12,345,678`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The pipeline's end of the channel; cheap to clone, and a no-op when nobody listens.
#[derive(Clone, Debug, Default)]
pub struct ProgressSender(Option<Arc<watch::Sender<Progress>>>);

impl ProgressSender {
    /// A sender, and the receiver a front end watches.
    pub fn channel() -> (Self, watch::Receiver<Progress>) {
        let (tx, rx) = watch::channel(Progress::step(Step::Reading));
        (Self(Some(Arc::new(tx))), rx)
    }

    pub fn send(&self, progress: Progress) {
        if let Some(tx) = &self.0 {
            tx.send_replace(progress);
        }
    }
}

/// Progress is not an input of the sync: two requests differing only in it are equal.
impl PartialEq for ProgressSender {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_with_thousands_separators() {
        let p = Progress {
            step: Step::Accounts,
            done: 12_000,
            total: 100_000,
        };
        assert_eq!(
            p.to_string(),
            "Creating and updating accounts: 12,000 of 100,000"
        );
        let reading = Progress {
            step: Step::Reading,
            done: 1_500,
            total: 0,
        };
        assert_eq!(
            reading.to_string(),
            "Reading Entra ID and Password Boss: 1,500 requests so far"
        );
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn the_receiver_sees_the_latest_value_only() {
        let (tx, rx) = ProgressSender::channel();
        tx.send(Progress::step(Step::Planning));
        tx.send(Progress {
            step: Step::Deprovisions,
            done: 1,
            total: 2,
        });
        assert_eq!(rx.borrow().step, Step::Deprovisions);
        ProgressSender::default().send(Progress::step(Step::Planning));
    }
}
