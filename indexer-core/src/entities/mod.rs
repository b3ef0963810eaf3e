//! Entities: what a DynamoDB item of each table becomes in the search index.
//!
//! Each entity is one module holding its typed domain model (read from an item through
//! [`Fields`](crate::source::item::Fields)), its factory to a search document, and its index
//! definition (explicit mappings and live settings, in a JSON file beside the module). The
//! [`registry`] lists them; adding an entity is one new module (its factory, its mapping and its
//! sample items, see [`samples`]) plus one line there. Everything else — the CLI's entity
//! resolution, the shared unit and property tests, the end-to-end fixtures, the demo's seed —
//! asks the registry.
//!
//! Contract for [`Entity::to_document`]: pure and deterministic (the same item always yields the
//! same document, so replays are idempotent), never panics, and reports every item it cannot map
//! as a [`MapError`] naming the attribute — the pipeline dead-letters such items, it never skips
//! them silently.

pub mod assets;
pub mod compat;
#[cfg(test)]
mod hostile;
pub mod persons;
pub mod samples;
pub mod tenures;
#[cfg(test)]
mod testing;

use serde::Serialize;

use crate::source::item::{Item, MapError};

/// A search document ready for the bulk API: its `_id`, its JSON body, and its external version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub id: String,
    pub body: Vec<u8>,
    /// The item's `versionNumber`: a scanned copy is written at this external version (0 when
    /// `None`), below every copy the stream writes (see [`crate::sink::version`]). `None` when
    /// the item has none, or it is not an integer from 0 to `i64::MAX`.
    pub version: Option<u64>,
}

impl Document {
    /// Serializes a domain value whose `id` is already known.
    pub fn new(id: String, value: &impl Serialize) -> Result<Document, MapError> {
        let body = serde_json::to_vec(value).map_err(|e| MapError::Invalid {
            path: "<document>".to_owned(),
            reason: format!("cannot encode the document: {e}"),
        })?;
        Ok(Document {
            id,
            body,
            version: None,
        })
    }

    /// Sets the external version from the item's `versionNumber`, when it is one.
    pub fn versioned(mut self, version_number: Option<&crate::source::item::Number>) -> Document {
        self.version = version_number
            .and_then(|n| n.as_str().parse::<u64>().ok())
            .filter(|v| i64::try_from(*v).is_ok());
        self
    }
}

/// One kind of record: how its items map to documents and how its index is defined.
pub trait Entity: Send + Sync + 'static {
    /// The registry name, used by `--entity` (e.g. `persons`).
    fn name(&self) -> &'static str;

    /// The DynamoDB table this entity is read from by default (e.g. `Persons`).
    fn table(&self) -> &'static str;

    /// The index definition: `{"settings": {...}, "mappings": {...}}`, with the settings the
    /// index should have once live (shards, replicas, refresh interval, analysis).
    fn index_definition(&self) -> serde_json::Value;

    /// Sample item `n` of the entity's table: deterministic and realistic (see [`samples`]). The
    /// demo, the end-to-end tests and the benchmarks fill tables with these.
    fn sample(&self, n: u64) -> Item;

    /// A realistic item with every attribute the factory reads set, for the snapshot and the
    /// properties every entity must have.
    #[cfg(test)]
    fn full_item(&self) -> Item;

    /// Maps one item to its document. The top-level attributes it reads are what the entity maps:
    /// `verify` reports every other attribute an item carries, unless listed in
    /// [`unindexed`](Entity::unindexed).
    fn to_document(&self, item: &Item) -> Result<Document, MapError>;

    /// The document id of the item whose key attributes are `keys` (all that a `NEW_IMAGE`
    /// stream's REMOVE record carries): the same id [`Entity::to_document`] gives the whole item.
    fn id_of(&self, keys: &Item) -> Result<String, MapError> {
        crate::source::item::Fields::of(keys).required_string("id")
    }

    /// Attributes the owning service stores that the index deliberately leaves out (audit
    /// stamps, free text nobody searches): not reported as schema drift. One list per entity.
    fn unindexed(&self) -> &'static [&'static str] {
        &[]
    }
}

