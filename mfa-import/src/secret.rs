//! Key material read from an import file.

use std::fmt;

use zeroize::Zeroizing;

/// An OTP shared secret (the raw key bytes, already decoded from base32, hex or base64).
///
/// Its `Debug` shows only the length: an import report or a log line must never carry a key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    pub(crate) fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }

    /// The key bytes, for the caller that stores them (encrypted) in its own records.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The key length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the key is empty (never true for a secret a parser returned).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// A one-time scratch (emergency) code, which becomes a recovery code once hashed.
#[derive(Clone, PartialEq, Eq)]
pub struct ScratchCode(Zeroizing<String>);

impl ScratchCode {
    pub(crate) fn new(code: Zeroizing<String>) -> Self {
        Self(code)
    }

    /// The code's digits, to be hashed by the caller.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ScratchCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScratchCode(..)")
    }
}
