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
    /// What the app scans.
    pub uri: String,
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
        let snapshot = self.record(user)?;
        if let Some(until) = snapshot.limits.source_locked(source, now) {
            return Ok(Verdict::SourceLocked { until });
        }
        let digits = snapshot
            .totp
            .as_ref()
            .map_or(self.config.totp.digits, |t| t.params.digits);
        if totp::looks_like_code(answer, digits) {
            return Ok(self
                .store
                .update(user, |record| self.check_totp(record, source, answer, now))?);
        }
        let Some(canonical) = recovery::normalize(answer) else {
            return Ok(self.store.update(user, |record| {
                reject(record, source, Rejection::Invalid, now, self)
            })?);
        };
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
        if let Some(until) = record.limits.source_locked(source, now) {
            return Verdict::SourceLocked { until };
        }
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

    /// A new secret for `user` with the configured parameters; nothing is stored yet.
    pub fn begin_totp(&self, user: &str) -> Result<PendingTotp, AuthorityError> {
        let params = TotpParams {
            algorithm: self.config.totp.algorithm,
            digits: self.config.totp.digits,
            period: self.config.totp.period,
        };
        let secret = Secret::generate(params.algorithm)
            .map_err(|e| AuthorityError::Recovery(RecoveryError::Random(e)))?;
        let account = format!("{user}@{}", self.hostname);
        let uri = totp::otpauth_uri(&self.config.issuer, &account, params, &secret);
        Ok(PendingTotp {
            params,
            secret,
            uri,
        })
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