/// Every known entity. Add a new one here.
pub fn registry() -> &'static [&'static dyn Entity] {
    &[&persons::Persons, &tenures::Tenures, &assets::Assets]
}

/// Finds an entity by its registry name (`persons`).
pub fn by_name(name: &str) -> Option<&'static dyn Entity> {
    registry().iter().copied().find(|e| e.name() == name)
}

/// Finds the entity whose default table is `table`.
pub fn by_table(table: &str) -> Option<&'static dyn Entity> {
    registry().iter().copied().find(|e| e.table() == table)
}

/// `persons (table Persons), tenures (table TenureInformation), …` for error messages.
pub fn known() -> String {
    registry()
        .iter()
        .map(|e| format!("{} (table {})", e.name(), e.table()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_has_a_unique_name_and_table_and_an_explicit_strict_mapping() {
        let mut names = std::collections::HashSet::new();
        let mut tables = std::collections::HashSet::new();
        for entity in registry() {
            assert!(
                names.insert(entity.name()),
                "duplicate name {}",
                entity.name()
            );
            assert!(
                tables.insert(entity.table()),
                "duplicate table {}",
                entity.table()
            );
            let definition = entity.index_definition();
            assert_eq!(
                definition["mappings"]["dynamic"],
                "strict",
                "{}",
                entity.name()
            );
            let id = &definition["mappings"]["properties"]["id"];
            assert!(
                id["type"] == "keyword" || id["fields"]["keyword"]["type"] == "keyword",
                "{}: `id` is neither a keyword nor has a keyword sub-field",
                entity.name()
            );
            assert!(definition["settings"]["number_of_shards"].is_number());
        }
    }

    #[test]
    fn only_whole_version_numbers_that_fit_become_external_versions() {
        let version = |text: &str| {
            Document::new("x".into(), &1)
                .expect("encodes")
                .versioned(crate::source::item::Number::parse(text).as_ref())
                .version
        };
        assert_eq!(version("7"), Some(7));
        assert_eq!(version("0"), Some(0));
        assert_eq!(version("1.5"), None);
        assert_eq!(version("-1"), None);
        assert_eq!(version("99999999999999999999"), None);
        assert_eq!(
            Document::new("x".into(), &1)
                .expect("encodes")
                .versioned(None)
                .version,
            None
        );
    }

    #[test]
    fn lookups_by_name_and_table_agree() {
        for entity in registry() {
            assert_eq!(
                by_name(entity.name()).map(|e| e.table()),
                Some(entity.table())
            );
            assert_eq!(
                by_table(entity.table()).map(|e| e.name()),
                Some(entity.name())
            );
        }
        assert!(by_table("Nope").is_none());
        assert!(known().contains("tenures (table TenureInformation)"));
    }
}

/// Properties every registered entity must have, over all entities at once.
#[cfg(test)]
mod factory_properties {
    use aws_sdk_dynamodb::primitives::Blob;
    use aws_sdk_dynamodb::types::AttributeValue;
    use proptest::collection::{hash_map, vec};
    use proptest::prelude::*;

    use std::collections::BTreeSet;

    use super::testing::{assert_every_field_is_mapped, body_json, full_item};
    use super::*;

    #[test]
    fn every_field_of_every_fully_populated_document_is_mapped() {
        for entity in registry() {
            let document = entity
                .to_document(&full_item(*entity))
                .unwrap_or_else(|e| panic!("{}: {e}", entity.name()));
            let leaves = assert_every_field_is_mapped(*entity, &body_json(&document));
            assert!(
                leaves > 20,
                "{}: only {leaves} values checked",
                entity.name()
            );
        }
    }

    /// Attribute names the factories read, so generated items reach deep into them: every name
    /// in each registered entity's mapping and in its fully populated item.
    fn field_names() -> Vec<String> {
        fn from_mapping(mapping: &serde_json::Value, names: &mut BTreeSet<String>) {
            if let Some(properties) = mapping["properties"].as_object() {
                for (name, inner) in properties {
                    names.insert(name.clone());
                    from_mapping(inner, names);
                }
            }
        }
        fn from_value(value: &AttributeValue, names: &mut BTreeSet<String>) {
            match value {
                AttributeValue::M(map) => from_item(map, names),
                AttributeValue::L(values) => values.iter().for_each(|v| from_value(v, names)),
                _ => {}
            }
        }
        fn from_item(item: &Item, names: &mut BTreeSet<String>) {
            for (name, value) in item {
                names.insert(name.clone());
                from_value(value, names);
            }
        }
        let mut names = BTreeSet::new();
        for entity in registry() {
            from_mapping(&entity.index_definition()["mappings"], &mut names);
            from_item(&entity.full_item(), &mut names);
        }
        names.into_iter().collect()
    }

    pub(super) fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => proptest::sample::select(field_names()),
            1 => "[a-zA-Z]{0,8}",
        ]
    }

    /// Number text: valid DynamoDB numbers of up to 40 digits, and some that are not numbers.
    fn number_text() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[+-]?[0-9]{1,40}(\\.[0-9]{1,6})?([eE][+-]?[0-9]{1,3})?",
            1 => ".{0,6}",
        ]
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just("true".to_owned()),
            "[0-9.]{1,5}",
            any::<String>()
        ]
    }

    fn attribute() -> impl Strategy<Value = AttributeValue> {
        let leaf = prop_oneof![
            text().prop_map(AttributeValue::S),
            number_text().prop_map(AttributeValue::N),
            vec(any::<u8>(), 0..6).prop_map(|bytes| AttributeValue::B(Blob::new(bytes))),
            any::<bool>().prop_map(AttributeValue::Bool),
            any::<bool>().prop_map(AttributeValue::Null),
            vec(text(), 0..3).prop_map(AttributeValue::Ss),
            vec(number_text(), 0..3).prop_map(AttributeValue::Ns),
            vec(vec(any::<u8>(), 0..4), 0..3)
                .prop_map(|blobs| AttributeValue::Bs(blobs.into_iter().map(Blob::new).collect())),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..4).prop_map(AttributeValue::L),
                hash_map(key(), inner, 0..6).prop_map(AttributeValue::M),
            ]
        })
    }

    fn any_item() -> impl Strategy<Value = Item> {
        (
            hash_map(key(), attribute(), 0..12),
            proptest::option::of(text()),
        )
            .prop_map(|(mut item, id)| {
                if let Some(id) = id {
                    item.insert("id".to_owned(), AttributeValue::S(id));
                }
                item
            })
    }

    fn check(item: &Item) -> Result<(), TestCaseError> {
        for entity in registry() {
            if let Ok(document) = entity.to_document(item) {
                let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&document.body);
                prop_assert!(parsed.is_ok(), "{}: body is not JSON", entity.name());
                prop_assert!(!document.id.trim().is_empty());
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn no_item_makes_a_factory_panic_and_every_body_is_json(item in any_item()) {
            check(&item)?;
        }

        /// Mutates a realistic item (a top-level attribute, or one inside a nested map) so the
        /// factories get past the first attributes and meet odd values deep in the document.
        #[test]
        fn no_mutation_of_a_realistic_item_makes_a_factory_panic(
            which in 0..registry().len(), name in key(), inner in key(), value in attribute(), deep: bool,
        ) {
            let entity = registry()[which];
            let mut item = full_item(entity);
            match item.get_mut(&name) {
                Some(AttributeValue::M(map)) if deep => {
                    map.insert(inner, value);
                }
                Some(AttributeValue::L(list)) if deep && !list.is_empty() => {
                    if let Some(AttributeValue::M(map)) = list.first_mut() {
                        map.insert(inner, value);
                    }
                }
                _ => {
                    item.insert(name, value);
                }
            }
            check(&item)?;
        }
    }
}
