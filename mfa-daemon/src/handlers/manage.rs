//! Management requests from `mfa-enroll`: enrollment, recovery codes, removal and status.
//! Root-only requests are in [`crate::handlers::admin`].

mod removal;

use std::sync::Arc;

use mfa_proto::{FailureKind, FrameError, Request, Response, Secret, TotpEnrollment};

use crate::accounts;
use crate::app::Shared;
use crate::audit::{AuditEvent, AuditKind, AuditOutcome};
use crate::connection::{Caller, Connection};
use crate::decisions::{Activation, PendingTotp, Subject, Verdict};
use crate::error::DaemonError;
use crate::handlers::common::{internal, invalid_user_name, status_report};
use crate::handlers::{app_passwords, contacts, hotp, passkeys};
use crate::service::check_answer;
use crate::service::notices::notify_others;
use crate::service::request::uid_source;
use crate::service::words::lockout_message;
use crate::store::CallerClass;
use crate::username::{self, UserName};
use mfa_core::record::{self, DEFAULT_APP_LABEL};

/// How long a person may take to scan the QR code and type the first code.
const ENROLL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

fn failed(kind: FailureKind, message: impl Into<String>) -> Response {
    Response::Failed {
        kind,
        message: message.into(),
    }
}

fn audit(
    shared: &Shared,
    event: AuditKind,
    user: &str,
    uid: u32,
    outcome: AuditOutcome,
    reason: Option<&str>,
) {
    audit_app(shared, event, user, uid, outcome, reason, None);
}

/// An event about one authenticator app (`factor: totp`, its label).
fn audit_app(
    shared: &Shared,
    event: AuditKind,
    user: &str,
    uid: u32,
    outcome: AuditOutcome,
    reason: Option<&str>,
    label: Option<&str>,
) {
    shared.audit.record(&AuditEvent {
        event,
        user,
        service: Some("mfa-enroll"),
        factor: label.map(|_| "totp"),
        label,
        outcome,
        reason,
        uid: Some(uid),
        ..AuditEvent::default()
    });
}

/// Answers one management request (and, for enrollment, the confirmation that follows).
pub async fn handle(
    shared: &Arc<Shared>,
    conn: &mut Connection,
    request: Request,
) -> Result<(), FrameError> {
    let subject = match authorize(shared, conn.caller.uid, &request).await {
        Ok(subject) => subject,
        Err(refusal) => return conn.send(&refusal).await,
    };
    let uid = conn.caller.uid;
    if let Request::Status { .. } = request {
        let response = status(shared, uid, &subject).await;
        if uid == 0 {
            audit(
                shared,
                AuditKind::AdminShow,
                subject.key(),
                uid,
                AuditOutcome::Ok,
                None,
            );
        }
        return conn.send(&response).await;
    }
    // Every other request changes factors, which only accounts NSS knows have (authorize
    // refused the rest).
    let Subject::Account(user) = subject else {
        return conn
            .send(&DaemonError::BadRequest("not a management request".to_owned()).response())
            .await;
    };
    let response = match request {
        Request::EnrollTotp { proof, label, .. } => {
            let label = label.unwrap_or_else(|| DEFAULT_APP_LABEL.to_owned());
            return enroll(shared, conn, &user, proof, &label).await;
        }
        Request::EnrollPasskey { proof, label, .. } => {
            if let Err(refusal) = require_proof(shared, conn, &user, proof).await {
                return conn.send(&refusal).await;
            }
            let label = label.unwrap_or_else(|| passkeys::DEFAULT_LABEL.to_owned());
            return passkeys::enroll(shared, conn, &user, label).await;
        }
        Request::EnrollHotp {
            proof,
            label,
            digits,
            ..
        } => {
            if let Err(refusal) = require_proof(shared, conn, &user, proof).await {
                return conn.send(&refusal).await;
            }
            let label = label.unwrap_or_else(|| hotp::DEFAULT_LABEL.to_owned());
            let digits = digits.unwrap_or(hotp::DEFAULT_DIGITS);
            return hotp::enroll(shared, conn, &user, &label, digits).await;
        }
        Request::AddContact {
            contact,
            proof,
            unverified,
            ..
        } => {
            if let Err(refusal) = require_proof(shared, conn, &user, proof).await {
                return conn.send(&refusal).await;
            }
            return contacts::add(shared, conn, &user, contact, unverified).await;
        }
        other => change(shared, conn, &user, other).await,
    };
    conn.send(&response).await
}

