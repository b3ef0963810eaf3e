//! A rebuild's tuning: how hard it may read the table and load the cluster, and what its gate
//! tolerates. Each value has the worker's own range and reaches it as the environment variable
//! its flag reads. Values come from the event, else from the environment's defaults (terraform
//! sets them on the launcher as `DEFAULT_*`), else the worker's own defaults apply.

use serde::Serialize;

/// Most bulk requests in flight the worker accepts (`--concurrency`).
pub const MAX_CONCURRENCY: i64 = 64;

/// The stop timeout allowed when the launcher is not told the task's (`MAX_STOP_TIMEOUT_SECS`):
/// the worker's default, which fits ECS's default of 30 s between SIGTERM and SIGKILL.
pub const DEFAULT_MAX_STOP_TIMEOUT_SECS: u64 = 25;

/// Tuning values, each validated; `None` leaves the next default in place.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tuning {
    /// Read-capacity units per second, all segments together (`MAX_READ_UNITS`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_read_units: Option<f64>,
    /// Dead-lettered items the gate tolerates (`MAX_ERRORS`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_errors: Option<u64>,
    /// New count ≥ ratio × live count (`MIN_RATIO`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_ratio: Option<f64>,
    /// Previous physical indexes kept for rollback (`KEEP`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep: Option<u64>,
    /// Most bulk requests in flight (`CONCURRENCY`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Seconds SIGTERM may take to drain in-flight work (`STOP_TIMEOUT_SECS`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u64>,
}

impl Tuning {
    /// Whether any value is set.
    pub fn is_empty(&self) -> bool {
        *self == Tuning::default()
    }

    /// Each value of `self`, else of `defaults`.
    pub fn or(self, defaults: Tuning) -> Tuning {
        Tuning {
            max_read_units: self.max_read_units.or(defaults.max_read_units),
            max_errors: self.max_errors.or(defaults.max_errors),
            min_ratio: self.min_ratio.or(defaults.min_ratio),
            keep: self.keep.or(defaults.keep),
            concurrency: self.concurrency.or(defaults.concurrency),
            stop_timeout: self.stop_timeout.or(defaults.stop_timeout),
        }
    }

    /// The worker's environment variables for the values set.
    pub fn environment(&self) -> Vec<(String, String)> {
        let mut environment = Vec::new();
        let mut push = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                environment.push((name.to_owned(), value));
            }
        };
        push("MAX_READ_UNITS", self.max_read_units.map(|v| v.to_string()));
        push("MAX_ERRORS", self.max_errors.map(|v| v.to_string()));
        push("MIN_RATIO", self.min_ratio.map(|v| v.to_string()));
        push("KEEP", self.keep.map(|v| v.to_string()));
        push("CONCURRENCY", self.concurrency.map(|v| v.to_string()));
        push(
            "STOP_TIMEOUT_SECS",
            self.stop_timeout.map(|v| v.to_string()),
        );
        environment
    }
}

/// The value checks, shared by the event and the launcher's defaults. Each error is the rule,
/// to follow the name of the field or variable.
pub fn read_units(value: f64) -> Result<f64, String> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(format!(
            "{value} must be a positive number of read-capacity units per second"
        ))
    }
}

pub fn ratio(value: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is not between 0 and 1"))
    }
}

pub fn count(value: i64) -> Result<u64, String> {
    u64::try_from(value).map_err(|_| format!("{value} must be 0 or more"))
}

/// Kept indexes: at least 1, since the index a rebuild replaces is what rollback returns to.
pub fn keep(value: i64) -> Result<u64, String> {
    u64::try_from(value)
        .ok()
        .filter(|&keep| keep >= 1)
        .ok_or_else(|| {
            format!("{value} is out of range; use 1 or more (the index just replaced is always kept for rollback)")
        })
}

pub fn concurrency(value: i64) -> Result<u32, String> {
    u32::try_from(value)
        .ok()
        .filter(|_| (1..=MAX_CONCURRENCY).contains(&value))
        .ok_or_else(|| format!("{value} is out of range; use 1 to {MAX_CONCURRENCY}"))
}

pub fn stop_timeout(value: i64, max: u64) -> Result<u64, String> {
    u64::try_from(value)
        .ok()
        .filter(|v| *v <= max)
        .ok_or_else(|| {
            format!(
                "{value} is out of range; use 0 to {max} seconds (the task's stopTimeout less the time to save checkpoints)"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_value_keeps_the_worker_range() {
        assert_eq!(read_units(500.5), Ok(500.5));
        for bad in [0.0, -1.0, f64::INFINITY, f64::NAN] {
            assert!(read_units(bad).is_err(), "{bad}");
        }
        assert_eq!(ratio(0.0), Ok(0.0));
        assert_eq!(ratio(1.0), Ok(1.0));
        assert!(ratio(1.01).expect_err("over").contains("between 0 and 1"));
        assert_eq!(count(0), Ok(0));
        assert!(count(-1).expect_err("negative").contains("0 or more"));
        assert_eq!(concurrency(64), Ok(64));
        for bad in [0, 65, -3] {
            assert!(concurrency(bad).expect_err("range").contains("1 to 64"));
        }
        assert_eq!(stop_timeout(110, 110), Ok(110));
        assert!(
            stop_timeout(111, 110)
                .expect_err("over")
                .contains("0 to 110 seconds")
        );
        assert!(stop_timeout(-1, 110).is_err());
    }

    #[test]
    fn event_values_win_over_defaults_and_become_the_worker_variables() {
        let defaults = Tuning {
            max_read_units: Some(1000.0),
            keep: Some(2),
            ..Tuning::default()
        };
        let event = Tuning {
            max_read_units: Some(250.0),
            min_ratio: Some(0.75),
            stop_timeout: Some(60),
            ..Tuning::default()
        };
        let tuning = event.or(defaults);
        assert_eq!(
            tuning.environment(),
            [
                ("MAX_READ_UNITS", "250"),
                ("MIN_RATIO", "0.75"),
                ("KEEP", "2"),
                ("STOP_TIMEOUT_SECS", "60"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert!(Tuning::default().is_empty());
        assert!(Tuning::default().environment().is_empty());
    }
}
