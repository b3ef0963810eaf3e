//! Mapping compatibility: what a live index maps that a new mapping lacks or changes.
//!
//! The live indexes are read by clients with fixed query shapes (see `MAPPINGS.md`). A rebuild
//! whose mapping drops a field, a sub-field (`id.keyword`), or turns an object into a nested
//! field does not fail: searches just start finding nothing. So before the swap the new mapping
//! is compared with the live index's (`GET /<index>/_mapping`), and every difference refuses the
//! swap unless the operator allows mapping changes explicitly.
//!
//! What counts as a difference, for every field of the live mapping (sub-fields included, named
//! by the path a query uses, e.g. `tenure.type.keyword`):
//! - the new mapping has no field at that path ([`Change::Missing`]);
//! - its kind differs: another leaf type, or object ↔ nested ↔ leaf ([`Change::Kind`]);
//! - a parameter that decides what a query matches differs: `analyzer`, `search_analyzer`,
//!   `normalizer`, `index`, and for nested fields `include_in_parent`/`include_in_root` when the
//!   live index sets them and the new mapping does not ([`Change::Parameter`]).
//!
//! Fields only the new mapping has are not differences: adding never breaks a query. Other
//! parameters (`ignore_above`, `format`, `doc_values`) are not compared.

use std::fmt;

use reqwest::Method;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, exit};
use crate::sink::client::{NameState, SearchClient, SinkError};
use crate::validate::IndexName;

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
    let value = field.get(name)?;
    let text = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
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

// ---------------------------------------------------------------------------------------------
// Against a cluster: the rebuild's check before the swap, and `indexer mapping-diff`.

/// A live index compared with an entity's mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// The live physical index (or the original tool's concrete index); `None` when nothing is
    /// live yet, which nothing can contradict.
    pub live_index: Option<String>,
    pub differences: Vec<Difference>,
}

impl Comparison {
    pub fn compatible(&self) -> bool {
        self.differences.is_empty()
    }

    /// The gate refusals these differences make; when changes are `allowed`, none, and each
    /// difference becomes a warning instead.
    pub fn refusals(&self, allowed: bool, warnings: &mut Vec<String>) -> Vec<String> {
        let lines = self
            .differences
            .iter()
            .map(|d| format!("mapping change: {d}"));
        if allowed {
            warnings.extend(lines.map(|line| format!("{line} (allowed)")));
            return Vec::new();
        }
        lines.collect()
    }
}

/// The gate's verdict with the mapping refusals added to it.
pub fn with_refusals(
    verdict: Result<(), Vec<String>>,
    mapping: Vec<String>,
) -> Result<(), Vec<String>> {
    match verdict {
        Ok(()) if mapping.is_empty() => Ok(()),
        Ok(()) => Err(mapping),
        Err(mut refusals) => {
            refusals.extend(mapping);
            Err(refusals)
        }
    }
}

/// Compares the live index (when there is one) with the mappings of `definition`.
pub async fn before_swap(
    search: &SearchClient,
    live_index: Option<&str>,
    definition: &Value,
) -> Result<Comparison, SinkError> {
    let Some(index) = live_index else {
        return Ok(Comparison {
            live_index: None,
            differences: Vec::new(),
        });
    };
    let op = format!("read the mapping of {index}");
    let answer = search
        .json(&op, Method::GET, &format!("/{index}/_mapping"), None)
        .await?;
    let live = mapping_of(&answer).ok_or_else(|| SinkError::Decode {
        op: op.clone(),
        reason: "no mapping of one index in the answer".into(),
    })?;
    let differences = compare(live, &definition["mappings"]);
    for difference in &differences {
        tracing::warn!(index, path = %difference.path, difference = %difference, "mapping change");
    }
    Ok(Comparison {
        live_index: Some(index.to_owned()),
        differences,
    })
}

/// `indexer mapping-diff`: the comparison as JSON, and exit 0 when compatible, 3 when not.
pub async fn report(
    search: &SearchClient,
    alias: &IndexName,
    entity: &'static str,
) -> Result<(Value, i32), Error> {
    let definition = super::by_name(entity)
        .ok_or_else(|| Error::Input(format!("unknown entity {entity:?}")))?
        .index_definition();
    let live_index = match search.name_state(alias.as_str()).await? {
        NameState::Absent => None,
        NameState::Index => Some(alias.as_str().to_owned()),
        NameState::Alias(indexes) => match indexes.as_slice() {
            [one] => Some(one.clone()),
            _ => {
                return Err(Error::Input(format!(
                    "alias {alias} points at several indexes ({}); it must point at one",
                    indexes.join(", ")
                )));
            }
        },
    };
    let comparison = before_swap(search, live_index.as_deref(), &definition).await?;
    let code = match comparison.compatible() {
        true => exit::SUCCESS,
        false => exit::GATE_REFUSED,
    };
    let value = serde_json::json!({
        "alias": alias.as_str(),
        "entity": entity,
        "live_index": comparison.live_index,
        "compatible": comparison.compatible(),
        "differences": comparison.differences,
    });
    Ok((value, code))
}

#[cfg(test)]
mod tests;
