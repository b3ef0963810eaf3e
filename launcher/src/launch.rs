//! The handler: event → validated request → one ECS task (or K, for a rebuild split over K
//! workers) → the answer; or, for `status` and `jobs`, the cluster's answer at once
//! ([`crate::report`]).
//!
//! Every mode that changes something runs as a task, the way the CLI runs it: the container's
//! command is the worker's subcommand with its flags (`abandon --job=… --keep-index`,
//! `verify --fix`), and its settings travel as the environment variables the CLI reads.
//!
//! One job per alias: before starting a task the launcher lists the tasks that this alias's
//! `startedBy` marks as pending or running, and refuses while there is one. That check is a
//! courtesy with a race window (two launches in the same second can both pass it); the guarantee
//! is the worker's own lock on the alias, which makes the second task exit with code 4 before it
//! writes anything. `abandon` skips the check: it exists to end a job whose tasks may still run
//! (hung), and takes no lock.
//!
//! A split rebuild is K tasks with the same `startedBy`, told the same `JOB_ID` (the name of the
//! physical index they build together), `WORKERS=K` and each its own `WORKER`. They are started
//! one by one; if one fails to start, no later one is tried and those already running are left
//! alone: the worker's own coordination hands the missing workers' segments to them once their
//! lease runs out, so the job completes with fewer workers. The error names the started tasks so
//! an operator can stop them instead.

use std::time::SystemTime;

use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;

use crate::config::{ConfigError, LauncherConfig};
use crate::ecs::{Capacity, Ecs, TaskSpec};
use crate::error::LaunchError;
use crate::event::{Mode, Request};
use crate::report::{self, Report};
use crate::tuning::Tuning;
use indexer_core::aliases::physical_name;
use indexer_core::validate::IndexName;

/// The start of every `startedBy` the launcher sets.
pub const STARTED_BY_PREFIX: &str = "indexer-";

/// ECS allows 36 characters in `startedBy`: letters, digits, `-` and `_`.
const STARTED_BY_MAX: usize = 36;

/// What an invocation answers: the tasks it started, or the report it read.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Reply {
    Started(Box<Answer>),
    Report(Report),
}

impl Reply {
    /// The launch's answer, if tasks were started.
    pub fn started(self) -> Option<Answer> {
        match self {
            Reply::Started(answer) => Some(*answer),
            Reply::Report(_) => None,
        }
    }
}

/// The answer to a successful launch.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    /// One worker: the ECS task id (the last part of its ARN, and of its log stream). Several:
    /// the job id they share, which is also the name of the index they build.
    pub job_id: String,
    /// How many worker tasks were started.
    pub workers: u32,
    /// Every started task, worker 0 first.
    pub task_arns: Vec<String>,
    pub cluster: String,
    /// Where the workers' progress lines and final summaries appear (CloudWatch Logs).
    pub log_group: String,
    /// The first task's log stream (worker 0's).
    pub log_stream: String,
    /// Every task's log stream, in the order of `task_arns`.
    pub log_streams: Vec<String>,
    pub alias: String,
    /// Absent for modes that do not read the table (abandon, rollback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    pub mode: Mode,
    pub dry_run: bool,
    /// Marks this alias's tasks: `aws ecs list-tasks --started-by` finds them.
    pub started_by: String,
    /// A rebuild's tuning as the task received it (the event's over the environment's
    /// defaults); absent when the worker's own defaults apply.
    #[serde(skip_serializing_if = "Tuning::is_empty")]
    pub tuning: Tuning,
}

/// The launcher: its settings (or why they are unusable) and its ECS client. One is built per
/// cold start and shared by every invocation.
#[derive(Debug)]
pub struct Launcher<E> {
    config: Result<LauncherConfig, ConfigError>,
    ecs: E,
}

impl<E: Ecs> Launcher<E> {
    /// A launcher. A configuration error is kept and reported by every invocation as
    /// `Misconfigured`, so a broken deployment answers clearly instead of failing to start.
    pub fn new(config: Result<LauncherConfig, ConfigError>, ecs: E) -> Launcher<E> {
        Launcher { config, ecs }
    }

