//! The event an operator sends (the console's Test button, a pipeline, the nightly schedule),
//! parsed strictly and validated into a [`Request`] before anything is started.
//!
//! Property names are matched case-insensitively, as the original tool's serializer matched
//! them, so its runbooks' `DynamoTable` or `INDEXNAME` keep working; a name that matches no
//! field, whatever its case, is refused rather than ignored: a misspelt `dry_run` must not start
//! a real rebuild. Names and the URL go through the same validated types as the worker's CLI,
//! and the host must be one the launcher allows ([`crate::hosts`]). Each optional field belongs
//! to the modes that use it (`ids` to resync, the tuning to rebuild, `jobId` to abandon, …) and
//! is refused with any other, so nothing an operator asks for is silently dropped. The rules
//! for `workers` are the worker's own, checked here so a bad split is refused before any task
//! starts.

use std::fmt;

use indexer_core::rebuild::MAX_WORKERS;
use indexer_core::validate::{IndexName, NodeUrl, TableName, redact_urls_in};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::hosts::AllowedHosts;
use crate::invalid::field;
use crate::tuning::{self, Tuning};

mod fields;
#[cfg(test)]
mod tests;

pub use crate::invalid::InvalidEvent;
pub use fields::{JobId, MAX_JOBS_LIMIT};

/// Most Scan segments a run may ask for.
pub const MAX_SEGMENTS: i64 = 1_000_000;

/// The segments the worker scans with when the event names none (its `SEGMENTS` default).
pub const DEFAULT_SEGMENTS: u32 = 8;

/// Longest `ids` list once joined with commas, in bytes. The ids travel to the task in one
/// environment variable, and ECS caps all the overrides of a task at 8 KiB.
pub const MAX_IDS_BYTES: usize = 4096;

/// The event as sent, its property names already matched to these (camelCase) ones.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawEvent {
    #[serde(default)]
    pub dynamo_table: Option<String>,
    #[serde(default)]
    pub index_node_host: Option<String>,
    pub index_name: String,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub ids: Option<Vec<String>>,
    /// Signed so that a negative count gets the range message, not a type error; so are the
    /// other counts below.
    #[serde(default)]
    pub segments: Option<i64>,
    #[serde(default)]
    pub dry_run: Option<bool>,
    #[serde(default)]
    pub workers: Option<i64>,
    #[serde(default)]
    pub max_read_units: Option<f64>,
    #[serde(default)]
    pub max_errors: Option<i64>,
    #[serde(default)]
    pub min_ratio: Option<f64>,
    #[serde(default)]
    pub keep: Option<i64>,
    #[serde(default)]
    pub concurrency: Option<i64>,
    #[serde(default)]
    pub stop_timeout: Option<i64>,
    #[serde(default)]
    pub job_id: Option<String>,
    #[serde(default)]
    pub keep_index: Option<bool>,
    #[serde(default)]
    pub fix: Option<bool>,
    #[serde(default)]
    pub max_changes: Option<i64>,
    #[serde(default)]
    pub limit: Option<i64>,
}

/// What the event asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Build a fresh index and swap the alias onto it (the default).
    Rebuild,
    /// Upsert everything in place and delete orphans.
    Sync,
    /// Compare table and index and report drift (`fix: true` repairs it).
    Verify,
    /// Re-read the named items and upsert (or delete) them.
    Resync,
    /// The alias's live index, kept indexes, running and last jobs: answered at once.
    Status,
    /// The alias's jobs, newest first: answered at once.
    Jobs,
    /// Give up on a running, hung or interrupted job.
    Abandon,
    /// Point the alias back to the previous kept index.
    Rollback,
}

impl Mode {
    pub const ALL: [Mode; 8] = [
        Mode::Rebuild,
        Mode::Sync,
        Mode::Verify,
        Mode::Resync,
        Mode::Status,
        Mode::Jobs,
        Mode::Abandon,
        Mode::Rollback,
    ];

    /// The name used in events, in `MODE` and as the worker's subcommand.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Rebuild => "rebuild",
            Mode::Sync => "sync",
            Mode::Verify => "verify",
            Mode::Resync => "resync",
            Mode::Status => "status",
            Mode::Jobs => "jobs",
            Mode::Abandon => "abandon",
            Mode::Rollback => "rollback",
        }
    }

    /// Whether the mode runs as an ECS task; `status` and `jobs` are answered by the launcher.
    pub fn runs_task(self) -> bool {
        !matches!(self, Mode::Status | Mode::Jobs)
    }

    /// Whether the mode reads the table, so `dynamoTable` is required.
    pub fn reads_table(self) -> bool {
        matches!(
            self,
            Mode::Rebuild | Mode::Sync | Mode::Verify | Mode::Resync
        )
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What validation needs beyond the event: the launcher's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRules {
    pub allowed_hosts: AllowedHosts,
    /// The environment's tuning for a rebuild when the event names none.
    pub defaults: Tuning,
    /// The longest `stopTimeout` the task's own stop timeout leaves room for.
    pub max_stop_timeout: u64,
}

