//! The lock's and the job record's transitions, through the in-memory status index: every
//! conditional write, and every write whose answer was lost after it applied.

use std::sync::Arc;

use chrono::{Duration, Utc};

use super::docs::memory::Memory;
use super::store::{Acquire, JobStore};
use super::{JobMode, JobRecord, JobStatus, LockRecord};

fn lock(job: &str, holder: &str, age_s: i64) -> LockRecord {
    let at = Utc::now() - Duration::seconds(age_s);
    LockRecord {
        alias: "persons".into(),
        job_id: job.into(),
        holder: holder.into(),
        acquired_at: at,
        heartbeat_at: at,
        lease_secs: 60,
    }
}

fn store() -> (Arc<Memory>, JobStore) {
    let memory = Arc::new(Memory::default());
    (Arc::clone(&memory), JobStore::over(memory))
}

fn run<T>(future: impl std::future::Future<Output = T>) -> T {
    match tokio::runtime::Builder::new_current_thread().build() {
        Ok(runtime) => runtime.block_on(future),
        Err(error) => panic!("runtime: {error}"),
    }
}

#[test]
fn a_lock_create_whose_answer_was_lost_is_recognised_as_this_runs_own() {
    run(async {
        let (memory, store) = store();
        memory.lose_next_answer("lock:");
        let taken = store
            .acquire(lock("a", "h:1", 0), true)
            .await
            .expect("acquire");
        assert!(
            matches!(
                taken,
                Acquire::Taken {
                    took_over: None,
                    ..
                }
            ),
            "{taken:?}"
        );
        // Another run meets the lock and is refused, naming it.
        let other = store
            .acquire(lock("b", "h:2", 0), true)
            .await
            .expect("acquire");
        match other {
            Acquire::Held { lock, .. } => assert_eq!(lock.job_id, "a"),
            Acquire::Taken { .. } => panic!("two owners"),
        }
    });
}

#[test]
fn a_stale_lock_is_taken_over_once_and_a_live_one_never() {
    run(async {
        let (_, store) = store();
        store
            .acquire(lock("hung", "h:1", 600), true)
            .await
            .expect("acquire");
        let taken = store
            .acquire(lock("next", "h:2", 0), true)
            .await
            .expect("acquire");
        match taken {
            Acquire::Taken {
                took_over: Some(hung),
                ..
            } => assert_eq!(hung.job_id, "hung"),
            other => panic!("not taken over: {other:?}"),
        }
        let late = store
            .acquire(lock("late", "h:3", 0), true)
            .await
            .expect("acquire");
        assert!(matches!(late, Acquire::Held { .. }), "{late:?}");
        // The hung run, waking up, has lost it: it may neither renew nor release it.
        assert!(
            !store
                .renew_for_job("persons", "hung", Utc::now())
                .await
                .expect("renew")
        );
        store
            .release_for_job("persons", "hung")
            .await
            .expect("release");
        let still = store
            .lock("persons", Utc::now())
            .await
            .expect("read")
            .expect("a lock");
        assert_eq!(still.record.job_id, "next");
    });
}

#[test]
fn a_renewal_or_a_release_whose_answer_was_lost_keeps_the_truth() {
    run(async {
        let (memory, store) = store();
        let Acquire::Taken { mut lock, .. } = store
            .acquire(lock("a", "h:1", 0), true)
            .await
            .expect("acquire")
        else {
            panic!("not taken");
        };
        memory.lose_next_answer("lock:");
        assert!(
            store.renew(&mut lock, Utc::now()).await.expect("renew"),
            "still ours"
        );
        memory.lose_next_answer("lock:");
        assert!(
            store
                .renew_for_job("persons", "a", Utc::now())
                .await
                .expect("renew")
        );
        memory.lose_next_answer("lock:");
        store.release(&lock).await.expect("release");
        assert!(
            store
                .lock("persons", Utc::now())
                .await
                .expect("read")
                .is_none()
        );
    });
}

