//! The finisher's part of a job: gate, fence, swap, and the stream's catch-up after it.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::aliases::{Previous, inspect};
use crate::error::Error;
use crate::jobs::{JobStatus, WorkerStatus, coord};
use crate::rebuild::phases::{Run, close_tail, drain, restore_and_gate, retire_after_swap, swap};
use crate::shutdown::Signals;
use crate::source::stream::StreamTail;
use crate::summary::{Status, Summary};

use super::worker::{Synced, Worker};

/// Ends the job of a worker whose stream tail failed (it stopped with its checkpoints and stream
/// positions saved, before its position moved past a record it could not apply) as interrupted,
/// so that no other worker swaps without those records, and returns the error that says so.
pub(super) async fn tail_failed(worker: &Worker, cause: &str) -> Error {
    let message = format!(
        "the table's stream could not be tailed ({cause}), so writes made during the rebuild would be lost; nothing was swapped, the checkpoints and stream positions are saved, and the next rebuild resumes from them and replays the stream"
    );
    if let Err(error) = worker
        .end_job(JobStatus::Interrupted, |job| {
            job.message = Some(message.clone())
        })
        .await
    {
        tracing::error!(error = %error, "cannot record the interrupted job");
    }
    Error::Interrupted(message)
}

/// Keeps the finisher's heartbeat (and the lock) fresh while it gates and swaps. It stops
/// renewing when the job ended or the lock is lost; the fence before the swap notices.
pub(super) async fn heartbeat(worker: Worker, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(worker.plan.timing.heartbeat);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.cancelled() => return,
        }
        match worker.sync(WorkerStatus::Running).await {
            Ok(Synced::Merged(_)) => {}
            Ok(Synced::Ended(_)) => return,
            Err(error @ (Error::LockLost(_) | Error::Job(_) | Error::JobEnded(_))) => {
                tracing::error!(error = %error, "the finisher lost its job; it will not swap");
                return;
            }
            Err(error) => tracing::warn!(error = %error, "heartbeat failed; will retry"),
        }
    }
}

/// How the finish ended.
pub(super) enum Finish {
    Ended(Status),
    /// Stopped by a signal before the swap: the job is interrupted, and resumes at its finish.
    Stopped,
    /// The stream tail failed before the swap (its last records could not be read or written):
    /// stopped as on a signal, so the next rebuild resumes and replays them.
    TailFailed(String),
}

/// Gates and swaps a job whose segments are all done. A signal before the swap stops the finish
/// (the next rebuild resumes it); once the fence has passed, the swap completes and a signal
/// only cuts the stream's catch-up short, with a warning.
pub(super) async fn finish_job(
    worker: &Worker,
    run: Run<'_>,
    tail: Option<StreamTail>,
    signals: &mut Signals,
    summary: &mut Summary,
) -> Result<Finish, Error> {
    let plan = &worker.plan;
    let job =
        worker.store.job(&worker.job_id).await?.ok_or_else(|| {
            Error::JobEnded(format!("job {} has no record any more", worker.job_id))
        })?;
    (summary.scanned, summary.indexed, summary.dead_lettered) = coord::totals(&job);
    let gated = tokio::select! {
        gated = gate_step(run, tail.as_ref(), job.stream_tailed, summary) => match gated {
            Err(Error::Stream(failure)) => {
                if let Some(tail) = tail {
                    let _ = tail.stop().await;
                }
                return Ok(Finish::TailFailed(failure.to_string()));
            }
            gated => gated?,
        },
        _ = signals.recv() => return Ok(Finish::Stopped),
    };
    let previous = match gated {
        Gated::AlreadySwapped => {
            summary.swapped = true;
            if let Some(tail) = tail {
                close_tail(tail, true, plan, summary).await?;
            }
            return Ok(Finish::Ended(Status::Succeeded));
        }
        Gated::Refused => {
            if let Some(tail) = tail {
                close_tail(tail, false, plan, summary).await?;
            }
            return Ok(Finish::Ended(Status::GateFailed));
        }
        Gated::Passed(previous) => previous,
    };
    // The tail kept applying records while the gate ran: a failure since must stop the swap.
    if let Some(failure) = match &tail {
        Some(tail) => tail.failure().await,
        None => None,
    } {
        if let Some(tail) = tail {
            let _ = tail.stop().await;
        }
        return Ok(Finish::TailFailed(failure.to_string()));
    }
    worker.fence().await?;
    swap(run, &previous).await?;
    summary.swapped = true;
    tracing::info!(alias = %plan.alias, index = %run.index, previous = summary.previous_index.as_deref(), "alias swapped");
    if let Some(tail) = tail {
        tokio::select! {
            closed = close_tail(tail, true, plan, summary) => closed?,
            _ = signals.recv() => summary.warnings.push(format!(
                "stopped during the stream's catch-up after the swap: writes made since may be missing; check with `indexer verify --table {} --index {}`",
                plan.table, plan.alias
            )),
        }
    }
    retire_after_swap(run, &previous, summary).await;
    Ok(Finish::Ended(Status::Succeeded))
}

/// What the steps before the swap found.
enum Gated {
    /// A finisher that died after swapping: the alias is already on the new index.
    AlreadySwapped,
    Refused,
    /// The gate passed; the alias still points at this.
    Passed(Previous),
}

/// The finish up to the swap: the stream drained, settings restored, refreshed, gated.
async fn gate_step(
    run: Run<'_>,
    tail: Option<&StreamTail>,
    stream_tailed: bool,
    summary: &mut Summary,
) -> Result<Gated, Error> {
    let plan = run.plan;
    if let Some(tail) = tail {
        drain(tail, Duration::ZERO, "before the gate", plan, summary).await?;
    } else if stream_tailed {
        summary.warnings.push(format!(
            "the workers tailing the table's stream died, so writes made to the table while the rebuild ran may be missing from the new index; check with `indexer verify --table {} --index {}` (and repair with --fix)",
            plan.table, plan.alias
        ));
    }
    let previous = inspect(run.search, &plan.alias).await?;
    if previous.index_name(&plan.alias).as_deref() == Some(run.index) {
        tracing::info!(alias = %plan.alias, index = run.index, "the alias already points at the new index");
        return Ok(Gated::AlreadySwapped);
    }
    let live_count = match previous.index_name(&plan.alias) {
        Some(live) => Some(run.search.count(&live).await?),
        None => None,
    };
    let exact = !stream_tailed && tail.is_none();
    if restore_and_gate(run, &previous, live_count, exact, summary).await? {
        Ok(Gated::Passed(previous))
    } else {
        Ok(Gated::Refused)
    }
}
