//! New authenticator apps and recovery codes: a secret handed out, confirmed by a code from
//! it, then made active in one write that refuses if the user's factors changed meanwhile.

use zeroize::Zeroizing;

use mfa_core::factor::recovery::{self, RecoveryCode};
use mfa_core::factor::totp::{self, Generator, Secret, TotpParams};
use mfa_core::record;

use super::{Decider, config_params};
use crate::error::DaemonError;
use crate::store::TotpFactor;

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

impl Decider {
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
        let secret = Secret::generate(params.algorithm).map_err(DaemonError::Random)?;
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
                skew: None,
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
            .is_some_and(|r| r.is_enrolled(self.now().secs()))
        {
            return Ok(None);
        }
        let (codes, hashes) = new_recovery_set()?;
        let replaced = self.store.update(name, |record| {
            if record.is_enrolled(self.now().secs()) {
                record.revision += 1;
                record.recovery_codes = hashes;
                true
            } else {
                false
            }
        })?;
        Ok(replaced.then_some(codes))
    }
}

/// The refusal of an app beyond `policy.max_authenticators`.
fn too_many_apps(max: usize) -> DaemonError {
    DaemonError::Policy(format!(
        "policy.max_authenticators allows {max} authenticator app(s) and you have {max}; \
         remove one first with `mfa-enroll remove totp LABEL`, or re-enroll an existing label"
    ))
}

pub(super) fn new_recovery_set() -> Result<(Vec<Zeroizing<String>>, Vec<RecoveryCode>), DaemonError>
{
    let codes = recovery::generate_set()?;
    let hashes = codes
        .iter()
        .map(|c| recovery::hash(c))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((codes, hashes))
}
