//! Setting a split job up, once, and waiting for it to be set up.

use std::time::{Duration, Instant};

use aws_sdk_dynamodbstreams::Client as StreamsClient;
use chrono::Utc;

use super::phases::{Run, resumable, start_tail};
use super::{Origin, RebuildPlan, build_definition};
use crate::aliases::inspect;
use crate::entities::Entity;
use crate::error::Error;
use crate::jobs::coord;
use crate::jobs::session::held_message;
use crate::jobs::store::{Acquire, JobStore};
use crate::jobs::{JobRecord, JobStatus, LockRecord, Phase};
use crate::sink::client::{NameState, SearchClient};
use crate::source::positions::inherited;
use crate::source::stream::{OpenedStream, StreamTail};
use crate::summary::Summary;

use super::WorkerSpec;

/// Sets the job up: takes the lock, resumes or creates the index, assigns the segments and
/// moves the job to [`Phase::Loading`]. Returns the job and, if the table has a stream, its tail.
pub(super) async fn setup(
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
    // Again under the lock: the alias may have moved since the first look.
    super::guard_entity(search, plan, &inspect(search, &plan.alias).await?).await?;
    let predecessor = store.latest_rebuild(&record.alias, &record.job_id).await?;
    store.set_latest(&record).await?;
    let resume = resumable(search, predecessor.as_ref(), took_over.as_ref(), plan).await?;
    let (index, segments, saved) = match &resume {
        Some(last) => {
            let index = last.new_index.clone().unwrap_or_default();
            tracing::info!(job = %last.job_id, index = %index, scanned = last.scanned, "resuming the interrupted job from its checkpoints");
            (index, last.segments, last.checkpoints.clone())
        }
        None => (record.job_id.clone(), plan.segments, Vec::new()),
    };
    let mut checkpoints = crate::checkpoint::for_segments(segments, &saved);
    coord::distribute(&mut checkpoints, plan.workers);
    // Record the index and the checkpoints at once: should this setup stop, the job is itself
    // resumable, and the predecessor's progress is never lost.
    let resumed_from = resume.as_ref().map(|last| last.job_id.clone());
    // Where the runs resumed from wrote dead letters: the summary names them all.
    let earlier = resume
        .as_ref()
        .map(|last| {
            let mut earlier = last.dead_letter_locations.clone();
            if let Some(path) = &last.dead_letter_path
                && !earlier.contains(path)
            {
                earlier.push(path.clone());
            }
            earlier
        })
        .unwrap_or_default();
    fenced_update(store, plan, &record.job_id, |job| {
        job.dead_letter_locations = earlier.clone();
        job.new_index = Some(index.clone());
        job.segments = segments;
        job.checkpoints = checkpoints.clone();
        job.resumed_from = resumed_from.clone();
        // Until this run's tail has saved its own, the interrupted run's positions stand.
        job.stream_positions = resume
            .as_ref()
            .map(|last| inherited(&last.stream_positions))
            .unwrap_or_default();
    })
    .await?;
    if let Some(predecessor) = &predecessor {
        close_predecessor(
            store,
            search,
            plan,
            predecessor,
            &record.job_id,
            resume.is_some(),
        )
        .await?;
    }
    if resume.is_none() {
        if search.name_state(&index).await? != NameState::Index {
            search
                .create_index(
                    &index,
                    &build_definition(
                        &entity.index_definition(),
                        &Origin {
                            entity: entity.name().to_owned(),
                            table: plan.table.to_string(),
                        },
                    ),
                )
                .await?;
        }
        tracing::info!(index = %index, alias = %plan.alias, "created the new index");
    }
    let previous_index = inspect(search, &plan.alias).await?.index_name(&plan.alias);
    let tail = match stream_source {
        Some((client, arn)) => {
            let run = Run {
                search,
                plan,
                entity,
                index: &index,
            };
            Some(start_tail(run, client, &arn, resume.as_ref(), summary).await?)
        }
        None => None,
    };
    let stream_tailed = tail.is_some();
    let job = fenced_update(store, plan, &record.job_id, |job| {
        job.phase = Phase::Loading;
        job.previous_index = previous_index.clone();
        job.stream_tailed = stream_tailed;
        job.started_at = Utc::now();
    })
    .await?;
    Ok((job, tail))
}

/// Writes the job record under optimistic concurrency, only while this job still holds the
/// alias's lock (renewed first) and has not been ended by someone else (an abandon).
async fn fenced_update(
    store: &JobStore,
    plan: &RebuildPlan,
    job_id: &str,
    edit: impl Fn(&mut JobRecord),
) -> Result<JobRecord, Error> {
    for _ in 0..50 {
        let (mut job, token) = store
            .job_versioned(job_id)
            .await?
            .ok_or_else(|| Error::JobEnded(format!("job {job_id} lost its record during setup")))?;
        if job.status.is_finished() {
            return Err(Error::JobEnded(format!(
                "job {job_id} ended ({}) during its setup: {}",
                job.status,
                job.message.as_deref().unwrap_or("no message")
            )));
        }
        if !store
            .renew_for_job(plan.alias.as_str(), job_id, Utc::now())
            .await?
        {
            return Err(Error::LockLost(format!(
                "the lock of alias {:?} was taken over while job {job_id} was being set up; it stopped",
                plan.alias.as_str()
            )));
        }
        edit(&mut job);
        job.heartbeat_at = Utc::now();
        if store.save_job_if(&job, token).await? {
            return Ok(job);
        }
    }
    Err(Error::Job(format!(
        "job {job_id} kept changing during its setup"
    )))
}

