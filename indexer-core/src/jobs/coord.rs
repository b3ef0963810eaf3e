//! Splitting one job over K workers, coordinated through its job record alone.
//!
//! The model:
//!
//! - The job's TotalSegments are fixed when it is set up; segment `s` starts with worker
//!   `s mod K`. Each segment's [`Checkpoint`] names its current `owner`, and only the owner writes
//!   it.
//! - Every worker writes the job record only under optimistic concurrency (`if_seq_no`): it reads
//!   the record, applies [`merge`] to it and writes it back, and on a conflict starts again from a
//!   fresh read. Each write is therefore decided on the latest state, which makes every
//!   transition below happen exactly once.
//! - A worker's heartbeat is its entry in the record ([`WorkerState`]). A worker is **alive**
//!   while its entry says running and is younger than the lease; a worker that has not joined yet
//!   is given one lease from the job's start.
//! - A worker whose own segments are done **steals** unfinished segments of dead workers — its
//!   fair share of them — by making itself their owner, and reads them on from their last saved
//!   checkpoint. A worker that finds a segment it reads owned by another (it was thought dead)
//!   stops reading it at once and drops what it had not saved: a segment's counts come only from
//!   its owner's checkpoints, so the totals stay exact.
//! - The worker whose write finds every segment done claims the **finish**: it moves the job to
//!   [`Phase::Finishing`] and names itself the finisher; only it gates and swaps. The workers
//!   tailing the stream (the setup worker, then its backup) are preferred while alive; a dead
//!   finisher is replaced the same way.
//! - A worker stopped by a signal saves its checkpoints and says so; the last live worker to stop
//!   marks the job interrupted, so the next rebuild resumes it.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{JobRecord, JobStatus, Phase, WorkerState, WorkerStatus};
use crate::checkpoint::Checkpoint;

/// The worker that starts out owning `segment` of a job split over `workers`.
pub fn initial_owner(segment: u32, workers: u32) -> u32 {
    segment % workers.max(1)
}

/// Assigns every segment not yet done to its initial owner (a job resumed by a different number
/// of workers is redistributed).
pub fn distribute(checkpoints: &mut [Checkpoint], workers: u32) {
    for checkpoint in checkpoints {
        checkpoint.owner = initial_owner(checkpoint.segment, workers);
    }
}

fn age(then: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - then).to_std().unwrap_or_default()
}

/// Whether `worker` of `job` is alive (see the module comment).
pub fn alive(job: &JobRecord, worker: u32, now: DateTime<Utc>, lease: Duration) -> bool {
    match job.worker_states.iter().find(|w| w.worker == worker) {
        Some(state) => {
            state.status == WorkerStatus::Running && age(state.heartbeat_at, now) <= lease
        }
        None => age(job.started_at, now) <= lease,
    }
}

/// Whether every segment of the job is done.
pub fn all_done(job: &JobRecord) -> bool {
    !job.checkpoints.is_empty() && job.checkpoints.iter().all(|c| c.done)
}

/// The job's totals: the sum of its segments' checkpoints (scanned, indexed, dead-lettered).
pub fn totals(job: &JobRecord) -> (u64, u64, u64) {
    job.checkpoints.iter().fold((0, 0, 0), |(s, i, d), c| {
        (s + c.scanned, i + c.indexed, d + c.dead_lettered)
    })
}

/// What one worker brings to a write of the job record.
#[derive(Debug, Clone)]
pub struct Local<'a> {
    pub worker: u32,
    pub holder: &'a str,
    pub status: WorkerStatus,
    /// The checkpoints of the segments this worker reads.
    pub checkpoints: &'a [Checkpoint],
    pub scanned: u64,
    /// Its own segments are done: it may take over segments of dead workers.
    pub idle: bool,
}

