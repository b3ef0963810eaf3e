//! Against a cluster: the rebuild's check before the swap, and `indexer mapping-diff`.

use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

use super::{Difference, analysis, compare, mapping_of, parameter_text};
use crate::error::{Error, exit};
use crate::sink::client::{NameState, SearchClient, SinkError};
use crate::validate::IndexName;

/// A live index compared with an entity's mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// The live physical index (or the original tool's concrete index); `None` when nothing is
    /// live yet, which nothing can contradict.
    pub live_index: Option<String>,
    pub differences: Vec<Difference>,
    /// What changes without breaking a query the live index serves (`dynamic` made `strict`).
    pub notes: Vec<String>,
}

impl Comparison {
    pub fn compatible(&self) -> bool {
        self.differences.is_empty()
    }

    /// The gate refusals these differences make; when changes are `allowed`, none, and each
    /// difference becomes a warning instead. Notes are always warnings.
    pub fn refusals(&self, allowed: bool, warnings: &mut Vec<String>) -> Vec<String> {
        warnings.extend(
            self.notes
                .iter()
                .map(|note| format!("mapping note: {note}")),
        );
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

/// A mapping and the analysis settings that define its analyzers and normalizers.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub mapping: &'a Value,
    pub analysis: Option<&'a Value>,
}

impl<'a> Side<'a> {
    /// An index definition's side (`{"settings": …, "mappings": …}`).
    pub fn of_definition(definition: &'a Value) -> Self {
        Side {
            mapping: &definition["mappings"],
            analysis: definition.get("settings").and_then(analysis::analysis_of),
        }
    }
}

/// Every difference between the live side and the new one (mapping, then analysis), and the
/// notes.
pub fn compare_sides(live: Side<'_>, new: Side<'_>) -> (Vec<Difference>, Vec<String>) {
    let mut differences = compare(live.mapping, new.mapping);
    differences.extend(analysis::compare(live.mapping, live.analysis, new.analysis));
    (differences, notes(live.mapping, new.mapping))
}

/// `dynamic` at the root: a dynamic live index and a `strict` new one.
pub fn notes(live: &Value, new: &Value) -> Vec<String> {
    let dynamic = |mapping: &Value| {
        mapping
            .get("dynamic")
            .map(parameter_text)
            .unwrap_or_else(|| "true".to_owned())
    };
    let (was, is) = (dynamic(live), dynamic(new));
    match (was.as_str(), is.as_str()) {
        ("strict", _) | (_, "true") => Vec::new(),
        _ => vec![format!(
            "dynamic {was} in the live index, {is} in the new mapping: a document with a field the new mapping lacks is rejected after the swap"
        )],
    }
}

/// What the live index is compared with.
#[derive(Debug, Clone, Copy)]
pub enum Candidate<'a> {
    /// An index definition (`indexer mapping-diff`: what a rebuild would create).
    Definition(&'a Value),
    /// An existing index (the rebuild's, which an earlier binary may have created).
    Index(&'a str),
}

/// An index's mapping and settings, read from the cluster.
async fn read_index(search: &SearchClient, index: &str) -> Result<(Value, Value), SinkError> {
    let op = format!("read the mapping of {index}");
    let answer = search
        .json(&op, Method::GET, &format!("/{index}/_mapping"), None)
        .await?;
    let mapping = mapping_of(&answer)
        .cloned()
        .ok_or_else(|| SinkError::Decode {
            op: op.clone(),
            reason: "no mapping of one index in the answer".into(),
        })?;
    let settings = search.settings(index).await?;
    Ok((mapping, settings))
}

/// Compares the live index (when there is one) with `candidate`.
pub async fn before_swap(
    search: &SearchClient,
    live_index: Option<&str>,
    candidate: Candidate<'_>,
) -> Result<Comparison, SinkError> {
    let Some(index) = live_index else {
        return Ok(Comparison {
            live_index: None,
            differences: Vec::new(),
            notes: Vec::new(),
        });
    };
    let (live_mapping, live_settings) = read_index(search, index).await?;
    let live = Side {
        mapping: &live_mapping,
        analysis: analysis::analysis_of(&live_settings),
    };
    let (differences, notes) = match candidate {
        Candidate::Definition(definition) => compare_sides(live, Side::of_definition(definition)),
        Candidate::Index(new_index) => {
            let (mapping, settings) = read_index(search, new_index).await?;
            let new = Side {
                mapping: &mapping,
                analysis: analysis::analysis_of(&settings),
            };
            compare_sides(live, new)
        }
    };
    for difference in &differences {
        tracing::warn!(index, path = %difference.path, difference = %difference, "mapping change");
    }
    Ok(Comparison {
        live_index: Some(index.to_owned()),
        differences,
        notes,
    })
}

/// `indexer mapping-diff`: the comparison as JSON, and exit 0 when compatible, 3 when not.
pub async fn report(
    search: &SearchClient,
    alias: &IndexName,
    entity: &'static str,
) -> Result<(Value, i32), Error> {
    let definition = super::super::by_name(entity)
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
    let comparison = before_swap(
        search,
        live_index.as_deref(),
        Candidate::Definition(&definition),
    )
    .await?;
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
        "notes": comparison.notes,
    });
    Ok((value, code))
}
