//! What the pipeline's tasks share: the run's settings and sink, its fatal error, the segments
//! assigned to it, and the one way dead-lettered items settle.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use aws_sdk_dynamodb::Client as DynamoClient;
use tokio_util::sync::CancellationToken;

use super::tracking::{Counters, Trackers};
use crate::checkpoint::{Checkpoint, Ticket, Verdict};
use crate::deadletter::{DeadLetterError, DeadLetters, Group};
use crate::entities::Entity;
use crate::sink::adaptive::Aimd;
use crate::sink::client::{SearchClient, SinkError};
use crate::sink::retry::RetryPolicy;
use crate::source::scan::SourceError;
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

/// A segment to read from its checkpoint on, and the token that stops reading it (when it passes
/// to another worker).
#[derive(Debug)]
pub struct Assignment {
    pub checkpoint: Checkpoint,
    pub stop: CancellationToken,
}

/// Everything the pipeline's tasks share.
pub(super) struct Shared {
    pub(super) dynamo: DynamoClient,
    pub(super) table: TableName,
    pub(super) entity: &'static dyn Entity,
    pub(super) sink: Sink,
    pub(super) settings: Settings,
    pub(super) counters: Arc<Counters>,
    pub(super) dead: Arc<DeadLetters>,
    pub(super) trackers: Arc<Trackers>,
    pub(super) stop: CancellationToken,
    pub(super) aimd: std::sync::Mutex<Aimd>,
    pub(super) limiter: Option<ReadLimiter>,
}

impl Shared {
    /// Applies `f` to the adaptive concurrency limit.
    pub(super) fn aimd<T>(&self, f: impl FnOnce(&mut Aimd) -> T) -> T {
        f(&mut self
            .aimd
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

/// Commits `failed` (the dead-letter records of the items with `tickets`) and only once it is
/// durable counts those items as dead-lettered and settles their pages: a checkpoint never passes
/// an item whose record could still be lost. A failed commit settles nothing.
pub(super) async fn record_then_settle(
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

/// Commits `failed` to `dead`, then counts and settles its items (see [`record_then_settle`]).
pub(super) async fn settle_durably(
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
