//! What `status` and `jobs` report: typed views of an alias's indexes, lock and job records. The
//! views serialise as the stable `--json` shape; [`status_text`] and [`jobs_text`] lay them out
//! for a person at a terminal. Everything here is a pure function of the records and a clock.
//!
//! Figures describe work, not bookkeeping: a finished job has no heartbeat age, ETA or hung flag
//! (they are null), and a resumed job's rate and ETA count only what it did itself.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::jobs::store::LockView;
use crate::jobs::{JobMode, JobRecord, JobStatus, Phase, WorkerStatus};
use crate::progress::{count, duration, eta_seconds, per_second, plural, rate_text};

/// One segment's checkpoint, as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckpointView {
    pub segment: u32,
    pub done: bool,
    pub scanned: u64,
}

/// One worker of a job split over several.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerView {
    pub worker: u32,
    pub holder: Option<String>,
    pub status: Option<WorkerStatus>,
    /// Null once the job has ended.
    pub heartbeat_age_s: Option<f64>,
    pub scanned: Option<u64>,
    pub segments_reading: Vec<u32>,
    pub segments_done: usize,
    pub stolen: Vec<u32>,
}

/// The workers of a job split over several.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkersView {
    pub count: u32,
    pub phase: Phase,
    pub setup_by: Option<u32>,
    pub finisher: Option<u32>,
    pub list: Vec<WorkerView>,
}

/// One job, as `status` and `jobs` report it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobView {
    pub job_id: String,
    pub mode: JobMode,
    pub status: JobStatus,
    pub table: String,
    pub entity: String,
    pub holder: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Seconds from its start to its end (or, while it runs, to its last heartbeat).
    pub seconds: f64,
    /// Seconds since its last heartbeat, and whether that is past the lease: only while running.
    pub heartbeat_age_s: Option<f64>,
    pub hung: Option<bool>,
    pub new_index: Option<String>,
    pub previous_index: Option<String>,
    pub scanned: u64,
    pub indexed: u64,
    pub dead_lettered: u64,
    pub approximate_items: Option<u64>,
    /// Documents per second this job indexed itself (a resumed job's earlier work left out).
    pub docs_per_s: f64,
    /// Seconds left at this job's own scan rate; only while running with a known table size.
    pub eta_s: Option<u64>,
    pub segments_done: usize,
    pub segments: u32,
    pub checkpoints: Vec<CheckpointView>,
    pub resumed_from: Option<String>,
    pub message: Option<String>,
    /// Null for a job run by one process.
    pub workers: Option<WorkersView>,
}

/// Counts a resumed job started from: its predecessor's, which it carries in its own totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Earlier {
    pub scanned: u64,
    pub indexed: u64,
}

impl Earlier {
    /// The counts of the job `job` resumed, found among `jobs`; zero for a fresh job.
    pub fn of(job: &JobRecord, jobs: &[JobRecord]) -> Earlier {
        job.resumed_from
            .as_ref()
            .and_then(|id| jobs.iter().find(|j| &j.job_id == id))
            .map(|j| Earlier {
                scanned: j.scanned,
                indexed: j.indexed,
            })
            .unwrap_or_default()
    }
}

fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds().max(0) as f64 / 1000.0
}

fn tenths(seconds: f64) -> f64 {
    (seconds * 10.0).round() / 10.0
}

impl JobView {
    /// The view of `job` at `now`. `hung`: its holder stopped renewing the lock (only
    /// meaningful while it runs). `earlier`: the counts it resumed from.
    pub fn new(job: &JobRecord, now: DateTime<Utc>, hung: bool, earlier: Earlier) -> JobView {
        let running = job.status == JobStatus::Running;
        let end = job.ended_at.unwrap_or(job.heartbeat_at);
        let seconds = seconds_between(job.started_at, end);
        let own_scanned = job.scanned.saturating_sub(earlier.scanned);
        let own_indexed = job.indexed.saturating_sub(earlier.indexed);
        let segments_done = if job.status == JobStatus::Succeeded && job.segments > 0 {
            // A succeeded job read every segment, whatever its last saved checkpoints say.
            job.segments as usize
        } else {
            job.checkpoints.iter().filter(|c| c.done).count()
        };
        JobView {
            job_id: job.job_id.clone(),
            mode: job.mode,
            status: job.status,
            table: job.table.clone(),
            entity: job.entity.clone(),
            holder: job.holder.clone(),
            started_at: job.started_at,
            ended_at: job.ended_at,
            seconds: tenths(seconds),
            heartbeat_age_s: running.then(|| tenths(seconds_between(job.heartbeat_at, now))),
            hung: running.then_some(hung),
            new_index: job.new_index.clone(),
            previous_index: job.previous_index.clone(),
            scanned: job.scanned,
            indexed: job.indexed,
            dead_lettered: job.dead_lettered,
            approximate_items: job.approximate_items,
            docs_per_s: per_second(own_indexed, seconds),
            eta_s: running
                .then(|| {
                    eta_seconds(
                        job.approximate_items,
                        job.scanned,
                        per_second(own_scanned, seconds),
                    )
                })
                .flatten(),
            segments_done,
            segments: job.segments,
            checkpoints: job
                .checkpoints
                .iter()
                .map(|c| CheckpointView {
                    segment: c.segment,
                    done: c.done,
                    scanned: c.scanned,
                })
                .collect(),
            resumed_from: job.resumed_from.clone(),
            message: job.message.clone(),
            workers: workers_view(job, now),
        }
    }
}

