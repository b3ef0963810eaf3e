//! Re-reading named items and writing what they are now: upsert, or delete when gone.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client as DynamoClient;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde::Serialize;
use serde_json::json;

use crate::checkpoint::Ticket;
use crate::error::Error;
use crate::sink::batch::Batch;
use crate::sink::bulk;
use crate::sink::client::SearchClient;
use crate::sink::retry::RetryPolicy;
use crate::source::item::Item;
use crate::source::scan::{SourceError, TableInfo};
use crate::validate::TableName;

/// A key to re-read: the document id and the item's key attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub id: String,
    pub attributes: Item,
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
            id: parts[0].to_owned(),
            attributes,
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

/// Reads `keys` with strong consistency, retrying unprocessed keys.
pub(super) async fn batch_get(
    dynamo: &DynamoClient,
    table: &TableName,
    keys: &[Key],
) -> Result<Vec<Item>, Error> {
    let mut pending: Vec<Item> = keys.iter().map(|k| k.attributes.clone()).collect();
    let mut found = Vec::new();
    for attempt in 0..10u32 {
        if pending.is_empty() {
            break;
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
        if !pending.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(50 << attempt.min(6))).await;
        }
    }
    if !pending.is_empty() {
        return Err(Error::Input(format!(
            "{} keys stayed unprocessed by BatchGetItem",
            pending.len()
        )));
    }
    Ok(found)
}

/// Re-reads `upsert` keys and writes what they are now, and deletes the `delete` ids, in `index`.
pub async fn repair(
    dynamo: &DynamoClient,
    search: &SearchClient,
    target: &super::Target,
    index: &str,
    upsert: &[Key],
    delete: &[String],
) -> Result<RepairReport, Error> {
    let (table, entity, retry) = (&target.table, target.entity, &target.retry);
    let mut report = RepairReport::default();
    let ticket = Ticket {
        segment: 0,
        page: 0,
    };
    for chunk in upsert.chunks(100) {
        let items = batch_get(dynamo, table, chunk).await?;
        let mut by_id: HashMap<String, Item> = HashMap::new();
        for item in items {
            if let Some(AttributeValue::S(id) | AttributeValue::N(id)) = item.get(
                chunk[0]
                    .attributes
                    .keys()
                    .next()
                    .map(String::as_str)
                    .unwrap_or("id"),
            ) {
                by_id.insert(id.clone(), item);
            }
        }
        let mut batch = Batch::default();
        for key in chunk {
            match by_id.get(&key.id).map(|item| entity.to_document(item)) {
                Some(Ok(doc)) => {
                    batch.push_action(
                        &doc.id,
                        ticket,
                        &json!({ "index": { "_index": index, "_id": doc.id } }),
                        Some(&doc.body),
                    );
                }
                Some(Err(error)) => {
                    report.record(&key.id, Outcome::Failed, Some(error.to_string()))
                }
                None => batch.push_action(
                    &key.id,
                    ticket,
                    &json!({ "delete": { "_index": index, "_id": key.id } }),
                    None,
                ),
            }
        }
        send(search, batch, retry, &mut report).await?;
    }
    for chunk in delete.chunks(500) {
        let mut batch = Batch::default();
        for id in chunk {
            batch.push_action(
                id,
                ticket,
                &json!({ "delete": { "_index": index, "_id": id } }),
                None,
            );
        }
        send(search, batch, retry, &mut report).await?;
    }
    Ok(report)
}

async fn send(
    search: &SearchClient,
    batch: Batch,
    retry: &RetryPolicy,
    report: &mut RepairReport,
) -> Result<(), Error> {
    if batch.is_empty() {
        return Ok(());
    }
    let deletes: std::collections::HashSet<String> = batch
        .entries
        .iter()
        .filter(|e| e.source.is_empty())
        .map(|e| e.id.clone())
        .collect();
    let outcome = bulk::send(search, batch.clone(), retry).await?;
    let rejected: HashMap<&str, &bulk::Rejection> = outcome
        .rejected
        .iter()
        .map(|r| (r.id.as_str(), r))
        .collect();
    for entry in &batch.entries {
        let is_delete = deletes.contains(&entry.id);
        match (rejected.get(entry.id.as_str()), is_delete) {
            (None, false) => report.record(&entry.id, Outcome::Upserted, None),
            (None, true) => report.record(&entry.id, Outcome::Deleted, None),
            (Some(r), true) if r.status == 404 => report.record(&entry.id, Outcome::Absent, None),
            (Some(r), _) => report.record(
                &entry.id,
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
        let err = parse_ids(&["t1".into()], &info(&[("tenancy", "S"), ("seq", "N")]))
            .expect_err("needs range");
        assert!(err.to_string().contains("hash|range"), "{err}");
        let err = parse_ids(&["t1|x".into()], &info(&[("tenancy", "S"), ("seq", "N")]))
            .expect_err("not a number");
        assert!(err.to_string().contains("is a number"), "{err}");
    }
}
