//! App passwords: `mfa-enroll app-password add|remove` (after the same proof as any change
//! of factors) and the check `pam_mfa.so app_password` asks for at login.

use std::sync::Arc;

use mfa_core::app_password::{self, AppPassword};
use mfa_core::record;
use mfa_proto::{AuthRequest, FailureKind, FrameError, Response, Secret, Step};

use crate::app::Shared;
use crate::audit::{AuditEvent, AuditKind, AuditOutcome};
use crate::connection::{Caller, Connection};
use crate::error::DaemonError;
use crate::handlers::common::internal;
use crate::service::check_app_password;
use crate::service::notices::notify_others;
use crate::store::CallerClass;
use crate::username::UserName;

/// Longest life of an app password: five years (one that should never end is made
/// without `--expires`).
pub const MAX_EXPIRES_IN: u64 = 5 * 366 * 24 * 3600;

/// What `mfa-enroll app-password add` asks for.
#[derive(Debug)]
pub struct NewAppPassword {
    /// Its label.
    pub label: String,
    /// Services it works on (empty: all the policy allows).
    pub services: Vec<String>,
    /// Seconds until it expires.
    pub expires_in: Option<u64>,
}

fn failed(kind: FailureKind, message: impl Into<String>) -> Response {
    Response::Failed {
        kind,
        message: message.into(),
    }
}

fn audit(shared: &Shared, event: AuditKind, user: &str, uid: u32, label: &str) {
    shared.audit.record(&AuditEvent {
        event,
        user,
        service: Some("mfa-enroll"),
        factor: Some("app_password"),
        label: Some(label),
        outcome: AuditOutcome::Ok,
        uid: Some(uid),
        ..AuditEvent::default()
    });
}

/// What is wrong with the request, before anything is made.
fn refusal(shared: &Shared, new: &NewAppPassword) -> Option<DaemonError> {
    if !shared.decisions.policy().app_passwords_anywhere() {
        return Some(DaemonError::Policy(
            "app passwords are off on this host: policy.app_passwords is false and no \
             [[policy.rule]] allows them (ask the administrator)"
                .to_owned(),
        ));
    }
    if let Some(problem) = record::label_problem(&new.label) {
        return Some(DaemonError::BadRequest(problem));
    }
    if let Some(problem) = app_password::services_problem(&new.services) {
        return Some(DaemonError::BadRequest(problem));
    }
    match new.expires_in {
        Some(0) => Some(DaemonError::BadRequest(
            "expires_in must be at least 1 second".to_owned(),
        )),
        Some(secs) if secs > MAX_EXPIRES_IN => Some(DaemonError::BadRequest(format!(
            "expires_in may be at most {MAX_EXPIRES_IN} seconds (5 years), got {secs}; \
             leave it out for an app password that does not expire"
        ))),
        _ => None,
    }
}

/// Makes an app password (the proof was checked) and shows it once.
pub async fn add(
    shared: &Arc<Shared>,
    caller: Caller,
    user: &UserName,
    new: NewAppPassword,
) -> Response {
    if let Some(refused) = refusal(shared, &new) {
        return refused.response();
    }
    let uid = caller.uid;
    let now = shared.decisions.now().secs();
    let expires_at = new.expires_in.map(|secs| now.saturating_add(secs));
    let (label, services, target) = (new.label.clone(), new.services.clone(), user.clone());
    let made = shared
        .blocking_hashing(caller, move |d| {
            let shown = app_password::generate()?;
            let stored = AppPassword::new(&label, &shown, services, now, expires_at)?;
            d.add_app_password(&target, stored)?;
            Ok(shown)
        })
        .await;
    match made {
        Ok(shown) => {
            audit(shared, AuditKind::MfaSetupSucceeded, user, uid, &new.label);
            let what = format!("An app password `{}` was made", new.label);
            notify_others(shared, CallerClass::of(uid), user, &what, None);
            Response::AppPassword {
                label: new.label,
                password: Secret::from(shown),
                services: new.services,
                expires_at,
            }
        }
        Err(e @ (DaemonError::BadRequest(_) | DaemonError::Policy(_))) => e.response(),
        Err(e) => internal(&e),
    }
}

/// Removes the app password labelled `label`.
pub async fn remove(shared: &Arc<Shared>, uid: u32, user: &UserName, label: &str) -> Response {
    let wanted = label.to_owned();
    let removed = shared
        .for_user(uid, user, move |d, u| d.remove_app_password(u, &wanted))
        .await;
    match removed {
        Ok(true) => {
            audit(shared, AuditKind::FactorRemoved, user, uid, label);
            let what = format!("The app password `{label}` was removed");
            notify_others(shared, CallerClass::of(uid), user, &what, None);
            Response::Ok {
                message: format!("removed the app password `{label}` of {user}"),
            }
        }
        Ok(false) => failed(
            FailureKind::NotEnrolled,
            format!(
                "{user} has no app password labelled `{label}`; `mfa-enroll app-password list` \
                 lists them"
            ),
        ),
        Err(e) => internal(&e),
    }
}

/// Answers `pam_mfa.so app_password` with one `Done`, or a refusal of a malformed request.
pub async fn sign_in(
    shared: &Arc<Shared>,
    conn: &mut Connection,
    auth: AuthRequest,
    password: Secret,
) -> Result<(), FrameError> {
    match check_app_password(shared, auth, password, conn.caller).await {
        Ok(outcome) => conn.send(&Step::Done { outcome }).await,
        Err(e) => conn.send(&e.response()).await,
    }
}
