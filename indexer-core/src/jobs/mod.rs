//! Jobs: one writer per alias, visible, resumable.
//!
//! Job state lives in the target cluster itself, in the status index `indexer-jobs`, so every run
//! and every operator sees the same truth without another service:
//!
//! - `lock:<alias>` — the lock. Taken atomically with create-if-absent (`op_type=create`), renewed
//!   by a heartbeat under optimistic concurrency (`if_seq_no`/`if_primary_term`), deleted on
//!   release. A lock whose heartbeat is older than its lease belongs to a hung run: it is reported
//!   as such and may be taken over, again under optimistic concurrency, so two runs can never both
//!   believe they hold it. A run that finds its lock taken over stops.
//! - `job:<id>` — one record per run: what it does, its status (`running`, `succeeded`, `failed`,
//!   `gate_failed`, `interrupted`, `abandoned`), where it runs, its times, counts, per-segment
//!   [`crate::checkpoint`]s and its closing message. Only the lock holder writes its record.
//! - `latest:<alias>` — the id of the alias's newest job, read in real time to decide whether a
//!   new run resumes an interrupted or hung one.
//!
//! A job may be split over several workers (processes or ECS tasks, see [`coord`]): then every
//! worker writes the job record, always under optimistic concurrency, and the lock belongs to the
//! job rather than to one process.

pub mod coord;
pub mod docs;
pub mod session;
pub mod store;
#[cfg(test)]
mod store_tests;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;

/// The status index.
pub const STATUS_INDEX: &str = "indexer-jobs";

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Running,
    Succeeded,
    Failed,
    GateFailed,
    Interrupted,
    Abandoned,
}

impl JobStatus {
    pub fn is_finished(self) -> bool {
        !matches!(self, JobStatus::Running)
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::GateFailed => "gate_failed",
            JobStatus::Interrupted => "interrupted",
            JobStatus::Abandoned => "abandoned",
        })
    }
}

impl From<crate::summary::Status> for JobStatus {
    /// How a run that ended with this summary status leaves its job.
    fn from(status: crate::summary::Status) -> JobStatus {
        use crate::summary::Status;
        match status {
            Status::Succeeded => JobStatus::Succeeded,
            Status::GateFailed => JobStatus::GateFailed,
            Status::Interrupted => JobStatus::Interrupted,
            Status::Failed => JobStatus::Failed,
        }
    }
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobMode {
    Rebuild,
    Rollback,
    /// `verify --fix`.
    #[serde(rename = "verify-fix")]
    VerifyFix,
    Sync,
    Resync,
}

impl std::fmt::Display for JobMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobMode::Rebuild => "rebuild",
            JobMode::Rollback => "rollback",
            JobMode::VerifyFix => "verify-fix",
            JobMode::Sync => "sync",
            JobMode::Resync => "resync",
        })
    }
}

/// Where a job split over workers stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The first worker is taking the lock and creating the index; the others wait.
    Setup,
    /// Workers read their segments.
    #[default]
    Loading,
    /// Every segment is done; one worker (the finisher) gates and swaps.
    Finishing,
    /// The finisher passed the gate and is moving the alias: from here on the job cannot be
    /// abandoned while the finisher lives (abandon would delete an index about to go live).
    Swapping,
}

/// What one worker of a job is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerStatus {
    /// Reading its segments (or waiting for the job to end, ready to take over).
    Running,
    /// Stopped by a signal after saving its checkpoints; its segments may be taken at once.
    Stopped,
    /// Ended with the job.
    Finished,
    /// Hit a fatal error (the job failed with it).
    Failed,
}

/// One worker's entry in its job record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerState {
    pub worker: u32,
    /// Where it runs: host name and process id.
    pub holder: String,
    pub status: WorkerStatus,
    pub joined_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    /// Items this worker read, and the segments it took over from workers that died.
    pub scanned: u64,
    pub stolen: Vec<u32>,
}

fn one() -> u32 {
    1
}

/// One run's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: String,
    pub alias: String,
    pub table: String,
    pub entity: String,
    pub mode: JobMode,
    pub status: JobStatus,
    /// Where it runs: host name and process id.
    pub holder: String,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub new_index: Option<String>,
    pub previous_index: Option<String>,
    pub segments: u32,
    pub approximate_items: Option<u64>,
    pub scanned: u64,
    pub indexed: u64,
    pub dead_lettered: u64,
    pub checkpoints: Vec<Checkpoint>,
    pub dead_letter_path: Option<String>,
    /// Every place runs of this job were set to write dead letters to (the runs it resumed
    /// included), oldest first.
    #[serde(default)]
    pub dead_letter_locations: Vec<String>,
    pub resumed_from: Option<String>,
    pub message: Option<String>,
    /// How many workers share the job (1: a single process holds it alone).
    #[serde(default = "one")]
    pub workers: u32,
    #[serde(default)]
    pub phase: Phase,
    /// The workers that joined, by number.
    #[serde(default)]
    pub worker_states: Vec<WorkerState>,
    /// The worker that set the job up (and tails the table's stream, if it has one).
    #[serde(default)]
    pub setup_by: Option<u32>,
    /// The worker that gates and swaps, once every segment is done.
    #[serde(default)]
    pub finisher: Option<u32>,
    /// Whether the setup worker tails the table's stream into the new index.
    #[serde(default)]
    pub stream_tailed: bool,
    /// A second worker tailing the stream from before the scan began, so the job's writes are
    /// replayed even if the setup worker dies (DynamoDB Streams allows two readers per shard).
    #[serde(default)]
    pub stream_backup: Option<u32>,
    /// Abandoned with its building index deleted: a run still writing when it notices deletes
    /// the index again after its last write (a bulk write re-creates a missing index).
    #[serde(default)]
    pub index_discarded: bool,
    /// Why the gate refused the swap, each reason in words (status `gate_failed`).
    #[serde(default)]
    pub gate_refusals: Vec<String>,
    /// Where each worker's stream tail stands, saved with the checkpoints: a resumed rebuild
    /// replays the stream from there (see [`crate::source::positions`]).
    #[serde(default)]
    pub stream_positions: Vec<crate::source::positions::StreamPosition>,
}