/// A validated request: every value here is one the worker accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Present for every mode that reads the table.
    pub table: Option<TableName>,
    pub host: NodeUrl,
    pub alias: IndexName,
    pub mode: Mode,
    /// Non-empty exactly when `mode` is `resync`.
    pub ids: Vec<String>,
    pub segments: Option<u32>,
    pub dry_run: Option<bool>,
    /// How many ECS tasks share the rebuild; `None` means one. Above one only with mode
    /// `rebuild`, without a dry run, and never more than the segments.
    pub workers: Option<u32>,
    /// A rebuild's tuning, the event's over the environment's defaults; empty for other modes.
    pub tuning: Tuning,
    /// `abandon`: the job to abandon (default: the one holding the lock, or the interrupted one)
    /// and whether to keep its building index.
    pub job_id: Option<JobId>,
    pub keep_index: bool,
    /// `verify`: repair the drift, changing at most `max_changes` documents.
    pub fix: bool,
    pub max_changes: Option<u64>,
    /// `jobs`: how many to list.
    pub limit: Option<u32>,
}

impl Request {
    /// Parses and validates an event as Lambda delivers it.
    pub fn from_event(event: Value, rules: &EventRules) -> Result<Request, InvalidEvent> {
        let Value::Object(object) = event else {
            return Err(InvalidEvent(format!(
                "the event must be a JSON object with dynamoTable, indexNodeHost and indexName (got {})",
                kind_of(&event)
            )));
        };
        let event = Value::Object(fields::canonical_names(object)?);
        let raw: RawEvent = serde_path_to_error::deserialize(event).map_err(|error| {
            let path = error.path().to_string();
            // The reader quotes the value it refused: a URL there may carry a password.
            let inner = redact_urls_in(&error.into_inner().to_string());
            if path.is_empty() || path == "." {
                InvalidEvent(inner)
            } else {
                field(&path, inner)
            }
        })?;
        Request::validate(raw, rules)
    }

    fn validate(raw: RawEvent, rules: &EventRules) -> Result<Request, InvalidEvent> {
        let mode = match raw.mode.as_deref() {
            None => Mode::Rebuild,
            Some(text) => Mode::ALL
                .into_iter()
                .find(|mode| mode.as_str() == text)
                .ok_or_else(|| {
                    field(
                        "mode",
                        format!(
                            "{text:?} is not a mode; use rebuild (the default), sync, verify, resync, status, jobs, abandon or rollback"
                        ),
                    )
                })?,
        };
        let table = match (raw.dynamo_table.as_deref(), mode.reads_table()) {
            (Some(table), _) => {
                Some(TableName::try_from(table).map_err(|e| field("dynamoTable", e))?)
            }
            (None, false) => None,
            (None, true) => {
                return Err(field(
                    "dynamoTable",
                    format!("missing; mode {:?} reads the table", mode.as_str()),
                ));
            }
        };
        let alias =
            IndexName::try_from(raw.index_name.as_str()).map_err(|e| field("indexName", e))?;
        let host = rules.allowed_hosts.check(raw.index_node_host.as_deref())?;

        fields::only_with(&raw, mode)?;
        let tuning = if mode == Mode::Rebuild {
            event_tuning(&raw, rules)?.or(rules.defaults)
        } else {
            Tuning::default()
        };
        let ids = validate_ids(mode, raw.ids)?;
        let segments = match raw.segments {
            None => None,
            Some(n) if (1..=MAX_SEGMENTS).contains(&n) => u32::try_from(n).ok(),
            Some(n) => {
                return Err(field(
                    "segments",
                    format!("{n} is out of range; use 1 to {MAX_SEGMENTS}"),
                ));
            }
        };
        let workers = validate_workers(raw.workers, mode, segments, raw.dry_run)?;
        let fix = raw.fix.unwrap_or(false);
        if raw.max_changes.is_some() && !fix {
            return Err(field(
                "maxChanges",
                "only allowed with `fix: true` (it caps the documents a repair changes)",
            ));
        }
        Ok(Request {
            table,
            host,
            alias,
            mode,
            ids,
            segments,
            dry_run: raw.dry_run,
            workers,
            tuning,
            job_id: raw.job_id.as_deref().map(JobId::parse).transpose()?,
            keep_index: raw.keep_index.unwrap_or(false),
            fix,
            max_changes: raw
                .max_changes
                .map(|n| tuning::count(n).map_err(|e| field("maxChanges", e)))
                .transpose()?,
            limit: raw.limit.map(fields::limit).transpose()?,
        })
    }
}

