//! Whether an answer passes: an app code, a recovery or bypass code, or the code sent for
//! this login, each checked by its own factor and counted against the attempt limits. A
//! code is consumed only while the client is still there to be told.

use mfa_core::factor::{bypass, recovery};
use mfa_core::hotp;
use mfa_core::lockout::FailureEffect;
use mfa_core::record::LastSuccess;

use super::{Decider, Decision, Factor, Rejection, Subject};
use crate::error::DaemonError;
use crate::store::{StoreError, UserRecord};

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

impl Decider {
    /// Whether `source` is locked out for `key`, and whether the account-wide lock is on:
    /// when each ends.
    pub fn locks(&self, key: &str, source: &str, now: u64) -> Result<Locks, StoreError> {
        let (source, account) = self.limiter.locks(key, source, now)?;
        Ok(Locks { source, account })
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
            let decision = self.check_totp(subject, answer, now, locks, &success, still_wanted)?;
            self.or_scratch_code(subject, answer, decision, &success, still_wanted)?
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

    /// An app or HOTP token code decided in one locked read-modify-write, so the moved
    /// step or counter is stored before the answer and one of racing logins wins.
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
        let window = self.config().hotp.window;
        Ok(self.store.update(name, |record| {
            if record.totp.is_empty() && record.hotp.is_empty() {
                self.decoy_totp.matching_step(code, now, skew);
                return Decision::Refuse(Rejection::Invalid);
            }
            let decision = verify_app_or_token(record, code, now, (skew, window), still_wanted);
            keep_success(record, decision, success);
            decision
        })?)
    }

    /// An 8-digit answer no app took, tried as a scratch code imported from
    /// google-authenticator when the user holds some (see [`recovery::holds_scratch_codes`]);
    /// otherwise, or if it is not one either, the app's `decision` stands.
    fn or_scratch_code(
        &self,
        subject: &Subject,
        answer: &str,
        decision: Decision,
        success: &dyn Fn(Factor) -> Option<LastSuccess>,
        still_wanted: &dyn Fn() -> bool,
    ) -> Result<Decision, DaemonError> {
        let refused = matches!(
            decision,
            Decision::Refuse(Rejection::Invalid | Rejection::AccountLocked)
        );
        let Some(canonical) = recovery::normalize_scratch(answer).filter(|_| refused) else {
            return Ok(decision);
        };
        if !recovery::holds_scratch_codes(&self.record(subject)?.recovery_codes) {
            return Ok(decision);
        }
        match self.check_recovery_code(subject, &canonical, success, still_wanted)? {
            Decision::Refuse(_) => Ok(decision),
            other => Ok(other),
        }
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
}

/// A code checked against the user's apps, then (unless an app shows it, used or not) the
/// HOTP tokens: the first that shows it consumes it, nothing else does. The tokens' windows
/// are computed whatever the apps decided, so the time taken does not tell which matched.
fn verify_app_or_token(
    record: &mut UserRecord,
    code: &str,
    now: u64,
    (skew, window): (u8, u32),
    still_wanted: &dyn Fn() -> bool,
) -> Decision {
    let by_app = record.verify_totp(code, now, skew, still_wanted);
    if by_app != Decision::Refuse(Rejection::Invalid) {
        // Taken, or a replay of an app's used step: a token showing the same digits must
        // not make the code count twice.
        hotp::spend_same_work(&record.hotp, code, window);
        return by_app;
    }
    hotp::verify_tokens(&mut record.hotp, code, window, now, still_wanted)
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
