//! Attempt limits for every name, in one bounded in-memory table backed by a journal.
//!
//! Every name a caller authenticates — enrolled, unenrolled, unknown to NSS — is counted
//! here, the same way: a failure is a memory update plus one short line appended to
//! `STATE_DIR/failures.log`, never a rewrite of a record. That keeps every class of name on
//! one path and at one cost (no file per unknown name, no whole-record write per wrong code),
//! and bounds what a flood of failures can make the daemon write.
//!
//! Durability: every line is written before the failure is answered, so a crash or kill -9
//! of the daemon loses nothing; a line that starts a lockout (or an admin's unlock) is also
//! fdatasync'ed, so lockouts survive a power loss too. On start the snapshot
//! (`lockouts.json`) is loaded, the journal replayed on top of it, and both compacted into a
//! new snapshot; the same happens whenever the journal outgrows [`MAX_JOURNAL_BYTES`].
//!
//! The table is bounded, and a flood of made-up names must not flush a real user's count out
//! of it: a name with failures inside the window or a lockout in force is never forgotten to
//! make room. When only such names are left, a new name's failures are counted in one shared
//! overflow state instead, with the same limits, and every name not in the table is judged by
//! it: a flood of new names locks itself out together (and, while it lasts, names not yet
//! tracked with it), rather than resetting anyone's count.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};

use serde::{Deserialize, Serialize};

use super::{StoreError, io_err, open_journal, read_state_file, write_durably};
use mfa_core::lockout::{FailureEffect, LimitState, LockoutPolicy};

/// The snapshot, in the state directory.
pub const SNAPSHOT_FILE: &str = "lockouts.json";
/// The journal of changes since the snapshot, in the state directory.
pub const JOURNAL_FILE: &str = "failures.log";
/// Names tracked at once. Beyond it the entry that matters least (no failure inside the
/// window and no lock in force, no past rounds, oldest failure) is forgotten first; when
/// every entry still matters, new names are counted in the overflow state.
pub const MAX_TRACKED: usize = 10_000;
/// Journal size that triggers a compaction.
pub const MAX_JOURNAL_BYTES: u64 = 4 * 1024 * 1024;
/// Largest snapshot read.
const MAX_SNAPSHOT_BYTES: u64 = 64 * 1024 * 1024;
const SNAPSHOT_VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Snapshot {
    version: u32,
    users: HashMap<String, LimitState>,
    /// Left out while clear, so that the snapshot stays readable by older daemons.
    #[serde(default, skip_serializing_if = "LimitState::is_clear")]
    overflow: LimitState,
}

/// The counts of every name: the table, and the overflow state of the names that did not
/// fit in it.
#[derive(Debug, Default)]
struct Counts {
    users: HashMap<String, LimitState>,
    overflow: LimitState,
    /// Until this unix time no entry of the full table can be forgotten (the earliest end of
    /// an entry's protection): new names go to the overflow state without a scan.
    no_room_until: u64,
}

impl Counts {
    /// The state `user`'s attempts are judged by: its own, or the overflow state.
    fn state(&self, user: &str) -> &LimitState {
        self.users.get(user).unwrap_or(&self.overflow)
    }
}

/// One line of the journal.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Entry {
    Failure {
        user: String,
        source: String,
        at: u64,
    },
    Success {
        user: String,
        source: String,
        at: u64,
    },
    Clear {
        user: String,
    },
    ClearSource {
        user: String,
        source: String,
    },
}

#[derive(Debug)]
struct Table {
    counts: Counts,
    journal_len: u64,
}

/// The failure counters of every name.
#[derive(Debug)]
pub struct AttemptLimiter {
    limits: RwLock<LockoutPolicy>,
    dir: PathBuf,
    table: Mutex<Table>,
}

