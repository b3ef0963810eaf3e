//! The steps of a rebuild, each written once and used by every worker: resume-or-create, the
//! stream tail and its drains, and the finish (restore settings, refresh, gate, swap, retire).
//!
//! When the table has a stream (with new images), a [`StreamTail`] starts before the scan and
//! writes every change made from then on into the new index, with external versions; it is
//! drained before the gate, and again after the swap, up to the present, into the now-live index.
//!
//! The swap is one `_aliases` call sent once. If its answer is lost or it fails, the alias is
//! read back, so the summary always says where the alias really points. Everything after a swap
//! (the stream's catch-up, retiring old indexes) reports its failures as warnings: the alias has
//! moved, and the run succeeded.

use std::time::Duration;

use aws_sdk_dynamodbstreams::Client as StreamsClient;
use serde_json::Value;

use super::{GateInput, RebuildPlan, gate, live_settings};
use crate::aliases::{Previous, inspect, retire, swap_actions};
use crate::entities::{Entity, compat};
use crate::error::Error;
use crate::jobs::{JobMode, JobRecord, JobStatus, LockRecord, Phase};
use crate::pipeline;
use crate::sink::client::{NameState, SearchClient};
use crate::source::stream::{OpenedStream, StreamTail};
use crate::summary::{Status, Summary};

/// What every step of one run shares.
#[derive(Clone, Copy)]
pub(super) struct Run<'a> {
    pub search: &'a SearchClient,
    pub plan: &'a RebuildPlan,
    pub entity: &'static dyn Entity,
    /// The building index.
    pub index: &'a str,
}

/// The plan's entity.
pub(super) fn entity_of(plan: &RebuildPlan) -> Result<&'static dyn Entity, Error> {
    crate::entities::by_name(plan.entity).ok_or_else(|| {
        Error::Input(format!(
            "unknown entity {:?}; known: {}",
            plan.entity,
            crate::entities::known()
        ))
    })
}

/// The pipeline settings of a rebuild plan, writing into `target_index`.
pub(super) fn pipeline_settings(
    plan: &RebuildPlan,
    segments: u32,
    target_index: String,
) -> pipeline::Settings {
    pipeline::Settings {
        segments,
        page_size: plan.page_size,
        batch_bytes: plan.batch_bytes,
        batch_docs: plan.batch_docs,
        concurrency: plan.concurrency,
        max_read_units: plan.max_read_units,
        retry: plan.retry,
        target_index,
        consistent_reads: false,
    }
}

/// How long after the final drain begins its last round must start: writes acknowledged just
/// before it may take that long to appear in the stream.
const STREAM_SETTLE: Duration = Duration::from_secs(1);
/// The longest a drain tries to catch up with the stream.
const STREAM_DRAIN_LIMIT: Duration = Duration::from_secs(120);

/// The job record's closing message for a run that ended with `summary`.
pub(super) fn closing_message(summary: &Summary) -> String {
    match summary.status {
        Status::Succeeded => format!(
            "swapped {} onto {}",
            summary.alias.as_deref().unwrap_or(""),
            summary.new_index.as_deref().unwrap_or("")
        ),
        Status::GateFailed => format!("gate refused: {}", summary.gate_refusals.join("; ")),
        Status::Interrupted => "stopped; checkpoints saved, the next rebuild resumes".to_owned(),
        Status::Failed => summary.error.clone().unwrap_or_default(),
    }
}

