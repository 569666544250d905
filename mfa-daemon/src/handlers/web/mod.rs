//! Requests from `mfa-web` on the web socket: enrollment links, approval pages. The web
//! process carries what a browser sent; everything is checked here: the link or request
//! must be open, the number right, and the passkey's answer must verify against the
//! challenge kept with that one link or request.

mod manage;

use std::sync::Arc;

use crate::delivery::webpush::{Subscription, WebPush};
use data_encoding::BASE64URL_NOPAD;
use mfa_core::passkey::{PasskeyFactor, PushTarget};
use mfa_proto::FrameError;
use mfa_proto::web::{WebFailure, WebRequest, WebResponse};
use serde_json::Value;
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PublicKeyCredential, RegisterPublicKeyCredential, Uuid,
};

use crate::clock::UnixTime;

use crate::app::Shared;
use crate::audit::{AuditEvent, AuditKind, AuditOutcome};
use crate::connection::Connection;
use crate::decisions::Decider;
use crate::error::DaemonError;
use crate::service::notices::notify_others;
use crate::store::CallerClass;
use crate::username::UserName;
use crate::web::{ApprovalEnd, Web, token_shape_ok};

/// How long `mfa-web` may keep a connection idle between requests.
const IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// Answers `mfa-web`'s requests on one connection until it closes.
pub async fn serve(shared: Arc<Shared>, mut conn: Connection) {
    loop {
        let request = match conn.read_as::<WebRequest>(IDLE).await {
            Ok(request) => request,
            Err(FrameError::Closed | FrameError::Timeout | FrameError::Truncated) => return,
            Err(e) => {
                let reply = failed(WebFailure::BadRequest, &e.to_string());
                let _ = conn.send(&reply).await;
                return;
            }
        };
        let reply = match &shared.web {
            Some(web) => answer(&shared, web, request).await,
            None => failed(
                WebFailure::NotFound,
                "the web pages are not configured ([web])",
            ),
        };
        if conn.send(&reply).await.is_err() {
            return;
        }
    }
}

fn failed(kind: WebFailure, message: &str) -> WebResponse {
    WebResponse::Failed {
        kind,
        message: message.to_owned(),
    }
}

/// The browser's WebAuthn JSON as the verifier's type, or the refusal naming `what` it is
/// not.
fn parse<T: serde::de::DeserializeOwned>(json: Value, what: &str) -> Result<T, WebResponse> {
    serde_json::from_value(json).map_err(|_| {
        failed(
            WebFailure::BadRequest,
            &format!("the {what} is not a WebAuthn {what}"),
        )
    })
}

fn not_found() -> WebResponse {
    failed(
        WebFailure::NotFound,
        "this link is not valid any more: it expired or was used",
    )
}

fn internal(e: &dyn std::fmt::Display) -> WebResponse {
    tracing::error!("web request failed: {e}");
    failed(
        WebFailure::Internal,
        "the daemon failed; nothing was changed",
    )
}