impl AttemptLimiter {
    /// The limits in force.
    fn policy(&self) -> LockoutPolicy {
        self.limits
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// New limits for the failures counted from now on (SIGHUP); counts and lockouts stay.
    pub fn set_policy(&self, limits: LockoutPolicy) {
        *self.limits.write().unwrap_or_else(PoisonError::into_inner) = limits;
    }

    /// Loads the snapshot and replays the journal in `state_dir`, then compacts them. A
    /// snapshot that cannot be parsed is an error (starting without it would lift every
    /// lockout); journal lines that cannot be parsed (a line torn by a power loss) are
    /// skipped and counted in the returned warning.
    pub fn open(
        state_dir: &Path,
        limits: LockoutPolicy,
    ) -> Result<(AttemptLimiter, Option<String>), StoreError> {
        remove_stale_snapshot_temps(state_dir);
        let mut counts = read_snapshot(&state_dir.join(SNAPSHOT_FILE))?.unwrap_or_default();
        let journal_path = state_dir.join(JOURNAL_FILE);
        let skipped = replay(&journal_path, &mut counts, &limits)?;
        let limiter = AttemptLimiter {
            limits: RwLock::new(limits),
            dir: state_dir.to_owned(),
            table: Mutex::new(Table {
                counts,
                journal_len: 0,
            }),
        };
        limiter.compact(&mut limiter.table())?;
        let warning = (skipped > 0).then(|| {
            format!("{skipped} unreadable lines of {JOURNAL_FILE} were skipped (torn by a crash?)")
        });
        Ok((limiter, warning))
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// When `source`'s lockout for `user` ends, if it is locked now (a name not in the
    /// table: the overflow state's).
    pub fn source_locked(&self, user: &str, source: &str, now: u64) -> Option<u64> {
        self.table().counts.state(user).source_locked(source, now)
    }

    /// When the account-wide lock of `user` ends, if it is on now (a name not in the table:
    /// the overflow state's).
    pub fn account_locked(&self, user: &str, now: u64) -> Option<u64> {
        self.table().counts.state(user).account_locked(now)
    }

    /// Sources of `user` locked now, with the time each lock ends (a name not in the table:
    /// the overflow state's, which hold for it too).
    pub fn lockouts(&self, user: &str, now: u64) -> Vec<(String, u64)> {
        self.table().counts.state(user).lockouts(now)
    }

    /// Counts a failure of `user` from `source`, journaled before it returns (and synced
    /// when it starts a lockout). An error means the failure could not be recorded: the
    /// caller fails closed.
    pub fn record_failure(
        &self,
        user: &str,
        source: &str,
        now: u64,
    ) -> Result<FailureEffect, StoreError> {
        let mut table = self.table();
        let effect = apply_failure(&mut table.counts, user, source, now, &self.policy());
        let entry = Entry::Failure {
            user: user.to_owned(),
            source: source.to_owned(),
            at: now,
        };
        self.append(&mut table, &entry, effect.started_a_lockout())?;
        Ok(effect)
    }

    /// A success of `user` from `source` clears that source (not the account-wide count). A
    /// name not in the table clears nothing: the overflow state is everyone's.
    pub fn record_success(&self, user: &str, source: &str, now: u64) -> Result<(), StoreError> {
        let mut table = self.table();
        let Some(state) = table.counts.users.get_mut(user) else {
            return Ok(());
        };
        if !state.sources.contains_key(source) {
            return Ok(());
        }
        apply_success(&mut table.counts.users, user, source, now);
        let entry = Entry::Success {
            user: user.to_owned(),
            source: source.to_owned(),
            at: now,
        };
        self.append(&mut table, &entry, false)
    }

    /// Clears every counter and lockout of `user` (admin unlock), durably. For a name not in
    /// the table that is the overflow state, which is what locks it.
    pub fn clear(&self, user: &str) -> Result<(), StoreError> {
        let mut table = self.table();
        apply_clear(&mut table.counts, user);
        let entry = Entry::Clear {
            user: user.to_owned(),
        };
        self.append(&mut table, &entry, true)
    }

    /// Clears the counters and lockout of one `source` of `user` (admin unlock of one
    /// source), durably; the account-wide counter stays. False if nothing was counted for
    /// that source, and then nothing is written. For a name not in the table, the source is
    /// cleared in the overflow state.
    pub fn clear_source(&self, user: &str, source: &str) -> Result<bool, StoreError> {
        let mut table = self.table();
        if !apply_clear_source(&mut table.counts, user, source) {
            return Ok(false);
        }
        let entry = Entry::ClearSource {
            user: user.to_owned(),
            source: source.to_owned(),
        };
        self.append(&mut table, &entry, true)?;
        Ok(true)
    }

    /// Every name with failures counted, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.table().counts.users.keys().cloned().collect();
        names.sort();
        names
    }

    /// Names tracked now.
    pub fn tracked(&self) -> usize {
        self.table().counts.users.len()
    }

    fn append(&self, table: &mut Table, entry: &Entry, sync: bool) -> Result<(), StoreError> {
        let path = self.dir.join(JOURNAL_FILE);
        // An entry of strings and integers always serializes.
        let mut line = serde_json::to_vec(entry).unwrap_or_default();
        line.push(b'\n');
        // Opened for each line, not held: a file held open for writing would stop an admin
        // from remounting the state file system read-only under a running daemon.
        let mut journal = open_journal(&path)?;
        journal
            .write_all(&line)
            .map_err(io_err(&path, "append to"))?;
        if sync {
            journal.sync_data().map_err(io_err(&path, "fdatasync"))?;
        }
        table.journal_len += line.len() as u64;
        if table.journal_len > MAX_JOURNAL_BYTES {
            self.compact(table)?;
        }
        Ok(())
    }

    /// Writes the whole table as the new snapshot, durably, then empties the journal.
    fn compact(&self, table: &mut Table) -> Result<(), StoreError> {
        let snapshot = Snapshot {
            version: SNAPSHOT_VERSION,
            users: table.counts.users.clone(),
            overflow: table.counts.overflow.clone(),
        };
        let path = self.dir.join(SNAPSHOT_FILE);
        let bytes = serde_json::to_vec(&snapshot).unwrap_or_default();
        write_durably(&self.dir, &path, &bytes, 0)?;
        let journal = self.dir.join(JOURNAL_FILE);
        let file = open_journal(&journal)?;
        file.set_len(0)
            .and_then(|()| file.sync_all())
            .map_err(io_err(&journal, "truncate"))?;
        table.journal_len = 0;
        Ok(())
    }
}

impl super::Limits for AttemptLimiter {
    fn set_policy(&self, limits: LockoutPolicy) {
        AttemptLimiter::set_policy(self, limits);
    }

