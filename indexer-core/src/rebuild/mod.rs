//! Rebuild: a blue/green reload of an alias from its table, with zero downtime.
//!
//! Readers always query the alias. A rebuild never writes into the index they read: it creates a
//! fresh physical index `<alias>-<UTC timestamp>` with the entity's explicit mapping and build
//! settings (no refresh, no replicas), loads every item into it, restores the live settings and
//! refreshes, and then asks the **gate** whether the new index is fit to serve:
//!
//! - every scanned item is accounted for: `indexed + dead_lettered = scanned`;
//! - the cluster holds exactly the documents it acknowledged: `count(new) = indexed`;
//! - no more than `--max-errors` items were dead-lettered;
//! - the new index is not suspiciously small: `count(new) ≥ min_ratio × count(live)`, which
//!   protects against a truncated or wrong source table.
//!
//! Only when the gate passes does one atomic `_aliases` call move the alias — and every other
//! alias on the old index, with its filter, routing and write flag — to the new index. Readers see
//! the old documents until that instant and the new ones after it. If the alias name is still a
//! concrete index (the original tool's layout), the same call deletes that index and creates the
//! alias: a one-time, atomic migration. Afterwards the index just replaced, and up to `--keep`
//! previous physical indexes in all, are kept for rollback; older ones are deleted. When the gate
//! refuses, the alias is untouched and the new index is kept for inspection.
//!
//! A rebuild holds its alias's lock for its whole run and records itself as a job (see
//! [`crate::jobs`]); it resumes an interrupted or hung predecessor into the same building index
//! from its checkpoints, and stops cleanly on SIGTERM/SIGINT, saving checkpoints.
//!
//! The layers, each calling only down:
//! - [`crate::aliases`]: physical names, what an alias points at, the swap's actions, retention;
//! - `phases`: the steps of a run, each once — resume-or-create, stream tail, drain, finish
//!   (restore settings, refresh, gate, fenced swap, retire) — on one run context;
//! - `job`: one worker's conditional writes of its job record and the lock (heartbeat, fence,
//!   the job's end), below both the worker's loop and the finish;
//! - `setup`, `worker`, `finish`: one job's state machine, shared by every worker of it; `driver` runs this
//!   process as one worker (a single-process rebuild is worker 0 of 1), `local` starts K worker
//!   processes on this machine, and `dry_run` reads without writing.

mod driver;
mod dry_run;
mod finish;
mod job;
#[cfg(test)]
mod job_tests;
mod local;
mod origin;
mod phases;
mod setup;
mod worker;

pub use local::run_local;

use std::time::Duration;

use aws_sdk_dynamodb::Client as DynamoClient;
use aws_sdk_dynamodbstreams::Client as StreamsClient;
use chrono::Utc;
use serde_json::{Value, json};

pub use origin::{Origin, check_origin, guard_entity};

use crate::aliases::{is_physical_of, physical_name};
use crate::error::Error;
use crate::jobs::session::Timing;
use crate::sink::client::SearchClient;
use crate::sink::retry::RetryPolicy;
use crate::summary::Summary;
use crate::validate::{IndexName, TableName};

/// Everything a rebuild needs, validated.
#[derive(Debug, Clone)]
pub struct RebuildPlan {
    pub table: TableName,
    pub alias: IndexName,
    pub entity: &'static str,
    pub segments: u32,
    pub page_size: u32,
    pub batch_bytes: usize,
    pub batch_docs: usize,
    pub concurrency: usize,
    pub max_read_units: Option<f64>,
    pub retry: RetryPolicy,
    pub max_errors: u64,
    pub min_ratio: f64,
    pub keep: usize,
    pub dead_letter: Option<crate::deadletter::Destination>,
    pub dry_run: bool,
    pub progress_interval: Duration,
    /// Discard an interrupted or hung job instead of resuming it.
    pub fresh: bool,
    /// Swap even when the new mapping lacks or changes a live field (see `entities::compat`).
    pub allow_mapping_changes: bool,
    /// Rebuild even though the live index was built from another entity.
    pub allow_entity_change: bool,
    pub timing: Timing,
    /// How long a stop (SIGTERM/SIGINT) may take to drain in-flight work.
    pub stop_timeout: Duration,
    /// How many workers share the job (see `driver`).
    pub workers: u32,
    /// Set when this process is one worker of a job split over several.
    pub worker: Option<WorkerSpec>,
}

