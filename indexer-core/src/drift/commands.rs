//! The `verify`, `resync` and `sync` commands.

use std::time::Instant;

use aws_sdk_dynamodb::Client as DynamoClient;
use chrono::Utc;
use serde_json::{Value, json};

use super::compare::{Drift, Fingerprint, compare};
use super::repair::{Key, RepairReport, parse_ids, repair};
use super::{DriftCount, Target};
use crate::aliases::{Previous, inspect, physical_name};
use crate::error::{Error, exit};
use crate::jobs::session::Session;
use crate::jobs::store::JobStore;
use crate::jobs::{JobMode, JobRecord, JobStatus};
use crate::sink::client::SearchClient;
use crate::source::scan;
use crate::validate::IndexName;

/// The physical index behind the alias (or the legacy index of that name).
async fn live_index(search: &SearchClient, alias: &IndexName) -> Result<String, Error> {
    match inspect(search, alias).await? {
        Previous::Physical { index, .. } => Ok(index),
        Previous::Legacy { .. } => Ok(alias.to_string()),
        Previous::None => Err(Error::Input(format!(
            "alias \"{alias}\" does not exist on the cluster; run a rebuild first"
        ))),
    }
}

fn drift_json(drift: &Drift) -> Value {
    json!({
        "missing": DriftCount::of(&drift.missing),
        "extra": DriftCount::of(&drift.extra),
        "stale": DriftCount::of(&drift.stale),
        "unmappable": DriftCount::of(&drift.unmappable),
        "scanned": drift.scanned,
        "documents": drift.documents,
    })
}

/// A job record for a writing drift command.
fn record(target: &Target, mode: JobMode, index: &str) -> JobRecord {
    let now = Utc::now();
    JobRecord {
        new_index: Some(index.to_owned()),
        segments: target.segments,
        ..JobRecord::start(
            physical_name(&target.alias, now),
            target.alias.as_str(),
            target.table.as_str(),
            target.entity.name(),
            mode,
            now,
        )
    }
}

/// Runs `work` under the alias's lock, recording it as a job of `mode`.
async fn locked<T>(
    search: &SearchClient,
    target: &Target,
    mode: JobMode,
    index: &str,
    work: impl std::future::Future<Output = Result<(T, String), Error>>,
) -> Result<T, Error> {
    let session = Session::begin(
        JobStore::new(search.clone()),
        record(target, mode, index),
        target.timing,
    )
    .await?;
    match work.await {
        Ok((value, message)) => {
            session
                .end(JobStatus::Succeeded, |job| job.message = Some(message))
                .await?;
            Ok(value)
        }
        Err(error) => {
            let message = format!("{error:#}");
            if let Err(end) = session
                .end(JobStatus::Failed, |job| job.message = Some(message))
                .await
            {
                tracing::error!(error = %end, "cannot record the failed job");
            }
            Err(error)
        }
    }
}

fn keys_of(ids: &[String]) -> Vec<Key> {
    ids.iter()
        .map(|id| Key {
            id: id.clone(),
            attributes: [(
                "id".to_owned(),
                aws_sdk_dynamodb::types::AttributeValue::S(id.clone()),
            )]
            .into(),
        })
        .collect()
}

/// Options of `verify`.
pub struct VerifyOptions {
    pub fix: bool,
    pub max_changes: u64,
    pub force: bool,
    pub dry_run: bool,
}

