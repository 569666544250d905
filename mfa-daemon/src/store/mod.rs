//! Durable per-user records under the state directory.
//!
//! One JSON file per user in `STATE_DIR/users/`. A write goes to a new temp file in the same
//! directory, is fsynced, renamed over the record and the directory is fsynced, all under a
//! per-user lock: a crash, kill -9, full or read-only disk leaves the old or the new record,
//! never a torn one. Files are opened with `O_NOFOLLOW`, so a symlink planted in the state
//! directory is refused rather than followed. A record that cannot be parsed is an error,
//! never silently replaced (that would drop an enrollment and fail open).

pub mod attempt_limiter;

use std::collections::HashMap;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use nix::fcntl::{Flock, FlockArg};
use zeroize::Zeroizing;

use crate::username;
use mfa_core::record;
pub use mfa_core::record::{RECORD_VERSION, TotpFactor, UserRecord};

/// Largest record file read; anything bigger is corrupt or hostile.
const MAX_RECORD_BYTES: u64 = 1024 * 1024;
const TEMP_SUFFIX: &str = ".tmp";

/// Why the store could not do what was asked. Every variant fails the login closed.
#[derive(Debug)]
pub enum StoreError {
    /// A user name that must not reach a path.
    InvalidUser,
    /// The state directory is unusable (wrong type, owner, or already in use).
    Unsafe {
        /// What was checked.
        path: PathBuf,
        /// Why it is refused.
        why: String,
    },
    /// An I/O error.
    Io {
        /// File or directory involved.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// A record exists but cannot be parsed.
    Corrupt {
        /// The record file.
        path: PathBuf,
        /// Parser message.
        why: String,
    },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::InvalidUser => write!(f, "invalid user name"),
            StoreError::Unsafe { path, why } => write!(f, "{}: {why}", path.display()),
            StoreError::Io { path, op, source } => {
                write!(f, "cannot {op} {}: {source}", path.display())
            }
            StoreError::Corrupt { path, why } => write!(
                f,
                "record {} is corrupt ({why}); logins for this user fail until an admin \
                 restores or removes it",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StoreError {}

pub(crate) fn io_err<'a>(
    path: &'a Path,
    op: &'static str,
) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        path: path.to_owned(),
        op,
        source,
    }
}

/// The record store.
#[derive(Debug)]
pub struct Store {
    users_dir: PathBuf,
    user_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    temp_counter: AtomicU64,
    /// Replaced records, still open, on their way to being closed off the login's path: the
    /// file system frees a replaced record's blocks when its last descriptor closes, and on
    /// ext4 that costs more than the whole durable write (measured in bench/RESULTS.md).
    retired: Mutex<mpsc::Sender<File>>,
    /// Held for the daemon's lifetime so that two daemons never share a state directory.
    _instance_lock: Flock<File>,
}

