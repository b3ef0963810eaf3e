//! A short operator job's hold on its alias (`rollback`, `verify --fix`, `resync`, `sync`): the
//! lock, the job record, the heartbeat that keeps both fresh, and the closing write. Rebuilds
//! run through their own driver (see `crate::rebuild`).
//!
//! Every write is conditional. The lock is renewed under `if_seq_no`; the job record is created
//! with create-if-absent and later written back only over the version read just before, and only
//! while it is still running: an operator's `abandon` sticks. A session that lost its lock (or
//! whose job was ended by someone else) writes nothing more.

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

/// Writes `job` over the stored record, conditionally: created if absent, else written over the
/// version just read, and only while the stored record still runs. `false` when the record was
/// ended by someone else (an operator's abandon): then nothing is written.
async fn write_record(store: &JobStore, job: &JobRecord) -> Result<bool, SinkError> {
    for _ in 0..20 {
        match store.job_versioned(&job.job_id).await? {
            None => {
                if store.create_job(job).await? {
                    return Ok(true);
                }
            }
            Some((stored, _)) if stored.status.is_finished() => return Ok(false),
            Some((_, token)) => {
                if store.save_job_if(job, token).await? {
                    return Ok(true);
                }
            }
        }
    }
    Err(SinkError::Decode {
        op: format!("write job {}", job.job_id),
        reason: "the record kept changing under this run's writes".into(),
    })
}

impl Session {
    /// Takes the alias's lock for `job` (taking over a hung holder), records the job and starts
    /// the heartbeat.
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
        write_record(&store, &job).await?;
        store.set_latest(&job).await?;
        let mut session = Session {
            store,
            lock: Arc::new(Mutex::new(lock)),
            job: Arc::new(Mutex::new(job)),
            lost: Arc::new(AtomicBool::new(false)),
            heartbeat: None,
            quiet: CancellationToken::new(),
            took_over,
            predecessor,
        };
        session.start_heartbeat(timing.heartbeat);
        Ok(session)
    }

    pub fn store(&self) -> &JobStore {
        &self.store
    }

    /// Every `interval`, renews the lock and the job record's heartbeat. If the lock was taken
    /// over or the job ended by someone else, marks the session lost and stops.
    fn start_heartbeat(&mut self, interval: Duration) {
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
                        tracing::error!(
                            "the lock was taken over by another run; this run writes nothing more"
                        );
                        lost.store(true, Ordering::SeqCst);
                        return;
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "heartbeat failed; will retry");
                        continue;
                    }
                }
                let mut record = job.lock().await;
                record.heartbeat_at = now;
                match write_record(&store, &record).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::error!(
                            "the job was ended by someone else (abandoned?); this run writes nothing more"
                        );
                        lost.store(true, Ordering::SeqCst);
                        return;
                    }
                    Err(error) => tracing::warn!(error = %error, "heartbeat failed; will retry"),
                }
            }
        }));
    }

    /// Whether the lock or the job was lost to another run or an operator.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Stops the heartbeat, writes the job's final state and releases the lock — unless the
    /// session was lost, when it writes nothing.
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
            return Ok(());
        }
        let now = Utc::now();
        let mut job = self.job.lock().await;
        job.status = status;
        job.heartbeat_at = now;
        job.ended_at = Some(now);
        edit(&mut job);
        let written = write_record(&self.store, &job).await?;
        if written {
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
