//! Repairs on a live table: versioned writes, composite keys, throttled re-reads.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use indexer_core::entities;
use indexer_tests::faults::{Fault, FaultPlan, FaultProxy, Rule};
use indexer_tests::fixtures::{self, Item};
use indexer_tests::harness::{
    Search, eventually, finish, indexer, indexer_with_env, put, rebuild_args, seed, services,
    spawn_indexer, unique,
};
use reqwest::Method;
use serde_json::Value;

/// Person `n` at `version`, with a surname naming both.
fn person_at(n: u64, version: u64) -> Item {
    let mut item = fixtures::person(n);
    item.insert(
        "surname".into(),
        AttributeValue::S(format!("Version-{version}")),
    );
    item.insert(
        "versionNumber".into(),
        AttributeValue::N(version.to_string()),
    );
    item
}

fn resync_args<'a>(table: &'a str, alias: &'a str, host: &'a str, ids: &'a str) -> Vec<&'a str> {
    vec![
        "resync", "--table", table, "--index", alias, "--host", host, "--entity", "persons",
        "--ids", ids,
    ]
}

/// Per id of a resync answer: its outcome.
fn outcomes(summary: &Value) -> HashMap<String, String> {
    summary["ids"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or_default().to_owned(),
                r["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_repair_never_overwrites_a_newer_copy_a_live_writer_put_there() {
    let names = seed("persons", 20).await;
    let search = Search::default();
    let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    let index = search.alias_targets(&names.alias).await.remove(0);
    put(&names.table, std::iter::once(person_at(3, 500))).await;

    // The repair's write is held at the proxy until the live writer has written version 501.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let proxy = FaultProxy::start(
        &search.url,
        FaultPlan {
            bulk_gate: Some(Arc::clone(&gate)),
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy");
    let id = fixtures::person_id(3);
    let args = resync_args(&names.table, &names.alias, &proxy.url, &id);
    let child = spawn_indexer(&args, &[]);
    eventually(
        "the repair's bulk request",
        Duration::from_secs(60),
        || async { (proxy.seen().bulk_requests >= 1).then_some(()) },
    )
    .await;
    let newer = person_at(3, 501);
    put(&names.table, std::iter::once(newer.clone())).await;
    let Some(persons) = entities::by_name("persons") else {
        panic!("persons is registered")
    };
    let doc = persons.to_document(&newer).expect("maps");
    let (status, answer) = search
        .call(
            Method::PUT,
            &format!("/{index}/_doc/{id}?version=501&version_type=external"),
            Some(serde_json::from_slice(&doc.body).expect("json")),
        )
        .await;
    assert!(status < 300, "{status} {answer}");
    gate.add_permits(1);
    let run = finish(child, &args).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(outcomes(&run.summary)[&id], "upserted", "{}", run.summary);
    let stored = search.source(&index, &id).await.expect("document");
    assert_eq!(stored["surname"], "Version-501", "the newer copy stays");
    assert_eq!(stored["versionNumber"], 501);
}

#[tokio::test]
async fn resync_reads_each_composite_key_on_its_own() {
    let names = unique("Persons", "persons");
    services()
        .dynamo()
        .create_table()
        .table_name(&names.table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("definition"),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("seq")
                .attribute_type(ScalarAttributeType::N)
                .build()
                .expect("definition"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .expect("hash key"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("seq")
                .key_type(KeyType::Range)
                .build()
                .expect("range key"),
        )
        .send()
        .await
        .expect("composite table");
    let at = |n: u64, seq: u64| {
        let mut item = person_at(n, 1);
        item.insert("seq".into(), AttributeValue::N(seq.to_string()));
        item
    };
    put(&names.table, [at(1, 1), at(2, 2)].into_iter()).await;
    let search = Search::default();
    let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");

    let (p1, p2) = (fixtures::person_id(1), fixtures::person_id(2));
    let mut changed = person_at(1, 2);
    changed.insert("seq".into(), AttributeValue::N("1".into()));
    put(&names.table, std::iter::once(changed)).await;
    let ids = format!("{p1}|1,{p1}|2,{p2}|02");
    let run = indexer(&resync_args(&names.table, &names.alias, &search.url, &ids)).await;
    let outcomes = outcomes(&run.summary);
    assert_eq!(outcomes.len(), 3, "one outcome per key: {}", run.summary);
    assert_eq!(outcomes[&format!("{p1}|1")], "upserted", "{}", run.summary);
    assert_eq!(
        outcomes[&format!("{p1}|2")],
        "failed",
        "no such item: {}",
        run.summary
    );
    assert_eq!(
        outcomes[&format!("{p2}|02")],
        "upserted",
        "a number key read in any spelling: {}",
        run.summary
    );
    let stored = search.source(&names.alias, &p1).await.expect("document");
    assert_eq!(stored["surname"], "Version-2");
    let reason = run.summary.to_string();
    assert!(reason.contains("composite key"), "{reason}");
    assert_eq!(run.code, 1, "{run:?}");
}

#[tokio::test]
async fn keys_left_unprocessed_by_a_throttled_table_are_read_again() {
    let names = seed("persons", 20).await;
    let search = Search::default();
    let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    put(&names.table, std::iter::once(person_at(5, 900))).await;
    // The first 12 BatchGetItem calls leave every key unprocessed.
    let rules = (1..=12)
        .map(|nth| Rule::aws_call("unprocessed", "BatchGetItem", nth, Fault::Unprocessed))
        .collect();
    let dynamo = FaultProxy::start(
        &services().dynamo_url,
        FaultPlan {
            rules,
            ..FaultPlan::default()
        },
    )
    .await
    .expect("proxy");
    let id = fixtures::person_id(5);
    let run = indexer_with_env(
        &resync_args(&names.table, &names.alias, &search.url, &id),
        &[("AWS_ENDPOINT_URL_DYNAMODB", &dynamo.url)],
    )
    .await;
    assert_eq!(dynamo.seen().rule_hits.iter().sum::<u32>(), 12);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(outcomes(&run.summary)[&id], "upserted");
    let stored = search.source(&names.alias, &id).await.expect("document");
    assert_eq!(stored["surname"], "Version-900");
}

#[tokio::test]
async fn a_repair_replaces_a_wrong_copy_a_rebuild_s_stream_replay_wrote() {
    let names = seed("persons", 5).await;
    let search = Search::default();
    let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    let index = search.alias_targets(&names.alias).await.remove(0);
    let id = fixtures::person_id(2);
    // A copy at a stream-band version (as a rebuild's stream replay writes), since gone wrong.
    let Some(mut wrong) = search.source(&index, &id).await else {
        panic!("document {id}")
    };
    wrong["surname"] = Value::from("Wrong");
    // A stream record of a minute ago: 2^62 + its second × 2^20.
    let stream_band = 1u64 << 62;
    let a_minute_ago = u64::try_from(chrono::Utc::now().timestamp() - 60).expect("after 1970");
    let (status, answer) = search
        .call(
            Method::PUT,
            &format!(
                "/{index}/_doc/{id}?version={}&version_type=external",
                stream_band + a_minute_ago * (1 << 20)
            ),
            Some(wrong),
        )
        .await;
    assert!(status < 300, "{status} {answer}");
    let args = resync_args(&names.table, &names.alias, &search.url, &id);
    let run = indexer(&args).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(outcomes(&run.summary)[&id], "upserted", "{}", run.summary);
    let stored = search.source(&index, &id).await.expect("document");
    assert_ne!(
        stored["surname"], "Wrong",
        "the table's copy replaced it: {stored}"
    );
    assert_eq!(
        stored["surname"],
        fixtures::person(2)["surname"]
            .as_s()
            .expect("surname")
            .as_str()
    );
}

#[tokio::test]
async fn a_repair_restores_a_document_a_stream_delete_left_a_tombstone_for() {
    let names = seed("persons", 5).await;
    let search = Search::default();
    let run = indexer(&rebuild_args(&names, "persons", &search.url, &[])).await;
    assert_eq!(run.code, 0, "{run:?}");
    let index = search.alias_targets(&names.alias).await.remove(0);
    let id = fixtures::person_id(3);
    // Deleted as a stream replay deletes, a minute ago: the index keeps the tombstone (48 h).
    let stream_band = 1u64 << 62;
    let a_minute_ago = u64::try_from(chrono::Utc::now().timestamp() - 60).expect("after 1970");
    let (status, answer) = search
        .call(
            Method::DELETE,
            &format!(
                "/{index}/_doc/{id}?version={}&version_type=external",
                stream_band + a_minute_ago * (1 << 20)
            ),
            None,
        )
        .await;
    assert!(status < 300, "{status} {answer}");
    assert!(search.source(&index, &id).await.is_none());
    // The item is still (or again) in the table: verify finds the document missing, and the
    // fix brings it back.
    let verify = |fix: bool| {
        let mut args = vec![
            "verify",
            "--table",
            &names.table,
            "--index",
            &names.alias,
            "--host",
            &search.url,
            "--entity",
            "persons",
        ];
        if fix {
            args.push("--fix");
        }
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let found = indexer(&verify(false).iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(found.code, 6, "{found:?}");
    assert_eq!(
        found.summary["drift"]["missing"]["count"], 1,
        "{}",
        found.summary
    );
    let fixed = indexer(&verify(true).iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(fixed.code, 0, "{fixed:?}");
    assert!(
        search.source(&index, &id).await.is_some(),
        "the document is back: {}",
        fixed.summary
    );
    indexer_tests::harness::assert_no_drift(&names, &search.url).await;
}
