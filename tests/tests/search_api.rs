//! The housing search API's own queries, rebuilt from its public source, against indexes this
//! tool built from the fixtures with `indexer rebuild`.
//!
//! The API (`LBHackney-IT/housing-search-api`, read at commit `274a8c4`) sends fixed query shapes
//! to the `persons`, `tenures` and `assets` aliases: V1 through its query generators
//! (`HousingSearchApi/V1/Infrastructure/Factories/*QueryGenerator.cs`) and two builders, the
//! shared `QueryBuilder` (`LBHackney-IT/lbh-core`, `Hackney.Core/Hackney.Core.ElasticSearch/
//! QueryBuilder.cs`, commit `159f2d6`) and its own `FilterQueryBuilder`
//! (`HousingSearchApi/V1/Infrastructure/Core/FilterQueryBuilder.cs`); V2 through
//! `HousingSearchApi/V2/Gateways/SearchGateway.cs` and `SearchOperations.cs`. Each query below
//! names the file and lines it comes from. Every query must answer 200 and find exactly the
//! documents the data says it should: the expectation is computed from the fixtures' documents.
//!
//! Where osmem-server (the local stand-in) is known to differ from OpenSearch, the test says so
//! beside the query rather than working around it silently.

use std::collections::BTreeSet;

use indexer_core::entities;
use indexer_tests::fixtures;
use indexer_tests::harness::Search;
use serde_json::Value;

mod asset_queries;
mod asset_variants;
mod assets;
mod gate;
mod mapping;
mod persons;
mod queries;
mod tenures;
mod variants;

/// The documents the tool makes of fixture items `0..count`, as the index holds them.
fn documents(entity: &str, count: u64) -> Vec<Value> {
    let factory = entities::by_name(entity).expect("a registered entity");
    (0..count)
        .map(|n| {
            let document = factory
                .to_document(&fixtures::item_for(entity, n))
                .expect("fixture items map");
            serde_json::from_slice(&document.body).expect("a JSON body")
        })
        .collect()
}

/// Sends a search and expects it to answer 200.
async fn search(client: &Search, alias: &str, body: Value) -> Value {
    let (status, answer) = client
        .call(
            reqwest::Method::POST,
            &format!("/{alias}/_search"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 200, "query {body}\nanswered {answer}");
    answer
}

fn hits(answer: &Value) -> Vec<Value> {
    answer["hits"]["hits"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn hit_ids(answer: &Value) -> BTreeSet<String> {
    hits(answer)
        .iter()
        .filter_map(|hit| hit["_id"].as_str().map(str::to_owned))
        .collect()
}

fn total(answer: &Value) -> u64 {
    answer["hits"]["total"]["value"]
        .as_u64()
        .unwrap_or_default()
}

/// The ids of the documents `keep` accepts.
fn expected(documents: &[Value], keep: impl Fn(&Value) -> bool) -> BTreeSet<String> {
    documents
        .iter()
        .filter(|document| keep(document))
        .filter_map(|document| document["id"].as_str().map(str::to_owned))
        .collect()
}

/// A string field in lowercase ("" when absent).
fn lower(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_lowercase()
}

/// The tokens the standard analyzer makes of ASCII text: lowercase runs of letters and digits.
fn tokens(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(values) => values.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// The ASCII-only surnames of the fixtures' persons, most frequent first.
fn ascii_surnames(persons: &[Value]) -> Vec<String> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for person in persons {
        let surname = person["surname"].as_str().unwrap_or_default();
        if surname.is_empty() || !surname.chars().all(|c| c.is_ascii_alphabetic()) {
            continue;
        }
        match counts.iter_mut().find(|(name, _)| name == surname) {
            Some((_, count)) => *count += 1,
            None => counts.push((surname.to_owned(), 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    counts.into_iter().map(|(name, _)| name).collect()
}
