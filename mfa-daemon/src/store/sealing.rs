//! Records sealed for a shared database: XChaCha20-Poly1305 under a key that only the hosts
//! hold (`[store] key_file`), with the user's name as associated data. A dump of the database
//! alone yields no TOTP seed and no hash; a row copied under another name, or altered, does
//! not open (and the login fails closed).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

/// Bytes of a key.
pub const KEY_LEN: usize = 32;
/// Start of every sealed record: the format, so that a later one can be told apart.
const MAGIC: &[u8; 4] = b"MFS1";
const NONCE_LEN: usize = 24;
/// Associated data: the format and the user's name.
const AAD_PREFIX: &[u8] = b"pam-mfa record MFS1\0";

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
    /// Reads the key from `path`: a regular file of exactly 32 bytes that only its owner may
    /// read or write. The error says what is wrong and how to make one.
    pub fn from_key_file(path: &Path) -> Result<Sealer, String> {
        let how = "make one with `head -c 32 /dev/urandom > FILE && chmod 600 FILE`, the same \
                   file on every host";
        let mut file =
            File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let meta = file
            .metadata()
            .map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
        if !meta.is_file() {
            return Err(format!("{} is not a regular file", path.display()));
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "{} has mode {mode:04o}: the key must not be readable or writable by group or \
                 others (chmod 600 it)",
                path.display()
            ));
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        let mut extra = [0u8; 1];
        let read = file
            .read_exact(&mut key[..])
            .and_then(|()| file.read(&mut extra));
        match read {
            Ok(0) => Ok(Sealer::new(&key)),
            Ok(_) => Err(format!(
                "{} is longer than {KEY_LEN} bytes: {how}",
                path.display()
            )),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(format!(
                "{} is shorter than {KEY_LEN} bytes: {how}",
                path.display()
            )),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// A sealer with `key`.
    pub fn new(key: &[u8; KEY_LEN]) -> Sealer {
        Sealer {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// Seals `plain` (a record's JSON) for `user`, under a fresh random nonce.
    pub fn seal(&self, user: &str, plain: &[u8]) -> Result<Vec<u8>, String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| format!("no random nonce: {e}"))?;
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
            .map_err(|_| "sealing failed".to_owned())?;
        let mut out = Vec::with_capacity(MAGIC.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`Sealer::seal`] sealed for `user`. The error never quotes the bytes.
    pub fn open(&self, user: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
        let body = sealed
            .strip_prefix(MAGIC)
            .filter(|b| b.len() >= NONCE_LEN)
            .ok_or("not a sealed record (no MFS1 header)")?;
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| "short nonce")?;
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
            .map_err(|_| {
                "cannot be decrypted with this host's key_file (another key, altered, or \
                 stored under another name)"
                    .to_owned()
            })
    }
}

fn aad(user: &str) -> Vec<u8> {
    [AAD_PREFIX, user.as_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

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
        let write = |name: &str, bytes: &[u8], mode: u32| {
            let path = dir.path().join(name);
            fs::write(&path, bytes).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            path
        };
        assert!(Sealer::from_key_file(&write("good", &[1; 32], 0o600)).is_ok());
        assert!(Sealer::from_key_file(&write("ro", &[1; 32], 0o400)).is_ok());
        let e = Sealer::from_key_file(&write("open", &[1; 32], 0o644)).unwrap_err();
        assert!(e.contains("mode 0644") && e.contains("chmod 600"), "{e}");
        let e = Sealer::from_key_file(&write("short", &[1; 31], 0o600)).unwrap_err();
        assert!(
            e.contains("shorter than 32 bytes") && e.contains("head -c 32"),
            "{e}"
        );
        let e = Sealer::from_key_file(&write("long", &[1; 33], 0o600)).unwrap_err();
        assert!(e.contains("longer than 32 bytes"), "{e}");
        let e = Sealer::from_key_file(&dir.path().join("missing")).unwrap_err();
        assert!(e.contains("cannot open"), "{e}");
    }
}
