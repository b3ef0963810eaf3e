//! Re-checking suspects before reporting them, so a table being written shows no false drift.
//!
//! The comparison lists the index first and scans the table after, so every write made during the
//! scan looks like drift. Each suspect (missing, extra or stale) is therefore read again on both
//! sides: the item with a strongly consistent `BatchGetItem`, the document with `_mget` (real
//! time, no refresh needed). What agrees now is dropped. What still differs is read again after a
//! pause, to let a live writer's index update (a stream follower, the owning service) land; only
//! what differs on the last look is reported.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::Client as DynamoClient;
use aws_sdk_dynamodb::types::AttributeValue;
use reqwest::Method;
use serde_json::{Value, json};

use super::compare::Drift;
use super::fingerprint::Fingerprint;
use super::repair::{Key, batch_get};
use crate::error::Error;
use crate::sink::client::SearchClient;

/// The pauses before each look at the suspects: at once, then twice more while some still differ.
pub const PAUSES: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_secs(1),
    Duration::from_secs(4),
];

/// What one look at one id found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    Agrees,
    Missing,
    Extra,
    Stale,
}

/// Keys that read items by their `id` attribute.
pub fn id_keys(ids: &[String]) -> Vec<Key> {
    ids.iter()
        .map(|id| Key {
            id: id.clone(),
            attributes: [("id".to_owned(), AttributeValue::S(id.clone()))].into(),
            document: Some(id.clone()),
        })
        .collect()
}

/// Fingerprints of the documents `ids` as they are now (absent ids have none).
async fn documents_now(
    search: &SearchClient,
    index: &str,
    ids: &[String],
    mode: Fingerprint,
) -> Result<HashMap<String, u64>, Error> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(500) {
        let answer = search
            .json(
                "read documents again",
                Method::POST,
                &format!("/{index}/_mget"),
                Some(json!({ "ids": chunk })),
            )
            .await?;
        for doc in answer["docs"].as_array().into_iter().flatten() {
            if doc["found"] == Value::Bool(true)
                && let Some(id) = doc["_id"].as_str()
            {
                found.insert(id.to_owned(), mode.of(&doc["_source"]));
            }
        }
    }
    Ok(found)
}

/// Fingerprints of the items `ids` as they are now, read with strong consistency.
async fn items_now(
    dynamo: &DynamoClient,
    target: &super::Target,
    ids: &[String],
    mode: Fingerprint,
) -> Result<HashMap<String, u64>, Error> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(100) {
        for item in batch_get(dynamo, &target.table, &id_keys(chunk)).await? {
            // An item that cannot be mapped is left out: its document is then "extra" if any,
            // exactly as the comparison would have it had the item been unmappable there.
            if let Ok(doc) = target.entity.to_document(&item) {
                let value: Value = serde_json::from_slice(&doc.body).unwrap_or(Value::Null);
                found.insert(doc.id, mode.of(&value));
            }
        }
    }
    Ok(found)
}

fn classify(item: Option<u64>, document: Option<u64>) -> Look {
    match (item, document) {
        (None, None) => Look::Agrees,
        (Some(_), None) => Look::Missing,
        (None, Some(_)) => Look::Extra,
        (Some(a), Some(b)) if a == b => Look::Agrees,
        (Some(_), Some(_)) => Look::Stale,
    }
}

/// Re-reads every suspect of `drift` and keeps only what is still wrong after the last look;
/// returns the drift and how many suspects were cleared.
pub async fn recheck(
    dynamo: &DynamoClient,
    search: &SearchClient,
    target: &super::Target,
    index: &str,
    mode: Fingerprint,
    drift: Drift,
) -> Result<(Drift, u64), Error> {
    let unmappable: HashSet<&String> = drift.unmappable.iter().collect();
    let mut suspects: Vec<String> = [&drift.missing, &drift.extra, &drift.stale]
        .into_iter()
        .flatten()
        .filter(|id| !unmappable.contains(id))
        .cloned()
        .collect();
    suspects.sort();
    suspects.dedup();
    let before = suspects.len() as u64;
    let mut looks: Vec<(String, Look)> = Vec::new();
    for pause in PAUSES {
        if suspects.is_empty() {
            break;
        }
        tokio::time::sleep(pause).await;
        let items = items_now(dynamo, target, &suspects, mode).await?;
        let documents = documents_now(search, index, &suspects, mode).await?;
        looks = suspects
            .iter()
            .map(|id| {
                let look = classify(items.get(id).copied(), documents.get(id).copied());
                (id.clone(), look)
            })
            .filter(|(_, look)| *look != Look::Agrees)
            .collect();
        tracing::debug!(
            suspects = suspects.len(),
            still = looks.len(),
            "suspects read again"
        );
        suspects = looks.iter().map(|(id, _)| id.clone()).collect();
    }
    let pick = |kind: Look| -> Vec<String> {
        looks
            .iter()
            .filter(|(_, look)| *look == kind)
            .map(|(id, _)| id.clone())
            .collect()
    };
    let cleared = before - looks.len() as u64;
    let rechecked = Drift {
        missing: pick(Look::Missing),
        extra: pick(Look::Extra),
        stale: pick(Look::Stale),
        ..drift
    };
    Ok((rechecked, cleared))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_look_agrees_only_when_both_sides_agree() {
        assert_eq!(classify(None, None), Look::Agrees);
        assert_eq!(classify(Some(1), Some(1)), Look::Agrees);
        assert_eq!(classify(Some(1), None), Look::Missing);
        assert_eq!(classify(None, Some(1)), Look::Extra);
        assert_eq!(classify(Some(1), Some(2)), Look::Stale);
    }
}
