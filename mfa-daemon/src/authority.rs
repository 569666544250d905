//! The decisions: is this answer a valid, unused code for this user from this source, and
//! the state changes that go with it. Synchronous (it does file I/O and argon2); the server
//! runs it on blocking threads.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

pub use mfa_core::Factor;
use mfa_core::contact::{self, Contact, ContactError};
use mfa_core::device::{self, DeviceId};
pub use mfa_core::factor::{Decision, Rejection};
use mfa_core::policy::Policy;
use mfa_proto::ContactKind;

use crate::config::Config;
use crate::config::Engine;
use crate::delivery::outbox::SendLedger;
use crate::error::DaemonError;
use crate::store::attempt_limiter::AttemptLimiter;
use crate::store::files::FileStore;
use crate::store::postgres::{Pg, PgLimits, PgSendLedger, PgStore};
use crate::store::send_ledger::FileSendLedger;
use crate::store::{Limits, RecordStore, StoreError, TotpFactor, UserRecord};
use mfa_core::factor::bypass;
use mfa_core::factor::recovery::{self, RecoveryCode, RecoveryError};
use mfa_core::factor::totp::{self, Generator, Secret, TotpParams};
use mfa_core::lockout::FailureEffect;
use mfa_core::record::{self, LastSuccess};

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whom an answer is checked for: an account NSS knows, by its canonical name, or a name it
/// does not know (which can never succeed, but is counted and timed like any other).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// An account, by its canonical `pw_name`.
    Account(String),
    /// A name NSS does not know, as given.
    Unknown(String),
}

impl Subject {
    /// The key attempt limits are counted under.
    pub fn key(&self) -> &str {
        match self {
            Subject::Account(name) | Subject::Unknown(name) => name,
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
    /// The answer was right, but the client had gone before it could be told: nothing was
    /// consumed (the code still works) and nothing was counted.
    Abandoned(Factor),
}

/// The lockouts in force for one name and source, and when each ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Locks {
    /// The source's lockout.
    pub source: Option<u64>,
    /// The account-wide lock (only recovery and bypass codes work).
    pub account: Option<u64>,
}

/// A secret handed out for enrollment, not yet active.
#[derive(Debug)]
pub struct PendingTotp {
    /// The app's label.
    pub label: String,
    /// Parameters from the config at the time.
    pub params: TotpParams,
    /// The new secret.
    pub secret: Secret,
    /// The record's revision when the enrollment began: activation refuses if the factors
    /// changed meanwhile.
    pub revision: u64,
}

/// How an activation ended.
#[derive(Debug)]
pub enum Activation {
    /// The new authenticator is active; the new recovery codes in plain text, or none when
    /// the user's unused codes were kept (an app added beside others).
    Done(Vec<Zeroizing<String>>),
    /// The user's factors changed since the enrollment began; nothing was changed.
    Conflict,
}

/// What came of trusting a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceTrust {
    /// The device is trusted.
    Trusted,
    /// The factors changed since the login's code was checked; nothing was written.
    FactorsChanged,
}

/// Policy, store and the decisions made with them.
#[derive(Debug)]
pub struct Authority {
    config: RwLock<Arc<Config>>,
    policy: RwLock<Arc<Policy>>,
    store: Box<dyn RecordStore>,
    limiter: Box<dyn Limits>,
    /// The counts behind the send limits, kept by the engine.
    sends: Arc<dyn SendLedger>,
    hostname: String,
    /// A hash of nothing, checked when no stored recovery code can match, so that every
    /// recovery-code check costs one argon2 run.
    decoy_hash: String,
    /// An authenticator nobody has, checked for users without one, so that a code costs
    /// the same whoever it is for.
    decoy_totp: Generator,
}

/// The record store, the attempt limits and the send counts of one engine.
type Engines = (Box<dyn RecordStore>, Box<dyn Limits>, Arc<dyn SendLedger>);

/// The record store, the attempt limits and the send counts of the engine `[store]` names.
fn open_engine(config: &Config) -> Result<Engines, DaemonError> {
    match config.store.engine {
        Engine::Files => {
            let store = FileStore::open(&config.state_dir)?;
            let (limiter, warning) =
                AttemptLimiter::open(&config.state_dir, config.limits.policy())?;
            let (sends, sends_warning) = FileSendLedger::open(&config.state_dir, unix_now())?;
            for warning in [warning, sends_warning].into_iter().flatten() {
                eprintln!("mfa-daemon: {warning}");
            }
            Ok((Box::new(store), Box::new(limiter), Arc::new(sends)))
        }
        Engine::Postgres => {
            let pg = Pg::open(&config.store, &config.state_dir).map_err(|(key, why)| {
                DaemonError::Internal(format!("config key `{key}`: {why}"))
            })?;
            // Connects once so that a wrong password or an unreachable server shows at
            // start; the daemon serves (failing closed) either way.
            if pg.check().is_ok() {
                eprintln!("mfa-daemon: store: PostgreSQL reachable, schema ready");
            }
            let limiter = PgLimits::new(pg.clone(), config.limits.policy());
            let sends = PgSendLedger::new(pg.clone());
            Ok((
                Box::new(PgStore::new(pg)),
                Box::new(limiter),
                Arc::new(sends),
            ))
        }
    }
}

impl Authority {
    /// Opens the store and the attempt limits named by `config`.
    pub fn open(config: Config) -> Result<Authority, DaemonError> {
        let (store, limiter, sends) = open_engine(&config)?;
        let hostname = crate::accounts::hostname();
        let decoy_hash = recovery::hash("decoy-not-a-code")?.hash;
        let params = config_params(&config);
        let decoy_secret = Secret::generate(params.algorithm)
            .map_err(|e| DaemonError::Recovery(RecoveryError::Random(e)))?;
        Ok(Authority {
            decoy_totp: Generator::new(params, &decoy_secret),
            policy: RwLock::new(Arc::new(config.policy.policy())),
            config: RwLock::new(Arc::new(config)),
            store,
            limiter,
            sends,
            hostname,
            decoy_hash,
        })
    }

