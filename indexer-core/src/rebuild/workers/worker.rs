//! A worker's life after joining its job: read, take over, finish or wait for the end.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client as DynamoClient;
use chrono::Utc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::entities::Entity;
use crate::error::Error;
use crate::jobs::checkpoint::Checkpoint;
use crate::jobs::coord::{self, Local, Merged};
use crate::jobs::store::JobStore;
use crate::jobs::{JobRecord, JobStatus, WorkerStatus};
use crate::pipeline::{
    self, Assignment, Counters, Handles, PipelineError, RunStats, Sink, Trackers,
};
use crate::rebuild::RebuildPlan;
use crate::rebuild::run::{closing_message, drain, gate_and_swap, inspect, pipeline_settings};
use crate::sink::client::SearchClient;
use crate::source::stream::StreamTail;
use crate::summary::{Status, Summary, WorkerReport};

use super::Signals;

/// What one worker shares with its heartbeat.
#[derive(Clone)]
pub(super) struct Worker {
    pub(super) store: JobStore,
    pub(super) plan: Arc<RebuildPlan>,
    pub(super) job_id: String,
    pub(super) me: u32,
    pub(super) holder: String,
    pub(super) trackers: Arc<Trackers>,
    pub(super) counters: Arc<Counters>,
}

/// The outcome of one write of the job record.
pub(super) enum Synced {
    /// The job ended (by another worker, or an operator).
    Ended(Box<JobRecord>),
    Merged(Box<Merged>),
}

impl Worker {
    /// Reads the job record, merges this worker's state into it and writes it back under
    /// optimistic concurrency (retrying on conflicts), then renews the alias's lock.
    pub(super) async fn sync(&self, status: WorkerStatus) -> Result<Synced, Error> {
        let lease = self.plan.timing.lease;
        for _ in 0..50 {
            let (job, token) = self
                .store
                .job_versioned(&self.job_id)
                .await?
                .ok_or_else(|| Error::Job(format!("job {} has no record any more", self.job_id)))?;
            if job.status.is_finished() {
                return Ok(Synced::Ended(Box::new(job)));
            }
            let mine = self.trackers.active_checkpoints();
            let local = Local {
                worker: self.me,
                holder: &self.holder,
                status,
                idle: mine.iter().all(|c| c.done),
                checkpoints: &mine,
                scanned: Counters::get(&self.counters.scanned),
            };
            let now = Utc::now();
            let merged = coord::merge(job, &local, now, lease);
            if !self.store.save_job_if(&merged.job, token).await? {
                continue;
            }
            let alias = self.plan.alias.as_str();
            if merged.interrupted {
                self.store.release_for_job(alias, &self.job_id).await?;
            } else if !self.store.renew_for_job(alias, &self.job_id, now).await? {
                return Err(Error::LockLost(format!(
                    "the lock of alias {alias:?} no longer belongs to job {}; this worker stopped",
                    self.job_id
                )));
            }
            return Ok(Synced::Merged(Box::new(merged)));
        }
        Err(Error::Job(format!(
            "the record of job {} kept changing under this worker's writes",
            self.job_id
        )))
    }

    /// Ends the job (if it has not ended) with `status`, then releases the lock.
    pub(super) async fn end_job(
        &self,
        status: JobStatus,
        edit: impl Fn(&mut JobRecord),
    ) -> Result<(), Error> {
        for _ in 0..50 {
            let Some((mut job, token)) = self.store.job_versioned(&self.job_id).await? else {
                break;
            };
            if job.status.is_finished() {
                break;
            }
            let now = Utc::now();
            job.status = status;
            job.ended_at = Some(now);
            job.heartbeat_at = now;
            if let Some(state) = job.worker_states.iter_mut().find(|w| w.worker == self.me) {
                state.status = if status == JobStatus::Failed {
                    WorkerStatus::Failed
                } else {
                    WorkerStatus::Finished
                };
                state.heartbeat_at = now;
            }
            edit(&mut job);
            if self.store.save_job_if(&job, token).await? {
                break;
            }
        }
        self.store
            .release_for_job(self.plan.alias.as_str(), &self.job_id)
            .await?;
        Ok(())
    }
}

/// The worker's life after joining: read, take over, finish or wait for the end. Returns the
/// job's status as this worker reports it.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run_worker(
    worker: &Worker,
    dynamo: &DynamoClient,
    search: &SearchClient,
    entity: &'static dyn Entity,
    handles: &Handles,
    segments: u32,
    index: &str,
    tail: Option<StreamTail>,
    summary: &mut Summary,
    report: &mut WorkerReport,
) -> Result<Status, Error> {
    let plan = &worker.plan;
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
    let mut loading = tokio::spawn(pipeline::run_assigned(
        dynamo.clone(),
        plan.table.clone(),
        entity,
        Sink::Cluster(search.clone()),
        pipeline_settings(plan, segments, index.to_owned()),
        handles.clone(),
        assignments,
    ));
    let mut loaded: Option<RunStats> = None;
    let mut signals = Signals::new();
    let mut ticker = tokio::time::interval(plan.timing.heartbeat);
    let mut last_synced = Instant::now();
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = worker.trackers.segment_done() => {}
            _ = signals.recv(), if !stopping => stopping = true,
            joined = &mut loading, if loaded.is_none() => {
                loaded = Some(joined.map_err(|e| PipelineError::Task(e.to_string()))??);
            }
        }
        if stopping {
            return stop(worker, handles, assign.take(), loading, loaded.is_some()).await;
        }
        let outcome = match worker.sync(WorkerStatus::Running).await {
            Ok(Synced::Merged(merged)) => Ok(merged),
            Ok(Synced::Ended(job)) => Err(Ok(ended(&job, summary))),
            Err(error @ (Error::LockLost(_) | Error::Job(_))) => Err(Err(error)),
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
                wind_down(
                    worker,
                    search,
                    handles,
                    assign.take(),
                    loading,
                    loaded.is_some(),
                )
                .await;
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
    let outcome = finish_job(worker, search, entity, index, tail, summary).await;
    beating.cancel();
    let _ = heartbeat.await;
    let status = outcome?;
    let job_status = JobStatus::from(status);
    summary.status = status;
    let message = closing_message(summary);
    worker
        .end_job(job_status, |job| job.message = Some(message.clone()))
        .await?;
    Ok(status)
}

