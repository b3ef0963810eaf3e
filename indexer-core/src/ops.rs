//! Operator commands: `status`, `jobs`, `abandon` and `rollback`.
//!
//! Each returns a report for stdout (`status` and `jobs` as typed views, see [`crate::report`]). `abandon` and `rollback` change state: `abandon` marks a
//! running, hung or interrupted job abandoned, releases its lock and deletes its building index
//! (never the live one); `rollback` takes the alias's lock like a rebuild, so it never races one,
//! and moves the alias — with every alias that moved with it — back to the newest older kept index
//! in one atomic call.

use chrono::Utc;
use serde_json::{Value, json};

use crate::aliases::{Previous, inspect, physical_indexes, physical_name, swap_actions};
use crate::error::Error;
use crate::jobs::session::{Session, Timing};
use crate::jobs::store::JobStore;
use crate::jobs::{JobMode, JobRecord, JobStatus, Phase, holder};
use crate::report::{Earlier, JobView, JobsReport, LockSummary, StatusReport};
use crate::sink::client::{SearchClient, SinkError};
use crate::validate::IndexName;

/// `indexer status`: the live index, kept indexes, the running job and the last finished one.
/// An alias with nothing at all — no alias or index of that name, no physical index, no job — is
/// bad input (exit 2): most likely a wrong name or the wrong cluster.
pub async fn status(search: &SearchClient, alias: &IndexName) -> Result<StatusReport, Error> {
    let store = JobStore::new(search.clone());
    let (live, all) = physical_indexes(search, alias).await?;
    let now = Utc::now();
    let lock = store.lock(alias.as_str(), now).await?;
    let history = store.history(alias.as_str(), 50).await?;
    let follower = crate::follow::lease::read(search, alias.as_str()).await?;
    let follower =
        follower.map(|(record, _)| crate::follow::status::FollowerView::new(&record, now));
    if live.is_none() && all.is_empty() && lock.is_none() && history.is_empty() {
        return Err(nothing_there(search, alias));
    }
    let known = with_resumed(&store, &history).await?;
    let view = |job: &JobRecord, hung: bool| JobView::new(job, now, hung, Earlier::of(job, &known));
    let running = match &lock {
        Some(lock) => store
            .job(&lock.record.job_id)
            .await?
            .map(|job| view(&job, lock.stale)),
        None => None,
    };
    let interrupted = store.latest(alias.as_str()).await?.filter(|job| {
        job.status == JobStatus::Interrupted || (job.status == JobStatus::Running && lock.is_none())
    });
    let last_finished = history
        .iter()
        .find(|job| job.status.is_finished() && job.status != JobStatus::Interrupted);
    let live_documents = match &live {
        Some(index) => Some(search.count(index).await?),
        None => None,
    };
    Ok(StatusReport {
        alias: alias.to_string(),
        other_indexes: all
            .into_iter()
            .filter(|name| Some(name) != live.as_ref())
            .collect(),
        live_index: live,
        live_documents,
        lock: lock.as_ref().map(|l| LockSummary::new(l, now)),
        running_job: running,
        // A job left `running` by a process that died is not renewing anything: hung.
        resumable_job: interrupted
            .as_ref()
            .map(|job| view(job, job.status == JobStatus::Running)),
        last_finished_job: last_finished.map(|job| view(job, false)),
        follower,
    })
}

fn nothing_there(search: &SearchClient, alias: &IndexName) -> Error {
    Error::Input(format!(
        "nothing is there: {} has no alias or index \"{alias}\", no index built for it and no job recorded for it; check the name and the host",
        search.node()
    ))
}

/// `indexer jobs`: the alias's jobs, newest first.
pub async fn jobs(
    search: &SearchClient,
    alias: &IndexName,
    limit: usize,
) -> Result<JobsReport, Error> {
    let store = JobStore::new(search.clone());
    let history = store.history(alias.as_str(), limit).await?;
    if history.is_empty() {
        let (live, all) = physical_indexes(search, alias).await?;
        if live.is_none() && all.is_empty() {
            return Err(nothing_there(search, alias));
        }
    }
    let now = Utc::now();
    let lock = store.lock(alias.as_str(), now).await?;
    let known = with_resumed(&store, &history).await?;
    Ok(JobsReport {
        alias: alias.to_string(),
        jobs: history
            .iter()
            .map(|job| {
                JobView::new(
                    job,
                    now,
                    hung(job, lock.as_ref(), now),
                    Earlier::of(job, &known),
                )
            })
            .collect(),
    })
}