    /// Who must use a second factor.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `new` in force for every conversation that starts from now on (SIGHUP). The
    /// socket and the state directory cannot change under a running daemon: a config that
    /// changes them is refused, and the running one kept.
    pub fn reload(&self, new: Config) -> Result<(), String> {
        let old = self.config();
        for (key, changed) in [
            ("socket", old.socket != new.socket),
            ("state_dir", old.state_dir != new.state_dir),
            ("store", old.store != new.store),
        ] {
            if changed {
                return Err(format!("`{key}` changed: that needs a restart"));
            }
        }
        self.limiter.set_policy(new.limits.policy());
        *self.policy.write().unwrap_or_else(PoisonError::into_inner) =
            Arc::new(new.policy.policy());
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(new);
        Ok(())
    }

    /// The attempt limits of every name.
    pub fn limiter(&self) -> &dyn Limits {
        self.limiter.as_ref()
    }

    /// The counts behind the send limits (the outbox asks them before every send).
    pub fn send_ledger(&self) -> Arc<dyn SendLedger> {
        self.sends.clone()
    }

    /// The record engine.
    pub fn store(&self) -> &dyn RecordStore {
        self.store.as_ref()
    }

    /// Whether `source` is locked out for `key`, and whether the account-wide lock is on:
    /// when each ends.
    pub fn locks(&self, key: &str, source: &str, now: u64) -> Result<Locks, StoreError> {
        let (source, account) = self.limiter.locks(key, source, now)?;
        Ok(Locks { source, account })
    }

    /// The record of `subject`; an empty one for accounts never enrolled and for unknown
    /// names (those never reach the store).
    pub fn record(&self, subject: &Subject) -> Result<UserRecord, StoreError> {
        match subject {
            Subject::Account(name) => Ok(self.store.load(name)?.unwrap_or_default()),
            Subject::Unknown(_) => Ok(UserRecord::default()),
        }
    }

    /// Checks `answer` (a TOTP code or a recovery code) for `subject` from `source`,
    /// records the outcome, and only then returns it. A code is consumed only if
    /// `still_wanted()` says, right before the durable write, that the client is still there
    /// to be told; otherwise the verdict is [`Verdict::Abandoned`] and nothing changes.
    ///
    /// With `login` (the PAM service, for a login rather than a proof for `mfa-enroll`), a
    /// success is also kept as the user's last, in the same write.
    pub fn check_answer(
        &self,
        subject: &Subject,
        source: &str,
        answer: &str,
        now: u64,
        login: Option<&str>,
        still_wanted: &dyn Fn() -> bool,
    ) -> Result<Verdict, DaemonError> {
        let key = subject.key();
        let locks = self.locks(key, source, now)?;
        if let Some(until) = locks.source {
            return Ok(Verdict::SourceLocked { until });
        }
        let success = |factor: Factor| {
            login.map(|service| LastSuccess {
                at: now,
                source: source.to_owned(),
                service: service.to_owned(),
                factor: factor.name().to_owned(),
            })
        };
        let decision = if let Some(canonical) = recovery::normalize(answer) {
            self.check_recovery_code(subject, &canonical, &success, still_wanted)?
        } else if let Some(canonical) = bypass::normalize(answer) {
            self.check_bypass_code(subject, &canonical, now, &success, still_wanted)?
        } else {
            self.check_totp(subject, answer, now, locks, &success, still_wanted)?
        };
        match decision {
            Decision::Accept(factor) => {
                self.limiter.record_success(key, source, now)?;
                Ok(Verdict::Accepted(factor))
            }
            Decision::Abandon(factor) => Ok(Verdict::Abandoned(factor)),
            Decision::Refuse(reason) => self.reject(key, source, reason, now),
        }
    }

    /// A TOTP answer decided in one locked read-modify-write.
    fn check_totp(
        &self,
        subject: &Subject,
        code: &str,
        now: u64,
        locks: Locks,
        success: &dyn Fn(Factor) -> Option<LastSuccess>,
        still_wanted: &dyn Fn() -> bool,
    ) -> Result<Decision, DaemonError> {
        let skew = self.config().totp.skew;
        let Subject::Account(name) = subject else {
            self.decoy_totp.matching_step(code, now, skew);
            return Ok(Decision::Refuse(Rejection::Invalid));
        };
        if locks.account.is_some() {
            return Ok(Decision::Refuse(Rejection::AccountLocked));
        }
        Ok(self.store.update(name, |record| {
            if record.totp.is_empty() {
                self.decoy_totp.matching_step(code, now, skew);
                return Decision::Refuse(Rejection::Invalid);
            }
            let decision = record.verify_totp(code, now, skew, still_wanted);
            keep_success(record, decision, success);
            decision
        })?)
    }

    /// A bypass-code answer: one argon2 run outside the lock on a snapshot (a decoy when
    /// there is no live code); under the lock the code must still be live, so N logins racing
    /// with a one-use code give one success.
    fn check_bypass_code(
        &self,
        subject: &Subject,
        canonical: &str,
        now: u64,
        success: &dyn Fn(Factor) -> Option<LastSuccess>,
        still_wanted: &dyn Fn() -> bool,
    ) -> Result<Decision, DaemonError> {
        let snapshot = self.record(subject)?;
        let grant = snapshot.bypass.as_ref();
        let matched = bypass::matches(canonical, grant, &self.decoy_hash, now);
        let (Subject::Account(name), true, Some(grant)) = (subject, matched, grant) else {
            return Ok(Decision::Refuse(Rejection::Invalid));
        };
        Ok(self.store.update(name, |record| {
            let decision = bypass::consume(&mut record.bypass, &grant.hash, now, still_wanted);
            keep_success(record, decision, success);
            decision
        })?)
    }

