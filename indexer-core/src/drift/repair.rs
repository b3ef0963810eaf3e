//! Re-reading named items and writing what they are now: upsert, or delete when gone.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client as DynamoClient;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde::Serialize;
use serde_json::json;

use crate::checkpoint::Ticket;
use crate::error::Error;
use crate::sink::batch::{Batch, Batcher};
use crate::sink::bulk;
use crate::sink::client::SearchClient;
use crate::sink::retry::RetryPolicy;
use crate::source::item::Item;
use crate::source::scan::{SourceError, TableInfo};
use crate::validate::TableName;

/// A key to re-read: how it is named in reports, the item's key attributes, and the document to
/// delete when the item is gone.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The id as given: the hash key's value, or `hash|range` for a composite key.
    pub id: String,
    pub attributes: Item,
    /// The document of this item: its id for a table keyed by one attribute; `None` for a
    /// composite key, which does not name its document (the entity decides the document id).
    pub document: Option<String>,
}

/// The text of a key's values in key-schema order (`hash` or `hash|range`), to match the items a
/// `BatchGetItem` returns (in any order) with the keys asked for.
fn key_text(item: &Item, names: &[String]) -> Option<String> {
    let values: Option<Vec<String>> = names
        .iter()
        .map(|name| match item.get(name) {
            Some(AttributeValue::S(value)) => Some(value.clone()),
            Some(AttributeValue::N(value)) => {
                crate::source::item::Number::parse(value).map(|n| n.as_str().to_owned())
            }
            _ => None,
        })
        .collect();
    values.map(|v| v.join("|"))
}

