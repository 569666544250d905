//! Unique names and private directories, each carrying this process's PID so that a sweep
//! can tell a live run's things from a killed run's leftovers.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Every fixture directory lives below this root. It is not world-writable (unlike /tmp), so
/// sshd's StrictModes accepts authorized_keys files inside it, and it is on loopback-only,
/// root-owned ground.
pub(crate) const SCRATCH_ROOT: &str = "/run/mfa-tests";

/// Start of every name the suites give to files, services and accounts.
pub(crate) const NAME_PREFIX: &str = "mfat";

fn next_number() -> u32 {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// `mfat-<pid>-<n>`: for scratch directories, PAM services and sudoers drop-ins.
pub(crate) fn unique_name() -> String {
    format!("{NAME_PREFIX}-{}-{}", std::process::id(), next_number())
}

/// `mfat<pid>u<n>`: for accounts (letters and digits only, which every user-name rule allows).
pub(crate) fn unique_user_name() -> String {
    format!("{NAME_PREFIX}{}u{}", std::process::id(), next_number())
}

/// The PID of the run that made `name` (a [`unique_name`]), if it is one.
pub(crate) fn owner_of_name(name: &str) -> Option<i32> {
    let rest = name.strip_prefix(NAME_PREFIX)?.strip_prefix('-')?;
    let (pid, number) = rest.split_once('-')?;
    number.parse::<u32>().ok()?;
    pid.parse().ok()
}

/// The PID of the run that made account `name` (a [`unique_user_name`]), if it is one.
pub(crate) fn owner_of_user_name(name: &str) -> Option<i32> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    let (pid, number) = rest.split_once('u')?;
    number.parse::<u32>().ok()?;
    pid.parse().ok()
}

/// A fresh directory `/run/mfa-tests/mfat-<pid>-<n>` (mode 0755, so that test accounts can
/// reach a socket inside it), removed with everything in it on drop.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Creates the directory.
    pub fn create() -> ScratchDir {
        let root = Path::new(SCRATCH_ROOT);
        fs::create_dir_all(root)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", root.display()));
        set_mode(root, 0o755);
        let path = root.join(unique_name());
        fs::create_dir(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        set_mode(&path, 0o755);
        ScratchDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records the PID of a process started for this directory as `<what>.pid`, so that a
    /// later run can stop it if this one is killed before its fixtures drop.
    pub fn record_pid(&self, what: &str, pid: u32) {
        write_file(
            &self.path.join(format!("{what}.pid")),
            &pid.to_string(),
            0o644,
        );
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Writes `contents` to `path` and sets its mode, panicking with the path on failure.
pub(crate) fn write_file(path: &Path, contents: &str, mode: u32) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    set_mode(path, mode);
}

/// Sets the permission bits of `path`, panicking with the path on failure.
pub(crate) fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {:o} {}: {e}", mode, path.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_owner_pid() {
        let pid = std::process::id() as i32;
        assert_eq!(owner_of_name(&unique_name()), Some(pid));
        assert_eq!(owner_of_user_name(&unique_user_name()), Some(pid));
    }

    #[test]
    fn foreign_names_have_no_owner() {
        for name in [
            "mfat",
            "mfat-",
            "mfat-12",
            "mfat-x-1",
            "mfa-1-2",
            "sshd",
            "mfat-1-2.bak",
        ] {
            assert_eq!(owner_of_name(name), None, "{name}");
        }
        for name in ["mfat", "mfatu1", "mfat12", "mfat12ux", "alice", "mfat-1-2"] {
            assert_eq!(owner_of_user_name(name), None, "{name}");
        }
    }
}
