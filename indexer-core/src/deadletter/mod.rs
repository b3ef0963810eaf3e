//! Dead letters: every item that could not be indexed, one JSON line each, so nothing is ever
//! dropped silently.
//!
//! A line holds the item's `id`, the `stage` that refused it (`map`: the entity factory could not
//! read the item; `encode`: the document is larger than a bulk request may be; `bulk`: the cluster
//! rejected it), the HTTP `status` when the cluster answered, a stable `error_type`, the `reason`,
//! and the data: the DynamoDB item (`item`, in DynamoDB JSON) for mapping failures, the document
//! as sent (`document`) otherwise. The records hold personal data by design.
//!
//! **Durable before settled.** Records are written in groups ([`Group`]): the dead letters of one
//! page (mapping failures) or of one bulk answer (rejections). [`DeadLetters::commit`] returns only
//! once its group is durable — in a file: written, flushed and `fdatasync`ed; in S3: the object
//! holding it acknowledged — and only then may the pipeline count those items' pages as settled
//! and checkpoint past them. A kill at any moment therefore loses no record: either the page was
//! not settled (the resume re-reads it and records its failures again, possibly a second time),
//! or its records are on disk or in S3. One sync per group, not per line, keeps the cost at one
//! `fdatasync` per failing page or bulk answer.
//!
//! Where they go ([`Destination`]): a file, created on the first failure with owner-only
//! permissions (0600) and always opened for appending, so a resumed run adds to the file of the
//! run it resumes; or an S3 prefix ([`s3`]), one small object per group.

mod file;
pub mod s3;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde_json::value::RawValue;

use crate::source::item::{Item, MapError, to_dynamo_json};

pub use s3::{S3Target, S3Uri};

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

/// A failure recording dead letters: fatal, since an unrecorded failure would be a loss.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("cannot write the dead-letter file {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write dead letters to {uri}: {reason}")]
    S3 { uri: String, reason: String },
    #[error("cannot encode a dead-letter record: {0}")]
    Encode(#[source] serde_json::Error),
}

/// Where dead letters go, as given on the command line: a file path or an `s3://bucket/prefix/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    File(PathBuf),
    S3(S3Uri),
}

impl std::str::FromStr for Spec {
    type Err = String;

    fn from_str(text: &str) -> Result<Spec, String> {
        if text.trim().is_empty() {
            return Err(
                "the dead-letter location is empty: give a file path or s3://bucket/prefix/".into(),
            );
        }
        if text.starts_with("s3://") || text.starts_with("S3://") {
            return S3Uri::parse(text).map(Spec::S3);
        }
        Ok(Spec::File(PathBuf::from(text)))
    }
}

/// Where a run's dead letters go, ready to write: a file, or an S3 prefix whose bucket answered.
#[derive(Debug, Clone)]
pub enum Destination {
    File(PathBuf),
    S3(S3Target),
}

/// Who writes: names the S3 objects so no two runs or workers of a job share one.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    pub alias: &'a str,
    pub job_id: &'a str,
    pub worker: u32,
}

/// Dead-letter records serialised and waiting to be committed together.
#[derive(Debug, Default)]
pub struct Group {
    lines: Vec<u8>,
    records: u64,
}