/// The tuning the event names, each value checked against the worker's range.
fn event_tuning(raw: &RawEvent, rules: &EventRules) -> Result<Tuning, InvalidEvent> {
    fn check<T>(name: &str, result: Result<T, String>) -> Result<T, InvalidEvent> {
        result.map_err(|e| field(name, e))
    }
    Ok(Tuning {
        max_read_units: raw
            .max_read_units
            .map(|v| check("maxReadUnits", tuning::read_units(v)))
            .transpose()?,
        max_errors: raw
            .max_errors
            .map(|v| check("maxErrors", tuning::count(v)))
            .transpose()?,
        min_ratio: raw
            .min_ratio
            .map(|v| check("minRatio", tuning::ratio(v)))
            .transpose()?,
        keep: raw
            .keep
            .map(|v| check("keep", tuning::keep(v)))
            .transpose()?,
        concurrency: raw
            .concurrency
            .map(|v| check("concurrency", tuning::concurrency(v)))
            .transpose()?,
        stop_timeout: raw
            .stop_timeout
            .map(|v| {
                check(
                    "stopTimeout",
                    tuning::stop_timeout(v, rules.max_stop_timeout),
                )
            })
            .transpose()?,
    })
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The worker's own rules for splitting a rebuild, so a bad split fails here and not in K tasks.
fn validate_workers(
    workers: Option<i64>,
    mode: Mode,
    segments: Option<u32>,
    dry_run: Option<bool>,
) -> Result<Option<u32>, InvalidEvent> {
    let Some(n) = workers else {
        return Ok(None);
    };
    let workers = u32::try_from(n)
        .ok()
        .filter(|n| (1..=MAX_WORKERS).contains(n))
        .ok_or_else(|| {
            field(
                "workers",
                format!("{n} is out of range; use 1 to {MAX_WORKERS}"),
            )
        })?;
    if workers == 1 {
        return Ok(Some(1));
    }
    if mode != Mode::Rebuild {
        return Err(field(
            "workers",
            format!(
                "{workers} workers are only allowed with mode \"rebuild\" (the mode is {:?}); other modes run as one task",
                mode.as_str()
            ),
        ));
    }
    if dry_run == Some(true) {
        return Err(field(
            "workers",
            format!(
                "{workers} workers are not allowed with `dryRun: true`: a dry run writes nothing, so there is nothing to split; drop one of the two"
            ),
        ));
    }
    let (total, which) = match segments {
        Some(segments) => (segments, "`segments`"),
        None => (DEFAULT_SEGMENTS, "the default `segments`"),
    };
    if workers > total {
        return Err(field(
            "workers",
            format!(
                "{workers} workers are more than {which} of {total}: each worker needs a segment of its own; set `segments` to at least {workers}"
            ),
        ));
    }
    Ok(Some(workers))
}

fn validate_ids(mode: Mode, ids: Option<Vec<String>>) -> Result<Vec<String>, InvalidEvent> {
    let ids = match (mode, ids) {
        (Mode::Resync, Some(ids)) if !ids.is_empty() => ids,
        (Mode::Resync, _) => {
            return Err(field(
                "ids",
                "mode \"resync\" needs a non-empty list of the ids of the items to re-read",
            ));
        }
        (_, None) => return Ok(Vec::new()),
        (other, Some(_)) => {
            return Err(field(
                "ids",
                format!(
                    "only allowed with mode \"resync\" (the mode is {:?})",
                    other.as_str()
                ),
            ));
        }
    };
    for (i, id) in ids.iter().enumerate() {
        if id.is_empty() {
            return Err(field(&format!("ids[{i}]"), "an id must not be empty"));
        }
        if id.contains(',') || id.chars().any(char::is_control) {
            return Err(field(
                &format!("ids[{i}]"),
                format!(
                    "{id:?} must not contain commas or control characters (the ids are passed comma-separated)"
                ),
            ));
        }
    }
    let joined = ids.iter().map(String::len).sum::<usize>() + ids.len() - 1;
    if joined > MAX_IDS_BYTES {
        return Err(field(
            "ids",
            format!(
                "{} ids take {joined} bytes comma-separated; at most {MAX_IDS_BYTES} fit in one task's overrides, so split them over several runs",
                ids.len()
            ),
        ));
    }
    Ok(ids)
}

/// Keeps [`Map`] in the signature of [`fields::canonical_names`] readable.
type Object = Map<String, Value>;