/// `indexer verify`: the report, and the exit code (6 when drift remains).
pub async fn verify(
    dynamo: &DynamoClient,
    search: &SearchClient,
    target: &Target,
    options: &VerifyOptions,
) -> Result<(Value, i32), Error> {
    let started = Instant::now();
    let info = scan::describe(dynamo, &target.table).await?;
    let index = live_index(search, &target.alias).await?;
    let drift = compare(dynamo, search, target, &index, Fingerprint::Version).await?;
    let changes = drift.changes();
    let mut report = json!({
        "mode": "verify",
        "table": target.table.as_str(),
        "entity": target.entity.name(),
        "alias": target.alias.as_str(),
        "index": index,
        "drift": drift_json(&drift),
        "changes": changes,
    });
    let hash_key = info
        .key_attributes
        .first()
        .map(|(name, _)| name.as_str())
        .unwrap_or("id");
    if hash_key != "id" && options.fix {
        return Err(Error::Input(format!(
            "--fix re-reads items by their `id`; table {} is keyed by {hash_key}",
            target.table
        )));
    }
    let mut code = if changes == 0 {
        exit::SUCCESS
    } else {
        exit::DRIFT
    };
    if options.fix && changes > 0 {
        if changes > options.max_changes && !options.force {
            report["status"] = json!("refused");
            report["error"] = json!(format!(
                "--fix would change {changes} documents, more than --max-changes {}; nothing was changed. Check the samples, then pass --max-changes {changes} or --force",
                options.max_changes
            ));
            report["seconds"] = json!(started.elapsed().as_secs_f64());
            return Ok((report, exit::DRIFT));
        }
        if options.dry_run {
            report["status"] = json!("planned");
            report["plan"] = json!({ "upsert": drift.missing.len() + drift.stale.len(), "delete": drift.extra.len() });
            report["seconds"] = json!(started.elapsed().as_secs_f64());
            return Ok((report, code));
        }
        let upsert = keys_of(&[drift.missing.clone(), drift.stale.clone()].concat());
        let repaired = locked(search, target, JobMode::VerifyFix, &index, async {
            let done = repair(dynamo, search, target, &index, &upsert, &drift.extra).await?;
            let message = format!(
                "fixed: {} upserted, {} deleted, {} failed",
                done.upserted, done.deleted, done.failed
            );
            Ok((done, message))
        })
        .await?;
        code = if repaired.failed == 0 {
            exit::SUCCESS
        } else {
            exit::FAILURE
        };
        report["fixed"] = fix_json(&repaired);
    }
    report["status"] = json!(match (changes, code) {
        (0, _) => "true",
        (_, c) if c == exit::SUCCESS => "fixed",
        (_, c) if c == exit::DRIFT => "drift",
        _ => "failed",
    });
    report["seconds"] = json!((started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0);
    Ok((report, code))
}

fn fix_json(report: &RepairReport) -> Value {
    json!({
        "upserted": report.upserted,
        "deleted": report.deleted,
        "absent": report.absent,
        "failed": report.failed,
        "failures": report.ids.iter().filter(|r| r.reason.is_some()).take(super::SAMPLES).collect::<Vec<_>>(),
    })
}

/// `indexer resync`: re-reads the named items; upserts them or deletes their vanished documents.
pub async fn resync(
    dynamo: &DynamoClient,
    search: &SearchClient,
    target: &Target,
    ids: &[String],
) -> Result<(Value, i32), Error> {
    let info = scan::describe(dynamo, &target.table).await?;
    let keys = parse_ids(ids, &info)?;
    if keys.is_empty() {
        return Err(Error::Input(
            "no ids given: pass --ids a,b,c or --ids-file PATH".into(),
        ));
    }
    let index = live_index(search, &target.alias).await?;
    let report = locked(search, target, JobMode::Resync, &index, async {
        let done = repair(dynamo, search, target, &index, &keys, &[]).await?;
        let message = format!(
            "{} upserted, {} deleted, {} absent, {} failed",
            done.upserted, done.deleted, done.absent, done.failed
        );
        Ok((done, message))
    })
    .await?;
    let code = if report.failed == 0 {
        exit::SUCCESS
    } else {
        exit::FAILURE
    };
    Ok((
        json!({
            "mode": "resync",
            "status": if code == exit::SUCCESS { "succeeded" } else { "failed" },
            "table": target.table.as_str(),
            "alias": target.alias.as_str(),
            "index": index,
            "upserted": report.upserted,
            "deleted": report.deleted,
            "absent": report.absent,
            "failed": report.failed,
            "ids": report.ids,
        }),
        code,
    ))
}

/// `indexer sync`: refreshes the live index in place: writes every changed or missing document,
/// deletes orphans, keeps the alias where it is.
pub async fn sync(
    dynamo: &DynamoClient,
    search: &SearchClient,
    target: &Target,
) -> Result<(Value, i32), Error> {
    let started = Instant::now();
    scan::describe(dynamo, &target.table).await?;
    let index = live_index(search, &target.alias).await?;
    let (drift, repaired) = locked(search, target, JobMode::Sync, &index, async {
        let drift = compare(dynamo, search, target, &index, Fingerprint::Content).await?;
        let upsert = keys_of(&[drift.missing.clone(), drift.stale.clone()].concat());
        let done = repair(dynamo, search, target, &index, &upsert, &drift.extra).await?;
        let message = format!(
            "{} upserted, {} deleted, {} failed",
            done.upserted, done.deleted, done.failed
        );
        Ok(((drift, done), message))
    })
    .await?;
    let code = if repaired.failed == 0 {
        exit::SUCCESS
    } else {
        exit::FAILURE
    };
    Ok((
        json!({
            "mode": "sync",
            "status": if code == exit::SUCCESS { "succeeded" } else { "failed" },
            "table": target.table.as_str(),
            "alias": target.alias.as_str(),
            "index": index,
            "drift": drift_json(&drift),
            "fixed": fix_json(&repaired),
            "seconds": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        }),
        code,
    ))
}