/// Whom the request is for: a name that may be looked up, that the caller may act for,
/// and an account NSS knows when the request changes factors. Otherwise the refusal.
async fn authorize(shared: &Arc<Shared>, uid: u32, request: &Request) -> Result<Subject, Response> {
    let Some(given) = request.user().map(str::to_owned) else {
        return Err(DaemonError::BadRequest("request names no user".to_owned()).response());
    };
    if !username::is_valid(&given) {
        return Err(invalid_user_name().response());
    }
    let target = given.clone();
    let (account, allowed) = shared
        .blocking(CallerClass::of(uid), move |_| {
            let account = accounts::resolve(&target);
            let allowed = accounts::may_act_for(uid, account.as_ref());
            Ok((account, allowed))
        })
        .await
        .unwrap_or((None, false));
    if !allowed {
        audit(
            shared,
            AuditKind::RequestRefused,
            &given,
            uid,
            AuditOutcome::NotAuthorized,
            None,
        );
        let message = format!("uid {uid} may not act for user {given}; only root or {given} may");
        return Err(failed(FailureKind::NotAuthorized, message));
    }
    // Factors belong to accounts NSS knows; counters and status also to other names.
    let changes_factors = matches!(
        request,
        Request::EnrollTotp { .. }
            | Request::RemoveTotp { .. }
            | Request::EnrollPasskey { .. }
            | Request::RemovePasskey { .. }
            | Request::AddAppPassword { .. }
            | Request::RemoveAppPassword { .. }
            | Request::EnrollHotp { .. }
            | Request::RemoveHotp { .. }
            | Request::NewRecoveryCodes { .. }
            | Request::RemoveFactors { .. }
            | Request::AddContact { .. }
            | Request::RemoveContact { .. }
            | Request::ForgetDevices { .. }
    );
    match account {
        Some(account) => Ok(Subject::Account(account.name)),
        None if changes_factors => Err(failed(
            FailureKind::NotEnrolled,
            format!("no account named {given} is known to this host (NSS)"),
        )),
        None => Ok(Subject::Unknown(given)),
    }
}

/// A change of factors that is one request and one answer: proven first (see
/// [`require_proof`]), then made.
async fn change(
    shared: &Arc<Shared>,
    conn: &Connection,
    user: &UserName,
    request: Request,
) -> Response {
    let uid = conn.caller.uid;
    if matches!(request, Request::RemoveFactors { .. }) && uid != 0 {
        // min_factors is at least 1: removing everything is an admin's reset.
        let min = shared.decisions.policy().min_factors;
        return DaemonError::Policy(format!(
            "policy.min_factors is {min}: only root can remove every factor (`mfactl reset`); \
             remove single factors with `mfa-enroll remove totp|phone|email ...`"
        ))
        .response();
    }
    let proof = match &request {
        Request::RemoveTotp { proof, .. }
        | Request::RemovePasskey { proof, .. }
        | Request::AddAppPassword { proof, .. }
        | Request::RemoveAppPassword { proof, .. }
        | Request::RemoveHotp { proof, .. }
        | Request::NewRecoveryCodes { proof, .. }
        | Request::RemoveFactors { proof, .. }
        | Request::RemoveContact { proof, .. }
        | Request::ForgetDevices { proof, .. } => proof.clone(),
        _ => return DaemonError::BadRequest("not a management request".to_owned()).response(),
    };
    if let Err(refusal) = require_proof(shared, conn, user, proof).await {
        return refusal;
    }
    match request {
        Request::RemoveTotp { label, .. } => removal::remove_app(shared, uid, user, &label).await,
        Request::RemovePasskey { label, .. } => passkeys::remove(shared, uid, user, &label).await,
        Request::AddAppPassword {
            label,
            services,
            expires_in,
            ..
        } => {
            let new = app_passwords::NewAppPassword {
                label,
                services,
                expires_in,
            };
            app_passwords::add(shared, conn.caller, user, new).await
        }
        Request::RemoveAppPassword { label, .. } => {
            app_passwords::remove(shared, uid, user, &label).await
        }
        Request::RemoveHotp { label, .. } => hotp::remove(shared, uid, user, &label).await,
        Request::NewRecoveryCodes { .. } => new_recovery_codes(shared, conn.caller, user).await,
        Request::RemoveFactors { .. } => removal::remove(shared, uid, user).await,
        Request::RemoveContact { kind, which, .. } => {
            contacts::remove(shared, uid, user, kind, &which).await
        }
        Request::ForgetDevices { .. } => forget_devices(shared, uid, user).await,
        _ => DaemonError::BadRequest("not a management request".to_owned()).response(),
    }
}