/// Whether `job`, recorded as running, has stopped renewing: its lock is stale; or the alias's
/// lock is gone or names another job (its process died or lost the lock) and its record has not
/// been written for a default lease (a job just created takes its lock a moment later).
fn hung(
    job: &JobRecord,
    lock: Option<&crate::jobs::store::LockView>,
    now: chrono::DateTime<Utc>,
) -> bool {
    const DEFAULT_LEASE_MS: i64 = 60_000;
    job.status == JobStatus::Running
        && match lock {
            Some(lock) if lock.record.job_id == job.job_id => lock.stale,
            _ => (now - job.heartbeat_at).num_milliseconds() > DEFAULT_LEASE_MS,
        }
}

/// `jobs` and the jobs they resumed that fall outside them (for the counts a resumed job
/// started from, so its rate counts only its own work).
async fn with_resumed(store: &JobStore, jobs: &[JobRecord]) -> Result<Vec<JobRecord>, Error> {
    let mut known = jobs.to_vec();
    for job in jobs {
        if let Some(id) = &job.resumed_from
            && !known.iter().any(|j| &j.job_id == id)
            && let Some(earlier) = store.job(id).await?
        {
            known.push(earlier);
        }
    }
    Ok(known)
}

/// `indexer abandon`: gives up on a running, hung or interrupted job.
///
/// The job record is written under optimistic concurrency, so a run that is still writing sees
/// the abandon at its next write and stops; a run past its swap fence (phase `swapping`, its
/// finisher alive) cannot be abandoned — its alias is moving. Only a rebuild's building index is
/// ever deleted, never the live index nor the index a rollback or repair job names.
pub async fn abandon(
    search: &SearchClient,
    alias: &IndexName,
    job_id: Option<&str>,
    keep_index: bool,
) -> Result<Value, Error> {
    let store = JobStore::new(search.clone());
    let lock = store.lock(alias.as_str(), Utc::now()).await?;
    let target = match (job_id, &lock) {
        (Some(id), _) => id.to_owned(),
        (None, Some(lock)) => lock.record.job_id.clone(),
        (None, None) => match store.latest_rebuild(alias.as_str(), "").await? {
            Some(job) if matches!(job.status, JobStatus::Running | JobStatus::Interrupted) => {
                job.job_id
            }
            _ => {
                return Err(Error::Input(format!(
                    "alias \"{alias}\" has no running, hung or interrupted job to abandon"
                )));
            }
        },
    };
    let mut discard = None;
    let mut marked = None;
    let now = Utc::now();
    let message = format!("{ABANDONED_BY}{} at {}", holder(), now.to_rfc3339());
    for _ in 0..20 {
        let Some((mut job, token)) = store.job_versioned(&target).await? else {
            return Err(Error::Input(format!("job {target:?} does not exist")));
        };
        if job.alias != alias.as_str() {
            return Err(Error::Input(format!(
                "job {target:?} belongs to alias {:?}, not \"{alias}\"",
                job.alias
            )));
        }
        if job
            .message
            .as_deref()
            .is_some_and(|m| m.contains(message.as_str()))
        {
            // This call's own write, whose answer was lost.
            marked = Some(job);
            break;
        }
        if !matches!(job.status, JobStatus::Running | JobStatus::Interrupted) {
            if let Some(left) = unfinished_abandon(search, &store, alias, &job).await? {
                // An earlier abandon wrote the record but never cleaned up (its answer was
                // lost): finish its cleanup.
                discard = left;
                marked = Some(job);
                break;
            }
            return Err(Error::Input(format!(
                "job {target:?} already ended ({}); nothing to abandon",
                job.status
            )));
        }
        let sharing = store.sharing(&job).await?;
        if let Some(successor) = sharing.resumed_by.clone().or_else(|| {
            job.message
                .as_deref()
                .and_then(|m| m.strip_prefix("resumed by job "))
                .map(str::to_owned)
        }) {
            return Err(Error::Input(format!(
                "job {target:?} was resumed by job {successor:?}, which carries on its index; it has nothing of its own to abandon (abandon {successor:?} instead)"
            )));
        }
        let lock = store.lock(alias.as_str(), Utc::now()).await?;
        if job.phase == Phase::Swapping
            && lock
                .as_ref()
                .is_some_and(|l| l.record.job_id == target && !l.stale)
        {
            return Err(Error::Input(format!(
                "job {target:?} passed its gate and is moving alias \"{alias}\" right now; wait a few seconds and see `indexer status`"
            )));
        }
        let (live, _) = physical_indexes(search, alias).await?;
        // Never the live index, never what a rollback or repair names, never an index whose
        // swap may be under way.
        discard = job.new_index.clone().filter(|index| {
            job.mode == JobMode::Rebuild
                && job.phase != Phase::Swapping
                && !keep_index
                && Some(index) != live.as_ref()
        });
        // Never an index another job names as its own (a run that resumed this one, a
        // rollback).
        let shared = match (discard.clone(), sharing.index_users.is_empty()) {
            (Some(index), false) => {
                discard = None;
                Some(format!(
                    "; its index {index} is kept: job(s) {} use it",
                    sharing.index_users.join(", ")
                ))
            }
            _ => None,
        };
        // A rebuild whose run died after its swap: its index serves readers. Its record is
        // closed as what happened (succeeded, so rollback may return to it), never abandoned.
        let swapped =
            job.mode == JobMode::Rebuild && job.new_index.is_some() && job.new_index == live;
        job.status = if swapped {
            JobStatus::Succeeded
        } else {
            JobStatus::Abandoned
        };
        job.ended_at = Some(now);
        job.index_discarded = discard.is_some();
        job.message = Some(if swapped {
            format!(
                "its run died after the swap (the alias is on its index): {message}, closed as succeeded"
            )
        } else {
            format!("{message}{}", shared.unwrap_or_default())
        });
        if store.save_job_if(&job, token).await? {
            marked = Some(job);
            break;
        }
    }
    let Some(job) = marked else {
        return Err(Error::Job(format!(
            "job {target:?} kept changing while it was being abandoned; try again"
        )));
    };
    // Release the lock if the job still holds it, whatever its token is by now.
    let held = store
        .lock(alias.as_str(), Utc::now())
        .await?
        .is_some_and(|l| l.record.job_id == target);
    store.release_for_job(alias.as_str(), &target).await?;
    let still_held = store
        .lock(alias.as_str(), Utc::now())
        .await?
        .is_some_and(|l| l.record.job_id == target);
    let released = held && !still_held;
    let mut deleted = None;
    if let Some(index) = discard {
        // Read the alias again just before deleting: never delete what readers see.
        let (live, _) = physical_indexes(search, alias).await?;
        let used = !store.sharing(&job).await?.index_users.is_empty();
        if live.as_deref() != Some(index.as_str())
            && !used
            && search.name_state(&index).await? == crate::sink::client::NameState::Index
        {
            match search.delete_index(&index).await {
                // A 404 even on the first attempt: the run's own cleanup deleted it meanwhile.
                Ok(()) | Err(SinkError::Status { status: 404, .. }) => deleted = Some(index),
                Err(error) => return Err(error.into()),
            }
        }
    }
    tracing::warn!(job = %target, lock_released = released, deleted_index = deleted.as_deref(), "job abandoned");
    Ok(json!({
        // `succeeded` for a rebuild whose run died after its swap (see above).
        "status": job.status,
        "message": job.message,
        "alias": alias.as_str(),
        "job_id": target,
        "mode": job.mode,
        "lock_released": released,
        "deleted_index": deleted,
        "kept_index": if keep_index { job.new_index } else { None },
    }))
}

