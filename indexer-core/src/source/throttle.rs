//! Read-capacity throttling: a token bucket shared by every segment, fed by the capacity each
//! Scan page reports.
//!
//! A page's cost is known only after it is read (`ConsumedCapacity`), so each segment reserves its
//! estimate (what its previous page cost) before asking, and settles the difference afterwards.
//! The bucket starts empty and holds at most one second of units, so the rate over any stretch of
//! the run stays at the cap, with bursts bounded by one page per segment.

use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::Mutex;

/// A shared read-capacity budget of `rate` units per second.
#[derive(Debug)]
pub struct ReadLimiter {
    rate: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl ReadLimiter {
    pub fn new(rate: f64) -> ReadLimiter {
        ReadLimiter {
            rate: rate.max(0.001),
            state: Mutex::new(Bucket {
                tokens: 0.0,
                refilled: Instant::now(),
            }),
        }
    }

    /// How long to wait after taking `units` from a bucket refilled up to `now`.
    async fn take(&self, units: f64) -> Duration {
        let mut bucket = self.state.lock().await;
        let now = Instant::now();
        let refill = now.duration_since(bucket.refilled).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + refill).min(self.rate);
        bucket.refilled = now;
        bucket.tokens -= units;
        if bucket.tokens < 0.0 {
            Duration::from_secs_f64(-bucket.tokens / self.rate)
        } else {
            Duration::ZERO
        }
    }

    /// Reserves `units` before a read, waiting until the budget allows it.
    pub async fn reserve(&self, units: f64) {
        let wait = self.take(units).await;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Accounts for the difference between a reservation and what the read actually cost; the
    /// next reservation waits for any overdraft.
    pub async fn settle(&self, reserved: f64, actual: f64) {
        let _ = self.take(actual - reserved).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn reservations_are_paced_at_the_rate() {
        let limiter = ReadLimiter::new(100.0);
        let start = tokio::time::Instant::now();
        for _ in 0..10 {
            limiter.reserve(50.0).await;
        }
        // 500 units at 100 units/s, starting from an empty bucket.
        assert_eq!(start.elapsed().as_secs(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn an_underestimate_is_paid_back_by_the_next_reservation() {
        let limiter = ReadLimiter::new(10.0);
        limiter.settle(0.0, 20.0).await;
        let start = tokio::time::Instant::now();
        limiter.reserve(0.0).await;
        assert_eq!(start.elapsed().as_secs(), 2);
    }
}