/// The job to resume, if the alias's latest rebuild (`predecessor`, read under the lock) was an
/// interrupted, failed or hung rebuild of the same table whose building index survives and is not live
/// (a run killed after its swap left a `running` record behind: its index is the live one, and
/// writing a resumed scan into it would change what users read).
pub(super) async fn resumable(
    search: &SearchClient,
    predecessor: Option<&JobRecord>,
    took_over: Option<&LockRecord>,
    plan: &RebuildPlan,
) -> Result<Option<JobRecord>, Error> {
    let Some(last) = predecessor.cloned() else {
        return Ok(None);
    };
    let hung =
        last.status == JobStatus::Running && took_over.is_some_and(|l| l.job_id == last.job_id);
    let orphaned = last.status == JobStatus::Running && took_over.is_none();
    // A run that failed (retries exhausted, a dead-letter write refused) kept only durable
    // verdicts in its checkpoints: resuming it is as safe as resuming an interrupted one.
    let stopped = matches!(last.status, JobStatus::Interrupted | JobStatus::Failed);
    if !(stopped || hung || orphaned) || last.mode != JobMode::Rebuild {
        return Ok(None);
    }
    if plan.fresh {
        tracing::info!(job = %last.job_id, "--fresh: not resuming the interrupted job");
        return Ok(None);
    }
    // A run that reached its fence may have swapped: even if the alias has moved off its index
    // since (a rollback), that index served readers, and resuming into it would swap its old
    // contents back.
    if last.phase == Phase::Swapping {
        tracing::warn!(job = %last.job_id, "the interrupted job had reached its swap; starting afresh");
        return Ok(None);
    }
    if last.table != plan.table.as_str() || last.entity != plan.entity {
        tracing::warn!(job = %last.job_id, table = %last.table, "the interrupted job read another table or entity; starting afresh");
        return Ok(None);
    }
    let Some(index) = &last.new_index else {
        return Ok(None);
    };
    if search.name_state(index).await? != NameState::Index {
        tracing::warn!(job = %last.job_id, index = %index, "the interrupted job's index is gone; starting afresh");
        return Ok(None);
    }
    if inspect(search, &plan.alias).await?.index_name(&plan.alias) == Some(index.clone()) {
        tracing::warn!(job = %last.job_id, index = %index, "the interrupted job had swapped its index live already; starting afresh");
        return Ok(None);
    }
    Ok(Some(last))
}

/// Starts tailing the table's stream into the run's index. A resumed run replays the stream
/// from where the interrupted run's tails stood (saved with its checkpoints), so the writes made
/// while it was stopped reach the index too; where that is not possible (no saved positions, or
/// positions past the stream's retention) its summary says so.
pub(super) async fn start_tail(
    run: Run<'_>,
    client: StreamsClient,
    arn: &str,
    resumed: Option<&JobRecord>,
    summary: &mut Summary,
) -> Result<StreamTail, Error> {
    let (table, alias) = (&run.plan.table, &run.plan.alias);
    let opened = match resumed {
        Some(last) if !last.stream_positions.is_empty() => {
            let (opened, gaps) = OpenedStream::resume(client, arn, &last.stream_positions).await?;
            tracing::info!(job = %last.job_id, shards = last.stream_positions.len(), "replaying the stream from where the interrupted run stood");
            if !gaps.is_empty() {
                summary.warnings.push(format!(
                    "the interrupted run's stream positions are past the stream's 24-hour retention (shards {}): writes made while it was stopped may be missing; repair with `indexer verify --table {table} --index {alias} --fix` once this run ends",
                    gaps.join(", ")
                ));
            }
            opened
        }
        Some(_) => {
            summary.warnings.push(format!(
                "the stream is replayed from this run's start only (the interrupted run saved no stream positions): writes made while it was stopped may be missing; check with `indexer verify --table {table} --index {alias}` once this run ends (and repair with --fix)"
            ));
            OpenedStream::open(client, arn).await?
        }
        None => OpenedStream::open(client, arn).await?,
    };
    Ok(opened.tail(
        run.entity,
        run.search.clone(),
        run.index.to_owned(),
        run.plan.retry,
    ))
}

/// Applies the stream's records up to the present (see [`StreamTail::drain`]).
pub(super) async fn drain(
    tail: &StreamTail,
    settle: Duration,
    when: &str,
    plan: &RebuildPlan,
    summary: &mut Summary,
) -> Result<(), Error> {
    if !tail.drain(settle, STREAM_DRAIN_LIMIT).await? {
        summary.warnings.push(format!(
            "the stream replay did not catch up {when} within {} s; writes made meanwhile may be missing; check with `indexer verify --table {} --index {}`",
            STREAM_DRAIN_LIMIT.as_secs(),
            plan.table,
            plan.alias
        ));
    }
    tracing::info!(
        applied = tail.stats().await.applied,
        "stream drained {when}"
    );
    Ok(())
}

/// Ends the tail. After a swap it first catches the now-live index up with everything written
/// until this moment; any failure then is a warning (the alias has moved). Before a swap (a gate
/// refusal) a failure is the run's error.
pub(super) async fn close_tail(
    tail: StreamTail,
    swapped: bool,
    plan: &RebuildPlan,
    summary: &mut Summary,
) -> Result<(), Error> {
    let check = format!(
        "check with `indexer verify --table {} --index {}`",
        plan.table, plan.alias
    );
    if swapped
        && let Err(error) = drain(&tail, STREAM_SETTLE, "after the swap", plan, summary).await
    {
        tracing::error!(error = %error, "the stream replay failed after the swap");
    }
    let stats = match tail.stop().await {
        Ok(stats) => stats,
        Err(error) if swapped => {
            summary.warnings.push(format!(
                "the stream replay failed after the swap ({error}): writes made since may be missing; {check}"
            ));
            return Ok(());
        }
        Err(error) => return Err(error.into()),
    };
    summary.stream = Some("replayed");
    summary.stream_records_applied = stats.applied;
    if stats.failed > 0 {
        summary.warnings.push(format!(
            "{} stream records could not be applied (see the log); {check}",
            stats.failed
        ));
    }
    tracing::info!(
        applied = stats.applied,
        failed = stats.failed,
        "stream replay finished"
    );
    Ok(())
}

