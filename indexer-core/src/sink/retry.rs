//! Where retries are decided.
//!
//! Classification is explicit: 429 (too many requests), 5xx, timeouts and connection failures are
//! transient and retried; every other status is a verdict and is not. Waits follow capped
//! exponential backoff with full jitter (a uniformly random wait between zero and
//! `min(cap, base × 2^attempt)`), so many writers backing off at once spread out instead of
//! returning in lockstep.

use std::time::Duration;

use rand::Rng;

/// Whether an HTTP status from the cluster is worth retrying.
pub fn is_retriable_status(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

/// How many times and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first one.
    pub max_retries: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 8,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The upper bound of the wait before retry number `attempt` (0-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A full-jitter wait before retry number `attempt`: uniform in `[0, ceiling(attempt)]`.
    pub fn backoff(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(attempt).as_millis() as u64;
        Duration::from_millis(rng.random_range(0..=ceiling))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn throttling_and_server_errors_retry_and_verdicts_do_not() {
        for status in [429, 500, 502, 503, 504] {
            assert!(is_retriable_status(status), "{status}");
        }
        for status in [200, 201, 400, 401, 403, 404, 409, 413] {
            assert!(!is_retriable_status(status), "{status}");
        }
    }

    #[test]
    fn the_ceiling_doubles_until_the_cap() {
        let policy = RetryPolicy {
            max_retries: 10,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        let ceilings: Vec<u128> = (0..6).map(|a| policy.ceiling(a).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
    }

    proptest! {
        #[test]
        fn backoff_never_exceeds_the_ceiling_or_the_cap(attempt in 0u32..200, base_ms in 1u64..5_000, cap_ms in 1u64..60_000, seed: u64) {
            use rand::SeedableRng;
            let policy = RetryPolicy { max_retries: 8, base: Duration::from_millis(base_ms), cap: Duration::from_millis(cap_ms) };
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let wait = policy.backoff(attempt, &mut rng);
            prop_assert!(wait <= policy.ceiling(attempt));
            prop_assert!(wait <= Duration::from_millis(cap_ms));
        }
    }
}
