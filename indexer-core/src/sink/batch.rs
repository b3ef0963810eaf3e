//! Bulk batches, sized by bytes and by count.
//!
//! A batch is the NDJSON body of one `_bulk` request plus, for each entry, its `_id` and where
//! its two lines sit in the body, so a retry can re-send only the items the cluster asked to have
//! again, and a rejection can be dead-lettered with the document that was refused. A batch never
//! exceeds its byte limit; a document too large to fit in any batch is refused up front.

use std::ops::Range;

use crate::checkpoint::Ticket;
use crate::entities::Document;

/// One document's place in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    /// Where the document's item was read, to settle its page once it has a verdict.
    pub ticket: Ticket,
    /// The action line and the source line, newline-terminated.
    pub lines: Range<usize>,
    /// The source line alone (without its newline).
    pub source: Range<usize>,
}

/// The body of one `_bulk` request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Batch {
    pub body: Vec<u8>,
    pub entries: Vec<Entry>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The document body of an entry, as sent.
    pub fn source(&self, entry: &Entry) -> &[u8] {
        &self.body[entry.source.clone()]
    }

    /// Appends one action (and its source line, for `index`), unbounded: for small repair
    /// batches built by hand.
    pub fn push_action(
        &mut self,
        id: &str,
        ticket: Ticket,
        action: &serde_json::Value,
        source: Option<&[u8]>,
    ) {
        let start = self.body.len();
        self.body.extend_from_slice(action.to_string().as_bytes());
        self.body.push(b'\n');
        let source_start = self.body.len();
        if let Some(source) = source {
            self.body.extend_from_slice(source);
        }
        let source_end = self.body.len();
        if source.is_some() {
            self.body.push(b'\n');
        }
        self.entries.push(Entry {
            id: id.to_owned(),
            ticket,
            lines: start..self.body.len(),
            source: source_start..source_end,
        });
    }

    /// A new batch holding only the given entries, in order.
    pub fn subset<'a>(&self, entries: impl IntoIterator<Item = &'a Entry>) -> Batch {
        let mut out = Batch::default();
        for entry in entries {
            let start = out.body.len();
            out.body.extend_from_slice(&self.body[entry.lines.clone()]);
            let offset = entry.source.start - entry.lines.start;
            out.entries.push(Entry {
                id: entry.id.clone(),
                ticket: entry.ticket,
                lines: start..out.body.len(),
                source: start + offset..start + offset + entry.source.len(),
            });
        }
        out
    }
}

/// A document that cannot be sent because it alone exceeds the batch byte limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLarge {
    pub id: String,
    pub ticket: Ticket,
    pub bytes: usize,
    pub limit: usize,
}

/// Accumulates documents into batches for one target index.
#[derive(Debug)]
pub struct Batcher {
    index: String,
    max_bytes: usize,
    max_docs: usize,
    current: Batch,
    /// The lowest version a document is written at (0: the scanned band alone).
    floor: u64,
}

impl Batcher {
    pub fn new(index: &str, max_bytes: usize, max_docs: usize) -> Batcher {
        Batcher {
            index: index.to_owned(),
            max_bytes,
            max_docs: max_docs.max(1),
            current: Batch::default(),
            floor: 0,
        }
    }

    /// A batcher for repairs of items read consistently in second `read_secs`: every document
    /// is written at [`super::version::repaired`], above the copies a rebuild's stream replay
    /// wrote before then.
    pub fn for_repairs(index: &str, read_secs: u64) -> Batcher {
        Batcher {
            floor: super::version::repaired(read_secs),
            ..Batcher::new(index, usize::MAX, usize::MAX)
        }
    }

    /// The `index` action of a scanned document: versioned `external_gte` in the scanned band
    /// (see [`super::version`]), so the cluster keeps whichever copy is newest whatever order
    /// copies arrive in, and a copy the stream wrote is never replaced by a scanned one.
    fn action_line(&self, id: &str, version: Option<u64>) -> Vec<u8> {
        let action = serde_json::json!({ "index": {
            "_index": self.index, "_id": id,
            "version": super::version::scanned(version).max(self.floor), "version_type": "external_gte"
        } });
        let mut line = action.to_string().into_bytes();
        line.push(b'\n');
        line
    }

    /// Adds a document. Returns the batch that had to be closed to make room, if any, or an
    /// error when the document can never fit.
    pub fn push(&mut self, doc: Document, ticket: Ticket) -> Result<Option<Batch>, TooLarge> {
        let action = self.action_line(&doc.id, doc.version);
        let size = action.len() + doc.body.len() + 1;
        if size > self.max_bytes {
            return Err(TooLarge {
                id: doc.id,
                ticket,
                bytes: size,
                limit: self.max_bytes,
            });
        }
        let full = !self.current.is_empty()
            && (self.current.body.len() + size > self.max_bytes
                || self.current.len() >= self.max_docs);
        let closed = if full { self.take() } else { None };
        let batch = &mut self.current;
        let start = batch.body.len();
        batch.body.extend_from_slice(&action);
        let source_start = batch.body.len();
        batch.body.extend_from_slice(&doc.body);
        let source_end = batch.body.len();
        batch.body.push(b'\n');
        batch.entries.push(Entry {
            id: doc.id,
            ticket,
            lines: start..batch.body.len(),
            source: source_start..source_end,
        });
        let closed = match closed {
            Some(batch) => Some(batch),
            None if self.current.len() >= self.max_docs => self.take(),
            None => None,
        };
        Ok(closed)
    }

