//! HOTP tokens: a soft token enrolled by `mfa-enroll hotp` (handed out, confirmed by its
//! first code), one removed, and root's resynchronisation (`mfactl resync`). Each is audited
//! with `factor: hotp` and the label, never a code.

use std::sync::Arc;

use mfa_core::hotp::{MAX_DIGITS, MIN_DIGITS};
use mfa_proto::{FailureKind, FrameError, HotpEnrollment, Request, Response, Secret};

use crate::accounts;
use crate::app::Shared;
use crate::audit::{AuditEvent, AuditKind, AuditOutcome};
use crate::connection::Connection;
use crate::decisions::{Activation, PendingHotp, Removal, Resync, below_minimum};
use crate::error::DaemonError;
use crate::handlers::common::{internal, invalid_user_name};
use crate::service::notices::notify_others;
use crate::store::CallerClass;
use crate::username::{self, UserName};

/// The label of a token enrolled without one.
pub const DEFAULT_LABEL: &str = "hotp";
/// Code length of a token enrolled without one.
pub const DEFAULT_DIGITS: u8 = 6;
/// How long a person may take to add the token to an app and type its first code.
const ENROLL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

fn failed(kind: FailureKind, message: impl Into<String>) -> Response {
    Response::Failed {
        kind,
        message: message.into(),
    }
}

/// One audit event about token `label` of `user`.
struct Audit<'a> {
    shared: &'a Shared,
    user: &'a str,
    uid: u32,
    label: &'a str,
}

impl Audit<'_> {
    fn record(&self, event: AuditKind, outcome: AuditOutcome, reason: Option<&str>) {
        self.shared.audit.record(&AuditEvent {
            event,
            user: self.user,
            service: Some(if event == AuditKind::AdminResync {
                "mfactl"
            } else {
                "mfa-enroll"
            }),
            factor: Some("hotp"),
            label: Some(self.label),
            outcome,
            reason,
            uid: Some(self.uid),
            ..AuditEvent::default()
        });
    }
}

/// Hands out a new soft token and stores it once its first code comes back (the caller
/// checked the proof). Answers the recovery codes, as an app's enrollment does.
pub async fn enroll(
    shared: &Arc<Shared>,
    conn: &mut Connection,
    user: &UserName,
    label: &str,
    digits: u8,
) -> Result<(), FrameError> {
    let caller = conn.caller;
    let audit = Audit {
        shared,
        user,
        uid: caller.uid,
        label,
    };
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits) {
        let why = format!("digits must be {MIN_DIGITS} to {MAX_DIGITS}, got {digits}");
        return conn.send(&DaemonError::BadRequest(why).response()).await;
    }
    let wanted = label.to_owned();
    let begun = shared
        .for_user(caller.uid, user, move |d, u| {
            d.begin_hotp(u, &wanted, digits)
        })
        .await;
    let (pending, uri) = match begun {
        Ok(begun) => begun,
        Err(e) => return conn.send(&internal(&e)).await,
    };
    conn.send(&Response::HotpEnrollment(HotpEnrollment {
        label: label.to_owned(),
        otpauth_uri: Secret::from(uri),
        secret: Secret::from(pending.token.secret.to_base32()),
        algorithm: pending.token.algorithm.name().to_owned(),
        digits,
        counter: pending.token.counter,
    }))
    .await?;
    let pending = Arc::new(pending);
    let max_tries = shared.decisions.config().max_tries;
    for tries in 1..=max_tries {
        let code = match conn.read(ENROLL_TIMEOUT).await? {
            Request::ConfirmHotp { code } => code,
            _ => {
                let why = "expected confirm_hotp".to_owned();
                return conn.send(&DaemonError::BadRequest(why).response()).await;
            }
        };
        match activate(shared, caller, user, pending.clone(), code).await {
            Ok(Some(response)) => return conn.send(&response).await,
            Ok(None) => {}
            Err(e) => return conn.send(&internal(&e)).await,
        }
        audit.record(
            AuditKind::MfaSetupFailed,
            AuditOutcome::Failure,
            Some("invalid_code"),
        );
        // The last refusal is `locked_out`, so the client knows not to ask again.
        conn.send(&if tries < max_tries {
            failed(
                FailureKind::WrongCode,
                "that code is not one of the new token's first codes; try again",
            )
        } else {
            failed(
                FailureKind::LockedOut,
                "too many codes that do not match the new token; enrollment cancelled, nothing was changed",
            )
        })
        .await?;
    }
    Ok(())
}

/// Stores the confirmed token: the response, or `None` when the code did not match.
async fn activate(
    shared: &Arc<Shared>,
    caller: crate::connection::Caller,
    user: &UserName,
    pending: Arc<PendingHotp>,
    code: Secret,
) -> Result<Option<Response>, DaemonError> {
    let target = user.to_owned();
    let label = pending.token.label.clone();
    let activated = shared
        .blocking_hashing(caller, move |d| {
            d.activate_hotp(&target, &pending, code.expose().trim())
        })
        .await?;
    let audit = Audit {
        shared,
        user,
        uid: caller.uid,
        label: &label,
    };
    Ok(match activated {
        None => None,
        Some(Activation::Done(codes)) => {
            audit.record(AuditKind::MfaSetupSucceeded, AuditOutcome::Ok, None);
            let what = "An HOTP token was enrolled";
            notify_others(shared, CallerClass::of(caller.uid), user, what, None);
            Some(Response::RecoveryCodes {
                codes: codes.into_iter().map(Secret::from).collect(),
            })
        }
        Some(Activation::Conflict) => {
            audit.record(
                AuditKind::MfaSetupFailed,
                AuditOutcome::Failure,
                Some("factors_changed"),
            );
            Some(failed(
                FailureKind::ProofRequired,
                "the account's factors changed while this enrollment was pending; nothing was changed: start again (with a current code if a factor now exists)",
            ))
        }
    })
}