async fn answer(shared: &Arc<Shared>, web: &Web, request: WebRequest) -> WebResponse {
    let link = match &request {
        WebRequest::EnrollmentOpen { token, .. } | WebRequest::EnrollmentFinish { token, .. } => {
            Some(token)
        }
        WebRequest::ApprovalOpen { id, .. }
        | WebRequest::ApprovalNumber { id, .. }
        | WebRequest::ApprovalFinish { id, .. }
        | WebRequest::ApprovalDeny { id, .. } => Some(id),
        WebRequest::PushSubscribe { link, .. } => Some(link),
        WebRequest::ManageFinish { token, .. } => Some(token),
        WebRequest::ManageShow { session, .. }
        | WebRequest::ManageRemove { session, .. }
        | WebRequest::ManageEnd { session } => Some(session),
        WebRequest::PushKey | WebRequest::ManageBegin { .. } => None,
    };
    if link.is_some_and(|l| !token_shape_ok(l)) {
        return not_found();
    }
    let now = shared.decisions.now();
    match request {
        WebRequest::EnrollmentOpen { token, .. } => open_enrollment(shared, web, &token).await,
        WebRequest::EnrollmentFinish {
            token, credential, ..
        } => finish_enrollment(shared, web, &token, credential).await,
        WebRequest::ApprovalOpen { id, .. } => match web.approvals.view(&id, now) {
            Some(view) => WebResponse::Approval(view),
            None => not_found(),
        },
        WebRequest::ApprovalNumber { id, number, from } => {
            approval_number(shared, web, &id, number, &from).await
        }
        WebRequest::ApprovalFinish {
            id,
            assertion,
            from,
        } => finish_approval(shared, web, &id, assertion, &from).await,
        WebRequest::ApprovalDeny { id, not_me, from } => deny(shared, web, &id, not_me, &from),
        WebRequest::PushSubscribe {
            link, subscription, ..
        } => subscribe(shared, web, &link, &subscription).await,
        WebRequest::PushKey => WebResponse::PushKey {
            key: web.push.as_ref().map(WebPush::public_key_base64url),
        },
        WebRequest::ManageBegin { user, .. } => manage::begin(shared, web, &user).await,
        WebRequest::ManageFinish {
            token,
            assertion,
            from,
        } => manage::finish(shared, web, &token, assertion, &from).await,
        WebRequest::ManageShow { session, .. } => manage::show(shared, web, &session).await,
        WebRequest::ManageRemove {
            session,
            item,
            from,
        } => manage::remove(shared, web, &session, item, &from).await,
        WebRequest::ManageEnd { session } => manage::end(web, &session),
    }
}

/// Keeps the browser's push subscription for the user whose enrollment link the page was
/// opened with (open, or just used to add a passkey), or whose account page it shows.
async fn subscribe(
    shared: &Arc<Shared>,
    web: &Web,
    link: &str,
    subscription: &Value,
) -> WebResponse {
    let Some(push) = &web.push else {
        return failed(
            WebFailure::NotFound,
            "notifications are not configured on this host",
        );
    };
    let now = shared.decisions.now();
    // Only an enrollment link (it reaches the user alone, after their proof) or an account
    // page's session (opened with their passkey). An approval link is shown at the sign-in
    // prompt, to whoever is signing in, so it must not let a browser subscribe to the
    // user's sign-ins.
    let user = web
        .links
        .subscriber_of(link, now)
        .or_else(|| web.manage.user_of(link, now).map(|(user, _)| user));
    let Some(user) = user else {
        return not_found();
    };
    let Ok(parsed) = Subscription::from_browser_json(&subscription.to_string()) else {
        return failed(
            WebFailure::BadRequest,
            "the subscription is not a PushSubscription",
        );
    };
    if let Err(e) = push.accepts(&parsed) {
        return failed(WebFailure::BadRequest, &e.to_string());
    }
    let target = PushTarget {
        endpoint: parsed.endpoint,
        p256dh: parsed.p256dh,
        auth: parsed.auth,
        added_at: now.secs(),
    };
    match for_web(shared, &user, move |d, u| d.add_push_target(u, target)).await {
        Ok(()) => WebResponse::Subscribed,
        Err(e) => internal(&e),
    }
}

/// Runs `work` on `user`'s record on a blocking thread, in the users' share of the store
/// (the web process is an unprivileged caller, never root's).
async fn for_web<T: Send + 'static>(
    shared: &Arc<Shared>,
    user: &UserName,
    work: impl FnOnce(&Decider, &UserName) -> Result<T, DaemonError> + Send + 'static,
) -> Result<T, DaemonError> {
    let user = user.clone();
    shared
        .blocking(CallerClass::User, move |d| work(d, &user))
        .await
}

