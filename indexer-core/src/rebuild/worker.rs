//! A worker's life after joining its job: read, take over, finish or wait for the end.

use std::collections::HashMap;
use std::time::Instant;

use aws_sdk_dynamodb::Client as DynamoClient;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::checkpoint::Checkpoint;
use crate::error::Error;
use crate::jobs::{JobRecord, JobStatus, WorkerStatus, discard_abandoned};
use crate::pipeline::{self, Assignment, Handles, PipelineError, RunStats, Sink};
use crate::rebuild::finish::{Finish, finish_job};
use crate::rebuild::job::{Synced, Worker, ended_by_other, heartbeat, tail_failed};
use crate::rebuild::phases::{Run, closing_message, pipeline_settings};
use crate::shutdown::Signals;
use crate::sink::client::SearchClient;
use crate::source::stream::StreamTail;
use crate::summary::{Status, Summary, WorkerReport};

/// The pipeline's task.
type Loading = tokio::task::JoinHandle<Result<RunStats, PipelineError>>;

/// Everything one worker's loop needs besides the shared [`Worker`].
pub(super) struct Ctx<'a> {
    pub run: Run<'a>,
    pub dynamo: &'a DynamoClient,
    pub handles: &'a Handles,
    pub segments: u32,
    /// The job tails the table's stream (this worker or another): the scan reads consistently.
    pub stream_tailed: bool,
}

