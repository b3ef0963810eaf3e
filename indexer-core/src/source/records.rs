//! What one stream record does to the index: the bulk action it becomes, versioned in the
//! stream band (see [`crate::sink::version`]).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue as DynamoValue;
use aws_sdk_dynamodbstreams::types::{AttributeValue as StreamValue, OperationType, Record};
use serde_json::json;

use super::item::Item;
use crate::entities::Entity;
use crate::sink::version::StreamClock;

/// One bulk action: the document id, the action line, and the source line (none for a delete).
pub type Action = (String, serde_json::Value, Option<Vec<u8>>);

/// The bulk action for one record, `None` for records that change nothing, `Err` for a record
/// whose image cannot be read. Writes and deletes are versioned in the stream band, in stream
/// order (see [`crate::sink::version`]); a delete leaves a tombstone at its version.
pub fn action(
    entity: &dyn Entity,
    index: &str,
    clock: &mut StreamClock,
    record: &Record,
) -> Result<Option<Action>, String> {
    let Some(data) = record.dynamodb() else {
        return Ok(None);
    };
    let created = data
        .approximate_creation_date_time()
        .map_or(0, |t| u64::try_from(t.secs()).unwrap_or(0));
    let meta = |id: &str, version: u64| json!({ "_index": index, "_id": id, "version": version, "version_type": "external_gte" });
    match record.event_name() {
        Some(OperationType::Insert | OperationType::Modify) => {
            let image = data
                .new_image()
                .ok_or("an INSERT or MODIFY record without its new image")?;
            let doc = entity
                .to_document(&to_item(image))
                .map_err(|e| e.to_string())?;
            let version = clock.next(&doc.id, created);
            Ok(Some((
                doc.id.clone(),
                json!({ "index": meta(&doc.id, version) }),
                Some(doc.body),
            )))
        }
        Some(OperationType::Remove) => {
            // The keys name the document (a NEW_IMAGE stream's REMOVE carries nothing else); the
            // old image is asked only when they do not: an item changed into one the entity
            // cannot map and then deleted still has its document deleted.
            let by_keys = data.keys().map(|keys| entity.id_of(&to_item(keys)));
            let id = match (by_keys, data.old_image()) {
                (Some(Ok(id)), _) => Ok(id),
                (_, Some(old)) => entity.to_document(&to_item(old)).map(|d| d.id),
                (Some(Err(error)), None) => Err(error),
                (None, None) => return Err("a REMOVE record without its keys".to_owned()),
            }
            .map_err(|e| e.to_string())?;
            let version = clock.next(&id, created);
            Ok(Some((
                id.clone(),
                json!({ "delete": meta(&id, version) }),
                None,
            )))
        }
        _ => Ok(None),
    }
}

/// A stream image as a DynamoDB item (the two SDKs have their own, identical, value types).
pub fn to_item(image: &HashMap<String, StreamValue>) -> Item {
    image
        .iter()
        .map(|(name, value)| (name.clone(), to_value(value)))
        .collect()
}

