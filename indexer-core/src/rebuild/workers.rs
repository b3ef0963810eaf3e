//! One rebuild split over K workers — ECS tasks, or processes on one machine — that survives the
//! loss of any of them.
//!
//! Every worker is told the job id, its number `i` and `K`. The first to arrive creates the job
//! record (create-if-absent), takes the alias's lock for the job, resumes or creates the building
//! index and assigns segment `s` to worker `s mod K`; the others wait until it has. From then on
//! each worker reads its own segments, saves their checkpoints and its heartbeat in the job
//! record, takes over the segments of workers that died, and the one that finds every segment
//! done gates and swaps — all decided under optimistic concurrency on the job record (see
//! [`crate::jobs::coord`]). A worker's fatal error fails the job and the others stop at their
//! next heartbeat; a signal stops a worker after saving its checkpoints, and the last live worker
//! to stop marks the job interrupted, so the next rebuild resumes it.
//!
//! The alias's lock belongs to the job: every live worker renews it, and whoever ends the job
//! releases it. Only the setup worker tails the table's stream; it is the preferred finisher, so
//! the stream is drained before the gate unless that worker died (then the summary says so).
//!
//! [`run_local`] runs the K workers as child processes of this one, for a rebuild on one machine.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client as DynamoClient;
use aws_sdk_dynamodbstreams::Client as StreamsClient;
use chrono::Utc;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::run::{
    closing_message, drain, entity_of, gate_and_swap, inspect, pipeline_settings, resumable,
    start_tail,
};
use super::{RebuildPlan, build_definition, is_physical_of, physical_name};
use crate::deadletter::DeadLetters;
use crate::entities::Entity;
use crate::error::Error;
use crate::jobs::checkpoint::Checkpoint;
use crate::jobs::coord::{self, Local, Merged};
use crate::jobs::session::held_message;
use crate::jobs::store::{Acquire, JobStore};
use crate::jobs::{JobRecord, JobStatus, LockRecord, Phase, WorkerStatus, holder};
use crate::pipeline::{
    self, Assignment, Counters, Handles, PipelineError, RunStats, Sink, Trackers,
};
use crate::progress::Progress;
use crate::sink::client::{NameState, SearchClient};
use crate::source::scan;
use crate::source::stream::{self, StreamTail};
use crate::summary::{Status, Summary, WorkerReport};

/// Which worker of which job this process is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSpec {
    pub job_id: String,
    pub worker: u32,
}

/// The most workers one job may have.
pub const MAX_WORKERS: u32 = 64;

/// Checks the worker settings of a plan.
pub fn validate(plan: &RebuildPlan) -> Result<(), Error> {
    if !(1..=MAX_WORKERS).contains(&plan.workers) {
        return Err(Error::Input(format!(
            "--workers {} is out of range: use 1 to {MAX_WORKERS}",
            plan.workers
        )));
    }
    if plan.workers > plan.segments {
        return Err(Error::Input(format!(
            "--workers {} is more than --segments {}: each worker needs a segment of its own; raise --segments",
            plan.workers, plan.segments
        )));
    }
    if let Some(spec) = &plan.worker {
        if spec.worker >= plan.workers {
            return Err(Error::Input(format!(
                "--worker {} is out of range for --workers {}: workers are numbered 0 to {}",
                spec.worker,
                plan.workers,
                plan.workers - 1
            )));
        }
        if !is_physical_of(&plan.alias, &spec.job_id) {
            return Err(Error::Input(format!(
                "--job-id {:?} is not a rebuild of alias {:?}: job ids look like {}",
                spec.job_id,
                plan.alias.as_str(),
                physical_name(&plan.alias, Utc::now())
            )));
        }
    }
    Ok(())
}

/// The dead-letter file of worker `worker`: the plan's path (or the index's default) with the
/// worker's number before its extension, so workers on one machine never share a file.
fn dead_letter_path(plan: &RebuildPlan, index: &str, worker: u32) -> PathBuf {
    let base = plan
        .dead_letter
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{index}.dead-letter.jsonl")));
    worker_file(&base, worker)
}

