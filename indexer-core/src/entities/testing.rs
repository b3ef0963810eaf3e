//! Test helpers shared by the entity modules: terse item builders and the check that every field
//! a document carries is declared in its entity's mapping (the index is `dynamic: strict`, so an
//! unmapped field would reject the whole document at bulk time).

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use super::{Document, Entity};
use crate::source::item::Item;

pub fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_owned())
}

pub fn n(text: &str) -> AttributeValue {
    AttributeValue::N(text.to_owned())
}

pub fn b(value: bool) -> AttributeValue {
    AttributeValue::Bool(value)
}

pub fn null() -> AttributeValue {
    AttributeValue::Null(true)
}

pub fn l(values: Vec<AttributeValue>) -> AttributeValue {
    AttributeValue::L(values)
}

pub fn m(pairs: &[(&str, AttributeValue)]) -> AttributeValue {
    AttributeValue::M(item(pairs))
}

pub fn item(pairs: &[(&str, AttributeValue)]) -> Item {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.clone()))
        .collect()
}

/// `item` with `key` replaced (or added).
pub fn with(mut item: Item, key: &str, value: AttributeValue) -> Item {
    item.insert(key.to_owned(), value);
    item
}

/// The fully populated sample item of an entity (kept with the entity, see
/// [`Entity::full_item`]).
pub fn full_item(entity: &dyn Entity) -> Item {
    entity.full_item()
}

/// The document body parsed back into JSON, for snapshots and assertions.
pub fn body_json(document: &Document) -> Value {
    serde_json::from_slice(&document.body).expect("a document body is JSON")
}

/// Maps `item` with `entity`, expecting success.
pub fn document(entity: &dyn Entity, item: &Item) -> Document {
    entity
        .to_document(item)
        .unwrap_or_else(|e| panic!("{} maps the item: {e}", entity.name()))
}

/// Pretty JSON of the mapped document, for insta snapshots.
pub fn pretty(document: &Document) -> String {
    serde_json::to_string_pretty(&body_json(document)).expect("pretty JSON")
}

/// Asserts that every field path of `document` is declared in the entity's mapping, descending
/// into `properties` for objects and arrays of objects, and that each leaf's JSON type suits its
/// mapped type. Returns the number of leaf values checked, so callers can assert it is not tiny.
pub fn assert_every_field_is_mapped(entity: &dyn Entity, document: &Value) -> usize {
    let definition = entity.index_definition();
    let properties = &definition["mappings"]["properties"];
    assert!(
        properties.is_object(),
        "{}: mapping has no properties",
        entity.name()
    );
    let mut leaves = 0;
    walk(entity.name(), properties, document, "", &mut leaves);
    leaves
}

fn walk(entity: &str, properties: &Value, object: &Value, path: &str, leaves: &mut usize) {
    let Value::Object(fields) = object else {
        panic!("{entity}: `{path}` is mapped as an object but is {object}");
    };
    for (name, value) in fields {
        let field_path = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        let Some(mapping) = properties.get(name) else {
            panic!("{entity}: field `{field_path}` is emitted but not mapped");
        };
        check_value(entity, mapping, value, &field_path, leaves);
    }
}

fn check_value(entity: &str, mapping: &Value, value: &Value, path: &str, leaves: &mut usize) {
    if let Value::Array(values) = value {
        for value in values {
            check_value(entity, mapping, value, path, leaves);
        }
        return;
    }
    let mapped_type = mapping["type"].as_str();
    if let Some(properties) = mapping.get("properties") {
        assert!(
            matches!(mapped_type, None | Some("object" | "nested")),
            "{entity}: `{path}` has properties but type {mapped_type:?}"
        );
        walk(entity, properties, value, path, leaves);
        return;
    }
    let Some(mapped_type) = mapped_type else {
        panic!("{entity}: `{path}` is mapped without a type");
    };
    let suits = match value {
        Value::String(_) => matches!(mapped_type, "keyword" | "text" | "date"),
        Value::Number(_) => matches!(mapped_type, "integer" | "long" | "double" | "float"),
        // The live index maps some flags (`householdMembers.isResponsible`) as text; a JSON
        // boolean is indexed there as the text `true`/`false`.
        Value::Bool(_) => matches!(mapped_type, "boolean" | "text" | "keyword"),
        Value::Null => false,
        Value::Object(_) | Value::Array(_) => false,
    };
    assert!(
        suits,
        "{entity}: `{path}` is mapped as {mapped_type} but the document holds {value}"
    );
    *leaves += 1;
}

/// Every text-with-keyword field in a mapping must carry the `keyword` sub-field.
pub fn text_fields_have_keyword_subfields(properties: &Value, path: &str) {
    let Value::Object(fields) = properties else {
        return;
    };
    for (name, mapping) in fields {
        let field_path = format!("{path}{name}");
        if mapping["type"] == "text" {
            assert_eq!(
                mapping["fields"]["keyword"]["type"], "keyword",
                "`{field_path}` is text without a keyword sub-field"
            );
        }
        if let Some(inner) = mapping.get("properties") {
            text_fields_have_keyword_subfields(inner, &format!("{field_path}."));
        }
    }
}