/// Parses ids (`hash`, or `hash|range` for a composite key) against the table's key schema.
pub fn parse_ids(ids: &[String], info: &TableInfo) -> Result<Vec<Key>, Error> {
    let keys = &info.key_attributes;
    if keys.is_empty() {
        return Err(Error::Input("the table reports no key schema".into()));
    }
    let mut out = Vec::new();
    for raw in ids.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let parts: Vec<&str> = if keys.len() == 2 {
            raw.splitn(2, '|').collect()
        } else {
            vec![raw]
        };
        if parts.len() != keys.len() {
            return Err(Error::Input(format!(
                "id {raw:?}: the table's key is {} attributes ({}); write composite keys as hash|range",
                keys.len(),
                keys.iter()
                    .map(|(name, _)| name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let mut attributes = Item::new();
        for ((name, kind), value) in keys.iter().zip(&parts) {
            let attribute = match kind.as_str() {
                "N" => {
                    crate::source::item::Number::parse(value).ok_or_else(|| {
                        Error::Input(format!(
                            "id {raw:?}: key {name} is a number, {value:?} is not"
                        ))
                    })?;
                    AttributeValue::N((*value).to_owned())
                }
                "S" => AttributeValue::S((*value).to_owned()),
                other => {
                    return Err(Error::Input(format!(
                        "id {raw:?}: key {name} has type {other}, which ids cannot name"
                    )));
                }
            };
            attributes.insert(name.clone(), attribute);
        }
        out.push(Key {
            id: raw.to_owned(),
            attributes,
            document: (keys.len() == 1).then(|| raw.to_owned()),
        });
    }
    Ok(out)
}

/// What happened to one id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The item exists: its document was written.
    Upserted,
    /// The item is gone: its document was deleted.
    Deleted,
    /// Neither item nor document exists.
    Absent,
    /// The item cannot be mapped, or the cluster refused the write.
    Failed,
}

/// Per-id outcomes of a repair.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepairReport {
    pub upserted: u64,
    pub deleted: u64,
    pub absent: u64,
    pub failed: u64,
    /// Per id: what happened, and why it failed when it did.
    pub ids: Vec<IdReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdReport {
    pub id: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl RepairReport {
    fn record(&mut self, id: &str, outcome: Outcome, reason: Option<String>) {
        match outcome {
            Outcome::Upserted => self.upserted += 1,
            Outcome::Deleted => self.deleted += 1,
            Outcome::Absent => self.absent += 1,
            Outcome::Failed => self.failed += 1,
        }
        self.ids.push(IdReport {
            id: id.to_owned(),
            outcome,
            reason,
        });
    }
}

/// How often unprocessed keys are asked for again before the repair gives up, and the longest
/// pause between two tries (the pauses double from 50 ms, with jitter): about a minute in all.
const UNPROCESSED_TRIES: u32 = 60;
const MAX_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// The pause before try `attempt` (0-based) of unprocessed keys: doubling from 50 ms up to
/// [`MAX_PAUSE`], less up to a quarter at random so that parallel readers spread out.
fn pause(attempt: u32) -> std::time::Duration {
    let base = std::time::Duration::from_millis(50 << attempt.min(10)).min(MAX_PAUSE);
    base.mul_f64(1.0 - rand::random::<f64>() * 0.25)
}

/// Reads `keys` with strong consistency (duplicates read once). Keys DynamoDB leaves
/// unprocessed (throttling) are asked for again with backoff, up to [`UNPROCESSED_TRIES`] times;
/// a whole call throttled is retried by the SDK's own strategy.
pub(super) async fn batch_get(
    dynamo: &DynamoClient,
    table: &TableName,
    keys: &[Key],
) -> Result<Vec<Item>, Error> {
    let mut pending: Vec<Item> = Vec::new();
    for key in keys {
        if !pending.contains(&key.attributes) {
            pending.push(key.attributes.clone());
        }
    }
    let mut found = Vec::new();
    for attempt in 0..UNPROCESSED_TRIES {
        if pending.is_empty() {
            break;
        }
        if attempt > 0 {
            tracing::debug!(
                keys = pending.len(),
                attempt,
                "unprocessed keys asked for again"
            );
            tokio::time::sleep(pause(attempt - 1)).await;
        }
        let request = KeysAndAttributes::builder()
            .set_keys(Some(std::mem::take(&mut pending)))
            .consistent_read(true)
            .build()
            .map_err(|e| Error::Input(format!("cannot build a BatchGetItem request: {e}")))?;
        let output = dynamo
            .batch_get_item()
            .request_items(table.as_str(), request)
            .send()
            .await
            .map_err(|err| {
                Error::from(SourceError::Aws {
                    op: "BatchGetItem",
                    table: table.to_string(),
                    message: crate::logging::cause_chain(&err),
                })
            })?;
        found.extend(
            output
                .responses
                .and_then(|mut r| r.remove(table.as_str()))
                .unwrap_or_default(),
        );
        pending = output
            .unprocessed_keys
            .and_then(|mut u| u.remove(table.as_str()))
            .map(|k| k.keys)
            .unwrap_or_default();
    }
    if !pending.is_empty() {
        return Err(Error::from(SourceError::Aws {
            op: "BatchGetItem",
            table: table.to_string(),
            message: format!(
                "{} keys were still left unprocessed (throttled) after {UNPROCESSED_TRIES} tries; nothing more was written, run the command again",
                pending.len()
            ),
        }));
    }
    Ok(found)
}

/// Re-reads every key with strong consistency just before writing, and writes what each item is
/// now in `index`: its document, through the same batcher (and so the same external versioning)
/// as a rebuild's scanned copies, so a repair never overwrites a newer copy a live writer put
/// there; or, when the item is gone, the deletion of its document.
pub async fn repair(
    dynamo: &DynamoClient,
    search: &SearchClient,
    target: &super::Target,
    index: &str,
    keys: &[Key],
) -> Result<RepairReport, Error> {
    let (table, entity, retry) = (&target.table, target.entity, &target.retry);
    let mut report = RepairReport::default();
    let mut reread = 0u64;
    let ticket = Ticket {
        segment: 0,
        page: 0,
    };
    for chunk in keys.chunks(100) {
        let names: Vec<String> = chunk[0].attributes.keys().cloned().collect();
        // The second the consistent read starts in: the repairs outrank stream copies of earlier
        // seconds, never a write that may come after the read.
        let read_secs = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
        let mut by_key: HashMap<String, Item> = HashMap::new();
        let items = batch_get(dynamo, table, chunk).await?;
        reread += chunk.len() as u64;
        target.tally.reread(reread);
        for item in items {
            if let Some(text) = key_text(&item, &names) {
                by_key.insert(text, item);
            }
        }
        let mut deletes = Batch::default();
        let mut labels: HashMap<String, String> = HashMap::new();
        let mut upserts = Vec::new();
        for key in chunk {
            let item = key_text(&key.attributes, &names).and_then(|text| by_key.get(&text));
            match (item.map(|item| entity.to_document(item)), &key.document) {
                (Some(Ok(doc)), _) => {
                    labels.insert(doc.id.clone(), key.id.clone());
                    upserts.push((doc, key.id.clone()));
                }
                (Some(Err(error)), _) => {
                    report.record(&key.id, Outcome::Failed, Some(error.to_string()))
                }
                (None, Some(document)) => {
                    labels.insert(document.clone(), key.id.clone());
                    deletes.push_action(
                        document,
                        ticket,
                        &json!({ "delete": { "_index": index, "_id": document } }),
                        None,
                    )
                }
                (None, None) => report.record(
                    &key.id,
                    Outcome::Failed,
                    Some("the item is gone, and a composite key does not name its document: nothing was deleted".into()),
                ),
            }
        }
        // A document a live writer versioned itself (below the stream band) is repaired in the
        // scanned band, where a newer copy that writer made is kept. Any other goes above the
        // stream band (as of the read): one a stream replay wrote, and one the index does not
        // hold, as its delete may have left a tombstone in the stream band (kept 48 h), which
        // a scanned-band write would meet with a 409 and leave the document missing.
        let ids: Vec<String> = upserts.iter().map(|(doc, _)| doc.id.clone()).collect();
        let scanned_band_ids = below_stream_band(search, index, &ids).await?;
        // Unbounded: a chunk is small, and the bulk sender splits what the cluster finds too large.
        let mut scanned_band = Batcher::new(index, usize::MAX, usize::MAX);
        let mut above_stream = Batcher::for_repairs(index, read_secs);
        for (doc, label) in upserts {
            let batcher = if scanned_band_ids.contains(&doc.id) {
                &mut scanned_band
            } else {
                &mut above_stream
            };
            if let Err(too_large) = batcher.push(doc, ticket) {
                report.record(
                    &label,
                    Outcome::Failed,
                    Some(format!("the document is {} bytes", too_large.bytes)),
                );
            }
        }
        for batcher in [&mut scanned_band, &mut above_stream] {
            if let Some(batch) = batcher.take() {
                send(search, batch, retry, false, &labels, &mut report).await?;
                target.tally.indexed(report.upserted + report.deleted);
            }
        }
        send(search, deletes, retry, true, &labels, &mut report).await?;
        target.tally.indexed(report.upserted + report.deleted);
    }
    Ok(report)
}

/// The documents among `ids` the index holds at a version below the stream band.
async fn below_stream_band(
    search: &SearchClient,
    index: &str,
    ids: &[String],
) -> Result<std::collections::HashSet<String>, Error> {
    let mut found = std::collections::HashSet::new();
    if ids.is_empty() {
        return Ok(found);
    }
    let answer = search
        .json(
            "read the documents' versions",
            reqwest::Method::POST,
            &format!("/{index}/_mget?_source=false"),
            Some(json!({ "ids": ids })),
        )
        .await?;
    for doc in answer["docs"].as_array().into_iter().flatten() {
        if doc["found"] == serde_json::Value::Bool(true)
            && doc["_version"]
                .as_u64()
                .is_some_and(|v| v < crate::sink::version::STREAM_BAND)
            && let Some(id) = doc["_id"].as_str()
        {
            found.insert(id.to_owned());
        }
    }
    Ok(found)
}

/// Sends one batch of upserts or of deletes and records each entry's outcome under its label.
async fn send(
    search: &SearchClient,
    batch: Batch,
    retry: &RetryPolicy,
    deletes: bool,
    labels: &HashMap<String, String>,
    report: &mut RepairReport,
) -> Result<(), Error> {
    if batch.is_empty() {
        return Ok(());
    }
    let outcome = bulk::send(search, batch.clone(), retry).await?;
    let rejected: HashMap<&str, &bulk::Rejection> = outcome
        .rejected
        .iter()
        .map(|r| (r.id.as_str(), r))
        .collect();
    for entry in &batch.entries {
        let label = labels.get(&entry.id).unwrap_or(&entry.id);
        match (rejected.get(entry.id.as_str()), deletes) {
            (None, false) => report.record(label, Outcome::Upserted, None),
            (None, true) => report.record(label, Outcome::Deleted, None),
            (Some(r), true) if r.status == 404 => report.record(label, Outcome::Absent, None),
            (Some(r), _) => report.record(
                label,
                Outcome::Failed,
                Some(format!("{}: {}", r.error_type, r.reason)),
            ),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(keys: &[(&str, &str)]) -> TableInfo {
        TableInfo {
            approximate_items: None,
            stream_arn: None,
            key_attributes: keys
                .iter()
                .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn keys_match_items_by_every_key_attribute_and_numbers_by_value() {
        let names = ["tenancy".to_owned(), "seq".to_owned()];
        let item: Item = [
            ("tenancy".to_owned(), AttributeValue::S("t1".into())),
            ("seq".to_owned(), AttributeValue::N("42".into())),
            ("name".to_owned(), AttributeValue::S("x".into())),
        ]
        .into();
        let asked: Item = [
            ("tenancy".to_owned(), AttributeValue::S("t1".into())),
            ("seq".to_owned(), AttributeValue::N("042.0".into())),
        ]
        .into();
        assert_eq!(key_text(&item, &names).as_deref(), Some("t1|42"));
        assert_eq!(key_text(&asked, &names), key_text(&item, &names));
        let other: Item = [
            ("tenancy".to_owned(), AttributeValue::S("t1".into())),
            ("seq".to_owned(), AttributeValue::N("43".into())),
        ]
        .into();
        assert_ne!(key_text(&other, &names), key_text(&item, &names));
    }

    #[test]
    fn unprocessed_keys_wait_longer_each_time_up_to_a_bound() {
        assert!(pause(0) <= std::time::Duration::from_millis(50));
        assert!(pause(0) >= std::time::Duration::from_millis(37));
        assert!(pause(30) <= MAX_PAUSE && pause(30) >= MAX_PAUSE.mul_f64(0.75));
    }

    #[test]
    fn ids_follow_the_key_schema() {
        let keys = parse_ids(
            &["a".into(), " b ".into(), String::new()],
            &info(&[("id", "S")]),
        )
        .expect("valid");
        assert_eq!(
            keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(keys[1].attributes["id"], AttributeValue::S("b".into()));

        let composite =
            parse_ids(&["t1|42".into()], &info(&[("tenancy", "S"), ("seq", "N")])).expect("valid");
        assert_eq!(
            composite[0].attributes["seq"],
            AttributeValue::N("42".into())
        );
        assert_eq!(composite[0].id, "t1|42");
        assert_eq!(
            composite[0].document, None,
            "a composite key names no document"
        );
        assert_eq!(keys[1].document.as_deref(), Some("b"));
        let err = parse_ids(&["t1".into()], &info(&[("tenancy", "S"), ("seq", "N")]))
            .expect_err("needs range");
        assert!(err.to_string().contains("hash|range"), "{err}");
        let err = parse_ids(&["t1|x".into()], &info(&[("tenancy", "S"), ("seq", "N")]))
            .expect_err("not a number");
        assert!(err.to_string().contains("is a number"), "{err}");
    }
}
