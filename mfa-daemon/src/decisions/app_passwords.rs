//! App passwords in the user's record: adding one (under the per-user cap, with a fresh
//! label), removing one, and checking what a login typed. They are not factors: adding or
//! removing one leaves `revision` (and the trusted devices) alone, and `min_factors` does not
//! count them.

use mfa_core::app_password::{self, AppPassword, MAX_PER_USER};
use mfa_core::lockout::FailureEffect;
use mfa_core::record;

use super::{Decider, Decision, Factor, Locks, Rejection, Subject};
use crate::error::DaemonError;

/// What checking a typed password found, before anything is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppPasswordCheck {
    /// Not an app password at all (the user has none usable here, or it does not have the
    /// shape): nothing was hashed, counted or kept.
    NotOne,
    /// Accepted: the app password of this label; its `last_used` is written.
    Accepted(String),
    /// Shaped like an app password but none of the user's: counted like a wrong code.
    Rejected {
        /// When the lockout this failure started ends.
        locked_until: Option<u64>,
    },
    /// The source or the account is locked: not looked at.
    Locked {
        /// When the lockout ends.
        until: u64,
    },
}

impl Decider {
    /// Stores `new` for `name` unless its label is taken or the user holds
    /// [`MAX_PER_USER`] already.
    pub fn add_app_password(&self, name: &str, new: AppPassword) -> Result<(), DaemonError> {
        if let Some(problem) = record::label_problem(&new.label) {
            return Err(DaemonError::BadRequest(problem));
        }
        self.store.update(name, |record| {
            if record.app_password(&new.label).is_some() {
                return Err(DaemonError::BadRequest(format!(
                    "an app password labelled `{}` exists; remove it first \
                     (`mfa-enroll app-password remove {}`) or choose another label",
                    new.label, new.label
                )));
            }
            if record.app_passwords.len() >= MAX_PER_USER {
                return Err(DaemonError::Policy(format!(
                    "a user may hold at most {MAX_PER_USER} app passwords; remove one first"
                )));
            }
            record.app_passwords.push(new.clone());
            Ok(())
        })?
    }

    /// Removes the app password labelled `label`; whether there was one.
    pub fn remove_app_password(&self, name: &str, label: &str) -> Result<bool, DaemonError> {
        Ok(self.store.update(name, |record| {
            let before = record.app_passwords.len();
            record.app_passwords.retain(|p| p.label != label);
            record.app_passwords.len() != before
        })?)
    }

    /// Checks `typed` (PAM_AUTHTOK) as an app password of `subject` for `service`. It is
    /// looked at only when the user holds an app password usable here and it has the
    /// shape of one; then a lock refuses it unread, a miss counts as a failure, and a
    /// match is kept as the user's last success.
    pub fn check_app_password(
        &self,
        subject: &Subject,
        source: &str,
        service: &str,
        typed: &str,
        now: u64,
    ) -> Result<AppPasswordCheck, DaemonError> {
        let Subject::Account(name) = subject else {
            return Ok(AppPasswordCheck::NotOne);
        };
        let snapshot = self.record(subject)?;
        let canonical = match app_password::normalize(typed) {
            Some(c) if app_password::any_usable(&snapshot.app_passwords, service, now) => c,
            _ => return Ok(AppPasswordCheck::NotOne),
        };
        let locks = self.locks(name, source, now)?;
        if let Locks {
            source: Some(until),
            ..
        }
        | Locks {
            account: Some(until),
            ..
        } = locks
        {
            return Ok(AppPasswordCheck::Locked { until });
        }
        let matched = app_password::find_match(
            &canonical,
            &snapshot.app_passwords,
            service,
            now,
            &self.decoy_hash,
        )
        .map(str::to_owned);
        let Some(label) = matched else {
            let locked_until = match self.limiter.record_failure(name, source, now)? {
                FailureEffect::SourceLocked(until) => Some(until),
                FailureEffect::Counted | FailureEffect::AccountLocked(_) => None,
            };
            return Ok(AppPasswordCheck::Rejected { locked_until });
        };
        // Under the lock it must still be there and usable: a removal or expiry between the
        // hash check and now wins.
        let decision = self.store.update(name, |record| {
            match record
                .app_passwords
                .iter_mut()
                .find(|p| p.label == label && p.usable(service, now))
            {
                Some(password) => {
                    password.last_used = Some(now);
                    record.last_success = Some(record::LastSuccess {
                        at: now,
                        source: source.to_owned(),
                        service: service.to_owned(),
                        factor: Factor::AppPassword.name().to_owned(),
                    });
                    Decision::Accept(Factor::AppPassword)
                }
                None => Decision::Refuse(Rejection::Invalid),
            }
        })?;
        match decision {
            Decision::Accept(_) => {
                self.limiter.record_success(name, source, now)?;
                Ok(AppPasswordCheck::Accepted(label))
            }
            _ => Ok(AppPasswordCheck::NotOne),
        }
    }
}
