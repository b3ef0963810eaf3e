//! Running a rebuild: lock, resume or create, load, gate, swap, retire — and stop cleanly.
//!
//! When the table has a stream (with new images), a [`StreamTail`] starts before the scan and
//! writes every change made from then on into the new index, with external versions; it is
//! drained before the gate, and again after the swap, up to the present, into the now-live index.
//! A resumed run starts its tail when it resumes: writes made while the run was interrupted are
//! covered only by `indexer verify`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client as DynamoClient;
use aws_sdk_dynamodbstreams::Client as StreamsClient;
use chrono::Utc;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{
    GateInput, Previous, RebuildPlan, build_definition, gate, is_physical_of, live_settings,
    physical_name, swap_actions, to_retire,
};
use crate::deadletter::{self, DeadLetters, Writer};
use crate::entities::Entity;
use crate::error::Error;
use crate::jobs::session::Session;
use crate::jobs::store::JobStore;
use crate::jobs::{JobRecord, JobStatus, LockRecord};
use crate::pipeline::{self, Counters, Handles, Sink, Trackers};
use crate::progress::Progress;
use crate::sink::client::{NameState, SearchClient};
use crate::source::scan;
use crate::source::stream::{self, StreamTail};
use crate::summary::{Status, Summary};
use crate::validate::IndexName;

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

/// What the alias name is now: nothing, a legacy concrete index, or an alias over one index.
pub async fn inspect(search: &SearchClient, alias: &IndexName) -> Result<Previous, Error> {
    match search.name_state(alias.as_str()).await? {
        NameState::Absent => Ok(Previous::None),
        NameState::Index => Ok(Previous::Legacy),
        NameState::Alias(indexes) if indexes.len() == 1 => {
            let index = indexes.into_iter().next().unwrap_or_default();
            let aliases = search.aliases_of(&index).await?;
            Ok(Previous::Physical { index, aliases })
        }
        NameState::Alias(indexes) => Err(Error::Input(format!(
            "alias \"{alias}\" points at {} indexes ({}); a rebuild swaps an alias that points at one index, so point it at one index first",
            indexes.len(),
            indexes.join(", ")
        ))),
    }
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
    }
}

/// How long after the final drain begins its last round must start: writes acknowledged just
/// before it may take that long to appear in the stream.
const STREAM_SETTLE: Duration = Duration::from_secs(1);
/// The longest a drain tries to catch up with the stream.
const STREAM_DRAIN_LIMIT: Duration = Duration::from_secs(120);

/// Resolves when SIGTERM or SIGINT arrives.
pub(super) async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::warn!("SIGTERM: stopping, saving checkpoints"),
        _ = int.recv() => tracing::warn!("SIGINT: stopping, saving checkpoints"),
    }
}

