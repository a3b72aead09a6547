//! Shows a sync's progress on stderr (stdout stays the command's output): on a terminal one
//! line redrawn in place, otherwise a plain line when the step changes and every few seconds.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::sync::progress::{Progress, ProgressSender};

/// How often a non-terminal gets a line within one step.
const PLAIN_EVERY: Duration = Duration::from_secs(5);
/// How often the terminal line is redrawn at most.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// A display running until `finish`.
pub struct Display {
    task: JoinHandle<()>,
    terminal: bool,
}

impl Display {
    /// Starts showing what `ProgressSender` will send.
    pub fn start() -> (ProgressSender, Self) {
        let (tx, rx) = ProgressSender::channel();
        let terminal = std::io::stderr().is_terminal();
        let task = tokio::spawn(show(rx, terminal));
        (tx, Self { task, terminal })
    }

    /// Stops the display and clears the terminal line.
    pub async fn finish(self) {
        self.task.abort();
        let _ = self.task.await;
        if self.terminal {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

async fn show(mut rx: watch::Receiver<Progress>, terminal: bool) {
    let mut last: Option<(Progress, tokio::time::Instant)> = None;
    loop {
        let now = tokio::time::Instant::now();
        let progress = *rx.borrow_and_update();
        let due = match &last {
            None => true,
            Some((p, _)) if p.step != progress.step => true,
            Some((_, at)) => {
                now.duration_since(*at) >= if terminal { REDRAW_EVERY } else { PLAIN_EVERY }
            }
        };
        if due {
            let mut err = std::io::stderr().lock();
            if terminal {
                let _ = write!(err, "\r\x1b[2K{progress}");
            } else {
                let _ = writeln!(err, "progress: {progress}");
            }
            let _ = err.flush();
            last = Some((progress, now));
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}
