//! Keeping a live index true to its table: `verify` (and `--fix`), `resync` and `sync`.
//!
//! The comparison: every document of the index is listed (through a point in time where the
//! cluster's version allows, see `listing.rs`) as its id and a **fingerprint**; every item of the
//! table is read with the same segmented Scan as a rebuild, mapped by its entity, and
//! fingerprinted the same way. Both sides go to bucket files by a hash of the id and are compared
//! one bucket at a time (`spill.rs`), so memory does not grow with the index. An item with no document is `missing`, a document with no item is `extra`, and
//! different fingerprints are `stale`. `verify` fingerprints by the entity's `versionNumber` when a
//! document has one (the owning services bump it on every write), else by a hash of the whole
//! document; `sync` always hashes the whole document, so a change of the factory reaches the
//! index too.
//!
//! Before `verify` reports drift, each suspect is read again on both sides (`recheck.rs`), so
//! writes made during the scan are not reported.
//!
//! Repairs go through one routine, also behind `resync`: the named items are read again with a
//! consistent `BatchGetItem` and written through the rebuild's batcher (external versions, so a
//! newer copy is never overwritten); an item no longer in the table has its document deleted.
//! Only the ids of the drift found are kept in memory, never documents.

pub mod commands;
mod compare;
mod fingerprint;
mod listing;
mod recheck;
mod repair;
mod spill;

pub use compare::{Drift, compare};
pub use fingerprint::Fingerprint;
pub use repair::{Outcome, RepairReport, parse_ids, repair};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::entities::Entity;
use crate::jobs::session::Timing;
use crate::sink::retry::RetryPolicy;
use crate::validate::{IndexName, TableName};

/// What a drift command works on.
pub struct Target {
    pub table: TableName,
    pub alias: IndexName,
    pub entity: &'static dyn Entity,
    pub segments: u32,
    pub page_size: u32,
    pub retry: RetryPolicy,
    pub timing: Timing,
    /// How far a writing command got, for its job record should a signal stop it.
    pub tally: Tally,
}

/// Items read and documents written so far by a writing drift command.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    compared: Arc<AtomicU64>,
    reread: Arc<AtomicU64>,
    indexed: Arc<AtomicU64>,
}

impl Tally {
    /// Items the comparison has read from the table so far.
    pub fn compared(&self, count: u64) {
        self.compared.store(count, Ordering::Relaxed);
    }

    /// Items a repair has read again by key so far.
    pub fn reread(&self, count: u64) {
        self.reread.store(count, Ordering::Relaxed);
    }

    /// Documents written or deleted so far.
    pub fn indexed(&self, count: u64) {
        self.indexed.store(count, Ordering::Relaxed);
    }

    /// Items read (by the comparison when there was one, else by key) and documents written.
    pub fn get(&self) -> (u64, u64) {
        let compared = self.compared.load(Ordering::Relaxed);
        let read = if compared > 0 {
            compared
        } else {
            self.reread.load(Ordering::Relaxed)
        };
        (read, self.indexed.load(Ordering::Relaxed))
    }
}

/// Up to this many sample ids are reported per kind of drift.
pub const SAMPLES: usize = 20;

/// Counts and sample ids of one kind of drift.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DriftCount {
    pub count: u64,
    pub sample_ids: Vec<String>,
}

impl DriftCount {
    pub fn of(ids: &[String]) -> DriftCount {
        let mut sample_ids: Vec<String> = ids.iter().take(SAMPLES).cloned().collect();
        sample_ids.sort();
        DriftCount {
            count: ids.len() as u64,
            sample_ids,
        }
    }
}
