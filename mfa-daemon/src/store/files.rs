//! The file engine: one two-slot file per user under `STATE_DIR/users/`, and an in-memory
//! copy of the records read, so that a login reads no record file.
//!
//! A record file (`NAME.rec`) is two slots of equal size, a multiple of 4 KiB. Each slot holds
//! a header (magic, sequence number, length, SHA-256 over the three) and the record's JSON. The
//! current record is the valid slot with the higher sequence number. A change is written over
//! the *other* slot in place with one `pwrite` and one `fdatasync`: the file's size and blocks
//! do not change, so no metadata needs to reach the disk, and the slot holding the current
//! record is never touched. A crash, a kill -9 or a power loss during the write leaves that
//! slot valid and the one being written either complete or failing its checksum: the old or
//! the new record, never a torn one, as with the rename this replaces. A change is answered
//! only after `fdatasync` returned; then the previous record's slot is wiped, so that a
//! removed or replaced secret does not linger in the file.
//!
//! A record is created (or moved to bigger slots when it outgrows its slot) the old way: a
//! temp file, fsync, rename, fsync of the directory. Blocks are written, not just reserved,
//! so that later in-place writes allocate nothing: on a full disk, logins of users whose
//! record exists keep working, and only writes that need space fail closed.
//!
//! The daemon is the only writer of the directory (it holds an instance lock), but an admin
//! may restore or remove a file by hand: every read checks the file's identity (inode, size,
//! modification time) with one `lstat` and reloads it if it changed.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use nix::fcntl::Flock;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{
    RecordStore, StoreError, TEMP_SUFFIX, Txn, UserRecord, decode_record, ensure_private_dir,
    io_err, read_state_file, state_file_options, take_instance_lock, write_durably,
};
use crate::username;

/// Extension of a record file.
pub const RECORD_EXTENSION: &str = "rec";
/// Extension of the records of earlier versions (one JSON file replaced by rename), migrated
/// when the store opens.
pub const LEGACY_EXTENSION: &str = "json";
/// Slot sizes are multiples of this.
const BLOCK: usize = 4096;
/// Largest slot: a record is at most 1 MiB of JSON.
const MAX_SLOT: usize = 2 * 1024 * 1024;
const MAGIC: &[u8; 4] = b"MFR1";
/// Magic, sequence number, length, SHA-256.
const HEADER: usize = 4 + 8 + 4 + 32;
/// Records kept in memory; beyond it, an arbitrary one is dropped (and read again if needed).
pub const CACHED_RECORDS: usize = 4096;

/// What the store knows about a record file it read or wrote.
#[derive(Debug, Clone)]
struct Cached {
    record: UserRecord,
    identity: Identity,
    /// The slot holding `record`, and its sequence number.
    slot: usize,
    seq: u64,
    slot_size: usize,
}

/// What changes when anyone but this process writes the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl Identity {
    fn of(meta: &fs::Metadata) -> Identity {
        Identity {
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }
}

/// The file engine.
#[derive(Debug)]
pub struct FileStore {
    users_dir: PathBuf,
    cache: Mutex<HashMap<String, Cached>>,
    /// Users with a transaction open; [`FileStore::unlocked`] waits on it.
    busy: Mutex<HashSet<String>>,
    unlocked: Condvar,
    temp_counter: AtomicU64,
    /// Held for the daemon's lifetime so that two daemons never share a state directory.
    _instance_lock: Flock<File>,
}

impl FileStore {
    /// Opens (creating 0700 if missing) the state directory, takes its instance lock, removes
    /// temp files a crash left behind and migrates records of earlier versions.
    pub fn open(state_dir: &Path) -> Result<FileStore, StoreError> {
        let users_dir = state_dir.join("users");
        for dir in [state_dir, users_dir.as_path()] {
            ensure_private_dir(dir)?;
        }
        let instance_lock = take_instance_lock(state_dir)?;
        let store = FileStore {
            users_dir,
            cache: Mutex::new(HashMap::new()),
            busy: Mutex::new(HashSet::new()),
            unlocked: Condvar::new(),
            temp_counter: AtomicU64::new(0),
            _instance_lock: instance_lock,
        };
        store.remove_stale_temp_files()?;
        store.migrate_legacy_records()?;
        Ok(store)
    }