impl Group {
    pub fn new() -> Group {
        Group::default()
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// How many records the group holds.
    pub fn len(&self) -> u64 {
        self.records
    }

    /// Adds an item the entity factory could not map.
    pub fn map_failure(&mut self, item: &Item, error: &MapError) -> Result<(), DeadLetterError> {
        let reason = error.to_string();
        self.push(&Record {
            id: item_id(item),
            stage: "map",
            status: None,
            error_type: error.kind(),
            reason: &reason,
            item: Some(to_dynamo_json(item)),
            document: None,
        })
    }

    /// Adds a document that was refused before or by the cluster.
    pub fn document_failure(
        &mut self,
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
        self.push(&Record {
            id: Some(id),
            stage,
            status,
            error_type,
            reason,
            item: None,
            document: raw,
        })
    }

    fn push(&mut self, record: &Record<'_>) -> Result<(), DeadLetterError> {
        serde_json::to_writer(&mut self.lines, record).map_err(DeadLetterError::Encode)?;
        self.lines.push(b'\n');
        self.records += 1;
        Ok(())
    }
}

/// The item's `id` attribute when it is a string: what a log line may say about an item (never
/// its contents).
pub fn item_id(item: &Item) -> Option<&str> {
    match item.get("id") {
        Some(aws_sdk_dynamodb::types::AttributeValue::S(id)) => Some(id.as_str()),
        _ => None,
    }
}

/// What a test puts in place of a store: it receives each committed group.
#[cfg(test)]
type ProbeFn = Box<dyn Fn(&[u8]) -> std::io::Result<()> + Send + Sync>;

enum Store {
    File(file::FileStore),
    S3(s3::S3Store),
    /// A stand-in that hands each group to a function, to test what happens around a commit.
    #[cfg(test)]
    Probe(ProbeFn),
}

/// The dead letters of one run (or one worker of a job); safe to share between tasks.
pub struct DeadLetters {
    store: Store,
    count: AtomicU64,
}

impl DeadLetters {
    /// Dead letters appended to the file at `path`.
    pub fn file(path: impl Into<PathBuf>) -> DeadLetters {
        DeadLetters::with(Store::File(file::FileStore::new(path.into())))
    }

    /// Dead letters for `writer`, at `destination`, or in the file `default_file`.
    pub fn open(
        destination: Option<&Destination>,
        default_file: impl Into<PathBuf>,
        writer: Writer<'_>,
    ) -> DeadLetters {
        match destination {
            Some(Destination::File(path)) => DeadLetters::file(path.clone()),
            Some(Destination::S3(target)) => {
                DeadLetters::with(Store::S3(s3::S3Store::new(target.clone(), writer)))
            }
            None => DeadLetters::file(default_file),
        }
    }

    fn with(store: Store) -> DeadLetters {
        DeadLetters {
            store,
            count: AtomicU64::new(0),
        }
    }

    /// Dead letters handed to `probe` instead of being stored (tests only).
    #[cfg(test)]
    pub(crate) fn probe(
        probe: impl Fn(&[u8]) -> std::io::Result<()> + Send + Sync + 'static,
    ) -> DeadLetters {
        DeadLetters::with(Store::Probe(Box::new(probe)))
    }

    /// Where this run's records go: a file path, or the `s3://` prefix of its objects.
    pub fn location(&self) -> String {
        match &self.store {
            Store::File(file) => file.path().display().to_string(),
            Store::S3(s3) => s3.location(),
            #[cfg(test)]
            Store::Probe(_) => "probe".into(),
        }
    }

    /// How many items this run dead-lettered (and committed) so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Makes `group` durable; returns once it is (see the module doc). An empty group costs
    /// nothing.
    pub async fn commit(&self, group: Group) -> Result<(), DeadLetterError> {
        if group.is_empty() {
            return Ok(());
        }
        match &self.store {
            Store::File(file) => file.append(group.lines).await?,
            Store::S3(s3) => s3.put(group.lines).await?,
            #[cfg(test)]
            Store::Probe(probe) => probe(&group.lines).map_err(|source| DeadLetterError::File {
                path: "probe".into(),
                source,
            })?,
        }
        self.count.fetch_add(group.records, Ordering::Relaxed);
        Ok(())
    }

