//! What the live index was built from, and the guard that refuses a rebuild that would put
//! another entity's documents behind the alias (a wrong `--table` or `--entity`).

use std::collections::BTreeSet;

use serde_json::Value;

use super::RebuildPlan;
use crate::aliases::Previous;
use crate::error::Error;
use crate::sink::client::SearchClient;

/// What an index says it was built from (its mapping's `_meta`): the entity and the table. An
/// index without `_meta` (built by an older release or another tool) gets one inferred from its
/// fields, with an empty table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub entity: String,
    pub table: String,
}

/// How alike two field sets must be (shared fields over all fields) for an index without
/// `_meta` to count as an entity's.
const LIKENESS: f64 = 0.5;

impl Origin {
    /// Reads it from a `GET /<index>/_mapping` answer's mapping, if the index carries one.
    pub fn of_mapping(mapping: &Value) -> Option<Origin> {
        let meta = mapping.get("_meta")?;
        Some(Origin {
            entity: meta.get("entity")?.as_str()?.to_owned(),
            table: meta
                .get("table")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        })
    }

    /// The entity a mapping without `_meta` belongs to, judged by its top-level fields: the
    /// `planned` entity when it is alike enough (`LIKENESS`) — a legacy index of the same kind
    /// with fields added or dropped still rebuilds — else the one most alike, if alike enough and
    /// no other is as alike.
    pub fn inferred(mapping: &Value, planned: &str) -> Option<Origin> {
        let live = fields(mapping);
        if live.is_empty() {
            return None;
        }
        let mut scores: Vec<(f64, &'static str)> = crate::entities::registry()
            .iter()
            .map(|entity| {
                let own = fields(&entity.index_definition()["mappings"]);
                let shared = live.intersection(&own).count() as f64;
                let all = live.union(&own).count().max(1) as f64;
                (shared / all, entity.name())
            })
            .collect();
        let origin = |name: &str| Origin {
            entity: name.to_owned(),
            table: String::new(),
        };
        if scores
            .iter()
            .any(|(score, name)| *name == planned && *score >= LIKENESS)
        {
            return Some(origin(planned));
        }
        scores.sort_by(|a, b| b.0.total_cmp(&a.0));
        match scores.as_slice() {
            [(best, name), rest @ ..]
                if *best >= LIKENESS && rest.first().is_none_or(|(next, _)| next < best) =>
            {
                Some(origin(name))
            }
            _ => None,
        }
    }

    /// Recorded, else inferred (see [`Origin::inferred`]).
    pub fn of_live(mapping: &Value, planned: &str) -> Option<Origin> {
        Origin::of_mapping(mapping).or_else(|| Origin::inferred(mapping, planned))
    }
}

fn fields(mapping: &Value) -> BTreeSet<String> {
    mapping
        .get("properties")
        .and_then(Value::as_object)
        .map(|properties| properties.keys().cloned().collect())
        .unwrap_or_default()
}

/// Refuses (exit 2) a rebuild whose entity differs from the one the live index was built from,
/// unless the plan allows it: a wrong `--table` would otherwise swap the alias onto documents of
/// another kind. An index whose origin is neither recorded nor recognisable is not judged here;
/// the mapping comparison at the gate still is.
pub fn check_origin(plan: &RebuildPlan, live: Option<(&str, Origin)>) -> Result<(), Error> {
    let Some((index, origin)) = live else {
        return Ok(());
    };
    if origin.entity == plan.entity || plan.allow_entity_change {
        return Ok(());
    }
    let from = if origin.table.is_empty() {
        format!(
            "its live index {index} carries no record of what it was built from, but its fields are those of {} documents",
            origin.entity
        )
    } else {
        format!(
            "its live index {index} was built from table {}",
            origin.table
        )
    };
    Err(Error::Input(format!(
        "alias \"{}\" serves {} documents ({from}), but this rebuild would put {} documents from table {} behind it; check --table and --entity, or pass --allow-entity-change if that is what you mean",
        plan.alias, origin.entity, plan.entity, plan.table
    )))
}

/// Reads the live index's mapping (if the alias has one) and applies [`check_origin`]. Run
/// before anything is written, by the dry run too, and again under the lock.
pub async fn guard_entity(
    search: &SearchClient,
    plan: &RebuildPlan,
    previous: &Previous,
) -> Result<(), Error> {
    let Some(live) = previous.index_name(&plan.alias) else {
        return Ok(());
    };
    let answer = search
        .json(
            &format!("read the mapping of {live}"),
            reqwest::Method::GET,
            &format!("/{live}/_mapping"),
            None,
        )
        .await?;
    let origin = crate::entities::compat::mapping_of(&answer)
        .and_then(|mapping| Origin::of_live(mapping, plan.entity));
    check_origin(plan, origin.map(|origin| (live.as_str(), origin)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_without_meta_is_recognised_by_its_fields() {
        for entity in crate::entities::registry() {
            let mut mapping = entity.index_definition()["mappings"].clone();
            if let Some(object) = mapping.as_object_mut() {
                object.remove("_meta");
            }
            for planned in crate::entities::registry() {
                assert_eq!(
                    Origin::of_live(&mapping, planned.name()).map(|o| o.entity),
                    Some(entity.name().to_owned()),
                    "{} planned as {}",
                    entity.name(),
                    planned.name()
                );
            }
        }
        let none = serde_json::json!({"properties": {}});
        assert_eq!(Origin::inferred(&none, "persons"), None);
        let unknown = serde_json::json!({"properties": {"title": {"type": "text"}}});
        assert_eq!(
            Origin::inferred(&unknown, "persons"),
            None,
            "a mapping like no entity's is not judged"
        );
    }

    #[test]
    fn a_legacy_index_of_the_planned_kind_with_fields_added_or_dropped_passes() {
        let persons = crate::entities::by_name("persons").expect("persons");
        let mut mapping = persons.index_definition()["mappings"].clone();
        let properties = mapping["properties"].as_object_mut().expect("properties");
        let dropped: Vec<String> = properties.keys().take(2).cloned().collect();
        for key in dropped {
            properties.remove(&key);
        }
        properties.insert("legacyField".into(), serde_json::json!({"type": "keyword"}));
        assert_eq!(
            Origin::inferred(&mapping, "persons").map(|o| o.entity),
            Some("persons".to_owned())
        );
    }
}
