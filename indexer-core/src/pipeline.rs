//! The wiring: parallel segment readers → entity factory → batcher → bulk writers.
//!
//! Each segment reader runs on its own task, scans its segment page by page, maps every item with
//! the entity's factory and sends the documents into one bounded channel (items it cannot map go
//! to the dead-letter file). One batcher drains the channel into batches bounded by bytes and by
//! count and hands each to a bulk writer; at most the adaptive limit (see [`Aimd`], between 1 and
//! `concurrency`) of writers run at once, and while they are all busy the batcher stops reading,
//! so backpressure reaches the scan and memory stays bounded whatever the table's size. Reads can
//! be capped in read-capacity units per second ([`ReadLimiter`]). The first fatal error cancels
//! everything.
//!
//! Every item carries a [`Ticket`] (its segment and page); once it has a verdict — indexed or
//! dead-lettered — its page is settled in that segment's [`SegmentTracker`], which advances the
//! segment's checkpoint (see [`crate::checkpoint`]). A verdict counts only once it is
//! durable: acknowledged by the cluster, or its dead-letter record committed (flushed and synced,
//! or put in S3); `record_then_settle` is the one way dead-lettered items settle. A run can start
//! from saved checkpoints, and stops reading new pages when its [`CancellationToken`] fires:
//! in-flight work then drains and the checkpoints cover exactly what was acknowledged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::Client as DynamoClient;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::checkpoint::{Checkpoint, SegmentTracker, Ticket, Verdict};
use crate::deadletter::{self, DeadLetterError, DeadLetters, Group};
use crate::entities::{Document, Entity};
use crate::sink::adaptive::{Aimd, Signal};
use crate::sink::batch::{Batch, Batcher};
use crate::sink::bulk::{self, BulkOutcome};
use crate::sink::client::{SearchClient, SinkError};
use crate::sink::retry::RetryPolicy;
use crate::source::item::from_dynamo_json;
use crate::source::scan::{self, Cursor, SourceError};
use crate::source::throttle::ReadLimiter;
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

/// How long a partial batch waits for more documents before it is sent anyway.
const LINGER: std::time::Duration = std::time::Duration::from_millis(200);

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
    /// The most bulk requests in flight; the adaptive limit moves between 1 and this.
    pub concurrency: usize,
    /// Read-capacity units per second the scan may consume, all segments together.
    pub max_read_units: Option<f64>,
    pub retry: RetryPolicy,
    /// The physical index the documents are written to.
    pub target_index: String,
    /// Scan with strongly consistent reads (a rebuild whose stream is tailed: a write
    /// acknowledged before the tail's iterators were taken is then in the scan).
    pub consistent_reads: bool,
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
    /// Read-capacity units consumed, in thousandths.
    pub read_milliunits: AtomicU64,
    /// The adaptive bulk concurrency now, and the highest it reached.
    pub concurrency: AtomicU64,
    pub max_concurrency: AtomicU64,
    /// Attributes items carried that the entity does not map (for the summary).
    pub unmapped: std::sync::Mutex<crate::source::schema::Unmapped>,
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
///
/// A worker of a job split over several tracks only the segments it reads (its *active* ones);
/// it can take a segment over ([`Trackers::adopt`]) or give one up ([`Trackers::release`]).
#[derive(Debug)]
pub struct Trackers {
    segments: std::sync::Mutex<Vec<Slot>>,
    /// Woken whenever a segment becomes done.
    done: tokio::sync::Notify,
}

#[derive(Debug)]
struct Slot {
    tracker: SegmentTracker,
    active: bool,
}

impl Trackers {
    /// Trackers for `segments` segments, continuing from `saved` checkpoints where given.
    pub fn new(segments: u32, saved: &[Checkpoint]) -> Trackers {
        Trackers::owned_by(segments, saved, None)
    }

    /// Trackers for one worker of a job split over several: only the segments `saved` says
    /// `worker` owns are active.
    pub fn for_worker(segments: u32, saved: &[Checkpoint], worker: u32) -> Trackers {
        Trackers::owned_by(segments, saved, Some(worker))
    }

