//! Attempt limits for every name, in one bounded in-memory table, with lockouts made durable.
//!
//! Every name a caller authenticates — enrolled, unenrolled, unknown to NSS — is counted
//! here, the same way: a failure is a memory update, never a record write. That keeps every
//! class of name on one path and at one cost (no file per unknown name, no rewrite of a whole
//! record per wrong code), and bounds what a flood of failures can make the daemon write.
//!
//! What must survive a restart — a lockout in force and the rounds that lengthen the next
//! one — is written to `STATE_DIR/lockouts.json` durably (temp file, fsync, rename, fsync of
//! the directory) whenever a lockout starts or an admin clears one, before the lockout is
//! answered. Failures that have not yet locked anything are lost on a restart; only root
//! can restart the daemon, so that helps no attacker.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::config::LimitsConfig;
use crate::limits::{FailureEffect, LimitState};
use crate::store::{StoreError, io_err, write_durably};

/// File the durable part of the table lives in, in the state directory.
pub const LOCKOUTS_FILE: &str = "lockouts.json";
/// Names tracked at once. Beyond it the entry that matters least (no lock in force, oldest
/// failure) is forgotten first.
pub const MAX_TRACKED: usize = 10_000;
/// Largest lockouts file read.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
const FILE_VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockoutsFile {
    version: u32,
    users: HashMap<String, LimitState>,
}

#[derive(Debug, Default)]
struct Table {
    users: HashMap<String, LimitState>,
    /// Bumped on every change that must be persisted, so that an older snapshot never
    /// overwrites a newer one.
    generation: u64,
}

/// The failure counters of every name.
#[derive(Debug)]
pub struct AttemptLimiter {
    limits: LimitsConfig,
    dir: PathBuf,
    table: Mutex<Table>,
    /// Generation on disk; held while writing.
    written: Mutex<u64>,
    temp_counter: AtomicU64,
}

/// A change that must be on disk before it is answered.
#[derive(Debug)]
#[must_use = "a lockout must be persisted before it is answered"]
pub struct Snapshot {
    generation: u64,
    bytes: Vec<u8>,
}

