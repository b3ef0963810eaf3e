//! The dead-letter file: every item that could not be indexed, one JSON line each, so nothing is
//! ever dropped silently.
//!
//! A line holds the item's `id`, the `stage` that refused it (`map`: the entity factory could not
//! read the item; `encode`: the document is larger than a bulk request may be; `bulk`: the cluster
//! rejected it), the HTTP `status` when the cluster answered, a stable `error_type`, the `reason`,
//! and the data: the DynamoDB item (`item`, in DynamoDB JSON) for mapping failures, the document
//! as sent (`document`) otherwise. The file is created on the first failure only, with owner-only
//! permissions (0600): it holds personal data by design.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde_json::value::RawValue;

use crate::source::item::{Item, MapError, to_dynamo_json};

/// One dead-lettered item.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    pub id: Option<&'a str>,
    pub stage: &'static str,
    pub status: Option<u16>,
    pub error_type: &'a str,
    pub reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<&'a RawValue>,
}

/// A failure writing the dead-letter file: fatal, since an unrecorded failure would be a loss.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the dead-letter file {path}: {source}")]
pub struct DeadLetterError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

/// The dead-letter file of one run; safe to share between tasks.
pub struct DeadLetters {
    path: PathBuf,
    file: Mutex<Option<BufWriter<File>>>,
    count: AtomicU64,
}

impl DeadLetters {
    pub fn new(path: impl Into<PathBuf>) -> DeadLetters {
        DeadLetters {
            path: path.into(),
            file: Mutex::new(None),
            count: AtomicU64::new(0),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many items were dead-lettered so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Records an item the entity factory could not map.
    pub fn map_failure(&self, item: &Item, error: &MapError) -> Result<(), DeadLetterError> {
        let id = match item.get("id") {
            Some(aws_sdk_dynamodb::types::AttributeValue::S(id)) => Some(id.as_str()),
            _ => None,
        };
        let reason = error.to_string();
        self.write(&Record {
            id,
            stage: "map",
            status: None,
            error_type: error.kind(),
            reason: &reason,
            item: Some(to_dynamo_json(item)),
            document: None,
        })
    }

    /// Records a document that was refused before or by the cluster.
    pub fn document_failure(
        &self,
        stage: &'static str,
        id: &str,
        status: Option<u16>,
        error_type: &str,
        reason: &str,
        document: &[u8],
    ) -> Result<(), DeadLetterError> {
        let raw = std::str::from_utf8(document)
            .ok()
            .and_then(|text| serde_json::from_str::<&RawValue>(text).ok());
        self.write(&Record {
            id: Some(id),
            stage,
            status,
            error_type,
            reason,
            item: None,
            document: raw,
        })
    }

    fn write(&self, record: &Record<'_>) -> Result<(), DeadLetterError> {
        let fail = |source| DeadLetterError {
            path: self.path.display().to_string(),
            source,
        };
        let mut line = serde_json::to_vec(record).map_err(|e| fail(std::io::Error::other(e)))?;
        line.push(b'\n');
        let mut guard = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if guard.is_none() {
            if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(fail)?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&self.path)
                .map_err(fail)?;
            *guard = Some(BufWriter::new(file));
        }
        if let Some(writer) = guard.as_mut() {
            writer.write_all(&line).map_err(fail)?;
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Flushes the file to disk; returns its path if anything was written.
    pub fn finish(&self) -> Result<Option<PathBuf>, DeadLetterError> {
        let mut guard = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match guard.as_mut() {
            None => Ok(None),
            Some(writer) => {
                let fail = |source| DeadLetterError {
                    path: self.path.display().to_string(),
                    source,
                };
                writer.flush().map_err(fail)?;
                writer.get_ref().sync_all().map_err(fail)?;
                Ok(Some(self.path.clone()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn records_are_json_lines_in_an_owner_only_file_created_on_first_failure() {
        let dir = std::env::temp_dir().join(format!("dl-test-{}", std::process::id()));
        let path = dir.join("sub/dead.jsonl");
        let dead = DeadLetters::new(&path);
        assert_eq!(dead.finish().expect("nothing to flush"), None);
        assert!(!path.exists());

        let item: Item = [("id".to_owned(), AttributeValue::S("p1".into()))].into();
        let error = MapError::Missing {
            path: "surname".into(),
            found: "absent",
        };
        dead.map_failure(&item, &error).expect("written");
        dead.document_failure(
            "bulk",
            "p2",
            Some(400),
            "mapper_parsing_exception",
            "bad date",
            br#"{"id":"p2","n":1.10}"#,
        )
        .expect("written");
        assert_eq!(dead.finish().expect("flushed"), Some(path.clone()));
        assert_eq!(dead.count(), 2);

        let mode = std::fs::metadata(&path)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).expect("readable");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines[0]["stage"], "map");
        assert_eq!(lines[0]["error_type"], "missing_attribute");
        assert_eq!(lines[0]["item"]["id"]["S"], "p1");
        assert_eq!(lines[1]["status"], 400);
        assert_eq!(lines[1]["document"]["id"], "p2");
        assert!(
            text.contains(r#""n":1.10"#),
            "the document is kept byte for byte: {text}"
        );
        std::fs::remove_dir_all(dir).ok();
    }
}
