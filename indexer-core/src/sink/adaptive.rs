//! Adaptive bulk concurrency: additive increase, multiplicative decrease (AIMD).
//!
//! The writers start with one request in flight. Each bulk request that goes through cleanly
//! adds `1/current`, so the limit grows by one per round of successful requests, up to the
//! maximum. A sign of pressure — a 429 or 5xx on the request or any of its items, a timeout, or a
//! latency spike (three times the recent average and over a second) — halves it, at most once per
//! round so one burst of failures is one decrease, never below one. The cluster sets the pace:
//! a busy cluster gets fewer concurrent requests, a healthy one more.

use std::time::Duration;

/// What a finished bulk request says about the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The request went through without throttling or server errors, in `latency`.
    Healthy { latency: Duration },
    /// Throttling, server errors, timeouts or resets.
    Pressure,
}

/// The AIMD state.
#[derive(Debug, Clone)]
pub struct Aimd {
    max: usize,
    current: f64,
    highest: usize,
    average_latency: Option<f64>,
    /// Signals to ignore after a decrease: requests already in flight when it happened.
    cooldown: usize,
}

impl Aimd {
    pub fn new(max: usize) -> Aimd {
        Aimd {
            max: max.max(1),
            current: 1.0,
            highest: 1,
            average_latency: None,
            cooldown: 0,
        }
    }

    /// Requests allowed in flight now.
    pub fn limit(&self) -> usize {
        (self.current.floor() as usize).clamp(1, self.max)
    }

    /// The highest limit reached so far.
    pub fn highest(&self) -> usize {
        self.highest
    }

    /// Feeds one request's outcome; returns the new limit if it changed.
    pub fn observe(&mut self, signal: Signal) -> Option<usize> {
        let before = self.limit();
        let pressure = match signal {
            Signal::Pressure => true,
            Signal::Healthy { latency } => {
                let seconds = latency.as_secs_f64();
                let spike = self
                    .average_latency
                    .is_some_and(|avg| seconds > 3.0 * avg && seconds > 1.0);
                let average = self
                    .average_latency
                    .map_or(seconds, |avg| 0.8 * avg + 0.2 * seconds);
                self.average_latency = Some(average);
                spike
            }
        };
        if self.cooldown > 0 {
            self.cooldown -= 1;
            if pressure {
                return None;
            }
        }
        if pressure {
            self.current = (self.current / 2.0).max(1.0);
            self.cooldown = before;
        } else {
            self.current = (self.current + 1.0 / self.current).min(self.max as f64);
        }
        let after = self.limit();
        self.highest = self.highest.max(after);
        (after != before).then_some(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FAST: Signal = Signal::Healthy {
        latency: Duration::from_millis(50),
    };

    #[test]
    fn concurrency_grows_by_one_per_round_of_healthy_requests_up_to_the_maximum() {
        let mut aimd = Aimd::new(4);
        assert_eq!(aimd.limit(), 1);
        assert_eq!(aimd.observe(FAST), Some(2));
        assert_eq!(aimd.observe(FAST), None);
        assert_eq!(aimd.observe(FAST), None);
        assert_eq!(aimd.observe(FAST), Some(3));
        for _ in 0..20 {
            aimd.observe(FAST);
        }
        assert_eq!(aimd.limit(), 4);
        assert_eq!(aimd.highest(), 4);
    }

    #[test]
    fn pressure_halves_concurrency_once_per_burst_and_it_recovers() {
        let mut aimd = Aimd::new(8);
        for _ in 0..40 {
            aimd.observe(FAST);
        }
        assert_eq!(aimd.limit(), 8);
        assert_eq!(aimd.observe(Signal::Pressure), Some(4));
        assert_eq!(
            aimd.observe(Signal::Pressure),
            None,
            "the in-flight burst counts once"
        );
        for _ in 0..60 {
            aimd.observe(FAST);
        }
        assert_eq!(aimd.limit(), 8, "it recovers");
    }

    #[test]
    fn a_latency_spike_counts_as_pressure() {
        let mut aimd = Aimd::new(4);
        for _ in 0..20 {
            aimd.observe(Signal::Healthy {
                latency: Duration::from_millis(400),
            });
        }
        assert_eq!(aimd.limit(), 4);
        assert_eq!(
            aimd.observe(Signal::Healthy {
                latency: Duration::from_secs(5)
            }),
            Some(2)
        );
    }

    proptest! {
        #[test]
        fn the_limit_stays_between_one_and_the_maximum(max in 1usize..64, signals in proptest::collection::vec(any::<Option<u16>>(), 0..300)) {
            let mut aimd = Aimd::new(max);
            for signal in signals {
                let signal = match signal {
                    None => Signal::Pressure,
                    Some(ms) => Signal::Healthy { latency: Duration::from_millis(u64::from(ms)) },
                };
                aimd.observe(signal);
                prop_assert!((1..=max).contains(&aimd.limit()));
                prop_assert!(aimd.highest() <= max);
            }
        }
    }
}