/// How an abandon's record message starts.
const ABANDONED_BY: &str = "abandoned by an operator on ";

/// An earlier abandon of `job` that wrote its record but never cleaned up (its answer was lost
/// and its retries failed): `Some(the index left to delete, if any)` while the job still holds
/// the alias's lock or the index it discarded is still there; `None` when nothing is left.
async fn unfinished_abandon(
    search: &SearchClient,
    store: &JobStore,
    alias: &IndexName,
    job: &JobRecord,
) -> Result<Option<Option<String>>, Error> {
    if job.status != JobStatus::Abandoned
        || !job
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with(ABANDONED_BY))
    {
        return Ok(None);
    }
    let holds = store
        .lock(alias.as_str(), Utc::now())
        .await?
        .is_some_and(|l| l.record.job_id == job.job_id);
    let (live, _) = physical_indexes(search, alias).await?;
    let index = match job
        .new_index
        .clone()
        .filter(|index| job.index_discarded && Some(index) != live.as_ref())
    {
        Some(index)
            if search.name_state(&index).await? == crate::sink::client::NameState::Index =>
        {
            Some(index)
        }
        _ => None,
    };
    Ok((holds || index.is_some()).then_some(index))
}

/// `indexer rollback`: points the alias back to the newest older kept index.
pub async fn rollback(
    search: &SearchClient,
    alias: &IndexName,
    timing: Timing,
) -> Result<Value, Error> {
    let previous = inspect(search, alias).await?;
    let Previous::Physical { index: live, .. } = &previous else {
        return Err(Error::Input(format!(
            "alias \"{alias}\" does not point at a physical index built by this tool; nothing to roll back"
        )));
    };
    let (_, all) = physical_indexes(search, alias).await?;
    let served = JobStore::new(search.clone())
        .succeeded_indexes(alias.as_str())
        .await?;
    let Some(target) = all
        .iter()
        .find(|name| name.as_str() < live.as_str() && served.contains(*name))
        .cloned()
    else {
        return Err(Error::Input(format!(
            "no index older than the live {live} that a successful rebuild built is kept for alias \"{alias}\"; nothing to roll back to (rebuilds keep --keep previous indexes; gate-refused and failed builds are never rollback targets)"
        )));
    };
    let now = Utc::now();
    let record = JobRecord {
        new_index: Some(target.clone()),
        previous_index: Some(live.clone()),
        ..JobRecord::start(
            physical_name(alias, now),
            alias.as_str(),
            "",
            "",
            JobMode::Rollback,
            now,
        )
    };
    let session = Session::begin(JobStore::new(search.clone()), record, timing).await?;
    // Re-read under the lock: a rebuild may have swapped in between.
    let previous = inspect(search, alias).await?;
    let moved: Vec<String> = match &previous {
        Previous::Physical { index, aliases } if index == live => aliases.keys().cloned().collect(),
        _ => {
            session
                .end(JobStatus::Failed, |job| {
                    job.message = Some("the alias changed meanwhile".into())
                })
                .await?;
            return Err(Error::Input(format!(
                "alias \"{alias}\" changed while rolling back; run it again"
            )));
        }
    };
    let mut result = search
        .update_aliases(swap_actions(alias.as_str(), &target, &previous))
        .await
        .map_err(Error::from);
    if result.is_err()
        && let Ok(now) = inspect(search, alias).await
        && now.index_name(alias).as_deref() == Some(target.as_str())
    {
        // The answer was lost, but the alias did move.
        result = Ok(());
    }
    let (status, message) = match &result {
        Ok(()) => (
            JobStatus::Succeeded,
            format!("rolled back from {live} to {target}"),
        ),
        Err(error) => (JobStatus::Failed, error.to_string()),
    };
    session
        .end(status, |job| job.message = Some(message))
        .await?;
    result?;
    tracing::info!(alias = %alias, from = %live, to = %target, "rolled back");
    Ok(json!({
        "status": "succeeded",
        "alias": alias.as_str(),
        "from": live,
        "to": target,
        "moved_aliases": moved,
    }))
}