/// Closes the rebuild this job takes over from, under optimistic concurrency: `interrupted`
/// ("resumed by") when resumed; when it was left `running` by a run that died, `succeeded` if
/// its index is live (it died after its swap) or `failed` otherwise.
async fn close_predecessor(
    store: &JobStore,
    search: &SearchClient,
    plan: &RebuildPlan,
    predecessor: &JobRecord,
    job_id: &str,
    resumed: bool,
) -> Result<(), Error> {
    if !resumed && predecessor.status != JobStatus::Running {
        return Ok(());
    }
    let live = inspect(search, &plan.alias).await?.index_name(&plan.alias);
    for _ in 0..20 {
        let Some((mut last, token)) = store.job_versioned(&predecessor.job_id).await? else {
            return Ok(());
        };
        if !resumed && last.status != JobStatus::Running {
            return Ok(());
        }
        // Resuming relies on the record `resumable` judged: if it has ended otherwise since (an
        // abandon, which deletes the index), this run must not build on it.
        if resumed && last.status != predecessor.status {
            return Err(Error::Job(format!(
                "job {} became {} while this run set up to resume it; run the rebuild again to start afresh",
                last.job_id, last.status
            )));
        }
        let now = Utc::now();
        if resumed {
            last.status = JobStatus::Interrupted;
            last.message = Some(format!("resumed by job {job_id}"));
        } else if last.new_index.is_some() && last.new_index == live {
            last.status = JobStatus::Succeeded;
            last.message = Some(format!(
                "its run died after the swap; job {job_id} found the alias on its index"
            ));
        } else {
            last.status = JobStatus::Failed;
            last.message = Some(format!(
                "its run died; job {job_id} took the alias over and started afresh"
            ));
        }
        last.ended_at = last.ended_at.or(Some(now));
        if store.save_job_if(&last, token).await? {
            return Ok(());
        }
    }
    Ok(())
}

/// Fails a job whose setup failed after it took the lock, and releases the lock, so the waiting
/// workers stop at once and the next rebuild need not wait for the lease.
pub(super) async fn abort_setup(store: &JobStore, plan: &RebuildPlan, job_id: &str, error: &Error) {
    let recorded = async {
        if let Some((mut job, token)) = store.job_versioned(job_id).await?
            && !job.status.is_finished()
        {
            // With its index recorded the job keeps its progress: the next rebuild resumes it.
            job.status = match error {
                Error::Interrupted(_) => JobStatus::Interrupted,
                _ if job.new_index.is_some() => JobStatus::Interrupted,
                _ => JobStatus::Failed,
            };
            job.ended_at = Some(Utc::now());
            job.message = Some(format!("setup failed: {error:#}"));
            store.save_job_if(&job, token).await?;
        }
        store.release_for_job(plan.alias.as_str(), job_id).await
    };
    if let Err(failure) = recorded.await {
        tracing::error!(error = %failure, "cannot record the job's failed setup");
    }
}

/// Waits until the setup worker has set the job up (polling its record), within one lease.
///
/// While the job is still being set up — before any segment is read — the first waiting worker
/// given a `stream` opens it and registers as the job's stream backup, in one conditional write:
/// its iterators then predate the scan, so its tail misses no write even if the setup worker dies.
/// Returns the job, and the opened stream when this worker is the backup.
pub(super) async fn wait_for_setup(
    store: &JobStore,
    plan: &RebuildPlan,
    spec: &WorkerSpec,
    mut stream: Option<(StreamsClient, String)>,
) -> Result<(JobRecord, Option<OpenedStream>), Error> {
    let deadline = Instant::now() + plan.timing.lease;
    let mut backup: Option<OpenedStream> = None;
    let mut opened: Option<OpenedStream> = None;
    loop {
        let (mut job, token) = store.job_versioned(&spec.job_id).await?.ok_or_else(|| {
            Error::JobEnded(format!("job {} has no record any more", spec.job_id))
        })?;
        if job.status.is_finished() {
            return Err(Error::JobEnded(format!(
                "job {} ended ({}) before worker {} joined: {}",
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
            return Ok((job, backup));
        }
        if job.stream_backup == Some(spec.worker) && backup.is_none() && opened.is_some() {
            // Registered by a write whose answer was lost: this worker is the backup.
            backup = opened.take();
        }
        if job.stream_backup.is_none()
            && let Some((client, arn)) = stream.take()
        {
            let mine = OpenedStream::open(client, &arn).await?;
            job.stream_backup = Some(spec.worker);
            if store.save_job_if(&job, token).await? {
                tracing::info!(job = %spec.job_id, worker = spec.worker, "tailing the stream as the setup worker's backup");
                backup = Some(mine);
            } else {
                opened = Some(mine);
            }
            continue;
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
