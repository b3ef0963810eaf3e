//! The alias and physical-index model: how a rebuild's indexes are named, what an alias name
//! points at, the one `_aliases` call that swaps it, and which old indexes are kept.
//!
//! Readers always query an alias. Each rebuild writes a fresh physical index
//! `<alias>-<UTC timestamp to the millisecond>`, so names sort by age and are recognisable as this
//! tool's. Swapping moves the alias — and every other alias on the old index, with its filter,
//! routing and write flag — in one atomic call. A concrete index carrying the alias's name (the
//! original tool's layout) is replaced by the alias in that same call, its companion aliases moved
//! with it. This layer is used by rebuilds, the operator commands, drift repair and the tests;
//! it depends only on the cluster client.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::error::Error;
use crate::sink::client::{AliasProps, NameState, SearchClient};
use crate::validate::IndexName;

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

/// What an alias name points at.
#[derive(Debug, Clone, PartialEq)]
pub enum Previous {
    /// Nothing: a first build.
    None,
    /// A concrete index of that name (the original tool's layout), with the other aliases on it.
    Legacy {
        aliases: BTreeMap<String, AliasProps>,
    },
    /// A physical index and every alias on it.
    Physical {
        index: String,
        aliases: BTreeMap<String, AliasProps>,
    },
}

impl Previous {
    /// The index readers of the alias see, if any.
    pub fn index_name(&self, alias: &IndexName) -> Option<String> {
        match self {
            Previous::None => None,
            Previous::Legacy { .. } => Some(alias.to_string()),
            Previous::Physical { index, .. } => Some(index.clone()),
        }
    }
}

/// What the alias name is now: nothing, a legacy concrete index, or an alias over one index.
/// An alias over several indexes is refused (exit 2): a swap moves an alias off one index.
pub async fn inspect(search: &SearchClient, alias: &IndexName) -> Result<Previous, Error> {
    match search.name_state(alias.as_str()).await? {
        NameState::Absent => Ok(Previous::None),
        NameState::Index => Ok(Previous::Legacy {
            aliases: search.aliases_of(alias.as_str()).await?,
        }),
        NameState::Alias(indexes) if indexes.len() == 1 => {
            let index = indexes.into_iter().next().unwrap_or_default();
            let aliases = search.aliases_of(&index).await?;
            Ok(Previous::Physical { index, aliases })
        }
        NameState::Alias(indexes) => Err(Error::Input(format!(
            "alias \"{alias}\" points at {} indexes ({}); a rebuild swaps an alias that points at one index, so point it at one index first",
            indexes.len(),
            indexes.join(", ")
        ))),
    }
}

/// The alias's physical indexes, newest first, and which index is live.
pub async fn physical_indexes(
    search: &SearchClient,
    alias: &IndexName,
) -> Result<(Option<String>, Vec<String>), Error> {
    let live = inspect(search, alias).await?.index_name(alias);
    let mut all: Vec<String> = search
        .indexes_matching(&format!("{alias}-*"))
        .await?
        .into_iter()
        .filter(|name| is_physical_of(alias, name))
        .collect();
    all.sort_unstable_by(|a, b| b.cmp(a));
    Ok((live, all))
}

/// `add` and `remove` actions moving each of `aliases` from `from` to `to`, properties kept.
fn move_actions(aliases: &BTreeMap<String, AliasProps>, from: &str, to: &str) -> Vec<Value> {
    let mut actions = Vec::new();
    for (name, props) in aliases {
        actions.push(json!({ "remove": { "index": from, "alias": name } }));
        actions.push(add_action(name, props, to));
    }
    actions
}

fn add_action(name: &str, props: &AliasProps, index: &str) -> Value {
    let mut add = serde_json::to_value(props).unwrap_or_else(|_| json!({}));
    add["index"] = json!(index);
    add["alias"] = json!(name);
    json!({ "add": add })
}

