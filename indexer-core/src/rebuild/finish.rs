//! The finisher's part of a job: gate, fence, swap, and the stream's catch-up after it.

use std::time::Duration;

use crate::aliases::{Previous, inspect};
use crate::error::Error;
use crate::jobs::coord;
use crate::rebuild::phases::{Run, close_tail, drain, restore_and_gate, retire_after_swap, swap};
use crate::shutdown::Signals;
use crate::source::stream::StreamTail;
use crate::summary::{Status, Summary};

use super::job::Worker;

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
/// only cuts the stream's catch-up short, with a warning. The tail is taken (and stopped) by
/// every way the finish ends but an error; then it is left for the caller to stop.
pub(super) async fn finish_job(
    worker: &Worker,
    run: Run<'_>,
    tail: &mut Option<StreamTail>,
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
                if let Some(tail) = tail.take() {
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
            if let Some(tail) = tail.take() {
                close_tail(tail, true, plan, summary).await?;
            }
            return Ok(Finish::Ended(Status::Succeeded));
        }
        Gated::Refused => {
            if let Some(tail) = tail.take() {
                close_tail(tail, false, plan, summary).await?;
            }
            return Ok(Finish::Ended(Status::GateFailed));
        }
        Gated::Passed(previous) => previous,
    };
    // The tail kept applying records while the gate ran: a failure since must stop the swap.
    if let Some(failure) = match tail.as_ref() {
        Some(tail) => tail.failure().await,
        None => None,
    } {
        if let Some(tail) = tail.take() {
            let _ = tail.stop().await;
        }
        return Ok(Finish::TailFailed(failure.to_string()));
    }
    worker.fence().await?;
    swap(run, &previous).await?;
    summary.swapped = true;
    tracing::info!(alias = %plan.alias, index = %run.index, previous = summary.previous_index.as_deref(), "alias swapped");
    if let Some(tail) = tail.take() {
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