impl JobRecord {
    /// A new running job of `mode` on `alias`, started now by this process; its id is `job_id`.
    pub fn start(
        job_id: String,
        alias: &str,
        table: &str,
        entity: &str,
        mode: JobMode,
        now: DateTime<Utc>,
    ) -> JobRecord {
        JobRecord {
            job_id,
            alias: alias.to_owned(),
            table: table.to_owned(),
            entity: entity.to_owned(),
            mode,
            status: JobStatus::Running,
            holder: holder(),
            started_at: now,
            heartbeat_at: now,
            ended_at: None,
            new_index: None,
            previous_index: None,
            segments: 0,
            approximate_items: None,
            scanned: 0,
            indexed: 0,
            dead_lettered: 0,
            checkpoints: Vec::new(),
            dead_letter_path: None,
            dead_letter_locations: Vec::new(),
            resumed_from: None,
            message: None,
            workers: 1,
            phase: Phase::Loading,
            worker_states: Vec::new(),
            setup_by: None,
            finisher: None,
            stream_tailed: false,
            stream_backup: None,
            index_discarded: false,
            gate_refusals: Vec::new(),
            stream_positions: Vec::new(),
        }
    }

    /// Seconds since the last heartbeat.
    pub fn heartbeat_age(&self, now: DateTime<Utc>) -> f64 {
        (now - self.heartbeat_at).num_milliseconds() as f64 / 1000.0
    }

    /// Documents per second over the run so far.
    pub fn rate(&self) -> f64 {
        let seconds = (self.heartbeat_at - self.started_at).num_milliseconds() as f64 / 1000.0;
        if seconds > 0.0 {
            self.indexed as f64 / seconds
        } else {
            0.0
        }
    }

    /// Seconds left at the current rate, when the table's size is known.
    pub fn eta_seconds(&self) -> Option<f64> {
        let total = self.approximate_items?;
        let rate = self.rate();
        (rate > 0.0).then(|| total.saturating_sub(self.scanned) as f64 / rate)
    }
}

/// The lock document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockRecord {
    pub alias: String,
    pub job_id: String,
    pub holder: String,
    pub acquired_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub lease_secs: u64,
}

impl LockRecord {
    /// Whether the holder stopped renewing it for longer than the lease.
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        (now - self.heartbeat_at).num_milliseconds() > (self.lease_secs as i64) * 1000
    }
}

/// This process's identity for job records: `host:pid`.
pub fn holder() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown-host".to_owned());
    format!("{host}:{}", std::process::id())
}

/// After a run stopped because its job was abandoned: deletes the job's building index if the
/// operator asked for that and the run's last writes re-created it (a bulk write re-creates a
/// missing index). Never the live index. Returns whether it deleted it.
pub async fn discard_abandoned(
    search: &crate::sink::client::SearchClient,
    job_id: &str,
) -> Result<bool, crate::error::Error> {
    let store = store::JobStore::new(search.clone());
    let Some(job) = store.job(job_id).await? else {
        return Ok(false);
    };
    let Some(index) = job.new_index.filter(|_| {
        job.status == JobStatus::Abandoned && job.index_discarded && job.mode == JobMode::Rebuild
    }) else {
        return Ok(false);
    };
    let alias = crate::validate::IndexName::try_from(job.alias.as_str())?;
    let (live, _) = crate::aliases::physical_indexes(search, &alias).await?;
    if live.as_deref() == Some(index.as_str())
        || search.name_state(&index).await? != crate::sink::client::NameState::Index
    {
        return Ok(false);
    }
    search.delete_index(&index).await?;
    tracing::warn!(job = job_id, index = %index, "the job was abandoned: deleted its index again after this run's last writes");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn a_lock_is_stale_once_its_heartbeat_is_older_than_the_lease() {
        let lock = LockRecord {
            alias: "persons".into(),
            job_id: "j".into(),
            holder: "h:1".into(),
            acquired_at: at("2026-01-01T00:00:00Z"),
            heartbeat_at: at("2026-01-01T00:01:00Z"),
            lease_secs: 60,
        };
        assert!(!lock.is_stale(at("2026-01-01T00:02:00Z")));
        assert!(lock.is_stale(at("2026-01-01T00:02:00.001Z")));
    }
}
