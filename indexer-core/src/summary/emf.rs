//! CloudWatch metrics with no extra infrastructure: the Embedded Metric Format (EMF).
//!
//! CloudWatch Logs reads EMF from any JSON log event whose root holds an `_aws` member naming
//! metrics; on ECS both stdout and stderr go to the task's log stream. So the run's summary line
//! (stdout) and, on long runs, each JSON progress line (stderr) carry:
//!
//! ```json
//! {"_aws": {"Timestamp": 1764504000000, "CloudWatchMetrics": [{"Namespace": "indexer",
//!   "Dimensions": [["alias", "mode"]], "Metrics": [{"Name": "indexed", "Unit": "Count"}, …]}]},
//!  "alias": "persons", "mode": "rebuild", "indexed": 1200, …}
//! ```
//!
//! Every metric's value is a number at the root under the metric's name ([`METRICS`]): the
//! summary's own fields where it has them (`scanned`, `indexed`, `dead_lettered`, `seconds`,
//! `docs_per_s`), and for `verify`/`sync` the drift counts copied to the root (`drift_missing`,
//! `drift_extra`, `drift_stale`). A metric is declared only when its value is present. The
//! dimensions are the root's `alias` and `mode` strings (`mode` alone when there is no alias).

use std::sync::OnceLock;

use chrono::Utc;
use serde_json::{Map, Value, json};

/// The namespace used unless configured.
pub const DEFAULT_NAMESPACE: &str = "indexer";

/// A CloudWatch metric namespace: 1 to 255 characters among letters, digits and `. - _ / # :`
/// and spaces, not blank, not starting with the reserved `AWS/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace(String);

impl std::str::FromStr for Namespace {
    type Err = String;

    fn from_str(text: &str) -> Result<Namespace, String> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c);
        if text.trim().is_empty() || text.len() > 255 || !text.chars().all(allowed) {
            return Err(format!(
                "the metrics namespace {text:?} is not a CloudWatch namespace: 1 to 255 letters, digits, spaces and . - _ / # :"
            ));
        }
        if text.starts_with("AWS/") {
            return Err(format!(
                "the metrics namespace {text:?} starts with AWS/, which CloudWatch reserves"
            ));
        }
        Ok(Namespace(text.to_owned()))
    }
}

impl Namespace {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How this process emits metrics; set once at start ([`configure`]).
#[derive(Debug, Clone)]
pub struct Config {
    pub namespace: Namespace,
    /// Logs are JSON lines: only then do progress lines carry metrics.
    pub json_logs: bool,
}

static CONFIG: OnceLock<Config> = OnceLock::new();

pub fn configure(config: Config) {
    let _ = CONFIG.set(config);
}

fn namespace() -> &'static str {
    CONFIG
        .get()
        .map(|config| config.namespace.as_str())
        .unwrap_or(DEFAULT_NAMESPACE)
}

/// Whether progress lines are JSON and so carry metrics.
pub fn json_logs() -> bool {
    CONFIG.get().is_some_and(|config| config.json_logs)
}

/// A metric: its name (and root member), its CloudWatch unit, and where its value is read from
/// (JSON pointers, first number found).
pub struct Metric {
    pub name: &'static str,
    pub unit: &'static str,
    from: &'static [&'static str],
}

/// Every metric a line can carry.
pub const METRICS: &[Metric] = &[
    Metric {
        name: "scanned",
        unit: "Count",
        from: &["/scanned", "/drift/scanned"],
    },
    Metric {
        name: "indexed",
        unit: "Count",
        from: &["/indexed"],
    },
    Metric {
        name: "dead_lettered",
        unit: "Count",
        from: &["/dead_lettered"],
    },
    Metric {
        name: "seconds",
        unit: "Seconds",
        from: &["/seconds"],
    },
    Metric {
        name: "docs_per_s",
        unit: "Count/Second",
        from: &["/docs_per_s"],
    },
    Metric {
        name: "drift_missing",
        unit: "Count",
        from: &["/drift/missing/count"],
    },
    Metric {
        name: "drift_extra",
        unit: "Count",
        from: &["/drift/extra/count"],
    },
    Metric {
        name: "drift_stale",
        unit: "Count",
        from: &["/drift/stale/count"],
    },
];