#[test]
fn a_job_write_whose_answer_was_lost_conflicts_and_the_reread_shows_it_applied() {
    run(async {
        let (memory, store) = store();
        let job = JobRecord::start(
            "j".into(),
            "persons",
            "Persons",
            "persons",
            JobMode::Rebuild,
            Utc::now(),
        );
        memory.lose_next_answer("job:");
        assert!(
            !store.create_job(&job).await.expect("create"),
            "the retry meets it"
        );
        let (mut read, token) = store
            .job_versioned("j")
            .await
            .expect("read")
            .expect("there");
        assert_eq!(read.holder, job.holder, "it is this run's own record");
        read.status = JobStatus::Succeeded;
        memory.lose_next_answer("job:");
        assert!(!store.save_job_if(&read, token).await.expect("save"));
        let again = store.job("j").await.expect("read").expect("there");
        assert_eq!(
            again.status,
            JobStatus::Succeeded,
            "applied, though its answer was lost"
        );
        // An abandon written meanwhile is never overwritten by a write read before it.
        let (mut stale, token) = store
            .job_versioned("j")
            .await
            .expect("read")
            .expect("there");
        let mut abandoned = stale.clone();
        abandoned.status = JobStatus::Abandoned;
        memory.force("job:j", serde_json::to_value(&abandoned).expect("json"));
        stale.status = JobStatus::Failed;
        assert!(!store.save_job_if(&stale, token).await.expect("save"));
        assert_eq!(memory.body("job:j").expect("there")["status"], "abandoned");
    });
}

#[test]
fn rollback_targets_are_the_indexes_of_succeeded_rebuilds_only() {
    run(async {
        let (_, store) = store();
        let now = Utc::now();
        for (id, status) in [
            ("persons-1", JobStatus::Succeeded),
            ("persons-2", JobStatus::GateFailed),
            ("persons-3", JobStatus::Succeeded),
            ("persons-4", JobStatus::Failed),
        ] {
            let job = JobRecord {
                status,
                new_index: Some(id.into()),
                ..JobRecord::start(
                    id.into(),
                    "persons",
                    "Persons",
                    "persons",
                    JobMode::Rebuild,
                    now,
                )
            };
            assert!(store.create_job(&job).await.expect("create"));
        }
        let served = store.succeeded_indexes("persons").await.expect("search");
        assert_eq!(
            served.into_iter().collect::<Vec<_>>(),
            vec!["persons-1".to_owned(), "persons-3".to_owned()]
        );
    });
}

#[test]
fn a_resumed_rebuilds_index_is_named_as_shared_with_the_job_that_resumed_it() {
    run(async {
        let (_, store) = store();
        let now = Utc::now();
        let job = |id: &str, index: &str, from: Option<&str>, mode: JobMode| JobRecord {
            new_index: Some(index.into()),
            resumed_from: from.map(str::to_owned),
            status: JobStatus::Interrupted,
            ..JobRecord::start(id.into(), "persons", "Persons", "persons", mode, now)
        };
        let a = job("persons-a", "persons-a", None, JobMode::Rebuild);
        let b = job(
            "persons-b",
            "persons-a",
            Some("persons-a"),
            JobMode::Rebuild,
        );
        let c = job("persons-c", "persons-c", None, JobMode::Rebuild);
        let back = job("persons-d", "persons-c", None, JobMode::Rollback);
        for record in [&a, &b, &c, &back] {
            assert!(store.create_job(record).await.expect("create"));
        }
        let of_a = store.sharing(&a).await.expect("search");
        assert_eq!(of_a.resumed_by.as_deref(), Some("persons-b"));
        assert_eq!(of_a.index_users, vec!["persons-b".to_owned()]);
        // B resumed A and nobody resumed B: the index is B's own (A, its predecessor, is no
        // other user of it).
        assert_eq!(
            store.sharing(&b).await.expect("search"),
            super::store::Sharing::default()
        );
        // A rollback that names C's index keeps it.
        let of_c = store.sharing(&c).await.expect("search");
        assert_eq!(of_c.resumed_by, None);
        assert_eq!(of_c.index_users, vec!["persons-d".to_owned()]);
        let alone = job("persons-e", "persons-e", None, JobMode::Rebuild);
        assert!(store.create_job(&alone).await.expect("create"));
        assert_eq!(
            store.sharing(&alone).await.expect("search"),
            super::store::Sharing::default()
        );
    });
}
