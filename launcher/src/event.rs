//! The event an operator sends (the console's Test button, a pipeline, the nightly schedule),
//! parsed strictly and validated into a [`Request`] before anything is started.
//!
//! The three fields of the original tool are required and keep their names; everything else is
//! optional. Unknown fields are refused rather than ignored: a misspelt `dryrun` must not start a
//! real rebuild. Names and the URL go through the same validated types as the worker's CLI, so
//! the launcher refuses exactly what the worker would. The same goes for `workers`: its range and
//! its rules (only for `rebuild`, never for a dry run, no more workers than segments) are the
//! worker's, checked here so a bad split is refused before any task starts.

use std::fmt;

use indexer_core::rebuild::MAX_WORKERS;
use indexer_core::validate::{IndexName, NodeUrl, TableName};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most Scan segments a run may ask for.
pub const MAX_SEGMENTS: i64 = 1_000_000;

/// The segments the worker scans with when the event names none (its `SEGMENTS` default).
pub const DEFAULT_SEGMENTS: u32 = 8;

/// Longest `ids` list once joined with commas, in bytes. The ids travel to the task in one
/// environment variable, and ECS caps all the overrides of a task at 8 KiB.
pub const MAX_IDS_BYTES: usize = 4096;

/// The event as sent. Field names are the original tool's (camelCase).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawEvent {
    pub dynamo_table: String,
    pub index_node_host: String,
    pub index_name: String,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub ids: Option<Vec<String>>,
    /// Signed so that a negative count gets the range message below, not a type error.
    #[serde(default)]
    pub segments: Option<i64>,
    #[serde(default)]
    pub dry_run: Option<bool>,
    /// Signed for the same reason as `segments`.
    #[serde(default)]
    pub workers: Option<i64>,
}

/// What the worker does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Build a fresh index and swap the alias onto it (the default).
    Rebuild,
    /// Upsert everything in place and delete orphans.
    Sync,
    /// Compare table and index and report drift.
    Verify,
    /// Re-read the named items and upsert (or delete) them.
    Resync,
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Rebuild, Mode::Sync, Mode::Verify, Mode::Resync];

    /// The name used in events, in `MODE` and as the worker's subcommand.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Rebuild => "rebuild",
            Mode::Sync => "sync",
            Mode::Verify => "verify",
            Mode::Resync => "resync",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated request: every value here is one the worker accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub table: TableName,
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
}

/// The event was refused; the message names the field and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid event: {0}")]
pub struct InvalidEvent(pub String);

fn field(name: &str, rule: impl fmt::Display) -> InvalidEvent {
    InvalidEvent(format!("field `{name}`: {rule}"))
}

impl Request {
    /// Parses and validates an event as Lambda delivers it.
    pub fn from_event(event: Value) -> Result<Request, InvalidEvent> {
        if !event.is_object() {
            return Err(InvalidEvent(format!(
                "the event must be a JSON object with dynamoTable, indexNodeHost and indexName (got {})",
                kind_of(&event)
            )));
        }
        let raw: RawEvent = serde_path_to_error::deserialize(event).map_err(|error| {
            let path = error.path().to_string();
            let inner = error.into_inner();
            if path.is_empty() || path == "." {
                InvalidEvent(inner.to_string())
            } else {
                field(&path, inner)
            }
        })?;
        Request::try_from(raw)
    }
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

impl TryFrom<RawEvent> for Request {
    type Error = InvalidEvent;