/// Which worker of which job this process is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSpec {
    pub job_id: String,
    pub worker: u32,
}

/// The most workers one job may have.
pub const MAX_WORKERS: u32 = 64;

/// Checks the worker settings of a plan.
pub fn validate(plan: &RebuildPlan) -> Result<(), Error> {
    if !(1..=MAX_WORKERS).contains(&plan.workers) {
        return Err(Error::Input(format!(
            "--workers {} is out of range: use 1 to {MAX_WORKERS}",
            plan.workers
        )));
    }
    if plan.workers > plan.segments {
        return Err(Error::Input(format!(
            "--workers {} is more than --segments {}: each worker needs a segment of its own; raise --segments",
            plan.workers, plan.segments
        )));
    }
    if let Some(spec) = &plan.worker {
        if spec.worker >= plan.workers {
            return Err(Error::Input(format!(
                "--worker {} is out of range for --workers {}: workers are numbered 0 to {}",
                spec.worker,
                plan.workers,
                plan.workers - 1
            )));
        }
        if !is_physical_of(&plan.alias, &spec.job_id) {
            return Err(Error::Input(format!(
                "--job-id {:?} is not a rebuild of alias {:?}: job ids look like {}",
                spec.job_id,
                plan.alias.as_str(),
                physical_name(&plan.alias, Utc::now())
            )));
        }
    }
    Ok(())
}

/// The gate's inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateInput {
    pub scanned: u64,
    pub indexed: u64,
    pub dead_lettered: u64,
    pub new_count: u64,
    pub live_count: Option<u64>,
    pub max_errors: u64,
    pub min_ratio: f64,
    /// Whether the new index must hold exactly the acknowledged documents. Not while a stream
    /// tail writes into it: its inserts and deletes change the count, and a scanned copy a newer
    /// stream write (or delete) made moot counts as indexed without adding a document. The
    /// other checks still hold.
    pub exact_count: bool,
}

/// Checks the gate; `Err` carries every reason it refuses, in plain words.
pub fn gate(input: &GateInput) -> Result<(), Vec<String>> {
    let mut refusals = Vec::new();
    if input.indexed + input.dead_lettered != input.scanned {
        refusals.push(format!(
            "items unaccounted for: indexed {} + dead-lettered {} != scanned {}",
            input.indexed, input.dead_lettered, input.scanned
        ));
    }
    if input.exact_count && input.new_count != input.indexed {
        refusals.push(format!(
            "the new index holds {} documents but {} were acknowledged",
            input.new_count, input.indexed
        ));
    }
    if input.dead_lettered > input.max_errors {
        refusals.push(format!(
            "{} dead-lettered, more than --max-errors {}",
            crate::progress::plural(input.dead_lettered, "item was", "items were"),
            input.max_errors
        ));
    }
    if let Some(live) = input.live_count {
        let floor = (input.min_ratio * live as f64).ceil() as u64;
        if input.new_count < floor {
            refusals.push(format!(
                "the new index holds {} documents, fewer than --min-ratio {} x {} live documents = {}",
                input.new_count, input.min_ratio, live, floor
            ));
        }
    }
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(refusals)
    }
}

/// The index definition with build settings: no refresh and no replicas while loading.
pub fn build_definition(definition: &Value, origin: &Origin) -> Value {
    let mut definition = definition.clone();
    if definition["mappings"].is_object() {
        definition["mappings"]["_meta"] = json!({
            "entity": origin.entity,
            "table": origin.table,
            "built_by": "indexer",
        });
    }
    let settings = &mut definition["settings"];
    if !settings.is_object() {
        *settings = json!({});
    }
    settings["refresh_interval"] = json!("-1");
    settings["number_of_replicas"] = json!(0);
    settings["gc_deletes"] = json!(BUILD_GC_DELETES);
    definition
}

