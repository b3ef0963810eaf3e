//! The wiring: parallel segment readers → entity factory → batcher → bulk writers.
//!
//! Each segment reader runs on its own task, scans its segment page by page, maps every item with
//! the entity's factory and sends the documents into one bounded channel (items it cannot map go
//! to the dead-letter file). One batcher drains the channel into batches bounded by bytes and by
//! count and hands each to a bulk writer; at most `concurrency` writers run at once, and while
//! they are all busy the batcher stops reading, so backpressure reaches the scan and memory stays
//! bounded whatever the table's size. The first fatal error cancels everything.
//!
//! Every item carries a [`Ticket`] (its segment and page); once it has a verdict — indexed or
//! dead-lettered — its page is settled in that segment's [`SegmentTracker`], which advances the
//! segment's checkpoint (see [`crate::jobs::checkpoint`]). A run can start from saved checkpoints,
//! and stops reading new pages when its [`CancellationToken`] fires: in-flight work then drains
//! and the checkpoints cover exactly what was acknowledged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::Client as DynamoClient;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::deadletter::{DeadLetterError, DeadLetters};
use crate::entities::{Document, Entity};
use crate::jobs::checkpoint::{Checkpoint, SegmentTracker, Ticket, Verdict};
use crate::sink::batch::{Batch, Batcher};
use crate::sink::bulk::{self, BulkOutcome};
use crate::sink::client::{SearchClient, SinkError};
use crate::sink::retry::RetryPolicy;
use crate::source::item::from_dynamo_json;
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
    #[error("segment {segment}: its saved checkpoint is unreadable: {reason}")]
    Checkpoint { segment: u32, reason: String },
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

    /// Counters starting from what saved checkpoints already account for.
    pub fn resuming(checkpoints: &[Checkpoint]) -> Counters {
        let counters = Counters::default();
        for checkpoint in checkpoints {
            counters
                .scanned
                .fetch_add(checkpoint.scanned, Ordering::Relaxed);
            counters
                .indexed
                .fetch_add(checkpoint.indexed, Ordering::Relaxed);
            counters
                .dead_lettered
                .fetch_add(checkpoint.dead_lettered, Ordering::Relaxed);
            counters
                .segments_done
                .fetch_add(u64::from(checkpoint.done), Ordering::Relaxed);
        }
        counters
    }
}

/// Per-segment progress, shared by the readers (pages read) and the writers (verdicts).
#[derive(Debug)]
pub struct Trackers(std::sync::Mutex<Vec<SegmentTracker>>);

impl Trackers {
    /// Trackers for `segments` segments, continuing from `saved` checkpoints where given.
    pub fn new(segments: u32, saved: &[Checkpoint]) -> Trackers {
        let trackers = (0..segments)
            .map(|segment| {
                let checkpoint = saved
                    .iter()
                    .find(|c| c.segment == segment)
                    .cloned()
                    .unwrap_or(Checkpoint {
                        segment,
                        ..Checkpoint::default()
                    });
                SegmentTracker::new(checkpoint)
            })
            .collect();
        Trackers(std::sync::Mutex::new(trackers))
    }

    fn with<T>(&self, f: impl FnOnce(&mut Vec<SegmentTracker>) -> T) -> T {
        let mut guard = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }

    fn page_read(
        &self,
        segment: u32,
        items: u64,
        end_key: Option<crate::source::item::Item>,
    ) -> Ticket {
        self.with(|t| t[segment as usize].page_read(items, end_key))
    }

    fn settle(&self, ticket: Ticket, verdict: Verdict) {
        self.settle_all(std::iter::once(ticket), verdict);
    }

    fn settle_all(&self, tickets: impl IntoIterator<Item = Ticket>, verdict: Verdict) {
        self.with(|t| {
            for ticket in tickets {
                if let Some(tracker) = t.get_mut(ticket.segment as usize) {
                    tracker.settle(ticket.page, verdict);
                }
            }
        });
    }

