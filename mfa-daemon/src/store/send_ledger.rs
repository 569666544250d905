//! Send limits that outlive the daemon: the counts of codes and notices sent, kept by the
//! store like the attempt limits (the outbox asks through its [`SendLedger`] trait). The file engine journals every admitted send before it
//! reaches a provider, so a restart does not hand out a fresh budget; the postgres engine
//! ([`super::postgres::PgSendLedger`]) counts in the shared database, so two hosts cannot
//! each send a user `max_sends` codes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use mfa_core::send_book::{BucketFull, SendBook, SendBucket};
use serde::{Deserialize, Serialize};

use super::{StoreError, io_err, open_journal, read_state_file, write_durably};
use crate::delivery::outbox::{LedgerError, SendLedger};

/// The journal of sends, in the state directory.
pub const SENDS_FILE: &str = "sends.log";
/// Journal size that triggers a rewrite with only the sends still inside their windows.
const MAX_JOURNAL_BYTES: u64 = 1024 * 1024;
/// Largest journal read at start (a bigger one is cut short by a crash mid-compaction at
/// worst; beyond this it is not ours).
const MAX_READ_BYTES: u64 = 4 * MAX_JOURNAL_BYTES;

/// One line of the journal: a send counted under each key, with the key's window.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    at: u64,
    keys: Vec<(String, u64)>,
}

#[derive(Debug)]
struct Book {
    sends: SendBook,
    journal_len: u64,
}

/// The file engine's ledger: the book in memory, every send appended to
/// `STATE_DIR/sends.log` and synced before the send is allowed.
#[derive(Debug)]
pub struct FileSendLedger {
    dir: PathBuf,
    book: Mutex<Book>,
}

impl FileSendLedger {
    /// Replays `state_dir/sends.log` and rewrites it with the sends still counted. Lines
    /// that cannot be parsed (torn by a power loss) are skipped and counted in the returned
    /// warning.
    pub fn open(
        state_dir: &Path,
        now: u64,
    ) -> Result<(FileSendLedger, Option<String>), StoreError> {
        let path = state_dir.join(SENDS_FILE);
        let mut sends = SendBook::new();
        let mut skipped = 0;
        if let Some((bytes, _file)) = read_state_file(&path, MAX_READ_BYTES)? {
            for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                match serde_json::from_slice::<Line>(line) {
                    Ok(line) => {
                        for (key, window) in &line.keys {
                            sends.record(key, *window, line.at);
                        }
                    }
                    Err(_) => skipped += 1,
                }
            }
        }
        let ledger = FileSendLedger {
            dir: state_dir.to_owned(),
            book: Mutex::new(Book {
                sends,
                journal_len: 0,
            }),
        };
        ledger.compact(&mut ledger.book(), now)?;
        let warning = (skipped > 0).then(|| {
            format!("{skipped} unreadable lines of {SENDS_FILE} were skipped (torn by a crash?)")
        });
        Ok((ledger, warning))
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Rewrites the journal with only the sends still inside their windows, durably.
    fn compact(&self, book: &mut Book, now: u64) -> Result<(), StoreError> {
        book.sends.prune(now);
        let mut bytes = Vec::new();
        for (key, window, at) in book.sends.live(now) {
            let line = Line {
                at,
                keys: vec![(key.to_owned(), window)],
            };
            // Strings and integers always serialize.
            bytes.extend(serde_json::to_vec(&line).unwrap_or_default());
            bytes.push(b'\n');
        }
        write_durably(&self.dir, &self.dir.join(SENDS_FILE), &bytes, 0)?;
        book.journal_len = bytes.len() as u64;
        Ok(())
    }
}

impl SendLedger for FileSendLedger {
    fn admit(
        &self,
        buckets: &[SendBucket],
        now: u64,
    ) -> Result<Result<(), BucketFull>, LedgerError> {
        Ok(self.admit_durably(buckets, now)?)
    }
}