    /// The Lambda handler.
    #[tracing::instrument(skip_all, fields(request_id = %event.context.request_id))]
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Reply, LaunchError> {
        let result = self.launch(event.payload).await;
        match &result {
            Ok(Reply::Started(answer)) => tracing::info!(
                alias = %answer.alias,
                mode = %answer.mode,
                job_id = %answer.job_id,
                workers = answer.workers,
                log_stream = %answer.log_stream,
                "worker task started"
            ),
            Ok(Reply::Report(report)) => tracing::info!(
                alias = %report.alias,
                mode = %report.mode,
                "report answered"
            ),
            Err(error) => tracing::warn!(
                error_type = error.error_type(),
                error = %error,
                "launch refused"
            ),
        }
        result
    }

    /// Validates the event, then answers it or starts the worker (or workers).
    pub async fn launch(&self, event: Value) -> Result<Reply, LaunchError> {
        let config = self.config.as_ref().map_err(Clone::clone)?;
        let request = Request::from_event(event, &config.rules)?;
        if !request.mode.runs_task() {
            return report::answer(&request).await.map(Reply::Report);
        }
        let spec = task_spec(config, &request);

        // Abandon and rollback are the emergency actions: a hung task (RUNNING, no longer
        // heartbeating) must not block them. The worker's lock on the alias is the real guard.
        if !matches!(request.mode, Mode::Abandon | Mode::Rollback) {
            let running = self
                .ecs
                .active_tasks(&config.cluster, &spec.started_by)
                .await?;
            if !running.is_empty() {
                return Err(LaunchError::JobAlreadyRunning {
                    alias: request.alias.to_string(),
                    started_by: spec.started_by,
                    task_arns: running,
                });
            }
        }

        let workers = request.workers.unwrap_or(1);
        let (job_id, task_arns) = if workers == 1 {
            let task_arn = self.start(&spec).await?;
            (task_id(&task_arn).to_owned(), vec![task_arn])
        } else {
            let job_id = physical_name(&request.alias, SystemTime::now().into());
            let task_arns = self.start_workers(&spec, workers, &job_id).await?;
            (job_id, task_arns)
        };
        let log_streams: Vec<String> = task_arns
            .iter()
            .map(|arn| log_stream(config, arn))
            .collect();
        Ok(Reply::Started(Box::new(Answer {
            job_id,
            workers,
            log_stream: log_streams.first().cloned().unwrap_or_default(),
            log_streams,
            task_arns,
            cluster: config.cluster.clone(),
            log_group: config.log_group.clone(),
            alias: request.alias.to_string(),
            table: request.table.as_ref().map(ToString::to_string),
            mode: request.mode,
            dry_run: request.dry_run.unwrap_or(false),
            started_by: spec.started_by,
            tuning: request.tuning,
        })))
    }

    /// Starts worker 0 to `workers - 1` of job `job_id`, in order, and returns their task ARNs.
    /// Stops at the first that fails; see the module doc for why the started ones keep running.
    async fn start_workers(
        &self,
        spec: &TaskSpec,
        workers: u32,
        job_id: &str,
    ) -> Result<Vec<String>, LaunchError> {
        let mut started = Vec::new();
        for worker in 0..workers {
            match self
                .start(&worker_spec(spec, workers, job_id, worker))
                .await
            {
                Ok(task_arn) => {
                    tracing::info!(job_id, worker, task_arn, "one worker of the job started");
                    started.push(task_arn);
                }
                Err(cause) if started.is_empty() => return Err(cause),
                Err(cause) => {
                    return Err(LaunchError::WorkersPartlyStarted {
                        job_id: job_id.to_owned(),
                        workers,
                        worker,
                        started,
                        cause: Box::new(cause),
                    });
                }
            }
        }
        Ok(started)
    }

    /// Starts one task and returns its ARN.
    async fn start(&self, spec: &TaskSpec) -> Result<String, LaunchError> {
        let started = self.ecs.run_task(spec).await?;
        let Some(task_arn) = started.task_arns.first().cloned() else {
            return Err(LaunchError::RunTaskFailed {
                failures: started.failures,
            });
        };
        if !started.failures.is_empty() {
            tracing::warn!(failures = ?started.failures, "task started, but ECS also reported failures");
        }
        Ok(task_arn)
    }
}