    /// The current checkpoint of every segment.
    pub fn checkpoints(&self) -> Vec<Checkpoint> {
        self.with(|t| {
            t.iter()
                .map(|tracker| tracker.checkpoint().clone())
                .collect()
        })
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
    trackers: Arc<Trackers>,
    stop: CancellationToken,
}

/// What a run shares with its caller: live counts, checkpoints, and the stop signal.
#[derive(Clone)]
pub struct Handles {
    pub counters: Arc<Counters>,
    pub dead: Arc<DeadLetters>,
    pub trackers: Arc<Trackers>,
    /// Cancelled to stop reading new pages; in-flight work still drains.
    pub stop: CancellationToken,
}

/// Reads the table into the sink, from the trackers' checkpoints on. Returns when every scanned
/// item is indexed or dead-lettered (or, once stopped, every item read so far), or at the first
/// fatal error.
pub async fn run(
    dynamo: DynamoClient,
    table: TableName,
    entity: &'static dyn Entity,
    sink: Sink,
    settings: Settings,
    handles: Handles,
) -> Result<(), PipelineError> {
    let starts = handles.trackers.checkpoints();
    let shared = Arc::new(Shared {
        dynamo,
        table,
        entity,
        sink,
        settings,
        counters: handles.counters,
        dead: handles.dead,
        trackers: handles.trackers,
        stop: handles.stop,
    });
    let capacity = shared.settings.batch_docs.clamp(64, 4096);
    let (tx, rx) = mpsc::channel::<(Document, Ticket)>(capacity);
    let mut segments = JoinSet::new();
    for start in starts {
        if start.done {
            continue;
        }
        let mut cursor = Cursor::start(start.segment, shared.settings.segments);
        if let Some(key) = &start.last_key {
            let key = from_dynamo_json(key).map_err(|reason| PipelineError::Checkpoint {
                segment: start.segment,
                reason,
            })?;
            cursor.last_key = Some(key);
        }
        let shared = Arc::clone(&shared);
        let tx = tx.clone();
        segments.spawn(read_segment(shared, cursor, tx));
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

#[tracing::instrument(skip_all, fields(segment = cursor.segment))]
async fn read_segment(
    shared: Arc<Shared>,
    mut cursor: Cursor,
    tx: mpsc::Sender<(Document, Ticket)>,
) -> Result<(), PipelineError> {
    let settings = &shared.settings;
    let segment = cursor.segment;
    let mut scanned = 0u64;
    loop {
        if shared.stop.is_cancelled() {
            tracing::debug!(segment, scanned, "segment stopped");
            return Ok(());
        }
        let page = scan::next_page(
            &shared.dynamo,
            &shared.table,
            settings.page_size,
            &mut cursor,
        )
        .await?;
        let Some(page) = page else { break };
        let ticket = shared
            .trackers
            .page_read(segment, page.len() as u64, cursor.last_key.clone());
        for item in page {
            scanned += 1;
            shared.counters.scanned.fetch_add(1, Ordering::Relaxed);
            match shared.entity.to_document(&item) {
                Ok(doc) => {
                    if tx.send((doc, ticket)).await.is_err() {
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
                    shared.trackers.settle(ticket, Verdict::DeadLettered);
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
    mut rx: mpsc::Receiver<(Document, Ticket)>,
) -> Result<(), PipelineError> {
    let settings = &shared.settings;
    let mut batcher = Batcher::new(
        &settings.target_index,
        settings.batch_bytes,
        settings.batch_docs,
    );
    let mut writers: JoinSet<Result<(), PipelineError>> = JoinSet::new();
    while let Some((doc, ticket)) = rx.recv().await {
        let closed = match batcher.push(doc, ticket) {
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
                shared
                    .trackers
                    .settle(too_large.ticket, Verdict::DeadLettered);
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
            indexed: batch.entries.iter().map(|entry| entry.ticket).collect(),
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
    let trackers = &shared.trackers;
    trackers.settle_all(
        outcome.rejected.iter().map(|r| r.ticket),
        Verdict::DeadLettered,
    );
    trackers.settle_all(outcome.indexed.iter().copied(), Verdict::Indexed);
    counters
        .indexed
        .fetch_add(outcome.indexed.len() as u64, Ordering::Relaxed);
    counters
        .dead_lettered
        .fetch_add(outcome.rejected.len() as u64, Ordering::Relaxed);
    counters
        .retries
        .fetch_add(u64::from(outcome.retries), Ordering::Relaxed);
    counters.batches.fetch_add(1, Ordering::Relaxed);
    Ok(())
}