/// The WebAuthn user handle of `user`: stable, and saying nothing of the name.
fn user_handle(user: &UserName) -> Uuid {
    let digest = Sha256::digest(format!("pam-mfa passkey user\0{user}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

/// The user's passkeys in the verifier's form (a stored one it cannot read is skipped).
fn verifier_keys(keys: &[PasskeyFactor]) -> Vec<(String, Passkey)> {
    keys.iter()
        .filter_map(|k| {
            let key = serde_json::from_value::<Passkey>(k.credential.clone()).ok()?;
            Some((k.label.clone(), key))
        })
        .collect()
}

async fn open_enrollment(shared: &Arc<Shared>, web: &Web, token: &str) -> WebResponse {
    let now = shared.decisions.now();
    let Some((user, label)) = web.links.user_of(token, now) else {
        return not_found();
    };
    let keys = match for_web(shared, &user, |d, u| d.passkeys(u)).await {
        Ok(keys) => keys,
        Err(e) => return internal(&e),
    };
    let exclude = verifier_keys(&keys)
        .into_iter()
        .map(|(_, k)| k.cred_id().clone())
        .collect::<Vec<_>>();
    let started =
        web.verifier
            .start_passkey_registration(user_handle(&user), &user, &user, Some(exclude));
    let (options, registration) = match started {
        Ok(started) => started,
        Err(e) => return internal(&e),
    };
    if !web.links.begin(token, registration) {
        return not_found();
    }
    match serde_json::to_value(&options) {
        Ok(options) => WebResponse::Enrollment {
            user: user.to_string(),
            label,
            host: web.options.host.clone(),
            options,
        },
        Err(e) => internal(&e),
    }
}

fn audit_web(
    shared: &Shared,
    event: AuditKind,
    user: &str,
    outcome: AuditOutcome,
    what: Audit<'_>,
) {
    shared.audit.record(&AuditEvent {
        event,
        user,
        service: Some("mfa-web"),
        source: Some(what.from),
        factor: Some("passkey"),
        label: what.label,
        outcome,
        reason: what.reason,
        ..AuditEvent::default()
    });
}

/// Audits an approval refused for `reason` (the request is over).
fn audit_refused(shared: &Shared, user: &str, from: &str, reason: &str) {
    let what = Audit {
        from,
        label: None,
        reason: Some(reason),
    };
    audit_web(
        shared,
        AuditKind::ApprovalRefused,
        user,
        AuditOutcome::Failure,
        what,
    );
}

/// What an audit line of the web pages says besides its kind.
#[derive(Debug, Clone, Copy)]
struct Audit<'a> {
    from: &'a str,
    label: Option<&'a str>,
    reason: Option<&'a str>,
}

async fn finish_enrollment(
    shared: &Arc<Shared>,
    web: &Web,
    token: &str,
    credential: Value,
) -> WebResponse {
    let credential: RegisterPublicKeyCredential = match parse(credential, "credential") {
        Ok(credential) => credential,
        Err(refusal) => return refusal,
    };
    let now = shared.decisions.now();
    let Some((user, label, registration)) = web.links.take(token, now) else {
        return not_found();
    };
    let passkey = match web
        .verifier
        .finish_passkey_registration(&credential, &registration)
    {
        Ok(passkey) => passkey,
        Err(e) => {
            web.links.refused(token);
            let what = Audit {
                from: "web",
                label: Some(&label),
                reason: Some("not_verified"),
            };
            audit_web(
                shared,
                AuditKind::MfaSetupFailed,
                &user,
                AuditOutcome::Failure,
                what,
            );
            tracing::info!("passkey for {user} refused: {e}");
            return failed(WebFailure::NotVerified, "the passkey could not be verified");
        }
    };
    let aaguid = aaguid_of(&credential);
    let factor = match stored_form(&passkey, &label, aaguid, now.secs()) {
        Ok(factor) => factor,
        Err(e) => return internal(&e),
    };
    let added = for_web(shared, &user, move |d, u| d.add_passkey(u, factor)).await;
    match added {
        Ok(crate::decisions::PasskeyAdded::Done) => {
            web.links.enrolled(token, now);
            let what = Audit {
                from: "web",
                label: Some(&label),
                reason: None,
            };
            audit_web(
                shared,
                AuditKind::MfaSetupSucceeded,
                &user,
                AuditOutcome::Success,
                what,
            );
            let text = format!("A passkey ({label}) was added to your sign-in.");
            notify_others(&Arc::clone(shared), CallerClass::User, &user, &text, None);
            WebResponse::Enrolled { label }
        }
        Ok(crate::decisions::PasskeyAdded::Duplicate) => failed(
            WebFailure::BadRequest,
            "this passkey is already registered under another label",
        ),
        Err(e) if !e.is_internal() => failed(WebFailure::BadRequest, &e.to_string()),
        Err(e) => internal(&e),
    }
}

/// The authenticator's model (AAGUID) from the verified credential's authenticator data,
/// when it names one: all zeros means the browser or the authenticator withheld it.
fn aaguid_of(credential: &RegisterPublicKeyCredential) -> Option<String> {
    /// Flag of authenticator data that says attested credential data follows.
    const ATTESTED: u8 = 0x40;
    let object: std::collections::BTreeMap<String, serde_cbor_2::Value> =
        serde_cbor_2::from_slice(credential.response.attestation_object.as_ref()).ok()?;
    let Some(serde_cbor_2::Value::Bytes(data)) = object.get("authData") else {
        return None;
    };
    // rpIdHash (32 bytes), flags (1), signCount (4), then the AAGUID (16).
    if data.get(32)? & ATTESTED == 0 {
        return None;
    }
    let aaguid: [u8; 16] = data.get(37..53)?.try_into().ok()?;
    (aaguid != [0; 16]).then(|| Uuid::from_bytes(aaguid).hyphenated().to_string())
}

fn stored_form(
    passkey: &Passkey,
    label: &str,
    aaguid: Option<String>,
    now: u64,
) -> Result<PasskeyFactor, serde_json::Error> {
    Ok(PasskeyFactor {
        label: label.to_owned(),
        id: BASE64URL_NOPAD.encode(passkey.cred_id().as_ref()),
        aaguid,
        enrolled_at: now,
        last_used: None,
        credential: serde_json::to_value(passkey)?,
    })
}

async fn approval_number(
    shared: &Arc<Shared>,
    web: &Web,
    id: &str,
    number: u8,
    from: &str,
) -> WebResponse {
    let now = shared.decisions.now();
    let user = match web.approvals.check_number(id, number, now) {
        None => return not_found(),
        Some(Err(user)) => {
            audit_refused(shared, &user, from, "wrong_number");
            return failed(
                WebFailure::WrongNumber,
                "that is not the number shown at the sign-in; the sign-in was denied",
            );
        }
        Some(Ok(user)) => user,
    };
    let keys = match for_web(shared, &user, |d, u| d.passkeys(u)).await {
        Ok(keys) => verifier_keys(&keys),
        Err(e) => return internal(&e),
    };
    let keys: Vec<Passkey> = keys.into_iter().map(|(_, k)| k).collect();
    let (options, authentication) = match web.verifier.start_passkey_authentication(&keys) {
        Ok(started) => started,
        Err(e) => return internal(&e),
    };
    if !web.approvals.begin(id, authentication) {
        return not_found();
    }
    match serde_json::to_value(&options) {
        Ok(options) => WebResponse::Challenge { options },
        Err(e) => internal(&e),
    }
}

async fn finish_approval(
    shared: &Arc<Shared>,
    web: &Web,
    id: &str,
    assertion: Value,
    from: &str,
) -> WebResponse {
    let now = shared.decisions.now();
    let taken = assertion_for(assertion, || web.approvals.take(id, now));
    let (assertion, (user, authentication)) = match taken {
        Ok(taken) => taken,
        Err(refusal) => return refusal,
    };
    match signed_by(shared, web, &user, &assertion, &authentication, now).await {
        Ok(label) => {
            web.approvals.end(id, ApprovalEnd::Approved(label), now);
            WebResponse::Approved
        }
        Err(Unsigned::Refused(reason)) => {
            web.approvals.end(id, ApprovalEnd::NotVerified, now);
            audit_refused(shared, &user, from, reason);
            failed(
                WebFailure::NotVerified,
                "the passkey's answer was refused; the sign-in was denied",
            )
        }
        Err(Unsigned::Failed(e)) => internal(&e),
    }
}

/// The browser's assertion and the challenge's state `take` takes out of its link, or the
/// refusal. A malformed assertion is refused first, so that it does not spend the challenge.
fn assertion_for<S>(
    json: Value,
    take: impl FnOnce() -> Option<S>,
) -> Result<(PublicKeyCredential, S), WebResponse> {
    let assertion = parse(json, "assertion")?;
    let state = take().ok_or_else(not_found)?;
    Ok((assertion, state))
}

/// Why an assertion did not sign in.
#[derive(Debug)]
enum Unsigned {
    /// Refused, with the audit reason.
    Refused(&'static str),
    /// The daemon failed.
    Failed(DaemonError),
}

/// Checks `assertion` against the challenge of `authentication`, made for `user`'s
/// passkeys, and keeps the passkey's new sign count and time of use; the passkey's label.
async fn signed_by(
    shared: &Arc<Shared>,
    web: &Web,
    user: &UserName,
    assertion: &PublicKeyCredential,
    authentication: &PasskeyAuthentication,
    now: UnixTime,
) -> Result<String, Unsigned> {
    let result = web
        .verifier
        .finish_passkey_authentication(assertion, authentication)
        .map_err(|e| {
            tracing::info!("passkey answer for {user} refused: {e}");
            Unsigned::Refused(refusal_reason(&e))
        })?;
    let stored = for_web(shared, user, |d, u| d.passkeys(u))
        .await
        .map_err(Unsigned::Failed)?;
    let Some((label, mut key)) = verifier_keys(&stored)
        .into_iter()
        .find(|(_, k)| k.cred_id() == result.cred_id())
    else {
        return Err(Unsigned::Refused("unknown_credential"));
    };
    key.update_credential(&result);
    let key_id = BASE64URL_NOPAD.encode(result.cred_id().as_ref());
    let credential = serde_json::to_value(&key).ok();
    for_web(shared, user, move |d, u| {
        d.passkey_used(u, &key_id, credential, now.secs())
    })
    .await
    .map_err(Unsigned::Failed)?;
    Ok(label)
}

/// The audit reason of a refused assertion.
fn refusal_reason(e: &webauthn_rs::prelude::WebauthnError) -> &'static str {
    use webauthn_rs::prelude::WebauthnError as E;
    match e {
        E::CredentialPossibleCompromise => "sign_count_went_backwards",
        E::InvalidRPOrigin => "wrong_origin",
        E::MismatchedChallenge => "wrong_challenge",
        _ => "not_verified",
    }
}

fn deny(shared: &Arc<Shared>, web: &Web, id: &str, not_me: bool, from: &str) -> WebResponse {
    let now = shared.decisions.now();
    let Some(user) = web.approvals.end(id, ApprovalEnd::Denied { not_me }, now) else {
        return not_found();
    };
    let reason = not_me.then_some("not_me");
    let what = Audit {
        from,
        label: None,
        reason,
    };
    audit_web(
        shared,
        AuditKind::SignInDeniedByUser,
        &user,
        AuditOutcome::Ok,
        what,
    );
    if not_me {
        let text = format!(
            "A sign-in to {} was reported as not yours and denied. If you did not try to \
             sign in, someone may know your password.",
            web.options.host
        );
        notify_others(shared, CallerClass::User, &user, &text, None);
    }
    WebResponse::Denied
}