/// Runs a rebuild and returns its summary. Errors before anything is written are returned as
/// `Err`; failures after the new index exists are reported in the summary with status `failed`.
pub async fn rebuild(
    dynamo: DynamoClient,
    streams: StreamsClient,
    search: Option<SearchClient>,
    plan: RebuildPlan,
) -> Result<Summary, Error> {
    let started = Instant::now();
    let entity = entity_of(&plan)?;
    if let (Some(spec), Some(search), false) = (plan.worker.clone(), &search, plan.dry_run) {
        return super::workers::work(dynamo, streams, search.clone(), plan, spec).await;
    }
    let info = scan::describe(&dynamo, &plan.table).await?;
    let now = Utc::now();
    let job_id = physical_name(&plan.alias, now);
    let mut summary = Summary::new("rebuild");
    summary.table = Some(plan.table.to_string());
    summary.entity = Some(entity.name().to_owned());
    summary.alias = Some(plan.alias.to_string());
    summary.dry_run = plan.dry_run;

    let search = match (search, plan.dry_run) {
        (Some(search), false) => search,
        _ => {
            return dry_run(
                dynamo,
                entity,
                &plan,
                info.approximate_items,
                summary,
                started,
            )
            .await;
        }
    };
    summary.job_id = Some(job_id.clone());
    let stream_arn = match &info.stream_arn {
        Some(arn) if stream::has_new_images(&streams, arn).await? => Some(arn.clone()),
        Some(_) => {
            summary.warnings.push(format!(
                "the stream of table {} carries no new images, so it cannot be replayed: writes made to the table while the rebuild ran may be missing from the new index; check with `indexer verify --table {} --index {}` (and repair with --fix)",
                plan.table, plan.table, plan.alias
            ));
            None
        }
        None => {
            summary.warnings.push(format!(
                "table {} has no stream, so writes made to it while the rebuild ran may be missing from the new index; check with `indexer verify --table {} --index {}` (and repair with --fix)",
                plan.table, plan.table, plan.alias
            ));
            None
        }
    };
    let tail_source = stream_arn.map(|arn| (streams, arn));

    let record = JobRecord {
        segments: plan.segments,
        approximate_items: info.approximate_items,
        ..JobRecord::start(
            job_id.clone(),
            plan.alias.as_str(),
            plan.table.as_str(),
            entity.name(),
            "rebuild",
            now,
        )
    };
    // Refuse an alias over several indexes before taking anything (it is read again under the lock).
    inspect(&search, &plan.alias).await?;
    let store = JobStore::new(search.clone());
    let mut session = Session::begin(store.clone(), record, plan.timing).await?;
    match load_and_swap(
        &dynamo,
        tail_source,
        &search,
        &mut session,
        entity,
        &plan,
        info.approximate_items,
        &mut summary,
    )
    .await
    {
        Ok(status) => {
            summary.set_elapsed(started.elapsed());
            let job_status = JobStatus::from(status);
            summary.status = status;
            let message = closing_message(&summary);
            let snapshot = summary.clone();
            session
                .end(job_status, |job| {
                    job.scanned = snapshot.scanned;
                    job.indexed = snapshot.indexed;
                    job.dead_lettered = snapshot.dead_lettered;
                    job.message = Some(message);
                })
                .await?;
            Ok(summary)
        }
        Err(error) => {
            summary.set_elapsed(started.elapsed());
            let summary = summary.failed(&error);
            let message = format!("{error:#}");
            let snapshot = summary.clone();
            if let Err(end_error) = session
                .end(JobStatus::Failed, |job| {
                    job.scanned = snapshot.scanned;
                    job.indexed = snapshot.indexed;
                    job.dead_lettered = snapshot.dead_lettered;
                    job.message = Some(message);
                })
                .await
            {
                tracing::error!(error = %end_error, "cannot record the failed job");
            }
            if let Some(index) = &summary.new_index {
                tracing::error!(index = %index, "the rebuild failed; the alias is untouched and the new index is kept");
            }
            if matches!(error, Error::Input(_)) {
                return Err(error);
            }
            Ok(summary)
        }
    }
}

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

/// The job to resume, if the alias's latest job (`predecessor`, read under the lock) was
/// interrupted or hung, and its index survives. `took_over`: the hung lock this run took, if any.
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
    if !(last.status == JobStatus::Interrupted || hung || orphaned) || last.mode != "rebuild" {
        return Ok(None);
    }
    if plan.fresh {
        tracing::info!(job = %last.job_id, "--fresh: not resuming the interrupted job");
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
    Ok(Some(last))
}

