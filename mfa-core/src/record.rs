//! The user record: everything kept about one user's factors and contacts, versioned.
//! Failure counters are not here: the attempt limits keep them for every name alike.

use serde::{Deserialize, Serialize};

use crate::app_password::AppPassword;
use crate::contact::Contact;
use crate::device::TrustedDevice;
use crate::factor::bypass::BypassGrant;
use crate::factor::recovery::RecoveryCode;
use crate::factor::totp::{self, Generator, Secret, TotpParams};
use crate::factor::{Decision, Factor, Rejection};
use crate::hotp::HotpToken;
use crate::passkey::{PasskeyFactor, PushTarget};

/// Format version of a record written now.
/// - 1: bare recovery-code hashes, failure counters in the record.
/// - 2: recovery codes as `{id, hash}`, a `revision`, no counters.
/// - 3: `contacts` (phones and email addresses).
/// - 4: `trusted` (remembered devices).
/// - 5: `totp` is a list of labelled apps (was one app or `null`); `first_seen`,
///   `last_success` and `bypass`.
/// - 6: `passkeys` and `push` (browsers told of sign-ins by Web Push).
/// - 7: `hotp` (counter-based tokens), `app_passwords`, and an app's own `skew` (kept
///   from an imported google-authenticator file's window).
///
/// Older versions are read and migrated in memory, and rewritten as this version on the
/// next change.
pub const RECORD_VERSION: u32 = 7;

/// The label of an app enrolled without one (and of the single app of records before
/// version 5).
pub const DEFAULT_APP_LABEL: &str = "app";
pub use crate::label::{MAX_LABEL_LEN, label_problem};

/// Everything the daemon keeps about one user's factors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredRecord")]
pub struct UserRecord {
    /// Record format version.
    pub version: u32,
    /// Bumped by every change of factors, so that a change prepared against an older state
    /// (an enrollment begun before another one finished) can tell and refuse.
    pub revision: u64,
    /// The authenticator apps, in enrollment order; each label once.
    pub totp: Vec<TotpFactor>,
    /// Unused recovery codes (IDs and argon2id hashes).
    pub recovery_codes: Vec<RecoveryCode>,
    /// Phones and email addresses codes can be sent to, in enrollment order.
    pub contacts: Vec<Contact>,
    /// Devices that may skip the prompt for a while.
    pub trusted: Vec<TrustedDevice>,
    /// Unix time until which an admin exempted the user from being asked (`mfactl exempt`).
    pub exempt_until: Option<u64>,
    /// Unix time the user first reached the enrollment prompt at login (`unenrolled =
    /// "enroll"`): the start of their grace period.
    pub first_seen: Option<u64>,
    /// The last login that passed a factor (or a trusted device).
    pub last_success: Option<LastSuccess>,
    /// A bypass code an admin issued (`mfactl bypass`).
    pub bypass: Option<BypassGrant>,
    /// Passkeys and security keys, in enrollment order; each label once.
    pub passkeys: Vec<PasskeyFactor>,
    /// Browsers that asked to be told of sign-ins by Web Push.
    pub push: Vec<PushTarget>,
    /// Counter-based (HOTP) tokens, in enrollment order; each label once.
    pub hotp: Vec<HotpToken>,
    /// Passwords for programs that cannot answer a second prompt, each for some services.
    pub app_passwords: Vec<AppPassword>,
}

/// When, from where and with what a user last logged in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastSuccess {
    /// Unix time.
    pub at: u64,
    /// The source (remote address, `service:tty` or `uid:N`).
    pub source: String,
    /// The PAM service.
    pub service: String,
    /// `totp`, `recovery_code`, `sms`, `voice`, `email`, `bypass_code` or `remembered`.
    pub factor: String,
}

/// The `totp` field in any version: one app or `null` (1–4), a list (5).
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredApps {
    Many(Vec<TotpFactor>),
    One(TotpFactor),
}

/// A record as stored, in any supported version.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredRecord {
    version: u32,
    #[serde(default)]
    revision: u64,
    #[serde(default)]
    totp: Option<StoredApps>,
    #[serde(default)]
    recovery_codes: Vec<RecoveryCode>,
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    trusted: Vec<TrustedDevice>,
    #[serde(default)]
    exempt_until: Option<u64>,
    #[serde(default)]
    first_seen: Option<u64>,
    #[serde(default)]
    last_success: Option<LastSuccess>,
    #[serde(default)]
    bypass: Option<BypassGrant>,
    #[serde(default)]
    passkeys: Vec<PasskeyFactor>,
    #[serde(default)]
    push: Vec<PushTarget>,
    #[serde(default)]
    hotp: Vec<HotpToken>,
    #[serde(default)]
    app_passwords: Vec<AppPassword>,
    /// Version 1's failure counters: dropped (lockouts now live in the attempt limiter).
    #[serde(default, rename = "limits")]
    _limits: Option<serde::de::IgnoredAny>,
}

