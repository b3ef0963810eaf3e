//! Mapping compatibility: what a live index maps that a new mapping lacks or changes.
//!
//! The live indexes are read by clients with fixed query shapes (see `MAPPINGS.md`). A rebuild
//! whose mapping drops a field, a sub-field (`id.keyword`), or turns an object into a nested
//! field does not fail: searches just start finding nothing. So before the swap the index about
//! to go live is read back (`GET /<index>/_mapping` and `_settings`; a resumed run swaps an index
//! an earlier binary may have created) and compared with the live index's, and every difference
//! refuses the swap unless the operator allows mapping changes explicitly. `indexer
//! mapping-diff` compares with the entity's definition instead, as nothing is built yet.
//!
//! What counts as a difference, for every field of the live mapping (sub-fields included, named
//! by the path a query uses, e.g. `tenure.type.keyword`):
//! - the new mapping has no field at that path ([`Change::Missing`]);
//! - its kind differs: another leaf type, or object ↔ nested ↔ leaf ([`Change::Kind`]);
//! - a parameter that decides what a query matches differs: `analyzer`, `search_analyzer`,
//!   `normalizer`, `index`, and for nested fields `include_in_parent`/`include_in_root` when the
//!   live index sets them and the new mapping does not ([`Change::Parameter`]).
//!
//! - a parameter that decides whether the field still sorts or pages as before: `doc_values`
//!   turned off where the live index has it (set or by default), `fielddata` the live index
//!   turns on and the new mapping does not, and a date `format` pattern the live index accepts
//!   that the new mapping drops (`search_after` sends sort values back in that format)
//!   ([`Change::Parameter`]);
//! - an analyzer or normalizer a live field names (`my_normalizer`) that the live settings define
//!   and the new settings define otherwise (`type`, `tokenizer`, `char_filter`, `filter`) or not
//!   at all ([`Change::Definition`], see [`analysis`]).
//!
//! Fields only the new mapping has are not differences: adding never breaks a query. Other
//! parameters (`ignore_above`, `store`, `norms`) are not compared, nor are the definitions of
//! custom filters or tokenizers an analyzer names. A live index with dynamic mapping where the
//! new one is `strict` is a note, not a refusal: every field the live index maps is compared,
//! and what strictness changes is only what other writers may add later.

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

pub mod analysis;
mod cluster;

pub use cluster::{
    Candidate, Comparison, Side, before_swap, compare_sides, notes, report, with_refusals,
};

/// Parameters of a field that decide what a query on it matches.
const COMPARED_PARAMETERS: &[&str] = &[
    "analyzer",
    "search_analyzer",
    "normalizer",
    "index",
    "include_in_parent",
    "include_in_root",
];

/// One way the new mapping fails a field of the live one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The field as a query names it (`tenures.type`, `id.keyword`).
    pub path: String,
    #[serde(flatten)]
    pub change: Change,
}

/// What changed at a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// The live index maps the field; the new mapping does not.
    Missing { before: String },
    /// The field's kind differs: its leaf type, or object/nested/leaf.
    Kind { before: String, after: String },
    /// A parameter that decides matching differs (`None`: not set).
    Parameter {
        name: String,
        before: Option<String>,
        after: Option<String>,
    },
    /// An analyzer or normalizer live fields use is defined otherwise (`None`: not defined).
    Definition {
        used_by: Vec<String>,
        before: String,
        after: Option<String>,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = &self.path;
        match &self.change {
            Change::Missing { before } => {
                write!(
                    f,
                    "`{path}`: the live index maps it ({before}), the new mapping does not"
                )
            }
            Change::Kind { before, after } => {
                write!(
                    f,
                    "`{path}`: {before} in the live index, {after} in the new mapping"
                )
            }
            Change::Parameter {
                name,
                before,
                after,
            } => write!(
                f,
                "`{path}`: {name} {} in the live index, {} in the new mapping",
                before.as_deref().unwrap_or("unset"),
                after.as_deref().unwrap_or("unset")
            ),
            Change::Definition {
                used_by,
                before,
                after,
            } => write!(
                f,
                "`{path}` (used by `{}`): {before} in the live index, {} in the new settings",
                used_by.join("`, `"),
                after.as_deref().unwrap_or("not defined")
            ),
        }
    }
}

/// The mapping inside an answer of `GET /<index>/_mapping` (`{"<index>": {"mappings": …}}`),
/// or a bare mapping (`{"properties": …}`), or an index definition (`{"mappings": …}`). `None`
/// when the answer holds none, or the mappings of several indexes.
pub fn mapping_of(answer: &Value) -> Option<&Value> {
    if answer.get("properties").is_some() {
        return Some(answer);
    }
    if let Some(mappings) = answer.get("mappings") {
        return Some(mappings);
    }
    let indexes = answer.as_object()?;
    match indexes.values().collect::<Vec<_>>().as_slice() {
        [only] => only.get("mappings"),
        _ => None,
    }
}

/// Every difference that makes `new` unable to serve what `live` serves, in path order. Both
/// are mappings (`{"properties": …}`).
pub fn compare(live: &Value, new: &Value) -> Vec<Difference> {
    let mut differences = Vec::new();
    compare_properties(properties(live), properties(new), "", &mut differences);
    differences
}

fn properties(mapping: &Value) -> Option<&Map<String, Value>> {
    mapping.get("properties").and_then(Value::as_object)
}

