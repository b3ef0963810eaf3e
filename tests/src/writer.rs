//! A writer that keeps a persons table busy while a rebuild or a follower reads it: it creates,
//! changes and deletes items, with and without a `versionNumber`, so every kind of stream record
//! (versioned and unversioned inserts, updates and deletes) is exercised.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::fixtures;
use crate::harness::{put, services};

/// Writes to a persons table seeded with items `0..seeded`.
pub struct PersonWriter {
    table: String,
    versions: HashMap<u64, u64>,
    next_new: u64,
    deleted: Vec<u64>,
    /// Writes made so far (a write that found its item already deleted is not counted).
    pub writes: u64,
}

impl PersonWriter {
    /// A writer for `table`, whose items `0..seeded` are the fixtures' persons.
    pub fn new(table: &str, seeded: u64) -> PersonWriter {
        PersonWriter {
            table: table.to_owned(),
            versions: (0..seeded)
                .filter_map(|n| match fixtures::person(n).get("versionNumber") {
                    Some(AttributeValue::N(v)) => v.parse().ok().map(|v| (n, v)),
                    _ => None,
                })
                .collect(),
            next_new: seeded,
            deleted: Vec::new(),
            writes: 0,
        }
    }

    /// Makes write `i`: every fourth one creates a person (half of them versioned), every
    /// fourth deletes one, the others change a surname (bumping the version of a versioned
    /// item, dropping it from an unversioned one).
    pub async fn write(&mut self, i: u64) {
        match i % 4 {
            0 => {
                let n = self.next_new;
                self.next_new += 1;
                let mut item = fixtures::person(n);
                item.remove("versionNumber");
                if n % 2 == 0 {
                    item.insert("versionNumber".into(), AttributeValue::N("0".into()));
                    self.versions.insert(n, 0);
                }
                put(&self.table, std::iter::once(item)).await;
            }
            3 => {
                let n = (i * 7) % self.next_new;
                if self.deleted.contains(&n) {
                    return;
                }
                services()
                    .dynamo()
                    .delete_item()
                    .table_name(&self.table)
                    .key("id", AttributeValue::S(fixtures::person_id(n)))
                    .send()
                    .await
                    .expect("delete item");
                self.deleted.push(n);
            }
            _ => {
                let n = (i * 13) % self.next_new;
                if self.deleted.contains(&n) {
                    return;
                }
                let mut item = fixtures::person(n);
                item.insert(
                    "surname".into(),
                    AttributeValue::S(format!("Changed-{n}-{i}")),
                );
                match self.versions.get(&n).copied() {
                    Some(v) => {
                        self.versions.insert(n, v + 1);
                        item.insert(
                            "versionNumber".into(),
                            AttributeValue::N((v + 1).to_string()),
                        );
                    }
                    None => {
                        item.remove("versionNumber");
                    }
                }
                put(&self.table, std::iter::once(item)).await;
            }
        }
        self.writes += 1;
    }
}
