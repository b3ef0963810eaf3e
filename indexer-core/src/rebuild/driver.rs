//! The driver of every rebuild: this process as one worker of a job. A single-process rebuild is
//! worker 0 of a job of one worker; a rebuild split over K workers — ECS tasks, or processes on
//! one machine — survives the loss of any of them. Either way the same state machine runs.
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
//! releases it. The table's stream is tailed by two workers (DynamoDB Streams allows two readers
//! per shard), both from before the scan begins: the setup worker, and the first worker to wait
//! for the setup, its backup. They are the preferred finishers, so the stream is drained before
//! the gate unless both died (then the summary says so).
//!
//! [`run_local`] runs the K workers as child processes of this one, for a rebuild on one machine.

use super::job::{Closed, Worker, ended_by_other};
use super::setup::{abort_setup, setup, wait_for_setup};
use super::worker::{Ctx, run_worker};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use aws_sdk_dynamodb::Client as DynamoClient;
use aws_sdk_dynamodbstreams::Client as StreamsClient;
use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::phases::{Run, entity_of};
use super::{RebuildPlan, WorkerSpec, validate};
use crate::aliases::inspect;
use crate::deadletter::{self, DeadLetters, Destination, Writer};
use crate::error::Error;
use crate::jobs::coord;
use crate::jobs::store::JobStore;
use crate::jobs::{JobMode, JobRecord, JobStatus, Phase, discard_abandoned, holder};
use crate::pipeline::{Counters, Handles, Trackers};
use crate::progress::Progress;
use crate::shutdown::Signals;
use crate::sink::client::SearchClient;
use crate::source::scan;
use crate::source::stream;
use crate::summary::{Status, Summary, WorkerReport};