fn to_value(value: &StreamValue) -> DynamoValue {
    match value {
        StreamValue::S(s) => DynamoValue::S(s.clone()),
        StreamValue::N(n) => DynamoValue::N(n.clone()),
        StreamValue::B(b) => DynamoValue::B(b.clone()),
        StreamValue::Bool(b) => DynamoValue::Bool(*b),
        StreamValue::Null(b) => DynamoValue::Null(*b),
        StreamValue::Ss(v) => DynamoValue::Ss(v.clone()),
        StreamValue::Ns(v) => DynamoValue::Ns(v.clone()),
        StreamValue::Bs(v) => DynamoValue::Bs(v.clone()),
        StreamValue::L(v) => DynamoValue::L(v.iter().map(to_value).collect()),
        StreamValue::M(m) => DynamoValue::M(to_item(m)),
        _ => DynamoValue::Null(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodbstreams::types::StreamRecord;

    fn image(id: &str, version: Option<&str>) -> HashMap<String, StreamValue> {
        let mut image = HashMap::new();
        image.insert("id".to_owned(), StreamValue::S(id.to_owned()));
        image.insert("firstname".to_owned(), StreamValue::S("Ann".to_owned()));
        image.insert("surname".to_owned(), StreamValue::S("Lee".to_owned()));
        if let Some(version) = version {
            image.insert(
                "versionNumber".to_owned(),
                StreamValue::N(version.to_owned()),
            );
        }
        image
    }

    fn record(kind: OperationType, new: Option<&str>, old: Option<&str>) -> Record {
        let data = StreamRecord::builder()
            .set_new_image(new.map(|v| image("p1", Some(v))))
            .set_old_image(old.map(|v| image("p1", Some(v))))
            .approximate_creation_date_time(
                aws_sdk_dynamodbstreams::primitives::DateTime::from_secs(1_000),
            )
            .build();
        Record::builder().event_name(kind).dynamodb(data).build()
    }

    fn action_of(entity: &dyn Entity, clock: &mut StreamClock, record: &Record) -> Action {
        action(entity, "idx", clock, record)
            .expect("maps")
            .expect("an action")
    }

    fn version_of(action: &serde_json::Value) -> u64 {
        let (_, meta) = action
            .as_object()
            .and_then(|o| o.iter().next())
            .expect("one action");
        assert_eq!(meta["version_type"], "external_gte", "{action}");
        meta["version"].as_u64().expect("a version")
    }

    #[test]
    fn stream_writes_outrank_every_scanned_copy_and_apply_in_stream_order() {
        let persons = crate::entities::by_name("persons").expect("registered");
        let mut clock = StreamClock::default();
        let (id, write, body) = action_of(
            persons,
            &mut clock,
            &record(OperationType::Modify, Some("7"), Some("6")),
        );
        assert_eq!(id, "p1");
        assert_eq!(write["index"]["_id"], "p1");
        assert!(body.is_some());
        let (_, delete, body) = action_of(
            persons,
            &mut clock,
            &record(OperationType::Remove, None, Some("7")),
        );
        assert_eq!(delete["delete"]["_id"], "p1");
        assert!(body.is_none());
        let scanned = crate::sink::version::scanned(Some(u64::MAX));
        assert!(version_of(&write) > scanned, "{write}");
        // Both records were made in the same second: the delete still ranks above the write.
        assert!(version_of(&delete) > version_of(&write), "{write} {delete}");
    }

    #[test]
    fn an_unversioned_item_is_ordered_by_the_stream_too() {
        let persons = crate::entities::by_name("persons").expect("registered");
        let data = StreamRecord::builder()
            .set_new_image(Some(image("p2", None)))
            .build();
        let record = Record::builder()
            .event_name(OperationType::Insert)
            .dynamodb(data)
            .build();
        let (_, write, _) = action_of(persons, &mut StreamClock::default(), &record);
        assert!(
            version_of(&write) >= crate::sink::version::STREAM_BAND,
            "{write}"
        );
    }

    #[test]
    fn a_remove_with_only_the_keys_deletes_the_document_they_name() {
        // What a NEW_IMAGE stream sends for a deleted item: its key attributes, no old image.
        let persons = crate::entities::by_name("persons").expect("registered");
        let mut keys = HashMap::new();
        keys.insert("id".to_owned(), StreamValue::S("p3".to_owned()));
        let data = StreamRecord::builder().set_keys(Some(keys)).build();
        let record = Record::builder()
            .event_name(OperationType::Remove)
            .dynamodb(data)
            .build();
        let (id, delete, body) = action_of(persons, &mut StreamClock::default(), &record);
        assert_eq!(id, "p3");
        assert_eq!(delete["delete"]["_id"], "p3");
        assert!(body.is_none());
    }

    #[test]
    fn nested_stream_values_become_dynamodb_values() {
        let mut inner = HashMap::new();
        inner.insert("n".to_owned(), StreamValue::N("1.50".to_owned()));
        let value = StreamValue::L(vec![StreamValue::M(inner), StreamValue::Bool(true)]);
        let mut expected = HashMap::new();
        expected.insert("n".to_owned(), DynamoValue::N("1.50".to_owned()));
        assert_eq!(
            to_value(&value),
            DynamoValue::L(vec![DynamoValue::M(expected), DynamoValue::Bool(true)])
        );
    }
}