    fn source_locked(&self, user: &str, source: &str, now: u64) -> Result<Option<u64>, StoreError> {
        Ok(AttemptLimiter::source_locked(self, user, source, now))
    }

    fn account_locked(&self, user: &str, now: u64) -> Result<Option<u64>, StoreError> {
        Ok(AttemptLimiter::account_locked(self, user, now))
    }

    fn lockouts(&self, user: &str, now: u64) -> Result<Vec<(String, u64)>, StoreError> {
        Ok(AttemptLimiter::lockouts(self, user, now))
    }

    fn record_failure(
        &self,
        user: &str,
        source: &str,
        now: u64,
    ) -> Result<FailureEffect, StoreError> {
        AttemptLimiter::record_failure(self, user, source, now)
    }

    fn record_success(&self, user: &str, source: &str, now: u64) -> Result<(), StoreError> {
        AttemptLimiter::record_success(self, user, source, now)
    }

    fn clear(&self, user: &str) -> Result<(), StoreError> {
        AttemptLimiter::clear(self, user)
    }

    fn clear_source(&self, user: &str, source: &str) -> Result<bool, StoreError> {
        AttemptLimiter::clear_source(self, user, source)
    }

    fn names(&self) -> Result<Vec<String>, StoreError> {
        Ok(AttemptLimiter::names(self))
    }
}

fn apply_failure(
    counts: &mut Counts,
    user: &str,
    source: &str,
    now: u64,
    limits: &LockoutPolicy,
) -> FailureEffect {
    if !counts.users.contains_key(user) && counts.users.len() >= MAX_TRACKED {
        let evicted = now >= counts.no_room_until && {
            match evict_one(&mut counts.users, now, limits) {
                Ok(()) => true,
                Err(until) => {
                    counts.no_room_until = until;
                    false
                }
            }
        };
        if !evicted {
            return counts.overflow.record_failure(source, now, limits);
        }
    }
    counts
        .users
        .entry(user.to_owned())
        .or_default()
        .record_failure(source, now, limits)
}

fn apply_success(users: &mut HashMap<String, LimitState>, user: &str, source: &str, now: u64) {
    if let Some(state) = users.get_mut(user) {
        state.record_success(source, now);
        if state.is_clear() {
            users.remove(user);
        }
    }
}

/// Forgets every count of `user`: its entry, or the overflow state if it has none.
fn apply_clear(counts: &mut Counts, user: &str) {
    if counts.users.remove(user).is_none() {
        counts.overflow = LimitState::default();
    }
}

/// Forgets one source of `user` (of the overflow state if it has no entry); false if it was
/// not counted.
fn apply_clear_source(counts: &mut Counts, user: &str, source: &str) -> bool {
    let Some(state) = counts.users.get_mut(user) else {
        return counts.overflow.sources.remove(source).is_some();
    };
    let cleared = state.sources.remove(source).is_some();
    if state.is_clear() {
        counts.users.remove(user);
    }
    cleared
}

/// Until when `state` may not be forgotten to make room: the end of its last lock in force,
/// or of the window of its last failure, whichever is later (`now` or earlier: it may go).
fn protected_until(state: &LimitState, now: u64, limits: &LockoutPolicy) -> u64 {
    let window = limits.failure_window.as_secs();
    state
        .sources
        .values()
        .chain([&state.account])
        .flat_map(|c| {
            let in_window = c.failures.iter().map(move |&t| t.saturating_add(window));
            in_window.chain([c.locked_until])
        })
        .max()
        .unwrap_or(0)
        .max(now)
}

/// Forgets the entry that matters least among those that may go (no failure inside the
/// window, no lock in force): no past rounds first, then the oldest failure. `Err` with the
/// earliest time one may go when none may now.
fn evict_one(
    users: &mut HashMap<String, LimitState>,
    now: u64,
    limits: &LockoutPolicy,
) -> Result<(), u64> {
    let mut earliest = u64::MAX;
    let victim = users
        .iter_mut()
        .filter_map(|(name, state)| {
            state.prune(now);
            let until = protected_until(state, now, limits);
            if until > now {
                earliest = earliest.min(until);
                return None;
            }
            Some((name, state.needs_persisting(now), state.last_failure()))
        })
        .min_by_key(|&(_, matters, last)| (matters, last))
        .map(|(name, _, _)| name.clone());
    match victim {
        Some(name) => {
            users.remove(&name);
            Ok(())
        }
        None => Err(earliest),
    }
}

/// Removes snapshot temp files a crash during a compaction left behind (their names could
/// collide with a later daemon's).
fn remove_stale_snapshot_temps(dir: &Path) {
    let prefix = format!(".{SNAPSHOT_FILE}.");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Applies the journal at `path` to `counts`; returns how many lines could not be read.
fn replay(path: &Path, counts: &mut Counts, limits: &LockoutPolicy) -> Result<usize, StoreError> {
    let Some((bytes, _file)) = read_state_file(path, MAX_JOURNAL_BYTES * 2)? else {
        return Ok(0);
    };
    let mut skipped = 0;
    for line in bytes.split(|&b| b == b'\n') {
        match serde_json::from_slice::<Entry>(line) {
            Ok(Entry::Failure { user, source, at }) => {
                apply_failure(counts, &user, &source, at, limits);
            }
            Ok(Entry::Success { user, source, at }) => {
                apply_success(&mut counts.users, &user, &source, at);
            }
            Ok(Entry::Clear { user }) => apply_clear(counts, &user),
            Ok(Entry::ClearSource { user, source }) => {
                apply_clear_source(counts, &user, &source);
            }
            Err(_) if line.is_empty() => {}
            Err(_) => skipped += 1,
        }
    }
    Ok(skipped)
}

fn read_snapshot(path: &Path) -> Result<Option<Counts>, StoreError> {
    let Some((bytes, _file)) = read_state_file(path, MAX_SNAPSHOT_BYTES)? else {
        return Ok(None);
    };
    let parsed: Snapshot = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
        path: path.to_owned(),
        why: format!("line {}, column {}", e.line(), e.column()),
    })?;
    if parsed.version != SNAPSHOT_VERSION {
        return Err(StoreError::Corrupt {
            path: path.to_owned(),
            why: format!("lockouts file version {} is not supported", parsed.version),
        });
    }
    Ok(Some(Counts {
        users: parsed.users,
        overflow: parsed.overflow,
        no_room_until: 0,
    }))
}

#[cfg(test)]
mod tests;
