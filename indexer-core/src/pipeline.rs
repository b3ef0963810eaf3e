//! The wiring: parallel segment readers → entity factory → batcher → bulk writers.
//!
//! Each segment reader runs on its own task, scans its segment page by page, maps every item with
//! the entity's factory and sends the documents into one bounded channel (items it cannot map go
//! to the dead-letter file). One batcher drains the channel into batches bounded by bytes and by
//! count and hands each to a bulk writer; at most `concurrency` writers run at once, and while
//! they are all busy the batcher stops reading, so backpressure reaches the scan and memory stays
//! bounded whatever the table's size. The first fatal error cancels everything.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::Client as DynamoClient;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::deadletter::{DeadLetterError, DeadLetters};
use crate::entities::{Document, Entity};
use crate::sink::batch::{Batch, Batcher};
use crate::sink::bulk::{self, BulkOutcome};
use crate::sink::client::{SearchClient, SinkError};
use crate::sink::retry::RetryPolicy;
use crate::source::scan::{self, Cursor, SourceError};
use crate::validate::TableName;

/// A fatal pipeline failure.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    DeadLetter(#[from] DeadLetterError),
    #[error("a pipeline task failed: {0}")]
    Task(String),
}

/// Where documents go.
#[derive(Clone)]
pub enum Sink {
    /// Bulk-load into the cluster.
    Cluster(SearchClient),
    /// Count what would be sent, send nothing.
    DryRun,
}

/// How the pipeline runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub segments: u32,
    pub page_size: u32,
    pub batch_bytes: usize,
    pub batch_docs: usize,
    pub concurrency: usize,
    pub retry: RetryPolicy,
    /// The physical index the documents are written to.
    pub target_index: String,
}

/// Live counts, shared with the progress reporter.
#[derive(Debug, Default)]
pub struct Counters {
    pub scanned: AtomicU64,
    pub indexed: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub retries: AtomicU64,
    pub batches: AtomicU64,
    pub segments_done: AtomicU64,
}

