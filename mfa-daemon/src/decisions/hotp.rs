//! HOTP (counter-based) tokens outside a login: a soft token enrolled with `mfa-enroll
//! hotp` (a secret handed out, confirmed by its first code, then stored in one write that
//! refuses if the user's factors changed meanwhile), and root's resynchronisation of a token
//! pressed past its login window. Login codes are checked in [`super::answers`].

use zeroize::Zeroizing;

use mfa_core::factor::totp::{Algorithm, Secret};
use mfa_core::hotp::{self, DEFAULT_RESYNC_WINDOW, HotpToken, ResyncError};
use mfa_core::record;

use super::Decider;
use super::enrollment::{Activation, new_recovery_set};
use crate::error::DaemonError;

/// A soft token handed out for enrollment, not yet stored.
#[derive(Debug)]
pub struct PendingHotp {
    /// The token, at counter 0.
    pub token: HotpToken,
    /// The record's revision when the enrollment began.
    pub revision: u64,
}

/// How a resynchronisation ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Resync {
    /// The token `label` now accepts from `counter` on.
    Done {
        /// The token's label.
        label: String,
        /// Its new counter (the next to accept).
        counter: u64,
    },
    /// The user has no HOTP token.
    NoToken,
    /// No token has that label; these are the labels there are.
    NoSuchLabel(Vec<String>),
    /// The user has several tokens and no label was given; these are their labels.
    LabelNeeded(Vec<String>),
    /// The codes do not place the counter.
    Refused(ResyncError),
}

impl Decider {
    /// A new soft token for `name` labelled `label` with `digits`-digit codes, and the
    /// `otpauth://hotp/` URI an app scans (it contains the secret); nothing is stored yet.
    /// A label already in use is replaced on activation; a new one counts against
    /// `policy.max_authenticators` with the apps and passkeys.
    pub fn begin_hotp(
        &self,
        name: &str,
        label: &str,
        digits: u8,
    ) -> Result<(PendingHotp, Zeroizing<String>), DaemonError> {
        let now = self.now().secs();
        let secret = Secret::generate(Algorithm::Sha1).map_err(DaemonError::Random)?;
        let token = HotpToken::new(label, secret, Algorithm::Sha1, digits, 0, now)
            .map_err(|e| DaemonError::BadRequest(e.to_string()))?;
        let current = self.store.load(name)?.unwrap_or_default();
        let max = self.policy().max_authenticators;
        if current.hotp_token(label).is_none() && authenticators(&current) >= max {
            return Err(too_many(max));
        }
        let account = format!("{name}@{}", self.hostname);
        let uri = hotp::otpauth_uri(&self.config().issuer, &account, &token);
        let revision = current.revision;
        Ok((PendingHotp { token, revision }, uri))
    }

    /// Stores `pending` once `code` is one of its first codes (within `hotp.window`; the
    /// counter moves past it), replacing a token of the same label. Recovery codes are made
    /// as for an app: when a token was replaced or none are left. `None` when the code does
    /// not match (nothing stored).
    pub fn activate_hotp(
        &self,
        name: &str,
        pending: &PendingHotp,
        code: &str,
    ) -> Result<Option<Activation>, DaemonError> {
        let now = self.now().secs();
        let mut token = pending.token.clone();
        if token.verify(code, self.config().hotp.window, now).is_err() {
            return Ok(None);
        }
        let snapshot = self.store.load(name)?.unwrap_or_default();
        let new_codes =
            snapshot.hotp_token(&token.label).is_some() || snapshot.recovery_codes.is_empty();
        let (codes, hashes) = if new_codes {
            new_recovery_set()?
        } else {
            (Vec::new(), Vec::new())
        };
        let max = self.policy().max_authenticators;
        let activated = self.store.update(name, |record| {
            if record.revision != pending.revision {
                return Ok(false);
            }
            match record.hotp.iter().position(|t| t.label == token.label) {
                Some(i) => record.hotp[i] = token.clone(),
                None if authenticators(record) >= max => return Err(too_many(max)),
                None => record.hotp.push(token.clone()),
            }
            record.revision += 1;
            if new_codes {
                record.recovery_codes = hashes.clone();
            }
            Ok(true)
        })??;
        Ok(Some(if activated {
            Activation::Done(codes)
        } else {
            Activation::Conflict
        }))
    }

