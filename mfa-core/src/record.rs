//! The user record: everything kept about one user's factors and contacts, versioned.
//! Failure counters are not here: the attempt limits keep them for every name alike.

use serde::{Deserialize, Serialize};

use crate::contact::Contact;
use crate::device::TrustedDevice;
use crate::factor::recovery::RecoveryCode;
use crate::factor::totp::{self, Generator, Secret, TotpParams};
use crate::factor::{Decision, Factor, Rejection};

/// Format version of a record written now.
/// - 1: bare recovery-code hashes, failure counters in the record.
/// - 2: recovery codes as `{id, hash}`, a `revision`, no counters.
/// - 3: `contacts` (phones and email addresses).
/// - 4: `trusted` (remembered devices).
///
/// Older versions are read and migrated in memory, and rewritten as this version on the
/// next change.
pub const RECORD_VERSION: u32 = 4;

/// Everything the daemon keeps about one user's factors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredRecord")]
pub struct UserRecord {
    /// Record format version.
    pub version: u32,
    /// Bumped by every change of factors, so that a change prepared against an older state
    /// (an enrollment begun before another one finished) can tell and refuse.
    pub revision: u64,
    /// The active authenticator app.
    pub totp: Option<TotpFactor>,
    /// Unused recovery codes (IDs and argon2id hashes).
    pub recovery_codes: Vec<RecoveryCode>,
    /// Phones and email addresses codes can be sent to, in enrollment order.
    pub contacts: Vec<Contact>,
    /// Devices that may skip the prompt for a while.
    pub trusted: Vec<TrustedDevice>,
    /// Unix time until which an admin exempted the user from being asked (`mfactl exempt`).
    pub exempt_until: Option<u64>,
}

/// A record as stored, in any supported version.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredRecord {
    version: u32,
    #[serde(default)]
    revision: u64,
    #[serde(default)]
    totp: Option<TotpFactor>,
    #[serde(default)]
    recovery_codes: Vec<RecoveryCode>,
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    trusted: Vec<TrustedDevice>,
    #[serde(default)]
    exempt_until: Option<u64>,
    /// Version 1's failure counters: dropped (lockouts now live in the attempt limiter).
    #[serde(default, rename = "limits")]
    _limits: Option<serde::de::IgnoredAny>,
}

impl From<StoredRecord> for UserRecord {
    fn from(stored: StoredRecord) -> Self {
        UserRecord {
            version: stored.version,
            revision: stored.revision,
            totp: stored.totp,
            recovery_codes: stored.recovery_codes,
            contacts: stored.contacts,
            trusted: stored.trusted,
            exempt_until: stored.exempt_until,
        }
    }
}

impl Default for UserRecord {
    fn default() -> Self {
        UserRecord {
            version: RECORD_VERSION,
            revision: 0,
            totp: None,
            recovery_codes: Vec::new(),
            contacts: Vec::new(),
            trusted: Vec::new(),
            exempt_until: None,
        }
    }
}

impl UserRecord {
    /// Whether the user has any factor at all: an app, a recovery code, or a contact a code
    /// can be sent to.
    pub fn is_enrolled(&self) -> bool {
        self.totp.is_some() || !self.recovery_codes.is_empty() || !self.contacts.is_empty()
    }
}

/// An enrolled authenticator app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpFactor {
    /// Parameters it was enrolled with.
    pub params: TotpParams,
    /// The shared secret.
    pub secret: Secret,
    /// Unix time of enrollment.
    pub enrolled_at: u64,
    /// The last time step accepted; only later steps are accepted after it.
    pub last_step: u64,
}

