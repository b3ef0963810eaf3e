//! The mapping comparison end to end: a rebuild refuses to swap when its mapping lacks or
//! changes a field the live index maps, unless told to; `indexer mapping-diff` prints the same
//! comparison without building.

use std::time::Duration;

use indexer_core::entities;
use indexer_tests::faults::FaultProxy;
use indexer_tests::harness::{
    Names, Search, eventually, finish, indexer, rebuild_args, seed, signal, spawn_indexer,
};
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
    assert!(
        run.summary["notes"][0]
            .as_str()
            .is_some_and(|note| note
                .starts_with("dynamic true in the live index, strict in the new mapping")),
        "{}",
        run.summary["notes"]
    );
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
    assert_eq!(run.summary["notes"], json!([]));
}

/// A run stopped mid-way leaves its building index behind; the next run resumes into it. That
/// index may come from an earlier binary whose mapping differed: the gate compares the index
/// about to go live, not this binary's definition.
#[tokio::test]
async fn a_resumed_run_is_gated_on_the_mapping_of_the_index_it_resumed_into() {
    let names = seed("persons", 300).await;
    let search = Search::default();
    let definition = entities::by_name("persons")
        .expect("registered")
        .index_definition();
    live_index(&search, &names, definition["mappings"].clone()).await;

    let proxy = FaultProxy::slowed(&search.url, Duration::from_millis(100)).await;
    let slow = [
        "--batch-docs",
        "25",
        "--page-size",
        "25",
        "--concurrency",
        "1",
        "--segments",
        "4",
        "--stop-timeout",
        "10",
    ];
    let args = rebuild_args(&names, "persons", &proxy.url, &slow);
    let victim = spawn_indexer(&args, &[]);
    let building = eventually("a checkpoint", Duration::from_secs(120), || async {
        let job = search.latest_job(&names.alias).await?;
        let saved = job["checkpoints"]
            .as_array()?
            .iter()
            .any(|c| c["scanned"].as_u64() > Some(0));
        saved.then(|| job["new_index"].as_str().map(str::to_owned))?
    })
    .await;
    signal("-TERM", &victim.id().expect("pid").to_string());
    let stopped = finish(victim, &args).await;
    assert_eq!(stopped.summary["status"], "interrupted", "{stopped:?}");

    // The building index as an earlier binary made it: `tenures` an object, not nested.
    let mut older = definition.clone();
    older["mappings"]["properties"]["tenures"]
        .as_object_mut()
        .expect("tenures")
        .retain(|key, _| key == "properties");
    let (status, body) = search
        .call(Method::DELETE, &format!("/{building}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = search
        .call(Method::PUT, &format!("/{building}"), Some(older))
        .await;
    assert_eq!(status, 200, "{body}");

    // The recreated index lost what was checkpointed, so the counts refuse too; what matters
    // is that the mapping refusal names the index's own shape, not this binary's.
    let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(
        run.summary["resumed_from"], stopped.summary["job_id"],
        "{run:?}"
    );
    assert_eq!(run.summary["new_index"], building.as_str());
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.summary["swapped"], false);
    let refusals = run.summary["gate_refusals"].to_string();
    assert!(
        refusals.contains("mapping change: `tenures`: nested (include_in_parent) in the live index, object in the new mapping"),
        "{refusals}"
    );
    assert_eq!(
        search.count(&names.alias).await,
        1,
        "the live index still serves"
    );
}

/// The live index's normalizer, same name, other filters: the gate refuses.
#[tokio::test]
async fn a_live_normalizer_defined_otherwise_refuses_the_swap() {
    let names = seed("persons", 10).await;
    let search = Search::default();
    let mut definition = entities::by_name("persons")
        .expect("registered")
        .index_definition();
    definition["settings"] = json!({"number_of_shards": 1,
        "analysis": {"normalizer": {"my_normalizer": {"type": "custom", "filter": ["lowercase"]}}}});
    let (status, body) = search
        .call(Method::PUT, &format!("/{}", names.alias), Some(definition))
        .await;
    assert_eq!(status, 200, "{body}");

    let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(run.code, 3, "{run:?}");
    let refusals = run.summary["gate_refusals"].to_string();
    assert!(
        refusals.contains("mapping change: `analysis.normalizer.my_normalizer` (used by `")
            && refusals.contains("type custom, filter [lowercase] in the live index, type custom, filter [lowercase, asciifolding] in the new settings"),
        "{refusals}"
    );
}