    /// A recovery-code answer: one argon2 run outside the lock on a snapshot; under the
    /// lock the matched code must still be there, so two logins racing with one code cannot
    /// both win.
    fn check_recovery_code(
        &self,
        subject: &Subject,
        canonical: &str,
        success: &dyn Fn(Factor) -> Option<LastSuccess>,
        still_wanted: &dyn Fn() -> bool,
    ) -> Result<Decision, DaemonError> {
        let snapshot = self.record(subject)?;
        let matched = recovery::find_match(canonical, &snapshot.recovery_codes, &self.decoy_hash)
            .map(str::to_owned);
        let (Subject::Account(name), Some(hash)) = (subject, matched) else {
            return Ok(Decision::Refuse(Rejection::Invalid));
        };
        Ok(self.store.update(name, |record| {
            let decision = recovery::consume(&mut record.recovery_codes, &hash, still_wanted);
            keep_success(record, decision, success);
            decision
        })?)
    }

    /// Keeps a login that passed without a code check here (a sent code, a trusted
    /// device) as the user's last success.
    pub fn note_success(&self, name: &str, last: LastSuccess) -> Result<(), DaemonError> {
        Ok(self
            .store
            .update(name, |record| record.last_success = Some(last.clone()))?)
    }

    /// When `name` first reached the enrollment prompt at login: kept from the first time
    /// (`now` then), so the grace period counts down across logins.
    pub fn first_seen(&self, name: &str, now: u64) -> Result<u64, DaemonError> {
        if let Some(seen) = self.store.load(name)?.and_then(|r| r.first_seen) {
            return Ok(seen);
        }
        Ok(self
            .store
            .update(name, |record| *record.first_seen.get_or_insert(now))?)
    }

    /// A new bypass code for `name` (replacing any earlier one); the code in display form
    /// and when it expires.
    pub fn issue_bypass(
        &self,
        name: &str,
        uses: u8,
        valid_secs: u64,
        now: u64,
        admin: u32,
    ) -> Result<(Zeroizing<String>, u64), DaemonError> {
        let (code, grant) = bypass::issue(uses, valid_secs, now, admin)?;
        let expires_at = grant.expires_at;
        self.store
            .update(name, |record| record.bypass = Some(grant.clone()))?;
        Ok((code, expires_at))
    }

    /// Removes the app labelled `label`; with `min_factors` (a non-root caller) only if at
    /// least that many factors remain.
    pub fn remove_app(
        &self,
        name: &str,
        label: &str,
        min_factors: Option<usize>,
    ) -> Result<Removal<()>, DaemonError> {
        Ok(self.store.update(name, |record| {
            let Some(i) = record.totp.iter().position(|a| a.label == label) else {
                return Removal::NotFound;
            };
            if below_minimum_after_one(record, min_factors) {
                return Removal::BelowMinimum(record.factor_count());
            }
            record.revision += 1;
            record.totp.remove(i);
            Removal::Removed(())
        })?)
    }

    /// Records what checking a sent code decided (the code itself lives in the outbox, in
    /// memory): a success clears the source's counters, a refusal counts like any wrong code.
    pub fn settle_sent_code(
        &self,
        subject: &Subject,
        source: &str,
        decided: Result<Factor, Rejection>,
        now: u64,
    ) -> Result<Verdict, DaemonError> {
        let key = subject.key();
        match decided {
            Ok(factor) => {
                self.limiter.record_success(key, source, now)?;
                Ok(Verdict::Accepted(factor))
            }
            Err(reason) => self.reject(key, source, reason, now),
        }
    }

    fn reject(
        &self,
        key: &str,
        source: &str,
        reason: Rejection,
        now: u64,
    ) -> Result<Verdict, DaemonError> {
        let effect = self.limiter.record_failure(key, source, now)?;
        Ok(Verdict::Rejected {
            reason,
            locked_until: match effect {
                FailureEffect::SourceLocked(until) => Some(until),
                FailureEffect::Counted | FailureEffect::AccountLocked(_) => None,
            },
        })
    }

    /// A new secret for `name` with the configured parameters, and the `otpauth://` URI the
    /// app scans (it contains the secret); nothing is stored yet.
    ///
    /// `label` names the app: an existing one is replaced on activation, a new one is added
    /// if the user has fewer than `policy.max_authenticators`.
    pub fn begin_totp(
        &self,
        name: &str,
        label: &str,
    ) -> Result<(PendingTotp, Zeroizing<String>), DaemonError> {
        if let Some(problem) = record::label_problem(label) {
            return Err(DaemonError::BadRequest(problem));
        }
        let current = self.store.load(name)?.unwrap_or_default();
        let max = self.policy().max_authenticators;
        if current.app(label).is_none() && current.totp.len() >= max {
            return Err(too_many_apps(max));
        }
        let revision = current.revision;
        let params = config_params(&self.config());
        let secret = Secret::generate(params.algorithm)
            .map_err(|e| DaemonError::Recovery(RecoveryError::Random(e)))?;
        let account = format!("{name}@{}", self.hostname);
        let uri = totp::otpauth_uri(&self.config().issuer, &account, params, &secret);
        Ok((
            PendingTotp {
                label: label.to_owned(),
                params,
                secret,
                revision,
            },
            uri,
        ))
    }

