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
//! alias: a one-time, atomic migration. Afterwards `--keep` previous physical indexes are kept
//! for rollback and older ones deleted. When the gate refuses, the alias is untouched and the new
//! index is kept for inspection.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client as DynamoClient;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::deadletter::DeadLetters;
use crate::entities::Entity;
use crate::error::Error;
use crate::pipeline::{self, Counters, Sink};
use crate::progress::Progress;
use crate::sink::client::{NameState, SearchClient};
use crate::sink::retry::RetryPolicy;
use crate::source::scan;
use crate::summary::{Status, Summary};
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
    pub retry: RetryPolicy,
    pub max_errors: u64,
    pub min_ratio: f64,
    pub keep: usize,
    pub dead_letter: Option<PathBuf>,
    pub dry_run: bool,
    pub progress_interval: Duration,
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
    if input.new_count != input.indexed {
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
    fn index_name(&self, alias: &IndexName) -> Option<String> {
        match self {
            Previous::None => None,
            Previous::Legacy => Some(alias.to_string()),
            Previous::Physical { index, .. } => Some(index.clone()),
        }
    }
}

async fn inspect(search: &SearchClient, alias: &IndexName) -> Result<Previous, Error> {
    match search.name_state(alias.as_str()).await? {
        NameState::Absent => Ok(Previous::None),
        NameState::Index => Ok(Previous::Legacy),
        NameState::Alias(indexes) if indexes.len() == 1 => {
            let index = indexes.into_iter().next().unwrap_or_default();
            let aliases = search.aliases_of(&index).await?;
            Ok(Previous::Physical { index, aliases })
        }
        NameState::Alias(indexes) => Err(Error::Input(format!(
            "alias {alias:?} points at {} indexes ({}); a rebuild swaps an alias that points at one index, so point it at one index first",
            indexes.len(),
            indexes.join(", ")
        ))),
    }
}

/// Runs a rebuild and returns its summary. Errors before anything is written are returned as
/// `Err`; failures after the new index exists are reported in the summary with status `failed`.
pub async fn rebuild(
    dynamo: DynamoClient,
    search: Option<SearchClient>,
    plan: RebuildPlan,
) -> Result<Summary, Error> {
    let started = Instant::now();
    let entity: &'static dyn Entity = crate::entities::by_name(plan.entity).ok_or_else(|| {
        Error::Input(format!(
            "unknown entity {:?}; known: {}",
            plan.entity,
            crate::entities::known()
        ))
    })?;
    let info = scan::describe(&dynamo, &plan.table).await?;
    let new_index = physical_name(&plan.alias, Utc::now());
    let mut summary = Summary::new("rebuild");
    summary.table = Some(plan.table.to_string());
    summary.entity = Some(entity.name().to_owned());
    summary.alias = Some(plan.alias.to_string());
    summary.dry_run = plan.dry_run;

    let (sink, previous, live_count) = match (&search, plan.dry_run) {
        (Some(search), false) => {
            let previous = inspect(search, &plan.alias).await?;
            let live_count = match previous.index_name(&plan.alias) {
                Some(index) => Some(search.count(&index).await?),
                None => None,
            };
            (Sink::Cluster(search.clone()), previous, live_count)
        }
        _ => (Sink::DryRun, Previous::None, None),
    };
    summary.previous_index = previous.index_name(&plan.alias);
    let definition = entity.index_definition();
    if let Sink::Cluster(search) = &sink {
        search
            .create_index(&new_index, &build_definition(&definition))
            .await?;
        summary.new_index = Some(new_index.clone());
        tracing::info!(index = %new_index, alias = %plan.alias, "created the new index");
    }

    let dead_path = plan
        .dead_letter
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{new_index}.dead-letter.jsonl")));
    let dead = Arc::new(DeadLetters::new(dead_path));
    let counters = Arc::new(Counters::default());
    let progress = Progress::start(
        Arc::clone(&counters),
        info.approximate_items,
        plan.segments,
        plan.progress_interval,
    );
    tracing::info!(
        table = %plan.table,
        entity = entity.name(),
        segments = plan.segments,
        dry_run = plan.dry_run,
        approximate_items = info.approximate_items,
        "scanning"
    );
    let settings = pipeline::Settings {
        segments: plan.segments,
        page_size: plan.page_size,
        batch_bytes: plan.batch_bytes,
        batch_docs: plan.batch_docs,
        concurrency: plan.concurrency,
        retry: plan.retry,
        target_index: new_index.clone(),
    };
    let result = pipeline::run(
        dynamo,
        plan.table.clone(),
        entity,
        sink.clone(),
        settings,
        Arc::clone(&counters),
        Arc::clone(&dead),
    )
    .await;
    progress.finish();
    let dead_file = dead.finish();
    summary.scanned = Counters::get(&counters.scanned);
    summary.indexed = Counters::get(&counters.indexed);
    summary.dead_lettered = Counters::get(&counters.dead_lettered);
    summary.retries = Counters::get(&counters.retries);
    summary.set_elapsed(started.elapsed());
    match dead_file {
        Ok(path) => summary.dead_letter_path = path.map(|p| p.display().to_string()),
        Err(e) => return Ok(summary.failed(&e.into())),
    }
    if let Err(e) = result {
        if let Some(index) = &summary.new_index {
            tracing::error!(index = %index, "the rebuild failed; the alias is untouched and the new index is kept for inspection");
        }
        return Ok(summary.failed(&e.into()));
    }

    let Sink::Cluster(search) = sink else {
        summary.status = Status::Succeeded;
        return Ok(summary);
    };
    match finish(
        &search,
        &plan,
        &definition,
        &new_index,
        &previous,
        live_count,
        &mut summary,
    )
    .await
    {
        Ok(()) => {}
        Err(e) => return Ok(summary.failed(&e)),
    }
    summary.set_elapsed(started.elapsed());
    Ok(summary)
}

