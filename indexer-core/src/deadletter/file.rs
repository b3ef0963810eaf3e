//! Dead letters in a local file: opened for appending on the first group (created 0600 if
//! absent, never truncated), each group written whole and `fdatasync`ed before its commit returns.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::DeadLetterError;

pub(super) struct FileStore {
    path: PathBuf,
    /// Opened on the first group; shared with the blocking task that writes and syncs.
    file: Arc<Mutex<Option<File>>>,
}

impl FileStore {
    pub(super) fn new(path: PathBuf) -> FileStore {
        FileStore {
            path,
            file: Arc::new(Mutex::new(None)),
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `lines` and syncs them to disk, off the async threads (a sync may take a while).
    pub(super) async fn append(&self, lines: Vec<u8>) -> Result<(), DeadLetterError> {
        let path = self.path.clone();
        let file = Arc::clone(&self.file);
        let fail = |path: &Path, source| DeadLetterError::File {
            path: path.display().to_string(),
            source,
        };
        let written = tokio::task::spawn_blocking(move || {
            let mut guard = file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            append_synced(&mut guard, &path, &lines).map_err(|source| fail(&path, source))
        })
        .await;
        match written {
            Ok(result) => result,
            Err(joined) => Err(fail(&self.path, std::io::Error::other(joined))),
        }
    }
}

/// Whether a non-empty file's last byte is not a newline (a record cut short by a kill).
fn ends_torn(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path)?;
    if file.metadata()?.len() == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

fn append_synced(file: &mut Option<File>, path: &Path, lines: &[u8]) -> std::io::Result<()> {
    if file.is_none() {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let existed = path.exists();
        *file = Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)?,
        );
        if existed && ends_torn(path)? {
            // An earlier run was killed in the middle of a write: that group was never settled
            // (it is written again), but its fragment must not glue itself to the next record.
            let Some(open) = file.as_mut() else {
                return Err(std::io::Error::other("the file is not open"));
            };
            open.write_all(b"\n")?;
            open.sync_data()?;
        }
        if !existed {
            // A new file's name lives in its directory: sync that too, or a crash could lose
            // the whole file although its contents were synced.
            let parent = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            File::open(parent)?.sync_all()?;
        }
    }
    let Some(file) = file.as_mut() else {
        return Err(std::io::Error::other("the file is not open"));
    };
    file.write_all(lines)?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_record_cut_short_by_a_kill_never_glues_itself_to_the_next() {
        let dir = std::env::temp_dir().join(format!("dl-torn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("torn.jsonl");
        std::fs::write(&path, b"{\"id\":\"a\"}\n{\"id\":\"b\",\"rea").expect("torn file");
        let store = FileStore::new(path.clone());
        store
            .append(b"{\"id\":\"b\"}\n".to_vec())
            .await
            .expect("append");
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(
            lines[2], "{\"id\":\"b\"}",
            "the resumed record stands alone"
        );
        assert!(serde_json::from_str::<serde_json::Value>(lines[2]).is_ok());
        // A whole file gets no extra line.
        store
            .append(b"{\"id\":\"c\"}\n".to_vec())
            .await
            .expect("append");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 4, "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