    /// The step `code` shows for a pending secret, if it is a current code.
    pub fn pending_code_step(&self, pending: &PendingTotp, code: &str, now: u64) -> Option<u64> {
        if !totp::looks_like_code(code, pending.params.digits) {
            return None;
        }
        Generator::new(pending.params, &pending.secret).matching_step(
            code,
            now,
            self.config().totp.skew,
        )
    }

    /// Makes `pending` one of the user's apps (the confirmation `step` counts as used):
    /// it replaces the app of the same label or is added beside the others. The recovery
    /// codes are replaced when an app was replaced or none are left; otherwise kept. Nothing
    /// changes if the user's factors changed since the enrollment began
    /// ([`Activation::Conflict`]).
    pub fn activate_totp(
        &self,
        name: &str,
        pending: &PendingTotp,
        step: u64,
        now: u64,
    ) -> Result<Activation, DaemonError> {
        let snapshot = self.store.load(name)?.unwrap_or_default();
        let new_codes =
            snapshot.app(&pending.label).is_some() || snapshot.recovery_codes.is_empty();
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
            let app = TotpFactor {
                label: pending.label.clone(),
                params: pending.params,
                secret: pending.secret.clone(),
                enrolled_at: now,
                last_step: step,
            };
            match record.totp.iter().position(|a| a.label == pending.label) {
                Some(i) => record.totp[i] = app,
                None if record.totp.len() >= max => return Err(too_many_apps(max)),
                None => record.totp.push(app),
            }
            record.revision += 1;
            if new_codes {
                record.recovery_codes = hashes.clone();
            }
            Ok(true)
        })??;
        Ok(if activated {
            Activation::Done(codes)
        } else {
            Activation::Conflict
        })
    }

    /// Replaces the user's recovery codes; `None` if the user has nothing enrolled (checked
    /// before any hashing: an unenrolled caller costs no argon2).
    pub fn replace_recovery_codes(
        &self,
        name: &str,
    ) -> Result<Option<Vec<Zeroizing<String>>>, DaemonError> {
        if !self
            .store
            .load(name)?
            .is_some_and(|r| r.is_enrolled(unix_now()))
        {
            return Ok(None);
        }
        let (codes, hashes) = new_recovery_set()?;
        let replaced = self.store.update(name, |record| {
            if record.is_enrolled(unix_now()) {
                record.revision += 1;
                record.recovery_codes = hashes;
                true
            } else {
                false
            }
        })?;
        Ok(replaced.then_some(codes))
    }

    /// Removes every factor; `None` if there was nothing to remove, else the contacts that
    /// were removed (to be told).
    pub fn remove_factors(&self, name: &str) -> Result<Option<Vec<Contact>>, DaemonError> {
        Ok(self.store.update(name, |record| {
            if !record.is_enrolled(unix_now()) {
                return None;
            }
            record.revision += 1;
            record.totp.clear();
            record.recovery_codes.clear();
            record.bypass = None;
            // A user reset to nothing gets a fresh grace period to enroll again.
            record.first_seen = None;
            Some(std::mem::take(&mut record.contacts))
        })?)
    }

    /// Adds `contact` to the user's record, unless the record changed since `revision`
    /// (when given: the revision the confirmation code was sent against), the contact is
    /// already there, or there is no room.
    pub fn add_contact(
        &self,
        name: &str,
        contact: Contact,
        revision: Option<u64>,
    ) -> Result<ContactChange, DaemonError> {
        Ok(self.store.update(name, |record| {
            if revision.is_some_and(|r| r != record.revision) {
                return ContactChange::Conflict;
            }
            if let Err(e) = contact::check_new(&contact.destination, &record.contacts) {
                return ContactChange::Refused(e);
            }
            if record
                .contacts
                .iter()
                .any(|c| c.label.eq_ignore_ascii_case(&contact.label))
            {
                return ContactChange::Refused(ContactError::Duplicate);
            }
            record.revision += 1;
            record.contacts.push(contact.clone());
            ContactChange::Done(contact.clone())
        })?)
    }

    /// Removes the one contact of `kind` that `which` names (label, masked form, or the
    /// number or address); with `min_factors` (a non-root caller) only if at least that many
    /// factors remain.
    pub fn remove_contact(
        &self,
        name: &str,
        kind: ContactKind,
        which: &str,
        min_factors: Option<usize>,
    ) -> Result<ContactRemoval, DaemonError> {
        Ok(self.store.update(name, |record| {
            let matching: Vec<usize> = record
                .contacts
                .iter()
                .enumerate()
                .filter(|(_, c)| c.destination.kind() == kind && c.is_named(which))
                .map(|(i, _)| i)
                .collect();
            match matching.as_slice() {
                [] => ContactRemoval::NotFound,
                [_] if below_minimum_after_one(record, min_factors) => {
                    ContactRemoval::BelowMinimum(record.factor_count())
                }
                [i] => {
                    record.revision += 1;
                    ContactRemoval::Removed(record.contacts.remove(*i))
                }
                more => ContactRemoval::Ambiguous(more.len()),
            }
        })?)
    }

    /// Trusts `device` of `name` for `remember_secs` from `now` (bounded in number and to
    /// 90 days), if the record is still at `revision`: the one the login read before its code
    /// was checked (a change before the check refuses the trust too). Tied to it, so any
    /// later change of factors ends the trust. A change between the check and this write (an
    /// admin reset, a lost app removed) refuses it: trusting at the new revision would let
    /// the device outlive the very change meant to shut it out.
    pub fn trust_device(
        &self,
        name: &str,
        device: DeviceId,
        revision: u64,
        remember_secs: u64,
        now: u64,
    ) -> Result<DeviceTrust, DaemonError> {
        Ok(self.store.update(name, |record| {
            if record.revision != revision {
                return DeviceTrust::FactorsChanged;
            }
            device::trust(&mut record.trusted, device, revision, now, remember_secs);
            DeviceTrust::Trusted
        })?)
    }

    /// Sets or clears `name`'s admin exemption.
    pub fn set_exemption(&self, name: &str, until: Option<u64>) -> Result<(), DaemonError> {
        Ok(self
            .store
            .update(name, |record| record.exempt_until = until)?)
    }

    /// Ends every trust of `name`'s devices; how many there were.
    pub fn forget_devices(&self, name: &str) -> Result<usize, DaemonError> {
        Ok(self
            .store
            .update(name, |record| std::mem::take(&mut record.trusted).len())?)
    }

    /// Clears every failure counter and lockout of the user, durably.
    pub fn unlock(&self, key: &str) -> Result<(), DaemonError> {
        Ok(self.limiter.clear(key)?)
    }

    /// Clears the counters and lockout of one source of the user, durably (the account-wide
    /// counter stays); false if nothing was counted for that source.
    pub fn unlock_source(&self, key: &str, source: &str) -> Result<bool, DaemonError> {
        Ok(self.limiter.clear_source(key, source)?)
    }

    /// Every name with a record or with failures counted, sorted, each once.
    pub fn known_names(&self) -> Result<Vec<String>, DaemonError> {
        let mut names = self.store.users()?;
        names.extend(self.limiter.names()?);
        names.sort();
        names.dedup();
        Ok(names)
    }
}