/// For a user who already has a factor and a caller who is not root: checks the proof
/// (a current code or a recovery code, consumed and rate-limited like a login from the
/// caller's uid).
pub(super) async fn require_proof(
    shared: &Arc<Shared>,
    conn: &Connection,
    user: &UserName,
    proof: Option<Secret>,
) -> Result<(), Response> {
    let uid = conn.caller.uid;
    if uid == 0 {
        return Ok(());
    }
    let subject = Subject::Account(user.clone());
    let target = subject.clone();
    let enrolled = shared
        .blocking(CallerClass::of(uid), move |a| {
            Ok(a.record(&target)?.is_enrolled(a.now().secs()))
        })
        .await
        .map_err(|e| internal(&e))?;
    if !enrolled {
        return Ok(());
    }
    let Some(proof) = proof else {
        return Err(failed(
            FailureKind::ProofRequired,
            "this account already has a factor: give a current verification code or a recovery code",
        ));
    };
    let presence = conn.presence().map_err(|e| internal(&e))?;
    let verdict = check_answer(
        shared,
        conn.caller,
        &subject,
        &uid_source(uid),
        proof,
        None,
        presence,
    )
    .await
    .map_err(|e| internal(&e))?;
    match verdict {
        Verdict::Accepted(_) => Ok(()),
        Verdict::Rejected { reason, .. } => {
            audit(
                shared,
                AuditKind::ProofFailed,
                user,
                uid,
                AuditOutcome::Failure,
                Some(reason.name()),
            );
            Err(failed(
                FailureKind::WrongCode,
                "that code is not valid (or was already used)",
            ))
        }
        Verdict::SourceLocked { until } => {
            audit(
                shared,
                AuditKind::ProofFailed,
                user,
                uid,
                AuditOutcome::LockedOut,
                None,
            );
            Err(failed(
                FailureKind::LockedOut,
                lockout_message(until, shared.decisions.now().secs()),
            ))
        }
        Verdict::Abandoned(_) => {
            audit(
                shared,
                AuditKind::ProofFailed,
                user,
                uid,
                AuditOutcome::Abandoned,
                Some("client_gone"),
            );
            Err(failed(FailureKind::BadRequest, "the client went away"))
        }
    }
}

async fn enroll(
    shared: &Arc<Shared>,
    conn: &mut Connection,
    user: &UserName,
    proof: Option<Secret>,
    label: &str,
) -> Result<(), FrameError> {
    let caller = conn.caller;
    let uid = caller.uid;
    if let Some(problem) = record::label_problem(label) {
        return conn
            .send(&DaemonError::BadRequest(problem).response())
            .await;
    }
    if let Err(refusal) = require_proof(shared, conn, user, proof).await {
        return conn.send(&refusal).await;
    }
    let wanted = label.to_owned();
    let (pending, uri) = match shared
        .for_user(uid, user, move |a, user| a.begin_totp(user, &wanted))
        .await
    {
        Ok(begun) => begun,
        Err(e) => return conn.send(&internal(&e)).await,
    };
    conn.send(&Response::TotpEnrollment(TotpEnrollment {
        otpauth_uri: Secret::from(uri),
        secret: Secret::from(pending.secret.to_base32()),
        algorithm: pending.params.algorithm.name().to_owned(),
        digits: pending.params.digits,
        period: pending.params.period,
    }))
    .await?;
    let pending = Arc::new(pending);
    let max_tries = shared.decisions.config().max_tries;
    let mut tries = 0;
    loop {
        let code = match conn.read(ENROLL_TIMEOUT).await? {
            Request::ConfirmTotp { code } => code,
            _ => {
                return conn
                    .send(&DaemonError::BadRequest("expected confirm_totp".to_owned()).response())
                    .await;
            }
        };
        tries += 1;
        let now = shared.decisions.now().secs();
        let Some(step) = shared
            .decisions
            .pending_code_step(&pending, code.expose().trim(), now)
        else {
            audit_app(
                shared,
                AuditKind::MfaSetupFailed,
                user,
                uid,
                AuditOutcome::Failure,
                Some("invalid_code"),
                Some(label),
            );
            // The last refusal is `locked_out`, so the client knows not to ask again.
            let refusal = if tries < max_tries {
                failed(
                    FailureKind::WrongCode,
                    "that code does not match the new secret; check the app and the clock, then try again",
                )
            } else {
                failed(
                    FailureKind::LockedOut,
                    "too many codes that do not match the new secret; enrollment cancelled, nothing was changed",
                )
            };
            conn.send(&refusal).await?;
            if tries >= max_tries {
                return Ok(());
            }
            continue;
        };
        let response = activate(shared, caller, user, label, pending.clone(), step, now).await;
        return conn.send(&response).await;
    }
}

