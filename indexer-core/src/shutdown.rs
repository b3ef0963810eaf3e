//! The one shutdown type: SIGTERM (ECS stopping a task) and SIGINT (Ctrl-C).
//!
//! The process listens once, from the moment the command line is parsed ([`listen`]); every
//! [`Signals`] sees every signal the process received since then, in order. So a signal that
//! arrives during start-up checks is seen by the run as soon as it starts listening, and no
//! signal ever falls back to the default action (killing the process with nothing recorded).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

/// Signals received by the process, and a wake-up for those waiting for the next one.
struct Received {
    count: AtomicU64,
    notify: Notify,
}

static RECEIVED: OnceLock<Option<Received>> = OnceLock::new();

/// Starts listening for SIGTERM and SIGINT (once per process; later calls do nothing). Must be
/// called inside the runtime. `false` when the handlers cannot be installed.
pub fn listen() -> bool {
    RECEIVED
        .get_or_init(|| {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate()).ok()?;
            let mut int = signal(SignalKind::interrupt()).ok()?;
            tokio::spawn(async move {
                loop {
                    let name = tokio::select! {
                        Some(()) = term.recv() => "SIGTERM",
                        Some(()) = int.recv() => "SIGINT",
                        else => break,
                    };
                    if let Some(Some(received)) = RECEIVED.get() {
                        let n = received.count.fetch_add(1, Ordering::SeqCst) + 1;
                        tracing::warn!(signal = name, count = n, "{name}: stopping");
                        received.notify.notify_waiters();
                    }
                }
            });
            Some(Received {
                count: AtomicU64::new(0),
                notify: Notify::new(),
            })
        })
        .is_some()
}

static ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Says that the running command now handles a first signal itself (it is about to write, and
/// stops by recording where it got to). Until then a first signal stops a command at once.
pub fn arm() {
    ARMED.store(true, Ordering::SeqCst);
}

/// Whether the running command handles a first signal itself (see [`arm`]).
pub fn armed() -> bool {
    ARMED.load(Ordering::SeqCst)
}

/// How many signals the process has received so far.
pub fn received() -> u64 {
    match RECEIVED.get() {
        Some(Some(received)) => received.count.load(Ordering::SeqCst),
        _ => 0,
    }
}

/// One listener's view of the process's signals: each `recv` returns once per signal received
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
    /// A listener that will see every signal since the process started listening (and starts
    /// listening if nobody has yet).
    pub fn new() -> Signals {
        listen();
        Signals { seen: 0 }
    }

    /// Signals received and not yet returned by [`Signals::recv`].
    pub fn pending(&self) -> u64 {
        received().saturating_sub(self.seen)
    }

    /// Waits for the next signal this listener has not seen yet.
    pub async fn recv(&mut self) {
        let Some(Some(received)) = RECEIVED.get() else {
            return std::future::pending().await;
        };
        loop {
            let notified = received.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if received.count.load(Ordering::SeqCst) > self.seen {
                self.seen += 1;
                return;
            }
            notified.await;
        }
    }

    /// Waits until the process has received `n` signals in all.
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