    fn owned_by(segments: u32, saved: &[Checkpoint], worker: Option<u32>) -> Trackers {
        let slots = crate::checkpoint::for_segments(segments, saved)
            .into_iter()
            .map(|checkpoint| Slot {
                active: worker.is_none_or(|w| checkpoint.owner == w),
                tracker: SegmentTracker::new(checkpoint),
            })
            .collect();
        Trackers {
            segments: std::sync::Mutex::new(slots),
            done: tokio::sync::Notify::new(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Vec<Slot>) -> T) -> T {
        let mut guard = self
            .segments
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }

    /// Applies `f` and wakes [`Trackers::segment_done`] if a segment became done.
    fn watching<T>(&self, f: impl FnOnce(&mut Vec<Slot>) -> T) -> T {
        let (result, newly_done) = self.with(|slots| {
            let before = slots.iter().filter(|s| s.tracker.checkpoint().done).count();
            let result = f(slots);
            let after = slots.iter().filter(|s| s.tracker.checkpoint().done).count();
            (result, after > before)
        });
        if newly_done {
            self.done.notify_one();
        }
        result
    }

    fn page_read(
        &self,
        segment: u32,
        items: u64,
        end_key: Option<crate::source::item::Item>,
    ) -> Ticket {
        self.watching(|t| t[segment as usize].tracker.page_read(items, end_key))
    }

    fn settle_all(&self, tickets: impl IntoIterator<Item = Ticket>, verdict: Verdict) {
        self.watching(|t| {
            for ticket in tickets {
                if let Some(slot) = t.get_mut(ticket.segment as usize) {
                    slot.tracker.settle(ticket.page, verdict);
                }
            }
        });
    }

    /// The current checkpoint of every segment.
    pub fn checkpoints(&self) -> Vec<Checkpoint> {
        self.with(|t| {
            t.iter()
                .map(|slot| slot.tracker.checkpoint().clone())
                .collect()
        })
    }

    /// The checkpoints of the active segments.
    pub fn active_checkpoints(&self) -> Vec<Checkpoint> {
        self.with(|t| {
            t.iter()
                .filter(|slot| slot.active)
                .map(|slot| slot.tracker.checkpoint().clone())
                .collect()
        })
    }

    /// Starts tracking a segment taken over from `checkpoint`. Verdicts still arriving for pages
    /// read under an earlier tracking of the segment are ignored.
    pub fn adopt(&self, checkpoint: Checkpoint) {
        self.with(|t| {
            if let Some(slot) = t.get_mut(checkpoint.segment as usize) {
                let first = slot.tracker.next_page();
                slot.tracker = SegmentTracker::numbered_from(checkpoint, first);
                slot.active = true;
            }
        });
    }

    /// Stops tracking a segment that passed to another worker; verdicts on its pages still in
    /// flight are ignored.
    pub fn release(&self, segment: u32) {
        self.with(|t| {
            if let Some(slot) = t.get_mut(segment as usize) {
                let first = slot.tracker.next_page();
                let checkpoint = slot.tracker.checkpoint().clone();
                slot.tracker = SegmentTracker::numbered_from(checkpoint, first);
                slot.active = false;
            }
        });
    }

    /// Resolves when a segment has become done since the last call.
    pub async fn segment_done(&self) {
        self.done.notified().await;
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
    aimd: std::sync::Mutex<Aimd>,
    limiter: Option<ReadLimiter>,
}

impl Shared {
    fn aimd<T>(&self, f: impl FnOnce(&mut Aimd) -> T) -> T {
        f(&mut self
            .aimd
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

/// How long the scan took, from the first page asked for to the last page read.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunStats {
    pub scan_seconds: f64,
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
) -> Result<RunStats, PipelineError> {
    let (tx, rx) = mpsc::unbounded_channel();
    for start in handles.trackers.checkpoints() {
        if !start.done {
            let _ = tx.send(Assignment {
                checkpoint: start,
                stop: CancellationToken::new(),
            });
        }
    }
    drop(tx);
    run_assigned(dynamo, table, entity, sink, settings, handles, rx).await
}

/// A segment to read from its checkpoint on, and the token that stops reading it (when it passes
/// to another worker).
#[derive(Debug)]
pub struct Assignment {
    pub checkpoint: Checkpoint,
    pub stop: CancellationToken,
}

/// Like [`run`], reading the segments as they are assigned: it returns once the assignments
/// channel is closed (or the run is stopped) and everything read is settled.
pub async fn run_assigned(
    dynamo: DynamoClient,
    table: TableName,
    entity: &'static dyn Entity,
    sink: Sink,
    settings: Settings,
    handles: Handles,
    assignments: mpsc::UnboundedReceiver<Assignment>,
) -> Result<RunStats, PipelineError> {
    let shared = Arc::new(Shared {
        dynamo,
        table,
        entity,
        sink,
        counters: handles.counters,
        dead: handles.dead,
        trackers: handles.trackers,
        stop: handles.stop,
        aimd: std::sync::Mutex::new(Aimd::new(settings.concurrency)),
        limiter: settings.max_read_units.map(ReadLimiter::new),
        settings,
    });
    shared.counters.concurrency.store(1, Ordering::Relaxed);
    shared.counters.max_concurrency.store(1, Ordering::Relaxed);
    let capacity = shared.settings.batch_docs.clamp(64, 4096);
    let (tx, rx) = mpsc::channel::<(Document, Ticket)>(capacity);
    let (scan, ()) = tokio::try_join!(
        read_segments(Arc::clone(&shared), assignments, tx),
        write_batches(Arc::clone(&shared), rx)
    )?;
    Ok(RunStats {
        scan_seconds: scan.as_secs_f64(),
    })
}

/// Starts a reader for every assignment; returns when the assignments end and every reader has.
async fn read_segments(
    shared: Arc<Shared>,
    mut assignments: mpsc::UnboundedReceiver<Assignment>,
    tx: mpsc::Sender<(Document, Ticket)>,
) -> Result<std::time::Duration, PipelineError> {
    let started = std::time::Instant::now();
    let mut segments: JoinSet<Result<(), PipelineError>> = JoinSet::new();
    let mut open = true;
    loop {
        tokio::select! {
            next = assignments.recv(), if open => match next {
                Some(Assignment { checkpoint, stop }) => {
                    let mut cursor = Cursor::start(checkpoint.segment, shared.settings.segments);
                    cursor.consistent = shared.settings.consistent_reads;
                    if let Some(key) = &checkpoint.last_key {
                        let key = from_dynamo_json(key).map_err(|reason| PipelineError::Checkpoint {
                            segment: checkpoint.segment,
                            reason,
                        })?;
                        cursor.last_key = Some(key);
                    }
                    segments.spawn(read_segment(Arc::clone(&shared), cursor, tx.clone(), stop));
                }
                None => open = false,
            },
            _ = shared.stop.cancelled(), if open => open = false,
            Some(joined) = segments.join_next() => {
                joined.map_err(|e| PipelineError::Task(e.to_string()))??;
            }
            else => break,
        }
    }
    Ok(started.elapsed())
}

#[tracing::instrument(skip_all, fields(segment = cursor.segment))]
async fn read_segment(
    shared: Arc<Shared>,
    mut cursor: Cursor,
    tx: mpsc::Sender<(Document, Ticket)>,
    released: CancellationToken,
) -> Result<(), PipelineError> {
    let settings = &shared.settings;
    let segment = cursor.segment;
    let mut scanned = 0u64;
    // A first guess at a page's cost: eventually consistent reads cost 0.5 unit per 4 KB, and
    // items here are around 1 KB. Later pages reserve what the previous one cost.
    let mut estimate = f64::from(settings.page_size) * 0.125;
    loop {
        if shared.stop.is_cancelled() || released.is_cancelled() {
            tracing::debug!(segment, scanned, "segment stopped");
            return Ok(());
        }
        if let Some(limiter) = &shared.limiter {
            limiter.reserve(estimate).await;
        }
        let page = scan::next_page(
            &shared.dynamo,
            &shared.table,
            settings.page_size,
            &mut cursor,
        )
        .await?;
        let Some(scan::Page {
            items: page,
            read_units,
        }) = page
        else {
            break;
        };
        if let Some(limiter) = &shared.limiter {
            limiter.settle(estimate, read_units).await;
            estimate = read_units.max(0.5);
        }
        shared
            .counters
            .read_milliunits
            .fetch_add((read_units * 1000.0).round() as u64, Ordering::Relaxed);
        let ticket = shared
            .trackers
            .page_read(segment, page.len() as u64, cursor.last_key.clone());
        let mut failed = Group::new();
        let mut unmapped = crate::source::schema::Unmapped::default();
        for item in page {
            scanned += 1;
            shared.counters.scanned.fetch_add(1, Ordering::Relaxed);
            let (mapped, read) =
                crate::source::item::recording_reads(|| shared.entity.to_document(&item));
            match mapped {
                Ok(doc) => {
                    unmapped.observe(&doc.id, &item, &read, shared.entity.unindexed());
                    if tx.send((doc, ticket)).await.is_err() {
                        // The batcher is gone: it failed, and its error is what the run reports.
                        return Ok(());
                    }
                }
                Err(error) => {
                    tracing::warn!(
                        segment,
                        id = deadletter::item_id(&item).unwrap_or("<no string id>"),
                        error = %error,
                        "item cannot be mapped, dead-lettered"
                    );
                    failed.map_failure(&item, &error)?;
                }
            }
        }
        if !unmapped.is_empty()
            && let Ok(mut all) = shared.counters.unmapped.lock()
        {
            all.merge(unmapped);
        }
        // One durable write for the page's failures, then they settle.
        let records = failed.len() as usize;
        record_then_settle(&shared, failed, std::iter::repeat_n(ticket, records)).await?;
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
    loop {
        // A partial batch waits for more documents only briefly: when the readers pause (a slow
        // page, or a worker waiting for segments to take over), what they read is still sent.
        // A writer's failure ends the run at once, even while the readers are idle.
        let idle = batcher.is_empty();
        let received = async {
            if idle {
                Ok(rx.recv().await)
            } else {
                tokio::time::timeout(LINGER, rx.recv()).await
            }
        };
        let received = tokio::select! {
            Some(joined) = writers.join_next() => {
                joined.map_err(|e| PipelineError::Task(e.to_string()))??;
                continue;
            }
            received = received => received,
        };
        let next = match received {
            Ok(next) => next,
            Err(_) => {
                if let Some(batch) = batcher.take() {
                    dispatch(&shared, &mut writers, batch).await?;
                }
                continue;
            }
        };
        let Some((doc, ticket)) = next else {
            break;
        };
        let closed = match batcher.push(doc, ticket) {
            Ok(closed) => closed,
            Err(too_large) => {
                let reason = format!(
                    "the document is {} bytes with its action line, over the bulk request limit of {} bytes",
                    too_large.bytes, too_large.limit
                );
                let mut failed = Group::new();
                failed.document_failure(
                    "encode",
                    &too_large.id,
                    None,
                    "document_too_large",
                    &reason,
                    b"null",
                )?;
                record_then_settle(&shared, failed, [too_large.ticket]).await?;
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
    while writers.len() >= shared.aimd(|aimd| aimd.limit()) {
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
            signal: Some(Signal::Healthy {
                latency: std::time::Duration::ZERO,
            }),
            ..BulkOutcome::default()
        },
        Sink::Cluster(client) => bulk::send(client, batch, &shared.settings.retry).await?,
    };
    let counters = &shared.counters;
    if let Some(signal) = outcome.signal {
        let (changed, highest) = shared.aimd(|aimd| (aimd.observe(signal), aimd.highest()));
        if let Some(limit) = changed {
            let before = counters.concurrency.swap(limit as u64, Ordering::Relaxed);
            let direction = if (limit as u64) < before {
                "decreased"
            } else {
                "increased"
            };
            tracing::info!(
                concurrency = limit,
                before,
                direction,
                "bulk concurrency {direction}"
            );
        }
        counters
            .max_concurrency
            .store(highest as u64, Ordering::Relaxed);
    }
    let mut failed = Group::new();
    for rejection in &outcome.rejected {
        tracing::warn!(
            id = %rejection.id,
            status = rejection.status,
            error_type = %rejection.error_type,
            "document rejected by the cluster, dead-lettered"
        );
        failed.document_failure(
            "bulk",
            &rejection.id,
            Some(rejection.status),
            &rejection.error_type,
            &rejection.reason,
            &rejection.document,
        )?;
    }
    // One durable write for the answer's rejections, then they settle.
    record_then_settle(shared, failed, outcome.rejected.iter().map(|r| r.ticket)).await?;
    shared
        .trackers
        .settle_all(outcome.indexed.iter().copied(), Verdict::Indexed);
    counters
        .indexed
        .fetch_add(outcome.indexed.len() as u64, Ordering::Relaxed);
    counters
        .retries
        .fetch_add(u64::from(outcome.retries), Ordering::Relaxed);
    counters.batches.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Commits `failed` (the dead-letter records of the items with `tickets`) and only once it is
/// durable counts those items as dead-lettered and settles their pages: a checkpoint never passes
/// an item whose record could still be lost. A failed commit settles nothing.
async fn record_then_settle(
    shared: &Shared,
    failed: Group,
    tickets: impl IntoIterator<Item = Ticket>,
) -> Result<(), PipelineError> {
    settle_durably(
        &shared.dead,
        &shared.trackers,
        &shared.counters,
        failed,
        tickets,
    )
    .await
}

async fn settle_durably(
    dead: &DeadLetters,
    trackers: &Trackers,
    counters: &Counters,
    failed: Group,
    tickets: impl IntoIterator<Item = Ticket>,
) -> Result<(), PipelineError> {
    if failed.is_empty() {
        return Ok(());
    }
    let records = failed.len();
    dead.commit(failed).await?;
    counters.dead_lettered.fetch_add(records, Ordering::Relaxed);
    trackers.settle_all(tickets, Verdict::DeadLettered);
    Ok(())
}

#[cfg(test)]
mod tests;
