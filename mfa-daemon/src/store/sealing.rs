//! Records sealed for a shared database: XChaCha20-Poly1305 under a key that only the hosts
//! hold (`[store] key_file`), with the user's name as associated data. A dump of the database
//! alone yields no TOTP seed and no hash; a row copied under another name, or altered, does
//! not open (and the login fails closed).

use std::path::Path;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::secret_file::{self, SecretFileError, SecretKind, Size};

/// Bytes of a key.
pub const KEY_LEN: usize = 32;
/// Start of every sealed record: the format, so that a later one can be told apart.
const MAGIC: &[u8; 4] = b"MFS1";
const NONCE_LEN: usize = 24;
/// Associated data: the format and the user's name.
const AAD_PREFIX: &[u8] = b"pam-mfa record MFS1\0";

/// The key file: exactly [`KEY_LEN`] bytes.
const KEY_FILE: SecretKind = SecretKind {
    name: "the key",
    size: Size::Exactly {
        len: KEY_LEN,
        how: "make one with `head -c 32 /dev/urandom > FILE && chmod 600 FILE`, the same \
              file on every host",
    },
};

/// Why a record could not be sealed.
#[derive(Debug)]
pub enum SealError {
    /// The system gave no random nonce.
    Random(std::io::Error),
    /// The cipher refused (a record too long for it).
    Cipher,
}

impl std::fmt::Display for SealError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SealError::Random(e) => write!(f, "no random nonce: {e}"),
            SealError::Cipher => f.write_str("sealing failed"),
        }
    }
}

impl std::error::Error for SealError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SealError::Random(e) => Some(e),
            SealError::Cipher => None,
        }
    }
}

/// Why sealed bytes could not be opened. Never quotes the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsealError {
    /// No `MFS1` header and nonce: not something [`Sealer::seal`] wrote.
    NotSealed,
    /// Another key, altered bytes, or sealed for another name.
    WrongKeyOrName,
}

impl std::fmt::Display for UnsealError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UnsealError::NotSealed => "not a sealed record (no MFS1 header)",
            UnsealError::WrongKeyOrName => {
                "cannot be decrypted with this host's key_file (another key, altered, or \
                 stored under another name)"
            }
        })
    }
}

impl std::error::Error for UnsealError {}

/// The key, wiped when dropped; never printed.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<key>)")
    }
}

impl Sealer {
    /// Reads the key from `path` (a relative name inside `credentials_dir`,
    /// `$CREDENTIALS_DIRECTORY`): a regular file of exactly 32 bytes that only its owner may
    /// read or write. The error says what is wrong and how to make one.
    pub fn from_key_file(
        path: &Path,
        credentials_dir: Option<&Path>,
    ) -> Result<Sealer, SecretFileError> {
        let bytes = secret_file::read(path, credentials_dir, KEY_FILE)?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&bytes);
        Ok(Sealer::new(&key))
    }

    /// A sealer with `key`.
    pub fn new(key: &[u8; KEY_LEN]) -> Sealer {
        Sealer {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// Seals `plain` (a record's JSON) for `user`, under a fresh random nonce.
    pub fn seal(&self, user: &str, plain: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| {
            // getrandom's own error is a std error only with its `std` feature.
            SealError::Random(match e.raw_os_error() {
                Some(code) => std::io::Error::from_raw_os_error(code),
                None => std::io::Error::other(e.to_string()),
            })
        })?;
        let aad = aad(user);
        let sealed = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Cipher)?;
        let mut out = Vec::with_capacity(MAGIC.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`Sealer::seal`] sealed for `user`. The error never quotes the bytes.
    pub fn open(&self, user: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, UnsealError> {
        let body = sealed
            .strip_prefix(MAGIC)
            .filter(|b| b.len() >= NONCE_LEN)
            .ok_or(UnsealError::NotSealed)?;
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| UnsealError::NotSealed)?;
        let aad = aad(user);
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| UnsealError::WrongKeyOrName)
    }
}

fn aad(user: &str) -> Vec<u8> {
    [AAD_PREFIX, user.as_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret_file::tests::write;

    #[test]
    fn sealed_records_open_only_with_the_key_and_the_name() {
        let sealer = Sealer::new(&[7; KEY_LEN]);
        let plain = br#"{"secret":"JBSWY3DPEHPK3PXP"}"#;
        let sealed = sealer.seal("alice", plain).unwrap();
        assert!(!sealed.windows(8).any(|w| plain.windows(8).any(|p| p == w)));
        assert_eq!(&sealer.open("alice", &sealed).unwrap()[..], plain);
        assert!(sealer.open("mallory", &sealed).is_err());
        assert!(Sealer::new(&[8; KEY_LEN]).open("alice", &sealed).is_err());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(sealer.open("alice", &altered).is_err());
        assert!(sealer.open("alice", b"garbage").is_err());
        // A fresh nonce every time.
        assert_ne!(sealer.seal("alice", plain).unwrap(), sealed);
    }

    #[test]
    fn the_key_file_must_be_32_private_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8], mode: u32| write(dir.path(), name, bytes, mode);
        let read = |path: &Path| Sealer::from_key_file(path, None).map_err(|e| e.to_string());
        assert!(read(&write("good", &[1; 32], 0o600)).is_ok());
        assert!(read(&write("ro", &[1; 32], 0o400)).is_ok());
        let e = read(&write("open", &[1; 32], 0o644)).unwrap_err();
        assert!(e.contains("mode 0644") && e.contains("chmod 600"), "{e}");
        let e = read(&write("short", &[1; 31], 0o600)).unwrap_err();
        assert!(
            e.contains("shorter than 32 bytes") && e.contains("head -c 32"),
            "{e}"
        );
        let e = read(&write("long", &[1; 33], 0o600)).unwrap_err();
        assert!(e.contains("longer than 32 bytes"), "{e}");
        let e = read(&dir.path().join("missing")).unwrap_err();
        assert!(e.contains("cannot open"), "{e}");
    }
}
