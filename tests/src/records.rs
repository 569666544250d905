//! The daemon's record files (`STATE_DIR/users/NAME.rec`), read as a test reads them: the
//! slot with the higher sequence number among those whose header and checksum are valid.
//! Written apart from the daemon's own decoder, so that a change of the format on one side
//! fails the tests.

use std::fs;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 4] = b"MFR1";
const HEADER: usize = 48;

/// The current record of the file at `path` as JSON, or `None` if the file is missing or no
/// slot is valid.
pub fn current_record(path: &Path) -> Option<Value> {
    let bytes = fs::read(path).ok()?;
    let half = bytes.len() / 2;
    [&bytes[..half], &bytes[half..]]
        .into_iter()
        .filter_map(valid_slot)
        .max_by_key(|(seq, _)| *seq)
        .and_then(|(_, json)| serde_json::from_slice(json).ok())
}

/// Every byte of the file at `path` as text (invalid UTF-8 replaced), both slots and the
/// padding included: what to search for a secret that must not be there.
pub fn raw_text(path: &Path) -> String {
    fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

fn valid_slot(slot: &[u8]) -> Option<(u64, &[u8])> {
    if slot.len() < HEADER || &slot[..4] != MAGIC {
        return None;
    }
    let seq = u64::from_le_bytes(slot[4..12].try_into().ok()?);
    let len = u32::from_le_bytes(slot[12..16].try_into().ok()?) as usize;
    let json = slot.get(HEADER..HEADER + len)?;
    let mut hash = Sha256::new();
    hash.update(&slot[..16]);
    hash.update(json);
    (hash.finalize()[..] == slot[16..HEADER]).then_some((seq, json))
}