    /// Root's resynchronisation of `name`'s token `label` (which may be left out when the
    /// user has one token) from two consecutive codes, searched within
    /// [`DEFAULT_RESYNC_WINDOW`] counters; stored before it returns.
    pub fn resync_hotp(
        &self,
        name: &str,
        label: Option<&str>,
        first: &str,
        second: &str,
    ) -> Result<Resync, DaemonError> {
        let snapshot = self.store.load(name)?.unwrap_or_default();
        if snapshot.hotp.is_empty() {
            return Ok(Resync::NoToken);
        }
        let labels = || snapshot.hotp.iter().map(|t| t.label.clone()).collect();
        let label = match (label, snapshot.hotp.as_slice()) {
            (Some(l), _) if snapshot.hotp_token(l).is_none() => {
                return Ok(Resync::NoSuchLabel(labels()));
            }
            (Some(l), _) => l.to_owned(),
            (None, [only]) => only.label.clone(),
            (None, _) => return Ok(Resync::LabelNeeded(labels())),
        };
        Ok(self.store.update(name, |record| {
            let Some(token) = record.hotp.iter_mut().find(|t| t.label == label) else {
                // Removed since the snapshot.
                return Resync::NoSuchLabel(Vec::new());
            };
            match token.resync(first, second, DEFAULT_RESYNC_WINDOW) {
                Ok(counter) => {
                    record.revision += 1;
                    Resync::Done {
                        label: label.clone(),
                        counter,
                    }
                }
                Err(e) => Resync::Refused(e),
            }
        })?)
    }
}

/// What `policy.max_authenticators` counts for a new HOTP token: apps, passkeys and tokens.
fn authenticators(record: &record::UserRecord) -> usize {
    record.totp.len() + record.passkeys.len() + record.hotp.len()
}