fn workers_view(job: &JobRecord, now: DateTime<Utc>) -> Option<WorkersView> {
    if job.workers <= 1 {
        return None;
    }
    let running = job.status == JobStatus::Running;
    let list = (0..job.workers)
        .map(|worker| {
            let state = job.worker_states.iter().find(|w| w.worker == worker);
            let mine = |done: bool| {
                job.checkpoints
                    .iter()
                    .filter(move |c| c.owner == worker && c.done == done)
            };
            WorkerView {
                worker,
                holder: state.map(|s| s.holder.clone()),
                status: state.map(|s| s.status),
                heartbeat_age_s: state
                    .filter(|_| running)
                    .map(|s| tenths(seconds_between(s.heartbeat_at, now))),
                scanned: state.map(|s| s.scanned),
                segments_reading: mine(false).map(|c| c.segment).collect(),
                segments_done: mine(true).count(),
                stolen: state.map(|s| s.stolen.clone()).unwrap_or_default(),
            }
        })
        .collect();
    Some(WorkersView {
        count: job.workers,
        phase: job.phase,
        setup_by: job.setup_by,
        finisher: job.finisher,
        list,
    })
}

/// Who holds the alias's lock.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LockSummary {
    pub job_id: String,
    pub holder: String,
    pub acquired_at: DateTime<Utc>,
    pub heartbeat_age_s: f64,
    pub hung: bool,
}

impl LockSummary {
    pub fn new(lock: &LockView, now: DateTime<Utc>) -> LockSummary {
        LockSummary {
            job_id: lock.record.job_id.clone(),
            holder: lock.record.holder.clone(),
            acquired_at: lock.record.acquired_at,
            heartbeat_age_s: tenths(seconds_between(lock.record.heartbeat_at, now)),
            hung: lock.stale,
        }
    }
}

/// `indexer status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusReport {
    pub alias: String,
    pub live_index: Option<String>,
    pub live_documents: Option<u64>,
    /// The alias's other physical indexes, newest first: kept for rollback, or being built.
    pub other_indexes: Vec<String>,
    pub lock: Option<LockSummary>,
    pub running_job: Option<JobView>,
    /// An interrupted job (or one whose process died) that the next rebuild resumes.
    pub resumable_job: Option<JobView>,
    pub last_finished_job: Option<JobView>,
    /// The alias's stream follower (`indexer follow`), if one ever ran.
    pub follower: Option<crate::follow::status::FollowerView>,
}

/// `indexer jobs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobsReport {
    pub alias: String,
    pub jobs: Vec<JobView>,
}

fn status_word(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Running => "running",
        JobStatus::Succeeded => "succeeded",
        JobStatus::Failed => "failed",
        JobStatus::GateFailed => "gate failed",
        JobStatus::Interrupted => "interrupted",
        JobStatus::Abandoned => "abandoned",
    }
}

fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{} ago", duration(seconds_between(then, now)))
}

/// How far a job got: `45% (5,600 of ~12,400 read)` or `5,600 read`.
fn how_far(job: &JobView) -> String {
    match job.approximate_items.filter(|n| *n > 0) {
        Some(total) => format!(
            "{}% ({} of ~{} read)",
            (job.scanned * 100 / total).min(100),
            count(job.scanned),
            count(total)
        ),
        None => format!("{} read", count(job.scanned)),
    }
}

/// The lines of a running (or hung) job, indented under the first.
fn running_lines(job: &JobView, alias: &str, out: &mut Vec<String>) {
    let age = job.heartbeat_age_s.unwrap_or_default();
    if job.hung == Some(true) {
        out.push(format!(
            "running   {} {} is HUNG: no heartbeat from {} for {}",
            job.mode,
            job.job_id,
            job.holder,
            duration(age)
        ));
        out.push(format!(
            "          {}; the next rebuild takes it over, or `indexer abandon --index {alias}` ends it",
            how_far(job)
        ));
    } else {
        let left = job
            .eta_s
            .map(|s| format!(", ~{} left", duration(s as f64)))
            .unwrap_or_default();
        out.push(format!(
            "running   {} {}: {}, {}{left}",
            job.mode,
            job.job_id,
            how_far(job),
            rate_text(job.docs_per_s)
        ));
        let segments = if job.checkpoints.is_empty() {
            String::new()
        } else {
            format!(", segments {}/{} done", job.segments_done, job.segments)
        };
        out.push(format!(
            "          on {}, started {} ago, heartbeat {} ago{segments}",
            job.holder,
            duration(job.seconds + age),
            duration(age),
        ));
    }
    if job.dead_lettered > 0 {
        out.push(format!(
            "          {} dead-lettered so far",
            plural(job.dead_lettered, "item", "items")
        ));
    }
    if let Some(workers) = &job.workers {
        for worker in &workers.list {
            out.push(format!("          {}", worker_line(worker, workers)));
        }
    }
}

