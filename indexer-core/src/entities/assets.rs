//! Placeholder.
use super::{Document, Entity};
use crate::source::item::{Fields, Item, MapError};

pub struct Assets;

impl Entity for Assets {
    fn name(&self) -> &'static str { "assets" }
    fn table(&self) -> &'static str { "Assets" }
    fn index_definition(&self) -> serde_json::Value { serde_json::json!({"settings": {"number_of_shards": 1}, "mappings": {"dynamic": "strict", "properties": {"id": {"type": "keyword"}}}}) }
    fn to_document(&self, item: &Item) -> Result<Document, MapError> {
        let id = Fields::of(item).required_string("id")?;
        Document::new(id.clone(), &serde_json::json!({"id": id}))
    }
}