/// Restore settings, refresh, gate, swap, retire old indexes.
async fn finish(
    search: &SearchClient,
    plan: &RebuildPlan,
    definition: &Value,
    new_index: &str,
    previous: &Previous,
    live_count: Option<u64>,
    summary: &mut Summary,
) -> Result<(), Error> {
    let previous_replicas = match previous.index_name(&plan.alias) {
        Some(index) => search
            .settings(&index)
            .await?
            .get("number_of_replicas")
            .and_then(|v| {
                v.as_str()
                    .and_then(|s| s.parse().ok())
                    .or_else(|| v.as_u64())
            }),
        None => None,
    };
    search
        .put_settings(new_index, &live_settings(definition, previous_replicas))
        .await?;
    search.refresh(new_index).await?;
    let new_count = search.count(new_index).await?;
    let verdict = gate(&GateInput {
        scanned: summary.scanned,
        indexed: summary.indexed,
        dead_lettered: summary.dead_lettered,
        new_count,
        live_count,
        max_errors: plan.max_errors,
        min_ratio: plan.min_ratio,
    });
    if let Err(refusals) = verdict {
        for reason in &refusals {
            tracing::error!(index = %new_index, reason = %reason, "gate refused the swap");
        }
        summary.status = Status::GateFailed;
        summary.gate_refusals = refusals;
        return Ok(());
    }
    let actions = swap_actions(plan.alias.as_str(), new_index, previous);
    search.update_aliases(actions).await?;
    summary.swapped = true;
    summary.status = Status::Succeeded;
    tracing::info!(alias = %plan.alias, index = %new_index, previous = ?summary.previous_index, "alias swapped");
    summary.deleted_indexes = retire(search, &plan.alias, new_index, plan.keep).await?;
    Ok(())
}

/// Deletes this alias's physical indexes beyond the newest `keep` previous ones.
async fn retire(
    search: &SearchClient,
    alias: &IndexName,
    new_index: &str,
    keep: usize,
) -> Result<Vec<String>, Error> {
    let mut previous: Vec<String> = search
        .indexes_matching(&format!("{alias}-*"))
        .await?
        .into_iter()
        .filter(|name| name != new_index && is_physical_of(alias, name))
        .collect();
    previous.sort_unstable_by(|a, b| b.cmp(a));
    let mut deleted = Vec::new();
    for index in previous.into_iter().skip(keep) {
        search.delete_index(&index).await?;
        tracing::info!(index = %index, "deleted an old index");
        deleted.push(index);
    }
    Ok(deleted)
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
