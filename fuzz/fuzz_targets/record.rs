//! A user's record file as the daemon reads it (`store::decode_record`).
//!
//! A record that parses serializes and parses again to an equal record, and that
//! serialization is a fixed point. An error names the file and never quotes the record (it
//! holds a TOTP secret and argon2 hashes): no `$argon2`, and no run of 8 bytes of the input
//! outside the messages' own wording, with numbers (line, column, version) set aside.
#![no_main]

use std::collections::HashSet;
use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mfa_daemon::store::decode_record;

const FILE: &str = "r.json";
/// Shortest run of input bytes that counts as quoting it.
const QUOTE: usize = 8;

fuzz_target!(|data: &[u8]| {
    let path = Path::new(FILE);
    match decode_record(path, data) {
        Ok(record) => {
            let written = serde_json::to_vec(&record).expect("a record serializes");
            let again = decode_record(path, &written).unwrap_or_else(|e| {
                panic!("a serialized record does not parse: {e}");
            });
            assert_eq!(again, record);
            let rewritten = serde_json::to_vec(&again).expect("a record serializes");
            assert_eq!(rewritten, written);
        }
        Err(error) => {
            let shown = error.to_string();
            assert!(shown.contains(FILE), "{shown}");
            assert!(!shown.contains("$argon2"), "{shown}");
            does_not_quote(data, &shown);
        }
    }
});

/// Panics if `shown` holds a run of `QUOTE` bytes that is in `input` and not in any error
/// message of a fixed set of inputs (the wording). Digit runs become `#` on both sides first,
/// so that line, column and version numbers are wording too.
fn does_not_quote(input: &[u8], shown: &str) {
    let shown = digits_as_hash(shown.as_bytes());
    let wording = wording();
    let quoted: Vec<&[u8]> = shown
        .windows(QUOTE)
        .filter(|w| !wording.contains(*w))
        .collect();
    if quoted.is_empty() {
        return;
    }
    let input = digits_as_hash(input);
    for run in quoted {
        assert!(
            !input.windows(QUOTE).any(|w| w == run),
            "error quotes the record: {:?} in {:?}",
            String::from_utf8_lossy(run),
            String::from_utf8_lossy(&shown)
        );
    }
}

/// Every `QUOTE`-byte run of the messages for inputs that quote nothing.
fn wording() -> &'static HashSet<Vec<u8>> {
    static WORDING: OnceLock<HashSet<Vec<u8>>> = OnceLock::new();
    WORDING.get_or_init(|| {
        let samples: [&[u8]; 6] = [
            b"",
            b"x",
            b"{",
            b"[]",
            br#"{"version":"x"}"#,
            br#"{"version":999}"#,
        ];
        let mut runs = HashSet::new();
        for sample in samples {
            let error = decode_record(Path::new(FILE), sample).expect_err("a sample that parses");
            let shown = digits_as_hash(error.to_string().as_bytes());
            runs.extend(shown.windows(QUOTE).map(<[u8]>::to_vec));
        }
        runs
    })
}

/// `text` with each run of ASCII digits replaced by one `#`.
fn digits_as_hash(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for &b in text {
        if b.is_ascii_digit() {
            if out.last() != Some(&b'#') {
                out.push(b'#');
            }
        } else {
            out.push(b);
        }
    }
    out
}