    /// Whether no document waits in the current batch.
    pub fn is_empty(&self) -> bool {
        self.current.is_empty()
    }

    /// Closes the current batch, if it holds anything.
    pub fn take(&mut self) -> Option<Batch> {
        if self.current.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.current))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: Ticket = Ticket {
        segment: 0,
        page: 0,
    };

    fn doc(id: &str, body_len: usize) -> Document {
        Document {
            id: id.to_owned(),
            body: format!("{{\"x\":\"{}\"}}", "a".repeat(body_len)).into_bytes(),
            version: None,
        }
    }

    #[test]
    fn a_batch_closes_at_the_document_count() {
        let mut batcher = Batcher::new("idx", 1 << 20, 2);
        assert_eq!(batcher.push(doc("1", 1), T), Ok(None));
        let closed = batcher
            .push(doc("2", 1), T)
            .expect("fits")
            .expect("count reached");
        assert_eq!(closed.len(), 2);
        assert!(batcher.take().is_none());
    }

    #[test]
    fn the_body_is_ndjson_with_index_actions_naming_the_target_and_id() {
        let mut batcher = Batcher::new("persons-20260101t000000z", 1 << 20, 10);
        batcher.push(doc("a\"b", 0), T).expect("fits");
        let batch = batcher.take().expect("one doc");
        let text = String::from_utf8(batch.body.clone()).expect("utf8");
        assert_eq!(
            text,
            "{\"index\":{\"_id\":\"a\\\"b\",\"_index\":\"persons-20260101t000000z\",\"version\":0,\"version_type\":\"external_gte\"}}\n{\"x\":\"\"}\n"
        );
        assert_eq!(batch.source(&batch.entries[0]), b"{\"x\":\"\"}");
    }

    #[test]
    fn a_versioned_document_is_written_at_its_version_in_the_scanned_band() {
        let mut batcher = Batcher::new("idx", 1 << 20, 10);
        let versioned = Document {
            version: Some(42),
            ..doc("p1", 0)
        };
        batcher.push(versioned, T).expect("fits");
        let batch = batcher.take().expect("one doc");
        let text = String::from_utf8(batch.body).expect("utf8");
        assert_eq!(
            text,
            "{\"index\":{\"_id\":\"p1\",\"_index\":\"idx\",\"version\":42,\"version_type\":\"external_gte\"}}\n{\"x\":\"\"}\n"
        );
    }

    #[test]
    fn a_document_larger_than_the_limit_is_refused_not_sent() {
        let mut batcher = Batcher::new("idx", 100, 10);
        let err = batcher.push(doc("big", 200), T).expect_err("too large");
        assert_eq!(err.id, "big");
        assert!(err.bytes > 100 && err.limit == 100);
    }

    #[test]
    fn a_subset_rebuilds_only_the_chosen_entries() {
        let mut batcher = Batcher::new("idx", 1 << 20, 10);
        for id in ["1", "2", "3"] {
            batcher.push(doc(id, 3), T).expect("fits");
        }
        let batch = batcher.take().expect("three");
        let retry = batch.subset([&batch.entries[0], &batch.entries[2]]);
        assert_eq!(
            retry
                .entries
                .iter()
                .map(|e| e.id.as_str())
                .collect::<Vec<_>>(),
            ["1", "3"]
        );
        let expected: Vec<u8> = [
            &batch.body[batch.entries[0].lines.clone()],
            &batch.body[batch.entries[2].lines.clone()],
        ]
        .concat();
        assert_eq!(retry.body, expected);
        assert_eq!(
            retry.source(&retry.entries[1]),
            batch.source(&batch.entries[2])
        );
    }

    proptest! {
        #[test]
        fn batches_never_exceed_limits_and_keep_every_document_once(
            sizes in proptest::collection::vec(0usize..3_000, 0..200),
            max_bytes in 200usize..20_000,
            max_docs in 1usize..50,
        ) {
            let mut batcher = Batcher::new("idx", max_bytes, max_docs);
            let mut seen = Vec::new();
            let mut refused = Vec::new();
            let check = |batch: Batch, seen: &mut Vec<String>| {
                assert!(batch.body.len() <= max_bytes && batch.len() <= max_docs && !batch.is_empty());
                let lines = batch.body.iter().filter(|b| **b == b'\n').count();
                assert_eq!(lines, 2 * batch.len());
                seen.extend(batch.entries.into_iter().map(|e| e.id));
            };
            for (i, size) in sizes.iter().enumerate() {
                match batcher.push(doc(&i.to_string(), *size), T) {
                    Ok(Some(batch)) => check(batch, &mut seen),
                    Ok(None) => {}
                    Err(too_large) => refused.push(too_large.id),
                }
            }
            if let Some(batch) = batcher.take() { check(batch, &mut seen); }
            seen.extend(refused);
            seen.sort_by_key(|id| id.parse::<usize>().unwrap_or(usize::MAX));
            let expected: Vec<String> = (0..sizes.len()).map(|i| i.to_string()).collect();
            prop_assert_eq!(seen, expected);
        }
    }
}
