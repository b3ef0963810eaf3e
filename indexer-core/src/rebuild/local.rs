//! `--workers K` on one machine: K worker processes of one job, started and waited for.

use std::ffi::OsString;
use std::process::Stdio;

use chrono::Utc;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::aliases::physical_name;
use crate::error::Error;
use crate::jobs::session::held_message;
use crate::jobs::store::JobStore;
use crate::rebuild::RebuildPlan;
use crate::sink::client::SearchClient;

use super::validate;
use crate::shutdown::Signals;

/// Runs a K-worker rebuild on this machine: starts K copies of this program as workers of one
/// new job, forwards SIGTERM/SIGINT to them, and reports the job with every worker's part.
/// Returns the report and the exit code (the finisher's, or the first failure's).
pub async fn run_local(
    search: &SearchClient,
    plan: &RebuildPlan,
    args: Vec<OsString>,
) -> Result<(Value, i32), Error> {
    validate(plan)?;
    let store = JobStore::new(search.clone());
    if let Some(lock) = store.lock(plan.alias.as_str(), Utc::now()).await? {
        if !lock.stale {
            let job = store.job(&lock.record.job_id).await?;
            return Err(Error::Locked(held_message(
                plan.alias.as_str(),
                &lock.record,
                job.as_ref(),
            )));
        }
    }
    let job_id = physical_name(&plan.alias, Utc::now());
    let program = std::env::current_exe()
        .map_err(|e| Error::Job(format!("cannot find this program to start workers: {e}")))?;
    // The workers stop cleanly on the signals forwarded to them.
    crate::shutdown::arm_for("the rebuild")?;
    let mut children = Vec::new();
    for worker in 0..plan.workers {
        let mut command = tokio::process::Command::new(&program);
        command
            .args(&args)
            .args(["--job-id", &job_id, "--worker", &worker.to_string()])
            .env("WORKERS", plan.workers.to_string())
            // A group of their own: a Ctrl-C on the terminal reaches this process only, which
            // passes it on once to each worker (else each would get it twice). Stops go down
            // the worker's standard input, a line each; should this process die, the pipe
            // closes and the workers stop too.
            .process_group(0)
            .env(crate::shutdown::STOP_PIPE_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let child = command
            .spawn()
            .map_err(|e| Error::Job(format!("cannot start worker {worker}: {e}")))?;
        tracing::info!(job = %job_id, worker, pid = child.id(), "started worker");
        children.push(child);
    }
    let mut stop_lines: Vec<_> = children.iter_mut().filter_map(|c| c.stdin.take()).collect();
    let pids: Vec<Option<u32>> = children.iter().map(|c| c.id()).collect();
    let waits: Vec<_> = children
        .into_iter()
        .map(|mut child| {
            tokio::spawn(async move {
                let mut out = String::new();
                if let Some(mut stdout) = child.stdout.take() {
                    let _ = stdout.read_to_string(&mut out).await;
                }
                (out, child.wait().await.ok().and_then(|s| s.code()))
            })
        })
        .collect();
    let all = async move {
        let mut results = Vec::with_capacity(waits.len());
        for wait in waits {
            results.push(wait.await.unwrap_or_default());
        }
        results
    };
    tokio::pin!(all);
    let mut signals = Signals::new();
    let mut forwarded = 0u32;
    let results = loop {
        tokio::select! {
            results = &mut all => break results,
            _ = signals.recv() => {
                forwarded += 1;
                for line in &mut stop_lines {
                    // A worker that already ended has closed its end: nothing to tell it.
                    let _ = line.write_all(b"stop\n").await;
                    let _ = line.flush().await;
                }
            }
        }
    };
    let mut reports = Vec::new();
    let mut finisher: Option<(Value, i32)> = None;
    let mut first_failure: Option<(Value, i32)> = None;
    for (worker, ((out, code), pid)) in results.into_iter().zip(pids).enumerate() {
        let summary: Value = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
        let mut part = summary
            .get("worker")
            .cloned()
            .unwrap_or_else(|| json!({ "worker": worker, "of": plan.workers, "finisher": false }));
        part["pid"] = json!(pid);
        part["exit_code"] = json!(code);
        if code.is_none() {
            part["killed"] = json!(true);
        }
        reports.push(part);
        let code = code.unwrap_or(1);
        if summary["worker"]["finisher"] == json!(true) {
            finisher = Some((summary, code));
        } else if code != 0 && first_failure.is_none() && !summary.is_null() {
            first_failure = Some((summary, code));
        }
    }
    let (mut value, code) = finisher.or(first_failure).unwrap_or_else(|| {
        if forwarded > 0 {
            (
                json!({ "status": "interrupted", "mode": "rebuild", "job_id": job_id, "warnings": ["stopped by a signal; the workers reported nothing; the next rebuild resumes the job if it had started"] }),
                crate::error::exit::INTERRUPTED,
            )
        } else {
            (
                json!({ "status": "failed", "mode": "rebuild", "job_id": job_id, "error": "no worker reported an outcome" }),
                1,
            )
        }
    });
    if let Some(object) = value.as_object_mut() {
        object.remove("worker");
        object.insert("workers".into(), Value::Array(reports));
    }
    Ok((value, code))
}