impl FileSendLedger {
    fn admit_durably(
        &self,
        buckets: &[SendBucket],
        now: u64,
    ) -> Result<Result<(), BucketFull>, StoreError> {
        let mut book = self.book();
        // Decided first, counted only once the journal line is durable.
        if let Some(full) = book.sends.refusal(buckets, now) {
            return Ok(Err(full));
        }
        let line = Line {
            at: now,
            keys: buckets.iter().map(|b| (b.key.clone(), b.window)).collect(),
        };
        let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
        bytes.push(b'\n');
        let path = self.dir.join(SENDS_FILE);
        // Opened for each send, not held, as the attempt journal: the state file system can
        // be remounted read-only under a running daemon.
        let mut journal = open_journal(&path)?;
        journal
            .write_all(&bytes)
            .map_err(io_err(&path, "append to"))?;
        journal.sync_data().map_err(io_err(&path, "fdatasync"))?;
        for bucket in buckets {
            book.sends.record(&bucket.key, bucket.window, now);
        }
        book.journal_len += bytes.len() as u64;
        if book.journal_len > MAX_JOURNAL_BYTES {
            self.compact(&mut book, now)?;
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;

    const NOW: u64 = 1_800_000_000;
    const HOUR: u64 = 3600;

    fn buckets(user: &str) -> [SendBucket; 2] {
        [
            SendBucket::new(format!("user:{user}"), 2, HOUR),
            SendBucket::new("host:h", 100, HOUR),
        ]
    }

    #[test]
    fn counts_survive_a_restart_and_expire_after_it() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (ledger, warning) = FileSendLedger::open(dir.path(), NOW).unwrap();
            assert!(warning.is_none());
            ledger.admit(&buckets("a"), NOW).unwrap().unwrap();
            ledger.admit(&buckets("a"), NOW + 1).unwrap().unwrap();
            assert!(ledger.admit(&buckets("a"), NOW + 2).unwrap().is_err());
        }
        let (ledger, _) = FileSendLedger::open(dir.path(), NOW + 3).unwrap();
        let full = ledger.admit(&buckets("a"), NOW + 3).unwrap().unwrap_err();
        assert_eq!(full.retry_at, NOW + HOUR);
        ledger.admit(&buckets("b"), NOW + 3).unwrap().unwrap();
        drop(ledger);
        // An hour later the restart drops what has passed, and the journal shrinks.
        let (ledger, _) = FileSendLedger::open(dir.path(), NOW + HOUR + 1).unwrap();
        ledger
            .admit(&buckets("a"), NOW + HOUR + 1)
            .unwrap()
            .unwrap();
        let text = std::fs::read_to_string(dir.path().join(SENDS_FILE)).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
    }

    #[test]
    fn a_torn_line_is_skipped_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, _) = FileSendLedger::open(dir.path(), NOW).unwrap();
        ledger.admit(&buckets("a"), NOW).unwrap().unwrap();
        drop(ledger);
        let path = dir.path().join(SENDS_FILE);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"at\":18000").unwrap();
        drop(file);
        let (ledger, warning) = FileSendLedger::open(dir.path(), NOW + 1).unwrap();
        assert!(warning.unwrap().contains("1 unreadable line"));
        ledger.admit(&buckets("a"), NOW + 1).unwrap().unwrap();
        assert!(ledger.admit(&buckets("a"), NOW + 2).unwrap().is_err());
    }

    #[test]
    fn a_send_that_cannot_be_journaled_is_refused_and_not_counted() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, _) = FileSendLedger::open(dir.path(), NOW).unwrap();
        let path = dir.path().join(SENDS_FILE);
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink("/nonexistent/elsewhere", &path).unwrap();
        assert!(ledger.admit(&buckets("a"), NOW).is_err());
        std::fs::remove_file(&path).unwrap();
        ledger.admit(&buckets("a"), NOW).unwrap().unwrap();
        ledger.admit(&buckets("a"), NOW).unwrap().unwrap();
        assert!(ledger.admit(&buckets("a"), NOW).unwrap().is_err());
    }
}
