//! The analyzers and normalizers a live field names, compared by definition: a new index that
//! keeps the name `my_normalizer` but drops its `asciifolding` filter changes what a query on
//! every field using it matches, just as renaming it would.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{Change, Difference};

/// Mapping parameters that name an analyzer, with the `analysis` section defining it.
const REFERENCES: &[(&str, &str)] = &[
    ("analyzer", "analyzer"),
    ("search_analyzer", "analyzer"),
    ("search_quote_analyzer", "analyzer"),
    ("normalizer", "normalizer"),
];

/// The parts of a definition that decide what it produces; lists may come back as one string
/// or go missing when empty, so they are compared as lists.
const PARTS: &[&str] = &["type", "tokenizer", "char_filter", "filter"];

/// `analysis` inside index settings: `{"analysis": …}` or `{"index": {"analysis": …}}`.
pub fn analysis_of(settings: &Value) -> Option<&Value> {
    settings.get("analysis").or_else(|| {
        settings
            .get("index")
            .and_then(|index| index.get("analysis"))
    })
}

/// For every analyzer and normalizer the live mapping's fields name and the live settings
/// define, a difference when the new settings define it otherwise or not at all. Built-in
/// analyzers (`standard`, `keyword`) are defined nowhere and have nothing to compare.
pub fn compare(
    live_mapping: &Value,
    live_analysis: Option<&Value>,
    new_analysis: Option<&Value>,
) -> Vec<Difference> {
    let mut used: BTreeMap<(&'static str, String), Vec<String>> = BTreeMap::new();
    references(live_mapping.get("properties"), "", &mut used);
    let mut differences = Vec::new();
    for ((section, name), fields) in used {
        let Some(before) = definition(live_analysis, section, &name) else {
            continue;
        };
        let after = definition(new_analysis, section, &name);
        if after.as_ref() != Some(&before) {
            differences.push(Difference {
                path: format!("analysis.{section}.{name}"),
                change: Change::Definition {
                    used_by: fields,
                    before: describe(&before),
                    after: after.as_ref().map(describe),
                },
            });
        }
    }
    differences
}

/// Every field beneath `properties` (sub-fields included) that names an analyzer.
fn references(
    properties: Option<&Value>,
    prefix: &str,
    used: &mut BTreeMap<(&'static str, String), Vec<String>>,
) {
    let Some(properties) = properties.and_then(Value::as_object) else {
        return;
    };
    for (name, field) in properties {
        let path = format!("{prefix}{name}");
        for (parameter, section) in REFERENCES {
            if let Some(analyzer) = field.get(*parameter).and_then(Value::as_str) {
                let users = used.entry((section, analyzer.to_owned())).or_default();
                if !users.contains(&path) {
                    users.push(path.clone());
                }
            }
        }
        references(field.get("properties"), &format!("{path}."), used);
        references(field.get("fields"), &format!("{path}."), used);
    }
}

/// A definition's deciding parts, each as a list of names.
fn definition(
    analysis: Option<&Value>,
    section: &str,
    name: &str,
) -> Option<BTreeMap<&'static str, Vec<String>>> {
    let found: &Map<String, Value> = analysis?.get(section)?.get(name)?.as_object()?;
    let parts = PARTS
        .iter()
        .map(|part| {
            let names = match found.get(*part) {
                Some(Value::Array(items)) => items.iter().map(text).collect(),
                Some(Value::Null) | None => Vec::new(),
                Some(one) => vec![text(one)],
            };
            (*part, names)
        })
        .collect();
    Some(parts)
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `type custom, filter [lowercase, asciifolding]`: the parts that are set.
fn describe(definition: &BTreeMap<&'static str, Vec<String>>) -> String {
    PARTS
        .iter()
        .filter_map(|part| {
            let names = definition.get(part)?;
            match names.as_slice() {
                [] => None,
                [one] if !part.ends_with("filter") => Some(format!("{part} {one}")),
                many => Some(format!("{part} [{}]", many.join(", "))),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