    /// This run's location if it recorded anything. Every commit is already durable, so there is
    /// nothing left to flush.
    pub fn finish(&self) -> Option<String> {
        (self.count() > 0).then(|| self.location())
    }
}

/// Every location that holds a job's dead letters, oldest first and without repeats: the ones
/// earlier runs of the job wrote to (`earlier`, as the job record remembers them), then this
/// run's if it wrote any. An earlier file that does not exist is left out (its run recorded
/// nothing); an earlier S3 prefix is kept, since a run that may only put objects cannot look.
pub fn locations(earlier: &[String], this_run: Option<String>) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    let candidates = earlier
        .iter()
        .filter(|location| S3Uri::is_s3(location) || Path::new(location).exists())
        .cloned()
        .chain(this_run);
    for location in candidates {
        if !all.contains(&location) {
            all.push(location);
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;
    use std::os::unix::fs::PermissionsExt;

    fn temp_dir(label: &str) -> PathBuf {
        std::env::temp_dir().join(format!("dl-{label}-{}", std::process::id()))
    }

    fn map_failure_of(id: &str) -> Group {
        let item: Item = [("id".to_owned(), AttributeValue::S(id.into()))].into();
        let error = MapError::Missing {
            path: "surname".into(),
            found: "absent",
        };
        let mut group = Group::new();
        group.map_failure(&item, &error).expect("encoded");
        group
    }

    #[tokio::test]
    async fn records_are_json_lines_in_an_owner_only_file_created_on_first_failure() {
        let dir = temp_dir("lines");
        let path = dir.join("sub/dead.jsonl");
        let dead = DeadLetters::file(&path);
        dead.commit(Group::new()).await.expect("nothing to write");
        assert_eq!(dead.finish(), None);
        assert!(!path.exists());

        dead.commit(map_failure_of("p1")).await.expect("written");
        let mut group = Group::new();
        group
            .document_failure(
                "bulk",
                "p2",
                Some(400),
                "mapper_parsing_exception",
                "bad date",
                br#"{"id":"p2","n":1.10}"#,
            )
            .expect("encoded");
        dead.commit(group).await.expect("written");
        assert_eq!(dead.finish(), Some(path.display().to_string()));
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

    #[tokio::test]
    async fn a_second_run_appends_to_the_file_of_the_first() {
        let dir = temp_dir("append");
        let path = dir.join("dead.jsonl");
        DeadLetters::file(&path)
            .commit(map_failure_of("first"))
            .await
            .expect("written");
        DeadLetters::file(&path)
            .commit(map_failure_of("second"))
            .await
            .expect("written");
        let text = std::fs::read_to_string(&path).expect("readable");
        let ids: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json")["id"].to_string())
            .collect();
        assert_eq!(ids, [r#""first""#, r#""second""#]);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn locations_name_earlier_files_that_exist_and_s3_prefixes_then_this_run() {
        let dir = temp_dir("locations");
        std::fs::create_dir_all(&dir).expect("dir");
        let kept = dir.join("kept.jsonl").display().to_string();
        std::fs::write(&kept, "{}\n").expect("written");
        let never_written = dir.join("never.jsonl").display().to_string();
        let s3 = "s3://bucket/dl/persons/job-1/worker-0/".to_owned();
        let earlier = [kept.clone(), never_written, s3.clone(), kept.clone()];
        assert_eq!(
            locations(&earlier, Some("now.jsonl".into())),
            [kept.clone(), s3.clone(), "now.jsonl".into()]
        );
        assert_eq!(locations(&earlier, Some(kept.clone())), [kept, s3]);
        assert!(locations(&[], None).is_empty());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_dead_letter_spec_is_a_file_path_or_an_s3_prefix() {
        assert_eq!(
            "out/dead.jsonl".parse::<Spec>(),
            Ok(Spec::File(PathBuf::from("out/dead.jsonl")))
        );
        let Ok(Spec::S3(uri)) = "s3://my-bucket/dead-letters/".parse::<Spec>() else {
            panic!("an s3 uri")
        };
        assert_eq!(uri.bucket(), "my-bucket");
        assert_eq!(uri.prefix(), "dead-letters/");
        assert!(" ".parse::<Spec>().expect_err("empty").contains("empty"));
    }
}
