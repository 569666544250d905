//! The decisions: is this answer a valid, unused code for this user from this source, and
//! the state changes that go with it. Synchronous (it does file I/O and argon2); the server
//! runs it on blocking threads.

use std::time::{SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use crate::config::Config;
use crate::limits::FailureEffect;
use crate::recovery::{self, RecoveryError};
use crate::store::{Store, StoreError, TotpFactor, UserRecord};
use crate::totp::{self, Generator, Secret, TotpParams};
use crate::username;

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Which factor verified a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    /// The authenticator app.
    Totp,
    /// A recovery code; `left` remain.
    RecoveryCode {
        /// Unused codes left after this one.
        left: usize,
    },
}

impl Factor {
    /// Name in audit events.
    pub fn name(self) -> &'static str {
        match self {
            Factor::Totp => "totp",
            Factor::RecoveryCode { .. } => "recovery_code",
        }
    }
}

/// Why an answer was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Not a valid code (also: unknown or unenrolled user).
    Invalid,
    /// A valid code that was already used.
    Replayed,
    /// A TOTP code while the account-wide lock is on (only recovery codes count then).
    AccountLocked,
}

impl Rejection {
    /// Name in audit events.
    pub fn name(self) -> &'static str {
        match self {
            Rejection::Invalid => "invalid_code",
            Rejection::Replayed => "replayed_code",
            Rejection::AccountLocked => "account_locked",
        }
    }
}

/// The result of checking one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted; the code is already recorded as used.
    Accepted(Factor),
    /// Refused and counted; `locked_until` is set when this failure locked the source.
    Rejected {
        /// Why.
        reason: Rejection,
        /// When the lockout this failure started ends.
        locked_until: Option<u64>,
    },
    /// The source is locked out: the answer was not even looked at.
    SourceLocked {
        /// When the lockout ends.
        until: u64,
    },
}

/// Anything that stops a decision from being made; the caller fails closed.
#[derive(Debug)]
pub enum AuthorityError {
    /// Storage failed.
    Store(StoreError),
    /// Random numbers or hashing failed.
    Recovery(RecoveryError),
}

impl std::fmt::Display for AuthorityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthorityError::Store(e) => write!(f, "{e}"),
            AuthorityError::Recovery(e) => write!(f, "{e}"),
        }
    }
}

impl From<StoreError> for AuthorityError {
    fn from(e: StoreError) -> Self {
        AuthorityError::Store(e)
    }
}

impl From<RecoveryError> for AuthorityError {
    fn from(e: RecoveryError) -> Self {
        AuthorityError::Recovery(e)
    }
}

/// A secret handed out for enrollment, not yet active.
#[derive(Debug)]
pub struct PendingTotp {
    /// Parameters from the config at the time.
    pub params: TotpParams,
    /// The new secret.
    pub secret: Secret,
}

/// Policy, store and the decisions made with them.
#[derive(Debug)]
pub struct Authority {
    config: Config,
    store: Store,
    hostname: String,
    /// A hash of nothing, checked in place of missing recovery codes so that every
    /// recovery-code check costs the same.
    decoy_hash: String,
}