/// The refusal of a token beyond `policy.max_authenticators`.
fn too_many(max: usize) -> DaemonError {
    DaemonError::Policy(format!(
        "policy.max_authenticators allows {max} authenticator(s) (apps, passkeys and HOTP \
         tokens) and you have {max}; remove one first with `mfa-enroll remove`, or re-enroll \
         an existing label"
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mfa_core::Factor;
    use mfa_core::factor::Rejection;
    use mfa_core::factor::totp::Generator;
    use mfa_core::hotp::HotpToken;
    use zeroize::Zeroizing;

    use super::*;
    use crate::config::Config;
    use crate::decisions::{Deciders, Removal, Subject, Verdict};
    use crate::store::TotpFactor;

    const NOW: u64 = 1_800_000_000;

    fn decider(dir: &std::path::Path) -> Decider {
        let config = Config {
            state_dir: dir.to_owned(),
            ..Config::default()
        };
        Deciders::open(config, Arc::new(crate::clock::SystemClock))
            .unwrap()
            .0
            .root
    }

    fn account(name: &str) -> Subject {
        Subject::Account(crate::username::UserName::of_stored(name.to_owned()).unwrap())
    }

    fn check(d: &Decider, user: &str, code: &str) -> Verdict {
        d.check_answer(&account(user), "h", code, NOW, Some("sshd"), &|| true)
            .unwrap()
    }

    fn refused(verdict: Verdict) -> bool {
        matches!(verdict, Verdict::Rejected { .. })
    }

    /// Enrolls a soft token for `user`, confirmed with its first code (counter 0); the
    /// token as the user's app holds it.
    fn enroll(d: &Decider, user: &str) -> HotpToken {
        let (pending, uri) = d.begin_hotp(user, "hotp", 6).unwrap();
        assert!(uri.starts_with("otpauth://hotp/") && uri.ends_with("&counter=0"));
        let app = pending.token.clone();
        assert!(d.activate_hotp(user, &pending, "12345").unwrap().is_none());
        let done = d.activate_hotp(user, &pending, &app.code_at(0)).unwrap();
        assert!(matches!(done, Some(Activation::Done(codes)) if codes.len() == 10));
        app
    }

    fn counter(d: &Decider, user: &str) -> u64 {
        d.record(&account(user)).unwrap().hotp[0].counter
    }

    #[test]
    fn codes_are_accepted_in_the_window_once_and_move_the_counter() {
        let dir = tempfile::tempdir().unwrap();
        let d = decider(dir.path());
        let app = enroll(&d, "alice");
        assert_eq!(counter(&d, "alice"), 1, "the confirmation code is used");
        assert!(refused(check(&d, "alice", &app.code_at(0))));
        assert_eq!(
            check(&d, "alice", &app.code_at(1)),
            Verdict::Accepted(Factor::Hotp)
        );
        assert!(refused(check(&d, "alice", &app.code_at(1))), "a replay");
        // Five ahead: accepted, and the codes skipped die with it.
        assert_eq!(
            check(&d, "alice", &app.code_at(6)),
            Verdict::Accepted(Factor::Hotp)
        );
        assert_eq!(counter(&d, "alice"), 7);
        for skipped in 2..6 {
            assert!(refused(check(&d, "alice", &app.code_at(skipped))));
        }
        // hotp.window (10) counters from 7: 16 is the last, 17 is beyond.
        assert!(refused(check(&d, "alice", &app.code_at(17))));
        assert_eq!(counter(&d, "alice"), 7, "a refusal moves nothing");
        let record = d.record(&account("alice")).unwrap();
        assert_eq!(record.last_success.unwrap().factor, "hotp");
        assert_eq!(record.hotp[0].last_used, Some(NOW));
    }

    #[test]
    fn a_code_an_app_shows_is_the_apps_and_never_counts_twice() {
        let dir = tempfile::tempdir().unwrap();
        let d = decider(dir.path());
        let app = enroll(&d, "bob");
        // An authenticator app with the token's secret: its code at step s is the token's
        // code at counter s, and the token's counter is placed just before s.
        let params = crate::decisions::config_params(&d.config());
        let generator = Generator::new(params, &app.secret);
        let step = generator.step_at(NOW);
        d.store()
            .update("bob", |r| {
                r.hotp[0].counter = step - 2;
                r.totp.push(TotpFactor {
                    label: "app".to_owned(),
                    params,
                    secret: app.secret.clone(),
                    enrolled_at: NOW,
                    last_step: 0,
                    skew: None,
                });
            })
            .unwrap();
        let code = generator.code_for_step(step);
        assert_eq!(check(&d, "bob", &code), Verdict::Accepted(Factor::Totp));
        assert_eq!(counter(&d, "bob"), step - 2, "the token did not move");
        assert!(
            matches!(
                check(&d, "bob", &code),
                Verdict::Rejected {
                    reason: Rejection::Replayed,
                    ..
                }
            ),
            "the app's replay is not the token's fresh code"
        );
        assert_eq!(counter(&d, "bob"), step - 2);
    }

    #[test]
    fn racing_logins_with_one_code_give_one_success_and_a_gone_client_consumes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let d = decider(dir.path());
        let app = enroll(&d, "carol");
        let code = app.code_at(1);
        let gone = d
            .check_answer(&account("carol"), "h", &code, NOW, None, &|| false)
            .unwrap();
        assert_eq!(gone, Verdict::Abandoned(Factor::Hotp));
        assert_eq!(counter(&d, "carol"), 1);
        let verdicts: Vec<Verdict> = std::thread::scope(|s| {
            let racers: Vec<_> = (0..8)
                .map(|_| s.spawn(|| check(&d, "carol", &code)))
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let won = verdicts
            .iter()
            .filter(|v| **v == Verdict::Accepted(Factor::Hotp));
        assert_eq!(won.count(), 1, "{verdicts:?}");
        assert_eq!(counter(&d, "carol"), 2);
    }

    #[test]
    fn resync_finds_the_counter_and_says_why_not() {
        let dir = tempfile::tempdir().unwrap();
        let d = decider(dir.path());
        assert_eq!(
            d.resync_hotp("dave", None, "1", "2").unwrap(),
            Resync::NoToken
        );
        let app = enroll(&d, "dave");
        let (c1, c2) = (app.code_at(40), app.code_at(41));
        assert!(refused(check(&d, "dave", &c1)), "beyond the login window");
        assert_eq!(
            d.resync_hotp("dave", Some("other"), &c1, &c2).unwrap(),
            Resync::NoSuchLabel(vec!["hotp".to_owned()])
        );
        assert_eq!(
            d.resync_hotp("dave", None, &c2, &c1).unwrap(),
            Resync::Refused(ResyncError::NotFound)
        );
        assert_eq!(
            d.resync_hotp("dave", None, "12345", &c2).unwrap(),
            Resync::Refused(ResyncError::Malformed { which: 1 })
        );
        assert_eq!(
            d.resync_hotp("dave", None, &c1, &c2).unwrap(),
            Resync::Done {
                label: "hotp".to_owned(),
                counter: 42
            }
        );
        assert!(refused(check(&d, "dave", &c2)), "both codes count as used");
        assert_eq!(
            check(&d, "dave", &app.code_at(42)),
            Verdict::Accepted(Factor::Hotp)
        );
        // A second token: the label is needed.
        let (pending, _) = d.begin_hotp("dave", "spare", 8).unwrap();
        let first: Zeroizing<String> = pending.token.code_at(0);
        assert!(d.activate_hotp("dave", &pending, &first).unwrap().is_some());
        assert_eq!(
            d.resync_hotp("dave", None, &c1, &c2).unwrap(),
            Resync::LabelNeeded(vec!["hotp".to_owned(), "spare".to_owned()])
        );
    }

    #[test]
    fn removal_and_reset_take_tokens_away() {
        let dir = tempfile::tempdir().unwrap();
        let d = decider(dir.path());
        let app = enroll(&d, "erin");
        assert_eq!(
            d.remove_hotp("erin", "nope", None).unwrap(),
            Removal::NotFound
        );
        assert_eq!(
            d.remove_hotp("erin", "hotp", Some(1)).unwrap(),
            Removal::BelowMinimum(1)
        );
        assert!(d.remove_factors("erin").unwrap().is_some());
        assert!(d.record(&account("erin")).unwrap().hotp.is_empty());
        assert!(refused(check(&d, "erin", &app.code_at(1))));
        let _ = enroll(&d, "erin");
        assert_eq!(
            d.remove_hotp("erin", "hotp", None).unwrap(),
            Removal::Removed(())
        );
    }
}
