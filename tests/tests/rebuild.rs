//! A full rebuild: exact counts and field-by-field fidelity, dry runs, dead letters, retention.

use aws_sdk_dynamodb::types::AttributeValue;
use indexer_core::entities;
use indexer_tests::fixtures;
use indexer_tests::harness::{
    Search, dead_letter_path, dead_letters, indexer, put, rebuild_args, seed, services,
};
use serde_json::Value;

async fn rebuilds_every_item_with_every_field(entity: &str) {
    let count = 240;
    let names = seed(entity, count).await;
    let search = Search::default();
    let dead = dead_letter_path(&names);
    let run = indexer(&rebuild_args(
        &names,
        entity,
        &search.url,
        &[
            "--dead-letter",
            &dead,
            "--segments",
            "4",
            "--batch-docs",
            "50",
        ],
    ))
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let summary = &run.summary;
    assert_eq!(summary["status"], "succeeded");
    assert_eq!(summary["scanned"], count);
    assert_eq!(summary["indexed"], count);
    assert_eq!(summary["dead_lettered"], 0);
    assert_eq!(summary["swapped"], true);
    assert_eq!(summary["entity"], entity);
    assert!(summary["dead_letter_path"].is_null());
    let warnings = summary["warnings"].to_string();
    assert!(
        warnings.contains("has no stream") && warnings.contains("indexer verify"),
        "{warnings}"
    );
    let new_index = summary["new_index"]
        .as_str()
        .expect("a new index")
        .to_owned();
    assert_eq!(
        search.alias_targets(&names.alias).await,
        vec![new_index.clone()]
    );
    assert_eq!(search.count(&names.alias).await, count);

    let factory = entities::by_name(entity).expect("registered");
    for n in (0..count).step_by(17) {
        let item = fixtures::item_for(entity, n);
        let expected: Value =
            serde_json::from_slice(&factory.to_document(&item).expect("maps").body).expect("json");
        let id = expected["id"].as_str().expect("an id").to_owned();
        let stored = search
            .source(&names.alias, &id)
            .await
            .unwrap_or_else(|| panic!("document {id} is missing"));
        assert_eq!(stored, expected, "document {id} differs from its item");
    }
}

#[tokio::test]
async fn a_rebuild_indexes_every_person_with_every_field() {
    rebuilds_every_item_with_every_field("persons").await;
}

#[tokio::test]
async fn a_rebuild_indexes_every_tenure_with_every_field() {
    rebuilds_every_item_with_every_field("tenures").await;
}

#[tokio::test]
async fn a_rebuild_indexes_every_asset_with_every_field() {
    rebuilds_every_item_with_every_field("assets").await;
}

#[tokio::test]
async fn a_dry_run_scans_and_maps_everything_but_writes_nothing() {
    let names = seed("tenures", 150).await;
    let search = Search::default();
    let run = indexer(&[
        "rebuild",
        "--table",
        &names.table,
        "--index",
        &names.alias,
        "--entity",
        "tenures",
        "--dry-run",
    ])
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["dry_run"], true);
    assert_eq!(run.summary["scanned"], 150);
    assert_eq!(run.summary["indexed"], 150);
    assert_eq!(run.summary["swapped"], false);
    assert!(run.summary["new_index"].is_null());
    assert!(search.indexes(&names.alias).await.is_empty());
}

#[tokio::test]
async fn an_unmappable_item_is_dead_lettered_and_refused_unless_allowed() {
    let names = seed("persons", 60).await;
    let mut broken = fixtures::person(1_000);
    broken.insert("id".into(), AttributeValue::S("broken-person".into()));
    broken.insert("tenures".into(), AttributeValue::S("not a list".into()));
    put(&names.table, std::iter::once(broken)).await;
    let search = Search::default();
    let dead = dead_letter_path(&names);

    let run = indexer(&rebuild_args(
        &names,
        "persons",
        &search.url,
        &["--dead-letter", &dead],
    ))
    .await;
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.summary["status"], "gate_failed");
    assert_eq!(run.summary["scanned"], 61);
    assert_eq!(run.summary["indexed"], 60);
    assert_eq!(run.summary["dead_lettered"], 1);
    assert_eq!(run.summary["swapped"], false);
    assert!(
        search.alias_targets(&names.alias).await.is_empty(),
        "the alias must not exist"
    );
    let kept = run.summary["new_index"].as_str().expect("new index kept");
    assert_eq!(
        search.count(kept).await,
        60,
        "the refused index is kept for inspection"
    );
    let records = dead_letters(&dead);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["id"], "broken-person");
    assert_eq!(records[0]["stage"], "map");
    assert!(
        records[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("`tenures`"),
        "{}",
        records[0]
    );
    assert_eq!(records[0]["item"]["tenures"]["S"], "not a list");

    std::fs::remove_file(&dead).ok();
    let run = indexer(&rebuild_args(
        &names,
        "persons",
        &search.url,
        &["--dead-letter", &dead, "--max-errors", "1"],
    ))
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["swapped"], true);
    assert_eq!(search.count(&names.alias).await, 60);
}