/// The metrics of a periodic progress line: the same figures under names of their own, so that a
/// `Sum` of the summary's metrics counts each run once, not once per progress line.
pub const PROGRESS_METRICS: &[Metric] = &[
    Metric {
        name: "progress_scanned",
        unit: "Count",
        from: &["/scanned"],
    },
    Metric {
        name: "progress_indexed",
        unit: "Count",
        from: &["/indexed"],
    },
    Metric {
        name: "progress_dead_lettered",
        unit: "Count",
        from: &["/dead_lettered"],
    },
    Metric {
        name: "progress_docs_per_s",
        unit: "Count/Second",
        from: &["/docs_per_s"],
    },
    // A follower's: the age of the oldest record not yet applied, and of its last checkpoint.
    Metric {
        name: "progress_lag_s",
        unit: "Seconds",
        from: &["/lag_s"],
    },
    Metric {
        name: "progress_checkpoint_age_s",
        unit: "Seconds",
        from: &["/checkpoint_age_s"],
    },
];

/// The dimension keys, in order; each is used when the root holds it as a non-empty string.
pub const DIMENSIONS: &[&str] = &["alias", "mode"];

/// Adds the metrics found in `line` and its `_aws` directive, stamped now, in the configured
/// namespace. Leaves `line` untouched when it is not an object or holds none of the metrics.
pub fn embed(line: &mut Value) {
    embed_at(line, namespace(), Utc::now().timestamp_millis());
}

/// Whether a line is the summary of a worker that did not finish its split job: it carries the
/// job's totals too, so only the finisher's line is metered, and the job is counted once.
fn counted_elsewhere(line: &Value) -> bool {
    line.pointer("/worker/finisher") == Some(&Value::Bool(false))
}

pub(crate) fn embed_at(line: &mut Value, namespace: &str, timestamp_ms: i64) {
    if counted_elsewhere(line) {
        return;
    }
    embed_metrics(line, METRICS, namespace, timestamp_ms);
}

fn embed_metrics(line: &mut Value, metrics: &[Metric], namespace: &str, timestamp_ms: i64) {
    let found: Vec<(&Metric, Value)> = metrics
        .iter()
        .filter_map(|metric| {
            let value = metric
                .from
                .iter()
                .filter_map(|pointer| line.pointer(pointer))
                .find(|value| value.is_number())?;
            Some((metric, value.clone()))
        })
        .collect();
    let Some(root) = line.as_object_mut() else {
        return;
    };
    let mut definitions = Vec::new();
    for (metric, value) in found {
        match root.get(metric.name) {
            Some(existing) if !existing.is_number() => continue,
            _ => {
                root.insert(metric.name.to_owned(), value);
            }
        }
        definitions.push(json!({ "Name": metric.name, "Unit": metric.unit }));
    }
    if definitions.is_empty() {
        return;
    }
    let dimensions: Vec<&str> = DIMENSIONS
        .iter()
        .copied()
        .filter(|key| {
            root.get(*key)
                .and_then(Value::as_str)
                .is_some_and(|v| !v.trim().is_empty() && v.len() <= 1024)
        })
        .collect();
    root.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dimensions],
                "Metrics": definitions,
            }],
        }),
    );
}

/// A progress line in the shape of the JSON logs (`timestamp`, `level`, `message`, the fields),
/// with the run's dimensions and its metrics embedded.
pub fn progress_line(alias: &str, mode: &str, fields: Map<String, Value>) -> Value {
    let mut line = json!({
        "timestamp": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "level": "INFO",
        "message": "progress",
        "target": "indexer_core::progress",
        "alias": alias,
        "mode": mode,
    });
    if let Some(root) = line.as_object_mut() {
        root.extend(fields);
    }
    embed_metrics(
        &mut line,
        PROGRESS_METRICS,
        namespace(),
        Utc::now().timestamp_millis(),
    );
    line
}

#[cfg(test)]
mod tests;