impl From<StoredRecord> for UserRecord {
    fn from(stored: StoredRecord) -> Self {
        UserRecord {
            version: stored.version,
            revision: stored.revision,
            totp: match stored.totp {
                None => Vec::new(),
                Some(StoredApps::One(app)) => vec![app],
                Some(StoredApps::Many(apps)) => apps,
            },
            recovery_codes: stored.recovery_codes,
            contacts: stored.contacts,
            trusted: stored.trusted,
            exempt_until: stored.exempt_until,
            first_seen: stored.first_seen,
            last_success: stored.last_success,
            bypass: stored.bypass,
            passkeys: stored.passkeys,
            push: stored.push,
            hotp: stored.hotp,
            app_passwords: stored.app_passwords,
        }
    }
}

impl Default for UserRecord {
    fn default() -> Self {
        UserRecord {
            version: RECORD_VERSION,
            revision: 0,
            totp: Vec::new(),
            recovery_codes: Vec::new(),
            contacts: Vec::new(),
            trusted: Vec::new(),
            exempt_until: None,
            first_seen: None,
            last_success: None,
            bypass: None,
            passkeys: Vec::new(),
            push: Vec::new(),
            hotp: Vec::new(),
            app_passwords: Vec::new(),
        }
    }
}

impl UserRecord {
    /// Whether the user has any factor at all: an app, an HOTP token, a passkey, a
    /// recovery code, a contact a code can be sent to, or a live bypass code. App passwords
    /// do not count: they stand in for the whole login, and making one needs a factor.
    pub fn is_enrolled(&self, now: u64) -> bool {
        !self.totp.is_empty()
            || !self.hotp.is_empty()
            || !self.passkeys.is_empty()
            || !self.recovery_codes.is_empty()
            || !self.contacts.is_empty()
            || self.bypass.as_ref().is_some_and(|b| b.is_live(now))
    }

    /// The factors `policy.min_factors` counts: each app, HOTP token, passkey, phone or
    /// address (recovery codes, bypass codes and app passwords are stand-ins, not factors).
    pub fn factor_count(&self) -> usize {
        self.totp.len() + self.hotp.len() + self.passkeys.len() + self.contacts.len()
    }

    /// The HOTP token labelled `label`.
    pub fn hotp_token(&self, label: &str) -> Option<&HotpToken> {
        self.hotp.iter().find(|t| t.label == label)
    }

    /// The app password labelled `label`.
    pub fn app_password(&self, label: &str) -> Option<&AppPassword> {
        self.app_passwords.iter().find(|p| p.label == label)
    }

    /// The passkey labelled `label`.
    pub fn passkey(&self, label: &str) -> Option<&PasskeyFactor> {
        self.passkeys.iter().find(|p| p.label == label)
    }

    /// The app labelled `label`.
    pub fn app(&self, label: &str) -> Option<&TotpFactor> {
        self.totp.iter().find(|a| a.label == label)
    }

    /// Checks `code` against every app (each has its own replay state): accepted by the
    /// first app that shows it at a step later than that app's last; `Replayed` if an app
    /// shows it only at a used step. Every app's codes are computed whatever the outcome.
    pub fn verify_totp(
        &mut self,
        code: &str,
        now: u64,
        skew: u8,
        still_wanted: &dyn Fn() -> bool,
    ) -> Decision {
        let mut decision = Decision::Refuse(Rejection::Invalid);
        for app in &mut self.totp {
            let skew = app.skew.unwrap_or(skew);
            if matches!(decision, Decision::Accept(_) | Decision::Abandon(_)) {
                // Still spend the same work on the rest.
                let _ = Generator::new(app.params, &app.secret).matching_step(code, now, skew);
                continue;
            }
            match app.verify(code, now, skew, still_wanted) {
                Decision::Refuse(Rejection::Invalid) => {}
                other => decision = other,
            }
        }
        decision
    }
}

/// An enrolled authenticator app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpFactor {
    /// The user's name for it (`app`, `phone2`).
    #[serde(default = "default_label")]
    pub label: String,
    /// Parameters it was enrolled with.
    pub params: TotpParams,
    /// The shared secret.
    pub secret: Secret,
    /// Unix time of enrollment.
    pub enrolled_at: u64,
    /// The last time step accepted; only later steps are accepted after it.
    pub last_step: u64,
    /// Steps either side of now this app's codes may be from, when it has its own (an
    /// imported google-authenticator file's `WINDOW_SIZE`); `None` uses `totp.skew`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skew: Option<u8>,
}