/// Restores the live settings, refreshes and asks the gate. `exact_count`: see
/// [`GateInput::exact_count`]. Returns whether the gate passed; its refusals are in the summary.
pub(super) async fn restore_and_gate(
    run: Run<'_>,
    previous: &Previous,
    live_count: Option<u64>,
    exact_count: bool,
    summary: &mut Summary,
) -> Result<bool, Error> {
    let (search, plan) = (run.search, run.plan);
    let previous_replicas = match previous.index_name(&plan.alias) {
        Some(index) => replicas(&search.settings(&index).await?),
        None => None,
    };
    let definition = run.entity.index_definition();
    search
        .put_settings(run.index, &live_settings(&definition, previous_replicas))
        .await?;
    search.refresh(run.index).await?;
    let new_count = search.count(run.index).await?;
    let verdict = gate(&GateInput {
        scanned: summary.scanned,
        indexed: summary.indexed,
        dead_lettered: summary.dead_lettered,
        new_count,
        live_count,
        max_errors: plan.max_errors,
        min_ratio: plan.min_ratio,
        exact_count,
    });
    // The index about to go live must keep what the live index maps (see `entities::compat`).
    // It is read back rather than taken from this binary's definition: a resumed run swaps an
    // index an earlier binary created.
    let live_index = previous.index_name(&plan.alias);
    let candidate = compat::Candidate::Index(run.index);
    let mapping = compat::before_swap(search, live_index.as_deref(), candidate)
        .await?
        .refusals(plan.allow_mapping_changes, &mut summary.warnings);
    let verdict = compat::with_refusals(verdict, mapping);
    match verdict {
        Ok(()) => Ok(true),
        Err(refusals) => {
            for reason in &refusals {
                tracing::error!(index = %run.index, reason = %reason, "gate refused the swap");
            }
            summary.gate_refusals = refusals;
            Ok(false)
        }
    }
}

fn replicas(settings: &Value) -> Option<u64> {
    settings.get("number_of_replicas").and_then(|v| {
        v.as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| v.as_u64())
    })
}

/// Sends the swap once. If the call fails or its answer is lost, reads the alias back: the
/// swap happened when the alias now points at the new index. `Err` only when it did not.
pub(super) async fn swap(run: Run<'_>, previous: &Previous) -> Result<(), Error> {
    let alias = &run.plan.alias;
    let sent = run
        .search
        .update_aliases(swap_actions(alias.as_str(), run.index, previous))
        .await;
    let Err(error) = sent else {
        return Ok(());
    };
    tracing::warn!(error = %error, "the swap failed or its answer was lost; reading the alias back");
    match inspect(run.search, alias).await {
        Ok(now) if now.index_name(alias).as_deref() == Some(run.index) => {
            tracing::info!(alias = %alias, "the alias points at the new index: the swap was applied");
            Ok(())
        }
        Ok(_) => Err(Error::from(error)),
        Err(read) => Err(Error::SwapUnknown(format!(
            "the swap's answer was lost ({error}) and the alias could not be read back ({read}): the job is left `swapping` and its lock held until the lease ends; see where alias {alias} points with `indexer status`, and once the lock's lease has run out `indexer abandon` closes the job by where it points"
        ))),
    }
}

/// Deletes indexes beyond `--keep` after a swap; a failure is a warning, not the run's error.
pub(super) async fn retire_after_swap(run: Run<'_>, previous: &Previous, summary: &mut Summary) {
    let replaced = match previous {
        Previous::Physical { index, .. } => Some(index.as_str()),
        _ => None,
    };
    match retire(
        run.search,
        &run.plan.alias,
        run.index,
        replaced,
        run.plan.keep,
    )
    .await
    {
        Ok(deleted) => summary.deleted_indexes = deleted,
        Err(error) => summary.warnings.push(format!(
            "the alias moved, but deleting old indexes failed ({error:#}); delete them by hand or let the next rebuild retire them"
        )),
    }
}