/// How adding a contact ended.
#[derive(Debug)]
pub enum ContactChange {
    /// Saved.
    Done(Contact),
    /// Already there, or no room.
    Refused(ContactError),
    /// The factors changed since the confirmation code was sent; nothing saved.
    Conflict,
}

/// How removing a contact ended.
#[derive(Debug)]
pub enum ContactRemoval {
    /// Removed; here it is.
    Removed(Contact),
    /// Nothing of that kind has that name.
    NotFound,
    /// The name fits this many (two numbers with one mask): use the label.
    Ambiguous(usize),
    /// It would leave fewer factors than `policy.min_factors`; the user has this many.
    BelowMinimum(usize),
}

/// How removing one factor ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Removal<T> {
    /// Removed.
    Removed(T),
    /// Nothing has that name.
    NotFound,
    /// It would leave fewer factors than `policy.min_factors`; the user has this many.
    BelowMinimum(usize),
}

/// The refusal of an app beyond `policy.max_authenticators`.
fn too_many_apps(max: usize) -> DaemonError {
    DaemonError::Policy(format!(
        "policy.max_authenticators allows {max} authenticator app(s) and you have {max}; \
         remove one first with `mfa-enroll remove totp LABEL`, or re-enroll an existing label"
    ))
}

/// The refusal of a removal below `policy.min_factors`.
pub fn below_minimum(min: usize, have: usize) -> DaemonError {
    DaemonError::Policy(format!(
        "policy.min_factors is {min} and you have {have} factor(s): add another app, phone \
         or email address before removing this one (or ask an administrator)"
    ))
}

/// Whether removing one factor of `record` would leave fewer than `min_factors` (a
/// non-root caller's limit; `None` for root, who may remove anything).
fn below_minimum_after_one(record: &UserRecord, min_factors: Option<usize>) -> bool {
    min_factors.is_some_and(|min| record.factor_count().saturating_sub(1) < min)
}

/// Writes `success()`'s record of an accepted login into `record`.
fn keep_success(
    record: &mut UserRecord,
    decision: Decision,
    success: &dyn Fn(Factor) -> Option<LastSuccess>,
) {
    if let Decision::Accept(factor) = decision
        && let Some(last) = success(factor)
    {
        record.last_success = Some(last);
    }
}

fn config_params(config: &Config) -> TotpParams {
    TotpParams {
        algorithm: config.totp.algorithm,
        digits: config.totp.digits,
        period: config.totp.period,
    }
}

