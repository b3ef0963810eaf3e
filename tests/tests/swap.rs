//! The alias swap: legacy migration, companion aliases, the gate, and readers during a rebuild.

use std::time::Duration;

use indexer_tests::harness::{Search, indexer, rebuild_args, rebuilt, seed};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_legacy_concrete_index_is_replaced_by_the_alias_in_one_step() {
    let names = seed("persons", 80).await;
    let search = Search::default();
    let (status, body) = search
        .call(Method::PUT, &format!("/{}", names.alias), Some(json!({})))
        .await;
    assert_eq!(status, 200, "{body}");
    for id in ["old-1", "old-2", "old-3"] {
        let (status, _) = search
            .call(
                Method::PUT,
                &format!("/{}/_doc/{id}", names.alias),
                Some(json!({"id": id})),
            )
            .await;
        assert!(status < 300);
    }
    let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["previous_index"], names.alias.as_str());
    let new_index = run.summary["new_index"].as_str().expect("new index");
    assert_eq!(
        search.alias_targets(&names.alias).await,
        vec![new_index.to_owned()]
    );
    assert_eq!(search.count(&names.alias).await, 80);
    assert!(
        search.source(&names.alias, "old-1").await.is_none(),
        "the legacy documents are gone"
    );
}

#[tokio::test]
async fn companion_aliases_move_with_their_filters_and_flags() {
    let (names, search, old_index) = rebuilt("persons", 120).await;
    let tenants = format!("{}-tenants", names.alias);
    let filter = json!({"term": {"personTypes.keyword": "Tenant"}});
    let (status, body) = search
        .call(
            Method::POST,
            "/_aliases",
            Some(json!({"actions": [{"add": {"index": old_index, "alias": tenants, "filter": filter, "is_write_index": false}}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let tenants_before = search.count(&tenants).await;
    assert!(
        tenants_before > 0 && tenants_before < 120,
        "the filter selects some persons: {tenants_before}"
    );

    let second = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(second.code, 0, "{second:?}");
    let new_index = second.summary["new_index"]
        .as_str()
        .expect("index")
        .to_owned();
    assert_eq!(
        search.alias_targets(&tenants).await,
        vec![new_index.clone()]
    );
    let (_, aliases) = search
        .call(Method::GET, &format!("/{new_index}/_alias"), None)
        .await;
    let moved = &aliases[&new_index]["aliases"][&tenants];
    assert_eq!(moved["filter"], filter, "{aliases}");
    assert_eq!(moved["is_write_index"], false, "{aliases}");
    assert_eq!(search.count(&tenants).await, tenants_before);
}

#[tokio::test]
async fn the_gate_refuses_a_shrunken_source_and_leaves_the_alias_untouched() {
    let (names, search, live) = rebuilt("tenures", 100).await;

    let smaller = seed("tenures", 50).await;
    let args = [
        "rebuild",
        "--table",
        &smaller.table,
        "--index",
        &names.alias,
        "--host",
        &search.url,
        "--entity",
        "tenures",
    ];
    let run = indexer(&args).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.summary["status"], "gate_failed");
    assert_eq!(run.summary["swapped"], false);
    let refusals = run.summary["gate_refusals"].to_string();
    assert!(
        refusals.contains("fewer than --min-ratio 0.9 x 100 live documents = 90"),
        "{refusals}"
    );
    assert_eq!(search.alias_targets(&names.alias).await, vec![live]);
    assert_eq!(search.count(&names.alias).await, 100);
    let kept = run.summary["new_index"].as_str().expect("kept");
    assert_eq!(
        search.count(kept).await,
        50,
        "the refused index is kept for inspection"
    );
}

#[tokio::test]
async fn readers_of_the_alias_see_no_error_and_never_fewer_documents_during_a_rebuild() {
    let (names, search, old_index) = rebuilt("persons", 1_500).await;

    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let reader_search = search.clone();
    let alias = names.alias.clone();
    let reader = tokio::spawn(async move {
        let mut seen_indexes = std::collections::BTreeSet::new();
        let mut reads = 0u32;
        loop {
            let stop = stop_rx.try_recv().is_ok();
            let (status, body) = reader_search
                .call(
                    Method::POST,
                    &format!("/{alias}/_search"),
                    Some(json!({"size": 1, "track_total_hits": true})),
                )
                .await;
            assert_eq!(status, 200, "a reader got an error: {body}");
            let total = body["hits"]["total"]["value"].as_u64().unwrap_or_default();
            assert!(total >= 1_500, "a reader saw {total} documents: {body}");
            if let Some(index) = body["hits"]["hits"][0]["_index"].as_str() {
                seen_indexes.insert(index.to_owned());
            }
            reads += 1;
            if stop {
                return (reads, seen_indexes);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let second = indexer(&rebuild_args(
        &names,
        "persons",
        &search.url,
        &["--batch-docs", "100", "--concurrency", "1"],
    ))
    .await;
    assert_eq!(second.code, 0, "{second:?}");
    stop_tx.send(()).expect("reader alive");
    let (reads, seen) = reader.await.expect("reader passed");
    let new_index = second.summary["new_index"]
        .as_str()
        .expect("index")
        .to_owned();
    assert!(
        seen.contains(&old_index) && seen.contains(&new_index),
        "reads {reads}, saw {seen:?}"
    );
}
