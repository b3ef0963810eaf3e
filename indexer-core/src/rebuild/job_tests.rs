//! The fence and the job's end, through the in-memory status index: the transitions a worker
//! makes on its job record, with lost answers, a lost lock, an abandon and a rival finisher.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::job::Worker;
use super::{RebuildPlan, WorkerSpec};
use crate::error::Error;
use crate::jobs::docs::memory::Memory;
use crate::jobs::session::Timing;
use crate::jobs::store::{Acquire, JobStore};
use crate::jobs::{JobMode, JobRecord, JobStatus, LockRecord, Phase};
use crate::pipeline::{Counters, Trackers};
use crate::sink::retry::RetryPolicy;
use crate::validate::{IndexName, TableName};

const JOB: &str = "persons-20260101t000000000z";

fn plan() -> RebuildPlan {
    RebuildPlan {
        table: TableName::try_from("Persons").expect("valid"),
        alias: IndexName::try_from("persons").expect("valid"),
        entity: "persons",
        segments: 1,
        page_size: 1,
        batch_bytes: 1,
        batch_docs: 1,
        concurrency: 1,
        max_read_units: None,
        retry: RetryPolicy::default(),
        max_errors: 0,
        min_ratio: 0.9,
        keep: 1,
        dead_letter: None,
        dry_run: false,
        progress_interval: Duration::from_secs(1),
        fresh: false,
        allow_mapping_changes: false,
        allow_entity_change: false,
        timing: Timing {
            lease: Duration::from_secs(60),
            heartbeat: Duration::from_secs(10),
        },
        stop_timeout: Duration::from_secs(1),
        workers: 1,
        worker: Some(WorkerSpec {
            job_id: JOB.into(),
            worker: 0,
        }),
    }
}

/// A worker finishing job `JOB`, which holds the lock and is the job's finisher.
async fn finisher() -> (Arc<Memory>, Worker) {
    let memory = Arc::new(Memory::default());
    let store = JobStore::over(memory.clone());
    let now = Utc::now();
    let lock = LockRecord {
        alias: "persons".into(),
        job_id: JOB.into(),
        holder: "h:1".into(),
        acquired_at: now,
        heartbeat_at: now,
        lease_secs: 60,
    };
    assert!(matches!(
        store.acquire(lock, false).await.expect("lock"),
        Acquire::Taken { .. }
    ));
    let job = JobRecord {
        phase: Phase::Finishing,
        finisher: Some(0),
        ..JobRecord::start(
            JOB.into(),
            "persons",
            "Persons",
            "persons",
            JobMode::Rebuild,
            now,
        )
    };
    assert!(store.create_job(&job).await.expect("job"));
    let worker = Worker {
        store,
        plan: Arc::new(plan()),
        job_id: JOB.into(),
        me: 0,
        holder: "h:1".into(),
        trackers: Arc::new(Trackers::for_worker(1, &[], 0)),
        counters: Arc::new(Counters::resuming(&[])),
        stream: None,
    };
    (memory, worker)
}

fn edit(memory: &Memory, id: &str, change: impl FnOnce(&mut serde_json::Value)) {
    let mut body = memory.body(id).expect("a document");
    change(&mut body);
    memory.force(id, body);
}

fn phase(memory: &Memory) -> serde_json::Value {
    memory.body(&format!("job:{JOB}")).expect("job")["phase"].clone()
}

#[tokio::test]
async fn the_fence_passes_the_finisher_holding_the_lock_even_when_its_answer_is_lost() {
    let (memory, worker) = finisher().await;
    memory.lose_next_answer("job:");
    worker.fence().await.expect("passes");
    assert_eq!(phase(&memory), "swapping");
}

#[tokio::test]
async fn the_fence_stops_a_run_that_lost_its_lock_was_abandoned_or_lost_the_finish() {
    let (memory, worker) = finisher().await;
    edit(&memory, "lock:persons", |lock| {
        lock["job_id"] = "persons-other".into()
    });
    assert!(matches!(worker.fence().await, Err(Error::LockLost(_))));
    assert_eq!(phase(&memory), "finishing", "nothing written");

    let (memory, worker) = finisher().await;
    edit(&memory, &format!("job:{JOB}"), |job| {
        job["finisher"] = 1.into()
    });
    assert!(matches!(worker.fence().await, Err(Error::LockLost(_))));
    assert_eq!(phase(&memory), "finishing");

    let (memory, worker) = finisher().await;
    edit(&memory, &format!("job:{JOB}"), |job| {
        job["status"] = "abandoned".into()
    });
    assert!(matches!(worker.fence().await, Err(Error::JobEnded(_))));
    assert_eq!(phase(&memory), "finishing");
}

#[tokio::test]
async fn ending_the_job_tells_its_own_lost_write_from_another_writers_end() {
    let (memory, worker) = finisher().await;
    memory.lose_next_answer("job:");
    memory.lose_next_answer("lock:");
    let closed = worker
        .end_job(JobStatus::Succeeded, |job| {
            job.message = Some("done".into())
        })
        .await
        .expect("ended");
    assert!(closed.by_other.is_none(), "its own write, answer lost");
    assert!(closed.lock_left.is_none());
    let record = memory.body(&format!("job:{JOB}")).expect("job");
    assert_eq!(record["status"], "succeeded");
    assert!(memory.body("lock:persons").is_none(), "released");

    let (memory, worker) = finisher().await;
    edit(&memory, &format!("job:{JOB}"), |job| {
        job["status"] = "abandoned".into()
    });
    let closed = worker
        .end_job(JobStatus::GateFailed, |_| {})
        .await
        .expect("ended");
    assert_eq!(
        closed.by_other.map(|job| job.status),
        Some(JobStatus::Abandoned),
        "the abandon is reported, never overwritten"
    );
    let record = memory.body(&format!("job:{JOB}")).expect("job");
    assert_eq!(record["status"], "abandoned");
}

#[tokio::test]
async fn a_worker_ending_the_job_past_another_finishers_fence_leaves_it_to_the_finisher() {
    let (memory, worker) = finisher().await;
    edit(&memory, &format!("job:{JOB}"), |job| {
        job["phase"] = "swapping".into();
        job["finisher"] = 1.into();
    });
    let closed = worker
        .end_job(JobStatus::Interrupted, |job| {
            job.message = Some("tail failed".into())
        })
        .await
        .expect("read");
    assert_eq!(
        closed.by_other.map(|job| job.status),
        Some(JobStatus::Running),
        "the finisher's job, still open"
    );
    let record = memory.body(&format!("job:{JOB}")).expect("job");
    assert_eq!(record["status"], "running", "{record}");
    assert_eq!(record["phase"], "swapping", "{record}");
    assert!(
        memory.body("lock:persons").is_some(),
        "the finisher's lock stays"
    );
}
