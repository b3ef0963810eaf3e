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
