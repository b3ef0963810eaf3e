//! Entities: what a DynamoDB item of each table becomes in the search index.
//!
//! Each entity is one module holding its typed domain model (read from an item through
//! [`Fields`](crate::source::item::Fields)), its factory to a search document, and its index
//! definition (explicit mappings and live settings, in a JSON file beside the module). The
//! [`registry`] lists them; adding an entity is one new module plus one line there.
//!
//! Contract for [`Entity::to_document`]: pure and deterministic (the same item always yields the
//! same document, so replays are idempotent), never panics, and reports every item it cannot map
//! as a [`MapError`] naming the attribute — the pipeline dead-letters such items, it never skips
//! them silently.

pub mod assets;
pub mod persons;
pub mod tenures;

use serde::Serialize;

use crate::source::item::{Item, MapError};

/// A search document ready for the bulk API: its `_id` and its JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub id: String,
    pub body: Vec<u8>,
}

impl Document {
    /// Serializes a domain value whose `id` is already known.
    pub fn new(id: String, value: &impl Serialize) -> Result<Document, MapError> {
        let body = serde_json::to_vec(value).map_err(|e| MapError::Invalid {
            path: "<document>".to_owned(),
            reason: format!("cannot encode the document: {e}"),
        })?;
        Ok(Document { id, body })
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

    /// Maps one item to its document.
    fn to_document(&self, item: &Item) -> Result<Document, MapError>;
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
            assert!(names.insert(entity.name()), "duplicate name {}", entity.name());
            assert!(tables.insert(entity.table()), "duplicate table {}", entity.table());
            let definition = entity.index_definition();
            assert_eq!(definition["mappings"]["dynamic"], "strict", "{}", entity.name());
            assert_eq!(definition["mappings"]["properties"]["id"]["type"], "keyword");
            assert!(definition["settings"]["number_of_shards"].is_number());
        }
    }

    #[test]
    fn lookups_by_name_and_table_agree() {
        for entity in registry() {
            assert_eq!(by_name(entity.name()).map(|e| e.table()), Some(entity.table()));
            assert_eq!(by_table(entity.table()).map(|e| e.name()), Some(entity.name()));
        }
        assert!(by_table("Nope").is_none());
        assert!(known().contains("tenures (table TenureInformation)"));
    }
}