impl AttemptLimiter {
    /// Loads the lockouts file in `state_dir` (none: an empty table). A file that cannot be
    /// parsed is an error: starting without it would lift every lockout.
    pub fn open(state_dir: &Path, limits: LimitsConfig) -> Result<AttemptLimiter, StoreError> {
        let path = state_dir.join(LOCKOUTS_FILE);
        let users = match read_file(&path)? {
            Some(file) => file.users,
            None => HashMap::new(),
        };
        Ok(AttemptLimiter {
            limits,
            dir: state_dir.to_owned(),
            table: Mutex::new(Table {
                users,
                generation: 0,
            }),
            written: Mutex::new(0),
            temp_counter: AtomicU64::new(0),
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// When `source`'s lockout for `user` ends, if it is locked now.
    pub fn source_locked(&self, user: &str, source: &str, now: u64) -> Option<u64> {
        self.table()
            .users
            .get(user)
            .and_then(|s| s.source_locked(source, now))
    }

    /// When the account-wide lock of `user` ends, if it is on now.
    pub fn account_locked(&self, user: &str, now: u64) -> Option<u64> {
        self.table()
            .users
            .get(user)
            .and_then(|s| s.account_locked(now))
    }

    /// Sources of `user` locked now, with the time each lock ends.
    pub fn lockouts(&self, user: &str, now: u64) -> Vec<(String, u64)> {
        self.table()
            .users
            .get(user)
            .map(|s| s.lockouts(now))
            .unwrap_or_default()
    }

    /// Counts a failure of `user` from `source`. When it started a lockout, the snapshot
    /// to [`AttemptLimiter::persist`] before answering comes with it.
    pub fn record_failure(
        &self,
        user: &str,
        source: &str,
        now: u64,
    ) -> (FailureEffect, Option<Snapshot>) {
        let mut table = self.table();
        if !table.users.contains_key(user) && table.users.len() >= MAX_TRACKED {
            evict_one(&mut table.users, now);
        }
        let effect = table
            .users
            .entry(user.to_owned())
            .or_default()
            .record_failure(source, now, &self.limits);
        let snapshot = effect
            .started_a_lockout()
            .then(|| snapshot(&mut table, now));
        (effect, snapshot)
    }

    /// A success of `user` from `source` clears that source (not the account-wide count).
    pub fn record_success(&self, user: &str, source: &str, now: u64) {
        let mut table = self.table();
        if let Some(state) = table.users.get_mut(user) {
            state.record_success(source, now);
            if state.is_clear() {
                table.users.remove(user);
            }
        }
    }

    /// Clears every counter and lockout of `user` (admin unlock).
    pub fn clear(&self, user: &str, now: u64) -> Snapshot {
        let mut table = self.table();
        table.users.remove(user);
        snapshot(&mut table, now)
    }

    /// Writes `snapshot` durably unless a newer one is already on disk.
    pub fn persist(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        if snapshot.generation <= *written {
            return Ok(());
        }
        let path = self.dir.join(LOCKOUTS_FILE);
        let n = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        write_durably(&self.dir, &path, &snapshot.bytes, n)?;
        *written = snapshot.generation;
        Ok(())
    }

    /// Names tracked now (for tests and the status of the daemon).
    pub fn tracked(&self) -> usize {
        self.table().users.len()
    }
}

/// What must survive a restart, serialized under the table's lock.
fn snapshot(table: &mut Table, now: u64) -> Snapshot {
    table.generation += 1;
    let file = LockoutsFile {
        version: FILE_VERSION,
        users: table
            .users
            .iter()
            .filter(|(_, s)| s.needs_persisting(now))
            .map(|(name, s)| (name.clone(), s.clone()))
            .collect(),
    };
    Snapshot {
        generation: table.generation,
        // A map of strings and integers always serializes.
        bytes: serde_json::to_vec(&file).unwrap_or_default(),
    }
}

/// Forgets the entry that matters least: expired or unlocked first, then the oldest failure.
fn evict_one(users: &mut HashMap<String, LimitState>, now: u64) {
    let victim = users
        .iter_mut()
        .map(|(name, state)| {
            state.prune(now);
            (name, state.needs_persisting(now), state.last_failure())
        })
        .min_by_key(|&(_, matters, last)| (matters, last))
        .map(|(name, _, _)| name.clone());
    if let Some(name) = victim {
        users.remove(&name);
    }
}

fn read_file(path: &Path) -> Result<Option<LockoutsFile>, StoreError> {
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path, "open")(e)),
    };
    let meta = file.metadata().map_err(io_err(path, "stat"))?;
    if !meta.is_file() || meta.len() > MAX_FILE_BYTES {
        return Err(StoreError::Unsafe {
            path: path.to_owned(),
            why: "is not a regular file of a plausible size".to_owned(),
        });
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io_err(path, "read"))?;
    let parsed: LockoutsFile = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
        path: path.to_owned(),
        why: format!("line {}, column {}", e.line(), e.column()),
    })?;
    if parsed.version != FILE_VERSION {
        return Err(StoreError::Corrupt {
            path: path.to_owned(),
            why: format!("lockouts file version {} is not supported", parsed.version),
        });
    }
    Ok(Some(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn limiter(dir: &Path) -> AttemptLimiter {
        AttemptLimiter::open(dir, LimitsConfig::default()).unwrap()
    }

    const NOW: u64 = 1_800_000_000;

    fn fail(l: &AttemptLimiter, user: &str, source: &str, now: u64) -> FailureEffect {
        let (effect, snapshot) = l.record_failure(user, source, now);
        if let Some(s) = snapshot {
            l.persist(s).unwrap();
        }
        effect
    }

    #[test]
    fn failures_write_nothing_until_a_lockout_which_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let l = limiter(dir.path());
        for _ in 0..4 {
            assert_eq!(fail(&l, "alice", "h", NOW), FailureEffect::Counted);
        }
        assert!(!dir.path().join(LOCKOUTS_FILE).exists());
        assert_eq!(
            fail(&l, "alice", "h", NOW),
            FailureEffect::SourceLocked(NOW + 60)
        );
        drop(l);
        let l = limiter(dir.path());
        assert_eq!(l.source_locked("alice", "h", NOW + 1), Some(NOW + 60));
        assert_eq!(l.source_locked("alice", "other", NOW + 1), None);
        // The rounds survive too: the next lockout is twice as long.
        for _ in 0..4 {
            fail(&l, "alice", "h", NOW + 61);
        }
        assert_eq!(
            fail(&l, "alice", "h", NOW + 61),
            FailureEffect::SourceLocked(NOW + 61 + 120)
        );
    }

    #[test]
    fn clear_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let l = limiter(dir.path());
        for _ in 0..5 {
            fail(&l, "bob", "h", NOW);
        }
        l.persist(l.clear("bob", NOW)).unwrap();
        drop(l);
        assert_eq!(limiter(dir.path()).source_locked("bob", "h", NOW), None);
    }

    #[test]
    fn an_older_snapshot_never_overwrites_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        let l = limiter(dir.path());
        for _ in 0..4 {
            fail(&l, "carol", "h", NOW);
        }
        let (_, older) = l.record_failure("carol", "h", NOW);
        let newer = l.clear("carol", NOW);
        l.persist(newer).unwrap();
        l.persist(older.unwrap()).unwrap();
        drop(l);
        assert_eq!(limiter(dir.path()).source_locked("carol", "h", NOW), None);
    }

    #[test]
    fn the_table_is_bounded_and_keeps_lockouts_over_idle_names() {
        let dir = tempfile::tempdir().unwrap();
        let l = limiter(dir.path());
        for _ in 0..5 {
            fail(&l, "victim", "h", NOW);
        }
        for i in 0..(MAX_TRACKED + 100) {
            l.record_failure(&format!("name{i}"), "h", NOW + 1 + i as u64 / 1000);
        }
        assert!(l.tracked() <= MAX_TRACKED);
        assert_eq!(l.source_locked("victim", "h", NOW + 30), Some(NOW + 60));
    }

    #[test]
    fn a_success_forgets_a_name_with_nothing_left() {
        let dir = tempfile::tempdir().unwrap();
        let l = limiter(dir.path());
        fail(&l, "dave", "h", NOW);
        assert_eq!(l.tracked(), 1);
        l.record_success("dave", "h", NOW);
        // The account-wide count stays (an attacker elsewhere is not helped by a success).
        assert_eq!(l.tracked(), 1);
    }

    #[test]
    fn corrupt_lockouts_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(LOCKOUTS_FILE), "{\"version\":1,\"users\":").unwrap();
        let err = AttemptLimiter::open(dir.path(), LimitsConfig::default()).unwrap_err();
        assert!(err.to_string().contains("corrupt"), "{err}");
    }
}
