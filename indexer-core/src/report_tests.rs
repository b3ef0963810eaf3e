//! Renderings of realistic states, as snapshots: a running job, a hung one, an interrupted one
//! waiting to be resumed, finished ones, and one split over workers.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::checkpoint::Checkpoint;
use crate::jobs::{JobMode, JobRecord, JobStatus, Phase, WorkerState, WorkerStatus};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

const NOW: &str = "2026-11-30T12:00:00Z";

fn now() -> DateTime<Utc> {
    at(NOW)
}

fn checkpoints(segments: u32, done: u32, scanned_each: u64) -> Vec<Checkpoint> {
    (0..segments)
        .map(|segment| Checkpoint {
            segment,
            done: segment < done,
            scanned: scanned_each,
            indexed: scanned_each,
            owner: 0,
            ..Checkpoint::default()
        })
        .collect()
}

/// A rebuild of `persons` started `minutes` before now, with a heartbeat 2 s ago.
fn job(id: &str, status: JobStatus, minutes: i64) -> JobRecord {
    let started = now() - Duration::minutes(minutes);
    let mut job = JobRecord::start(
        format!("persons-{id}"),
        "persons",
        "Persons",
        "persons",
        JobMode::Rebuild,
        started,
    );
    job.holder = "ip-10-0-1-17:4242".into();
    job.status = status;
    job.segments = 8;
    job.approximate_items = Some(12_400);
    job.heartbeat_at = now() - Duration::seconds(2);
    job.new_index = Some(format!("persons-{id}"));
    job.previous_index = Some("persons-20261129t010000000z".into());
    job
}

fn running() -> JobRecord {
    let mut job = job("20261130t115500000z", JobStatus::Running, 5);
    job.scanned = 5_600;
    job.indexed = 5_598;
    job.dead_lettered = 2;
    job.checkpoints = checkpoints(8, 3, 700);
    job
}

fn finished(id: &str, status: JobStatus, minutes_ago: i64, message: &str) -> JobRecord {
    let mut job = job(id, status, minutes_ago + 3);
    job.ended_at = Some(now() - Duration::minutes(minutes_ago));
    job.heartbeat_at = now() - Duration::minutes(minutes_ago);
    job.scanned = 12_391;
    job.indexed = 12_391;
    // The last saved checkpoints predate the end: a succeeded job still read every segment.
    job.checkpoints = checkpoints(8, 0, 1_500);
    job.message = Some(message.into());
    job
}

fn last_succeeded() -> JobRecord {
    finished(
        "20261130t010000000z",
        JobStatus::Succeeded,
        659,
        "swapped persons to persons-20261130t010000000z: 12,391 indexed, 0 dead-lettered",
    )
}

fn report(running: Option<JobView>, lock: Option<LockSummary>) -> StatusReport {
    StatusReport {
        alias: "persons".into(),
        live_index: Some("persons-20261130t010000000z".into()),
        live_documents: Some(12_391),
        other_indexes: vec!["persons-20261129t010000000z".into()],
        lock,
        running_job: running,
        resumable_job: None,
        last_finished_job: Some(JobView::new(
            &last_succeeded(),
            now(),
            false,
            Earlier::default(),
        )),
        follower: None,
    }
}

fn lock_of(job: &JobRecord, hung: bool, age_s: f64) -> LockSummary {
    LockSummary {
        job_id: job.job_id.clone(),
        holder: job.holder.clone(),
        acquired_at: job.started_at,
        heartbeat_age_s: age_s,
        hung,
    }
}

#[test]
fn status_of_a_running_rebuild() {
    let job = running();
    let view = JobView::new(&job, now(), false, Earlier::default());
    assert_eq!(view.docs_per_s, 19.0);
    insta::assert_snapshot!(status_text(
        &report(Some(view), Some(lock_of(&job, false, 2.0))),
        now()
    ));
}

#[test]
fn status_of_a_hung_rebuild() {
    let mut job = running();
    job.heartbeat_at = now() - Duration::seconds(95);
    let view = JobView::new(&job, now(), true, Earlier::default());
    insta::assert_snapshot!(status_text(
        &report(Some(view), Some(lock_of(&job, true, 95.0))),
        now()
    ));
}

#[test]
fn status_of_an_interrupted_rebuild_waiting_to_be_resumed() {
    let mut job = finished("20261130t115000000z", JobStatus::Interrupted, 4, "");
    job.scanned = 2_100;
    job.indexed = 2_100;
    job.checkpoints = checkpoints(8, 3, 300);
    job.message = Some("interrupted by SIGTERM; checkpoints saved".into());
    let mut status = report(None, None);
    status.resumable_job = Some(JobView::new(&job, now(), false, Earlier::default()));
    insta::assert_snapshot!(status_text(&status, now()));
}

#[test]
fn status_of_an_alias_with_nothing_live() {
    let status = StatusReport {
        alias: "tenures".into(),
        live_index: None,
        live_documents: None,
        other_indexes: Vec::new(),
        lock: None,
        running_job: None,
        resumable_job: None,
        last_finished_job: None,
        follower: None,
    };
    insta::assert_snapshot!(status_text(&status, now()));
}

