//! Why a launch was refused or failed, and how Lambda reports it. Each variant has a stable
//! `errorType` that callers (a pipeline step, an alarm, a person at the console) can match on;
//! the message says what to do about it.

use lambda_runtime::Diagnostic;

use crate::config::ConfigError;
use crate::ecs::{EcsError, TaskFailure};
use crate::event::{InvalidEvent, Mode};

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The event breaks a rule; nothing was started.
    #[error(transparent)]
    InvalidEvent(#[from] InvalidEvent),
    /// A task for the same alias is pending or running; nothing was started.
    #[error(
        "a job for alias {alias:?} is already running (startedBy {started_by}): {}; wait for it to finish or stop it",
        .task_arns.join(", ")
    )]
    JobAlreadyRunning {
        alias: String,
        started_by: String,
        task_arns: Vec<String>,
    },
    /// RunTask answered, but started no task.
    #[error("ECS did not start the task: {}", describe(.failures))]
    RunTaskFailed { failures: Vec<TaskFailure> },
    /// An ECS call failed.
    #[error(transparent)]
    Ecs(#[from] EcsError),
    /// A split rebuild: some workers started, then the next failed to start and no later one
    /// was tried. The started workers are left running: once the missing workers' lease runs
    /// out they take over their segments, so the job still completes.
    #[error(
        "worker {worker} of {workers} of job {job_id} did not start ({cause}), so {}. \
         Already started and left running: {}. They will take over the missing workers' segments after the lease (60 s) \
         and finish the job; stop them to cancel it instead",
        missing(*.worker, *.workers),
        .started.join(", ")
    )]
    WorkersPartlyStarted {
        job_id: String,
        workers: u32,
        /// The first worker that did not start.
        worker: u32,
        /// The task ARNs of workers 0 to `worker - 1`.
        started: Vec<String>,
        /// Why it did not start (in the message, so not also a `source`).
        cause: Box<LaunchError>,
    },
    /// The launcher's own environment is incomplete.
    #[error(transparent)]
    Misconfigured(#[from] ConfigError),
    /// `status` or `jobs`: the search cluster could not be reached, refused the request, or its
    /// answer was unusable (e.g. the alias spans several indexes).
    #[error("{mode} of the search cluster {host} failed: {}", chain(.source))]
    Cluster {
        mode: Mode,
        host: String,
        #[source]
        source: indexer_core::error::Error,
    },
}

impl LaunchError {
    /// The stable `errorType` Lambda reports.
    pub fn error_type(&self) -> &'static str {
        match self {
            LaunchError::InvalidEvent(_) => "InvalidEvent",
            LaunchError::JobAlreadyRunning { .. } => "JobAlreadyRunning",
            LaunchError::RunTaskFailed { .. } => "RunTaskFailed",
            LaunchError::Ecs(_) => "EcsError",
            LaunchError::WorkersPartlyStarted { .. } => "WorkersPartlyStarted",
            LaunchError::Misconfigured(_) => "Misconfigured",
            LaunchError::Cluster { .. } => "ClusterError",
        }
    }
}

/// Which workers a partly started job lacks: the one that failed and every later one.
fn missing(first: u32, workers: u32) -> String {
    let last = workers.saturating_sub(1);
    if first >= last {
        format!("worker {first} is missing")
    } else {
        format!("workers {first} to {last} are missing")
    }
}

/// An error and its causes, as `{:#}` prints an `anyhow` chain (a cause already quoted by its
/// parent's message is not repeated).
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

fn describe(failures: &[TaskFailure]) -> String {
    if failures.is_empty() {
        return "it reported neither a task nor a failure".to_owned();
    }
    failures
        .iter()
        .map(|f| {
            format!(
                "{} (arn {}, detail {})",
                f.reason.as_deref().unwrap_or("no reason given"),
                f.arn.as_deref().unwrap_or("none"),
                f.detail.as_deref().unwrap_or("none"),
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<LaunchError> for Diagnostic {
    fn from(error: LaunchError) -> Diagnostic {
        Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }
    }
}