/// `path` with `.worker-<n>` after the first part of its file name.
fn worker_file(path: &Path, worker: u32) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let renamed = match name.split_once('.') {
        Some((stem, rest)) => format!("{stem}.worker-{worker}.{rest}"),
        None => format!("{name}.worker-{worker}"),
    };
    path.with_file_name(renamed)
}

/// SIGTERM and SIGINT, listened to from creation on.
struct Signals(Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>);

impl Signals {
    fn new() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        Signals(
            signal(SignalKind::terminate())
                .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)))
                .ok(),
        )
    }

    async fn recv(&mut self) {
        match &mut self.0 {
            Some((term, int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::warn!("SIGTERM: stopping, saving checkpoints"),
                    _ = int.recv() => tracing::warn!("SIGINT: stopping, saving checkpoints"),
                }
            }
            None => std::future::pending().await,
        }
    }
}

/// What one worker shares with its heartbeat.
#[derive(Clone)]
struct Worker {
    store: JobStore,
    plan: Arc<RebuildPlan>,
    job_id: String,
    me: u32,
    holder: String,
    trackers: Arc<Trackers>,
    counters: Arc<Counters>,
}

/// The outcome of one write of the job record.
enum Synced {
    /// The job ended (by another worker, or an operator).
    Ended(Box<JobRecord>),
    Merged(Box<Merged>),
}