/// The worker's life after joining: read, take over, finish or wait for the end. Returns the
/// job's status as this worker reports it.
pub(super) async fn run_worker(
    worker: &Worker,
    ctx: Ctx<'_>,
    mut tail: Option<StreamTail>,
    signals: &mut Signals,
    summary: &mut Summary,
    report: &mut WorkerReport,
) -> Result<Status, Error> {
    let (plan, handles, search) = (&worker.plan, ctx.handles, ctx.run.search);
    let (assign, assignments) = mpsc::unbounded_channel();
    let mut readers: HashMap<u32, CancellationToken> = HashMap::new();
    for checkpoint in worker.trackers.active_checkpoints() {
        if !checkpoint.done {
            let stop = CancellationToken::new();
            readers.insert(checkpoint.segment, stop.clone());
            let _ = assign.send(Assignment { checkpoint, stop });
        }
    }
    let mut assign = Some(assign);
    let settings = pipeline::Settings {
        consistent_reads: ctx.stream_tailed || tail.is_some(),
        ..pipeline_settings(plan, ctx.segments, ctx.run.index.to_owned())
    };
    let mut loading = tokio::spawn(pipeline::run_assigned(
        ctx.dynamo.clone(),
        plan.table.clone(),
        ctx.run.entity,
        Sink::Cluster(search.clone()),
        settings,
        handles.clone(),
        assignments,
    ));
    let mut loaded: Option<RunStats> = None;
    let mut ticker = tokio::time::interval(plan.timing.heartbeat);
    let mut last_synced = Instant::now();
    let mut stopping = false;
    let mut tail_broke = false;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = worker.trackers.segment_done() => {}
            _ = signals.recv(), if !stopping => stopping = true,
            _ = async { match &tail { Some(tail) => tail.failed().await, None => std::future::pending().await } }, if !tail_broke => tail_broke = true,
            joined = &mut loading, if loaded.is_none() => {
                loaded = Some(joined.map_err(|e| PipelineError::Task(e.to_string()))??);
            }
        }
        if stopping {
            let loading = loaded.is_none().then_some(loading);
            return stop(worker, handles, assign.take(), loading, signals).await;
        }
        if tail_broke {
            // Writes made from now on would be lost: stop at once rather than hours later, saving
            // the checkpoints as on a signal (the job resumes, or goes on with the other tail).
            let cause = match tail.take() {
                Some(tail) => {
                    let cause = tail.failure().await.map(|e| e.to_string());
                    let _ = tail.stop().await;
                    cause
                }
                None => None,
            };
            let loading = loaded.is_none().then_some(loading);
            stop(worker, handles, assign.take(), loading, signals).await?;
            return Err(
                tail_failed(worker, &cause.unwrap_or_else(|| "no reason given".into())).await,
            );
        }
        // A cluster that stopped answering must not keep a signal waiting for the heartbeat:
        // the write is conditional and re-read each time, so leaving it half-way is safe.
        let synced = tokio::select! {
            synced = worker.sync(WorkerStatus::Running) => synced,
            _ = signals.recv() => {
                let loading = loaded.is_none().then_some(loading);
                return stop(worker, handles, assign.take(), loading, signals).await;
            }
        };
        let outcome = match synced {
            Ok(Synced::Merged(merged)) => Ok(merged),
            Ok(Synced::Ended(job)) => Err(Ok(ended(&job, summary))),
            Err(error @ (Error::LockLost(_) | Error::Job(_) | Error::JobEnded(_))) => {
                Err(Err(error))
            }
            Err(error) if last_synced.elapsed() < plan.timing.lease => {
                tracing::warn!(error = %error, "heartbeat failed; will retry");
                continue;
            }
            Err(error) => Err(Err(Error::LockLost(format!(
                "could not write the job record for longer than the lease, so the other workers may have taken this worker's segments; it stopped ({error})"
            )))),
        };
        let merged = match outcome {
            Ok(merged) => merged,
            Err(end) => {
                let loading = loaded.is_none().then_some(loading);
                wind_down(worker, search, handles, assign.take(), loading, tail.take()).await;
                return end;
            }
        };
        last_synced = Instant::now();
        for segment in &merged.lost {
            tracing::warn!(
                segment,
                "segment taken over by another worker; stopped reading it"
            );
            if let Some(stop) = readers.remove(segment) {
                stop.cancel();
            }
            worker.trackers.release(*segment);
            report.lost.push(*segment);
        }
        if let Some(assign) = &assign {
            for checkpoint in &merged.stolen {
                tracing::warn!(
                    segment = checkpoint.segment,
                    from_worker = checkpoint.owner,
                    scanned = checkpoint.scanned,
                    "took over the segment of a dead worker"
                );
                let stop = CancellationToken::new();
                readers.insert(checkpoint.segment, stop.clone());
                worker.trackers.adopt(Checkpoint {
                    owner: worker.me,
                    ..checkpoint.clone()
                });
                let _ = assign.send(Assignment {
                    checkpoint: checkpoint.clone(),
                    stop,
                });
                report.stolen.push(checkpoint.segment);
            }
        }
        if merged.all_done && assign.is_some() {
            // Nothing is left to read anywhere: let the pipeline end.
            drop(assign.take());
        }
        if merged.finishing {
            break;
        }
    }
    if loaded.is_none() {
        (&mut loading)
            .await
            .map_err(|e| PipelineError::Task(e.to_string()))??;
    }
    report.finisher = true;
    tracing::info!(job = %worker.job_id, worker = worker.me, "every segment is done; this worker gates and swaps");
    let beating = CancellationToken::new();
    let heartbeat = tokio::spawn(heartbeat(worker.clone(), beating.clone()));
    let outcome = finish_job(worker, ctx.run, &mut tail, signals, summary).await;
    beating.cancel();
    let _ = heartbeat.await;
    let status = match outcome {
        Ok(Finish::Ended(status)) => status,
        Ok(Finish::Stopped) => return stop(worker, handles, None, None, signals).await,
        Ok(Finish::TailFailed(cause)) => {
            stop(worker, handles, None, None, signals).await?;
            return Err(tail_failed(worker, &cause).await);
        }
        Err(error) => {
            // The tail may still write (a bulk write re-creates a missing index): stop it, and
            // delete the index again if the job was abandoned meanwhile.
            wind_down(worker, search, handles, None, None, tail.take()).await;
            return Err(error);
        }
    };
    summary.status = status;
    let message = closing_message(summary);
    let refusals = summary.gate_refusals.clone();
    let ended = worker
        .end_job(JobStatus::from(status), |job| {
            job.message = Some(message.clone());
            job.gate_refusals = refusals.clone();
        })
        .await;
    match ended {
        Ok(closed) => {
            summary.warnings.extend(closed.lock_left);
            match closed.by_other {
                Some(job) if !summary.swapped => {
                    // Abandoned while it gated: its index may have been written again since.
                    wind_down(worker, search, handles, None, None, None).await;
                    Err(ended_by_other(&job))
                }
                Some(job) => {
                    summary.warnings.push(format!(
                        "the alias moved, but the job record says {} ({})",
                        job.status,
                        job.message.as_deref().unwrap_or("no message")
                    ));
                    Ok(status)
                }
                None => Ok(status),
            }
        }
        Err(error) if summary.swapped => {
            // The alias has moved: the run succeeded. The next rebuild closes the record.
            summary.warnings.push(format!(
                "the alias moved, but the job record could not be closed ({error:#}); the next rebuild closes it"
            ));
            Ok(status)
        }
        Err(error) => Err(error),
    }
}