#[tokio::test]
async fn a_document_the_cluster_rejects_is_dead_lettered_with_its_reason() {
    let names = seed("tenures", 40).await;
    let mut bad_date = fixtures::tenure(2_000);
    bad_date.insert("id".into(), AttributeValue::S("bad-date".into()));
    bad_date.insert(
        "startOfTenureDate".into(),
        AttributeValue::S("the fifth of May".into()),
    );
    put(&names.table, std::iter::once(bad_date)).await;
    let search = Search::default();
    let dead = dead_letter_path(&names);
    let run = indexer(&rebuild_args(
        &names,
        "tenures",
        &search.url,
        &["--dead-letter", &dead, "--max-errors", "1"],
    ))
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["indexed"], 40);
    assert_eq!(run.summary["dead_lettered"], 1);
    assert_eq!(run.summary["dead_letter_path"], dead.as_str());
    let records = dead_letters(&dead);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["id"], "bad-date");
    assert_eq!(records[0]["stage"], "bulk");
    assert_eq!(records[0]["status"], 400);
    assert_eq!(records[0]["error_type"], "mapper_parsing_exception");
    assert!(
        records[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("startOfTenureDate"),
        "{}",
        records[0]
    );
    assert_eq!(
        records[0]["document"]["startOfTenureDate"],
        "the fifth of May"
    );
    assert!(search.source(&names.alias, "bad-date").await.is_none());
}

#[tokio::test]
async fn repeated_rebuilds_keep_only_the_newest_previous_index() {
    let names = seed("assets", 30).await;
    let search = Search::default();
    let mut built = Vec::new();
    for _ in 0..3 {
        let run = indexer(&rebuild_args(
            &names,
            "assets",
            &search.url,
            &["--keep", "1"],
        ))
        .await;
        assert_eq!(run.code, 0, "{run:?}");
        built.push(
            run.summary["new_index"]
                .as_str()
                .expect("new index")
                .to_owned(),
        );
        if built.len() > 1 {
            assert_eq!(
                run.summary["previous_index"],
                built[built.len() - 2].as_str()
            );
        }
    }
    assert_eq!(
        search.indexes(&names.alias).await,
        vec![built[1].clone(), built[2].clone()]
    );
    assert_eq!(
        search.alias_targets(&names.alias).await,
        vec![built[2].clone()]
    );
}

#[tokio::test]
async fn numbers_keep_all_their_digits_in_the_index() {
    let names = seed("persons", 1).await;
    let mut rich = fixtures::person(3_000);
    rich.insert("id".into(), AttributeValue::S("rich".into()));
    rich.insert(
        "totalBalance".into(),
        AttributeValue::N("12345678901234567890.123456789012345678".into()),
    );
    put(&names.table, std::iter::once(rich)).await;
    let search = Search::default();
    let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    let response = reqwest::get(format!("{}/{}/_doc/rich", search.url, names.alias))
        .await
        .expect("get");
    let text = response.text().await.expect("body");
    assert!(
        text.contains("12345678901234567890.123456789012345678"),
        "the stored source must keep every digit: {text}"
    );
    let _ = services();
}

#[tokio::test]
async fn a_table_with_a_stream_gets_no_missing_writes_warning() {
    let names = indexer_tests::harness::unique("Persons", "persons");
    fixtures::create_table(&services().dynamo(), &names.table, true)
        .await
        .expect("table with a stream");
    put(&names.table, (0..5).map(fixtures::person)).await;
    let search = Search::default();
    let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.summary["warnings"],
        serde_json::json!([]),
        "{}",
        run.summary
    );
    assert_eq!(run.summary["stream"], "replayed", "{}", run.summary);
}