impl Worker {
    /// Reads the job record, merges this worker's state into it and writes it back under
    /// optimistic concurrency (retrying on conflicts), then renews the alias's lock.
    async fn sync(&self, status: WorkerStatus) -> Result<Synced, Error> {
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
    async fn end_job(&self, status: JobStatus, edit: impl Fn(&mut JobRecord)) -> Result<(), Error> {
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

/// Runs this process as worker `spec.worker` of job `spec.job_id` and returns its summary.
pub async fn work(
    dynamo: DynamoClient,
    streams: StreamsClient,
    search: SearchClient,
    plan: RebuildPlan,
    spec: WorkerSpec,
) -> Result<Summary, Error> {
    let started = Instant::now();
    validate(&plan)?;
    let entity = entity_of(&plan)?;
    let info = scan::describe(&dynamo, &plan.table).await?;
    let me = spec.worker;
    let mut summary = Summary::new("rebuild");
    summary.table = Some(plan.table.to_string());
    summary.entity = Some(entity.name().to_owned());
    summary.alias = Some(plan.alias.to_string());
    summary.job_id = Some(spec.job_id.clone());
    let mut report = WorkerReport {
        worker: me,
        of: plan.workers,
        ..WorkerReport::default()
    };
    let store = JobStore::new(search.clone());
    store.ensure().await?;
    let record = JobRecord {
        segments: plan.segments,
        approximate_items: info.approximate_items,
        workers: plan.workers,
        phase: Phase::Setup,
        setup_by: Some(me),
        ..JobRecord::start(
            spec.job_id.clone(),
            plan.alias.as_str(),
            plan.table.as_str(),
            entity.name(),
            "rebuild",
            Utc::now(),
        )
    };
    let (job, tail) = if store.create_job(&record).await? {
        tracing::info!(job = %spec.job_id, worker = me, workers = plan.workers, "setting the job up");
        let stream_arn = match &info.stream_arn {
            Some(arn) if stream::has_new_images(&streams, arn).await? => {
                Some((streams, arn.clone()))
            }
            _ => None,
        };
        match setup(
            &store,
            &search,
            &plan,
            entity,
            record,
            stream_arn,
            &mut summary,
        )
        .await
        {
            Ok(set_up) => set_up,
            Err(error @ Error::Locked(_)) => return Err(error),
            Err(error) => {
                abort_setup(&store, &plan, &spec.job_id, &error).await;
                return Err(error);
            }
        }
    } else {
        (wait_for_setup(&store, &plan, &spec).await?, None)
    };
    if info.stream_arn.is_none() {
        summary.warnings.push(format!(
            "table {} has no stream, so writes made to it while the rebuild ran may be missing from the new index; check with `indexer verify --table {} --index {}` (and repair with --fix)",
            plan.table, plan.table, plan.alias
        ));
    }
    let now = Utc::now();
    if let Some(other) = job.worker_states.iter().find(|w| {
        w.worker == me && w.holder != holder() && coord::alive(&job, me, now, plan.timing.lease)
    }) {
        return Err(Error::Input(format!(
            "worker {me} of job {} already runs on {}; give each worker its own number",
            spec.job_id, other.holder
        )));
    }
    let index = job.new_index.clone().unwrap_or_default();
    summary.new_index = Some(index.clone());
    summary.previous_index = job.previous_index.clone();
    summary.resumed_from = job.resumed_from.clone();
    let trackers = Arc::new(Trackers::for_worker(job.segments, &job.checkpoints, me));
    let mine = trackers.active_checkpoints();
    let handles = Handles {
        counters: Arc::new(Counters::resuming(&mine)),
        dead: Arc::new(DeadLetters::new(dead_letter_path(&plan, &index, me))),
        trackers: Arc::clone(&trackers),
        stop: CancellationToken::new(),
    };
    let already_scanned = Counters::get(&handles.counters.scanned);
    let plan = Arc::new(plan);
    let worker = Worker {
        store,
        plan: Arc::clone(&plan),
        job_id: spec.job_id.clone(),
        me,
        holder: holder(),
        trackers,
        counters: Arc::clone(&handles.counters),
    };
    let progress = Progress::start(
        Arc::clone(&handles.counters),
        info.approximate_items.map(|n| n / u64::from(plan.workers)),
        job.segments,
        plan.progress_interval,
    );
    tracing::info!(job = %spec.job_id, worker = me, segments = ?mine.iter().filter(|c| !c.done).map(|c| c.segment).collect::<Vec<_>>(), "worker joined");
    let ended = run_worker(
        &worker,
        &dynamo,
        &search,
        entity,
        &handles,
        job.segments,
        &index,
        tail,
        &mut summary,
        &mut report,
    )
    .await;
    progress.finish();
    let dead_file = handles.dead.finish();
    report.scanned_this_run = Counters::get(&handles.counters.scanned) - already_scanned;
    summary.scanned_this_run = report.scanned_this_run;
    summary.retries = Counters::get(&handles.counters.retries);
    summary.read_units = Counters::get(&handles.counters.read_milliunits) as f64 / 1000.0;
    summary.concurrency = Counters::get(&handles.counters.concurrency);
    summary.max_concurrency_reached = Counters::get(&handles.counters.max_concurrency);
    summary.dead_letter_path = dead_file?.map(|p| p.display().to_string());
    summary.worker = Some(report);
    let result = match ended {
        Ok(status) => Ok(status),
        Err(error) => {
            let message = format!("worker {me}: {error:#}");
            tracing::error!(error = %message, "the worker failed; failing the job");
            if !matches!(error, Error::LockLost(_) | Error::Job(_))
                && let Err(end_error) = worker
                    .end_job(JobStatus::Failed, |job| job.message = Some(message.clone()))
                    .await
            {
                tracing::error!(error = %end_error, "cannot record the failed job");
            }
            Err(error)
        }
    };
    if let Ok(Some((job, _))) = worker.store.job_versioned(&spec.job_id).await {
        (summary.scanned, summary.indexed, summary.dead_lettered) = coord::totals(&job);
    }
    summary.set_elapsed(started.elapsed());
    match result {
        Ok(status) => {
            summary.status = status;
            Ok(summary)
        }
        Err(error @ (Error::Input(_) | Error::Locked(_))) => Err(error),
        Err(error) => Ok(summary.failed(&error)),
    }
}

/// Sets the job up: takes the lock, resumes or creates the index, assigns the segments and
/// moves the job to [`Phase::Loading`]. Returns the job and, if the table has a stream, its tail.
async fn setup(
    store: &JobStore,
    search: &SearchClient,
    plan: &RebuildPlan,
    entity: &'static dyn Entity,
    record: JobRecord,
    stream_source: Option<(StreamsClient, String)>,
    summary: &mut Summary,
) -> Result<(JobRecord, Option<StreamTail>), Error> {
    let now = Utc::now();
    let lock = LockRecord {
        alias: record.alias.clone(),
        job_id: record.job_id.clone(),
        holder: record.holder.clone(),
        acquired_at: now,
        heartbeat_at: now,
        lease_secs: plan.timing.lease.as_secs().max(1),
    };
    let took_over = match store.acquire(lock, true).await? {
        Acquire::Taken { took_over, .. } => took_over,
        Acquire::Held { lock, job } => {
            let message = held_message(&record.alias, &lock, job.as_deref());
            let failed = JobRecord {
                status: JobStatus::Failed,
                ended_at: Some(Utc::now()),
                message: Some(message.clone()),
                ..record
            };
            store.save(&failed).await?;
            return Err(Error::Locked(message));
        }
    };
    if let Some(hung) = &took_over {
        tracing::warn!(job = %hung.job_id, holder = %hung.holder, "took over the lock of a hung job");
    }
    let predecessor = store.latest(&record.alias).await?;
    store.set_latest(&record).await?;
    let resume = resumable(search, predecessor.as_ref(), took_over.as_ref(), plan).await?;
    let (index, segments, saved) = match &resume {
        Some(last) => {
            let index = last.new_index.clone().unwrap_or_default();
            tracing::info!(job = %last.job_id, index = %index, scanned = last.scanned, "resuming the interrupted job from its checkpoints");
            store
                .save(&JobRecord {
                    status: JobStatus::Interrupted,
                    message: Some(format!("resumed by job {}", record.job_id)),
                    ended_at: last.ended_at.or(Some(Utc::now())),
                    ..last.clone()
                })
                .await?;
            (index, last.segments, last.checkpoints.clone())
        }
        None => {
            let index = record.job_id.clone();
            if search.name_state(&index).await? != NameState::Index {
                search
                    .create_index(&index, &build_definition(&entity.index_definition()))
                    .await?;
            }
            tracing::info!(index = %index, alias = %plan.alias, "created the new index");
            (index, plan.segments, Vec::new())
        }
    };
    let mut checkpoints = crate::jobs::checkpoint::for_segments(segments, &saved);
    coord::distribute(&mut checkpoints, plan.workers);
    let previous_index = inspect(search, &plan.alias).await?.index_name(&plan.alias);
    let tail = match stream_source {
        Some((client, arn)) => Some(
            start_tail(
                client,
                &arn,
                entity,
                search,
                &index,
                plan,
                resume.is_some(),
                summary,
            )
            .await?,
        ),
        None => None,
    };
    for _ in 0..50 {
        let (mut job, token) = store.job_versioned(&record.job_id).await?.ok_or_else(|| {
            Error::Job(format!(
                "job {} lost its record during setup",
                record.job_id
            ))
        })?;
        job.phase = Phase::Loading;
        job.new_index = Some(index.clone());
        job.previous_index = previous_index.clone();
        job.segments = segments;
        job.checkpoints = checkpoints.clone();
        job.resumed_from = resume.as_ref().map(|last| last.job_id.clone());
        job.stream_tailed = tail.is_some();
        job.started_at = Utc::now();
        if store.save_job_if(&job, token).await? {
            store.set_latest(&job).await?;
            return Ok((job, tail));
        }
    }
    Err(Error::Job(format!(
        "job {} kept changing during its setup",
        record.job_id
    )))
}

/// Fails a job whose setup failed after it took the lock, and releases the lock, so the waiting
/// workers stop at once and the next rebuild need not wait for the lease.
async fn abort_setup(store: &JobStore, plan: &RebuildPlan, job_id: &str, error: &Error) {
    let recorded = async {
        if let Some(mut job) = store.job(job_id).await? {
            job.status = JobStatus::Failed;
            job.ended_at = Some(Utc::now());
            job.message = Some(format!("setup failed: {error:#}"));
            store.save(&job).await?;
        }
        store.release_for_job(plan.alias.as_str(), job_id).await
    };
    if let Err(failure) = recorded.await {
        tracing::error!(error = %failure, "cannot record the job's failed setup");
    }
}

/// Waits until the setup worker has set the job up (polling its record), within one lease.
async fn wait_for_setup(
    store: &JobStore,
    plan: &RebuildPlan,
    spec: &WorkerSpec,
) -> Result<JobRecord, Error> {
    let deadline = Instant::now() + plan.timing.lease;
    loop {
        let job = store
            .job(&spec.job_id)
            .await?
            .ok_or_else(|| Error::Job(format!("job {} has no record any more", spec.job_id)))?;
        if job.status.is_finished() {
            return Err(Error::Job(format!(
                "job {} ended ({:?}) before worker {} joined: {}",
                spec.job_id,
                job.status,
                spec.worker,
                job.message.as_deref().unwrap_or("no message")
            )));
        }
        if job.phase != Phase::Setup {
            if job.table != plan.table.as_str() || job.alias != plan.alias.as_str() {
                return Err(Error::Input(format!(
                    "job {} rebuilds alias {} from table {}, not {} from {}",
                    spec.job_id, job.alias, job.table, plan.alias, plan.table
                )));
            }
            return Ok(job);
        }
        if Instant::now() > deadline {
            return Err(Error::Job(format!(
                "job {} was not set up within the lease ({} s): its setup worker seems to have died; start the rebuild again (it takes the lock over once the lease expires)",
                spec.job_id,
                plan.timing.lease.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The worker's life after joining: read, take over, finish or wait for the end. Returns the
/// job's status as this worker reports it.
#[allow(clippy::too_many_arguments)]
async fn run_worker(
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
    let job_status = match status {
        Status::Succeeded => JobStatus::Succeeded,
        Status::GateFailed => JobStatus::GateFailed,
        Status::Interrupted => JobStatus::Interrupted,
        Status::Failed => JobStatus::Failed,
    };
    summary.status = status;
    let message = closing_message(summary);
    worker
        .end_job(job_status, |job| job.message = Some(message.clone()))
        .await?;
    Ok(status)
}

/// Keeps the finisher's heartbeat (and the lock) fresh while it gates and swaps.
async fn heartbeat(worker: Worker, stop: CancellationToken) {
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
async fn finish_job(
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
            "the worker tailing the table's stream died, so writes made to the table while the rebuild ran may be missing from the new index; check with `indexer verify --table {} --index {}` (and repair with --fix)",
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
        summary,
    )
    .await
}

/// Stops reading and lets in-flight writes end (within the stop timeout); then, if the job was
/// abandoned with its index deleted, deletes it again should those writes have re-created it.
async fn wind_down(
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
async fn stop(
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
fn ended(job: &JobRecord, summary: &mut Summary) -> Status {
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

/// Runs a K-worker rebuild on this machine: starts K copies of this program as workers of one
/// new job, forwards SIGTERM/SIGINT to them, and reports the job with every worker's part.
/// Returns the report and the exit code (the finisher's, or the first failure's).
pub async fn run_local(
    search: &SearchClient,
    plan: &RebuildPlan,
    args: Vec<OsString>,
) -> Result<(Value, i32), Error> {
    validate(plan)?;
    let store = JobStore::new(search.clone());
    if let Some(lock) = store.lock(plan.alias.as_str(), Utc::now()).await? {
        if !lock.stale {
            let job = store.job(&lock.record.job_id).await?;
            return Err(Error::Locked(held_message(
                plan.alias.as_str(),
                &lock.record,
                job.as_ref(),
            )));
        }
    }
    let job_id = physical_name(&plan.alias, Utc::now());
    let program = std::env::current_exe()
        .map_err(|e| Error::Job(format!("cannot find this program to start workers: {e}")))?;
    let mut children = Vec::new();
    for worker in 0..plan.workers {
        let mut command = tokio::process::Command::new(&program);
        command
            .args(&args)
            .args(["--job-id", &job_id, "--worker", &worker.to_string()])
            .env("WORKERS", plan.workers.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let child = command
            .spawn()
            .map_err(|e| Error::Job(format!("cannot start worker {worker}: {e}")))?;
        tracing::info!(job = %job_id, worker, pid = child.id(), "started worker");
        children.push(child);
    }
    let pids: Vec<Option<u32>> = children.iter().map(|c| c.id()).collect();
    let waits: Vec<_> = children
        .into_iter()
        .map(|mut child| {
            tokio::spawn(async move {
                let mut out = String::new();
                if let Some(mut stdout) = child.stdout.take() {
                    let _ = stdout.read_to_string(&mut out).await;
                }
                (out, child.wait().await.ok().and_then(|s| s.code()))
            })
        })
        .collect();
    let all = async move {
        let mut results = Vec::with_capacity(waits.len());
        for wait in waits {
            results.push(wait.await.unwrap_or_default());
        }
        results
    };
    tokio::pin!(all);
    let mut signals = Signals::new();
    let results = loop {
        tokio::select! {
            results = &mut all => break results,
            _ = signals.recv() => {
                for pid in pids.iter().flatten() {
                    forward_stop(*pid).await;
                }
            }
        }
    };
    let mut reports = Vec::new();
    let mut finisher: Option<(Value, i32)> = None;
    let mut first_failure: Option<(Value, i32)> = None;
    for (worker, ((out, code), pid)) in results.into_iter().zip(pids).enumerate() {
        let summary: Value = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
        let mut part = summary
            .get("worker")
            .cloned()
            .unwrap_or_else(|| json!({ "worker": worker, "of": plan.workers, "finisher": false }));
        part["pid"] = json!(pid);
        part["exit_code"] = json!(code);
        if code.is_none() {
            part["killed"] = json!(true);
        }
        reports.push(part);
        let code = code.unwrap_or(1);
        if summary["worker"]["finisher"] == json!(true) {
            finisher = Some((summary, code));
        } else if code != 0 && first_failure.is_none() && !summary.is_null() {
            first_failure = Some((summary, code));
        }
    }
    let (mut value, code) = finisher.or(first_failure).unwrap_or_else(|| {
        (
            json!({ "status": "failed", "mode": "rebuild", "job_id": job_id, "error": "no worker reported an outcome" }),
            1,
        )
    });
    if let Some(object) = value.as_object_mut() {
        object.remove("worker");
        object.insert("workers".into(), Value::Array(reports));
    }
    Ok((value, code))
}

/// Asks a worker process to stop (SIGTERM), as ECS would.
async fn forward_stop(pid: u32) {
    let sent = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await;
    if let Err(error) = sent {
        tracing::warn!(pid, error = %error, "cannot forward the stop to a worker");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_write_dead_letters_to_files_of_their_own() {
        assert_eq!(
            worker_file(Path::new("persons-x.dead-letter.jsonl"), 2),
            PathBuf::from("persons-x.worker-2.dead-letter.jsonl")
        );
        assert_eq!(
            worker_file(Path::new("/var/dl/out.jsonl"), 0),
            PathBuf::from("/var/dl/out.worker-0.jsonl")
        );
        assert_eq!(
            worker_file(Path::new("dead"), 1),
            PathBuf::from("dead.worker-1")
        );
    }
}