fn compare_properties(
    live: Option<&Map<String, Value>>,
    new: Option<&Map<String, Value>>,
    prefix: &str,
    differences: &mut Vec<Difference>,
) {
    let Some(live) = live else { return };
    let mut names: Vec<&String> = live.keys().collect();
    names.sort();
    for name in names {
        let path = format!("{prefix}{name}");
        let before = &live[name.as_str()];
        match new.and_then(|n| n.get(name.as_str())) {
            None => missing(before, &path, differences),
            Some(after) => compare_field(before, after, &path, differences),
        }
    }
}

/// The live field and everything beneath it, reported missing.
fn missing(before: &Value, path: &str, differences: &mut Vec<Difference>) {
    differences.push(Difference {
        path: path.to_owned(),
        change: Change::Missing {
            before: describe(before),
        },
    });
}

fn compare_field(before: &Value, after: &Value, path: &str, differences: &mut Vec<Difference>) {
    let (kind_before, kind_after) = (kind(before), kind(after));
    if kind_before != kind_after {
        differences.push(Difference {
            path: path.to_owned(),
            change: Change::Kind {
                before: describe(before),
                after: describe(after),
            },
        });
    }
    for name in COMPARED_PARAMETERS {
        let (was, is) = (parameter(before, name), parameter(after, name));
        // Copying nested fields into the parent only adds matches; only losing it breaks one.
        let only_adds = name.starts_with("include_in_") && was.is_none();
        if was != is && !only_adds {
            differences.push(Difference {
                path: path.to_owned(),
                change: Change::Parameter {
                    name: (*name).to_owned(),
                    before: was,
                    after: is,
                },
            });
        }
    }
    for (name, was, is) in sorting_changes(before, after) {
        differences.push(Difference {
            path: path.to_owned(),
            change: Change::Parameter {
                name: name.to_owned(),
                before: was,
                after: is,
            },
        });
    }
    compare_properties(
        properties(before),
        properties(after),
        &format!("{path}."),
        differences,
    );
    let sub_fields = |field: &Value| field.get("fields").and_then(Value::as_object).cloned();
    let (live_fields, new_fields) = (sub_fields(before), sub_fields(after));
    compare_properties(
        live_fields.as_ref(),
        new_fields.as_ref(),
        &format!("{path}."),
        differences,
    );
}

/// The date formats OpenSearch uses when a `date` field sets none.
const DEFAULT_DATE_FORMAT: &str = "strict_date_optional_time||epoch_millis";

/// What stops a field sorting, aggregating or paging as the live one does: `doc_values` turned
/// off, `fielddata` no longer on, a date format pattern dropped.
fn sorting_changes(
    before: &Value,
    after: &Value,
) -> Vec<(&'static str, Option<String>, Option<String>)> {
    let mut changes = Vec::new();
    let flag = |field: &Value, name: &str| field.get(name).map(|v| parameter_text(v) == "true");
    let (was, is) = (flag(before, "doc_values"), flag(after, "doc_values"));
    if was != Some(false) && is == Some(false) {
        changes.push((
            "doc_values",
            was.map(|v| v.to_string()),
            Some("false".into()),
        ));
    }
    let (was, is) = (flag(before, "fielddata"), flag(after, "fielddata"));
    if was == Some(true) && is != Some(true) {
        changes.push(("fielddata", Some("true".into()), is.map(|v| v.to_string())));
    }
    let date = |field: &Value| kind(field) == "date" || kind(field) == "date_nanos";
    if date(before) && date(after) {
        let format = |field: &Value| {
            field
                .get("format")
                .map(parameter_text)
                .unwrap_or_else(|| DEFAULT_DATE_FORMAT.to_owned())
        };
        let (was, is) = (format(before), format(after));
        let kept: Vec<&str> = is.split("||").map(str::trim).collect();
        if was
            .split("||")
            .any(|pattern| !kept.contains(&pattern.trim()))
        {
            changes.push(("format", Some(was), Some(is)));
        }
    }
    changes
}

fn parameter_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `object`, `nested` or the leaf type (a field without a type is an object).
fn kind(field: &Value) -> &str {
    field
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("object")
}

/// A parameter's value as text; `false` for the nested flags is the same as unset, and so is
/// `index: true`.
fn parameter(field: &Value, name: &str) -> Option<String> {
    let text = parameter_text(field.get(name)?);
    let default = match name {
        "include_in_parent" | "include_in_root" => "false",
        "index" => "true",
        _ => "",
    };
    (text != default).then_some(text)
}

/// `text (+keyword)`, `nested (include_in_parent)`, `object`, `keyword (normalizer my_normalizer)`.
fn describe(field: &Value) -> String {
    let mut text = kind(field).to_owned();
    let mut notes = Vec::new();
    if let Some(fields) = field.get("fields").and_then(Value::as_object) {
        let mut names: Vec<&String> = fields.keys().collect();
        names.sort();
        for name in names {
            notes.push(format!("+{name}"));
        }
    }
    for name in COMPARED_PARAMETERS {
        if let Some(value) = parameter(field, name) {
            notes.push(match value.as_str() {
                "true" => (*name).to_owned(),
                _ => format!("{name} {value}"),
            });
        }
    }
    if !notes.is_empty() {
        text.push_str(&format!(" ({})", notes.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests;