/// The dead-letter file of worker `worker`: the plan's path (or the index's default) with the
/// worker's number before its extension, so workers on one machine never share a file.
/// A job of one worker keeps the plain name.
pub(super) fn dead_letter_path(plan: &RebuildPlan, index: &str, worker: u32) -> PathBuf {
    let base = match &plan.dead_letter {
        Some(Destination::File(path)) => path.clone(),
        _ => PathBuf::from(format!("{index}.dead-letter.jsonl")),
    };
    if plan.workers == 1 && plan.worker.is_none() {
        return base;
    }
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

/// Creates the job's record; `true` when this process created it (and so sets the job up). A
/// create whose answer was lost after it applied finds its own record: this process's holder
/// and worker number, still in setup.
async fn created_by_me(store: &JobStore, record: &JobRecord) -> Result<bool, Error> {
    if store.create_job(record).await? {
        return Ok(true);
    }
    Ok(store.job(&record.job_id).await?.is_some_and(|job| {
        job.holder == record.holder
            && job.setup_by == record.setup_by
            && job.phase == Phase::Setup
            && job.status == JobStatus::Running
    }))
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
    // Listen from the start: a signal during setup must stop the run cleanly too.
    let mut signals = Signals::new();
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
    // Refuse an alias over several indexes before writing anything (read again under the lock).
    let previous = inspect(&search, &plan.alias).await?;
    // Refuse a rebuild from the wrong table before anything is written (exit 2).
    super::guard_entity(&search, &plan, &previous).await?;
    // From here on it writes: a first signal is handled here, by stopping cleanly.
    crate::shutdown::arm_for("the rebuild")?;
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
            JobMode::Rebuild,
            Utc::now(),
        )
    };
    let (job, tail) = if created_by_me(&store, &record).await? {
        tracing::info!(job = %spec.job_id, worker = me, workers = plan.workers, "setting the job up");
        let stream_arn = match &info.stream_arn {
            Some(arn) if stream::has_new_images(&streams, arn).await? => {
                Some((streams, arn.clone()))
            }
            Some(_) => {
                summary.warnings.push(format!(
                    "the stream of table {} carries no new images, so it cannot be replayed: writes made to the table while the rebuild ran may be missing from the new index; check with `indexer verify --table {} --index {}` (and repair with --fix)",
                    plan.table, plan.table, plan.alias
                ));
                None
            }
            None => None,
        };
        let set_up = tokio::select! {
            set_up = setup(&store, &search, &plan, entity, record, stream_arn, &mut summary) => set_up,
            _ = signals.recv() => Err(Error::Interrupted(format!(
                "stopped by a signal while setting job {} up; nothing was read, and the next rebuild starts afresh",
                spec.job_id
            ))),
        };
        match set_up {
            Ok(set_up) => set_up,
            Err(error @ Error::Locked(_)) => return Err(error),
            // The lock or the job is someone else's now: write nothing more — but an index
            // this setup created after an abandon (which found none to delete) goes again.
            Err(error @ (Error::LockLost(_) | Error::JobEnded(_))) => {
                if matches!(error, Error::JobEnded(_))
                    && let Err(failure) = discard_abandoned(&search, &spec.job_id).await
                {
                    tracing::warn!(error = %failure, "cannot check whether the abandoned job's index must be deleted");
                }
                summary.set_elapsed(started.elapsed());
                return Ok(summary.failed(&error));
            }
            Err(error) => {
                abort_setup(&store, &plan, &spec.job_id, &error).await;
                // An abandon during setup may have found no index to delete before this run
                // created it.
                if let Err(failure) = discard_abandoned(&search, &spec.job_id).await {
                    tracing::warn!(error = %failure, "cannot check whether the abandoned job's index must be deleted");
                }
                if let Error::Interrupted(message) = error {
                    summary.status = Status::Interrupted;
                    summary.warnings.push(message);
                    summary.set_elapsed(started.elapsed());
                    return Ok(summary);
                }
                return Err(error);
            }
        }
    } else {
        let stream_source = match &info.stream_arn {
            Some(arn) if stream::has_new_images(&streams, arn).await? => {
                Some((streams, arn.clone()))
            }
            _ => None,
        };
        let (job, backup) = tokio::select! {
            waited = wait_for_setup(&store, &plan, &spec, stream_source) => waited?,
            _ = signals.recv() => {
                // The summary names the job, whose record the setup worker closes.
                summary.status = Status::Interrupted;
                summary.warnings.push(format!(
                    "stopped by a signal while waiting for job {} to be set up; this worker read nothing",
                    spec.job_id
                ));
                summary.set_elapsed(started.elapsed());
                return Ok(summary);
            }
        };
        let tail = backup.map(|opened| {
            opened.tail(
                entity,
                search.clone(),
                job.new_index.clone().unwrap_or_default(),
                plan.retry,
            )
        });
        (job, tail)
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
    let solo = plan.workers == 1 && plan.worker.is_none();
    let mine = trackers.active_checkpoints();
    let handles = Handles {
        counters: Arc::new(Counters::resuming(&mine)),
        // A file destination becomes this worker's own file; an S3 one its own prefix.
        dead: Arc::new(DeadLetters::open(
            plan.dead_letter
                .as_ref()
                .filter(|d| matches!(d, Destination::S3(_))),
            dead_letter_path(&plan, &index, me),
            Writer {
                alias: plan.alias.as_str(),
                job_id: &spec.job_id,
                worker: me,
            },
        )),
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
        stream: match &tail {
            Some(tail) => Some(tail.book().await),
            None => None,
        },
    };
    worker
        .remember_dead_letters(handles.dead.location())
        .await?;
    let progress = Progress::start(
        Arc::clone(&handles.counters),
        info.approximate_items.map(|n| n / u64::from(plan.workers)),
        job.segments,
        plan.progress_interval,
        crate::progress::Labels {
            alias: plan.alias.to_string(),
            mode: "rebuild",
        },
    );
    tracing::info!(job = %spec.job_id, worker = me, segments = ?mine.iter().filter(|c| !c.done).map(|c| c.segment).collect::<Vec<_>>(), "worker joined");
    let ctx = Ctx {
        run: Run {
            search: &search,
            plan: &plan,
            entity,
            index: &index,
        },
        dynamo: &dynamo,
        handles: &handles,
        segments: job.segments,
        stream_tailed: job.stream_tailed,
    };
    let ended = run_worker(&worker, ctx, tail, &mut signals, &mut summary, &mut report).await;
    progress.finish();
    report.scanned_this_run = Counters::get(&handles.counters.scanned) - already_scanned;
    summary.scanned_this_run = report.scanned_this_run;
    summary.retries = Counters::get(&handles.counters.retries);
    summary.read_units = Counters::get(&handles.counters.read_milliunits) as f64 / 1000.0;
    summary.concurrency = Counters::get(&handles.counters.concurrency);
    summary.max_concurrency_reached = Counters::get(&handles.counters.max_concurrency);
    if let Ok(unmapped) = handles.counters.unmapped.lock()
        && !unmapped.is_empty()
    {
        summary.unmapped_attributes = unmapped.rows();
        summary.warnings.push(format!(
            "items carry attributes the entity does not map (search ignores them): {}; see unmapped_attributes",
            unmapped.describe()
        ));
    }
    // Every place the job's dead letters are: earlier runs' (resumed from), then this run's.
    let earlier = match worker.store.job(&spec.job_id).await {
        Ok(Some(job)) => job.dead_letter_locations,
        _ => Vec::new(),
    };
    summary.set_dead_letters(deadletter::locations(&earlier, handles.dead.finish()));
    if !solo {
        summary.worker = Some(report);
    }
    let result = match ended {
        Ok(status) => Ok(status),
        Err(error) => {
            let message = format!("worker {me}: {error:#}");
            if !crate::output::same_terminal() {
                tracing::error!(error = %message, "the worker failed; failing the job");
            }
            if matches!(
                error,
                Error::LockLost(_)
                    | Error::JobEnded(_)
                    | Error::Interrupted(_)
                    | Error::SwapUnknown(_)
            ) {
                // Ended by another writer (an abandon): an index this run's last writes
                // re-created goes again.
                if matches!(error, Error::JobEnded(_))
                    && let Err(failure) = discard_abandoned(&search, &spec.job_id).await
                {
                    tracing::warn!(error = %failure, "cannot check whether the abandoned job's index must be deleted");
                }
                Err(error)
            } else {
                match worker
                    .end_job(JobStatus::Failed, |job| job.message = Some(message.clone()))
                    .await
                {
                    // Ended by another first (an abandon that deleted the index this run then
                    // failed to reach): the record's words are the truth, and an index its last
                    // writes re-created goes again.
                    Ok(Closed {
                        by_other: Some(job),
                        ..
                    }) => {
                        if let Err(failure) = discard_abandoned(&search, &spec.job_id).await {
                            tracing::warn!(error = %failure, "cannot check whether the abandoned job's index must be deleted");
                        }
                        Err(ended_by_other(&job))
                    }
                    Ok(closed) => {
                        summary.warnings.extend(closed.lock_left);
                        Err(error)
                    }
                    Err(end_error) => {
                        tracing::error!(error = %end_error, "cannot record the failed job");
                        Err(error)
                    }
                }
            }
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
        Err(Error::Interrupted(message)) => {
            summary.status = Status::Interrupted;
            summary.warnings.push(message);
            Ok(summary)
        }
        Err(error) => Ok(summary.failed(&error)),
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