impl Counters {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Everything the pipeline's tasks share.
struct Shared {
    dynamo: DynamoClient,
    table: TableName,
    entity: &'static dyn Entity,
    sink: Sink,
    settings: Settings,
    counters: Arc<Counters>,
    dead: Arc<DeadLetters>,
}

/// Reads the whole table into the sink. Returns when every scanned item is indexed or
/// dead-lettered, or at the first fatal error.
pub async fn run(
    dynamo: DynamoClient,
    table: TableName,
    entity: &'static dyn Entity,
    sink: Sink,
    settings: Settings,
    counters: Arc<Counters>,
    dead: Arc<DeadLetters>,
) -> Result<(), PipelineError> {
    let shared = Arc::new(Shared {
        dynamo,
        table,
        entity,
        sink,
        settings,
        counters,
        dead,
    });
    let capacity = shared.settings.batch_docs.clamp(64, 4096);
    let (tx, rx) = mpsc::channel::<Document>(capacity);
    let mut segments = JoinSet::new();
    for segment in 0..shared.settings.segments {
        let shared = Arc::clone(&shared);
        let tx = tx.clone();
        segments.spawn(read_segment(shared, segment, tx));
    }
    drop(tx);
    tokio::try_join!(
        join_segments(segments),
        write_batches(Arc::clone(&shared), rx)
    )?;
    Ok(())
}

async fn join_segments(
    mut segments: JoinSet<Result<(), PipelineError>>,
) -> Result<(), PipelineError> {
    while let Some(joined) = segments.join_next().await {
        joined.map_err(|e| PipelineError::Task(e.to_string()))??;
    }
    Ok(())
}

#[tracing::instrument(skip_all, fields(segment))]
async fn read_segment(
    shared: Arc<Shared>,
    segment: u32,
    tx: mpsc::Sender<Document>,
) -> Result<(), PipelineError> {
    let settings = &shared.settings;
    let mut cursor = Cursor::start(segment, settings.segments);
    let mut scanned = 0u64;
    while let Some(page) = scan::next_page(
        &shared.dynamo,
        &shared.table,
        settings.page_size,
        &mut cursor,
    )
    .await?
    {
        for item in page {
            scanned += 1;
            shared.counters.scanned.fetch_add(1, Ordering::Relaxed);
            match shared.entity.to_document(&item) {
                Ok(doc) => {
                    if tx.send(doc).await.is_err() {
                        // The batcher is gone: it failed, and its error is what the run reports.
                        return Ok(());
                    }
                }
                Err(error) => {
                    tracing::warn!(segment, error = %error, "item cannot be mapped, dead-lettered");
                    shared.dead.map_failure(&item, &error)?;
                    shared
                        .counters
                        .dead_lettered
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    shared
        .counters
        .segments_done
        .fetch_add(1, Ordering::Relaxed);
    tracing::debug!(segment, scanned, "segment complete");
    Ok(())
}

async fn write_batches(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Document>,
) -> Result<(), PipelineError> {
    let settings = &shared.settings;
    let mut batcher = Batcher::new(
        &settings.target_index,
        settings.batch_bytes,
        settings.batch_docs,
    );
    let mut writers: JoinSet<Result<(), PipelineError>> = JoinSet::new();
    while let Some(doc) = rx.recv().await {
        let closed = match batcher.push(doc) {
            Ok(closed) => closed,
            Err(too_large) => {
                let reason = format!(
                    "the document is {} bytes with its action line, over the bulk request limit of {} bytes",
                    too_large.bytes, too_large.limit
                );
                shared.dead.document_failure(
                    "encode",
                    &too_large.id,
                    None,
                    "document_too_large",
                    &reason,
                    b"null",
                )?;
                shared
                    .counters
                    .dead_lettered
                    .fetch_add(1, Ordering::Relaxed);
                None
            }
        };
        if let Some(batch) = closed {
            dispatch(&shared, &mut writers, batch).await?;
        }
    }
    if let Some(batch) = batcher.take() {
        dispatch(&shared, &mut writers, batch).await?;
    }
    while let Some(joined) = writers.join_next().await {
        joined.map_err(|e| PipelineError::Task(e.to_string()))??;
    }
    Ok(())
}

/// Starts a writer for `batch`, first waiting for a free slot when all writers are busy.
async fn dispatch(
    shared: &Arc<Shared>,
    writers: &mut JoinSet<Result<(), PipelineError>>,
    batch: Batch,
) -> Result<(), PipelineError> {
    while writers.len() >= shared.settings.concurrency.max(1) {
        if let Some(joined) = writers.join_next().await {
            joined.map_err(|e| PipelineError::Task(e.to_string()))??;
        }
    }
    let shared = Arc::clone(shared);
    writers.spawn(async move { write_batch(&shared, batch).await });
    Ok(())
}

async fn write_batch(shared: &Shared, batch: Batch) -> Result<(), PipelineError> {
    let outcome = match &shared.sink {
        Sink::DryRun => BulkOutcome {
            indexed: batch.len() as u64,
            ..BulkOutcome::default()
        },
        Sink::Cluster(client) => bulk::send(client, batch, &shared.settings.retry).await?,
    };
    let counters = &shared.counters;
    for rejection in &outcome.rejected {
        tracing::warn!(
            id = %rejection.id,
            status = rejection.status,
            error_type = %rejection.error_type,
            "document rejected by the cluster, dead-lettered"
        );
        shared.dead.document_failure(
            "bulk",
            &rejection.id,
            Some(rejection.status),
            &rejection.error_type,
            &rejection.reason,
            &rejection.document,
        )?;
    }
    counters
        .indexed
        .fetch_add(outcome.indexed, Ordering::Relaxed);
    counters
        .dead_lettered
        .fetch_add(outcome.rejected.len() as u64, Ordering::Relaxed);
    counters
        .retries
        .fetch_add(u64::from(outcome.retries), Ordering::Relaxed);
    counters.batches.fetch_add(1, Ordering::Relaxed);
    Ok(())
}
