//! The library's error, and the exit code each kind of failure maps to.

use crate::deadletter::DeadLetterError;
use crate::pipeline::PipelineError;
use crate::sink::client::SinkError;
use crate::source::scan::SourceError;
use crate::validate::Invalid;

/// Exit codes, as documented in the README.
pub mod exit {
    pub const SUCCESS: i32 = 0;
    pub const FAILURE: i32 = 1;
    pub const BAD_INPUT: i32 = 2;
    pub const GATE_REFUSED: i32 = 3;
    pub const LOCKED: i32 = 4;
    pub const INTERRUPTED: i32 = 5;
    pub const DRIFT: i32 = 6;
}

/// A run that could not complete.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: a name, URL, entity or table that does not exist or breaks a rule.
    #[error("{0}")]
    Input(String),
    /// Another run holds the alias's lock.
    #[error("{0}")]
    Locked(String),
    /// This run's lock was taken over while it ran.
    #[error("{0}")]
    LockLost(String),
    /// This run's own job could not go on (its record kept changing): the job is ended `failed`.
    #[error("{0}")]
    Job(String),
    /// The swap's answer was lost and the alias could not be read back: whether the alias moved
    /// is unknown, so the job record is left as the fence wrote it (`swapping`) and the lock
    /// held until its lease ends; `abandon`, or the next rebuild, closes it by where the alias
    /// really points.
    #[error("{0}")]
    SwapUnknown(String),
    /// The job was ended by someone else (another worker's failure, an operator's abandon) or its
    /// record is gone: this worker writes nothing more.
    #[error("{0}")]
    JobEnded(String),
    /// Stopped (exit 5): by a signal, or by a fault the run stopped on with its checkpoints saved
    /// (a stream that could not be tailed), so the next run resumes.
    #[error("{0}")]
    Interrupted(String),
    /// A service the run needs did not answer: one sentence naming where it was and why.
    #[error("cannot reach {service} at {endpoint}: {cause}")]
    Unreachable {
        service: &'static str,
        /// Where it was looked for, without credentials.
        endpoint: String,
        /// The innermost cause in words (`connection refused`, `timed out after 5 s`).
        cause: String,
    },
    /// Temporary files a command needs (verify's bucket files) could not be written or read.
    #[error("temporary files in {dir}: {cause}")]
    TempFiles { dir: String, cause: String },
    #[error(transparent)]
    Source(SourceError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    DeadLetter(#[from] DeadLetterError),
    #[error(transparent)]
    Stream(#[from] crate::source::stream::StreamError),
}

impl From<Invalid> for Error {
    fn from(invalid: Invalid) -> Error {
        Error::Input(invalid.0)
    }
}

impl From<SourceError> for Error {
    fn from(error: SourceError) -> Error {
        match error {
            SourceError::TableNotFound { .. } => Error::Input(error.to_string()),
            other => Error::Source(other),
        }
    }
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) | Error::Sink(SinkError::NotACluster { .. }) => exit::BAD_INPUT,
            Error::Locked(_) => exit::LOCKED,
            Error::Interrupted(_) => exit::INTERRUPTED,
            _ => exit::FAILURE,
        }
    }
}
