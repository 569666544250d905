//! Durable per-user records: one interface, [`RecordStore`], and its engines.
//!
//! A change is a transaction of one user's record: [`RecordStore::begin`] waits for the
//! user's other transactions (on every host, for a shared engine), reads the record, and
//! [`Txn::commit`] returns only once the new record is durable. Dropping a transaction
//! without committing changes nothing. Every engine keeps docs/DESIGN.md's invariants 1–3: a code
//! is accepted once whoever races for it; a crash, kill -9, full or read-only disk or lost
//! database leaves the old or the new record, never a torn one, and fails closed; a record
//! that cannot be read is an error, never silently replaced (that would drop an enrollment
//! and fail open). The same tests run against each engine (tests/tests/engines.rs).
//!
//! - [`files::FileStore`] (the default): two-slot files in the state directory, written in
//!   place with one `fdatasync`, and an in-memory copy of the records.
//! - [`postgres::PgStore`]: one PostgreSQL database shared by a fleet of hosts, records
//!   sealed with a key only the hosts have.

pub mod attempt_limiter;
pub mod files;
mod open;
pub mod postgres;
mod sealing;
pub mod send_ledger;

pub use open::{Engines, OpenError, open};

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use zeroize::Zeroizing;

use mfa_core::lockout::{FailureEffect, LockoutPolicy};
use mfa_core::record;
pub use mfa_core::record::{RECORD_VERSION, TotpFactor, UserRecord};

pub(crate) const TEMP_SUFFIX: &str = ".tmp";

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
    /// A shared engine cannot be reached (or did not answer in time); nothing was changed
    /// that was acknowledged.
    Unavailable {
        /// The engine.
        engine: &'static str,
        /// What failed.
        why: String,
    },
    /// A record exists but cannot be parsed (or, sealed, cannot be opened with this host's
    /// key).
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
            StoreError::Unavailable { engine, why } => write!(
                f,
                "{engine} store unavailable ({why}); logins fail closed until it is back"
            ),
            StoreError::Corrupt { path, why } => write!(
                f,
                "record {} is corrupt ({why}); logins for this user fail until an admin \
                 restores or removes it",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io { source, .. } => Some(source),
            StoreError::InvalidUser
            | StoreError::Unsafe { .. }
            | StoreError::Unavailable { .. }
            | StoreError::Corrupt { .. } => None,
        }
    }
}

impl StoreError {
    /// Whether a shared engine is out of reach (rather than a record being bad).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

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

/// Where user records live. Every method may block (file or network I/O): the daemon calls
/// them on blocking threads.
pub trait RecordStore: Send + Sync + std::fmt::Debug {
    /// The engine's name, as in `[store] engine`.
    fn engine(&self) -> &'static str;

    /// Starts a transaction of `user`'s record: waits until no other transaction of that user
    /// is open, then reads it (an empty record if there is none).
    fn begin<'a>(&'a self, user: &str) -> Result<Box<dyn Txn + 'a>, StoreError>;

    /// The user's record as last committed, or `None` if there is none. No lock is taken: a
    /// reader sees the old or the new record.
    fn load(&self, user: &str) -> Result<Option<UserRecord>, StoreError>;

    /// The names that have a record, sorted.
    fn users(&self) -> Result<Vec<String>, StoreError>;
}

/// One user's record, read under that user's lock. Dropped without [`Txn::commit`], nothing
/// changes.
pub trait Txn {
    /// The record as read when the transaction began.
    fn record(&self) -> &UserRecord;

    /// Makes `record` the user's record, durably, and ends the transaction.
    fn commit(self: Box<Self>, record: &UserRecord) -> Result<(), StoreError>;
}

impl dyn RecordStore + '_ {
    /// Runs `change` on the user's record in a transaction, and commits the result if it
    /// changed. `change`'s result is returned only after the commit.
    pub fn update<T>(
        &self,
        user: &str,
        change: impl FnOnce(&mut UserRecord) -> T,
    ) -> Result<T, StoreError> {
        let txn = self.begin(user)?;
        let mut after = txn.record().clone();
        let result = change(&mut after);
        if after != *txn.record() {
            txn.commit(&after)?;
        }
        Ok(result)
    }
}

/// Whose work a store call is: root's callers (sshd, sudo, login, and root's tools) or any
/// other uid. A shared engine keeps connections for root's callers that users' work cannot
/// take, so that local users flooding the daemon cannot slow root's logins down to their
/// timeout. Every handle on an engine is made for one class ([`open`] gives one set of
/// handles per class), so no store call can be made without saying whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerClass {
    /// uid 0, and the daemon's own background work.
    Root,
    /// Any other uid.
    User,
}

