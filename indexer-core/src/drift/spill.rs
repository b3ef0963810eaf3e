//! Comparing in bounded memory: both sides spilled to bucket files by a hash of the id.
//!
//! The index listing and the table scan each write `(id, fingerprint)` records to one of
//! `buckets` temporary files, chosen by a hash of the id, so a document and its item always land
//! in buckets of the same number. Then each bucket is compared on its own: its index records are
//! loaded into a map, its table records streamed against it, and what is left in the map is
//! extra. Memory holds one bucket's index records (about [`BUCKET_DOCS`]) and the drift found,
//! whatever the size of the index. The files are removed when the comparison ends, also on an
//! error.

use std::collections::HashMap;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// Index records per bucket the comparison aims for.
pub const BUCKET_DOCS: u64 = 25_000;

/// How many buckets `documents` index records need.
pub fn buckets_for(documents: u64) -> usize {
    usize::try_from(documents.div_ceil(BUCKET_DOCS).max(1)).unwrap_or(usize::MAX)
}

fn io_error(dir: &Path, error: std::io::Error) -> Error {
    Error::TempFiles {
        dir: dir.display().to_string(),
        cause: error.to_string(),
    }
}

/// A table record: an item's fingerprint, or `None` for an item that cannot be mapped.
pub type TableRecord = Option<u64>;

/// What one bucket's comparison found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Found {
    pub missing: Vec<String>,
    pub extra: Vec<String>,
    pub stale: Vec<String>,
    pub unmappable: Vec<String>,
    pub documents: u64,
    pub scanned: u64,
}

/// The bucket files of one comparison, in a private temporary directory.
pub struct Spill {
    dir: PathBuf,
    index: Vec<BufWriter<File>>,
    table: Vec<BufWriter<File>>,
}

impl Drop for Spill {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %error, "cannot remove the comparison's temporary files");
        }
    }
}

fn bucket_of(id: &str, buckets: usize) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut hasher);
    (hasher.finish() % buckets as u64) as usize
}

fn write_record(out: &mut impl Write, id: &str, value: Option<u64>) -> std::io::Result<()> {
    let bytes = id.as_bytes();
    out.write_all(&(bytes.len() as u32).to_le_bytes())?;
    out.write_all(bytes)?;
    match value {
        Some(fingerprint) => {
            out.write_all(&[1])?;
            out.write_all(&fingerprint.to_le_bytes())
        }
        None => out.write_all(&[0]),
    }
}

/// The next record of a bucket file, or `None` at its end.
fn read_record(input: &mut impl Read) -> std::io::Result<Option<(String, Option<u64>)>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let mut id = vec![0u8; u32::from_le_bytes(len) as usize];
    input.read_exact(&mut id)?;
    let mut tag = [0u8; 1];
    input.read_exact(&mut tag)?;
    let value = if tag[0] == 1 {
        let mut fingerprint = [0u8; 8];
        input.read_exact(&mut fingerprint)?;
        Some(u64::from_le_bytes(fingerprint))
    } else {
        None
    };
    let id = String::from_utf8(id)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Ok(Some((id, value)))
}

