//! The event's field names and which modes each optional field belongs to, and the small values
//! only operator modes take.

use std::fmt;

use super::{Mode, Object, RawEvent, field};
use crate::event::InvalidEvent;

/// Every field of the event, as documented (camelCase).
pub const FIELDS: [&str; 19] = [
    "dynamoTable",
    "indexNodeHost",
    "indexName",
    "mode",
    "ids",
    "segments",
    "dryRun",
    "workers",
    "maxReadUnits",
    "maxErrors",
    "minRatio",
    "keep",
    "concurrency",
    "stopTimeout",
    "jobId",
    "keepIndex",
    "fix",
    "maxChanges",
    "limit",
];

/// Most jobs `jobs` lists: the answer must fit a Lambda response.
pub const MAX_JOBS_LIMIT: i64 = 100;

/// Renames each property whose name matches a field regardless of case to that field's
/// spelling, as the original tool's serializer matched them. A property matching no field keeps
/// its name, so deserializing refuses it and lists the fields; two properties for one field
/// (`dynamoTable` and `DynamoTable`) are refused as ambiguous.
pub fn canonical_names(object: Object) -> Result<Object, InvalidEvent> {
    let mut canonical = Object::new();
    for (name, value) in object {
        let known = FIELDS
            .iter()
            .find(|known| known.eq_ignore_ascii_case(&name))
            .map(|known| (*known).to_owned());
        let key = known.unwrap_or(name.clone());
        if canonical.contains_key(&key) {
            return Err(field(
                &key,
                format!(
                    "given twice (as {name:?} and in another spelling); property names are matched regardless of case"
                ),
            ));
        }
        canonical.insert(key, value);
    }
    Ok(canonical)
}

/// Refuses an optional field given with a mode that does not use it.
pub fn only_with(raw: &RawEvent, mode: Mode) -> Result<(), InvalidEvent> {
    use Mode::*;
    const TABLE_MODES: &[Mode] = &[Rebuild, Sync, Verify, Resync];
    let checks: [(&str, bool, &[Mode]); 13] = [
        ("segments", raw.segments.is_some(), TABLE_MODES),
        ("dryRun", raw.dry_run.is_some(), TABLE_MODES),
        ("workers", raw.workers.is_some(), TABLE_MODES),
        ("maxReadUnits", raw.max_read_units.is_some(), &[Rebuild]),
        ("maxErrors", raw.max_errors.is_some(), &[Rebuild]),
        ("minRatio", raw.min_ratio.is_some(), &[Rebuild]),
        ("keep", raw.keep.is_some(), &[Rebuild]),
        ("concurrency", raw.concurrency.is_some(), &[Rebuild]),
        ("stopTimeout", raw.stop_timeout.is_some(), &[Rebuild]),
        ("jobId", raw.job_id.is_some(), &[Abandon]),
        ("keepIndex", raw.keep_index.is_some(), &[Abandon]),
        ("fix", raw.fix.is_some(), &[Verify]),
        ("limit", raw.limit.is_some(), &[Jobs]),
    ];
    for (name, given, modes) in checks {
        if given && !modes.contains(&mode) {
            let allowed = match modes {
                [one] => format!("mode {:?}", one.as_str()),
                many => format!(
                    "modes {}",
                    many.iter()
                        .map(|m| m.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Err(field(
                name,
                format!(
                    "only allowed with {allowed} (the mode is {:?})",
                    mode.as_str()
                ),
            ));
        }
    }
    if raw.max_changes.is_some() && mode != Verify {
        return Err(field(
            "maxChanges",
            format!(
                "only allowed with mode \"verify\" and `fix: true` (the mode is {:?})",
                mode.as_str()
            ),
        ));
    }
    Ok(())
}

/// `limit` of `jobs`.
pub fn limit(value: i64) -> Result<u32, InvalidEvent> {
    u32::try_from(value)
        .ok()
        .filter(|_| (1..=MAX_JOBS_LIMIT).contains(&value))
        .ok_or_else(|| {
            field(
                "limit",
                format!("{value} is out of range; use 1 to {MAX_JOBS_LIMIT}"),
            )
        })
}

/// A job id an operator names: what `status` and `jobs` show (e.g. the physical index
/// `persons-20261122t053513042z`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobId(String);

impl JobId {
    pub fn parse(text: &str) -> Result<JobId, InvalidEvent> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':');
        if text.is_empty()
            || text.len() > 255
            || !text.chars().all(allowed)
            || text.starts_with('-')
        {
            return Err(field(
                "jobId",
                format!(
                    "{text:?} is not a job id: 1 to 255 of letters, digits, `.`, `_`, `-` and `:`, not starting with `-` (status and jobs show the ids)"
                ),
            ));
        }
        Ok(JobId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
