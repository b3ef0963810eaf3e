//! The batcher and the bulk writers: documents go into batches bounded by bytes and count, and
//! at most the adaptive limit of writers run at once; what the cluster rejects is dead-lettered.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::shared::{PipelineError, Shared, Sink, record_then_settle};
use crate::checkpoint::{Ticket, Verdict};
use crate::deadletter::Group;
use crate::entities::Document;
use crate::sink::adaptive::Signal;
use crate::sink::batch::{Batch, Batcher};
use crate::sink::bulk::{self, BulkOutcome};

/// How long a partial batch waits for more documents before it is sent anyway.
const LINGER: std::time::Duration = std::time::Duration::from_millis(200);

/// Drains the documents into batches and starts a writer for each, as the adaptive limit allows.
pub(super) async fn write_batches(
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

/// Sends one batch (or counts it, in a dry run), adapts the concurrency to the answer, and
/// settles its items.
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