/// The single `_aliases` call that swaps `alias` (and its companions) onto `new_index`.
pub fn swap_actions(alias: &str, new_index: &str, previous: &Previous) -> Vec<Value> {
    match previous {
        Previous::None => vec![json!({ "add": { "index": new_index, "alias": alias } })],
        Previous::Legacy { aliases } => {
            // Removing the index removes its aliases: add each companion to the new index.
            let mut actions = vec![json!({ "remove_index": { "index": alias } })];
            actions.push(json!({ "add": { "index": new_index, "alias": alias } }));
            for (name, props) in aliases.iter().filter(|(name, _)| *name != alias) {
                actions.push(add_action(name, props, new_index));
            }
            actions
        }
        Previous::Physical { index, aliases } => {
            let mut actions = move_actions(aliases, index, new_index);
            if !aliases.contains_key(alias) {
                actions.push(json!({ "add": { "index": new_index, "alias": alias } }));
            }
            actions
        }
    }
}

/// Which of an alias's previous physical indexes to delete: `keep` (at least 1) are kept, and
/// the index just replaced (`replaced`) is always among them, since it is what `rollback`
/// returns to.
pub fn to_retire(mut previous: Vec<String>, replaced: Option<&str>, keep: usize) -> Vec<String> {
    let keep = keep.max(1);
    previous.sort_unstable_by(|a, b| b.cmp(a));
    let mut kept = 0;
    if let Some(replaced) = replaced.filter(|r| previous.iter().any(|p| p == r)) {
        kept = 1;
        previous.retain(|p| p != replaced);
    }
    previous.into_iter().skip(keep - kept).collect()
}

/// Deletes this alias's physical indexes beyond those kept (see [`to_retire`]), except any that
/// still carries an alias (someone reads it). Deleting an index that is already gone (a retried
/// delete) counts as done.
pub async fn retire(
    search: &SearchClient,
    alias: &IndexName,
    new_index: &str,
    replaced: Option<&str>,
    keep: usize,
) -> Result<Vec<String>, Error> {
    let previous: Vec<String> = search
        .indexes_matching(&format!("{alias}-*"))
        .await?
        .into_iter()
        .filter(|name| name != new_index && is_physical_of(alias, name))
        .collect();
    let mut deleted = Vec::new();
    for index in to_retire(previous, replaced, keep) {
        let aliases = search.aliases_of(&index).await?;
        if !aliases.is_empty() {
            // Someone still reads it through an alias of their own: not ours to delete.
            tracing::warn!(index = %index, aliases = ?aliases.keys().collect::<Vec<_>>(), "kept an old index that still carries an alias");
            continue;
        }
        search.delete_index(&index).await?;
        tracing::info!(index = %index, "deleted an old index");
        deleted.push(index);
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenants() -> AliasProps {
        AliasProps {
            filter: Some(json!({"term": {"personTypes": "Tenant"}})),
            is_write_index: Some(false),
            ..AliasProps::default()
        }
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
    fn the_swap_moves_every_alias_with_its_properties_in_one_call() {
        let mut aliases = BTreeMap::new();
        aliases.insert("persons".to_owned(), AliasProps::default());
        aliases.insert("tenants".to_owned(), tenants());
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
    fn a_legacy_concrete_index_is_replaced_by_the_alias_atomically_with_its_companions() {
        assert_eq!(
            swap_actions(
                "persons",
                "persons-2",
                &Previous::Legacy {
                    aliases: BTreeMap::new()
                }
            ),
            vec![
                json!({"remove_index": {"index": "persons"}}),
                json!({"add": {"index": "persons-2", "alias": "persons"}}),
            ]
        );
        let mut aliases = BTreeMap::new();
        aliases.insert("tenants".to_owned(), tenants());
        assert_eq!(
            swap_actions("persons", "persons-2", &Previous::Legacy { aliases }),
            vec![
                json!({"remove_index": {"index": "persons"}}),
                json!({"add": {"index": "persons-2", "alias": "persons"}}),
                json!({"add": {"index": "persons-2", "alias": "tenants", "filter": {"term": {"personTypes": "Tenant"}}, "is_write_index": false}}),
            ]
        );
        assert_eq!(
            swap_actions("persons", "persons-2", &Previous::None),
            vec![json!({"add": {"index": "persons-2", "alias": "persons"}})]
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
            to_retire(previous.clone(), Some("legacy"), 1),
            names(&["a-3", "a-2", "a-1"])
        );
        // Whatever keep says, the index just replaced survives: rollback returns to it.
        assert_eq!(
            to_retire(previous, Some("a-4"), 0),
            names(&["a-3", "a-2", "a-1"])
        );
    }
}