    fn path(&self, user: &str, extension: &str) -> Result<PathBuf, StoreError> {
        if !username::is_valid(user) {
            return Err(StoreError::InvalidUser);
        }
        Ok(self
            .users_dir
            .join(format!("{}.{extension}", username::file_stem(user))))
    }

    /// The record as the file holds it now, through the cache.
    fn current(&self, user: &str) -> Result<Option<Cached>, StoreError> {
        let path = self.path(user, RECORD_EXTENSION)?;
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(&path, "stat")(e)),
        };
        let Some(meta) = meta else {
            self.cache_lock().remove(user);
            return self.refuse_unmigrated(user);
        };
        if let Some(cached) = self.cache_lock().get(user)
            && meta.is_file()
            && cached.identity == Identity::of(&meta)
        {
            return Ok(Some(cached.clone()));
        }
        let Some((bytes, file)) = read_state_file(&path, MAX_SLOT as u64 * 2)? else {
            self.cache_lock().remove(user);
            return self.refuse_unmigrated(user);
        };
        // Identity of what was read: taken after reading, a concurrent in-place write could
        // give the new identity to the old content, so it is only cached when no newer
        // sequence number is (see `remember`); under a transaction there is no such writer.
        let identity = Identity::of(&file.metadata().map_err(io_err(&path, "stat"))?);
        let (slot, seq, slot_size, record) = decode_file(&path, &bytes)?;
        let cached = Cached {
            record,
            identity,
            slot,
            seq,
            slot_size,
        };
        self.remember(user, &cached);
        Ok(Some(cached))
    }

    /// A record of an earlier version that could not be migrated (it is corrupt): its user's
    /// logins fail closed rather than look unenrolled.
    fn refuse_unmigrated(&self, user: &str) -> Result<Option<Cached>, StoreError> {
        let legacy = self.path(user, LEGACY_EXTENSION)?;
        match fs::symlink_metadata(&legacy) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            _ => Err(StoreError::Corrupt {
                path: legacy,
                why: "a record of an earlier version that could not be migrated".to_owned(),
            }),
        }
    }

    fn remember(&self, user: &str, cached: &Cached) {
        let mut cache = self.cache_lock();
        if cache.get(user).is_some_and(|old| old.seq > cached.seq) {
            return;
        }
        if cache.len() >= CACHED_RECORDS
            && !cache.contains_key(user)
            && let Some(evicted) = cache.keys().next().cloned()
        {
            cache.remove(&evicted);
        }
        cache.insert(user.to_owned(), cached.clone());
    }

    fn cache_lock(&self) -> MutexGuard<'_, HashMap<String, Cached>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until no transaction of `user` is open, and marks one open.
    fn lock_user(&self, user: &str) {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        while busy.contains(user) {
            busy = self
                .unlocked
                .wait(busy)
                .unwrap_or_else(PoisonError::into_inner);
        }
        busy.insert(user.to_owned());
    }

    fn unlock_user(&self, user: &str) {
        self.busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(user);
        self.unlocked.notify_all();
    }

    /// Writes `record` as the successor of `current` (or as a new file) and returns what the
    /// file now holds. Only returns once the record is on disk.
    fn write(
        &self,
        user: &str,
        current: Option<&Cached>,
        record: &UserRecord,
    ) -> Result<Cached, StoreError> {
        let path = self.path(user, RECORD_EXTENSION)?;
        let json = Zeroizing::new(serde_json::to_vec(record).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            why: format!("cannot serialize: {e}"),
        })?);
        let seq = current.map_or(1, |c| c.seq + 1);
        let slot_bytes = encode_slot(seq, &json);
        if let Some(current) = current
            && slot_bytes.len() <= current.slot_size
        {
            let slot = 1 - current.slot;
            let file = state_file_options()
                .write(true)
                .open(&path)
                .map_err(io_err(&path, "open"))?;
            let meta = file.metadata().map_err(io_err(&path, "stat"))?;
            if meta.ino() != current.identity.ino || meta.size() != current.identity.size {
                return Err(StoreError::Unsafe {
                    path,
                    why: "was replaced while the daemon held it".to_owned(),
                });
            }
            file.write_all_at(&slot_bytes, (slot * current.slot_size) as u64)
                .map_err(io_err(&path, "write"))?;
            file.sync_data().map_err(io_err(&path, "fdatasync"))?;
            // The new record is durable: wipe the previous one, so that a secret removed or
            // replaced by this change does not linger in the file. Not synced: whether the
            // wipe reaches the disk or not, the new slot has the higher sequence number.
            let old = Zeroizing::new(vec![0u8; current.slot_size]);
            file.write_all_at(&old, (current.slot * current.slot_size) as u64)
                .map_err(io_err(&path, "wipe the previous record in"))?;
            let identity = Identity::of(&file.metadata().map_err(io_err(&path, "stat"))?);
            return Ok(Cached {
                record: record.clone(),
                identity,
                slot,
                seq,
                slot_size: current.slot_size,
            });
        }
        let slot_size = slot_size_for(slot_bytes.len()).ok_or_else(|| StoreError::Corrupt {
            path: path.clone(),
            why: format!("{} bytes, more than a record can hold", json.len()),
        })?;
        let mut whole = Zeroizing::new(vec![0u8; 2 * slot_size]);
        whole[..slot_bytes.len()].copy_from_slice(&slot_bytes);
        let n = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        write_durably(&self.users_dir, &path, &whole, n)?;
        let meta = fs::symlink_metadata(&path).map_err(io_err(&path, "stat"))?;
        Ok(Cached {
            record: record.clone(),
            identity: Identity::of(&meta),
            slot: 0,
            seq,
            slot_size,
        })
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

    /// Rewrites every `NAME.json` of earlier versions as `NAME.rec`, then removes it. A
    /// corrupt one is left in place (and its user's logins fail closed, see
    /// [`FileStore::refuse_unmigrated`]); a crash between the two steps is finished on the
    /// next start.
    fn migrate_legacy_records(&self) -> Result<(), StoreError> {
        let mut migrated = 0usize;
        for name in self.names_with(LEGACY_EXTENSION)? {
            let legacy = self.path(&name, LEGACY_EXTENSION)?;
            let target = self.path(&name, RECORD_EXTENSION)?;
            if fs::symlink_metadata(&target).is_err() {
                let Some((bytes, _file)) = read_state_file(&legacy, MAX_SLOT as u64 / 2)? else {
                    continue;
                };
                let record = match decode_record(&legacy, &bytes) {
                    Ok(record) => record,
                    Err(e) => {
                        tracing::warn!("not migrated: {e}");
                        continue;
                    }
                };
                self.write(&name, None, &record)?;
            }
            fs::remove_file(&legacy).map_err(io_err(&legacy, "remove the migrated"))?;
            migrated += 1;
        }
        if migrated > 0 {
            File::open(&self.users_dir)
                .and_then(|d| d.sync_all())
                .map_err(io_err(&self.users_dir, "fsync"))?;
            tracing::info!(
                "migrated {migrated} record(s) in {} to the two-slot format",
                self.users_dir.display()
            );
        }
        Ok(())
    }

    /// The names of the files with `extension`, decoded, sorted. Temp files, and files whose
    /// names [`username::file_stem`] never writes, are skipped.
    fn names_with(&self, extension: &str) -> Result<Vec<String>, StoreError> {
        let entries = fs::read_dir(&self.users_dir).map_err(io_err(&self.users_dir, "list"))?;
        let suffix = format!(".{extension}");
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err(&self.users_dir, "list"))?;
            let file_name = entry.file_name();
            let Some(stem) = file_name.to_str().and_then(|n| n.strip_suffix(&suffix)) else {
                continue;
            };
            if let Some(name) = username::from_file_stem(stem) {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }
}

