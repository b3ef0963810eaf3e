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

mod run;
pub mod workers;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::jobs::session::Timing;
use crate::sink::retry::RetryPolicy;
use crate::validate::{IndexName, TableName};

pub use run::{inspect, rebuild};

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
    pub timing: Timing,
    /// How long a stop (SIGTERM/SIGINT) may take to drain in-flight work.
    pub stop_timeout: Duration,
    /// How many workers share the job (see [`workers`]).
    pub workers: u32,
    /// Set when this process is one worker of a job split over several.
    pub worker: Option<workers::WorkerSpec>,
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
            "{} items were dead-lettered, more than --max-errors {}",
            input.dead_lettered, input.max_errors
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

/// The physical index name for a rebuild started at `at`, to the millisecond; names sort by age.
pub fn physical_name(alias: &IndexName, at: DateTime<Utc>) -> String {
    format!("{}-{}", alias, at.format("%Y%m%dt%H%M%S%3fz"))
}

/// Whether `index` is one of this alias's physical indexes.
pub fn is_physical_of(alias: &IndexName, index: &str) -> bool {
    index
        .strip_prefix(alias.as_str())
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|stamp| {
            let b = stamp.as_bytes();
            b.len() == 19
                && b[8] == b't'
                && b[18] == b'z'
                && b[..8].iter().chain(&b[9..18]).all(u8::is_ascii_digit)
        })
}

/// The index definition with build settings: no refresh and no replicas while loading.
pub fn build_definition(definition: &Value) -> Value {
    let mut definition = definition.clone();
    let settings = &mut definition["settings"];
    if !settings.is_object() {
        *settings = json!({});
    }
    settings["refresh_interval"] = json!("-1");
    settings["number_of_replicas"] = json!(0);
    definition
}

/// The settings to restore once loaded: the entity's live refresh interval, and the replica
/// count of the index being replaced when there is one (an operator may have tuned it).
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

/// Which of an alias's previous physical indexes to delete: `keep` are kept, and the index just
/// replaced (`replaced`) is always among them, since it is what `rollback` returns to.
pub fn to_retire(mut previous: Vec<String>, replaced: Option<&str>, keep: usize) -> Vec<String> {
    previous.sort_unstable_by(|a, b| b.cmp(a));
    let mut kept = 0;
    if let Some(replaced) = replaced.filter(|r| previous.iter().any(|p| p == r)) {
        if keep > 0 {
            kept = 1;
            previous.retain(|p| p != replaced);
        }
    }
    previous
        .into_iter()
        .skip(keep.saturating_sub(kept))
        .collect()
}

/// The single `_aliases` call that swaps `alias` (and its companions) onto `new_index`.
pub fn swap_actions(alias: &str, new_index: &str, previous: &Previous) -> Vec<Value> {
    match previous {
        Previous::None => vec![json!({ "add": { "index": new_index, "alias": alias } })],
        Previous::Legacy => vec![
            json!({ "remove_index": { "index": alias } }),
            json!({ "add": { "index": new_index, "alias": alias } }),
        ],
        Previous::Physical { index, aliases } => {
            let mut actions = Vec::new();
            for (name, props) in aliases {
                actions.push(json!({ "remove": { "index": index, "alias": name } }));
                let mut add = serde_json::to_value(props).unwrap_or_else(|_| json!({}));
                add["index"] = json!(new_index);
                add["alias"] = json!(name);
                actions.push(json!({ "add": add }));
            }
            if !aliases.contains_key(alias) {
                actions.push(json!({ "add": { "index": new_index, "alias": alias } }));
            }
            actions
        }
    }
}

/// What the alias name points at before the rebuild.
#[derive(Debug, Clone, PartialEq)]
pub enum Previous {
    /// Nothing: a first build.
    None,
    /// A concrete index of that name (the original tool's layout).
    Legacy,
    /// A physical index and every alias on it.
    Physical {
        index: String,
        aliases: std::collections::BTreeMap<String, crate::sink::client::AliasProps>,
    },
}

