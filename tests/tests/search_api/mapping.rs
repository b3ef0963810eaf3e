//! The mapping comparison end to end: a rebuild refuses to swap when its mapping lacks or
//! changes a field the live index maps, unless told to; `indexer mapping-diff` prints the same
//! comparison without building.

use indexer_core::entities;
use indexer_tests::harness::{Names, Search, indexer, rebuild_args, seed};
use reqwest::Method;
use serde_json::{Value, json};

/// The live mappings as the search API's repository dumped them (types, sub-fields,
/// normalizers).
const LIVE_PERSONS: &str =
    include_str!("../../../indexer-core/src/entities/testdata/live-persons.json");

/// Creates the alias's live index by hand (the original tool's layout: a concrete index under
/// the alias's name) with `mappings`, holding one document.
async fn live_index(search: &Search, names: &Names, mappings: Value) {
    let normalizer = json!({"type": "custom", "filter": ["lowercase", "asciifolding"]});
    let definition = json!({
        "settings": {"number_of_shards": 1, "analysis": {"normalizer": {"my_normalizer": normalizer}}},
        "mappings": mappings,
    });
    let (status, body) = search
        .call(Method::PUT, &format!("/{}", names.alias), Some(definition))
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
}

/// The persons mapping this tool builds, plus a field it does not have.
fn persons_plus_nickname() -> Value {
    let mut mappings = entities::by_name("persons")
        .expect("registered")
        .index_definition()["mappings"]
        .clone();
    mappings["properties"]["nickname"] =
        json!({"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}});
    mappings
}

fn mapping_diff<'a>(names: &'a Names, host: &'a str) -> Vec<&'a str> {
    vec![
        "mapping-diff",
        "--table",
        &names.table,
        "--index",
        &names.alias,
        "--host",
        host,
        "--entity",
        "persons",
    ]
}

#[tokio::test]
async fn a_rebuild_that_drops_a_live_field_is_refused_and_the_alias_left_alone() {
    let names = seed("persons", 30).await;
    let search = Search::default();
    live_index(&search, &names, persons_plus_nickname()).await;

    let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.summary["status"], "gate_failed");
    assert_eq!(run.summary["swapped"], false);
    let refusals = run.summary["gate_refusals"].to_string();
    assert!(
        refusals.contains("mapping change: `nickname`: the live index maps it (text (+keyword))"),
        "{refusals}"
    );
    assert_eq!(
        search.count(&names.alias).await,
        1,
        "the live index still serves"
    );
    let new_index = run.summary["new_index"].as_str().expect("a new index");
    assert_eq!(
        search.count(new_index).await,
        30,
        "the new index is kept for inspection"
    );
}

#[tokio::test]
async fn an_allowed_mapping_change_swaps_and_says_what_changed() {
    let names = seed("persons", 30).await;
    let search = Search::default();
    live_index(&search, &names, persons_plus_nickname()).await;

    let run = indexer(&rebuild_args(
        &names,
        "persons",
        &search.url,
        &["--allow-mapping-changes"],
    ))
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["swapped"], true);
    let warnings = run.summary["warnings"].to_string();
    assert!(
        warnings.contains("mapping change: `nickname`") && warnings.contains("(allowed)"),
        "{warnings}"
    );
    assert_eq!(search.count(&names.alias).await, 30);
}

#[tokio::test]
async fn a_rebuild_whose_mapping_matches_the_live_one_swaps_without_a_word() {
    let names = seed("persons", 30).await;
    let search = Search::default();
    let same = entities::by_name("persons")
        .expect("registered")
        .index_definition()["mappings"]
        .clone();
    live_index(&search, &names, same).await;

    let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["swapped"], true);
    assert!(
        !run.summary["warnings"]
            .to_string()
            .contains("mapping change"),
        "{}",
        run.summary["warnings"]
    );
    // And the next rebuild, over the index this one built, too.
    let again = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(again.code, 0, "{again:?}");
}

#[tokio::test]
async fn mapping_diff_prints_the_comparison_without_building() {
    let names = seed("persons", 5).await;
    let search = Search::default();
    let args = mapping_diff(&names, &search.url);

    // Nothing live yet: nothing to contradict.
    let run = indexer(&args).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["compatible"], true);
    assert!(run.summary["live_index"].is_null());

    // The live persons index as dumped: object tenures, which the new mapping makes nested.
    let live: Value = serde_json::from_str(LIVE_PERSONS).expect("JSON");
    live_index(&search, &names, live).await;
    let run = indexer(&args).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.summary["compatible"], false);
    assert_eq!(run.summary["live_index"], names.alias.as_str());
    assert_eq!(
        run.summary["differences"],
        json!([{"path": "tenures", "change": "kind", "before": "object", "after": "nested (include_in_parent)"}])
    );
    assert_eq!(
        search.indexes(&format!("{}-", names.alias)).await,
        Vec::<String>::new(),
        "nothing was built"
    );

    // After a rebuild that was allowed to change it, the live mapping is the new one.
    let rebuild = indexer(&rebuild_args(
        &names,
        "persons",
        &search.url,
        &["--allow-mapping-changes"],
    ))
    .await;
    assert_eq!(rebuild.code, 0, "{rebuild:?}");
    let run = indexer(&args).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["compatible"], true);
    assert_eq!(run.summary["live_index"], rebuild.summary["new_index"]);
    assert_eq!(run.summary["differences"], json!([]));
}