impl RecordStore for FileStore {
    fn engine(&self) -> &'static str {
        "files"
    }

    fn begin<'a>(&'a self, user: &str) -> Result<Box<dyn Txn + 'a>, StoreError> {
        self.path(user, RECORD_EXTENSION)?;
        self.lock_user(user);
        // Unlocked on drop, also when reading fails below.
        let mut txn = Box::new(FileTxn {
            store: self,
            user: user.to_owned(),
            current: None,
            record: UserRecord::default(),
        });
        txn.current = self.current(user)?;
        if let Some(current) = &txn.current {
            txn.record = current.record.clone();
        }
        Ok(txn)
    }

    fn load(&self, user: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.current(user)?.map(|c| c.record))
    }

    fn users(&self) -> Result<Vec<String>, StoreError> {
        let mut names = self.names_with(RECORD_EXTENSION)?;
        names.extend(self.names_with(LEGACY_EXTENSION)?);
        names.sort();
        names.dedup();
        Ok(names)
    }
}

/// A transaction of the file engine: the user's lock, held until it ends.
struct FileTxn<'a> {
    store: &'a FileStore,
    user: String,
    current: Option<Cached>,
    record: UserRecord,
}

impl Txn for FileTxn<'_> {
    fn record(&self) -> &UserRecord {
        &self.record
    }

    fn commit(self: Box<Self>, record: &UserRecord) -> Result<(), StoreError> {
        match self.store.write(&self.user, self.current.as_ref(), record) {
            Ok(written) => {
                self.store.remember(&self.user, &written);
                Ok(())
            }
            Err(e) => {
                // The slot being written may be torn: read the file again next time.
                self.store.cache_lock().remove(&self.user);
                Err(e)
            }
        }
    }
}

