//! `mfa-enroll passkey` and `mfa-enroll remove passkey`: a one-time link for the browser,
//! waited on until it is used, and removal within `policy.min_factors`.

use std::sync::Arc;

use mfa_proto::{FailureKind, FrameError, Response};

use crate::app::Shared;
use crate::audit::{AuditEvent, AuditKind, AuditOutcome};
use crate::connection::Connection;
use crate::decisions::{Removal, below_minimum};
use crate::handlers::common::internal;
use crate::service::notices::notify_others;
use crate::store::CallerClass;
use crate::username::UserName;
use crate::web::{ENROLL_LINK_LIFE, EnrollEnd};

/// The label of a passkey enrolled without one.
pub const DEFAULT_LABEL: &str = "passkey";

fn failed(kind: FailureKind, message: impl Into<String>) -> Response {
    Response::Failed {
        kind,
        message: message.into(),
    }
}

/// Makes a link, sends it, and waits until the browser used it, it was spent, it expired,
/// or `mfa-enroll` went away (which ends the link too).
pub async fn enroll(
    shared: &Arc<Shared>,
    conn: &mut Connection,
    user: &UserName,
    label: String,
) -> Result<(), FrameError> {
    let Some(web) = &shared.web else {
        let why = "passkeys need the web pages: set [web] in the daemon's config (see the README)";
        return conn.send(&failed(FailureKind::Policy, why)).await;
    };
    let uid = conn.caller.uid;
    let wanted = label.clone();
    let checked = shared
        .for_user(uid, user, move |d, u| d.check_new_passkey(u, &wanted))
        .await;
    if let Err(e) = checked {
        return conn.send(&e.response()).await;
    }
    let now = shared.decisions.now();
    let (token, expires, ended) = match web.links.create(user.clone(), label, now) {
        Ok(link) => link,
        Err(e) => {
            return conn
                .send(&failed(FailureKind::RateLimited, e.to_string()))
                .await;
        }
    };
    let link = Response::PasskeyLink {
        open: web.page("enroll", &token),
        expires_at: expires.secs(),
    };
    conn.send(&link).await?;
    let end = tokio::select! {
        end = tokio::time::timeout(ENROLL_LINK_LIFE, ended) => end.ok().and_then(Result::ok),
        _ = conn.read(ENROLL_LINK_LIFE) => None,
    };
    web.links.remove(&token);
    let response = match end {
        Some(EnrollEnd::Enrolled(label)) => Response::PasskeyEnrolled { label },
        Some(EnrollEnd::Refused) => failed(
            FailureKind::WrongCode,
            "the browser's passkey was refused three times; run `mfa-enroll passkey` again",
        ),
        None => failed(
            FailureKind::Policy,
            "the link expired before a passkey was added; run `mfa-enroll passkey` again",
        ),
    };
    conn.send(&response).await
}

/// Removes the passkey labelled `label`.
pub async fn remove(shared: &Arc<Shared>, uid: u32, user: &UserName, label: &str) -> Response {
    let wanted = label.to_owned();
    let min = shared.decisions.policy().min_factors;
    let min_factors = (uid != 0).then_some(min);
    let removed = shared
        .for_user(uid, user, move |d, u| {
            d.remove_passkey(u, &wanted, min_factors)
        })
        .await;
    match removed {
        Ok(Removal::Removed(())) => {
            shared.audit.record(&AuditEvent {
                event: AuditKind::FactorRemoved,
                user,
                service: Some("mfa-enroll"),
                factor: Some("passkey"),
                label: Some(label),
                outcome: AuditOutcome::Ok,
                uid: Some(uid),
                ..AuditEvent::default()
            });
            // Wherever it is removed, the account page's sessions it opened end with it.
            if let Some(web) = &shared.web {
                web.manage.end_resting_on(user, label);
            }
            let what = format!("The passkey `{label}` was removed");
            notify_others(shared, CallerClass::of(uid), user, &what, None);
            Response::Ok {
                message: format!("removed the passkey `{label}` of {user}"),
            }
        }
        Ok(Removal::NotFound) => failed(
            FailureKind::NotEnrolled,
            format!("{user} has no passkey labelled `{label}`; `mfa-enroll status` lists them"),
        ),
        Ok(Removal::BelowMinimum(have)) => below_minimum(min, have).response(),
        Err(e) => internal(&e),
    }
}
