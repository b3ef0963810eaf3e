//! The gate against a live index that differs in every way the comparison knows at once: a
//! field's type, a sub-field, an object made nested and a nested field made an object, and a
//! normalizer's filters. The rebuild refuses naming each, `mapping-diff` lists the same, and
//! with `--allow-mapping-changes` the swap happens and the warnings name each.

use indexer_core::entities;
use indexer_tests::harness::{Search, indexer, rebuild_args, seed};
use reqwest::Method;
use serde_json::{Value, json};

/// The live persons index: this tool's definition, changed in five places.
fn live_definition() -> Value {
    let mut definition = entities::by_name("persons")
        .expect("registered")
        .index_definition();
    let properties = &mut definition["mappings"]["properties"];
    // A type: the live `placeOfBirth` is a keyword, the new one text.
    properties["placeOfBirth"] = json!({"type": "keyword"});
    // A sub-field the new mapping lacks.
    properties["middleName"]["fields"]["raw"] = json!({"type": "keyword"});
    // An object the new mapping makes nested.
    properties["tenures"]
        .as_object_mut()
        .expect("tenures")
        .retain(|key, _| key == "properties");
    // A nested field the new mapping makes an object.
    properties["identification"]["type"] = json!("nested");
    // The normalizer the names use, without ASCII folding.
    definition["settings"] = json!({"number_of_shards": 1, "analysis": {"normalizer": {
        "my_normalizer": {"type": "custom", "filter": ["lowercase"]}}}});
    definition
}

/// Each difference as `(path, change)`, in the order `mapping-diff` lists them.
const DIFFERENCES: [(&str, &str); 5] = [
    ("analysis.normalizer.my_normalizer", "definition"),
    ("identification", "kind"),
    ("middleName.raw", "missing"),
    ("placeOfBirth", "kind"),
    ("tenures", "kind"),
];

#[tokio::test]
async fn every_kind_of_mapping_change_is_named_refused_and_swapped_only_when_allowed() {
    let names = seed("persons", 20).await;
    let search = Search::default();
    let (status, body) = search
        .call(
            Method::PUT,
            &format!("/{}", names.alias),
            Some(live_definition()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = search
        .call(
            Method::PUT,
            &format!("/{}/_doc/old-1?refresh=true", names.alias),
            Some(json!({"id": "old-1"})),
        )
        .await;
    assert!(status < 300, "{body}");

    // `mapping-diff` lists each difference, without building anything.
    let diff = indexer(&[
        "mapping-diff",
        "--table",
        &names.table,
        "--index",
        &names.alias,
        "--host",
        &search.url,
        "--entity",
        "persons",
    ])
    .await;
    assert_eq!(diff.code, 3, "{diff:?}");
    let mut listed: Vec<(String, String)> = diff.summary["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .map(|d| {
            let text = |key: &str| d[key].as_str().unwrap_or_default().to_owned();
            (text("path"), text("change"))
        })
        .collect();
    listed.sort();
    let want: Vec<(String, String)> = DIFFERENCES
        .iter()
        .map(|(path, change)| (path.to_string(), change.to_string()))
        .collect();
    assert_eq!(listed, want, "{}", diff.summary["differences"]);
    assert_eq!(
        search.indexes(&format!("{}-", names.alias)).await,
        Vec::<String>::new(),
        "mapping-diff built nothing"
    );

    // The rebuild refuses, naming each; nothing is swapped.
    let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.summary["status"], "gate_failed");
    assert_eq!(run.summary["swapped"], false);
    let refusals = run.summary["gate_refusals"].to_string();
    for needle in [
        "`placeOfBirth`: keyword in the live index, text",
        "`middleName.raw`: the live index maps it (keyword), the new mapping does not",
        "`tenures`: object in the live index, nested (include_in_parent) in the new mapping",
        "`identification`: nested in the live index, object in the new mapping",
        "`analysis.normalizer.my_normalizer` (used by `",
    ] {
        assert!(refusals.contains(needle), "{needle} in {refusals}");
    }
    assert_eq!(
        search.count(&names.alias).await,
        1,
        "the live index still serves"
    );

    // Allowed: the swap happens and each change is a warning.
    let run = indexer(&rebuild_args(
        &names,
        "persons",
        &search.url,
        &["--allow-mapping-changes"],
    ))
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["swapped"], true);
    let warnings: Vec<String> = run.summary["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(|w| w.as_str().map(str::to_owned))
        .filter(|w| w.starts_with("mapping change: "))
        .collect();
    for (path, _) in DIFFERENCES {
        assert!(
            warnings
                .iter()
                .any(|w| w.contains(&format!("`{path}`")) && w.ends_with("(allowed)")),
            "{path} in {warnings:?}"
        );
    }
    assert_eq!(warnings.len(), DIFFERENCES.len(), "{warnings:?}");
    assert_eq!(search.count(&names.alias).await, 20);
}