impl CallerClass {
    /// The class of a caller with `uid`.
    pub fn of(uid: u32) -> CallerClass {
        if uid == 0 {
            CallerClass::Root
        } else {
            CallerClass::User
        }
    }
}

/// One `T` for each [`CallerClass`]: e.g. the engines' handles, or the deciders on them.
#[derive(Debug, Clone)]
pub struct ByClass<T> {
    /// Root's.
    pub root: T,
    /// Every other caller's.
    pub user: T,
}

impl<T> ByClass<T> {
    /// The one of `class`.
    pub fn get(&self, class: CallerClass) -> &T {
        match class {
            CallerClass::Root => &self.root,
            CallerClass::User => &self.user,
        }
    }
}

/// The failure counters and lockouts of every name (attempt limits). Every method may
/// block; an error fails the login closed.
pub trait Limits: Send + Sync + std::fmt::Debug {
    /// New limits for the failures counted from now on (SIGHUP); counts and lockouts stay.
    fn set_policy(&self, limits: LockoutPolicy);

    /// When `source`'s lockout for `user` ends, if it is locked now.
    fn source_locked(&self, user: &str, source: &str, now: u64) -> Result<Option<u64>, StoreError>;

    /// When the account-wide lock of `user` ends, if it is on now.
    fn account_locked(&self, user: &str, now: u64) -> Result<Option<u64>, StoreError>;

    /// Both of the above in one read: when `source`'s lockout and the account-wide lock
    /// end, each if it is on now.
    fn locks(
        &self,
        user: &str,
        source: &str,
        now: u64,
    ) -> Result<(Option<u64>, Option<u64>), StoreError> {
        Ok((
            self.source_locked(user, source, now)?,
            self.account_locked(user, now)?,
        ))
    }

    /// Sources of `user` locked now, with the time each lock ends.
    fn lockouts(&self, user: &str, now: u64) -> Result<Vec<(String, u64)>, StoreError>;

    /// Counts a failure of `user` from `source`, durably before it returns.
    fn record_failure(
        &self,
        user: &str,
        source: &str,
        now: u64,
    ) -> Result<FailureEffect, StoreError>;

    /// A success of `user` from `source` clears that source (not the account-wide count).
    fn record_success(&self, user: &str, source: &str, now: u64) -> Result<(), StoreError>;

    /// Clears every counter and lockout of `user` (admin unlock), durably.
    fn clear(&self, user: &str) -> Result<(), StoreError>;

    /// Clears one `source` of `user`; false if nothing was counted for it.
    fn clear_source(&self, user: &str, source: &str) -> Result<bool, StoreError>;

    /// Every name with failures counted, sorted.
    fn names(&self) -> Result<Vec<String>, StoreError>;
}

/// How every file of the state directory is opened, to which the caller adds the access:
/// a symlink is refused rather than followed, the descriptor is not inherited by a child,
/// and a file it creates is `0600` (the state holds secrets and hashes).
pub(crate) fn state_file_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    options
}

/// Takes the state directory's instance lock, held for the daemon's lifetime, so that two
/// daemons never share a state directory.
pub(crate) fn take_instance_lock(state_dir: &Path) -> Result<Flock<File>, StoreError> {
    let lock_path = state_dir.join("daemon.lock");
    // Created once, then held open read-only (flock needs no write access), so that an
    // admin can still remount the state file system read-only under a running daemon.
    state_file_options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err(&lock_path, "create"))?;
    let lock_file = state_file_options()
        .read(true)
        .open(&lock_path)
        .map_err(io_err(&lock_path, "open"))?;
    Flock::lock(lock_file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
        StoreError::Unsafe {
            path: state_dir.to_owned(),
            why: format!("another mfa-daemon is using this state directory ({errno})"),
        }
    })
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
        let mut file = state_file_options()
            .write(true)
            .create_new(true)
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

/// Opens a journal of the state directory for appending (created 0600 if missing; a symlink
/// is refused). Opened for each line rather than held, so that the state file system can be
/// remounted read-only under a running daemon.
pub(crate) fn open_journal(path: &Path) -> Result<File, StoreError> {
    state_file_options()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_err(path, "open"))
}

/// A state file's content, and the file, still open.
pub(crate) type StateFile = (Zeroizing<Vec<u8>>, File);

/// Reads a file of the state directory whole, with the file still open: `None` if it does
/// not exist. A symlink is refused rather than followed, and so is anything but a regular
/// file of at most `max` bytes (bigger is corrupt or hostile). The bytes are wiped when
/// dropped: state files hold secrets and hashes.
pub(crate) fn read_state_file(path: &Path, max: u64) -> Result<Option<StateFile>, StoreError> {
    let mut file = match state_file_options().read(true).open(path) {
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
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<(), StoreError> {
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