/// Removes the token labelled `label`.
pub async fn remove(shared: &Arc<Shared>, uid: u32, user: &UserName, label: &str) -> Response {
    let wanted = label.to_owned();
    let min = shared.decisions.policy().min_factors;
    let min_factors = (uid != 0).then_some(min);
    let removed = shared
        .for_user(uid, user, move |d, u| {
            d.remove_hotp(u, &wanted, min_factors)
        })
        .await;
    match removed {
        Ok(Removal::Removed(())) => {
            let audit = Audit {
                shared,
                user,
                uid,
                label,
            };
            audit.record(AuditKind::FactorRemoved, AuditOutcome::Ok, None);
            let what = format!("The HOTP token `{label}` was removed");
            notify_others(shared, CallerClass::of(uid), user, &what, None);
            Response::Ok {
                message: format!("removed the HOTP token `{label}` of {user}"),
            }
        }
        Ok(Removal::NotFound) => failed(
            FailureKind::NotEnrolled,
            format!("{user} has no HOTP token labelled `{label}`; `mfa-enroll status` lists them"),
        ),
        Ok(Removal::BelowMinimum(have)) => below_minimum(min, have).response(),
        Err(e) => internal(&e),
    }
}

/// Root's resynchronisation of a token (`mfactl resync`); any other caller is refused and
/// audited. The codes are never logged nor audited.
pub async fn resync(
    shared: &Arc<Shared>,
    conn: &mut Connection,
    request: Request,
) -> Result<(), FrameError> {
    let Request::ResyncHotp {
        user,
        label,
        first,
        second,
    } = request
    else {
        let refusal = DaemonError::BadRequest("not a resync request".to_owned());
        return conn.send(&refusal.response()).await;
    };
    let uid = conn.caller.uid;
    let shown = label.as_deref().unwrap_or("");
    let audit = Audit {
        shared,
        user: &user,
        uid,
        label: shown,
    };
    if uid != 0 {
        audit.record(AuditKind::AdminResync, AuditOutcome::NotAuthorized, None);
        let message = "only root may resynchronise an HOTP token (`mfactl resync`)";
        return conn
            .send(&failed(FailureKind::NotAuthorized, message))
            .await;
    }
    if !username::is_valid(&user) {
        return conn.send(&invalid_user_name().response()).await;
    }
    let (given, wanted) = (user.clone(), label.clone());
    let done = shared
        .blocking(CallerClass::Root, move |d| {
            let Some(account) = accounts::resolve(&given) else {
                return Ok(None);
            };
            let (first, second) = (first.expose().trim(), second.expose().trim());
            let resync = d.resync_hotp(&account.name, wanted.as_deref(), first, second)?;
            Ok(Some(resync))
        })
        .await;
    let response = match done {
        Ok(Some(resync)) => resync_response(&audit, &user, resync),
        Ok(None) => {
            audit.record(
                AuditKind::AdminResync,
                AuditOutcome::Refused,
                Some("unknown_account"),
            );
            let why = format!("no account named {user} is known to this host (NSS)");
            DaemonError::NotEnrolled(why).response()
        }
        Err(e) => internal(&e),
    };
    conn.send(&response).await
}

/// The answer to a resynchronisation, audited.
fn resync_response(audit: &Audit<'_>, user: &str, resync: Resync) -> Response {
    let labels = |all: Vec<String>| all.join(", ");
    let (reason, response) = match resync {
        Resync::Done { label, counter } => {
            let done = Audit {
                label: &label,
                ..*audit
            };
            done.record(AuditKind::AdminResync, AuditOutcome::Ok, None);
            return Response::Ok {
                message: format!(
                    "{user}'s HOTP token `{label}` is resynchronised: its next code is number {counter}"
                ),
            };
        }
        Resync::NoToken => (
            "no_token",
            failed(
                FailureKind::NotEnrolled,
                format!("{user} has no HOTP token"),
            ),
        ),
        Resync::NoSuchLabel(all) => (
            "no_such_label",
            failed(
                FailureKind::NotEnrolled,
                format!(
                    "{user} has no HOTP token labelled `{}`; the tokens are: {}",
                    audit.label,
                    labels(all)
                ),
            ),
        ),
        Resync::LabelNeeded(all) => (
            "label_needed",
            DaemonError::BadRequest(format!(
                "{user} has several HOTP tokens: name one with --label ({})",
                labels(all)
            ))
            .response(),
        ),
        Resync::Refused(why) => (
            match why {
                mfa_core::hotp::ResyncError::Malformed { .. } => "malformed_code",
                mfa_core::hotp::ResyncError::NotFound => "not_found",
                mfa_core::hotp::ResyncError::Ambiguous => "ambiguous",
            },
            failed(
                FailureKind::WrongCode,
                format!("cannot resynchronise: {why}"),
            ),
        ),
    };
    audit.record(AuditKind::AdminResync, AuditOutcome::Refused, Some(reason));
    response
}