/// Keeps the finisher's heartbeat (and the lock) fresh while it gates and swaps.
pub(super) async fn heartbeat(worker: Worker, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(worker.plan.timing.heartbeat);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.cancelled() => return,
        }
        if let Err(error) = worker.sync(WorkerStatus::Running).await {
            tracing::warn!(error = %error, "heartbeat failed; will retry");
        }
    }
}

/// Gates and swaps a job whose segments are all done.
pub(super) async fn finish_job(
    worker: &Worker,
    search: &SearchClient,
    entity: &'static dyn Entity,
    index: &str,
    tail: Option<StreamTail>,
    summary: &mut Summary,
) -> Result<Status, Error> {
    let plan = &worker.plan;
    let job = worker
        .store
        .job(&worker.job_id)
        .await?
        .ok_or_else(|| Error::Job(format!("job {} has no record any more", worker.job_id)))?;
    (summary.scanned, summary.indexed, summary.dead_lettered) = coord::totals(&job);
    if let Some(tail) = &tail {
        drain(tail, Duration::ZERO, "before the gate", plan, summary).await?;
    } else if job.stream_tailed {
        summary.warnings.push(format!(
            "the workers tailing the table's stream died, so writes made to the table while the rebuild ran may be missing from the new index; check with `indexer verify --table {} --index {}` (and repair with --fix)",
            plan.table, plan.alias
        ));
    }
    let previous = inspect(search, &plan.alias).await?;
    if previous.index_name(&plan.alias).as_deref() == Some(index) {
        // A finisher that died after swapping: the alias is already on the new index.
        tracing::info!(alias = %plan.alias, index, "the alias already points at the new index");
        summary.swapped = true;
        return Ok(Status::Succeeded);
    }
    let live_count = match previous.index_name(&plan.alias) {
        Some(live) => Some(search.count(&live).await?),
        None => None,
    };
    gate_and_swap(
        search,
        plan,
        &entity.index_definition(),
        index,
        &previous,
        live_count,
        tail,
        job.stream_tailed,
        summary,
    )
    .await
}

/// Stops reading and lets in-flight writes end (within the stop timeout); then, if the job was
/// abandoned with its index deleted, deletes it again should those writes have re-created it.
pub(super) async fn wind_down(
    worker: &Worker,
    search: &SearchClient,
    handles: &Handles,
    assign: Option<mpsc::UnboundedSender<Assignment>>,
    loading: tokio::task::JoinHandle<Result<RunStats, PipelineError>>,
    loaded: bool,
) {
    handles.stop.cancel();
    drop(assign);
    if !loaded {
        let _ = tokio::time::timeout(worker.plan.stop_timeout, loading).await;
    }
    if let Err(error) = crate::ops::discard_abandoned(search, &worker.job_id).await {
        tracing::warn!(error = %error, "cannot check whether the abandoned job's index must be deleted");
    }
}

/// A worker stopped by a signal: drains what is in flight, saves its checkpoints and steps down;
/// the last live worker to stop interrupts the job.
pub(super) async fn stop(
    worker: &Worker,
    handles: &Handles,
    assign: Option<mpsc::UnboundedSender<Assignment>>,
    loading: tokio::task::JoinHandle<Result<RunStats, PipelineError>>,
    loaded: bool,
) -> Result<Status, Error> {
    handles.stop.cancel();
    drop(assign);
    if !loaded
        && tokio::time::timeout(worker.plan.stop_timeout, loading)
            .await
            .is_err()
    {
        tracing::warn!(timeout = ?worker.plan.stop_timeout, "in-flight work did not drain in time; unacknowledged items will be re-read");
    }
    match worker.sync(WorkerStatus::Stopped).await? {
        Synced::Merged(merged) if merged.interrupted => {
            tracing::warn!(job = %worker.job_id, "the last worker stopped: the job is interrupted and the next rebuild resumes it");
        }
        Synced::Merged(_) => {
            tracing::warn!(job = %worker.job_id, "stopped; the other workers take this worker's segments over");
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
            summary.gate_refusals = message
                .strip_prefix("gate refused: ")
                .map(|m| m.split("; ").map(str::to_owned).collect())
                .unwrap_or_default();
            Status::GateFailed
        }
        JobStatus::Interrupted => Status::Interrupted,
        JobStatus::Running | JobStatus::Failed | JobStatus::Abandoned => {
            summary.error =
                Some(format!("job {} {:?}: {message}", job.job_id, job.status).to_lowercase());
            Status::Failed
        }
    }
}
