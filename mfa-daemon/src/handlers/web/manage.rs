//! The account page: after a passkey check, a user sees their passkeys, trusted devices and
//! notified browsers, and removes what they no longer trust. The web process is an
//! unprivileged caller here too: removing a passkey keeps `policy.min_factors`.

use std::sync::Arc;

use data_encoding::BASE64URL_NOPAD;
use mfa_core::device::DeviceId;
use mfa_core::record::UserRecord;
use mfa_proto::web::{BrowserStatus, ManageItem, ManageView, WebFailure, WebResponse};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::Passkey;

use super::{
    Audit, Unsigned, assertion_for, audit_web, failed, for_web, internal, signed_by, verifier_keys,
};
use crate::app::Shared;
use crate::audit::{AuditKind, AuditOutcome};
use crate::clock::UnixTime;
use crate::decisions::{Removal, Subject};
use crate::handlers::common::{passkeys, trusted_devices};
use crate::service::notices::notify_others;
use crate::store::CallerClass;
use crate::username::{MAX_LEN, UserName};
use crate::web::Web;
use crate::web::manage::ManageRefused;

/// The passkey challenge for the account named `typed`: a real one when it exists and has a
/// passkey, else a decoy of the same shape.
pub(super) async fn begin(shared: &Arc<Shared>, web: &Web, typed: &str) -> WebResponse {
    if typed.is_empty() || typed.len() > MAX_LEN {
        return failed(WebFailure::BadRequest, "type the name of your account");
    }
    let name = typed.to_owned();
    let found = shared
        .blocking(CallerClass::User, move |d| {
            let Some(account) = crate::accounts::resolve(&name) else {
                return Ok(None);
            };
            let keys = d.passkeys(&account.name)?;
            Ok(Some((account.name, keys)))
        })
        .await;
    let now = shared.decisions.now();
    let (user, keys) = match found {
        Ok(Some((user, keys))) => (Some(user), verifier_keys(&keys)),
        Ok(None) => (None, Vec::new()),
        Err(e) => return internal(&e),
    };
    let keys: Vec<Passkey> = keys.into_iter().map(|(_, k)| k).collect();
    let (options, owner) = match user {
        Some(user) if !keys.is_empty() => match web.verifier.start_passkey_authentication(&keys) {
            Ok((options, state)) => match serde_json::to_value(&options) {
                Ok(options) => (options, Some((user, state))),
                Err(e) => return internal(&e),
            },
            Err(e) => return internal(&e),
        },
        _ => match decoy(web, typed) {
            Some(options) => (options, None),
            None => return internal(&"no random challenge could be made"),
        },
    };
    match web.manage.wait(owner, now) {
        Ok(token) => WebResponse::ManageChallenge { token, options },
        Err(refused) => busy(refused),
    }
}

/// Options for `navigator.credentials.get` that look like the verifier's for one passkey
/// (see `webauthn_rs::Webauthn::start_passkey_authentication`: a 5-minute timeout, user
/// verification required, no extensions) and that no authenticator can answer.
fn decoy(web: &Web, typed: &str) -> Option<Value> {
    let mut challenge = [0u8; 32];
    getrandom::fill(&mut challenge).ok()?;
    Some(json!({
        "publicKey": {
            "challenge": BASE64URL_NOPAD.encode(&challenge),
            "timeout": 300_000,
            "rpId": web.options.rp_id,
            "allowCredentials": [{
                "type": "public-key",
                "id": web.manage.decoy_id(typed),
                "transports": ["hybrid", "internal"],
            }],
            "userVerification": "required",
        }
    }))
}

fn busy(refused: ManageRefused) -> WebResponse {
    match refused {
        ManageRefused::Full => failed(WebFailure::RateLimited, &refused.to_string()),
        ManageRefused::Random => internal(&refused),
    }
}

/// Checks the account page's assertion and opens a session.
pub(super) async fn finish(
    shared: &Arc<Shared>,
    web: &Web,
    token: &str,
    assertion: Value,
    from: &str,
) -> WebResponse {
    let now = shared.decisions.now();
    let (assertion, owner) = match assertion_for(assertion, || web.manage.take(token, now)) {
        Ok(taken) => taken,
        Err(refusal) => return refusal,
    };
    // A decoy's answer is refused like a wrong signature, and not audited: no account.
    let Some((user, state)) = owner else {
        return not_verified();
    };
    let label = match signed_by(shared, web, &user, &assertion, &state, now).await {
        Ok(label) => label,
        Err(Unsigned::Refused(reason)) => {
            audit_sign_in(shared, &user, from, AuditOutcome::Failure, Some(reason));
            return not_verified();
        }
        Err(Unsigned::Failed(e)) => return internal(&e),
    };
    let (session, expires) = match web.manage.open(user.clone(), label, now) {
        Ok(opened) => opened,
        Err(refused) => return busy(refused),
    };
    audit_sign_in(shared, &user, from, AuditOutcome::Success, None);
    view(shared, web, &user, session, expires).await
}

fn not_verified() -> WebResponse {
    failed(
        WebFailure::NotVerified,
        "the passkey's answer was refused; sign in again",
    )
}

fn audit_sign_in(
    shared: &Shared,
    user: &str,
    from: &str,
    outcome: AuditOutcome,
    reason: Option<&str>,
) {
    let what = Audit {
        from,
        label: None,
        reason,
    };
    audit_web(shared, AuditKind::AccountPageSignIn, user, outcome, what);
}

