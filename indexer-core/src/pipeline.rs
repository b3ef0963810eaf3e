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
//! dead-lettered — its page is settled in that segment's
//! [`SegmentTracker`](crate::checkpoint::SegmentTracker), which advances the segment's checkpoint
//! (see [`crate::checkpoint`]). A verdict counts only once it is
//! durable: acknowledged by the cluster, or its dead-letter record committed (flushed and synced,
//! or put in S3); `record_then_settle` is the one way dead-lettered items settle. A run can start
//! from saved checkpoints, and stops reading new pages when its [`CancellationToken`] fires:
//! in-flight work then drains and the checkpoints cover exactly what was acknowledged.

mod read;
mod shared;
mod tracking;
mod write;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use aws_sdk_dynamodb::Client as DynamoClient;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::checkpoint::Ticket;
use crate::deadletter::DeadLetters;
use crate::entities::{Document, Entity};
use crate::sink::adaptive::Aimd;
use crate::source::throttle::ReadLimiter;
use crate::validate::TableName;
use read::read_segments;
use shared::Shared;
use write::write_batches;

pub use shared::{Assignment, PipelineError, Settings, Sink};
pub use tracking::{Counters, Trackers};

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

#[cfg(test)]
mod tests;