/// Everything after the lock: returns the run's status, or an error for a failed run.
#[allow(clippy::too_many_arguments)]
async fn load_and_swap(
    dynamo: &DynamoClient,
    tail_source: Option<(StreamsClient, String)>,
    search: &SearchClient,
    session: &mut Session,
    entity: &'static dyn Entity,
    plan: &RebuildPlan,
    approximate_items: Option<u64>,
    summary: &mut Summary,
) -> Result<Status, Error> {
    let store = session.store().clone();
    let resume = resumable(
        search,
        session.predecessor.as_ref(),
        session.took_over.as_ref(),
        plan,
    )
    .await?;
    let previous = inspect(search, &plan.alias).await?;
    let live_count = match previous.index_name(&plan.alias) {
        Some(index) => Some(search.count(&index).await?),
        None => None,
    };
    summary.previous_index = previous.index_name(&plan.alias);
    let definition = entity.index_definition();
    let (new_index, segments, checkpoints) = match &resume {
        Some(last) => {
            let index = last.new_index.clone().unwrap_or_default();
            tracing::info!(job = %last.job_id, index = %index, scanned = last.scanned, "resuming the interrupted job from its checkpoints");
            let job_id = last.job_id.clone();
            store
                .save(&JobRecord {
                    status: JobStatus::Interrupted,
                    message: Some(format!(
                        "resumed by job {}",
                        summary.job_id.as_deref().unwrap_or("")
                    )),
                    ended_at: last.ended_at.or(Some(Utc::now())),
                    ..last.clone()
                })
                .await?;
            summary.resumed_from = Some(job_id);
            (index, last.segments, last.checkpoints.clone())
        }
        None => {
            let index = summary.job_id.clone().unwrap_or_default();
            search
                .create_index(&index, &build_definition(&definition))
                .await?;
            tracing::info!(index = %index, alias = %plan.alias, "created the new index");
            (index, plan.segments, Vec::new())
        }
    };
    summary.new_index = Some(new_index.clone());
    let dead = DeadLetters::open(
        plan.dead_letter.as_ref(),
        format!("{new_index}.dead-letter.jsonl"),
        Writer {
            alias: plan.alias.as_str(),
            job_id: summary.job_id.as_deref().unwrap_or(&new_index),
            worker: 0,
        },
    );
    // The places earlier runs of this job wrote dead letters to, and then this run's.
    let earlier = resume.as_ref().map(earlier_locations).unwrap_or_default();
    summary.set_dead_letters(deadletter::locations(&earlier, None));
    let mut dead_letter_locations = earlier;
    if !dead_letter_locations.contains(&dead.location()) {
        dead_letter_locations.push(dead.location());
    }
    let resumed_from = summary.resumed_from.clone();
    let previous_index = summary.previous_index.clone();
    session
        .update(|job| {
            job.new_index = Some(new_index.clone());
            job.previous_index = previous_index;
            job.segments = segments;
            job.checkpoints = checkpoints.clone();
            job.resumed_from = resumed_from;
            job.dead_letter_path = Some(dead.location());
            job.dead_letter_locations = dead_letter_locations;
        })
        .await?;

    let handles = Handles {
        counters: Arc::new(Counters::resuming(&checkpoints)),
        dead: Arc::new(dead),
        trackers: Arc::new(Trackers::new(segments, &checkpoints)),
        stop: CancellationToken::new(),
    };
    session.start_heartbeat(
        plan.timing.heartbeat,
        Arc::clone(&handles.counters),
        Arc::clone(&handles.trackers),
        handles.stop.clone(),
    );
    let tail = match tail_source {
        Some((client, arn)) => {
            let resumed = summary.resumed_from.is_some();
            Some(
                start_tail(
                    client, &arn, entity, search, &new_index, plan, resumed, summary,
                )
                .await?,
            )
        }
        None => None,
    };
    let settings = pipeline_settings(plan, segments, new_index.clone());
    let stopped = load(
        dynamo,
        entity,
        Sink::Cluster(search.clone()),
        settings,
        &handles,
        plan,
        approximate_items,
        summary,
    )
    .await?;
    if session.lost() {
        if let Some(job_id) = &summary.job_id
            && let Err(error) = crate::ops::discard_abandoned(search, job_id).await
        {
            tracing::warn!(error = %error, "cannot check whether the abandoned job's index must be deleted");
        }
        return Err(Error::LockLost(
            "the lock was taken over by another run while this one was loading; this run stopped"
                .into(),
        ));
    }
    if stopped {
        if let Some(tail) = tail {
            summary.stream_records_applied = tail.stop().await?.applied;
        }
        let checkpoints = handles.trackers.checkpoints();
        session.update(|job| job.checkpoints = checkpoints).await?;
        return Ok(Status::Interrupted);
    }
    if let Some(tail) = &tail {
        drain(tail, Duration::ZERO, "before the gate", plan, summary).await?;
    }
    let streamed = tail.is_some();
    gate_and_swap(
        search,
        plan,
        &definition,
        &new_index,
        &previous,
        live_count,
        tail,
        streamed,
        summary,
    )
    .await
}

/// [`finish`] (gate, swap, retire), then [`close_tail`] when the stream is tailed. `streamed`:
/// a stream tail (this run's or another worker's) wrote into the index, so its count is not
/// exact (see [`GateInput::exact_count`]).
#[allow(clippy::too_many_arguments)]
pub(super) async fn gate_and_swap(
    search: &SearchClient,
    plan: &RebuildPlan,
    definition: &Value,
    new_index: &str,
    previous: &Previous,
    live_count: Option<u64>,
    tail: Option<StreamTail>,
    streamed: bool,
    summary: &mut Summary,
) -> Result<Status, Error> {
    let status = finish(
        search,
        plan,
        definition,
        new_index,
        previous,
        live_count,
        !streamed && tail.is_none(),
        summary,
    )
    .await?;
    match tail {
        Some(tail) => close_tail(tail, status, plan, summary).await,
        None => Ok(status),
    }
}