/// The session `session`'s page again.
pub(super) async fn show(shared: &Arc<Shared>, web: &Web, session: &str) -> WebResponse {
    let now = shared.decisions.now();
    let Some((user, expires)) = web.manage.user_of(session, now) else {
        return signed_out();
    };
    view(shared, web, &user, session.to_owned(), expires).await
}

fn signed_out() -> WebResponse {
    failed(
        WebFailure::NotFound,
        "you are signed out of the account page; sign in again with your passkey",
    )
}

/// Signs out.
pub(super) fn end(web: &Web, session: &str) -> WebResponse {
    web.manage.end(session);
    WebResponse::Ended
}

async fn view(
    shared: &Arc<Shared>,
    web: &Web,
    user: &UserName,
    session: String,
    expires: UnixTime,
) -> WebResponse {
    let now = shared.decisions.now();
    let record = match load(shared, user).await {
        Ok(record) => record,
        Err(e) => return internal(&e),
    };
    WebResponse::Managing(Box::new(ManageView {
        user: user.to_string(),
        host: web.options.host.clone(),
        session,
        expires_at: expires.secs(),
        passkeys: passkeys(&record),
        devices: trusted_devices(&record, now.secs()),
        browsers: record
            .push
            .iter()
            .map(|t| BrowserStatus {
                id: browser_id(&t.endpoint),
                service: url::Url::parse(&t.endpoint)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_default(),
                added_at: t.added_at,
            })
            .collect(),
    }))
}

async fn load(
    shared: &Arc<Shared>,
    user: &UserName,
) -> Result<UserRecord, crate::error::DaemonError> {
    for_web(shared, user, |d, u| {
        Ok(d.record(&Subject::Account(u.clone()))?)
    })
    .await
}

/// A short id of a push subscription: the page never sees the endpoint, which is a
/// capability to push to the browser.
fn browser_id(endpoint: &str) -> String {
    let digest = Sha256::digest(endpoint.as_bytes());
    BASE64URL_NOPAD.encode(&digest[..9])
}

/// Removes `item` for the session's user and shows the page again.
pub(super) async fn remove(
    shared: &Arc<Shared>,
    web: &Web,
    session: &str,
    item: ManageItem,
    from: &str,
) -> WebResponse {
    let now = shared.decisions.now();
    let Some((user, expires)) = web.manage.user_of(session, now) else {
        return signed_out();
    };
    let outcome = match item {
        ManageItem::Passkey { label } => remove_passkey(shared, web, &user, label, from).await,
        ManageItem::Device {
            key,
            source,
            service,
        } => {
            let device = DeviceId {
                key,
                source,
                service,
            };
            forget_device(shared, &user, device, from).await
        }
        ManageItem::Browser { id } => forget_browser(shared, &user, id).await,
    };
    if let Err(refusal) = outcome {
        return refusal;
    }
    match web.manage.user_of(session, now) {
        Some(_) => view(shared, web, &user, session.to_owned(), expires).await,
        None => WebResponse::Ended,
    }
}

async fn remove_passkey(
    shared: &Arc<Shared>,
    web: &Web,
    user: &UserName,
    label: String,
    from: &str,
) -> Result<(), WebResponse> {
    let min = shared.decisions.policy().min_factors;
    let wanted = label.clone();
    let removed = for_web(shared, user, move |d, u| {
        d.remove_passkey(u, &wanted, Some(min))
    })
    .await;
    match removed {
        Ok(Removal::Removed(())) => {
            let what = Audit {
                from,
                label: Some(&label),
                reason: None,
            };
            audit_web(
                shared,
                AuditKind::FactorRemoved,
                user,
                AuditOutcome::Ok,
                what,
            );
            web.manage.end_resting_on(user, &label);
            let text = format!("The passkey `{label}` was removed on the account page");
            notify_others(shared, CallerClass::User, user, &text, None);
            Ok(())
        }
        Ok(Removal::NotFound) => Err(failed(
            WebFailure::NotFound,
            &format!("there is no passkey labelled `{label}` any more"),
        )),
        Ok(Removal::BelowMinimum(have)) => Err(failed(
            WebFailure::BadRequest,
            &format!(
                "this would leave {} of the {min} factors you must keep; add another first",
                have.saturating_sub(1)
            ),
        )),
        Err(e) => Err(internal(&e)),
    }
}

async fn forget_device(
    shared: &Arc<Shared>,
    user: &UserName,
    device: DeviceId,
    from: &str,
) -> Result<(), WebResponse> {
    let source = device.source.clone();
    match for_web(shared, user, move |d, u| d.forget_device(u, &device)).await {
        Ok(true) => {
            let what = Audit {
                from,
                label: Some(&source),
                reason: None,
            };
            audit_web(
                shared,
                AuditKind::DevicesForgotten,
                user,
                AuditOutcome::Ok,
                what,
            );
            Ok(())
        }
        Ok(false) => Err(failed(
            WebFailure::NotFound,
            "that device is not trusted any more",
        )),
        Err(e) => Err(internal(&e)),
    }
}

async fn forget_browser(
    shared: &Arc<Shared>,
    user: &UserName,
    id: String,
) -> Result<(), WebResponse> {
    let record = load(shared, user).await.map_err(|e| internal(&e))?;
    let Some(endpoint) = record
        .push
        .into_iter()
        .map(|t| t.endpoint)
        .find(|e| browser_id(e) == id)
    else {
        return Err(failed(
            WebFailure::NotFound,
            "that browser is not notified any more",
        ));
    };
    match for_web(shared, user, move |d, u| d.drop_push_target(u, &endpoint)).await {
        Ok(_) => Ok(()),
        Err(e) => Err(internal(&e)),
    }
}
