//! The one shutdown type: SIGTERM (ECS stopping a task) and SIGINT (Ctrl-C), listened to from
//! the moment a run starts, so a stop at any phase is seen and handled there.

/// SIGTERM and SIGINT, listened to from creation on.
pub struct Signals(Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>);

impl Default for Signals {
    fn default() -> Signals {
        Signals::new()
    }
}

impl Signals {
    pub fn new() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        Signals(
            signal(SignalKind::terminate())
                .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)))
                .ok(),
        )
    }

    pub async fn recv(&mut self) {
        match &mut self.0 {
            Some((term, int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::warn!("SIGTERM: stopping, saving checkpoints"),
                    _ = int.recv() => tracing::warn!("SIGINT: stopping, saving checkpoints"),
                }
            }
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Signals;

    #[tokio::test]
    async fn no_signal_means_recv_waits() {
        let mut signals = Signals::new();
        let waited = tokio::select! {
            _ = signals.recv() => false,
            _ = tokio::time::sleep(std::time::Duration::from_millis(300)) => true,
        };
        assert!(waited);
        let waited = tokio::select! {
            _ = signals.recv() => false,
            _ = tokio::time::sleep(std::time::Duration::from_millis(300)) => true,
        };
        assert!(waited);
    }
}
