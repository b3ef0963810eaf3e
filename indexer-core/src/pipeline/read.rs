//! The segment readers: each scans its segment page by page (within the read-capacity cap), maps
//! every item with the entity's factory and sends the documents on; items it cannot map are
//! dead-lettered.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::shared::{Assignment, PipelineError, Shared, record_then_settle};
use crate::checkpoint::Ticket;
use crate::deadletter::{self, Group};
use crate::entities::Document;
use crate::source::item::from_dynamo_json;
use crate::source::scan::{self, Cursor};

/// Starts a reader for every assignment; returns when the assignments end and every reader has.
pub(super) async fn read_segments(
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

/// Reads one segment from `cursor` until its end, the run's stop or its release.
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