impl Store {
    /// Opens (creating 0700 if missing) the state directory, takes its instance lock and
    /// removes temp files a crash left behind.
    pub fn open(state_dir: &Path) -> Result<Store, StoreError> {
        let users_dir = state_dir.join("users");
        for dir in [state_dir, users_dir.as_path()] {
            ensure_private_dir(dir)?;
        }
        let lock_path = state_dir.join("daemon.lock");
        // Created once, then held open read-only (flock needs no write access), so that an
        // admin can still remount the state file system read-only under a running daemon.
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&lock_path)
            .map_err(io_err(&lock_path, "create"))?;
        let lock_file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&lock_path)
            .map_err(io_err(&lock_path, "open"))?;
        let instance_lock =
            Flock::lock(lock_file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
                StoreError::Unsafe {
                    path: state_dir.to_owned(),
                    why: format!("another mfa-daemon is using this state directory ({errno})"),
                }
            })?;
        let (retire, retired) = mpsc::channel::<File>();
        std::thread::Builder::new()
            .name("record-closer".to_owned())
            .spawn(move || retired.into_iter().for_each(drop))
            .map_err(io_err(state_dir, "start the record closer for"))?;
        let store = Store {
            users_dir,
            user_locks: Mutex::new(HashMap::new()),
            temp_counter: AtomicU64::new(0),
            retired: Mutex::new(retire),
            _instance_lock: instance_lock,
        };
        store.remove_stale_temp_files()?;
        Ok(store)
    }

    fn record_path(&self, user: &str) -> Result<PathBuf, StoreError> {
        if !username::is_valid(user) {
            return Err(StoreError::InvalidUser);
        }
        Ok(self
            .users_dir
            .join(format!("{}.json", username::file_stem(user))))
    }

    /// The names that have a record, sorted. Temp files, and files whose names
    /// [`username::file_stem`] never writes, are skipped.
    pub fn users(&self) -> Result<Vec<String>, StoreError> {
        let entries = fs::read_dir(&self.users_dir).map_err(io_err(&self.users_dir, "list"))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err(&self.users_dir, "list"))?;
            let file_name = entry.file_name();
            let Some(stem) = file_name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if let Some(name) = username::from_file_stem(stem) {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// The user's record, or `None` if there is none. Reads need no lock: records are
    /// replaced by rename, so a reader sees the old or the new one.
    pub fn load(&self, user: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.open_record(user)?.map(|(record, _file)| record))
    }

    /// The user's record and the open file it was read from.
    fn open_record(&self, user: &str) -> Result<Option<(UserRecord, File)>, StoreError> {
        let path = self.record_path(user)?;
        let Some((bytes, file)) = read_state_file(&path, MAX_RECORD_BYTES)? else {
            return Ok(None);
        };
        Ok(Some((decode_record(&path, &bytes)?, file)))
    }

    /// Runs `change` on the user's record (a fresh one if there is none) under the user's
    /// lock, and writes the result durably if it changed. `change`'s result is returned only
    /// after the write is on disk.
    pub fn update<T>(
        &self,
        user: &str,
        change: impl FnOnce(&mut UserRecord) -> T,
    ) -> Result<T, StoreError> {
        let path = self.record_path(user)?;
        let lock = self.user_lock(user);
        let result = {
            let _guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
            let (before, old_file) = match self.open_record(user)? {
                Some((record, file)) => (record, Some(file)),
                None => (UserRecord::default(), None),
            };
            let mut after = before.clone();
            let result = change(&mut after);
            if after != before {
                self.write_atomically(&path, &after)?;
                if let Some(file) = old_file {
                    self.retire(file);
                }
            }
            result
        };
        drop(lock);
        self.forget_idle_lock(user);
        Ok(result)
    }

    /// Closes a replaced record's file on the closer thread (or here, if that is gone).
    fn retire(&self, file: File) {
        let sender = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(mpsc::SendError(file)) = sender.send(file) {
            drop(file);
        }
    }

    fn user_lock(&self, user: &str) -> Arc<Mutex<()>> {
        let mut locks = self
            .user_locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        locks.entry(user.to_owned()).or_default().clone()
    }

    fn forget_idle_lock(&self, user: &str) {
        let mut locks = self
            .user_locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if locks.get(user).is_some_and(|l| Arc::strong_count(l) == 1) {
            locks.remove(user);
        }
    }

    fn write_atomically(&self, path: &Path, record: &UserRecord) -> Result<(), StoreError> {
        let bytes =
            Zeroizing::new(serde_json::to_vec(record).map_err(|e| StoreError::Corrupt {
                path: path.to_owned(),
                why: format!("cannot serialize: {e}"),
            })?);
        let n = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        write_durably(&self.users_dir, path, &bytes, n)
    }

    fn remove_stale_temp_files(&self) -> Result<(), StoreError> {
        let entries = fs::read_dir(&self.users_dir).map_err(io_err(&self.users_dir, "list"))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(TEMP_SUFFIX) {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }
}

/// Replaces `path` (a file directly in `dir`) with `bytes` durably: a new temp file in `dir`,
/// fsync, rename over `path`, fsync of `dir`. A crash at any point leaves the old or the new
/// content, never a torn file. `n` makes the temp name unique among concurrent writers of
/// this process.
pub(crate) fn write_durably(
    dir: &Path,
    path: &Path,
    bytes: &[u8],
    n: u64,
) -> Result<(), StoreError> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("record");
    let temp = dir.join(format!(
        ".{file_name}.{}.{n}{TEMP_SUFFIX}",
        std::process::id()
    ));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&temp)
            .map_err(io_err(&temp, "create"))?;
        file.write_all(bytes).map_err(io_err(&temp, "write"))?;
        file.sync_all().map_err(io_err(&temp, "fsync"))?;
        fs::rename(&temp, path).map_err(io_err(path, "rename into place"))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir, "fsync"))
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

