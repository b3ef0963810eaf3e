//! Keeping the index true: verify (and --fix with its cap), resync and sync.

use aws_sdk_dynamodb::types::AttributeValue;
use indexer_tests::fixtures;
use indexer_tests::harness::{Names, Search, indexer, put, rebuild_args, seed, services};
use serde_json::Value;

async fn delete_items(table: &str, ids: &[String]) {
    let client = services().dynamo();
    for id in ids {
        client
            .delete_item()
            .table_name(table)
            .key("id", AttributeValue::S(id.clone()))
            .send()
            .await
            .expect("delete item");
    }
}

/// Changes persons `ns` in the table: a new surname and a higher version.
async fn change_persons(table: &str, ns: &[u64]) {
    put(
        table,
        ns.iter().map(|n| {
            let mut item = fixtures::person(*n);
            item.insert("surname".into(), AttributeValue::S(format!("Changed-{n}")));
            item.insert("versionNumber".into(), AttributeValue::N("999".into()));
            item
        }),
    )
    .await;
}

fn ids(ns: &[u64]) -> Vec<String> {
    let mut ids: Vec<String> = ns.iter().map(|n| fixtures::person_id(*n)).collect();
    ids.sort();
    ids
}

fn sample(report: &Value, kind: &str) -> Vec<String> {
    let mut ids: Vec<String> = report["drift"][kind]["sample_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

async fn verify(names: &Names, host: &str, extra: &[&str]) -> indexer_tests::harness::Run {
    let mut args = vec![
        "verify",
        "--table",
        &names.table,
        "--index",
        &names.alias,
        "--host",
        host,
        "--entity",
        "persons",
    ];
    args.extend_from_slice(extra);
    indexer(&args).await
}

/// A rebuilt alias over 100 persons, then drift: 2 deleted, 3 changed, 2 added.
async fn drifted() -> (Names, Search) {
    let names = seed("persons", 100).await;
    let search = Search::default();
    let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    delete_items(&names.table, &ids(&[10, 20])).await;
    change_persons(&names.table, &[30, 40, 50]).await;
    put(
        &names.table,
        [100u64, 101].iter().map(|n| fixtures::person(*n)),
    )
    .await;
    (names, search)
}

#[tokio::test]
async fn verify_reports_exact_drift_and_fix_repairs_it() {
    let (names, search) = drifted().await;
    let run = verify(&names, &search.url, &[]).await;
    assert_eq!(run.code, 6, "{run:?}");
    let report = &run.summary;
    assert_eq!(report["status"], "drift");
    assert_eq!(report["drift"]["missing"]["count"], 2);
    assert_eq!(report["drift"]["extra"]["count"], 2);
    assert_eq!(report["drift"]["stale"]["count"], 3);
    assert_eq!(sample(report, "missing"), ids(&[100, 101]));
    assert_eq!(sample(report, "extra"), ids(&[10, 20]));
    assert_eq!(sample(report, "stale"), ids(&[30, 40, 50]));

    let fixed = verify(&names, &search.url, &["--fix"]).await;
    assert_eq!(fixed.code, 0, "{fixed:?}");
    assert_eq!(fixed.summary["status"], "fixed");
    assert_eq!(fixed.summary["fixed"]["upserted"], 5);
    assert_eq!(fixed.summary["fixed"]["deleted"], 2);
    let stored = search
        .source(&names.alias, &fixtures::person_id(30))
        .await
        .expect("document");
    assert_eq!(stored["surname"], "Changed-30");

    let again = verify(&names, &search.url, &[]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.summary["status"], "in_sync");
    assert_eq!(search.count(&names.alias).await, 100);
}

#[tokio::test]
async fn fix_refuses_more_changes_than_the_cap_and_changes_nothing() {
    let (names, search) = drifted().await;
    let refused = verify(&names, &search.url, &["--fix", "--max-changes", "6"]).await;
    assert_eq!(refused.code, 6, "{refused:?}");
    assert_eq!(refused.summary["status"], "refused");
    let error = refused.summary["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("would change 7 documents")
            && error.contains("--max-changes 6")
            && error.contains("nothing was changed"),
        "{error}"
    );
    let planned = verify(&names, &search.url, &["--fix", "--dry-run"]).await;
    assert_eq!(planned.summary["status"], "planned", "{planned:?}");
    assert_eq!(planned.summary["plan"]["upsert"], 5);
    assert_eq!(planned.summary["plan"]["delete"], 2);
    let after = verify(&names, &search.url, &[]).await;
    assert_eq!(after.summary["changes"], 7, "nothing changed: {after:?}");
    let forced = verify(
        &names,
        &search.url,
        &["--fix", "--max-changes", "6", "--force"],
    )
    .await;
    assert_eq!(forced.code, 0, "{forced:?}");
}

#[tokio::test]
async fn resync_upserts_named_items_and_deletes_the_vanished_one() {
    let names = seed("persons", 20).await;
    let search = Search::default();
    let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    change_persons(&names.table, &[3]).await;
    delete_items(&names.table, &ids(&[4])).await;
    put(&names.table, std::iter::once(fixtures::person(50))).await;
    let list = format!(
        "{},{},{},never-existed",
        fixtures::person_id(3),
        fixtures::person_id(4),
        fixtures::person_id(50)
    );
    let args = [
        "resync",
        "--table",
        &names.table,
        "--index",
        &names.alias,
        "--host",
        &search.url,
        "--entity",
        "persons",
        "--ids",
        &list,
    ];
    let run = indexer(&args).await;
    assert_eq!(run.code, 0, "{run:?}");
    let outcomes: std::collections::HashMap<String, String> = run.summary["ids"]
        .as_array()
        .expect("per id")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or_default().to_owned(),
                r["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(outcomes[&fixtures::person_id(3)], "upserted");
    assert_eq!(outcomes[&fixtures::person_id(4)], "deleted");
    assert_eq!(outcomes[&fixtures::person_id(50)], "upserted");
    assert_eq!(outcomes["never-existed"], "absent");
    assert_eq!(
        search
            .source(&names.alias, &fixtures::person_id(3))
            .await
            .expect("doc")["surname"],
        "Changed-3"
    );
    assert!(
        search
            .source(&names.alias, &fixtures::person_id(4))
            .await
            .is_none()
    );
    assert!(
        search
            .source(&names.alias, &fixtures::person_id(50))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn sync_refreshes_in_place_removes_orphans_and_keeps_the_alias() {
    let (names, search) = drifted().await;
    let before = search.alias_targets(&names.alias).await;
    let args = [
        "sync",
        "--table",
        &names.table,
        "--index",
        &names.alias,
        "--host",
        &search.url,
        "--entity",
        "persons",
    ];
    let run = indexer(&args).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.summary["fixed"]["deleted"], 2, "{}", run.summary);
    assert_eq!(run.summary["fixed"]["upserted"], 5, "{}", run.summary);
    assert_eq!(
        search.alias_targets(&names.alias).await,
        before,
        "the alias stays on the same index"
    );
    assert!(
        search
            .source(&names.alias, &fixtures::person_id(10))
            .await
            .is_none(),
        "orphans are gone"
    );
    let again = verify(&names, &search.url, &[]).await;
    assert_eq!(again.code, 0, "{again:?}");
}

#[tokio::test]
async fn rebuild_and_verify_name_attributes_the_entity_does_not_map() {
    let names = seed("persons", 30).await;
    let carriers = [3u64, 7, 11, 19];
    put(
        &names.table,
        carriers.iter().map(|n| {
            let mut item = fixtures::person(*n);
            item.insert("loyaltyTier".into(), AttributeValue::S("gold".into()));
            item
        }),
    )
    .await;
    let search = Search::default();
    let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    // The rebuild's summary names them, and warns.
    let rebuilt = &run.summary["unmapped_attributes"];
    assert_eq!(rebuilt.as_array().map(Vec::len), Some(1), "{}", run.summary);
    assert_eq!(rebuilt[0]["name"], "loyaltyTier");
    assert_eq!(rebuilt[0]["count"], 4);
    assert!(
        run.summary["warnings"]
            .to_string()
            .contains("loyaltyTier (4 items)"),
        "{}",
        run.summary
    );
    let run = verify(&names, &search.url, &[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let unmapped = &run.summary["drift"]["unmapped_attributes"];
    assert_eq!(unmapped.as_array().map(Vec::len), Some(1), "{unmapped}");
    assert_eq!(unmapped[0]["name"], "loyaltyTier");
    assert_eq!(unmapped[0]["count"], 4);
    let samples = unmapped[0]["sample_ids"].as_array().expect("ids");
    assert_eq!(samples.len(), 3, "{unmapped}");
    let carrier_ids = ids(&carriers);
    assert!(
        samples
            .iter()
            .all(|id| carrier_ids.iter().any(|c| Some(c.as_str()) == id.as_str())),
        "{unmapped}"
    );
}