/// After the gate: when the swap happened, catches the now-live index up with the stream; then
/// stops the tail and reports what it applied.
async fn close_tail(
    tail: StreamTail,
    status: Status,
    plan: &RebuildPlan,
    summary: &mut Summary,
) -> Result<Status, Error> {
    if status == Status::Succeeded {
        // The index is live now: catch up with everything written until this moment.
        // A failure here is reported by `stop` below.
        if let Err(error) = drain(&tail, STREAM_SETTLE, "after the swap", plan, summary).await {
            tracing::error!(error = %error, "the stream replay failed after the swap");
        }
    }
    let stats = match tail.stop().await {
        Ok(stats) => stats,
        Err(error) if status == Status::Succeeded => {
            // The alias has moved already: report it, and how to find what may be missing.
            summary.warnings.push(format!(
                "the stream replay failed after the swap ({error}): writes made since may be missing; check with `indexer verify --table {} --index {}`",
                plan.table, plan.alias
            ));
            return Ok(status);
        }
        Err(error) => return Err(error.into()),
    };
    summary.stream = Some("replayed");
    summary.stream_records_applied = stats.applied;
    if stats.failed > 0 {
        summary.warnings.push(format!(
            "{} stream records could not be applied (see the log); check with `indexer verify --table {} --index {}`",
            stats.failed, plan.table, plan.alias
        ));
    }
    tracing::info!(
        applied = stats.applied,
        failed = stats.failed,
        "stream replay finished"
    );
    Ok(status)
}

/// Starts tailing the table's stream into `index`; a resumed run warns that writes made while
/// its predecessor was stopped are not replayed.
#[allow(clippy::too_many_arguments)]
pub(super) async fn start_tail(
    client: StreamsClient,
    arn: &str,
    entity: &'static dyn Entity,
    search: &SearchClient,
    index: &str,
    plan: &RebuildPlan,
    resumed: bool,
    summary: &mut Summary,
) -> Result<StreamTail, Error> {
    if resumed {
        summary.warnings.push(format!(
            "the stream is replayed from this run's start only: writes made while the interrupted run was stopped may be missing; check with `indexer verify --table {} --index {}` once this run ends",
            plan.table, plan.alias
        ));
    }
    Ok(StreamTail::start(
        client,
        arn,
        entity,
        search.clone(),
        index.to_owned(),
        plan.retry,
    )
    .await?)
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

/// Runs the pipeline with progress and stop handling; fills the summary's counts. Returns
/// whether the run was stopped before reading everything.
#[allow(clippy::too_many_arguments)]
async fn load(
    dynamo: &DynamoClient,
    entity: &'static dyn Entity,
    sink: Sink,
    settings: pipeline::Settings,
    handles: &Handles,
    plan: &RebuildPlan,
    approximate_items: Option<u64>,
    summary: &mut Summary,
) -> Result<bool, Error> {
    let already_scanned = Counters::get(&handles.counters.scanned);
    let progress = Progress::start(
        Arc::clone(&handles.counters),
        approximate_items,
        settings.segments,
        plan.progress_interval,
        crate::progress::Labels {
            alias: plan.alias.to_string(),
            mode: "rebuild",
        },
    );
    tracing::info!(table = %plan.table, entity = entity.name(), segments = settings.segments, dry_run = plan.dry_run, approximate_items, "scanning");
    let run = pipeline::run(
        dynamo.clone(),
        plan.table.clone(),
        entity,
        sink,
        settings,
        handles.clone(),
    );
    tokio::pin!(run);
    let stop = handles.stop.clone();
    let result = tokio::select! {
        result = &mut run => Some(result),
        _ = async { tokio::select! { _ = stop_signal() => stop.cancel(), _ = stop.cancelled() => {} } } => None,
    };
    let result = match result {
        Some(result) => result,
        None => match tokio::time::timeout(plan.stop_timeout, &mut run).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(timeout = ?plan.stop_timeout, "in-flight work did not drain in time; unacknowledged items will be re-read on resume");
                Ok(pipeline::RunStats::default())
            }
        },
    };
    progress.finish();
    let counters = &handles.counters;
    summary.scanned = Counters::get(&counters.scanned);
    summary.scanned_this_run = summary.scanned - already_scanned;
    summary.indexed = Counters::get(&counters.indexed);
    summary.dead_lettered = Counters::get(&counters.dead_lettered);
    summary.retries = Counters::get(&counters.retries);
    let earlier = std::mem::take(&mut summary.dead_letter_locations);
    summary.set_dead_letters(deadletter::locations(&earlier, handles.dead.finish()));
    summary.read_units = Counters::get(&counters.read_milliunits) as f64 / 1000.0;
    summary.concurrency = Counters::get(&counters.concurrency);
    summary.max_concurrency_reached = Counters::get(&counters.max_concurrency);
    let stats = result?;
    if stats.scan_seconds > 0.0 {
        summary.read_units_per_s = (summary.read_units / stats.scan_seconds * 10.0).round() / 10.0;
    }
    if handles.stop.is_cancelled() {
        // Report what is safely done: the checkpoints, not items acknowledged after them.
        let checkpoints = handles.trackers.checkpoints();
        summary.scanned = checkpoints.iter().map(|c| c.scanned).sum();
        summary.indexed = checkpoints.iter().map(|c| c.indexed).sum();
        summary.dead_lettered = checkpoints.iter().map(|c| c.dead_lettered).sum();
        return Ok(true);
    }
    Ok(false)
}

