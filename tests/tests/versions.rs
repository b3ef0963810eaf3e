//! `verify` on clusters of other versions: the fault proxy answers `GET /` as that version and
//! refuses what such a cluster lacks, with the answer such a cluster gives.

use std::sync::Arc;

use indexer_tests::faults::{Fault, FaultPlan, FaultProxy, Rule};
use indexer_tests::fixtures;
use indexer_tests::harness::{Names, Run, Search, indexer, rebuild_args, seed};
use reqwest::Method;

const ELASTICSEARCH_7: &str = r#"{"name":"node-1","cluster_name":"legacy","version":{"number":"7.10.2","build_flavor":"oss","build_type":"tar","lucene_version":"8.7.0","minimum_wire_compatibility_version":"6.8.0","minimum_index_compatibility_version":"6.0.0-beta1"},"tagline":"You Know, for Search"}"#;
const ELASTICSEARCH_8: &str = r#"{"name":"node-1","cluster_name":"es8","version":{"number":"8.11.0","build_flavor":"default","build_type":"docker","lucene_version":"9.8.0"},"tagline":"You Know, for Search"}"#;
const OPENSEARCH_2: &str = r#"{"name":"node-1","cluster_name":"os2","version":{"distribution":"opensearch","number":"2.11.1","build_type":"tar","lucene_version":"9.7.0"},"tagline":"The OpenSearch Project: https://opensearch.org/"}"#;

/// Elasticsearch 7 has no `_search/point_in_time` route.
const NO_HANDLER: &str = r#"{"error":"no handler found for uri [/persons/_search/point_in_time?keep_alive=5m] and method [POST]"}"#;
/// OpenSearch before 3.3 has points in time but cannot sort on `_shard_doc`.
const NO_SHARD_DOC: &str = r#"{"error":{"root_cause":[{"type":"query_shard_exception","reason":"No mapping found for [_shard_doc] in order to sort on","index":"persons"}],"type":"search_phase_execution_exception","reason":"all shards failed","phase":"query","grouped":true},"status":400}"#;

/// A proxy answering `GET /` with `root`, refusing points in time (`pit`) and `_shard_doc` sorts.
async fn cluster_of(root: &'static str, pit: Option<&'static str>) -> FaultProxy {
    let mut rules = vec![Rule {
        repeat: true,
        ..Rule::new("root", "GET", 1, Fault::Answer(200, root), |p| p == "/")
    }];
    if let Some(refusal) = pit {
        rules.push(Rule {
            repeat: true,
            ..Rule::new("pit", "POST", 1, Fault::Answer(400, refusal), |p| {
                p.ends_with("/_search/point_in_time")
            })
        });
    }
    rules.push(Rule {
        repeat: true,
        matches: Arc::new(|request| String::from_utf8_lossy(&request.body).contains("_shard_doc")),
        ..Rule::new(
            "shard_doc",
            "POST",
            1,
            Fault::Answer(400, NO_SHARD_DOC),
            |_| true,
        )
    });
    let search = Search::default();
    FaultProxy::start(
        &search.url,
        FaultPlan {
            rules,
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy")
}

/// A rebuilt alias over 60 persons, then one document removed from the index directly.
async fn one_missing() -> (Names, String) {
    let names = seed("persons", 60).await;
    let search = Search::default();
    let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    let index = search.alias_targets(&names.alias).await.remove(0);
    let removed = fixtures::person_id(7);
    search
        .call(Method::DELETE, &format!("/{index}/_doc/{removed}"), None)
        .await;
    (names, removed)
}

async fn verify(names: &Names, host: &str) -> Run {
    indexer(&[
        "verify",
        "--table",
        &names.table,
        "--index",
        &names.alias,
        "--host",
        host,
        "--entity",
        "persons",
    ])
    .await
}

fn assert_found_by_id(run: &Run, removed: &str, proxy: &FaultProxy) {
    assert_eq!(run.code, 6, "{run:?}");
    let drift = &run.summary["drift"];
    assert_eq!(drift["missing"]["count"], 1, "{}", run.summary);
    assert_eq!(drift["missing"]["sample_ids"][0], removed);
    assert_eq!(drift["documents"], 59);
    assert_eq!(drift["listing"], "search_after_id");
    let hits = proxy.seen().rule_hits;
    assert!(hits[0] > 0, "GET / was answered by the proxy");
    assert_eq!(hits[1..].iter().sum::<u32>(), 0, "nothing was refused");
}

#[tokio::test]
async fn verify_on_elasticsearch_7_lists_by_id_without_a_point_in_time() {
    let (names, removed) = one_missing().await;
    let proxy = cluster_of(ELASTICSEARCH_7, Some(NO_HANDLER)).await;
    let run = verify(&names, &proxy.url).await;
    assert_found_by_id(&run, &removed, &proxy);
}

#[tokio::test]
async fn verify_on_opensearch_before_3_3_lists_by_id_not_on_shard_doc() {
    let (names, removed) = one_missing().await;
    let proxy = cluster_of(OPENSEARCH_2, None).await;
    let run = verify(&names, &proxy.url).await;
    assert_found_by_id(&run, &removed, &proxy);
}

#[tokio::test]
async fn verify_on_a_recent_opensearch_lists_through_a_point_in_time() {
    let (names, removed) = one_missing().await;
    let run = verify(&names, &Search::default().url).await;
    assert_eq!(run.code, 6, "{run:?}");
    assert_eq!(
        run.summary["drift"]["missing"]["sample_ids"][0],
        removed.as_str()
    );
    assert_eq!(run.summary["drift"]["listing"], "point_in_time");
}

#[tokio::test]
async fn verify_refuses_elasticsearch_8_naming_it() {
    let (names, _) = one_missing().await;
    let proxy = cluster_of(ELASTICSEARCH_8, None).await;
    let run = verify(&names, &proxy.url).await;
    assert_eq!(run.code, 2, "{run:?}");
    let error = run.summary["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("elasticsearch 8.11.0") && error.contains("Elasticsearch 7.x"),
        "{error}"
    );
}
