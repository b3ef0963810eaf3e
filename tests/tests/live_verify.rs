//! `verify` on a table being written: no false drift, and real drift still reported.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use aws_sdk_dynamodb::types::AttributeValue;
use indexer_core::entities;
use indexer_tests::fixtures::{self, Item};
use indexer_tests::harness::{Search, indexer, put, rebuild_args, seed, services};
use reqwest::Method;
use serde_json::Value;

/// Writes `item` to the table, then its document to `index` with its external version, the way
/// the owning service and a stream follower would.
async fn write_through(table: &str, search: &Search, index: &str, item: Item) {
    put(table, std::iter::once(item.clone())).await;
    let Some(persons) = entities::by_name("persons") else {
        panic!("persons is registered")
    };
    let doc = match persons.to_document(&item) {
        Ok(doc) => doc,
        Err(error) => panic!("sample maps: {error}"),
    };
    let body: Value = serde_json::from_slice(&doc.body).unwrap_or(Value::Null);
    let version = doc.version.unwrap_or_default();
    let (status, answer) = search
        .call(
            Method::PUT,
            &format!(
                "/{index}/_doc/{}?version={version}&version_type=external",
                doc.id
            ),
            Some(body),
        )
        .await;
    assert!(status < 300 || status == 409, "{status} {answer}");
}

async fn delete_through(table: &str, search: &Search, index: &str, id: &str) {
    services()
        .dynamo()
        .delete_item()
        .table_name(table)
        .key("id", AttributeValue::S(id.to_owned()))
        .send()
        .await
        .expect("delete item");
    search
        .call(Method::DELETE, &format!("/{index}/_doc/{id}"), None)
        .await;
}

/// Person `n` at `version`, with a surname saying so.
fn person_at(n: u64, version: u64) -> Item {
    let mut item = fixtures::person(n);
    item.insert(
        "surname".into(),
        AttributeValue::S(format!("Writer-{n}-{version}")),
    );
    item.insert(
        "versionNumber".into(),
        AttributeValue::N(version.to_string()),
    );
    item
}

#[tokio::test]
async fn verify_on_a_table_being_written_reports_only_real_drift() {
    let names = seed("persons", 1_000).await;
    let search = Search::default();
    let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    let index = search.alias_targets(&names.alias).await.remove(0);

    // Real drift, made in the index directly: one document removed, one edited.
    let (removed, edited) = (fixtures::person_id(850), fixtures::person_id(860));
    search
        .call(Method::DELETE, &format!("/{index}/_doc/{removed}"), None)
        .await;
    let (_, mut doc) = search
        .call(Method::GET, &format!("/{index}/_doc/{edited}"), None)
        .await;
    doc["_source"]["versionNumber"] = Value::from(123_456);
    let (status, _) = search
        .call(
            Method::PUT,
            &format!("/{index}/_doc/{edited}"),
            Some(doc["_source"].clone()),
        )
        .await;
    assert_eq!(status, 200);

    // A writer updating, deleting and inserting items (and their documents) throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, writes) = (Arc::clone(&stop), Arc::clone(&writes));
        let (table, search, index) = (names.table.clone(), search.clone(), index.clone());
        tokio::spawn(async move {
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let n = round % 200;
                let version = 1_000 + round;
                match round % 10 {
                    // Deletes of items 0..200 stepping by 10, once each.
                    0 if round < 200 => {
                        delete_through(&table, &search, &index, &fixtures::person_id(n)).await
                    }
                    // Inserts of new items.
                    5 => write_through(&table, &search, &index, person_at(10_000 + round, 1)).await,
                    _ => write_through(&table, &search, &index, person_at(n, version)).await,
                }
                writes.fetch_add(1, Ordering::Relaxed);
                round += 1;
            }
        })
    };
    // The writer is running before verify starts.
    indexer_tests::harness::eventually(
        "the writer to start",
        std::time::Duration::from_secs(30),
        || async { (writes.load(Ordering::Relaxed) > 5).then_some(()) },
    )
    .await;
    let before = writes.load(Ordering::Relaxed);
    let args = [
        "verify",
        "--table",
        &names.table,
        "--index",
        &names.alias,
        "--host",
        &search.url,
        "--entity",
        "persons",
        "--page-size",
        "10",
    ];
    let run = indexer(&args).await;
    let during = writes.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    writer.await.expect("writer");
    assert!(during > 5, "the writer wrote {during} times during verify");

    assert_eq!(run.code, 6, "{run:?}");
    let drift = &run.summary["drift"];
    assert_eq!(drift["missing"]["count"], 1, "{}", run.summary);
    assert_eq!(drift["missing"]["sample_ids"][0], removed.as_str());
    assert_eq!(drift["stale"]["count"], 1, "{}", run.summary);
    assert_eq!(drift["stale"]["sample_ids"][0], edited.as_str());
    assert_eq!(drift["extra"]["count"], 0, "{}", run.summary);
    let recheck = &run.summary["recheck"];
    assert!(
        recheck["cleared"].as_u64().unwrap_or_default() > 0,
        "writes during the scan were suspects, then cleared: {}",
        run.summary
    );
}
