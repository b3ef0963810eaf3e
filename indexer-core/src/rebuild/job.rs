//! One worker's hold on its job: the conditional writes of the job record and the lock that
//! every part of a worker's life makes (its heartbeat, the fence before the swap, the job's end).
//! The loop of [`super::worker`] and the finish of [`super::finish`] both build on it.

use std::sync::Arc;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::jobs::coord::{self, Local, Merged};
use crate::jobs::store::JobStore;
use crate::jobs::{JobRecord, JobStatus, Phase, WorkerStatus};
use crate::pipeline::{Counters, Trackers};
use crate::rebuild::RebuildPlan;
use crate::source::positions::{Book, save_positions};

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
    /// Where this worker's stream tail stands, when it tails the stream: saved with the
    /// checkpoints.
    pub(super) stream: Option<Book>,
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
                .ok_or_else(|| {
                    Error::JobEnded(format!("job {} has no record any more", self.job_id))
                })?;
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
            let mut merged = coord::merge(job, &local, now, lease);
            if let Some(book) = &self.stream {
                save_positions(
                    &mut merged.job.stream_positions,
                    book.snapshot(self.me),
                    book.is_resumed(),
                );
            }
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

    /// The fence before the swap: renews the lock for this job, then moves the job to
    /// [`Phase::Swapping`] in one conditional write. A run that lost its lock, whose job was
    /// abandoned or ended, or that lost the finish to another worker fails here and never swaps;
    /// once it passes, `abandon` refuses the job while this worker lives.
    pub(super) async fn fence(&self) -> Result<(), Error> {
        let alias = self.plan.alias.as_str();
        for _ in 0..50 {
            let (mut job, token) =
                self.store
                    .job_versioned(&self.job_id)
                    .await?
                    .ok_or_else(|| {
                        Error::JobEnded(format!("job {} has no record any more", self.job_id))
                    })?;
            if job.status.is_finished() {
                return Err(Error::JobEnded(format!(
                    "job {} ended ({}) before its swap: {}; the alias was not moved",
                    self.job_id,
                    job.status,
                    job.message.as_deref().unwrap_or("no message")
                )));
            }
            if job.finisher != Some(self.me) {
                return Err(Error::LockLost(format!(
                    "another worker took the finish of job {} over; this worker did not move the alias",
                    self.job_id
                )));
            }
            let now = Utc::now();
            if !self.store.renew_for_job(alias, &self.job_id, now).await? {
                return Err(Error::LockLost(format!(
                    "the lock of alias {alias:?} no longer belongs to job {}; the alias was not moved",
                    self.job_id
                )));
            }
            job.phase = Phase::Swapping;
            job.heartbeat_at = now;
            if let Some(state) = job.worker_states.iter_mut().find(|w| w.worker == self.me) {
                state.heartbeat_at = now;
            }
            if self.store.save_job_if(&job, token).await? {
                return Ok(());
            }
        }
        Err(Error::Job(format!(
            "the record of job {} kept changing before its swap",
            self.job_id
        )))
    }

    /// Adds where this worker writes dead letters to the job record, so a resumed run, and the
    /// summary, name every place that holds the job's dead letters.
    pub(super) async fn remember_dead_letters(&self, location: String) -> Result<(), Error> {
        for _ in 0..50 {
            let Some((mut job, token)) = self.store.job_versioned(&self.job_id).await? else {
                return Ok(());
            };
            if job.status.is_finished() || job.dead_letter_locations.contains(&location) {
                return Ok(());
            }
            job.dead_letter_locations.push(location.clone());
            job.dead_letter_path = Some(location.clone());
            if self.store.save_job_if(&job, token).await? {
                return Ok(());
            }
        }
        // This worker's own summary still names the location; a later run's does not.
        tracing::warn!(job = %self.job_id, location = %location, "the job record kept changing: where this worker's dead letters go is not recorded in it");
        Ok(())
    }

    /// Ends the job (if it has not ended) with `status`, then releases the lock. A write of
    /// this call whose answer was lost is recognised as its own on the re-read (its
    /// `ended_at`); `Err` only when the record could not be read or written.
    pub(super) async fn end_job(
        &self,
        status: JobStatus,
        edit: impl Fn(&mut JobRecord),
    ) -> Result<Closed, Error> {
        let mut written = None;
        let mut closed = Closed::default();
        for _ in 0..50 {
            let Some((mut job, token)) = self.store.job_versioned(&self.job_id).await? else {
                break;
            };
            if job.status.is_finished() {
                if written.is_none() || job.ended_at != written {
                    closed.by_other = Some(Box::new(job));
                }
                break;
            }
            // Past the fence the finisher owns the outcome: it has swapped or is swapping, and
            // only it knows where the alias went. Another worker's end would contradict it.
            if job.phase == Phase::Swapping && job.finisher.is_some_and(|f| f != self.me) {
                tracing::warn!(job = %self.job_id, "the job's finisher is swapping: its outcome, not this worker's, ends the job");
                closed.by_other = Some(Box::new(job));
                return Ok(closed);
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
            written = Some(now);
            if self.store.save_job_if(&job, token).await? {
                break;
            }
        }
        if let Err(error) = self
            .store
            .release_for_job(self.plan.alias.as_str(), &self.job_id)
            .await
        {
            tracing::warn!(error = %error, "cannot release the alias's lock");
            closed.lock_left = Some(format!(
                "the alias's lock could not be released ({error}); it goes stale after --lease {} s and the next run takes it over",
                self.plan.timing.lease.as_secs()
            ));
        }
        Ok(closed)
    }
}

/// How [`Worker::end_job`] went.
#[derive(Debug, Default)]
pub(super) struct Closed {
    /// The record, when another writer had ended the job first (an operator's abandon, another
    /// worker): this run's own outcome is not what the record says.
    pub by_other: Option<Box<JobRecord>>,
    /// Why the lock is left behind, when it could not be released.
    pub lock_left: Option<String>,
}

/// Ends the job of a worker whose stream tail failed (it stopped with its checkpoints and stream
/// positions saved, before its position moved past a record it could not apply) as interrupted,
/// so that no other worker swaps without those records, and returns the error that says so.
pub(super) async fn tail_failed(worker: &Worker, cause: &str) -> Error {
    let message = format!(
        "the table's stream could not be tailed ({cause}), so writes made during the rebuild would be lost; nothing was swapped, the checkpoints and stream positions are saved, and the next rebuild resumes from them and replays the stream"
    );
    match worker
        .end_job(JobStatus::Interrupted, |job| {
            job.message = Some(message.clone())
        })
        .await
    {
        // Interrupted already by this worker's own stop (the last live worker): as meant.
        Ok(Closed {
            by_other: Some(job),
            ..
        }) if job.status != JobStatus::Interrupted => return ended_by_other(&job),
        Ok(_) => {}
        Err(error) => tracing::error!(error = %error, "cannot record the interrupted job"),
    }
    Error::Interrupted(message)
}

/// The error of a run whose job another writer ended first (an abandon, another worker's
/// failure): the record says what happened, and this run's own outcome is not recorded.
pub(super) fn ended_by_other(job: &JobRecord) -> Error {
    if !job.status.is_finished() {
        return Error::JobEnded(format!(
            "job {} is being finished by its worker {}, which swaps and records its outcome",
            job.job_id,
            job.finisher
                .map_or_else(|| "?".to_owned(), |f| f.to_string())
        ));
    }
    Error::JobEnded(format!(
        "job {} was ended ({}) while this run finished it: {}; the alias was not moved by this run",
        job.job_id,
        job.status,
        job.message.as_deref().unwrap_or("no message")
    ))
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
