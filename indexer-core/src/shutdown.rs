//! The one shutdown type: SIGTERM (ECS stopping a task), SIGINT (Ctrl-C), SIGHUP (the terminal
//! or the SSH session went away) — and, for a worker started by `--workers K` on one machine,
//! a line on its standard input from the parent (or the parent's end closing: it died).
//!
//! The process listens once, from the moment the command line is parsed ([`listen`]); every
//! [`Signals`] sees every stop the process received since then, in order. So a signal that
//! arrives during start-up checks is seen by the run as soon as it starts listening, and none of
//! these signals falls back to the default action (killing the process with nothing recorded).
//! The listener belongs to the runtime that first called [`listen`]: one per process.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::Notify;

/// Stops received by the process.
static COUNT: AtomicU64 = AtomicU64::new(0);
/// Wakes those waiting for the next stop.
static NOTIFY: Notify = Notify::const_new();
/// Whether the listeners are installed.
static LISTENING: OnceLock<bool> = OnceLock::new();
/// Whether the running command handles a first stop itself (see [`arm`]).
static ARMED: AtomicBool = AtomicBool::new(false);

/// Set by the parent of local workers: stop lines arrive on standard input.
pub const STOP_PIPE_ENV: &str = "INDEXER_STOP_PIPE";

fn received_one(what: &str) {
    let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    tracing::warn!(signal = what, count = n, "{what}: stopping");
    NOTIFY.notify_waiters();
}

/// Starts listening for SIGTERM, SIGINT and SIGHUP (once per process; later calls do nothing).
/// Must be called inside the runtime. `false` when no handler could be installed.
pub fn listen() -> bool {
    *LISTENING.get_or_init(|| {
        use tokio::signal::unix::{SignalKind, signal};
        let mut any = false;
        for (kind, name) in [
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::hangup(), "SIGHUP"),
        ] {
            if let Ok(mut stream) = signal(kind) {
                any = true;
                tokio::spawn(async move {
                    while stream.recv().await.is_some() {
                        received_one(name);
                    }
                });
            }
        }
        if std::env::var_os(STOP_PIPE_ENV).is_some() {
            any = true;
            // A thread of its own: reading standard input blocks.
            std::thread::spawn(|| {
                use std::io::BufRead;
                for line in std::io::stdin().lock().lines() {
                    if line.is_err() {
                        break;
                    }
                    received_one("stop from the parent process");
                }
                received_one("the parent process is gone");
            });
        }
        any
    })
}

/// Says that the running command now handles a first stop itself (it is about to write, and
/// stops by recording where it got to). Until then a first stop ends a command at once.
/// `false` when a stop has already arrived: the caller must not start writing.
#[must_use]
pub fn arm() -> bool {
    ARMED.store(true, Ordering::SeqCst);
    received() == 0
}

/// [`arm`], or the error that ends `what` when a stop came first (nothing written yet).
pub fn arm_for(what: &str) -> Result<(), crate::error::Error> {
    if arm() {
        Ok(())
    } else {
        Err(crate::error::Error::Interrupted(format!(
            "{what} stopped by a signal before it wrote anything"
        )))
    }
}

/// Whether the running command handles a first stop itself (see [`arm`]).
pub fn armed() -> bool {
    ARMED.load(Ordering::SeqCst)
}

/// How many stops the process has received so far.
pub fn received() -> u64 {
    COUNT.load(Ordering::SeqCst)
}

/// One listener's view of the process's stops: each `recv` returns once per stop received
/// since the process started listening.
pub struct Signals {
    seen: u64,
}

impl Default for Signals {
    fn default() -> Signals {
        Signals::new()
    }
}

impl Signals {
    /// A listener that will see every stop since the process started listening (and starts
    /// listening if nobody has yet).
    pub fn new() -> Signals {
        listen();
        Signals { seen: 0 }
    }

    /// Stops received and not yet returned by [`Signals::recv`].
    pub fn pending(&self) -> u64 {
        received().saturating_sub(self.seen)
    }

    /// Waits for the next stop this listener has not seen yet.
    pub async fn recv(&mut self) {
        loop {
            let notified = NOTIFY.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if received() > self.seen {
                self.seen += 1;
                return;
            }
            notified.await;
        }
    }

    /// Waits until the process has received `n` stops in all.
    pub async fn until(&mut self, n: u64) {
        while self.seen < n {
            self.recv().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Signals;

    #[tokio::test]
    async fn no_signal_means_recv_waits() {
        let mut signals = Signals::new();
        assert_eq!(signals.pending(), 0);
        let waited = tokio::select! {
            _ = signals.recv() => false,
            _ = tokio::time::sleep(std::time::Duration::from_millis(300)) => true,
        };
        assert!(waited);
    }
}
