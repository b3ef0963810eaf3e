//! What a follower does: its table, alias, entity and the settings of its run.

use std::time::Duration;

use crate::deadletter::Destination;
use crate::jobs::session::Timing;
use crate::sink::retry::RetryPolicy;
use crate::validate::{IndexName, TableName};

/// What a follower does.
#[derive(Debug, Clone)]
pub struct FollowPlan {
    pub table: TableName,
    pub alias: IndexName,
    pub entity: &'static str,
    pub retry: RetryPolicy,
    /// The most bulk requests in flight; the adaptive limit moves between 1 and this.
    pub concurrency: usize,
    pub dead_letter: Option<Destination>,
    pub timing: Timing,
    pub stop_timeout: Duration,
    pub progress_interval: Duration,
    /// Scan settings of a full repair.
    pub segments: u32,
    pub page_size: u32,
}