impl Drop for FileTxn<'_> {
    fn drop(&mut self) {
        self.store.unlock_user(&self.user);
    }
}

/// The smallest slot size that holds `bytes` with room to grow, or `None` beyond the largest.
fn slot_size_for(bytes: usize) -> Option<usize> {
    let size = (bytes * 2).div_ceil(BLOCK).max(1) * BLOCK;
    (bytes <= MAX_SLOT).then_some(size.min(MAX_SLOT))
}

fn checksum(seq: u64, json: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(MAGIC);
    hash.update(seq.to_le_bytes());
    hash.update((json.len() as u32).to_le_bytes());
    hash.update(json);
    hash.finalize().into()
}

fn encode_slot(seq: u64, json: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut slot = Zeroizing::new(Vec::with_capacity(HEADER + json.len()));
    slot.extend_from_slice(MAGIC);
    slot.extend_from_slice(&seq.to_le_bytes());
    slot.extend_from_slice(&(json.len() as u32).to_le_bytes());
    slot.extend_from_slice(&checksum(seq, json));
    slot.extend_from_slice(json);
    slot
}

/// The valid slot's sequence number and JSON, or `None` if the slot is empty or torn.
fn decode_slot(slot: &[u8]) -> Option<(u64, &[u8])> {
    if slot.len() < HEADER || &slot[..4] != MAGIC {
        return None;
    }
    let seq = u64::from_le_bytes(slot[4..12].try_into().ok()?);
    let len = u32::from_le_bytes(slot[12..16].try_into().ok()?) as usize;
    let json = slot.get(HEADER..HEADER.checked_add(len)?)?;
    (checksum(seq, json)[..] == slot[16..48]).then_some((seq, json))
}

/// The current record of a record file: (slot, sequence number, slot size, record).
fn decode_file(path: &Path, bytes: &[u8]) -> Result<(usize, u64, usize, UserRecord), StoreError> {
    let corrupt = |why: String| StoreError::Corrupt {
        path: path.to_owned(),
        why,
    };
    let slot_size = bytes.len() / 2;
    if bytes.len() % (2 * BLOCK) != 0 || slot_size == 0 || slot_size > MAX_SLOT {
        return Err(corrupt(format!(
            "{} bytes is not two slots of a multiple of {BLOCK}",
            bytes.len()
        )));
    }
    let newest = (0..2)
        .filter_map(|i| {
            decode_slot(&bytes[i * slot_size..(i + 1) * slot_size]).map(|(s, j)| (i, s, j))
        })
        .max_by_key(|&(_, seq, _)| seq);
    let Some((slot, seq, json)) = newest else {
        return Err(corrupt("neither slot holds a valid record".to_owned()));
    };
    Ok((slot, seq, slot_size, decode_record(path, json)?))
}

#[cfg(test)]
mod tests;