/// The record to write, and what the write means for the worker if it succeeds.
#[derive(Debug, Clone)]
pub struct Merged {
    pub job: JobRecord,
    /// Segments this worker read that are now another worker's: stop reading them.
    pub lost: Vec<u32>,
    /// Segments taken over, to read on from these checkpoints.
    pub stolen: Vec<Checkpoint>,
    /// This worker is (now) the finisher: it gates and swaps.
    pub finishing: bool,
    /// Every segment is done.
    pub all_done: bool,
    /// This worker stopped last: the job is now interrupted.
    pub interrupted: bool,
}

/// Applies one worker's state to the latest job record (see the module comment).
pub fn merge(mut job: JobRecord, local: &Local<'_>, now: DateTime<Utc>, lease: Duration) -> Merged {
    let me = local.worker;
    let mut lost = Vec::new();
    for mine in local.checkpoints {
        match job
            .checkpoints
            .iter_mut()
            .find(|c| c.segment == mine.segment)
        {
            Some(saved) if saved.owner == me => {
                if mine.scanned >= saved.scanned {
                    *saved = Checkpoint {
                        owner: me,
                        ..mine.clone()
                    };
                }
            }
            _ => lost.push(mine.segment),
        }
    }
    let running = local.status == WorkerStatus::Running;
    let mut stolen = Vec::new();
    if running && local.idle && job.phase == Phase::Loading {
        let orphans: Vec<usize> = (0..job.checkpoints.len())
            .filter(|&i| {
                let c = &job.checkpoints[i];
                !c.done && c.owner != me && !alive(&job, c.owner, now, lease)
            })
            .collect();
        let live = job
            .worker_states
            .iter()
            .filter(|w| w.worker != me && alive(&job, w.worker, now, lease))
            .count()
            + 1;
        let share = orphans.len().div_ceil(live);
        for i in orphans.into_iter().take(share) {
            job.checkpoints[i].owner = me;
            stolen.push(job.checkpoints[i].clone());
        }
    }
    let state = WorkerState {
        worker: me,
        holder: local.holder.to_owned(),
        status: local.status,
        joined_at: now,
        heartbeat_at: now,
        scanned: local.scanned,
        stolen: Vec::new(),
    };
    match job.worker_states.iter_mut().find(|w| w.worker == me) {
        Some(existing) => {
            existing.holder = state.holder;
            existing.status = state.status;
            existing.heartbeat_at = now;
            existing.scanned = state.scanned;
            existing.stolen.extend(stolen.iter().map(|c| c.segment));
        }
        None => job.worker_states.push(WorkerState {
            stolen: stolen.iter().map(|c| c.segment).collect(),
            ..state
        }),
    }
    job.worker_states.sort_by_key(|w| w.worker);
    job.heartbeat_at = now;
    let (scanned, indexed, dead_lettered) = totals(&job);
    (job.scanned, job.indexed, job.dead_lettered) = (scanned, indexed, dead_lettered);
    let all_done = all_done(&job);
    let mut finishing =
        matches!(job.phase, Phase::Finishing | Phase::Swapping) && job.finisher == Some(me);
    if running && all_done && !finishing {
        // The workers tailing the stream finish first, so the stream is drained before the gate.
        let preferred = [job.setup_by, job.stream_backup]
            .into_iter()
            .flatten()
            .find(|&w| w == me || alive(&job, w, now, lease));
        let claim = match (job.phase, job.finisher) {
            (Phase::Loading, _) => preferred.is_none_or(|w| w == me),
            (Phase::Finishing | Phase::Swapping, Some(other)) => !alive(&job, other, now, lease),
            (Phase::Finishing | Phase::Swapping, None) => true,
            (Phase::Setup, _) => false,
        };
        if claim {
            if job.phase != Phase::Swapping {
                job.phase = Phase::Finishing;
            }
            job.finisher = Some(me);
            finishing = true;
        }
    }
    let mut interrupted = false;
    if local.status == WorkerStatus::Stopped
        && !job
            .worker_states
            .iter()
            .any(|w| w.worker != me && alive(&job, w.worker, now, lease))
    {
        job.status = JobStatus::Interrupted;
        job.ended_at = Some(now);
        job.message = Some("stopped; checkpoints saved, the next rebuild resumes".to_owned());
        interrupted = true;
    }
    Merged {
        job,
        lost,
        stolen,
        finishing,
        all_done,
        interrupted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap_or_default()
    }

    const LEASE: Duration = Duration::from_secs(10);

    fn job(segments: u32, workers: u32) -> JobRecord {
        let mut job = JobRecord::start(
            "j".into(),
            "persons",
            "Persons",
            "persons",
            crate::jobs::JobMode::Rebuild,
            at(0),
        );
        job.workers = workers;
        job.setup_by = Some(0);
        job.segments = segments;
        job.checkpoints = (0..segments)
            .map(|segment| Checkpoint {
                segment,
                ..Checkpoint::default()
            })
            .collect();
        distribute(&mut job.checkpoints, workers);
        job
    }

    fn local(worker: u32, checkpoints: &[Checkpoint], idle: bool) -> Local<'_> {
        Local {
            worker,
            holder: "h:1",
            status: WorkerStatus::Running,
            checkpoints,
            scanned: 0,
            idle,
        }
    }

    fn done(segment: u32, owner: u32, scanned: u64) -> Checkpoint {
        Checkpoint {
            segment,
            done: true,
            scanned,
            indexed: scanned,
            owner,
            ..Checkpoint::default()
        }
    }

    #[test]
    fn segments_start_round_robin() {
        let job = job(7, 3);
        let owners: Vec<u32> = job.checkpoints.iter().map(|c| c.owner).collect();
        assert_eq!(owners, [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn a_worker_writes_only_the_segments_it_owns_and_learns_which_it_lost() {
        let mut record = job(4, 2);
        record.checkpoints[2].owner = 1; // taken over by worker 1 while worker 0 was thought dead
        let mine = [done(0, 0, 5), done(2, 0, 7)];
        let merged = merge(record, &local(0, &mine, false), at(1), LEASE);
        assert_eq!(merged.lost, [2]);
        assert_eq!(merged.job.checkpoints[0].scanned, 5);
        assert_eq!(
            merged.job.checkpoints[2].scanned, 0,
            "the new owner's checkpoint stays"
        );
        assert_eq!(merged.job.scanned, 5);
    }

    #[test]
    fn an_idle_worker_steals_its_share_of_a_dead_workers_segments_only() {
        let mut record = job(6, 3);
        for worker in 0..3 {
            record = merge(record, &local(worker, &[], false), at(0), LEASE).job;
        }
        // Worker 2 stops beating; workers 0 and 1 beat at 20 s.
        record = merge(record, &local(1, &[], false), at(20), LEASE).job;
        let mine = [done(0, 0, 3), done(3, 0, 3)];
        let merged = merge(record.clone(), &local(0, &mine, true), at(20), LEASE);
        let stolen: Vec<u32> = merged.stolen.iter().map(|c| c.segment).collect();
        assert_eq!(stolen, [2], "two orphans, two live workers: one each");
        assert!(merged.job.checkpoints[2].owner == 0 && merged.job.checkpoints[5].owner == 2);
        assert_eq!(merged.job.worker_states[0].stolen, [2]);
        // A busy worker steals nothing, and a live worker's segments are never taken.
        let busy = merge(record.clone(), &local(0, &mine, false), at(20), LEASE);
        assert!(busy.stolen.is_empty());
        let early = merge(record, &local(0, &mine, true), at(5), LEASE);
        assert!(early.stolen.is_empty(), "worker 2 is alive at 5 s");
    }

    #[test]
    fn a_worker_that_never_joined_is_dead_after_one_lease() {
        let record = job(2, 2);
        let mine = [done(0, 0, 1)];
        assert!(
            merge(record.clone(), &local(0, &mine, true), at(5), LEASE)
                .stolen
                .is_empty()
        );
        let late = merge(record, &local(0, &mine, true), at(11), LEASE);
        assert_eq!(late.stolen.len(), 1);
        assert_eq!(late.stolen[0].segment, 1);
    }

    #[test]
    fn exactly_one_finisher_and_the_setup_worker_is_preferred_while_alive() {
        let mut record = job(2, 2);
        record = merge(record, &local(0, &[done(0, 0, 4)], true), at(1), LEASE).job;
        assert_eq!(record.phase, Phase::Loading);
        // Worker 1 completes the last segment, but worker 0 (setup) is alive: it does not claim.
        let by_one = merge(
            record.clone(),
            &local(1, &[done(1, 1, 6)], true),
            at(2),
            LEASE,
        );
        assert!(by_one.all_done && !by_one.finishing);
        // Worker 0's next write claims it; worker 1's write after that does not.
        let by_zero = merge(by_one.job, &local(0, &[done(0, 0, 4)], true), at(3), LEASE);
        assert!(by_zero.finishing);
        assert_eq!(
            (by_zero.job.phase, by_zero.job.finisher),
            (Phase::Finishing, Some(0))
        );
        assert_eq!(by_zero.job.scanned, 10);
        let again = merge(
            by_zero.job.clone(),
            &local(1, &[done(1, 1, 6)], true),
            at(4),
            LEASE,
        );
        assert!(!again.finishing);
        // If the finisher dies, another worker takes the finish over.
        let takeover = merge(
            by_zero.job,
            &local(1, &[done(1, 1, 6)], true),
            at(30),
            LEASE,
        );
        assert!(takeover.finishing);
        assert_eq!(takeover.job.finisher, Some(1));
    }

    #[test]
    fn with_the_setup_worker_dead_its_stream_backup_finishes_before_any_other() {
        let mut record = job(3, 3);
        record.stream_backup = Some(2);
        record.checkpoints[0] = done(0, 0, 1);
        record.checkpoints[2] = done(2, 2, 1);
        record = merge(record, &local(1, &[], false), at(29), LEASE).job;
        record = merge(record, &local(2, &[done(2, 2, 1)], true), at(29), LEASE).job;
        // Worker 0 (setup) never beat, so it is dead at 30 s; workers 1 and 2 beat at 29 s.
        let by_one = merge(
            record.clone(),
            &local(1, &[done(1, 1, 1)], true),
            at(30),
            LEASE,
        );
        assert!(
            by_one.all_done && !by_one.finishing,
            "the live backup goes first"
        );
        let by_two = merge(by_one.job, &local(2, &[done(2, 2, 1)], true), at(31), LEASE);
        assert!(by_two.finishing);
        // With the backup dead too, anyone finishes.
        let late = merge(record, &local(1, &[done(1, 1, 1)], true), at(60), LEASE);
        assert!(late.finishing);
    }

    #[test]
    fn with_the_setup_worker_dead_any_worker_finishes() {
        let mut record = job(2, 2);
        record.checkpoints[0] = done(0, 0, 2);
        let merged = merge(record, &local(1, &[done(1, 1, 2)], true), at(30), LEASE);
        assert!(merged.finishing);
    }

    #[test]
    fn the_last_worker_to_stop_interrupts_the_job() {
        let mut record = job(2, 2);
        record = merge(record, &local(0, &[], false), at(0), LEASE).job;
        record = merge(record, &local(1, &[], false), at(0), LEASE).job;
        let stop = |worker| Local {
            status: WorkerStatus::Stopped,
            ..local(worker, &[], false)
        };
        let first = merge(record, &stop(0), at(1), LEASE);
        assert!(!first.interrupted);
        assert_eq!(first.job.status, JobStatus::Running);
        let last = merge(first.job, &stop(1), at(2), LEASE);
        assert!(last.interrupted);
        assert_eq!(last.job.status, JobStatus::Interrupted);
    }
}