fn new_recovery_set() -> Result<(Vec<Zeroizing<String>>, Vec<RecoveryCode>), DaemonError> {
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
    use mfa_core::factor::totp::Algorithm;
    use std::sync::Arc;

    fn check(a: &Authority, user: &str, source: &str, answer: &str, now: u64) -> Verdict {
        a.check_answer(&account(user), source, answer, now, Some("sshd"), &|| true)
            .unwrap()
    }

    fn account(name: &str) -> Subject {
        Subject::Account(name.to_owned())
    }

    fn authority(dir: &std::path::Path) -> Authority {
        let config = Config {
            state_dir: dir.to_owned(),
            ..Config::default()
        };
        Authority::open(config).unwrap()
    }

    /// Enrolls `user` with a known secret, confirmed with the code of step `now/30 - 1`.
    fn enroll(a: &Authority, user: &str, now: u64) -> (Generator, Vec<Zeroizing<String>>) {
        let (pending, _) = a.begin_totp(user, "app").unwrap();
        let generator = Generator::new(pending.params, &pending.secret);
        let step = generator.step_at(now) - 1;
        let code = generator.code_for_step(step);
        assert_eq!(a.pending_code_step(&pending, &code, now), Some(step));
        let Activation::Done(codes) = a.activate_totp(user, &pending, step, now).unwrap() else {
            panic!("enrollment conflicted")
        };
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
            check(&a, "alice", "h", &enroll_code, NOW),
            Verdict::Rejected {
                reason: Rejection::Replayed,
                ..
            }
        ));
        let code = g.code_for_step(step);
        assert_eq!(
            check(&a, "alice", "h", &code, NOW),
            Verdict::Accepted(Factor::Totp)
        );
        assert!(matches!(
            check(&a, "alice", "h", &code, NOW),
            Verdict::Rejected {
                reason: Rejection::Replayed,
                ..
            }
        ));
        let next = g.code_for_step(step + 1);
        assert_eq!(
            check(&a, "alice", "h", &next, NOW),
            Verdict::Accepted(Factor::Totp)
        );
    }

    #[test]
    fn a_device_is_not_trusted_after_a_change_between_the_check_and_the_trust() {
        let dir = tempfile::tempdir().unwrap();
        let a = authority(dir.path());
        let device = || DeviceId::of_login(None, Some("192.0.2.5"), "sshd").unwrap();
        let trusted_now = |user: &str| {
            let record = a.record(&account(user)).unwrap();
            device::is_trusted(&record.trusted, &device(), record.revision, NOW + 1)
        };
        // What the login does: read the record, check the code, trust the device at the
        // revision it read. Between the check and the trust, another connection changes the
        // factors: an admin reset, or the user removing an app an attacker holds.
        for (i, change) in ["reset", "new recovery codes", "app removed"]
            .into_iter()
            .enumerate()
        {
            let user = format!("trusting{i}");
            let (g, _) = enroll(&a, &user, NOW);
            add_app(&a, &user, "second", NOW);
            let read_at = a.record(&account(&user)).unwrap().revision;
            let code = g.code_for_step(g.step_at(NOW));
            assert_eq!(
                check(&a, &user, "192.0.2.5", &code, NOW),
                Verdict::Accepted(Factor::Totp)
            );
            match change {
                "reset" => assert!(a.remove_factors(&user).unwrap().is_some()),
                "new recovery codes" => {
                    assert!(a.replace_recovery_codes(&user).unwrap().is_some());
                }
                _ => {
                    let removed = a.remove_app(&user, "second", None).unwrap();
                    assert!(matches!(removed, Removal::Removed(())), "{change}");
                }
            }
            assert_eq!(
                a.trust_device(&user, device(), read_at, 3600, NOW).unwrap(),
                DeviceTrust::FactorsChanged,
                "{change}"
            );
            assert!(!trusted_now(&user), "{change}: the device is trusted");
            assert!(
                a.record(&account(&user)).unwrap().trusted.is_empty(),
                "{change}"
            );
        }
        // Without a change in between, the same steps trust the device.
        let (g, _) = enroll(&a, "steady", NOW);
        let read_at = a.record(&account("steady")).unwrap().revision;
        let code = g.code_for_step(g.step_at(NOW));
        assert_eq!(
            check(&a, "steady", "192.0.2.5", &code, NOW),
            Verdict::Accepted(Factor::Totp)
        );
        assert_eq!(
            a.trust_device("steady", device(), read_at, 3600, NOW)
                .unwrap(),
            DeviceTrust::Trusted
        );
        assert!(trusted_now("steady"));
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
                check(&a, "alice", "h", &code, NOW),
                Verdict::Accepted(Factor::Totp)
            );
        }
        let a = authority(dir.path());
        assert!(matches!(
            check(&a, "alice", "h", &code, NOW),
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
                std::thread::spawn(move || check(&a, "alice", &format!("h{i}"), &code, NOW))
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

    /// Enrolls another app of `user` labelled `label`; the recovery codes it gave (none
    /// when they were kept).
    fn add_app(a: &Authority, user: &str, label: &str, now: u64) -> (Generator, usize) {
        let (pending, _) = a.begin_totp(user, label).unwrap();
        let generator = Generator::new(pending.params, &pending.secret);
        let step = generator.step_at(now) - 1;
        let Activation::Done(codes) = a.activate_totp(user, &pending, step, now).unwrap() else {
            panic!("enrollment conflicted")
        };
        (generator, codes.len())
    }

    #[test]
    fn several_apps_each_work_up_to_the_maximum_and_keep_the_recovery_codes() {
        let dir = tempfile::tempdir().unwrap();
        let a = authority(dir.path());
        let (first, codes) = enroll(&a, "alice", NOW);
        assert_eq!(codes.len(), recovery::CODES_PER_SET);
        let (second, new_codes) = add_app(&a, "alice", "phone2", NOW);
        assert_eq!(new_codes, 0, "adding an app keeps the unused codes");
        for (i, g) in [&first, &second].into_iter().enumerate() {
            let code = g.code_for_step(g.step_at(NOW));
            assert_eq!(
                check(&a, "alice", &format!("h{i}"), &code, NOW),
                Verdict::Accepted(Factor::Totp)
            );
        }
        // Replacing an app makes a new set.
        let (_, replaced) = add_app(&a, "alice", "phone2", NOW + 60);
        assert_eq!(replaced, recovery::CODES_PER_SET);
        for label in ["c", "d", "e"] {
            add_app(&a, "alice", label, NOW);
        }
        let refused = a.begin_totp("alice", "f").unwrap_err();
        assert!(
            refused.to_string().contains("policy.max_authenticators"),
            "{refused}"
        );
        assert!(
            a.begin_totp("alice", "c").is_ok(),
            "an existing label may be replaced"
        );
        assert!(a.begin_totp("alice", "a b").is_err());
        let record = a.record(&account("alice")).unwrap();
        let labels: Vec<_> = record.totp.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["app", "phone2", "c", "d", "e"]);
    }

    #[test]
    fn min_factors_stops_a_user_removing_the_last_app_but_not_root() {
        let dir = tempfile::tempdir().unwrap();
        let a = authority(dir.path());
        enroll(&a, "alice", NOW);
        add_app(&a, "alice", "phone2", NOW);
        assert_eq!(
            a.remove_app("alice", "nope", Some(1)).unwrap(),
            Removal::NotFound
        );
        assert_eq!(
            a.remove_app("alice", "phone2", Some(1)).unwrap(),
            Removal::Removed(())
        );
        assert_eq!(
            a.remove_app("alice", "app", Some(1)).unwrap(),
            Removal::BelowMinimum(1)
        );
        assert_eq!(a.record(&account("alice")).unwrap().totp.len(), 1);
        assert_eq!(
            a.remove_app("alice", "app", None).unwrap(),
            Removal::Removed(())
        );
    }

    #[test]
    fn thirty_concurrent_uses_of_a_one_use_bypass_code_give_one_success() {
        let dir = tempfile::tempdir().unwrap();
        let a = Arc::new(authority(dir.path()));
        let (code, expires_at) = a.issue_bypass("alice", 1, 3600, NOW, 0).unwrap();
        assert_eq!(expires_at, NOW + 3600);
        let threads: Vec<_> = (0..30)
            .map(|i| {
                let a = a.clone();
                let code = code.to_string();
                std::thread::spawn(move || check(&a, "alice", &format!("h{i}"), &code, NOW))
            })
            .collect();
        let verdicts: Vec<Verdict> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let successes = verdicts
            .iter()
            .filter(|v| **v == Verdict::Accepted(Factor::BypassCode))
            .count();
        assert_eq!(successes, 1, "{verdicts:?}");
        let record = a.record(&account("alice")).unwrap();
        assert!(record.bypass.is_none(), "used up");
        let last = record.last_success.unwrap();
        assert_eq!(
            (last.factor.as_str(), last.service.as_str()),
            ("bypass_code", "sshd")
        );
        // An expired code is refused, and a code typed with spaces is the same code.
        let (code, _) = a.issue_bypass("alice", 2, 60, NOW, 0).unwrap();
        let spaced = code.replace('-', " ");
        assert_eq!(
            check(&a, "alice", "x", &spaced, NOW),
            Verdict::Accepted(Factor::BypassCode)
        );
        assert!(matches!(
            check(&a, "alice", "y", &code, NOW + 60),
            Verdict::Rejected { .. }
        ));
    }

    #[test]
    fn first_seen_is_kept_from_the_first_time() {
        let dir = tempfile::tempdir().unwrap();
        let a = authority(dir.path());
        assert_eq!(a.first_seen("alice", NOW).unwrap(), NOW);
        assert_eq!(a.first_seen("alice", NOW + 500).unwrap(), NOW);
    }

    #[test]
    fn recovery_code_works_once_in_any_typing() {
        let dir = tempfile::tempdir().unwrap();
        let a = authority(dir.path());
        let (_, codes) = enroll(&a, "alice", NOW);
        let typed = codes[3].to_uppercase().replace('-', " ");
        assert_eq!(
            check(&a, "alice", "h", &typed, NOW),
            Verdict::Accepted(Factor::RecoveryCode { left: 9 })
        );
        assert!(matches!(
            check(&a, "alice", "h", &codes[3], NOW),
            Verdict::Rejected {
                reason: Rejection::Invalid,
                ..
            }
        ));
        let record = a.record(&account("alice")).unwrap();
        assert_eq!(record.recovery_codes.len(), 9);
        let on_disk =
            String::from_utf8_lossy(&std::fs::read(dir.path().join("users/alice.rec")).unwrap())
                .into_owned();
        assert!(on_disk.contains("recovery_codes"), "not the record");
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
            last = Some(check(&a, "alice", "attacker", "000000", NOW));
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
            check(&a, "alice", "attacker", &good, NOW),
            Verdict::SourceLocked { until }
        );
        assert_eq!(
            check(&a, "alice", "office", &good, NOW),
            Verdict::Accepted(Factor::Totp)
        );
        // Lockout state survives a restart.
        drop(a);
        let a = authority(dir.path());
        assert!(matches!(
            check(&a, "alice", "attacker", "123456", NOW + 1),
            Verdict::SourceLocked { .. }
        ));
    }

    #[test]
    fn account_lock_still_accepts_recovery_codes() {
        let dir = tempfile::tempdir().unwrap();
        let a = authority(dir.path());
        let (g, codes) = enroll(&a, "alice", NOW);
        for i in 0..20 {
            check(&a, "alice", &format!("botnet{i}"), "000000", NOW);
        }
        assert!(a.limiter().account_locked("alice", NOW).unwrap().is_some());
        let good = g.code_for_step(g.step_at(NOW));
        assert!(matches!(
            check(&a, "alice", "home", &good, NOW),
            Verdict::Rejected {
                reason: Rejection::AccountLocked,
                ..
            }
        ));
        assert!(matches!(
            check(&a, "alice", "home", &codes[0], NOW),
            Verdict::Accepted(Factor::RecoveryCode { .. })
        ));
    }

    #[test]
    fn unknown_and_unenrolled_users_are_rejected_like_wrong_codes() {
        let dir = tempfile::tempdir().unwrap();
        let a = authority(dir.path());
        for subject in [
            Subject::Unknown("nobody-here".to_owned()),
            Subject::Unknown("../etc/passwd".to_owned()),
            account("enrolled-nothing"),
        ] {
            for answer in ["123456", "2222-3333-4444"] {
                assert!(matches!(
                    a.check_answer(&subject, "h", answer, NOW, None, &|| true)
                        .unwrap(),
                    Verdict::Rejected {
                        reason: Rejection::Invalid,
                        ..
                    }
                ));
            }
        }
        assert!(!dir.path().join("etc").exists());
        // Failures of names with no factor are journaled, never kept in a file each.
        let files = std::fs::read_dir(dir.path().join("users")).unwrap().count();
        assert_eq!(files, 0);
        assert_eq!(a.limiter().names().unwrap().len(), 3);
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
        assert!(
            a.check_answer(&account("alice"), "h", &code, NOW, None, &|| true)
                .is_err()
        );
        std::fs::remove_file(&users).unwrap();
        std::fs::rename(dir.path().join("users.bak"), &users).unwrap();
        assert_eq!(
            check(&a, "alice", "h", &code, NOW),
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
            check(&a, "alice", "h", &old_codes[0], NOW),
            Verdict::Rejected { .. }
        ));
        assert!(matches!(
            check(&a, "alice", "h", &new_codes[0], NOW),
            Verdict::Accepted(_)
        ));
        assert!(a.remove_factors("alice").unwrap().is_some());
        assert!(!a.record(&account("alice")).unwrap().is_enrolled(NOW));
        assert!(a.replace_recovery_codes("alice").unwrap().is_none());
        let _ = Algorithm::Sha1;
    }

    #[test]
    fn a_right_answer_for_a_client_that_left_consumes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let a = authority(dir.path());
        let (g, codes) = enroll(&a, "alice", NOW);
        let gone = || false;
        let code = g.code_for_step(g.step_at(NOW));
        assert_eq!(
            a.check_answer(&account("alice"), "h", &code, NOW, None, &gone)
                .unwrap(),
            Verdict::Abandoned(Factor::Totp)
        );
        assert_eq!(
            a.check_answer(&account("alice"), "h", &codes[0], NOW, None, &gone)
                .unwrap(),
            Verdict::Abandoned(Factor::RecoveryCode { left: 10 })
        );
        // Both still work for a client that stays.
        assert_eq!(
            check(&a, "alice", "h", &code, NOW),
            Verdict::Accepted(Factor::Totp)
        );
        assert_eq!(
            check(&a, "alice", "h", &codes[0], NOW),
            Verdict::Accepted(Factor::RecoveryCode { left: 9 })
        );
    }

    #[test]
    fn an_enrollment_begun_before_another_finished_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = authority(dir.path());
        let (early, _) = a.begin_totp("alice", "app").unwrap();
        let (g, _) = enroll(&a, "alice", NOW);
        let step = Generator::new(early.params, &early.secret).step_at(NOW);
        assert!(matches!(
            a.activate_totp("alice", &early, step, NOW).unwrap(),
            Activation::Conflict
        ));
        // The enrollment made meanwhile is intact.
        let code = g.code_for_step(g.step_at(NOW));
        assert_eq!(
            check(&a, "alice", "h", &code, NOW),
            Verdict::Accepted(Factor::Totp)
        );
    }

    #[test]
    fn new_codes_for_an_unenrolled_user_hash_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let a = authority(dir.path());
        let started = std::time::Instant::now();
        assert!(a.replace_recovery_codes("bob").unwrap().is_none());
        // Ten argon2id hashes take well over 100 ms; the refusal takes none.
        assert!(started.elapsed() < std::time::Duration::from_millis(50));
    }

    fn phone(number: &str, label: &str) -> Contact {
        Contact {
            destination: mfa_core::contact::Destination::Phone {
                number: mfa_core::contact::PhoneNumber::parse(number).unwrap(),
                voice_only: false,
            },
            label: label.to_owned(),
            verified: true,
            added_at: NOW,
        }
    }

    #[test]
    fn contacts_are_added_once_removed_by_name_and_make_a_user_enrolled() {
        let dir = tempfile::tempdir().unwrap();
        let a = authority(dir.path());
        assert!(matches!(
            a.add_contact("alice", phone("+14155550123", "work"), Some(0))
                .unwrap(),
            ContactChange::Done(_)
        ));
        assert!(a.record(&account("alice")).unwrap().is_enrolled(NOW));
        // The same number again, or a confirmation prepared against an older revision.
        assert!(matches!(
            a.add_contact("alice", phone("+14155550123", "other"), None)
                .unwrap(),
            ContactChange::Refused(ContactError::Duplicate)
        ));
        assert!(matches!(
            a.add_contact("alice", phone("+14155550199", "home"), Some(0))
                .unwrap(),
            ContactChange::Conflict
        ));
        a.add_contact("alice", phone("+14155550199", "home"), None)
            .unwrap();
        assert!(matches!(
            a.remove_contact("alice", ContactKind::Email, "work", None)
                .unwrap(),
            ContactRemoval::NotFound
        ));
        assert!(matches!(
            a.remove_contact("alice", ContactKind::Phone, "work", Some(2))
                .unwrap(),
            ContactRemoval::BelowMinimum(2)
        ));
        assert!(matches!(
            a.remove_contact("alice", ContactKind::Phone, "+1 •••-•••-0123", Some(1))
                .unwrap(),
            ContactRemoval::Removed(c) if c.label == "work"
        ));
        let left = a.remove_factors("alice").unwrap().unwrap();
        assert_eq!(left.len(), 1);
        assert!(!a.record(&account("alice")).unwrap().is_enrolled(NOW));
    }

    #[test]
    fn a_reload_changes_settings_but_never_the_socket_or_the_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let a = authority(dir.path());
        let mut moved = (*a.config()).clone();
        moved.state_dir = dir.path().join("elsewhere");
        assert!(a.reload(moved).unwrap_err().contains("state_dir"));
        let mut stricter = (*a.config()).clone();
        stricter.max_tries = 1;
        stricter.policy.exempt_users = vec!["backup".to_owned()];
        a.reload(stricter).unwrap();
        assert_eq!(a.config().max_tries, 1);
        assert_eq!(a.policy().exempt_users, ["backup"]);
    }
}
