//! Listing both sides and comparing them.

use aws_sdk_dynamodb::Client as DynamoClient;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::fingerprint::Fingerprint;
use super::spill::{Spill, buckets_for};
use crate::entities::Entity;
use crate::error::Error;
use crate::sink::client::SearchClient;
use crate::source::item::recording_reads;
use crate::source::scan::{self, Cursor};
use crate::source::schema::Unmapped;
use crate::validate::TableName;

/// What differs between a table and an index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drift {
    /// In the table, not in the index.
    pub missing: Vec<String>,
    /// In the index, not in the table.
    pub extra: Vec<String>,
    /// In both, with different fingerprints.
    pub stale: Vec<String>,
    /// Items the entity cannot map (their documents, if any, are left alone).
    pub unmappable: Vec<String>,
    pub scanned: u64,
    pub documents: u64,
    /// How the index was listed.
    pub listing: Option<super::listing::Listing>,
    /// Attributes of the items that the entity's factory does not map.
    pub unmapped: Unmapped,
}

impl Drift {
    pub fn changes(&self) -> u64 {
        (self.missing.len() + self.extra.len() + self.stale.len()) as u64
    }
}

/// One item's comparison input: its id and fingerprint, or the id of an item that cannot be mapped.
type Seen = Result<(String, u64), String>;

async fn scan_segment(
    dynamo: DynamoClient,
    table: TableName,
    entity: &'static dyn Entity,
    mut cursor: Cursor,
    page_size: u32,
    mode: Fingerprint,
    tx: mpsc::Sender<Seen>,
) -> Result<Unmapped, Error> {
    let mut unmapped = Unmapped::default();
    while let Some(page) = scan::next_page(&dynamo, &table, page_size, &mut cursor).await? {
        for item in page.items {
            let (mapped, read) = recording_reads(|| entity.to_document(&item));
            let seen = match mapped {
                Ok(doc) => {
                    unmapped.observe(&doc.id, &item, &read, entity.unindexed());
                    let value: Value = serde_json::from_slice(&doc.body).unwrap_or(Value::Null);
                    Ok((doc.id, mode.of(&value)))
                }
                Err(error) => {
                    let id = crate::source::item::Fields::of(&item)
                        .string("id")
                        .ok()
                        .flatten()
                        .unwrap_or_default();
                    tracing::warn!(id = %id, error = %error, "item cannot be mapped");
                    Err(id)
                }
            };
            if tx.send(seen).await.is_err() {
                return Ok(unmapped);
            }
        }
    }
    Ok(unmapped)
}

/// Compares a table with the documents of `index`.
pub async fn compare(
    dynamo: &DynamoClient,
    search: &SearchClient,
    target: &super::Target,
    index: &str,
    mode: Fingerprint,
) -> Result<Drift, Error> {
    let (table, entity, segments, page_size) = (
        &target.table,
        target.entity,
        target.segments,
        target.page_size,
    );
    // Bounded memory: both sides go to bucket files by a hash of the id, then each bucket is
    // compared on its own (see `spill.rs`).
    let expected = search.count(index).await?;
    let mut spill = Spill::create(&std::env::temp_dir(), buckets_for(expected))?;
    let listing = super::listing::list_index(search, index, mode, &mut |id, fingerprint| {
        spill.index_record(id, fingerprint)
    })
    .await?;
    let (tx, mut rx) = mpsc::channel::<Seen>(4096);
    let mut readers = JoinSet::new();
    for segment in 0..segments {
        let cursor = Cursor::start(segment, segments);
        readers.spawn(scan_segment(
            dynamo.clone(),
            table.clone(),
            entity,
            cursor,
            page_size,
            mode,
            tx.clone(),
        ));
    }
    drop(tx);
    let mut read = 0u64;
    while let Some(seen) = rx.recv().await {
        match seen {
            Ok((id, fingerprint)) => spill.table_record(&id, Some(fingerprint))?,
            Err(id) => spill.table_record(&id, None)?,
        }
        read += 1;
        if read % 1000 == 0 {
            target.tally.compared(read);
        }
    }
    target.tally.compared(read);
    let mut unmapped = Unmapped::default();
    while let Some(joined) = readers.join_next().await {
        let segment = joined
            .map_err(|e| Error::Pipeline(crate::pipeline::PipelineError::Task(e.to_string())))??;
        unmapped.merge(segment);
    }
    let buckets = spill.buckets();
    let found = spill.compare()?;
    tracing::debug!(
        buckets,
        documents = found.documents,
        "compared bucket by bucket"
    );
    let mut drift = Drift {
        missing: found.missing,
        extra: found.extra,
        stale: found.stale,
        unmappable: found.unmappable,
        scanned: found.scanned,
        documents: found.documents,
        listing: Some(listing),
        unmapped,
    };
    drift.extra.sort();
    drift.missing.sort();
    drift.stale.sort();
    drift.unmappable.sort();
    Ok(drift)
}
