//! Schema drift: attributes the items carry that the entity's factory does not map.
//!
//! While an item is mapped, the names of the top-level attributes its factory looks at are
//! recorded (`source::item::recording_reads`); every other attribute of the item is one the
//! index does not get. A field added by the owning service shows up here, with how many items
//! carry it and a few of their ids, before users ask why search ignores it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Value, json};

use crate::source::item::Item;

/// At most this many distinct attribute names are counted (hostile data cannot grow it further).
const MAX_NAMES: usize = 100;
/// Sample ids kept per attribute.
const SAMPLES: usize = 3;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
struct Seen {
    count: u64,
    sample_ids: Vec<String>,
}

/// One attribute the entity does not map: how many items carry it, and a few of their ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnmappedAttribute {
    pub name: String,
    pub count: u64,
    pub sample_ids: Vec<String>,
}

/// Unmapped attributes by name: how many items carry each, and a few of their ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unmapped {
    names: BTreeMap<String, Seen>,
    /// Names left uncounted once [`MAX_NAMES`] were reached.
    overflow: BTreeSet<String>,
}

impl Unmapped {
    /// Counts the attributes of `item` (mapped to document `id`) its factory did not read and
    /// the entity does not list as deliberately `unindexed`.
    pub fn observe(&mut self, id: &str, item: &Item, read: &BTreeSet<String>, unindexed: &[&str]) {
        for name in item
            .keys()
            .filter(|name| !read.contains(*name) && !unindexed.contains(&name.as_str()))
        {
            if !self.names.contains_key(name) && self.names.len() >= MAX_NAMES {
                if self.overflow.len() < MAX_NAMES {
                    self.overflow.insert(name.clone());
                }
                continue;
            }
            let seen = self.names.entry(name.clone()).or_default();
            seen.count += 1;
            if seen.sample_ids.len() < SAMPLES {
                seen.sample_ids.push(id.to_owned());
            }
        }
    }

    pub fn merge(&mut self, other: Unmapped) {
        for (name, theirs) in other.names {
            if !self.names.contains_key(&name) && self.names.len() >= MAX_NAMES {
                self.overflow.insert(name);
                continue;
            }
            let seen = self.names.entry(name).or_default();
            seen.count += theirs.count;
            for id in theirs.sample_ids {
                if seen.sample_ids.len() < SAMPLES {
                    seen.sample_ids.push(id);
                }
            }
        }
        self.overflow.extend(other.overflow);
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// One row per attribute, the most common first.
    pub fn rows(&self) -> Vec<UnmappedAttribute> {
        let mut rows: Vec<(&String, &Seen)> = self.names.iter().collect();
        rows.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
        rows.into_iter()
            .map(|(name, seen)| {
                let mut sample_ids = seen.sample_ids.clone();
                sample_ids.sort();
                UnmappedAttribute {
                    name: name.clone(),
                    count: seen.count,
                    sample_ids,
                }
            })
            .collect()
    }

    /// `[{"name", "count", "sample_ids"}]`, the most common first.
    pub fn to_json(&self) -> Value {
        json!(self.rows())
    }

    /// `loyaltyTier (4 items), nickname (1 item)`: for a warning.
    pub fn describe(&self) -> String {
        self.rows()
            .iter()
            .map(|row| {
                let items = if row.count == 1 { "item" } else { "items" };
                format!("{} ({} {items})", row.name, row.count)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn item(names: &[&str]) -> Item {
        names
            .iter()
            .map(|n| ((*n).to_owned(), AttributeValue::S("x".into())))
            .collect()
    }

    #[test]
    fn attributes_not_read_are_counted_with_a_few_ids_most_common_first() {
        let read: BTreeSet<String> = ["id".to_owned(), "name".to_owned()].into();
        let mut a = Unmapped::default();
        for n in 0..5 {
            a.observe(
                &format!("p{n}"),
                &item(&["id", "name", "nickname", "audit"]),
                &read,
                &["audit"],
            );
        }
        let mut b = Unmapped::default();
        b.observe("p9", &item(&["id", "loyalty", "nickname"]), &read, &[]);
        a.merge(b);
        assert_eq!(
            a.to_json(),
            json!([
                {"name": "nickname", "count": 6, "sample_ids": ["p0", "p1", "p2"]},
                {"name": "loyalty", "count": 1, "sample_ids": ["p9"]},
            ])
        );
        assert!(Unmapped::default().is_empty());
    }

    #[test]
    fn every_entity_s_factory_reads_every_attribute_of_its_full_item_and_no_other() {
        for entity in crate::entities::registry() {
            let mut full = entity.full_item();
            let (mapped, read) = crate::source::item::recording_reads(|| entity.to_document(&full));
            assert!(mapped.is_ok(), "{}", entity.name());
            let mut unmapped = Unmapped::default();
            unmapped.observe("x", &full, &read, entity.unindexed());
            assert!(unmapped.is_empty(), "{}: {:?}", entity.name(), unmapped);
            full.insert("brandNewField".into(), AttributeValue::S("x".into()));
            let (_, read) = crate::source::item::recording_reads(|| entity.to_document(&full));
            unmapped.observe("x", &full, &read, entity.unindexed());
            assert_eq!(
                unmapped.to_json(),
                json!([{"name": "brandNewField", "count": 1, "sample_ids": ["x"]}]),
                "{}",
                entity.name()
            );
        }
    }

    #[test]
    fn every_attribute_of_every_sample_is_mapped_or_declared_unindexed() {
        for entity in crate::entities::registry() {
            let mut unmapped = Unmapped::default();
            for n in 0..200 {
                let item = entity.sample(n);
                let (_, read) = crate::source::item::recording_reads(|| entity.to_document(&item));
                unmapped.observe("x", &item, &read, entity.unindexed());
            }
            assert!(
                unmapped.is_empty(),
                "{}: {}",
                entity.name(),
                unmapped.to_json()
            );
        }
    }

    #[test]
    fn the_names_counted_are_bounded() {
        let mut unmapped = Unmapped::default();
        let names: Vec<String> = (0..MAX_NAMES + 10).map(|n| format!("a{n}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        unmapped.observe("p1", &item(&refs), &BTreeSet::new(), &[]);
        assert_eq!(unmapped.names.len(), MAX_NAMES);
        assert_eq!(unmapped.overflow.len(), 10);
    }
}
