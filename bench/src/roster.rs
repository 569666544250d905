//! Bench users of one tool: name, TOTP secret, and the last time step that tool accepted from
//! them. A roster file has one user a line, `NAME SECRET_BASE32 LAST_STEP`; `#` starts a
//! comment line. Beside it, a recovery-code file holds unused recovery codes, one a line,
//! `NAME CODE`.

use std::fs;
use std::path::Path;

use data_encoding::BASE32_NOPAD;
use totp_rs::{Algorithm, TOTP};

use crate::error::BenchError;

/// Code length of every bench user (the daemon's default and the modules' usual one).
const DIGITS: usize = 6;
/// Seconds per TOTP step of every bench user.
pub const PERIOD: u64 = 30;
/// Secret length of users made by [`random_users`]: 160 bits, as RFC 4226 recommends.
const SECRET_LEN: usize = 20;

/// One bench user.
#[derive(Debug, Clone)]
pub struct BenchUser {
    /// Account name given to PAM or the daemon.
    pub name: String,
    /// The TOTP secret (HMAC-SHA1 key).
    pub secret: Vec<u8>,
    /// The last time step accepted from this user; every verifier here refuses it and any
    /// earlier one. 0 when none was used.
    pub last_step: u64,
}

impl BenchUser {
    /// The user's code for time step `step`.
    pub fn code(&self, step: u64) -> String {
        TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, PERIOD, self.secret.clone())
            .generate(step * PERIOD)
    }
}

/// Decodes a base32 secret as authenticator apps accept it: any case, spaces and padding
/// ignored.
pub fn decode_secret(text: &str) -> Option<Vec<u8>> {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    BASE32_NOPAD.decode(cleaned.as_bytes()).ok()
}

/// `count` users named `PREFIX0`, `PREFIX1`, ... with random secrets, none used yet.
pub fn random_users(prefix: &str, count: usize) -> Result<Vec<BenchUser>, BenchError> {
    (0..count)
        .map(|i| {
            let mut secret = vec![0u8; SECRET_LEN];
            getrandom::fill(&mut secret).map_err(|e| BenchError::Io {
                what: "get random bytes".to_owned(),
                source: std::io::Error::other(e.to_string()),
            })?;
            Ok(BenchUser {
                name: format!("{prefix}{i}"),
                secret,
                last_step: 0,
            })
        })
        .collect()
}

/// Reads a roster file.
pub fn read(path: &Path) -> Result<Vec<BenchUser>, BenchError> {
    let text =
        fs::read_to_string(path).map_err(BenchError::io(format!("read {}", path.display())))?;
    let bad = |line: usize, why: &str| BenchError::Roster {
        path: path.to_owned(),
        line,
        why: why.to_owned(),
    };
    let mut users = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, secret, last_step] = fields.as_slice() else {
            return Err(bad(number, "expected NAME SECRET_BASE32 LAST_STEP"));
        };
        users.push(BenchUser {
            name: (*name).to_owned(),
            secret: decode_secret(secret).ok_or_else(|| bad(number, "secret is not base32"))?,
            last_step: last_step
                .parse()
                .map_err(|_| bad(number, "last step is not a number"))?,
        });
    }
    if users.is_empty() {
        return Err(bad(1, "no users"));
    }
    Ok(users)
}

/// Writes a roster file, readable by root only: it holds secrets.
pub fn write(path: &Path, users: &[BenchUser]) -> Result<(), BenchError> {
    let mut text = String::from("# NAME SECRET_BASE32 LAST_STEP\n");
    for user in users {
        text.push_str(&format!(
            "{} {} {}\n",
            user.name,
            BASE32_NOPAD.encode(&user.secret),
            user.last_step
        ));
    }
    write_secret_file(path, &text)
}

/// One unused recovery code of a bench user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCode {
    /// The account.
    pub user: String,
    /// The code as the daemon showed it.
    pub code: String,
}

/// Reads a recovery-code file.
pub fn read_codes(path: &Path) -> Result<Vec<RecoveryCode>, BenchError> {
    let text =
        fs::read_to_string(path).map_err(BenchError::io(format!("read {}", path.display())))?;
    let mut codes = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [user, code] = fields.as_slice() else {
            return Err(BenchError::Roster {
                path: path.to_owned(),
                line: index + 1,
                why: "expected NAME CODE".to_owned(),
            });
        };
        codes.push(RecoveryCode {
            user: (*user).to_owned(),
            code: (*code).to_owned(),
        });
    }
    Ok(codes)
}

/// Writes a recovery-code file, readable by root only.
pub fn write_codes(path: &Path, codes: &[RecoveryCode]) -> Result<(), BenchError> {
    let mut text = String::from("# NAME RECOVERY_CODE (unused)\n");
    for code in codes {
        text.push_str(&format!("{} {}\n", code.user, code.code));
    }
    write_secret_file(path, &text)
}

fn write_secret_file(path: &Path, text: &str) -> Result<(), BenchError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(BenchError::io(format!("write {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_vectors() {
        let user = BenchUser {
            name: "rfc".to_owned(),
            secret: b"12345678901234567890".to_vec(),
            last_step: 0,
        };
        // RFC 6238 appendix B, truncated to 6 digits.
        assert_eq!(user.code(59 / PERIOD), "287082");
        assert_eq!(user.code(1_111_111_109 / PERIOD), "081804");
        assert_eq!(user.code(2_000_000_000 / PERIOD), "279037");
    }

    #[test]
    fn secrets_decode_as_apps_accept_them() {
        let expected = b"12345678901234567890".to_vec();
        for text in [
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
            "gezd gnbv gy3t qojq gezd gnbv gy3t qojq",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ====",
        ] {
            assert_eq!(decode_secret(text), Some(expected.clone()), "{text}");
        }
        assert_eq!(decode_secret("not base32!"), None);
    }

    #[test]
    fn roster_round_trip() {
        let dir = std::env::temp_dir().join(format!("mfa-bench-roster-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users.txt");
        let mut users = random_users("bench-", 3).unwrap();
        users[1].last_step = 42;
        write(&path, &users).unwrap();
        let back = read(&path).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back[1].name, "bench-1");
        assert_eq!(back[1].secret, users[1].secret);
        assert_eq!(back[1].last_step, 42);
    }
}