fn split() -> JobRecord {
    let mut job = running();
    job.workers = 3;
    job.phase = Phase::Loading;
    job.setup_by = Some(0);
    job.checkpoints = checkpoints(8, 4, 700);
    for checkpoint in &mut job.checkpoints {
        checkpoint.owner = checkpoint.segment % 3;
    }
    // Worker 2 died; worker 0 took over its segment 5.
    job.checkpoints[5].owner = 0;
    job.worker_states = (0..3)
        .map(|worker| WorkerState {
            worker,
            holder: format!("ip-10-0-1-{}:1", 20 + worker),
            status: if worker == 2 {
                WorkerStatus::Stopped
            } else {
                WorkerStatus::Running
            },
            joined_at: job.started_at,
            heartbeat_at: now() - Duration::seconds(if worker == 2 { 120 } else { 1 }),
            scanned: 1_900 - u64::from(worker) * 100,
            stolen: if worker == 0 { vec![5] } else { Vec::new() },
        })
        .collect();
    job
}

#[test]
fn status_of_a_rebuild_split_over_workers() {
    let job = split();
    let view = JobView::new(&job, now(), false, Earlier::default());
    insta::assert_snapshot!(status_text(
        &report(Some(view), Some(lock_of(&job, false, 1.0))),
        now()
    ));
}

#[test]
fn a_finished_job_has_no_live_figures_and_all_its_segments_done() {
    let view = JobView::new(&last_succeeded(), now(), true, Earlier::default());
    assert_eq!(view.heartbeat_age_s, None);
    assert_eq!(view.hung, None);
    assert_eq!(view.eta_s, None);
    assert_eq!(view.segments_done, 8);
    let json = serde_json::to_value(&view).expect("json");
    assert!(json["eta_s"].is_null() && json["hung"].is_null(), "{json}");
    let mut failed = last_succeeded();
    failed.status = JobStatus::Failed;
    let view = JobView::new(&failed, now(), false, Earlier::default());
    assert_eq!(view.segments_done, 0, "only what the checkpoints say");
}

#[test]
fn a_resumed_jobs_rate_and_eta_count_only_its_own_work() {
    let mut job = running();
    job.resumed_from = Some("persons-20261130t110000000z".into());
    job.scanned = 8_000;
    job.indexed = 8_000;
    let earlier = Earlier {
        scanned: 5_000,
        indexed: 5_000,
    };
    // 3,000 of its own in 298 s: 10 docs/s, and 4,400 left at that pace.
    let view = JobView::new(&job, now(), false, earlier);
    assert_eq!(view.docs_per_s, 10.0);
    assert_eq!(view.eta_s, Some(440));
    let history = vec![
        job.clone(),
        JobRecord {
            job_id: "persons-20261130t110000000z".into(),
            scanned: 5_000,
            indexed: 5_000,
            ..running()
        },
    ];
    assert_eq!(Earlier::of(&job, &history), earlier);
}

#[test]
fn jobs_list_one_line_per_job() {
    let mut hung = running();
    hung.job_id = "persons-20261130t115900000z".into();
    hung.heartbeat_at = now() - Duration::seconds(95);
    let mut gate = finished(
        "20261129t230000000z",
        JobStatus::GateFailed,
        700,
        "gate refused: 3 items were dead-lettered, more than --max-errors 0",
    );
    gate.dead_lettered = 3;
    gate.indexed = 12_388;
    let mut fix = finished(
        "20261129t220000000z",
        JobStatus::Succeeded,
        760,
        "fixed: 4 upserted, 1 deleted, 0 failed",
    );
    fix.mode = JobMode::VerifyFix;
    fix.scanned = 2_000;
    fix.indexed = 4;
    let jobs = [
        JobView::new(&running(), now(), false, Earlier::default()),
        JobView::new(&hung, now(), true, Earlier::default()),
        JobView::new(&last_succeeded(), now(), false, Earlier::default()),
        JobView::new(&gate, now(), false, Earlier::default()),
        JobView::new(&fix, now(), false, Earlier::default()),
    ];
    let report = JobsReport {
        alias: "persons".into(),
        jobs: jobs.to_vec(),
    };
    insta::assert_snapshot!(jobs_text(&report, now()));
    let empty = JobsReport {
        alias: "persons".into(),
        jobs: Vec::new(),
    };
    assert_eq!(jobs_text(&empty, now()), "alias persons has no jobs");
}

#[test]
fn the_json_shape_is_stable() {
    let job = split();
    let view = JobView::new(&job, now(), false, Earlier::default());
    let status = report(Some(view), Some(lock_of(&job, false, 1.0)));
    let json = serde_json::to_string_pretty(&status).expect("json");
    insta::assert_snapshot!(json);
}

#[test]
fn status_of_an_alias_with_a_follower() {
    use crate::follow::lease::{FollowerRecord, FollowerStatus};
    let record = FollowerRecord {
        alias: "persons".into(),
        table: "Persons".into(),
        entity: "persons".into(),
        holder: "ip-10-0-1-30:77".into(),
        status: FollowerStatus::Following,
        acquired_at: now() - Duration::hours(3),
        heartbeat_at: now() - Duration::seconds(4),
        lease_secs: 60,
        stream_arn: Some("arn:aws:dynamodb:eu-west-2:1:table/Persons/stream/x".into()),
        positions: Vec::new(),
        checkpoint_at: Some(now() - Duration::seconds(4)),
        applied: 48_210,
        dead_lettered: 0,
        lag_s: Some(2.0),
        shard_lag_s: Default::default(),
        records_per_s: 12.0,
        dead_letter_locations: Vec::new(),
        repairs: 0,
        repair_pending: false,
    };
    let mut status = report(None, None);
    status.follower = Some(crate::follow::status::FollowerView::new(&record, now()));
    insta::assert_snapshot!(status_text(&status, now()));
    let json = serde_json::to_value(&status).expect("json");
    assert_eq!(json["follower"]["holder"], "ip-10-0-1-30:77");
    assert_eq!(json["follower"]["lag_s"], 2.0);
    assert_eq!(json["follower"]["checkpoint_age_s"], 4.0);
}
