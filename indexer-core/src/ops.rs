//! Operator commands: `status`, `jobs`, `abandon` and `rollback`.
//!
//! Each returns a JSON report for stdout. `abandon` and `rollback` change state: `abandon` marks a
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
use crate::sink::client::SearchClient;
use crate::validate::IndexName;

fn job_view(job: &JobRecord, hung: bool) -> Value {
    let now = Utc::now();
    json!({
        "job_id": job.job_id,
        "mode": job.mode,
        "status": job.status,
        "table": job.table,
        "entity": job.entity,
        "holder": job.holder,
        "started_at": job.started_at,
        "ended_at": job.ended_at,
        "heartbeat_age_s": (job.heartbeat_age(now) * 10.0).round() / 10.0,
        "hung": hung,
        "new_index": job.new_index,
        "previous_index": job.previous_index,
        "scanned": job.scanned,
        "indexed": job.indexed,
        "dead_lettered": job.dead_lettered,
        "approximate_items": job.approximate_items,
        "docs_per_s": job.rate().round(),
        "eta_s": job.eta_seconds().map(f64::round),
        "segments_done": job.checkpoints.iter().filter(|c| c.done).count(),
        "segments": job.segments,
        "checkpoints": job.checkpoints.iter().map(|c| json!({"segment": c.segment, "done": c.done, "scanned": c.scanned})).collect::<Vec<_>>(),
        "resumed_from": job.resumed_from,
        "message": job.message,
        "workers": workers_view(job),
    })
}

/// The workers of a job split over several: where each runs, whether it is alive, and the
/// segments it reads (with those it took over from dead workers). Null for a one-process job.
fn workers_view(job: &JobRecord) -> Value {
    if job.workers <= 1 {
        return Value::Null;
    }
    let now = Utc::now();
    json!({
        "count": job.workers,
        "phase": job.phase,
        "setup_by": job.setup_by,
        "finisher": job.finisher,
        "list": (0..job.workers).map(|worker| {
            let state = job.worker_states.iter().find(|w| w.worker == worker);
            let reading: Vec<u32> = job.checkpoints.iter()
                .filter(|c| c.owner == worker && !c.done)
                .map(|c| c.segment)
                .collect();
            json!({
                "worker": worker,
                "holder": state.map(|s| s.holder.clone()),
                "status": state.map(|s| s.status),
                "heartbeat_age_s": state.map(|s| ((now - s.heartbeat_at).num_milliseconds() as f64 / 100.0).round() / 10.0),
                "scanned": state.map(|s| s.scanned),
                "segments_reading": reading,
                "segments_done": job.checkpoints.iter().filter(|c| c.owner == worker && c.done).count(),
                "stolen": state.map(|s| s.stolen.clone()).unwrap_or_default(),
            })
        }).collect::<Vec<_>>(),
    })
}

/// `indexer status`: the live index, kept indexes, the running job and the last finished one.
pub async fn status(search: &SearchClient, alias: &IndexName) -> Result<Value, Error> {
    let store = JobStore::new(search.clone());
    let (live, all) = physical_indexes(search, alias).await?;
    let lock = store.lock(alias.as_str(), Utc::now()).await?;
    let history = store.history(alias.as_str(), 50).await?;
    let running = match &lock {
        Some(lock) => store
            .job(&lock.record.job_id)
            .await?
            .map(|job| job_view(&job, lock.stale)),
        None => None,
    };
    let interrupted = store.latest(alias.as_str()).await?.filter(|job| {
        job.status == JobStatus::Interrupted || (job.status == JobStatus::Running && lock.is_none())
    });
    let last_finished = history
        .iter()
        .find(|job| job.status.is_finished() && job.status != JobStatus::Interrupted);
    let building: Vec<&String> = all
        .iter()
        .filter(|name| Some(*name) != live.as_ref())
        .collect();
    Ok(json!({
        "alias": alias.as_str(),
        "live_index": live,
        "live_documents": match &live { Some(index) => Some(search.count(index).await?), None => None },
        "other_indexes": building,
        "lock": lock.as_ref().map(|l| json!({
            "job_id": l.record.job_id,
            "holder": l.record.holder,
            "acquired_at": l.record.acquired_at,
            "heartbeat_age_s": ((Utc::now() - l.record.heartbeat_at).num_milliseconds() as f64 / 100.0).round() / 10.0,
            "hung": l.stale,
        })),
        "running_job": running,
        "resumable_job": interrupted.as_ref().map(|job| job_view(job, false)),
        "last_finished_job": last_finished.map(|job| job_view(job, false)),
    }))
}