/// Makes the confirmed app one of the user's: the recovery codes if new ones were made,
/// else why not.
async fn activate(
    shared: &Arc<Shared>,
    caller: Caller,
    user: &UserName,
    label: &str,
    pending: Arc<PendingTotp>,
    step: u64,
    now: u64,
) -> Response {
    let uid = caller.uid;
    let target = user.to_owned();
    match shared
        .blocking_hashing(caller, move |a| {
            a.activate_totp(&target, &pending, step, now)
        })
        .await
    {
        Ok(Activation::Done(codes)) => {
            audit_app(
                shared,
                AuditKind::MfaSetupSucceeded,
                user,
                uid,
                AuditOutcome::Ok,
                None,
                Some(label),
            );
            codes_made(
                shared,
                uid,
                user,
                "An authenticator app was enrolled",
                codes,
            )
        }
        Ok(Activation::Conflict) => {
            audit_app(
                shared,
                AuditKind::MfaSetupFailed,
                user,
                uid,
                AuditOutcome::Failure,
                Some("factors_changed"),
                Some(label),
            );
            failed(
                FailureKind::ProofRequired,
                "the account's factors changed while this enrollment was pending; nothing was changed: start again (with a current code if a factor now exists)",
            )
        }
        Err(e) => internal(&e),
    }
}

/// Tells the user's other contacts what happened, and hands out the new recovery codes
/// (none when an app was added beside others and the unused codes were kept).
fn codes_made(
    shared: &Arc<Shared>,
    uid: u32,
    user: &UserName,
    what: &str,
    codes: Vec<zeroize::Zeroizing<String>>,
) -> Response {
    notify_others(shared, CallerClass::of(uid), user, what, None);
    Response::RecoveryCodes {
        codes: codes.into_iter().map(Secret::from).collect(),
    }
}

async fn new_recovery_codes(shared: &Arc<Shared>, caller: Caller, user: &UserName) -> Response {
    let uid = caller.uid;
    let target = user.to_owned();
    match shared
        .blocking_hashing(caller, move |a| a.replace_recovery_codes(&target))
        .await
    {
        Ok(Some(codes)) => {
            audit(
                shared,
                AuditKind::RecoveryCodesGenerated,
                user,
                uid,
                AuditOutcome::Ok,
                None,
            );
            codes_made(
                shared,
                uid,
                user,
                "A new set of recovery codes was made",
                codes,
            )
        }
        Ok(None) => failed(
            FailureKind::NotEnrolled,
            format!("{user} has nothing enrolled; run `mfa-enroll totp` first"),
        ),
        Err(e) => internal(&e),
    }
}

async fn status(shared: &Arc<Shared>, uid: u32, subject: &Subject) -> Response {
    let target = subject.clone();
    let report = shared.blocking(CallerClass::of(uid), move |a| {
        let record = a.record(&target)?;
        Ok(status_report(
            a.limiter(),
            &a.policy(),
            target.key(),
            &record,
            a.now().secs(),
        )?)
    });
    match report.await {
        Ok(report) => Response::Status(report),
        Err(e) => internal(&e),
    }
}

/// Ends the trust of every device of the user.
async fn forget_devices(shared: &Arc<Shared>, uid: u32, user: &UserName) -> Response {
    match shared
        .for_user(uid, user, |a, user| a.forget_devices(user))
        .await
    {
        Ok(n) => {
            let event = if uid == 0 {
                AuditKind::AdminForget
            } else {
                AuditKind::DevicesForgotten
            };
            audit(shared, event, user, uid, AuditOutcome::Ok, None);
            Response::Ok {
                message: format!("{user}'s {n} trusted device(s) must pass a factor again"),
            }
        }
        Err(e) => internal(&e),
    }
}