impl Previous {
    pub fn index_name(&self, alias: &IndexName) -> Option<String> {
        match self {
            Previous::None => None,
            Previous::Legacy => Some(alias.to_string()),
            Previous::Physical { index, .. } => Some(index.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::client::AliasProps;

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
    fn physical_names_carry_a_sortable_utc_timestamp() {
        let alias = IndexName::try_from("persons").expect("valid");
        let at = DateTime::parse_from_rfc3339("2026-11-22T05:35:13.042Z")
            .expect("valid")
            .with_timezone(&Utc);
        let name = physical_name(&alias, at);
        assert_eq!(name, "persons-20261122t053513042z");
        assert!(is_physical_of(&alias, &name));
        assert!(IndexName::try_from(name.as_str()).is_ok());
        assert!(!is_physical_of(&alias, "persons-archive"));
        assert!(!is_physical_of(&alias, "persons-x-20261122t053513042z"));
        assert!(!is_physical_of(&alias, "persons-20261122t053513z"));
        assert!(!is_physical_of(
            &IndexName::try_from("person").expect("valid"),
            &name
        ));
    }

    #[test]
    fn build_settings_disable_refresh_and_replicas_and_live_settings_restore_them() {
        let definition = json!({"settings": {"number_of_shards": 1, "number_of_replicas": 2, "refresh_interval": "5s"}, "mappings": {}});
        let build = build_definition(&definition);
        assert_eq!(build["settings"]["refresh_interval"], "-1");
        assert_eq!(build["settings"]["number_of_replicas"], 0);
        assert_eq!(build["settings"]["number_of_shards"], 1);
        assert_eq!(
            live_settings(&definition, None),
            json!({"refresh_interval": "5s", "number_of_replicas": 2})
        );
        assert_eq!(
            live_settings(&definition, Some(3)),
            json!({"refresh_interval": "5s", "number_of_replicas": 3})
        );
    }

    #[test]
    fn the_swap_moves_every_alias_with_its_properties_in_one_call() {
        let mut aliases = std::collections::BTreeMap::new();
        aliases.insert("persons".to_owned(), AliasProps::default());
        aliases.insert(
            "tenants".to_owned(),
            AliasProps {
                filter: Some(json!({"term": {"personTypes": "Tenant"}})),
                is_write_index: Some(false),
                ..AliasProps::default()
            },
        );
        let previous = Previous::Physical {
            index: "persons-1".into(),
            aliases,
        };
        let actions = swap_actions("persons", "persons-2", &previous);
        assert_eq!(
            actions,
            vec![
                json!({"remove": {"index": "persons-1", "alias": "persons"}}),
                json!({"add": {"index": "persons-2", "alias": "persons"}}),
                json!({"remove": {"index": "persons-1", "alias": "tenants"}}),
                json!({"add": {"index": "persons-2", "alias": "tenants", "filter": {"term": {"personTypes": "Tenant"}}, "is_write_index": false}}),
            ]
        );
    }

    #[test]
    fn retention_keeps_the_replaced_index_and_the_newest_others() {
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let previous = names(&["a-1", "a-2", "a-3", "a-4"]);
        assert_eq!(
            to_retire(previous.clone(), Some("a-3"), 1),
            names(&["a-4", "a-2", "a-1"])
        );
        assert_eq!(
            to_retire(previous.clone(), Some("a-1"), 2),
            names(&["a-3", "a-2"])
        );
        assert_eq!(to_retire(previous.clone(), None, 2), names(&["a-2", "a-1"]));
        assert_eq!(
            to_retire(previous.clone(), Some("a-4"), 0),
            names(&["a-4", "a-3", "a-2", "a-1"])
        );
        assert_eq!(
            to_retire(previous, Some("legacy"), 1),
            names(&["a-3", "a-2", "a-1"])
        );
    }

    #[test]
    fn a_legacy_concrete_index_is_replaced_by_the_alias_atomically() {
        assert_eq!(
            swap_actions("persons", "persons-2", &Previous::Legacy),
            vec![
                json!({"remove_index": {"index": "persons"}}),
                json!({"add": {"index": "persons-2", "alias": "persons"}}),
            ]
        );
        assert_eq!(
            swap_actions("persons", "persons-2", &Previous::None),
            vec![json!({"add": {"index": "persons-2", "alias": "persons"}})]
        );
    }
}