impl TotpFactor {
    /// Checks `code` at `now` (within `skew` steps): only a step later than the last one
    /// accepted passes, and it is recorded as used, if `still_wanted()` says the client is
    /// still there to be told.
    pub fn verify(
        &mut self,
        code: &str,
        now: u64,
        skew: u8,
        still_wanted: &dyn Fn() -> bool,
    ) -> Decision {
        if !totp::looks_like_code(code, self.params.digits) {
            return Decision::Refuse(Rejection::Invalid);
        }
        let generator = Generator::new(self.params, &self.secret);
        match generator.matching_step(code, now, skew) {
            Some(step) if step > self.last_step => {
                if !still_wanted() {
                    return Decision::Abandon(Factor::Totp);
                }
                self.last_step = step;
                Decision::Accept(Factor::Totp)
            }
            Some(_) => Decision::Refuse(Rejection::Replayed),
            None => Decision::Refuse(Rejection::Invalid),
        }
    }
}

/// Why a record's bytes cannot be used. Never quotes the record: it holds a secret and
/// hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// Not JSON of the record's shape.
    Parse {
        /// `invalid JSON`, `truncated`, ...
        kind: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// A version this build does not know.
    UnsupportedVersion(u32),
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::Parse { kind, line, column } => {
                write!(f, "{kind} at line {line}, column {column}")
            }
            RecordError::UnsupportedVersion(v) => write!(f, "record version {v} is not supported"),
        }
    }
}

impl std::error::Error for RecordError {}

/// Parses a record, migrating older versions in memory.
pub fn decode(bytes: &[u8]) -> Result<UserRecord, RecordError> {
    let mut record: UserRecord = serde_json::from_slice(bytes).map_err(|e| {
        // serde's message can quote the record; only its category and position are kept.
        let kind = match e.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "invalid JSON",
            serde_json::error::Category::Data => "unexpected content",
            serde_json::error::Category::Eof => "truncated",
        };
        RecordError::Parse {
            kind,
            line: e.line(),
            column: e.column(),
        }
    })?;
    if !(1..=RECORD_VERSION).contains(&record.version) {
        return Err(RecordError::UnsupportedVersion(record.version));
    }
    record.version = RECORD_VERSION;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::factor::totp::Algorithm;

    #[test]
    fn a_totp_step_is_accepted_once_and_only_later_ones_after_it() {
        let params = TotpParams {
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: 30,
        };
        let secret = Secret::generate(Algorithm::Sha1).unwrap();
        let g = Generator::new(params, &secret);
        let now = 1_800_000_000;
        let mut f = TotpFactor {
            params,
            secret,
            enrolled_at: now,
            last_step: 0,
        };
        let step = g.step_at(now);
        let code = g.code_for_step(step);
        assert_eq!(
            f.verify(&code, now, 1, &|| false),
            Decision::Abandon(Factor::Totp)
        );
        assert_eq!(f.last_step, 0, "an abandoned answer consumes nothing");
        assert_eq!(
            f.verify(&code, now, 1, &|| true),
            Decision::Accept(Factor::Totp)
        );
        assert_eq!(
            f.verify(&code, now, 1, &|| true),
            Decision::Refuse(Rejection::Replayed)
        );
        let earlier = g.code_for_step(step - 1);
        assert_eq!(
            f.verify(&earlier, now, 1, &|| true),
            Decision::Refuse(Rejection::Replayed)
        );
        assert_eq!(
            f.verify("12345", now, 1, &|| true),
            Decision::Refuse(Rejection::Invalid)
        );
        let later = g.code_for_step(step + 1);
        assert_eq!(
            f.verify(&later, now, 1, &|| true),
            Decision::Accept(Factor::Totp)
        );
    }

    #[test]
    fn versions_one_to_four_decode_and_others_do_not() {
        for v in 1..=4 {
            let r = decode(format!(r#"{{"version":{v}}}"#).as_bytes()).unwrap();
            assert_eq!(r.version, RECORD_VERSION);
            assert!(!r.is_enrolled());
        }
        assert_eq!(
            decode(br#"{"version":5}"#),
            Err(RecordError::UnsupportedVersion(5))
        );
        let err = decode(br#"{"version":3,"totp":"JBSWY3DPEHPK3PXP"#).unwrap_err();
        assert!(!err.to_string().contains("JBSW"), "{err}");
    }
}