impl Authority {
    /// Opens the store named by `config`.
    pub fn open(config: Config) -> Result<Authority, AuthorityError> {
        let store = Store::open(&config.state_dir)?;
        let hostname = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".to_owned());
        let decoy_hash = recovery::hash("decoy-not-a-code")?;
        Ok(Authority {
            config,
            store,
            hostname,
            decoy_hash,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The user's record; a fresh one for users never seen and for names that are not
    /// valid account names (those never reach the store).
    pub fn record(&self, user: &str) -> Result<UserRecord, StoreError> {
        if !username::is_valid(user) {
            return Ok(UserRecord::default());
        }
        Ok(self.store.load(user)?.unwrap_or_default())
    }

    /// Checks `answer` (a TOTP code or a recovery code) for `user` from `source`, records
    /// the outcome durably, and only then returns it.
    pub fn check_answer(
        &self,
        user: &str,
        source: &str,
        answer: &str,
        now: u64,
    ) -> Result<Verdict, AuthorityError> {
        if !username::is_valid(user) {
            // Nothing to count against: such a name can never log in.
            return Ok(Verdict::Rejected {
                reason: Rejection::Invalid,
                locked_until: None,
            });
        }
        // A TOTP code or garbage is decided in one locked read-modify-write (checking the
        // lockout first); only a recovery code needs a snapshot, for argon2 outside the lock.
        let Some(canonical) = recovery::normalize(answer) else {
            return Ok(self.store.update(user, |record| {
                if let Some(until) = record.limits.source_locked(source, now) {
                    return Verdict::SourceLocked { until };
                }
                let digits = record
                    .totp
                    .as_ref()
                    .map_or(self.config.totp.digits, |t| t.params.digits);
                if totp::looks_like_code(answer, digits) {
                    self.check_totp(record, source, answer, now)
                } else {
                    reject(record, source, Rejection::Invalid, now, self)
                }
            })?);
        };
        let snapshot = self.record(user)?;
        if let Some(until) = snapshot.limits.source_locked(source, now) {
            return Ok(Verdict::SourceLocked { until });
        }
        // argon2 runs outside the lock, on a snapshot; under the lock the matched hash must
        // still be there, so two logins racing with one code cannot both win.
        let matched = recovery::find_match(&canonical, &snapshot.recovery_codes, &self.decoy_hash)
            .map(str::to_owned);
        Ok(self.store.update(user, |record| {
            if let Some(until) = record.limits.source_locked(source, now) {
                return Verdict::SourceLocked { until };
            }
            match &matched {
                Some(hash) => {
                    let before = record.recovery_codes.len();
                    record.recovery_codes.retain(|h| h != hash);
                    if record.recovery_codes.len() < before {
                        record.limits.record_success(source, now);
                        Verdict::Accepted(Factor::RecoveryCode {
                            left: record.recovery_codes.len(),
                        })
                    } else {
                        reject(record, source, Rejection::Replayed, now, self)
                    }
                }
                None => reject(record, source, Rejection::Invalid, now, self),
            }
        })?)
    }

    fn check_totp(&self, record: &mut UserRecord, source: &str, code: &str, now: u64) -> Verdict {
        if record.limits.account_locked(now).is_some() {
            return reject(record, source, Rejection::AccountLocked, now, self);
        }
        let Some(factor) = record.totp.as_mut() else {
            return reject(record, source, Rejection::Invalid, now, self);
        };
        let generator = Generator::new(factor.params, &factor.secret);
        match generator.matching_step(code, now, self.config.totp.skew) {
            Some(step) if step > factor.last_step => {
                factor.last_step = step;
                record.limits.record_success(source, now);
                Verdict::Accepted(Factor::Totp)
            }
            Some(_) => reject(record, source, Rejection::Replayed, now, self),
            None => reject(record, source, Rejection::Invalid, now, self),
        }
    }

    /// A new secret for `user` with the configured parameters, and the `otpauth://` URI the
    /// app scans (it contains the secret); nothing is stored yet.
    pub fn begin_totp(
        &self,
        user: &str,
    ) -> Result<(PendingTotp, Zeroizing<String>), AuthorityError> {
        let params = TotpParams {
            algorithm: self.config.totp.algorithm,
            digits: self.config.totp.digits,
            period: self.config.totp.period,
        };
        let secret = Secret::generate(params.algorithm)
            .map_err(|e| AuthorityError::Recovery(RecoveryError::Random(e)))?;
        let account = format!("{user}@{}", self.hostname);
        let uri = totp::otpauth_uri(&self.config.issuer, &account, params, &secret);
        Ok((PendingTotp { params, secret }, uri))
    }

    /// The step `code` shows for a pending secret, if it is a current code.
    pub fn pending_code_step(&self, pending: &PendingTotp, code: &str, now: u64) -> Option<u64> {
        if !totp::looks_like_code(code, pending.params.digits) {
            return None;
        }
        Generator::new(pending.params, &pending.secret).matching_step(
            code,
            now,
            self.config.totp.skew,
        )
    }

    /// Makes `pending` the user's authenticator (the confirmation `step` counts as used)
    /// and replaces the recovery codes; returns the new codes in plain text.
    pub fn activate_totp(
        &self,
        user: &str,
        pending: &PendingTotp,
        step: u64,
        now: u64,
    ) -> Result<Vec<Zeroizing<String>>, AuthorityError> {
        let (codes, hashes) = new_recovery_set()?;
        self.store.update(user, |record| {
            record.totp = Some(TotpFactor {
                params: pending.params,
                secret: pending.secret.clone(),
                enrolled_at: now,
                last_step: step,
            });
            record.recovery_codes = hashes;
        })?;
        Ok(codes)
    }

    /// Replaces the user's recovery codes; `None` if the user has nothing enrolled.
    pub fn replace_recovery_codes(
        &self,
        user: &str,
    ) -> Result<Option<Vec<Zeroizing<String>>>, AuthorityError> {
        let (codes, hashes) = new_recovery_set()?;
        let replaced = self.store.update(user, |record| {
            if record.is_enrolled() {
                record.recovery_codes = hashes;
                true
            } else {
                false
            }
        })?;
        Ok(replaced.then_some(codes))
    }

    /// Removes every factor (counters are kept); false if there was nothing to remove.
    pub fn remove_factors(&self, user: &str) -> Result<bool, AuthorityError> {
        Ok(self.store.update(user, |record| {
            let had = record.is_enrolled();
            record.totp = None;
            record.recovery_codes.clear();
            had
        })?)
    }

    /// Clears every failure counter and lockout of the user.
    pub fn unlock(&self, user: &str) -> Result<(), AuthorityError> {
        Ok(self.store.update(user, |record| {
            record.limits = Default::default();
        })?)
    }
}

fn reject(
    record: &mut UserRecord,
    source: &str,
    reason: Rejection,
    now: u64,
    authority: &Authority,
) -> Verdict {
    let locked_until = match record
        .limits
        .record_failure(source, now, &authority.config.limits)
    {
        FailureEffect::SourceLocked(until) => Some(until),
        FailureEffect::Counted => None,
    };
    Verdict::Rejected {
        reason,
        locked_until,
    }
}

fn new_recovery_set() -> Result<(Vec<Zeroizing<String>>, Vec<String>), AuthorityError> {
    let codes = recovery::generate_set()?;
    let hashes = codes
        .iter()
        .map(|c| recovery::hash(c))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((codes, hashes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::totp::Algorithm;
    use std::sync::Arc;

    fn authority(dir: &std::path::Path) -> Authority {
        let config = Config {
            state_dir: dir.to_owned(),
            ..Config::default()
        };
        Authority::open(config).unwrap()
    }

    /// Enrolls `user` with a known secret, confirmed with the code of step `now/30 - 1`.
    fn enroll(a: &Authority, user: &str, now: u64) -> (Generator, Vec<Zeroizing<String>>) {
        let (pending, _) = a.begin_totp(user).unwrap();
        let generator = Generator::new(pending.params, &pending.secret);
        let step = generator.step_at(now) - 1;
        let code = generator.code_for_step(step);
        assert_eq!(a.pending_code_step(&pending, &code, now), Some(step));
        let codes = a.activate_totp(user, &pending, step, now).unwrap();
        (generator, codes)
    }

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn a_code_is_accepted_once_and_only_later_steps_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = authority(dir.path());
        let (g, _) = enroll(&a, "alice", NOW);
        let step = g.step_at(NOW);
        // The enrollment code (step - 1) is already used.
        let enroll_code = g.code_for_step(step - 1);
        assert!(matches!(
            a.check_answer("alice", "h", &enroll_code, NOW).unwrap(),
            Verdict::Rejected {
                reason: Rejection::Replayed,
                ..
            }
        ));
        let code = g.code_for_step(step);
        assert_eq!(
            a.check_answer("alice", "h", &code, NOW).unwrap(),
            Verdict::Accepted(Factor::Totp)
        );
        assert!(matches!(
            a.check_answer("alice", "h", &code, NOW).unwrap(),
            Verdict::Rejected {
                reason: Rejection::Replayed,
                ..
            }
        ));
        let next = g.code_for_step(step + 1);
        assert_eq!(
            a.check_answer("alice", "h", &next, NOW).unwrap(),
            Verdict::Accepted(Factor::Totp)
        );
    }

    #[test]
    fn used_step_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let code;
        {
            let a = authority(dir.path());
            let (g, _) = enroll(&a, "alice", NOW);
            code = g.code_for_step(g.step_at(NOW));
            assert_eq!(
                a.check_answer("alice", "h", &code, NOW).unwrap(),
                Verdict::Accepted(Factor::Totp)
            );
        }
        let a = authority(dir.path());
        assert!(matches!(
            a.check_answer("alice", "h", &code, NOW).unwrap(),
            Verdict::Rejected {
                reason: Rejection::Replayed,
                ..
            }
        ));
    }

    #[test]
    fn thirty_concurrent_uses_of_one_code_give_one_success() {
        let dir = tempfile::tempdir().unwrap();
        let a = Arc::new(authority(dir.path()));
        let (g, _) = enroll(&a, "alice", NOW);
        let code = g.code_for_step(g.step_at(NOW)).to_string();
        let threads: Vec<_> = (0..30)
            .map(|i| {
                let a = a.clone();
                let code = code.clone();
                // Distinct sources, so that no lockout hides a double acceptance.
                std::thread::spawn(move || {
                    a.check_answer("alice", &format!("h{i}"), &code, NOW)
                        .unwrap()
                })
            })
            .collect();
        let verdicts: Vec<Verdict> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let successes = verdicts
            .iter()
            .filter(|v| matches!(v, Verdict::Accepted(_)))
            .count();
        // 30 failures also trip the account-wide limit (20): the rest are refused for that.
        let rejections = verdicts
            .iter()
            .filter(|v| matches!(v, Verdict::Rejected { .. }))
            .count();
        assert_eq!((successes, rejections), (1, 29));
    }

    #[test]
    fn recovery_code_works_once_in_any_typing() {
        let dir = tempfile::tempdir().unwrap();
        let a = authority(dir.path());
        let (_, codes) = enroll(&a, "alice", NOW);
        let typed = codes[3].to_uppercase().replace('-', " ");
        assert_eq!(
            a.check_answer("alice", "h", &typed, NOW).unwrap(),
            Verdict::Accepted(Factor::RecoveryCode { left: 9 })
        );
        assert!(matches!(
            a.check_answer("alice", "h", &codes[3], NOW).unwrap(),
            Verdict::Rejected {
                reason: Rejection::Invalid,
                ..
            }
        ));
        let record = a.record("alice").unwrap();
        assert_eq!(record.recovery_codes.len(), 9);
        let on_disk = std::fs::read_to_string(dir.path().join("users/alice.json")).unwrap();
        for code in &codes {
            assert!(!on_disk.contains(code.as_str()));
        }
    }

    #[test]
    fn lockout_refuses_without_checking_and_spares_other_sources() {
        let dir = tempfile::tempdir().unwrap();
        let a = authority(dir.path());
        let (g, _) = enroll(&a, "alice", NOW);
        let mut last = None;
        for _ in 0..5 {
            last = Some(a.check_answer("alice", "attacker", "000000", NOW).unwrap());
        }
        let Some(Verdict::Rejected {
            locked_until: Some(until),
            ..
        }) = last
        else {
            panic!("5th failure did not lock: {last:?}")
        };
        assert_eq!(until, NOW + 60);
        let good = g.code_for_step(g.step_at(NOW));
        assert_eq!(
            a.check_answer("alice", "attacker", &good, NOW).unwrap(),
            Verdict::SourceLocked { until }
        );
        assert_eq!(
            a.check_answer("alice", "office", &good, NOW).unwrap(),
            Verdict::Accepted(Factor::Totp)
        );
        // Lockout state survives a restart.
        drop(a);
        let a = authority(dir.path());
        assert!(matches!(
            a.check_answer("alice", "attacker", "123456", NOW + 1)
                .unwrap(),
            Verdict::SourceLocked { .. }
        ));
    }

    #[test]
    fn account_lock_still_accepts_recovery_codes() {
        let dir = tempfile::tempdir().unwrap();
        let a = authority(dir.path());
        let (g, codes) = enroll(&a, "alice", NOW);
        for i in 0..20 {
            a.check_answer("alice", &format!("botnet{i}"), "000000", NOW)
                .unwrap();
        }
        assert!(
            a.record("alice")
                .unwrap()
                .limits
                .account_locked(NOW)
                .is_some()
        );
        let good = g.code_for_step(g.step_at(NOW));
        assert!(matches!(
            a.check_answer("alice", "home", &good, NOW).unwrap(),
            Verdict::Rejected {
                reason: Rejection::AccountLocked,
                ..
            }
        ));
        assert!(matches!(
            a.check_answer("alice", "home", &codes[0], NOW).unwrap(),
            Verdict::Accepted(Factor::RecoveryCode { .. })
        ));
    }

    #[test]
    fn unknown_and_unenrolled_users_are_rejected_like_wrong_codes() {
        let dir = tempfile::tempdir().unwrap();
        let a = authority(dir.path());
        for user in ["nobody-here", "../etc/passwd"] {
            assert!(matches!(
                a.check_answer(user, "h", "123456", NOW).unwrap(),
                Verdict::Rejected {
                    reason: Rejection::Invalid,
                    ..
                }
            ));
        }
        assert!(!dir.path().join("etc").exists());
    }

    #[test]
    fn unwritable_state_fails_closed() {
        let dir = tempfile::tempdir().unwrap();
        let a = authority(dir.path());
        let (g, _) = enroll(&a, "alice", NOW);
        let code = g.code_for_step(g.step_at(NOW));
        // Replace the users directory with a file: every write now fails.
        let users = dir.path().join("users");
        std::fs::rename(&users, dir.path().join("users.bak")).unwrap();
        std::fs::write(&users, "").unwrap();
        assert!(a.check_answer("alice", "h", &code, NOW).is_err());
        std::fs::remove_file(&users).unwrap();
        std::fs::rename(dir.path().join("users.bak"), &users).unwrap();
        assert_eq!(
            a.check_answer("alice", "h", &code, NOW).unwrap(),
            Verdict::Accepted(Factor::Totp)
        );
    }

    #[test]
    fn replaced_enrollment_and_removal() {
        let dir = tempfile::tempdir().unwrap();
        let a = authority(dir.path());
        let (_, old_codes) = enroll(&a, "alice", NOW);
        let new_codes = a.replace_recovery_codes("alice").unwrap().unwrap();
        assert!(matches!(
            a.check_answer("alice", "h", &old_codes[0], NOW).unwrap(),
            Verdict::Rejected { .. }
        ));
        assert!(matches!(
            a.check_answer("alice", "h", &new_codes[0], NOW).unwrap(),
            Verdict::Accepted(_)
        ));
        assert!(a.remove_factors("alice").unwrap());
        assert!(!a.record("alice").unwrap().is_enrolled());
        assert!(a.replace_recovery_codes("alice").unwrap().is_none());
        let _ = Algorithm::Sha1;
    }
}