/// A state file's content, and the file, still open.
pub(crate) type StateFile = (Zeroizing<Vec<u8>>, File);

/// Reads a file of the state directory whole, with the file still open: `None` if it does
/// not exist. A symlink is refused rather than followed, and so is anything but a regular
/// file of at most `max` bytes (bigger is corrupt or hostile). The bytes are wiped when
/// dropped: state files hold secrets and hashes.
pub(crate) fn read_state_file(path: &Path, max: u64) -> Result<Option<StateFile>, StoreError> {
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(StoreError::Unsafe {
                path: path.to_owned(),
                why: "is a symlink; refusing to follow it".to_owned(),
            });
        }
        Err(e) => return Err(io_err(path, "open")(e)),
    };
    let meta = file.metadata().map_err(io_err(path, "stat"))?;
    if !meta.is_file() {
        return Err(StoreError::Unsafe {
            path: path.to_owned(),
            why: "is not a regular file".to_owned(),
        });
    }
    if meta.len() > max {
        return Err(StoreError::Corrupt {
            path: path.to_owned(),
            why: format!("{} bytes, more than it can hold", meta.len()),
        });
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize));
    file.read_to_end(&mut bytes).map_err(io_err(path, "read"))?;
    Ok(Some((bytes, file)))
}

/// Parses a record file's bytes; `path` only names the file in errors, which never quote
/// the content (it holds a secret and hashes).
pub fn decode_record(path: &Path, bytes: &[u8]) -> Result<UserRecord, StoreError> {
    record::decode(bytes).map_err(|e| StoreError::Corrupt {
        path: path.to_owned(),
        why: e.to_string(),
    })
}