fn worker_line(worker: &WorkerView, workers: &WorkersView) -> String {
    let status = match worker.status {
        None => "not joined",
        Some(WorkerStatus::Running) => "running",
        Some(WorkerStatus::Stopped) => "stopped",
        Some(WorkerStatus::Finished) => "finished",
        Some(WorkerStatus::Failed) => "failed",
    };
    let mut parts = vec![format!("worker {}: {status}", worker.worker)];
    if let Some(holder) = &worker.holder {
        parts.push(format!("on {holder}"));
    }
    if let Some(age) = worker.heartbeat_age_s {
        parts.push(format!("heartbeat {} ago", duration(age)));
    }
    if let Some(scanned) = worker.scanned {
        parts.push(format!("{} read", count(scanned)));
    }
    let list = |segments: &[u32]| {
        segments
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    if !worker.segments_reading.is_empty() {
        parts.push(format!("reading {}", list(&worker.segments_reading)));
    }
    parts.push(format!(
        "{} done",
        plural(worker.segments_done as u64, "segment", "segments")
    ));
    if !worker.stolen.is_empty() {
        parts.push(format!("took over {}", list(&worker.stolen)));
    }
    if workers.finisher == Some(worker.worker) {
        parts.push("finisher".into());
    }
    parts.join(", ")
}

fn ended_line(label: &str, job: &JobView, now: DateTime<Utc>) -> String {
    let when = job
        .ended_at
        .map(|at| format!(" {}", ago(at, now)))
        .unwrap_or_default();
    let mut line = format!(
        "{label:<10}{} {} {}{when} after {}: {} indexed, {} dead-lettered",
        job.mode,
        job.job_id,
        status_word(job.status),
        duration(job.seconds),
        count(job.indexed),
        count(job.dead_lettered)
    );
    if let Some(message) = job.message.as_deref().filter(|m| !m.is_empty()) {
        line.push_str(&format!("\n          {message}"));
    }
    line
}

/// `indexer status` for a person: what is live, what is running and how far, what last happened.
pub fn status_text(report: &StatusReport, now: DateTime<Utc>) -> String {
    let mut out = vec![format!("alias     {}", report.alias)];
    match (&report.live_index, report.live_documents) {
        (Some(index), Some(documents)) => out.push(format!(
            "live      {index}, {}",
            plural(documents, "document", "documents")
        )),
        (Some(index), None) => out.push(format!("live      {index}")),
        (None, _) => out.push("live      none: the alias does not exist yet".into()),
    }
    if !report.other_indexes.is_empty() {
        out.push(format!("other     {}", report.other_indexes.join(", ")));
    }
    match (&report.running_job, &report.lock) {
        (Some(job), _) => running_lines(job, &report.alias, &mut out),
        (None, Some(lock)) => out.push(format!(
            "running   job {} holds the lock on {} (heartbeat {} ago) but has no record",
            lock.job_id,
            lock.holder,
            duration(lock.heartbeat_age_s)
        )),
        (None, None) => out.push("running   nothing".into()),
    }
    if let Some(job) = &report.resumable_job {
        out.push(format!(
            "resumable {} {} {} at {}, segments {}/{} done; the next rebuild resumes it",
            job.mode,
            job.job_id,
            status_word(job.status),
            how_far(job),
            job.segments_done,
            job.segments
        ));
    }
    match &report.last_finished_job {
        Some(job) => out.push(ended_line("last", job, now)),
        None => out.push("last      no finished job".into()),
    }
    out.extend(report.follower.as_ref().map(|f| f.line()));
    out.join("\n")
}

/// `indexer jobs` for a person: one line per job, newest first.
pub fn jobs_text(report: &JobsReport, now: DateTime<Utc>) -> String {
    if report.jobs.is_empty() {
        return format!("alias {} has no jobs", report.alias);
    }
    let header = [
        "STATUS", "MODE", "JOB", "STARTED", "TOOK", "READ", "INDEXED", "DEAD", "NOTE",
    ];
    let rows: Vec<[String; 9]> = report
        .jobs
        .iter()
        .map(|job| {
            let note = match job.status {
                JobStatus::Running if job.hung == Some(true) => "hung".to_owned(),
                JobStatus::Running => format!("{}, {}", how_far(job), rate_text(job.docs_per_s)),
                _ => job.message.clone().unwrap_or_default(),
            };
            [
                status_word(job.status).to_owned(),
                job.mode.to_string(),
                job.job_id.clone(),
                ago(job.started_at, now),
                duration(job.seconds),
                count(job.scanned),
                count(job.indexed),
                count(job.dead_lettered),
                note,
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        cells
            .iter()
            .enumerate()
            .map(|(i, cell)| match i {
                i if i == last => (*cell).to_owned(),
                5..=7 => format!("{cell:>width$}", width = widths[i]),
                _ => format!("{cell:<width$}", width = widths[i]),
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(header.to_vec())];
    for row in &rows {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    out.join("\n")
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