/// `indexer jobs`: the alias's jobs, newest first.
pub async fn jobs(search: &SearchClient, alias: &IndexName, limit: usize) -> Result<Value, Error> {
    let store = JobStore::new(search.clone());
    let history = store.history(alias.as_str(), limit).await?;
    Ok(
        json!({ "alias": alias.as_str(), "jobs": history.iter().map(|job| job_view(job, false)).collect::<Vec<_>>() }),
    )
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
    let message = format!(
        "abandoned by an operator on {} at {}",
        holder(),
        now.to_rfc3339()
    );
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
        if job.status == JobStatus::Abandoned && job.message.as_deref() == Some(message.as_str()) {
            // This call's own write, whose answer was lost.
            marked = Some(job);
            break;
        }
        if !matches!(job.status, JobStatus::Running | JobStatus::Interrupted) {
            return Err(Error::Input(format!(
                "job {target:?} already ended ({}); nothing to abandon",
                job.status
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
        job.status = JobStatus::Abandoned;
        job.ended_at = Some(now);
        job.index_discarded = discard.is_some();
        job.message = Some(message.clone());
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
        if live.as_deref() != Some(index.as_str())
            && search.name_state(&index).await? == crate::sink::client::NameState::Index
        {
            search.delete_index(&index).await?;
            deleted = Some(index);
        }
    }
    tracing::warn!(job = %target, lock_released = released, deleted_index = ?deleted, "job abandoned");
    Ok(json!({
        "status": "abandoned",
        "alias": alias.as_str(),
        "job_id": target,
        "mode": job.mode,
        "lock_released": released,
        "deleted_index": deleted,
        "kept_index": if keep_index { job.new_index } else { None },
    }))
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

/// An indented, human-readable rendering of a report: `key: value` lines, nested by indent.
pub fn render_text(value: &Value) -> String {
    fn walk(value: &Value, indent: usize, out: &mut String) {
        let pad = "  ".repeat(indent);
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match value {
                        Value::Object(_) | Value::Array(_) if !is_empty(value) => {
                            out.push_str(&format!("{pad}{key}:\n"));
                            walk(value, indent + 1, out);
                        }
                        _ => out.push_str(&format!("{pad}{key}: {}\n", scalar(value))),
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::Object(_) => {
                            out.push_str(&format!("{pad}-\n"));
                            walk(item, indent + 1, out);
                        }
                        _ => out.push_str(&format!("{pad}- {}\n", scalar(item))),
                    }
                }
            }
            other => out.push_str(&format!("{pad}{}\n", scalar(other))),
        }
    }
    fn is_empty(value: &Value) -> bool {
        match value {
            Value::Object(map) => map.is_empty(),
            Value::Array(items) => items.is_empty(),
            _ => false,
        }
    }
    fn scalar(value: &Value) -> String {
        match value {
            Value::Null => "-".to_owned(),
            Value::String(s) => s.clone(),
            Value::Array(_) => "[]".to_owned(),
            Value::Object(_) => "{}".to_owned(),
            other => other.to_string(),
        }
    }
    let mut out = String::new();
    walk(value, 0, &mut out);
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_render_as_indented_key_value_lines() {
        let report = json!({"alias": "persons", "lock": null, "jobs": [{"job_id": "j1", "scanned": 3}], "kept": []});
        assert_eq!(
            render_text(&report),
            "alias: persons\njobs:\n  -\n    job_id: j1\n    scanned: 3\nkept: []\nlock: -"
        );
    }
}
