//! The indexer run as ECS runs the worker: as the task's user with a read-only root file system,
//! as far as the machine running the tests allows.
//!
//! - Run by root (as the tests' container runs them), the run gets a mount namespace of its own
//!   (`unshare --mount`, private propagation) in which `/` and `/dev/shm` are bind-remounted
//!   read-only — `/tmp` and every other directory on the root file system with them — and then
//!   drops to the task's user (uid and gid 65532, no supplementary groups, via `setpriv`). Any
//!   write outside the run's network destinations fails the run with "Read-only file system".
//!   The rest of the machine is untouched: the remounts exist only in the run's namespace.
//! - Run by another user (who can neither make the namespace nor change user), the run keeps
//!   that user, and only its working directory, `HOME` and `TMPDIR` are unwritable (mode 0555):
//!   a write there fails with "Permission denied"; `/tmp` stays writable.
//!
//! What this does not reproduce is the container itself (its image, `/work` volume, and ECS's
//! own mounts).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::harness::indexer_command;

/// The worker's user in the image (`nonroot` of the distroless base) and in the task definition.
pub const TASK_UID: u32 = 65532;

/// How a run is confined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confinement {
    /// As uid 65532 on a read-only root file system (the tests run as root).
    ReadOnlyRoot,
    /// As the tests' own user, from an unwritable working directory.
    UnwritableDirectory,
}

impl Confinement {
    /// The words the operating system uses when a write is refused under this confinement.
    pub fn refusal(self) -> &'static str {
        match self {
            Confinement::ReadOnlyRoot => "Read-only file system",
            Confinement::UnwritableDirectory => "Permission denied",
        }
    }
}

/// A working directory the run can read but not write, and how the run is confined.
pub struct TaskUser {
    pub dir: PathBuf,
    pub confinement: Confinement,
}

impl TaskUser {
    /// A fresh working directory: mode 0755 and owned by root when the tests run as root (the
    /// task's user cannot write it), else mode 0555.
    pub fn new(label: &str) -> TaskUser {
        // `id -u` answers without a libc binding.
        let uid = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let (confinement, mode) = match uid.as_str() {
            "0" => (Confinement::ReadOnlyRoot, 0o755),
            _ => (Confinement::UnwritableDirectory, 0o555),
        };
        let dir = std::env::temp_dir().join(format!("task-user-{}-{label}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a working directory");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).expect("its mode");
        TaskUser { dir, confinement }
    }

    /// Starts the indexer confined, in the unwritable directory.
    pub fn spawn(&self, args: &[&str], extra_env: &[(&str, &str)]) -> tokio::process::Child {
        // `unshare` and `setpriv` exec what follows, so the child's pid is the indexer's own and
        // a kill reaches it directly.
        let script = format!(
            "mount -o remount,bind,ro / && mount -o remount,bind,ro /dev/shm && exec setpriv --reuid={TASK_UID} --regid={TASK_UID} --clear-groups \"$@\""
        );
        let wrapper: &[&str] = match self.confinement {
            Confinement::ReadOnlyRoot => &[
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                script.as_str(),
                "sh",
            ],
            Confinement::UnwritableDirectory => &[],
        };
        let mut command = indexer_command(wrapper, args, extra_env);
        command
            .current_dir(&self.dir)
            .env("HOME", &self.dir)
            .env("TMPDIR", &self.dir);
        match command.spawn() {
            Ok(child) => child,
            Err(error) => panic!("cannot run the indexer confined: {error}"),
        }
    }

    /// What the run left in its working directory (nothing, unless a write got through).
    pub fn left_behind(&self) -> Vec<PathBuf> {
        std::fs::read_dir(&self.dir)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }
}

impl Drop for TaskUser {
    fn drop(&mut self) {
        let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o755));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