    fn try_from(raw: RawEvent) -> Result<Request, InvalidEvent> {
        let table =
            TableName::try_from(raw.dynamo_table.as_str()).map_err(|e| field("dynamoTable", e))?;
        let host = NodeUrl::try_from(raw.index_node_host.as_str())
            .map_err(|e| field("indexNodeHost", e))?;
        let alias =
            IndexName::try_from(raw.index_name.as_str()).map_err(|e| field("indexName", e))?;
        let mode = match raw.mode.as_deref() {
            None => Mode::Rebuild,
            Some(text) => Mode::ALL
                .into_iter()
                .find(|mode| mode.as_str() == text)
                .ok_or_else(|| {
                    field(
                        "mode",
                        format!("{text:?} is not a mode; use rebuild (the default), sync, verify or resync"),
                    )
                })?,
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
        Ok(Request {
            table,
            host,
            alias,
            mode,
            ids,
            segments,
            dry_run: raw.dry_run,
            workers,
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CONSOLE: &str = include_str!("../fixtures/console-event.json");

    fn parse(text: &str) -> Result<Request, InvalidEvent> {
        let value: Value = serde_json::from_str(text).expect("fixture is JSON");
        Request::from_event(value)
    }

    fn refused(event: Value) -> String {
        Request::from_event(event).expect_err("refused").0
    }

    fn console_with(extra: Value) -> Value {
        let mut event: Value = serde_json::from_str(CONSOLE).expect("console event");
        if let (Some(event), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
            event.extend(extra.clone());
        }
        event
    }

    #[test]
    fn the_console_event_is_a_rebuild_with_defaults() {
        let request = parse(CONSOLE).expect("valid");
        assert_eq!(request.table.as_str(), "Persons");
        assert_eq!(
            request.host.to_string(),
            "https://search-x.eu-west-2.es.amazonaws.com"
        );
        assert_eq!(request.alias.as_str(), "persons");
        assert_eq!(request.mode, Mode::Rebuild);
        assert!(request.ids.is_empty());
        assert_eq!((request.segments, request.dry_run), (None, None));
        assert_eq!(request.workers, None);
    }

    #[test]
    fn every_optional_field_is_read() {
        let request = parse(include_str!("../fixtures/resync-event.json")).expect("valid");
        assert_eq!(request.mode, Mode::Resync);
        assert_eq!(request.ids, ["id-1", "id-2"]);
        assert_eq!(request.segments, Some(16));
        assert_eq!(request.dry_run, Some(true));
        for mode in ["rebuild", "sync", "verify"] {
            let request = Request::from_event(console_with(json!({"mode": mode}))).expect(mode);
            assert_eq!(request.mode.as_str(), mode);
        }
    }

    #[test]
    fn an_unknown_field_is_refused_by_name() {
        let message = parse(include_str!("../fixtures/bad/unknown-field.json"))
            .expect_err("x")
            .0;
        assert!(message.contains("unknown field `dryrun`"), "{message}");
        assert!(
            message.contains("dryRun"),
            "lists the known fields: {message}"
        );
    }

    #[test]
    fn a_bad_table_name_is_refused_naming_field_and_rule() {
        let message = parse(include_str!("../fixtures/bad/table.json"))
            .expect_err("x")
            .0;
        assert!(message.contains("field `dynamoTable`"), "{message}");
        assert!(
            message.contains("\"Per sons\"") && message.contains("not allowed"),
            "{message}"
        );
    }

    #[test]
    fn a_bad_index_name_is_refused_naming_field_and_rule() {
        let message = parse(include_str!("../fixtures/bad/index.json"))
            .expect_err("x")
            .0;
        assert!(message.contains("field `indexName`"), "{message}");
        assert!(message.contains("lowercase"), "{message}");
    }

    #[test]
    fn a_bad_url_is_refused_naming_field_and_rule() {
        let message = parse(include_str!("../fixtures/bad/url.json"))
            .expect_err("x")
            .0;
        assert!(message.contains("field `indexNodeHost`"), "{message}");
        assert!(message.contains("path"), "{message}");
        let message = refused(console_with(
            json!({"indexNodeHost": "search-x.es.amazonaws.com"}),
        ));
        assert!(message.contains("field `indexNodeHost`"), "{message}");
    }

    #[test]
    fn ids_are_refused_without_resync() {
        let message = parse(include_str!("../fixtures/bad/ids-without-resync.json"))
            .expect_err("x")
            .0;
        assert!(message.contains("field `ids`"), "{message}");
        assert!(
            message.contains("only allowed with mode \"resync\""),
            "{message}"
        );
    }

    #[test]
    fn resync_is_refused_without_ids() {
        let message = parse(include_str!("../fixtures/bad/resync-without-ids.json"))
            .expect_err("x")
            .0;
        assert!(
            message.contains("field `ids`") && message.contains("non-empty"),
            "{message}"
        );
        let message = refused(console_with(json!({"mode": "resync", "ids": []})));
        assert!(message.contains("non-empty"), "{message}");
    }

    #[test]
    fn an_unknown_mode_is_refused_listing_the_modes() {
        let message = parse(include_str!("../fixtures/bad/mode.json"))
            .expect_err("x")
            .0;
        assert!(message.contains("field `mode`"), "{message}");
        assert!(message.contains("\"rebuild-all\""), "{message}");
        assert!(message.contains("sync, verify or resync"), "{message}");
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        let message = refused(json!({"dynamoTable": "Persons", "indexName": "persons"}));
        assert!(
            message.contains("missing field `indexNodeHost`"),
            "{message}"
        );
        let message = refused(console_with(json!({"segments": "8"})));
        assert!(
            message.contains("field `segments`") && message.contains("string"),
            "{message}"
        );
        let message = refused(console_with(json!({"dryRun": "yes"})));
        assert!(message.contains("field `dryRun`"), "{message}");
        let message = refused(console_with(json!({"mode": "resync", "ids": ["a", 7]})));
        assert!(message.contains("field `ids[1]`"), "{message}");
        let message = refused(json!("Persons"));
        assert!(
            message.contains("must be a JSON object") && message.contains("a string"),
            "{message}"
        );
    }

    #[test]
    fn segments_must_be_between_one_and_a_million() {
        for bad in [0, -1, MAX_SEGMENTS + 1] {
            let message = refused(console_with(json!({"segments": bad})));
            assert!(
                message.contains("field `segments`") && message.contains("1 to 1000000"),
                "{message}"
            );
        }
        let request =
            Request::from_event(console_with(json!({"segments": MAX_SEGMENTS}))).expect("max");
        assert_eq!(request.segments, Some(1_000_000));
    }

    #[test]
    fn ids_must_fit_one_comma_separated_variable() {
        let message = refused(console_with(json!({"mode": "resync", "ids": ["a,b"]})));
        assert!(
            message.contains("field `ids[0]`") && message.contains("commas"),
            "{message}"
        );
        let message = refused(console_with(json!({"mode": "resync", "ids": ["ok", ""]})));
        assert!(
            message.contains("field `ids[1]`") && message.contains("empty"),
            "{message}"
        );
        let many: Vec<String> = (0..200).map(|i| format!("{i:036}")).collect();
        let message = refused(console_with(json!({"mode": "resync", "ids": many})));
        assert!(message.contains("split them"), "{message}");
    }

    #[test]
    fn workers_split_a_rebuild_up_to_its_segments() {
        let request = parse(include_str!("../fixtures/workers-event.json")).expect("valid");
        assert_eq!((request.mode, request.segments), (Mode::Rebuild, Some(16)));
        assert_eq!(request.workers, Some(4));
        let request =
            Request::from_event(console_with(json!({"workers": DEFAULT_SEGMENTS}))).expect("8");
        assert_eq!(
            request.workers,
            Some(8),
            "as many workers as default segments"
        );
        let request = Request::from_event(console_with(
            json!({"workers": MAX_WORKERS, "segments": MAX_WORKERS}),
        ))
        .expect("max");
        assert_eq!(request.workers, Some(64));
        for mode in ["sync", "verify"] {
            let request = Request::from_event(console_with(
                json!({"mode": mode, "workers": 1, "dryRun": true}),
            ))
            .expect("one worker is how every mode runs");
            assert_eq!(request.workers, Some(1));
        }
    }

    #[test]
    fn workers_must_be_between_one_and_sixty_four() {
        for bad in [0, -1, i64::from(MAX_WORKERS) + 1] {
            let message = refused(console_with(json!({"workers": bad, "segments": 100})));
            assert!(
                message.contains("field `workers`")
                    && message.contains(&format!("{bad} is out of range; use 1 to 64")),
                "{message}"
            );
        }
        let message = refused(console_with(json!({"workers": "2"})));
        assert!(
            message.contains("field `workers`") && message.contains("string"),
            "{message}"
        );
    }

    #[test]
    fn workers_may_not_outnumber_the_segments() {
        let message = refused(console_with(json!({"workers": 5, "segments": 4})));
        assert!(
            message.contains("field `workers`")
                && message.contains("more than `segments` of 4")
                && message.contains("at least 5"),
            "{message}"
        );
        let message = parse(include_str!(
            "../fixtures/bad/workers-over-default-segments.json"
        ))
        .expect_err("9 > 8")
        .0;
        assert!(
            message.contains("field `workers`")
                && message.contains("more than the default `segments` of 8"),
            "{message}"
        );
    }

    #[test]
    fn workers_are_refused_outside_rebuild_and_with_a_dry_run() {
        let message = parse(include_str!("../fixtures/bad/workers-without-rebuild.json"))
            .expect_err("sync")
            .0;
        assert!(
            message.contains("field `workers`")
                && message.contains("only allowed with mode \"rebuild\"")
                && message.contains("\"sync\""),
            "{message}"
        );
        let message = refused(console_with(
            json!({"mode": "resync", "ids": ["a"], "workers": 2}),
        ));
        assert!(
            message.contains("field `workers`") && message.contains("\"resync\""),
            "{message}"
        );
        let message = refused(console_with(json!({"mode": "verify", "workers": 2})));
        assert!(
            message.contains("field `workers`") && message.contains("\"verify\""),
            "{message}"
        );
        let message = refused(console_with(json!({"workers": 2, "dryRun": true})));
        assert!(
            message.contains("field `workers`") && message.contains("`dryRun: true`"),
            "{message}"
        );
        Request::from_event(console_with(json!({"workers": 2, "dryRun": false})))
            .expect("a real run may be split");
    }
}
