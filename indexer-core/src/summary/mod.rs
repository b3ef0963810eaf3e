//! The one JSON object a run prints on stdout. It also carries CloudWatch metrics ([`emf`]).

pub mod emf;

use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, exit};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Succeeded,
    GateFailed,
    Failed,
    /// Stopped by a signal; checkpoints are saved and the next run resumes.
    Interrupted,
}

/// The machine-readable result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub status: Status,
    pub mode: &'static str,
    pub dry_run: bool,
    pub job_id: Option<String>,
    pub resumed_from: Option<String>,
    pub table: Option<String>,
    pub entity: Option<String>,
    pub alias: Option<String>,
    pub new_index: Option<String>,
    pub previous_index: Option<String>,
    pub scanned: u64,
    /// Items read by this run; less than `scanned` when it resumed from checkpoints.
    pub scanned_this_run: u64,
    pub indexed: u64,
    pub dead_lettered: u64,
    /// The latest of `dead_letter_locations`: this run's if it recorded anything.
    pub dead_letter_path: Option<String>,
    /// Every file or `s3://` prefix holding the job's dead letters, oldest first: those of the
    /// runs it resumed, then this run's.
    pub dead_letter_locations: Vec<String>,
    pub retries: u64,
    /// Read-capacity units the scan consumed, and their rate over the scan.
    pub read_units: f64,
    pub read_units_per_s: f64,
    /// The adaptive bulk concurrency at the end, and the highest it reached.
    pub concurrency: u64,
    pub max_concurrency_reached: u64,
    pub swapped: bool,
    /// `"replayed"` when the table's stream was tailed into the new index during the run (and
    /// after the swap, up to the end), so writes made meanwhile are in it; null otherwise.
    pub stream: Option<&'static str>,
    /// Stream records written to the index (including those a newer copy made moot).
    pub stream_records_applied: u64,
    pub deleted_indexes: Vec<String>,
    pub gate_refusals: Vec<String>,
    /// Attributes the items carry that the entity does not map (schema drift), most common first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmapped_attributes: Vec<crate::source::schema::UnmappedAttribute>,
    /// Things the operator should know, e.g. that writes made during the run may be missing.
    pub warnings: Vec<String>,
    pub seconds: f64,
    pub docs_per_s: f64,
    pub error: Option<String>,
    /// This process's part, when it is one worker of a job split over several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker: Option<WorkerReport>,
    /// Every worker's part, when this process ran the job's workers (`--workers K`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<WorkerReport>,
}

/// One worker's part in a job split over several.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkerReport {
    pub worker: u32,
    pub of: u32,
    /// This worker gated and swapped.
    pub finisher: bool,
    /// Segments it took over from workers that died, and segments taken from it.
    pub stolen: Vec<u32>,
    pub lost: Vec<u32>,
    pub scanned_this_run: u64,
    /// Set by the process that started the worker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

impl Summary {
    /// An empty summary of a run in `mode`; `failed` until the run says otherwise.
    pub fn new(mode: &'static str) -> Summary {
        Summary {
            status: Status::Failed,
            mode,
            dry_run: false,
            job_id: None,
            resumed_from: None,
            table: None,
            entity: None,
            alias: None,
            new_index: None,
            previous_index: None,
            scanned: 0,
            scanned_this_run: 0,
            indexed: 0,
            dead_lettered: 0,
            dead_letter_path: None,
            dead_letter_locations: Vec::new(),
            retries: 0,
            read_units: 0.0,
            read_units_per_s: 0.0,
            concurrency: 0,
            max_concurrency_reached: 0,
            swapped: false,
            stream: None,
            stream_records_applied: 0,
            deleted_indexes: Vec::new(),
            gate_refusals: Vec::new(),
            unmapped_attributes: Vec::new(),
            warnings: Vec::new(),
            seconds: 0.0,
            docs_per_s: 0.0,
            error: None,
            worker: None,
            workers: Vec::new(),
        }
    }

    pub fn failed(mut self, error: &Error) -> Summary {
        self.status = match error {
            Error::Interrupted(_) => Status::Interrupted,
            _ => Status::Failed,
        };
        self.error = Some(format!("{error:#}"));
        self
    }

    /// Names where the job's dead letters are (see [`crate::deadletter::locations`]).
    pub fn set_dead_letters(&mut self, locations: Vec<String>) {
        self.dead_letter_path = locations.last().cloned();
        self.dead_letter_locations = locations;
    }

    pub fn set_elapsed(&mut self, elapsed: Duration) {
        self.seconds = (elapsed.as_secs_f64() * 1000.0).round() / 1000.0;
        self.docs_per_s =
            crate::progress::per_second(self.indexed_this_run(), elapsed.as_secs_f64());
    }

    /// Documents this run indexed: all of them for a fresh run; after a resume, no more than it
    /// read itself (the earlier run's documents are in `indexed` too).
    pub fn indexed_this_run(&self) -> u64 {
        if self.scanned_this_run < self.scanned {
            self.indexed.min(self.scanned_this_run)
        } else {
            self.indexed
        }
    }

    pub fn exit_code(&self, error: Option<&Error>) -> i32 {
        match (self.status, error) {
            (_, Some(error)) => error.exit_code(),
            (Status::Succeeded, None) => exit::SUCCESS,
            (Status::GateFailed, None) => exit::GATE_REFUSED,
            (Status::Failed, None) => exit::FAILURE,
            (Status::Interrupted, None) => exit::INTERRUPTED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_runs_rate_counts_only_its_own_documents() {
        let mut summary = Summary::new("rebuild");
        summary.scanned = 20_960;
        summary.indexed = 20_960;
        summary.scanned_this_run = 9_700;
        summary.set_elapsed(Duration::from_secs(20));
        assert_eq!(summary.docs_per_s, 485.0);
        let mut fresh = Summary::new("rebuild");
        fresh.scanned = 1_000;
        fresh.scanned_this_run = 1_000;
        fresh.indexed = 990;
        fresh.set_elapsed(Duration::from_millis(3_000));
        assert_eq!(fresh.docs_per_s, 330.0);
        assert_eq!(fresh.seconds, 3.0);
        fresh.set_elapsed(Duration::ZERO);
        assert_eq!(fresh.docs_per_s, 0.0);
    }
}