/// Stops reading and the stream tail, and lets in-flight writes end (within the stop timeout);
/// then, if the job was abandoned with its index deleted, deletes it again should those writes
/// have re-created it.
pub(super) async fn wind_down(
    worker: &Worker,
    search: &SearchClient,
    handles: &Handles,
    assign: Option<mpsc::UnboundedSender<Assignment>>,
    loading: Option<Loading>,
    tail: Option<StreamTail>,
) {
    handles.stop.cancel();
    drop(assign);
    if let Some(loading) = loading {
        let _ = tokio::time::timeout(worker.plan.stop_timeout, loading).await;
    }
    // The tail writes too: stop it (and let its last round land) before deleting the index.
    if let Some(tail) = tail {
        let _ = tail.stop().await;
    }
    if let Err(error) = discard_abandoned(search, &worker.job_id).await {
        tracing::warn!(error = %error, "cannot check whether the abandoned job's index must be deleted");
    }
}

/// A worker stopped by a signal: drains what is in flight, saves its checkpoints and steps down;
/// the last live worker to stop interrupts the job.
pub(super) async fn stop(
    worker: &Worker,
    handles: &Handles,
    assign: Option<mpsc::UnboundedSender<Assignment>>,
    loading: Option<Loading>,
    signals: &mut Signals,
) -> Result<Status, Error> {
    handles.stop.cancel();
    drop(assign);
    if let Some(loading) = loading {
        let timeout = worker.plan.stop_timeout;
        tracing::warn!(
            timeout_s = timeout.as_secs(),
            "stopping: in-flight requests may take up to {} s to finish; signal again (Ctrl-C) to stop at once",
            timeout.as_secs()
        );
        tokio::select! {
            drained = tokio::time::timeout(timeout, loading) => if drained.is_err() {
                tracing::warn!(timeout_s = timeout.as_secs(), "in-flight work did not drain in time; unacknowledged items will be re-read");
            },
            _ = signals.recv() => tracing::warn!(
                "stopping at once: what is settled stays settled, the rest is read again on resume"
            ),
        }
    }
    match worker.sync(WorkerStatus::Stopped).await? {
        Synced::Merged(merged) if merged.interrupted => {
            tracing::warn!(job = %worker.job_id, "the last worker stopped: the job is interrupted and the next rebuild resumes it");
        }
        Synced::Merged(_) => {
            tracing::warn!(job = %worker.job_id, "stopped; the other workers take this worker's segments over");
        }
        // Abandoned while it drained: the record's words are the truth, and the driver deletes
        // an index the drained writes re-created.
        Synced::Ended(job) if job.status == JobStatus::Abandoned => {
            return Err(ended_by_other(&job));
        }
        Synced::Ended(_) => {}
    }
    Ok(Status::Interrupted)
}

/// This worker's status for a job that ended without it finishing it.
pub(super) fn ended(job: &JobRecord, summary: &mut Summary) -> Status {
    let message = job.message.clone().unwrap_or_default();
    match job.status {
        JobStatus::Succeeded => Status::Succeeded,
        JobStatus::GateFailed => {
            summary.gate_refusals = job.gate_refusals.clone();
            Status::GateFailed
        }
        JobStatus::Interrupted => Status::Interrupted,
        JobStatus::Running | JobStatus::Failed | JobStatus::Abandoned => {
            summary.error = Some(format!("job {} {}: {message}", job.job_id, job.status));
            Status::Failed
        }
    }
}