/// How long the index keeps a delete's tombstone: a scanned copy of an item the stream deleted
/// may reach the index long after the delete (retries, a slow cluster, a resumed run), and so may
/// a stream record replayed by a second tail or a resumed one, and each must still find the
/// tombstone that makes it moot. Kept once the index is live: the tails of a split job may still
/// write after the swap, and the cluster's default (60 s) would let such a late copy bring a
/// deleted document back. A tombstone costs the cluster a little memory per delete.
pub const BUILD_GC_DELETES: &str = "48h";

/// The settings to restore once loaded: the entity's live refresh interval, the replica count
/// of the index being replaced when there is one (an operator may have tuned it). The tombstone
/// lifetime stays at [`BUILD_GC_DELETES`].
pub fn live_settings(definition: &Value, previous_replicas: Option<u64>) -> Value {
    let settings = &definition["settings"];
    let refresh = settings
        .get("refresh_interval")
        .cloned()
        .unwrap_or(json!("1s"));
    let replicas = previous_replicas
        .map(Value::from)
        .or_else(|| settings.get("number_of_replicas").cloned())
        .unwrap_or(json!(1));
    json!({ "refresh_interval": refresh, "number_of_replicas": replicas })
}

/// Runs a rebuild and returns its summary.
///
/// A dry run reads, maps and encodes without writing or taking a job. Every other rebuild is a
/// job run by one driver: a single process is worker 0 of a job of one worker, so a rebuild goes
/// through the same state machine (setup, load, finish) however many workers share it. Errors
/// before anything is written are returned as `Err`; later failures are reported in the summary
/// with status `failed`.
pub async fn rebuild(
    dynamo: DynamoClient,
    streams: StreamsClient,
    search: Option<SearchClient>,
    plan: RebuildPlan,
) -> Result<Summary, Error> {
    match search {
        Some(search) if !plan.dry_run => {
            let spec = match plan.worker.clone() {
                Some(spec) => spec,
                None => WorkerSpec {
                    job_id: physical_name(&plan.alias, Utc::now()),
                    worker: 0,
                },
            };
            driver::work(dynamo, streams, search, plan, spec).await
        }
        Some(search) => {
            // A dry run given a host answers whether the real run would be refused.
            guard_entity(
                &search,
                &plan,
                &crate::aliases::inspect(&search, &plan.alias).await?,
            )
            .await?;
            dry_run::dry_run(dynamo, plan).await
        }
        None => dry_run::dry_run(dynamo, plan).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> GateInput {
        GateInput {
            scanned: 100,
            indexed: 100,
            dead_lettered: 0,
            new_count: 100,
            live_count: Some(100),
            max_errors: 0,
            min_ratio: 0.9,
            exact_count: true,
        }
    }

    #[test]
    fn the_gate_passes_a_complete_build() {
        assert_eq!(gate(&input()), Ok(()));
        assert_eq!(
            gate(&GateInput {
                live_count: None,
                ..input()
            }),
            Ok(())
        );
    }

    #[test]
    fn the_gate_refuses_lost_items_errors_and_a_shrunken_index() {
        let lost = gate(&GateInput {
            indexed: 99,
            new_count: 99,
            ..input()
        })
        .expect_err("lost one");
        assert!(lost[0].contains("unaccounted"), "{lost:?}");
        let errors = gate(&GateInput {
            indexed: 98,
            dead_lettered: 2,
            new_count: 98,
            ..input()
        })
        .expect_err("errors");
        assert!(errors[0].contains("--max-errors 0"), "{errors:?}");
        assert_eq!(
            gate(&GateInput {
                indexed: 98,
                dead_lettered: 2,
                new_count: 98,
                max_errors: 2,
                ..input()
            }),
            Ok(())
        );
        let small = gate(&GateInput {
            scanned: 50,
            indexed: 50,
            new_count: 50,
            ..input()
        })
        .expect_err("truncated");
        assert!(
            small[0].contains("fewer than --min-ratio 0.9 x 100 live documents = 90"),
            "{small:?}"
        );
        let missing = gate(&GateInput {
            new_count: 97,
            ..input()
        })
        .expect_err("not all visible");
        assert!(
            missing[0].contains("holds 97 documents but 100 were acknowledged"),
            "{missing:?}"
        );
        // With a stream tail writing into the index, the count follows the table, not the scan.
        assert_eq!(
            gate(&GateInput {
                new_count: 97,
                exact_count: false,
                ..input()
            }),
            Ok(())
        );
        assert!(
            gate(&GateInput {
                indexed: 99,
                new_count: 97,
                exact_count: false,
                ..input()
            })
            .is_err(),
            "every item must still be accounted for"
        );
    }

    #[test]
    fn an_index_says_what_it_was_built_from_and_another_entity_is_refused() {
        let definition =
            json!({"settings": {}, "mappings": {"dynamic": "strict", "properties": {}}});
        let origin = Origin {
            entity: "persons".into(),
            table: "Persons".into(),
        };
        let built = build_definition(&definition, &origin);
        assert_eq!(Origin::of_mapping(&built["mappings"]), Some(origin.clone()));
        assert_eq!(Origin::of_mapping(&json!({"properties": {}})), None);
        let plan = |entity: &'static str, allow: bool| RebuildPlan {
            table: TableName::try_from("TenureInformation").expect("valid"),
            alias: IndexName::try_from("tenures").expect("valid"),
            entity,
            segments: 1,
            page_size: 1,
            batch_bytes: 1,
            batch_docs: 1,
            concurrency: 1,
            max_read_units: None,
            retry: RetryPolicy::default(),
            max_errors: 0,
            min_ratio: 0.9,
            keep: 1,
            dead_letter: None,
            dry_run: false,
            progress_interval: Duration::from_secs(1),
            fresh: false,
            allow_mapping_changes: false,
            allow_entity_change: allow,
            timing: Timing {
                lease: Duration::from_secs(60),
                heartbeat: Duration::from_secs(10),
            },
            stop_timeout: Duration::from_secs(1),
            workers: 1,
            worker: None,
        };
        let live = Some(("tenures-1", origin.clone()));
        assert!(check_origin(&plan("persons", false), live.clone()).is_ok());
        let refused = check_origin(&plan("tenures", false), live.clone()).expect_err("refused");
        let message = refused.to_string();
        assert!(
            message.contains("serves persons documents") && message.contains("tenures documents"),
            "{message}"
        );
        assert_eq!(refused.exit_code(), 2);
        assert!(check_origin(&plan("tenures", true), live).is_ok());
        assert!(check_origin(&plan("tenures", false), None).is_ok());
    }

    #[test]
    fn build_settings_disable_refresh_and_replicas_and_live_settings_restore_them() {
        let definition = json!({"settings": {"number_of_shards": 1, "number_of_replicas": 2, "refresh_interval": "5s"}, "mappings": {}});
        let origin = Origin {
            entity: "persons".into(),
            table: "Persons".into(),
        };
        let build = build_definition(&definition, &origin);
        assert_eq!(build["settings"]["refresh_interval"], "-1");
        assert_eq!(build["settings"]["number_of_replicas"], 0);
        assert_eq!(build["settings"]["number_of_shards"], 1);
        assert_eq!(build["settings"]["gc_deletes"], BUILD_GC_DELETES);
        assert_eq!(
            live_settings(&definition, None),
            json!({"refresh_interval": "5s", "number_of_replicas": 2})
        );
        assert_eq!(
            live_settings(&definition, Some(3)),
            json!({"refresh_interval": "5s", "number_of_replicas": 3})
        );
    }
}