/// Creates `dir` 0700 if missing; refuses a symlink or a directory owned by someone else,
/// and tightens permissions that let others read it.
fn ensure_private_dir(dir: &Path) -> Result<(), StoreError> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir.parent().unwrap_or(Path::new("/")))
                .map_err(io_err(dir, "create parent of"))?;
            DirBuilder::new()
                .mode(0o700)
                .create(dir)
                .map_err(io_err(dir, "create"))?;
        }
        Err(e) => return Err(io_err(dir, "create")(e)),
    }
    let meta = fs::symlink_metadata(dir).map_err(io_err(dir, "stat"))?;
    let unsafe_dir = |why: &str| StoreError::Unsafe {
        path: dir.to_owned(),
        why: why.to_owned(),
    };
    if meta.file_type().is_symlink() {
        return Err(unsafe_dir(
            "is a symlink; the state directory must be a real directory",
        ));
    }
    if !meta.is_dir() {
        return Err(unsafe_dir("is not a directory"));
    }
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(unsafe_dir("is owned by another user than the daemon's"));
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(io_err(dir, "chmod 0700"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::factor::totp::{Algorithm, Secret, TotpParams};

    fn record_with_totp() -> UserRecord {
        UserRecord {
            totp: vec![TotpFactor {
                label: "app".to_owned(),
                params: TotpParams {
                    algorithm: Algorithm::Sha1,
                    digits: 6,
                    period: 30,
                },
                secret: Secret::from_bytes(vec![7; 20]),
                enrolled_at: 1,
                last_step: 2,
            }],
            ..UserRecord::default()
        }
    }

    #[test]
    fn round_trip_and_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let store = Store::open(&state).unwrap();
        assert_eq!(fs::metadata(&state).unwrap().mode() & 0o777, 0o700);
        assert!(store.load("alice").unwrap().is_none());
        store.update("alice", |r| *r = record_with_totp()).unwrap();
        assert_eq!(store.load("alice").unwrap().unwrap(), record_with_totp());
        let file = state.join("users/alice.json");
        assert_eq!(fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
    }

    #[test]
    fn unchanged_record_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.update("bob", |_| ()).unwrap();
        assert!(!dir.path().join("users/bob.json").exists());
    }

    #[test]
    fn invalid_names_never_reach_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for name in ["../x", "a/b", "", ".."] {
            assert!(matches!(store.load(name), Err(StoreError::InvalidUser)));
            assert!(matches!(
                store.update(name, |_| ()),
                Err(StoreError::InvalidUser)
            ));
        }
    }

    #[test]
    fn symlinked_record_is_refused_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let target = dir.path().join("elsewhere");
        fs::write(&target, "{}").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("users/eve.json")).unwrap();
        assert!(matches!(store.load("eve"), Err(StoreError::Unsafe { .. })));
        assert!(store.update("eve", |r| r.revision += 1).is_err());
        assert_eq!(fs::read_to_string(&target).unwrap(), "{}");
    }

    #[test]
    fn symlinked_state_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        fs::create_dir(&real).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(matches!(Store::open(&link), Err(StoreError::Unsafe { .. })));
    }

    #[test]
    fn corrupt_record_fails_closed_and_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let path = dir.path().join("users/carol.json");
        fs::write(&path, "{\"version\":1,\"totp\":").unwrap();
        let err = store.load("carol").unwrap_err();
        assert!(err.to_string().contains("corrupt"), "{err}");
        assert!(store.update("carol", |r| r.recovery_codes.clear()).is_err());
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\"version\":1,\"totp\":"
        );
    }

    #[test]
    fn corrupt_record_errors_never_quote_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let path = dir.path().join("users/frank.json");
        fs::write(
            &path,
            r#"{"version":1,"recovery_codes":{"hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}}"#,
        )
        .unwrap();
        let err = store.load("frank").unwrap_err().to_string();
        assert!(err.contains("unexpected content at line 1"), "{err}");
        assert!(!err.contains("argon2id"), "{err}");
    }

    #[test]
    fn version_1_records_are_read_and_migrated_on_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let path = dir.path().join("users/gina.json");
        let v1 = r#"{"version":1,"totp":null,"recovery_codes":["$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"],"limits":{"sources":{"h":{"failures":[1],"locked_until":0,"rounds":0,"last_failure":1}},"account":{"failures":[],"locked_until":0,"rounds":0,"last_failure":0}}}"#;
        fs::write(&path, v1).unwrap();
        let record = store.load("gina").unwrap().unwrap();
        assert_eq!(record.version, RECORD_VERSION);
        assert_eq!(record.recovery_codes.len(), 1);
        assert_eq!(record.recovery_codes[0].id, None);
        // Reading alone does not rewrite it.
        store.update("gina", |_| ()).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), v1);
        store.update("gina", |r| r.revision += 1).unwrap();
        let written = fs::read_to_string(&path).unwrap();
        assert!(written.contains("\"version\":5"), "{written}");
        assert!(written.contains("\"totp\":[]"), "{written}");
        assert!(!written.contains("limits"), "{written}");
        assert_eq!(
            store.load("gina").unwrap().unwrap().recovery_codes,
            record.recovery_codes
        );
    }

    #[test]
    fn directory_names_get_one_file_in_the_users_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.update("CORP\\hal", |r| r.revision = 1).unwrap();
        store
            .update("hal@corp.example", |r| r.revision = 2)
            .unwrap();
        assert!(dir.path().join("users/CORP%5Chal.json").exists());
        assert!(dir.path().join("users/hal%40corp.example.json").exists());
        assert_eq!(store.load("CORP\\hal").unwrap().unwrap().revision, 1);
    }

    #[test]
    fn users_are_the_decoded_record_names_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for name in ["zoe", "CORP\\hal", "hal@corp.example", "ä"] {
            store.update(name, |r| r.revision = 1).unwrap();
        }
        let users = dir.path().join("users");
        for stray in [
            ".zoe.json.1.0.tmp",
            "notes.txt",
            "%zz.json",
            "%2E%2E.json",
            "a b.json",
            ".json",
        ] {
            fs::write(users.join(stray), "{}").unwrap();
        }
        assert_eq!(
            store.users().unwrap(),
            ["CORP\\hal", "hal@corp.example", "zoe", "ä"]
        );
    }

    #[test]
    fn second_daemon_on_same_state_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("another mfa-daemon"), "{err}");
    }

    #[test]
    fn stale_temp_files_are_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let stale = dir.path().join("users/.dave.json.123.0.tmp");
        fs::write(&stale, "partial").unwrap();
        let _store = Store::open(dir.path()).unwrap();
        assert!(!stale.exists());
    }

    #[test]
    fn concurrent_updates_are_serialized() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for _ in 0..10 {
                        store
                            .update("erin", |r| {
                                r.revision += 1;
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(store.load("erin").unwrap().unwrap().revision, 80);
    }
}
