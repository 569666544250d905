//! What `mfactl import` sends for one user, and what the daemon answers: the factors another
//! OTP system held for them (google-authenticator-libpam, pam_oath, a PSKC batch), already
//! read and checked by mfactl. The daemon decides whether they are stored.

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Which system the factors come from; also the audit's `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportSource {
    /// A user's `~/.google_authenticator`.
    GoogleAuthenticator,
    /// pam_oath's users file.
    Oath,
    /// An RFC 6030 PSKC file.
    Pskc,
}

impl ImportSource {
    /// The name the command line, the audit and the output use.
    pub fn name(self) -> &'static str {
        match self {
            ImportSource::GoogleAuthenticator => "google-authenticator",
            ImportSource::Oath => "oath",
            ImportSource::Pskc => "pskc",
        }
    }
}

/// An authenticator app (TOTP) to store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportedApp {
    /// Its label (`ga`, `oath`, `pskc-SERIAL`).
    pub label: String,
    /// The shared secret in unpadded base32.
    pub secret: Secret,
    /// `SHA1`, `SHA256` or `SHA512`.
    pub algorithm: String,
    /// Code length.
    pub digits: u8,
    /// Seconds per code.
    pub period: u32,
    /// Steps either side of now its codes may be from, when the old system had its own.
    #[serde(default)]
    pub skew: Option<u8>,
}

/// An HOTP token (RFC 4226) to store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportedToken {
    /// Its label.
    pub label: String,
    /// The shared secret in unpadded base32.
    pub secret: Secret,
    /// `SHA1`, `SHA256` or `SHA512`.
    pub algorithm: String,
    /// Code length.
    pub digits: u8,
    /// The next counter value to accept.
    pub counter: u64,
}

/// How one user's import ended, when the daemon did not refuse it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// Stored.
    Imported,
    /// `dry_run`: would have been stored; nothing changed.
    WouldImport,
    /// The user already has a factor and `replace` was not given; nothing changed.
    SkippedEnrolled,
}
