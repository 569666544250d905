//! A login by app password (`pam_mfa.so app_password`): the module sends PAM_AUTHTOK, and
//! this says whether it is one of the user's app passwords for the service.
//!
//! What the module sends is most often the user's real Unix password, on its way to
//! `pam_unix`. So it is never stored or logged, and it is not even looked at unless the
//! policy allows app passwords for this login and the user holds one usable on this service
//! (expiry, services); otherwise the answer is "not one" at once, with no hashing. Anything
//! without an app password's shape is "not one" too, uncounted. Only a string shaped like
//! an app password costs argon2 (one run, on the caller's share of the hashing pools) and
//! counts as a failure when it is wrong, so guessing app passwords runs into the same
//! lockout as guessing codes.

use std::sync::Arc;

use mfa_core::app_password;
use mfa_proto::{AuthRequest, Outcome, Secret};

use super::Attempt;
use super::request::{field_problem, service_problem, source_of};
use super::start::{first_look, resolve_policy};
use crate::app::Shared;
use crate::audit::{AuditEvent, AuditKind, AuditOutcome};
use crate::connection::Caller;
use crate::decisions::{AppPasswordCheck, Factor, Subject};
use crate::error::DaemonError;

/// Decides whether `password` is an app password of `auth.user` for `auth.service`:
/// [`Outcome::Success`] if it is (audited `sign_in_succeeded`, factor `app_password`, its
/// label), [`Outcome::Ignore`] if it is not one, [`Outcome::Failure`] or
/// [`Outcome::LockedOut`] for a wrong one (counted) or a locked source.
pub async fn check_app_password(
    shared: &Arc<Shared>,
    auth: AuthRequest,
    password: Secret,
    caller: Caller,
) -> Result<Outcome, DaemonError> {
    if let Some(problem) = service_problem(&auth.service, caller).or_else(|| field_problem(&auth)) {
        return Err(DaemonError::BadRequest(problem));
    }
    let mut attempt = Attempt {
        shared: shared.clone(),
        source: source_of(&auth, caller),
        user: auth.user.clone(),
        auth,
        caller,
    };
    let (subject, groups, stored) = match first_look(&attempt).await? {
        Some(found) => found,
        None => {
            attempt.audit(AuditOutcome::NotAuthorized, None, None, None);
            return Ok(Outcome::NotAuthorized);
        }
    };
    attempt.user = subject.key().to_owned();
    if !resolve_policy(&attempt, &groups, &stored).app_passwords {
        return Ok(Outcome::Ignore);
    }
    let record = match stored {
        Ok((record, _)) => record,
        Err(e) => {
            tracing::error!("cannot read record of {}: {e}", attempt.user);
            return Ok(attempt.store_failed(e.is_unavailable()));
        }
    };
    let now = attempt.now();
    let worth_a_look = matches!(subject, Subject::Account(_))
        && app_password::normalize(password.expose()).is_some()
        && app_password::any_usable(&record.app_passwords, &attempt.auth.service, now);
    if !worth_a_look {
        return Ok(Outcome::Ignore);
    }
    let (source, service) = (attempt.source.clone(), attempt.auth.service.clone());
    let checked = shared
        .blocking_hashing(caller, move |d| {
            d.check_app_password(&subject, &source, &service, password.expose(), now)
        })
        .await;
    Ok(settle(&attempt, checked))
}

/// Audits what the check found and says how the login ends.
fn settle(attempt: &Attempt, checked: Result<AppPasswordCheck, DaemonError>) -> Outcome {
    let factor = Some(Factor::AppPassword.name());
    let labelled = |outcome, label: &str, reason, until| {
        let kind = match outcome {
            AuditOutcome::Success => AuditKind::SignInSucceeded,
            AuditOutcome::LockedOut => AuditKind::LockedOut,
            _ => AuditKind::SignInFailed,
        };
        attempt.shared.audit.record(&AuditEvent {
            factor,
            label: Some(label),
            reason,
            until,
            ..attempt.event(kind, outcome)
        });
    };
    match checked {
        Ok(AppPasswordCheck::NotOne) => Outcome::Ignore,
        Ok(AppPasswordCheck::Accepted(label)) => {
            labelled(AuditOutcome::Success, &label, None, None);
            Outcome::Success
        }
        Ok(AppPasswordCheck::Rejected { locked_until }) => {
            attempt.audit(AuditOutcome::Failure, factor, Some("invalid_code"), None);
            match locked_until {
                Some(until) => {
                    attempt.audit(AuditOutcome::LockedOut, factor, None, Some(until));
                    Outcome::LockedOut
                }
                None => Outcome::Failure,
            }
        }
        Ok(AppPasswordCheck::Locked { until }) => {
            attempt.audit(
                AuditOutcome::LockedOut,
                factor,
                Some("source_locked"),
                Some(until),
            );
            Outcome::LockedOut
        }
        Err(e) => {
            tracing::error!("cannot check an app password of {}: {e}", attempt.user);
            attempt.store_failed(e.is_unavailable())
        }
    }
}
