//! A writing run's hold on its alias: the lock, the job record, the heartbeat that keeps both
//! fresh, and the closing write.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::store::{Acquire, HeldLock, JobStore};
use super::{JobRecord, JobStatus, LockRecord};
use crate::error::Error;
use crate::pipeline::{Counters, Trackers};
use crate::sink::client::SinkError;

/// Lease and heartbeat timing.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub lease: Duration,
    pub heartbeat: Duration,
}

/// A held lock and the job record it covers.
pub struct Session {
    store: JobStore,
    lock: Arc<Mutex<HeldLock>>,
    job: Arc<Mutex<JobRecord>>,
    lost: Arc<AtomicBool>,
    heartbeat: Option<JoinHandle<()>>,
    /// Asks the heartbeat to stop between beats, never in the middle of a write.
    quiet: CancellationToken,
    pub took_over: Option<LockRecord>,
    /// The alias's latest job before this one, read under the lock.
    pub predecessor: Option<JobRecord>,
}

/// The message for a lock held by another run (exit code 4).
pub fn held_message(alias: &str, lock: &LockRecord, job: Option<&JobRecord>) -> String {
    let now = Utc::now();
    let mut message = format!(
        "alias {alias:?} is locked by job {} running on {} since {} (heartbeat {:.0} s ago)",
        lock.job_id,
        lock.holder,
        lock.acquired_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        (now - lock.heartbeat_at).num_milliseconds() as f64 / 1000.0,
    );
    if let Some(job) = job {
        message.push_str(&format!(
            "; {} mode, {} scanned, {} indexed",
            job.mode, job.scanned, job.indexed
        ));
        if let Some(total) = job.approximate_items {
            message.push_str(&format!(" of about {total}"));
        }
    }
    message.push_str("; wait for it, or see `indexer status` and `indexer abandon`");
    message
}

impl Session {
    /// Takes the alias's lock for `job` (taking over a hung holder) and records the job.
    pub async fn begin(store: JobStore, job: JobRecord, timing: Timing) -> Result<Session, Error> {
        store.ensure().await?;
        let now = Utc::now();
        let record = LockRecord {
            alias: job.alias.clone(),
            job_id: job.job_id.clone(),
            holder: job.holder.clone(),
            acquired_at: now,
            heartbeat_at: now,
            lease_secs: timing.lease.as_secs().max(1),
        };
        let (lock, took_over) = match store.acquire(record, true).await? {
            Acquire::Taken { lock, took_over } => (lock, took_over),
            Acquire::Held { lock, job: holder } => {
                return Err(Error::Locked(held_message(
                    &job.alias,
                    &lock,
                    holder.as_deref(),
                )));
            }
        };
        if let Some(hung) = &took_over {
            tracing::warn!(job = %hung.job_id, holder = %hung.holder, heartbeat_at = %hung.heartbeat_at, "took over the lock of a hung job");
        }
        let predecessor = store.latest(&job.alias).await?;
        let session = Session {
            store,
            lock: Arc::new(Mutex::new(lock)),
            job: Arc::new(Mutex::new(job)),
            lost: Arc::new(AtomicBool::new(false)),
            heartbeat: None,
            quiet: CancellationToken::new(),
            took_over,
            predecessor,
        };
        session.update(|_| {}).await?;
        Ok(session)
    }

    pub fn store(&self) -> &JobStore {
        &self.store
    }

    /// Edits and saves the job record, and makes it the alias's latest job.
    pub async fn update(&self, edit: impl FnOnce(&mut JobRecord)) -> Result<(), SinkError> {
        let mut job = self.job.lock().await;
        edit(&mut job);
        self.store.save(&job).await?;
        self.store.set_latest(&job).await
    }

    /// Starts the heartbeat: every `interval` it renews the lock and saves counts and
    /// checkpoints. If the lock is taken over, it cancels `stop` and the run must end.
    pub fn start_heartbeat(
        &mut self,
        interval: Duration,
        counters: Arc<Counters>,
        trackers: Arc<Trackers>,
        stop: CancellationToken,
    ) {
        let (store, lock, job, lost) = (
            self.store.clone(),
            Arc::clone(&self.lock),
            Arc::clone(&self.job),
            Arc::clone(&self.lost),
        );
        let quiet = self.quiet.clone();
        self.heartbeat = Some(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.tick().await;
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = quiet.cancelled() => return,
                }
                let now = Utc::now();
                match store.renew(&mut *lock.lock().await, now).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::error!("the lock was taken over by another run; stopping");
                        lost.store(true, Ordering::SeqCst);
                        stop.cancel();
                        return;
                    }
                    Err(error) => tracing::warn!(error = %error, "heartbeat failed; will retry"),
                }
                let mut record = job.lock().await;
                record.heartbeat_at = now;
                record.scanned = Counters::get(&counters.scanned);
                record.indexed = Counters::get(&counters.indexed);
                record.dead_lettered = Counters::get(&counters.dead_lettered);
                record.checkpoints = trackers.checkpoints();
                if let Err(error) = store.save(&record).await {
                    tracing::warn!(error = %error, "saving checkpoints failed; will retry");
                }
            }
        }));
    }

    /// Whether the lock was lost to another run.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Stops the heartbeat, writes the job's final state and releases the lock (unless lost).
    pub async fn end(
        mut self,
        status: JobStatus,
        edit: impl FnOnce(&mut JobRecord),
    ) -> Result<(), SinkError> {
        // Stop the heartbeat between beats: aborting it mid-renewal would lose the lock's token.
        self.quiet.cancel();
        if let Some(heartbeat) = self.heartbeat.take() {
            let _ = heartbeat.await;
        }
        if self.lost() {
            // Another run holds the alias now: its records are not ours to write.
            return Ok(());
        }
        let now = Utc::now();
        self.update(|job| {
            job.status = status;
            job.heartbeat_at = now;
            job.ended_at = Some(now);
            edit(job);
        })
        .await?;
        if !self.lost() {
            self.store.release(&*self.lock.lock().await).await?;
        }
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(heartbeat) = self.heartbeat.take() {
            heartbeat.abort();
        }
    }
}