async fn dry_run(
    dynamo: DynamoClient,
    entity: &'static dyn Entity,
    plan: &RebuildPlan,
    approximate_items: Option<u64>,
    mut summary: Summary,
    started: Instant,
) -> Result<Summary, Error> {
    let dead = DeadLetters::open(
        plan.dead_letter.as_ref(),
        format!("{}.dry-run.dead-letter.jsonl", plan.alias),
        Writer {
            alias: plan.alias.as_str(),
            job_id: &physical_name(&plan.alias, Utc::now()),
            worker: 0,
        },
    );
    let handles = Handles {
        counters: Arc::new(Counters::default()),
        dead: Arc::new(dead),
        trackers: Arc::new(Trackers::new(plan.segments, &[])),
        stop: CancellationToken::new(),
    };
    let settings = pipeline_settings(plan, plan.segments, physical_name(&plan.alias, Utc::now()));
    let stopped = load(
        &dynamo,
        entity,
        Sink::DryRun,
        settings,
        &handles,
        plan,
        approximate_items,
        &mut summary,
    )
    .await?;
    summary.status = if stopped {
        Status::Interrupted
    } else {
        Status::Succeeded
    };
    summary.set_elapsed(started.elapsed());
    Ok(summary)
}

/// Restore settings, refresh, gate, swap, retire old indexes. `exact_count`: see
/// [`GateInput::exact_count`].
#[allow(clippy::too_many_arguments)]
async fn finish(
    search: &SearchClient,
    plan: &RebuildPlan,
    definition: &Value,
    new_index: &str,
    previous: &Previous,
    live_count: Option<u64>,
    exact_count: bool,
    summary: &mut Summary,
) -> Result<Status, Error> {
    let previous_replicas = match previous.index_name(&plan.alias) {
        Some(index) => search
            .settings(&index)
            .await?
            .get("number_of_replicas")
            .and_then(|v| {
                v.as_str()
                    .and_then(|s| s.parse().ok())
                    .or_else(|| v.as_u64())
            }),
        None => None,
    };
    search
        .put_settings(new_index, &live_settings(definition, previous_replicas))
        .await?;
    search.refresh(new_index).await?;
    let new_count = search.count(new_index).await?;
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
    if let Err(refusals) = verdict {
        for reason in &refusals {
            tracing::error!(index = %new_index, reason = %reason, "gate refused the swap");
        }
        summary.gate_refusals = refusals;
        return Ok(Status::GateFailed);
    }
    search
        .update_aliases(swap_actions(plan.alias.as_str(), new_index, previous))
        .await?;
    summary.swapped = true;
    tracing::info!(alias = %plan.alias, index = %new_index, previous = ?summary.previous_index, "alias swapped");
    let replaced = match previous {
        Previous::Physical { index, .. } => Some(index.as_str()),
        _ => None,
    };
    summary.deleted_indexes = retire(search, &plan.alias, new_index, replaced, plan.keep).await?;
    Ok(Status::Succeeded)
}

/// Deletes this alias's physical indexes beyond those kept (see [`to_retire`]).
async fn retire(
    search: &SearchClient,
    alias: &IndexName,
    new_index: &str,
    replaced: Option<&str>,
    keep: usize,
) -> Result<Vec<String>, Error> {
    let previous: Vec<String> = search
        .indexes_matching(&format!("{alias}-*"))
        .await?
        .into_iter()
        .filter(|name| name != new_index && is_physical_of(alias, name))
        .collect();
    let mut deleted = Vec::new();
    for index in to_retire(previous, replaced, keep) {
        search.delete_index(&index).await?;
        tracing::info!(index = %index, "deleted an old index");
        deleted.push(index);
    }
    Ok(deleted)
}

/// Where the runs of a job resumed from wrote (or were set to write) dead letters.
fn earlier_locations(last: &JobRecord) -> Vec<String> {
    let mut earlier = last.dead_letter_locations.clone();
    if let Some(path) = &last.dead_letter_path
        && !earlier.contains(path)
    {
        earlier.push(path.clone());
    }
    earlier
}
