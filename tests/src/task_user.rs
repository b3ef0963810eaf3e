//! The indexer run as ECS runs the worker: as the task's user (uid and gid 65532, no
//! supplementary groups) with a read-only root file system. The run gets a mount namespace of its
//! own (`unshare --mount`, private propagation) in which `/` and `/dev/shm` are bind-remounted
//! read-only — `/tmp` and every other directory on the root file system with them — and then
//! drops to the task's user (`setpriv`); its working directory, `HOME` and `TMPDIR` are a
//! directory it could not write even if the file system allowed it. So any write outside the
//! run's network destinations fails the run. The rest of the machine is untouched: the
//! remounts exist only in the run's namespace. [`TaskUser::written`] checks afterwards, from
//! outside, that nothing owned by the task's user appeared anywhere it could have gone.
//!
//! What this does not reproduce is the container itself (its image, `/work` volume, and ECS's
//! own mounts). It needs root (to make the namespace and change user), as the tests' container
//! runs them; elsewhere the constructor fails the test, saying so.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::harness::indexer_command;

/// The worker's user in the image (`nonroot` of the distroless base) and in the task definition.
pub const TASK_UID: u32 = 65532;

/// A working directory the task's user can read but not write, for runs as that user.
pub struct TaskUser {
    pub dir: PathBuf,
}

impl TaskUser {
    /// A fresh directory, owned by the test's (root) user, mode 0755.
    pub fn new(label: &str) -> TaskUser {
        // `id -u` answers without a libc binding.
        let uid = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        assert_eq!(
            uid, "0",
            "runs as the task's user need root (unshare, mount, setpriv)"
        );
        let dir = std::env::temp_dir().join(format!("task-user-{}-{label}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a working directory");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("mode 0755");
        TaskUser { dir }
    }

    /// Starts the indexer as the task's user on a read-only root, in the unwritable directory.
    pub fn spawn(&self, args: &[&str], extra_env: &[(&str, &str)]) -> tokio::process::Child {
        // `unshare` and `setpriv` exec what follows, so the child's pid is the indexer's own and
        // a kill reaches it directly.
        let script = format!(
            "mount -o remount,bind,ro / && mount -o remount,bind,ro /dev/shm && exec setpriv --reuid={TASK_UID} --regid={TASK_UID} --clear-groups \"$@\""
        );
        let wrapper = [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script.as_str(),
            "sh",
        ];
        let mut command = indexer_command(&wrapper, args, extra_env);
        command
            .current_dir(&self.dir)
            .env("HOME", &self.dir)
            .env("TMPDIR", &self.dir);
        match command.spawn() {
            Ok(child) => child,
            Err(error) => panic!("cannot run the indexer as the task's user: {error}"),
        }
    }

    /// Every file or directory the task's user owns in the places it could have written: its
    /// working directory and the machine's world-writable ones.
    pub fn written(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for root in [
            self.dir.as_path(),
            Path::new("/tmp"),
            Path::new("/var/tmp"),
            Path::new("/dev/shm"),
        ] {
            owned_by_task_user(root, &mut found, 0);
        }
        found
    }
}

impl Drop for TaskUser {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn owned_by_task_user(dir: &Path, found: &mut Vec<PathBuf>, depth: u32) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.uid() == TASK_UID {
            found.push(path.clone());
        }
        if meta.is_dir() && depth < 4 {
            owned_by_task_user(&path, found, depth + 1);
        }
    }
}
