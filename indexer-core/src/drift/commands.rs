//! The `verify`, `resync` and `sync` commands.

use std::time::Instant;

use aws_sdk_dynamodb::Client as DynamoClient;
use chrono::Utc;
use serde_json::{Value, json};

use super::compare::{Drift, compare};
use super::fingerprint::Fingerprint;
use super::recheck::{id_keys, recheck};
use super::repair::{RepairReport, parse_ids, repair};
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
        "listing": drift.listing.map(|l| l.name()),
        "unmapped_attributes": drift.unmapped.to_json(),
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

/// How a writing drift command ends its job record: its closing message and counts.
struct Closing {
    message: String,
    /// Items read from the table (compared, or re-read by id).
    scanned: u64,
    /// Documents written or deleted.
    indexed: u64,
}

/// Runs `work` under the alias's lock, recording it as a job of `mode`.
async fn locked<T>(
    search: &SearchClient,
    target: &Target,
    mode: JobMode,
    index: &str,
    work: impl std::future::Future<Output = Result<(T, Closing), Error>>,
) -> Result<T, Error> {
    crate::shutdown::arm_for(&mode.to_string())?;
    let session = Session::begin(
        JobStore::new(search.clone()),
        record(target, mode, index),
        target.timing,
    )
    .await?;
    let mut signals = crate::shutdown::Signals::new();
    let worked = tokio::select! {
        worked = work => worked,
        _ = signals.recv() => {
            let message = format!(
                "{mode} stopped by a signal; the changes it made so far stay (each is a whole document); run it again to finish"
            );
            let (scanned, indexed) = target.tally.get();
            if let Err(end) = session
                .end(JobStatus::Interrupted, |job| {
                    job.message = Some(message.clone());
                    job.scanned = scanned;
                    job.indexed = indexed;
                })
                .await
            {
                tracing::error!(error = %end, "cannot record the interrupted job");
            }
            return Err(Error::Interrupted(message));
        }
    };
    match worked {
        Ok((value, closing)) => {
            session
                .end(JobStatus::Succeeded, |job| {
                    job.message = Some(closing.message);
                    job.scanned = closing.scanned;
                    job.indexed = closing.indexed;
                })
                .await?;
            Ok(value)
        }
        Err(error) => {
            let message = format!("{error:#}");
            let (scanned, indexed) = target.tally.get();
            if let Err(end) = session
                .end(JobStatus::Failed, |job| {
                    job.message = Some(message.clone());
                    job.scanned = scanned;
                    job.indexed = indexed;
                })
                .await
            {
                tracing::error!(error = %end, "cannot record the failed job");
            }
            Err(error)
        }
    }
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
    let key = info
        .key_attributes
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let keyed_by_id = key == "id";
    let listed = compare(dynamo, search, target, &index, Fingerprint::Version).await?;
    let suspects = listed.changes();
    // Suspects are read again by their `id`; a table keyed otherwise reports them unchecked.
    let (drift, recheck_json) = if keyed_by_id {
        let (drift, cleared) =
            recheck(dynamo, search, target, &index, Fingerprint::Version, listed).await?;
        let json = json!({ "suspects": suspects, "cleared": cleared });
        (drift, json)
    } else {
        let json = json!({ "suspects": suspects, "skipped": format!("the table is keyed by {key}, not by id alone") });
        (listed, json)
    };
    let changes = drift.changes();
    let mut report = json!({
        "mode": "verify",
        "table": target.table.as_str(),
        "entity": target.entity.name(),
        "alias": target.alias.as_str(),
        "index": index,
        "drift": drift_json(&drift),
        "recheck": recheck_json,
        "changes": changes,
    });
    if !keyed_by_id && options.fix {
        return Err(Error::Input(format!(
            "--fix re-reads items by their `id` alone; table {} is keyed by {key}",
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
            report["in_sync"] = json!(false);
            report["error"] = json!(format!(
                "--fix would change {changes} documents, more than --max-changes {}; nothing was changed. Check the samples, then pass --max-changes {changes} or --force",
                options.max_changes
            ));
            report["seconds"] = json!(started.elapsed().as_secs_f64());
            return Ok((report, exit::DRIFT));
        }
        if options.dry_run {
            report["status"] = json!("planned");
            report["in_sync"] = json!(false);
            report["plan"] = json!({ "upsert": drift.missing.len() + drift.stale.len(), "delete": drift.extra.len() });
            report["seconds"] = json!(started.elapsed().as_secs_f64());
            return Ok((report, code));
        }
        let keys = id_keys(&[&drift.missing[..], &drift.stale, &drift.extra].concat());
        let repaired = locked(search, target, JobMode::VerifyFix, &index, async {
            let done = repair(dynamo, search, target, &index, &keys).await?;
            let closing = Closing {
                message: format!(
                    "fixed: {} upserted, {} deleted, {} failed",
                    done.upserted, done.deleted, done.failed
                ),
                scanned: drift.scanned,
                indexed: done.upserted + done.deleted,
            };
            Ok((done, closing))
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
        (0, _) => "in_sync",
        (_, c) if c == exit::SUCCESS => "fixed",
        (_, c) if c == exit::DRIFT => "drift",
        _ => "failed",
    });
    report["in_sync"] = json!(code == exit::SUCCESS);
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
        let done = repair(dynamo, search, target, &index, &keys).await?;
        let closing = Closing {
            message: format!(
                "{} upserted, {} deleted, {} absent, {} failed",
                done.upserted, done.deleted, done.absent, done.failed
            ),
            scanned: keys.len() as u64,
            indexed: done.upserted + done.deleted,
        };
        Ok((done, closing))
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
    let info = scan::describe(dynamo, &target.table).await?;
    let key: Vec<&str> = info
        .key_attributes
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    if key != ["id"] {
        return Err(Error::Input(format!(
            "sync re-reads items by their `id` alone; table {} is keyed by {}",
            target.table,
            key.join(", ")
        )));
    }
    let index = live_index(search, &target.alias).await?;
    let (drift, repaired) = locked(search, target, JobMode::Sync, &index, async {
        let drift = compare(dynamo, search, target, &index, Fingerprint::Content).await?;
        let keys = id_keys(&[&drift.missing[..], &drift.stale, &drift.extra].concat());
        let done = repair(dynamo, search, target, &index, &keys).await?;
        let closing = Closing {
            message: format!(
                "{} upserted, {} deleted, {} failed",
                done.upserted, done.deleted, done.failed
            ),
            scanned: drift.scanned,
            indexed: done.upserted + done.deleted,
        };
        Ok(((drift, done), closing))
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

/// `verify`'s report for a person: the verdict first, then what differs and what to do.
pub fn verify_text(report: &Value) -> String {
    use crate::progress::{count, plural};
    let text = |key: &str| report[key].as_str().unwrap_or("-").to_owned();
    let number = |pointer: &str| report.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
    let (alias, table, index) = (text("alias"), text("table"), text("index"));
    let compared = format!(
        "compared {} with {} of {index}",
        plural(number("/drift/scanned"), "item", "items"),
        plural(number("/drift/documents"), "document", "documents")
    );
    let kinds = ["missing", "extra", "stale", "unmappable"];
    let counts: Vec<String> = kinds
        .iter()
        .filter(|kind| number(&format!("/drift/{kind}/count")) > 0)
        .map(|kind| format!("{} {kind}", count(number(&format!("/drift/{kind}/count")))))
        .collect();
    let mut out = match report["status"].as_str().unwrap_or_default() {
        "in_sync" => vec![format!("{alias} is in sync with table {table}: {compared}")],
        "fixed" => vec![format!(
            "{alias} is in sync with table {table} again: {} upserted, {} deleted ({compared})",
            number("/fixed/upserted"),
            number("/fixed/deleted")
        )],
        "planned" => vec![format!(
            "{alias} differs from table {table} ({}); --fix would upsert {} and delete {}; nothing was changed (--dry-run)",
            counts.join(", "),
            number("/plan/upsert"),
            number("/plan/delete")
        )],
        "refused" => vec![
            format!(
                "{alias} differs from table {table} ({}); nothing was changed",
                counts.join(", ")
            ),
            text("error"),
        ],
        "failed" => vec![format!(
            "{alias} could not be fully repaired: {} documents failed ({compared})",
            number("/fixed/failed")
        )],
        _ => vec![format!(
            "{alias} DIFFERS from table {table}: {}",
            counts.join(", ")
        )],
    };
    let unmapped: Vec<String> = report
        .pointer("/drift/unmapped_attributes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|row| {
            let ids: Vec<&str> = row["sample_ids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            format!(
                "{} ({}, e.g. {})",
                row["name"].as_str().unwrap_or_default(),
                plural(row["count"].as_u64().unwrap_or(0), "item", "items"),
                ids.join(", ")
            )
        })
        .collect();
    if !unmapped.is_empty() {
        out.push(format!(
            "  attributes the entity does not map: {}",
            unmapped.join("; ")
        ));
    }
    if !matches!(report["status"].as_str(), Some("in_sync" | "fixed")) {
        out.push(format!("  {compared}"));
        for kind in kinds {
            let samples: Vec<&str> = report
                .pointer(&format!("/drift/{kind}/sample_ids"))
                .and_then(Value::as_array)
                .map(|ids| ids.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if !samples.is_empty() {
                out.push(format!("  {kind:<10} {}", samples.join(", ")));
            }
        }
        if report["status"] == "drift" {
            out.push(format!(
                "  repair: indexer verify --table {table} --index {alias} --fix"
            ));
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: &str, missing: &[&str], extra: &[&str]) -> Value {
        let drift = Drift {
            missing: missing.iter().map(|s| (*s).to_owned()).collect(),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            scanned: 2_000,
            documents: 1_999,
            ..Drift::default()
        };
        json!({
            "mode": "verify", "table": "Persons", "alias": "persons",
            "index": "persons-20261130t010000000z", "drift": drift_json(&drift),
            "changes": drift.changes(), "status": status, "in_sync": status == "in_sync",
            "fixed": {"upserted": 2, "deleted": 1, "absent": 0, "failed": 0},
        })
    }

    #[test]
    fn verify_reads_as_a_verdict() {
        insta::assert_snapshot!(verify_text(&report("in_sync", &[], &[])), @"persons is in sync with table Persons: compared 2,000 items with 1,999 documents of persons-20261130t010000000z");
        insta::assert_snapshot!(verify_text(&report("drift", &["p-17", "p-4"], &["p-99"])), @r"
        persons DIFFERS from table Persons: 2 missing, 1 extra
          compared 2,000 items with 1,999 documents of persons-20261130t010000000z
          missing    p-17, p-4
          extra      p-99
          repair: indexer verify --table Persons --index persons --fix
        ");
        let mut with_new_field = report("in_sync", &[], &[]);
        with_new_field["drift"]["unmapped_attributes"] =
            json!([{"name": "loyaltyTier", "count": 1200, "sample_ids": ["p-1", "p-2", "p-3"]}]);
        insta::assert_snapshot!(verify_text(&with_new_field), @r"
        persons is in sync with table Persons: compared 2,000 items with 1,999 documents of persons-20261130t010000000z
          attributes the entity does not map: loyaltyTier (1,200 items, e.g. p-1, p-2, p-3)
        ");
        insta::assert_snapshot!(verify_text(&report("fixed", &["p-17", "p-4"], &["p-99"])), @"persons is in sync with table Persons again: 2 upserted, 1 deleted (compared 2,000 items with 1,999 documents of persons-20261130t010000000z)");
    }
}