impl Spill {
    /// Creates `buckets` empty bucket files per side under `parent`.
    pub fn create(parent: &Path, buckets: usize) -> Result<Spill, Error> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir = parent.join(format!("indexer-verify-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| io_error(&dir, e))?;
        let mut spill = Spill {
            dir,
            index: Vec::with_capacity(buckets),
            table: Vec::with_capacity(buckets),
        };
        for bucket in 0..buckets.max(1) {
            for (side, files) in [("index", &mut spill.index), ("table", &mut spill.table)] {
                let path = spill.dir.join(format!("{side}-{bucket}"));
                let file = File::create(&path).map_err(|e| io_error(&spill.dir, e))?;
                files.push(BufWriter::new(file));
            }
        }
        Ok(spill)
    }

    pub fn buckets(&self) -> usize {
        self.index.len()
    }

    pub fn index_record(&mut self, id: &str, fingerprint: u64) -> Result<(), Error> {
        let bucket = bucket_of(id, self.buckets());
        write_record(&mut self.index[bucket], id, Some(fingerprint))
            .map_err(|e| io_error(&self.dir, e))
    }

    pub fn table_record(&mut self, id: &str, record: TableRecord) -> Result<(), Error> {
        let bucket = bucket_of(id, self.buckets());
        write_record(&mut self.table[bucket], id, record).map_err(|e| io_error(&self.dir, e))
    }

    /// Compares bucket by bucket; the files are removed when the spill is dropped.
    pub fn compare(mut self) -> Result<Found, Error> {
        for out in self.index.iter_mut().chain(self.table.iter_mut()) {
            out.flush().map_err(|e| io_error(&self.dir, e))?;
        }
        let mut found = Found::default();
        for bucket in 0..self.buckets() {
            let open = |side: &str| -> Result<BufReader<File>, Error> {
                File::open(self.dir.join(format!("{side}-{bucket}")))
                    .map(BufReader::new)
                    .map_err(|e| io_error(&self.dir, e))
            };
            let mut documents: HashMap<String, u64> = HashMap::new();
            let mut index = open("index")?;
            while let Some((id, fingerprint)) =
                read_record(&mut index).map_err(|e| io_error(&self.dir, e))?
            {
                documents.insert(id, fingerprint.unwrap_or_default());
            }
            found.documents += documents.len() as u64;
            let mut table = open("table")?;
            while let Some((id, record)) =
                read_record(&mut table).map_err(|e| io_error(&self.dir, e))?
            {
                found.scanned += 1;
                match (record, documents.remove(&id)) {
                    (None, _) => found.unmappable.push(id),
                    (Some(_), None) => found.missing.push(id),
                    (Some(item), Some(document)) if item != document => found.stale.push(id),
                    (Some(_), Some(_)) => {}
                }
            }
            found.extra.extend(documents.into_keys());
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_grow_with_the_index_so_each_stays_bounded() {
        assert_eq!(buckets_for(0), 1);
        assert_eq!(buckets_for(BUCKET_DOCS), 1);
        assert_eq!(buckets_for(BUCKET_DOCS + 1), 2);
        assert_eq!(buckets_for(100 * BUCKET_DOCS), 100);
    }

    #[test]
    fn a_spilled_comparison_finds_what_a_map_would_and_cleans_up() {
        let parent = std::env::temp_dir();
        let mut spill = Spill::create(&parent, 7).expect("spill");
        let dir = spill.dir.clone();
        for n in 0..500u64 {
            if n % 50 != 0 {
                spill
                    .index_record(&format!("id-{n}\twith tab"), n)
                    .expect("write");
            }
        }
        spill.index_record("only-in-index", 1).expect("write");
        for n in 0..500u64 {
            let fingerprint = if n % 70 == 0 { n + 1 } else { n };
            spill
                .table_record(&format!("id-{n}\twith tab"), Some(fingerprint))
                .expect("write");
        }
        spill.table_record("cannot-map", None).expect("write");
        let mut found = spill.compare().expect("compare");
        assert!(!dir.exists(), "the files are removed");
        found.missing.sort();
        found.stale.sort();
        let ids = |ns: &[u64]| -> Vec<String> {
            let mut ids: Vec<String> = ns.iter().map(|n| format!("id-{n}\twith tab")).collect();
            ids.sort();
            ids
        };
        // 0, 350 are both missing (n % 50) and would be stale: missing wins.
        assert_eq!(
            found.missing,
            ids(&[0, 50, 100, 150, 200, 250, 300, 350, 400, 450])
        );
        assert_eq!(found.stale, ids(&[70, 140, 210, 280, 420, 490]));
        assert_eq!(found.extra, vec!["only-in-index".to_owned()]);
        assert_eq!(found.unmappable, vec!["cannot-map".to_owned()]);
        assert_eq!(found.documents, 491);
        assert_eq!(found.scanned, 501);
    }
}