fn default_label() -> String {
    DEFAULT_APP_LABEL.to_owned()
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
            label: DEFAULT_APP_LABEL.to_owned(),
            params,
            secret,
            enrolled_at: now,
            last_step: 0,
            skew: None,
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
    fn every_known_version_decodes_and_others_do_not() {
        for v in 1..=RECORD_VERSION {
            let r = decode(format!(r#"{{"version":{v}}}"#).as_bytes()).unwrap();
            assert_eq!(r.version, RECORD_VERSION);
            assert!(!r.is_enrolled(0));
        }
        assert_eq!(
            decode(br#"{"version":8}"#),
            Err(RecordError::UnsupportedVersion(8))
        );
        let err = decode(br#"{"version":3,"totp":"JBSWY3DPEHPK3PXP"#).unwrap_err();
        assert!(!err.to_string().contains("JBSW"), "{err}");
    }

    #[test]
    fn a_passkey_counts_as_a_factor_and_survives_a_round_trip() {
        let v6 = r#"{"version":6,"passkeys":[{"label":"phone","id":"AAEC","enrolled_at":5,
            "credential":{"cred":{"counter":3}}}],"push":[{"endpoint":"https://push.test/1",
            "p256dh":"k","auth":"a","added_at":6}]}"#;
        let r = decode(v6.as_bytes()).unwrap();
        assert!(r.is_enrolled(0));
        assert_eq!(r.factor_count(), 1);
        assert_eq!(r.passkey("phone").map(|p| p.enrolled_at), Some(5));
        assert_eq!(r.passkeys[0].credential["cred"]["counter"], 3);
        let again = serde_json::to_string(&r).unwrap();
        assert_eq!(decode(again.as_bytes()).unwrap(), r);
        assert!(decode(br#"{"version":6,"passkeys":[{"label":"x"}]}"#).is_err());
    }

    fn app_json(extra: &str) -> String {
        format!(
            r#"{{{extra}"params":{{"algorithm":"SHA1","digits":6,"period":30}},"secret":"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP","enrolled_at":1,"last_step":7}}"#
        )
    }

    #[test]
    fn a_version_four_app_becomes_a_list_of_one_labelled_app() {
        let v4 = format!(r#"{{"version":4,"revision":3,"totp":{}}}"#, app_json(""));
        let r = decode(v4.as_bytes()).unwrap();
        assert_eq!(r.totp.len(), 1);
        assert_eq!(r.totp[0].label, DEFAULT_APP_LABEL);
        assert_eq!(r.totp[0].last_step, 7);
        assert_eq!(r.factor_count(), 1);
        let v5 = serde_json::to_string(&r).unwrap();
        assert_eq!(decode(v5.as_bytes()).unwrap(), r, "round trip as version 5");
        let null = decode(br#"{"version":4,"totp":null}"#).unwrap();
        assert!(null.totp.is_empty());
        let two = format!(
            r#"{{"version":5,"totp":[{},{}]}}"#,
            app_json(r#""label":"a","#),
            app_json(r#""label":"b","#)
        );
        let r = decode(two.as_bytes()).unwrap();
        assert_eq!(r.app("b").unwrap().label, "b");
        assert!(r.app("c").is_none());
    }

    #[test]
    fn a_code_of_any_app_is_accepted_once_per_app() {
        let params = TotpParams {
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: 30,
        };
        let now = 1_800_000_000;
        let app = |label: &str| TotpFactor {
            label: label.to_owned(),
            params,
            secret: Secret::generate(Algorithm::Sha1).unwrap(),
            enrolled_at: now,
            last_step: 0,
            skew: None,
        };
        let mut r = UserRecord {
            totp: vec![app("a"), app("b")],
            ..UserRecord::default()
        };
        let code_of = |r: &UserRecord, i: usize| {
            let g = Generator::new(params, &r.totp[i].secret);
            g.code_for_step(g.step_at(now))
        };
        let b_code = code_of(&r, 1);
        assert_eq!(
            r.verify_totp(&b_code, now, 1, &|| true),
            Decision::Accept(Factor::Totp)
        );
        assert_eq!(r.totp[0].last_step, 0, "app a untouched");
        assert_eq!(
            r.verify_totp(&b_code, now, 1, &|| true),
            Decision::Refuse(Rejection::Replayed)
        );
        let a_code = code_of(&r, 0);
        assert_eq!(
            r.verify_totp(&a_code, now, 1, &|| true),
            Decision::Accept(Factor::Totp),
            "the same step of another app still works"
        );
        assert_eq!(
            r.verify_totp("000000", now, 0, &|| true),
            Decision::Refuse(Rejection::Invalid)
        );
    }

    #[test]
    fn labels_are_checked() {
        for good in ["app", "phone2", "work.yubi_2-a"] {
            assert_eq!(label_problem(good), None);
        }
        for bad in ["", "a b", "x/y", &"l".repeat(MAX_LABEL_LEN + 1)] {
            assert!(label_problem(bad).unwrap().contains("label"));
        }
    }
}
