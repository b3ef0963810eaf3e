//! A dry run: scan, map and encode everything, write nothing, take no job.

use std::sync::Arc;
use std::time::Instant;

use aws_sdk_dynamodb::Client as DynamoClient;
use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::RebuildPlan;
use super::phases::{entity_of, pipeline_settings};
use crate::aliases::physical_name;
use crate::deadletter::{self, DeadLetters, Writer};
use crate::error::Error;
use crate::pipeline::{self, Counters, Handles, Sink, Trackers};
use crate::progress::Progress;
use crate::shutdown::Signals;
use crate::source::scan;
use crate::summary::{Status, Summary};

/// Runs the pipeline without a cluster and reports what a rebuild would have read and sent.
pub(super) async fn dry_run(dynamo: DynamoClient, plan: RebuildPlan) -> Result<Summary, Error> {
    let started = Instant::now();
    let entity = entity_of(&plan)?;
    let info = scan::describe(&dynamo, &plan.table).await?;
    let mut summary = Summary::new("rebuild");
    summary.table = Some(plan.table.to_string());
    summary.entity = Some(entity.name().to_owned());
    summary.alias = Some(plan.alias.to_string());
    summary.dry_run = true;
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
    let settings = pipeline_settings(&plan, plan.segments, physical_name(&plan.alias, Utc::now()));
    let progress = Progress::start(
        Arc::clone(&handles.counters),
        info.approximate_items,
        settings.segments,
        plan.progress_interval,
        crate::progress::Labels {
            alias: plan.alias.to_string(),
            mode: "rebuild",
        },
    );
    tracing::info!(table = %plan.table, entity = entity.name(), segments = settings.segments, dry_run = true, approximate_items = info.approximate_items, "scanning");
    let run = pipeline::run(
        dynamo.clone(),
        plan.table.clone(),
        entity,
        Sink::DryRun,
        settings,
        handles.clone(),
    );
    tokio::pin!(run);
    // A first signal ends the scan with a report of what was read.
    let _ = crate::shutdown::arm();
    let mut signals = Signals::new();
    let result = tokio::select! {
        result = &mut run => Some(result),
        _ = signals.recv() => None,
    };
    let result = match result {
        Some(result) => result,
        None => {
            handles.stop.cancel();
            match tokio::time::timeout(plan.stop_timeout, &mut run).await {
                Ok(result) => result,
                Err(_) => Ok(pipeline::RunStats::default()),
            }
        }
    };
    progress.finish();
    summary.set_dead_letters(deadletter::locations(&[], handles.dead.finish()));
    let counters = &handles.counters;
    summary.scanned = Counters::get(&counters.scanned);
    summary.scanned_this_run = summary.scanned;
    summary.indexed = Counters::get(&counters.indexed);
    summary.dead_lettered = Counters::get(&counters.dead_lettered);
    if let Ok(unmapped) = counters.unmapped.lock() {
        summary.unmapped_attributes = unmapped.rows();
    }
    summary.read_units = Counters::get(&counters.read_milliunits) as f64 / 1000.0;
    let stats = result?;
    if stats.scan_seconds > 0.0 {
        summary.read_units_per_s = (summary.read_units / stats.scan_seconds * 10.0).round() / 10.0;
    }
    summary.status = if handles.stop.is_cancelled() {
        Status::Interrupted
    } else {
        Status::Succeeded
    };
    summary.set_elapsed(started.elapsed());
    Ok(summary)
}