/// Where ECS's awslogs driver writes a task's output.
fn log_stream(config: &LauncherConfig, task_arn: &str) -> String {
    format!(
        "{}/{}/{}",
        config.log_stream_prefix,
        config.container_name,
        task_id(task_arn)
    )
}

/// Worker `worker` of a job split over `workers` tasks: the job's task with the variables that
/// tell the worker which part is its own.
pub fn worker_spec(spec: &TaskSpec, workers: u32, job_id: &str, worker: u32) -> TaskSpec {
    let mut spec = spec.clone();
    spec.environment.extend([
        ("WORKERS".to_owned(), workers.to_string()),
        ("JOB_ID".to_owned(), job_id.to_owned()),
        ("WORKER".to_owned(), worker.to_string()),
    ]);
    spec
}

/// The task that carries out `request`: the worker's subcommand (with the flags an operator
/// mode needs) as the command, and its settings as the container environment the worker's CLI
/// reads.
pub fn task_spec(config: &LauncherConfig, request: &Request) -> TaskSpec {
    let mut environment = Vec::new();
    if let Some(table) = &request.table {
        environment.push(("DYNAMO_TABLE".to_owned(), table.to_string()));
    }
    environment.extend([
        ("INDEX_NODE_HOST".to_owned(), request.host.to_string()),
        ("INDEX_NAME".to_owned(), request.alias.to_string()),
        ("MODE".to_owned(), request.mode.as_str().to_owned()),
    ]);
    if let Some(segments) = request.segments {
        environment.push(("SEGMENTS".to_owned(), segments.to_string()));
    }
    if let Some(dry_run) = request.dry_run {
        environment.push(("DRY_RUN".to_owned(), dry_run.to_string()));
    }
    if !request.ids.is_empty() {
        environment.push(("IDS".to_owned(), request.ids.join(",")));
    }
    environment.extend(request.tuning.environment());
    if let Some(max_changes) = request.max_changes {
        environment.push(("MAX_CHANGES".to_owned(), max_changes.to_string()));
    }
    let capacity = if config.rebuilds_on_spot && request.mode == Mode::Rebuild {
        Capacity::FargateSpot
    } else {
        Capacity::Fargate
    };
    TaskSpec {
        cluster: config.cluster.clone(),
        task_definition: config.task_definition.clone(),
        container_name: config.container_name.clone(),
        subnets: config.subnets.clone(),
        security_groups: config.security_groups.clone(),
        assign_public_ip: config.assign_public_ip,
        started_by: started_by(&request.alias),
        command: command(request),
        environment,
        capacity,
    }
}

/// The worker's command line after `indexer`: the subcommand and the flags that have no
/// environment variable. A job id is passed as `--job=<id>`, one argument, so it can never be
/// read as another flag.
fn command(request: &Request) -> Vec<String> {
    let mut command = vec![request.mode.as_str().to_owned()];
    if let Some(job_id) = &request.job_id {
        command.push(format!("--job={job_id}"));
    }
    if request.keep_index {
        command.push("--keep-index".to_owned());
    }
    if request.fix {
        command.push("--fix".to_owned());
    }
    command
}

/// The `startedBy` that marks an alias's tasks: `indexer-<alias>` when that fits ECS's rules,
/// else a readable prefix of the alias and a hash of all of it. The same alias always gives the
/// same value, and different aliases different ones.
pub fn started_by(alias: &IndexName) -> String {
    let alias = alias.as_str();
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if alias.chars().all(allowed) && STARTED_BY_PREFIX.len() + alias.len() <= STARTED_BY_MAX {
        return format!("{STARTED_BY_PREFIX}{alias}");
    }
    let hash = format!("{:016x}", fnv1a(alias.as_bytes()));
    let hash = &hash[..10];
    let room = STARTED_BY_MAX - STARTED_BY_PREFIX.len() - 1 - hash.len();
    let readable: String = alias
        .chars()
        .map(|c| if allowed(c) { c } else { '_' })
        .take(room)
        .collect();
    format!("{STARTED_BY_PREFIX}{readable}-{hash}")
}

/// 64-bit FNV-1a: small, stable across releases and platforms (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The task id: the last part of a task ARN (old and new ARN formats alike).
pub fn task_id(task_arn: &str) -> &str {
    task_arn.rsplit('/').next().unwrap_or(task_arn)
}

#[cfg(test)]
mod tests;
