//! The account page's API: sign in with a passkey, then list and remove passkeys, trusted
//! devices and notified browsers. The session is a token the page keeps in memory and sends
//! in each body; no cookie, so another site's page cannot ride on it.

use axum::extract::State;
use axum::response::Response;
use mfa_proto::web::{ManageItem, WebRequest, WebResponse};
use serde::Deserialize;
use serde_json::Value;

use crate::api::{JsonBody, Peer, ask, object};
use crate::error::ApiError;
use crate::link;
use crate::state::AppState;

/// Longest account name the page may send (the daemon's own limit).
const MAX_USER_LEN: usize = 256;

/// The body of `POST /api/account/begin`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Begin {
    user: String,
}

/// `POST /api/account/begin`: the passkey challenge for the named account.
pub(crate) async fn begin(
    State(state): State<AppState>,
    Peer(from): Peer,
    JsonBody(body): JsonBody<Begin>,
) -> Result<Response, ApiError> {
    let user = body.user.trim().to_owned();
    if user.is_empty() || user.len() > MAX_USER_LEN || user.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "`user` must be the name of your account".to_owned(),
        ));
    }
    let request = WebRequest::ManageBegin { user, from };
    ask(&state, request, |a| {
        matches!(a, WebResponse::ManageChallenge { .. })
    })
    .await
}

/// The body of `POST /api/account/finish`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Finish {
    token: String,
    assertion: Value,
}

/// `POST /api/account/finish`: the signed challenge; the account's page when it verifies.
pub(crate) async fn finish(
    State(state): State<AppState>,
    Peer(from): Peer,
    JsonBody(body): JsonBody<Finish>,
) -> Result<Response, ApiError> {
    let token = checked(&body.token)?;
    let assertion = object(body.assertion, "assertion")?;
    let request = WebRequest::ManageFinish {
        token,
        assertion,
        from,
    };
    ask(&state, request, |a| matches!(a, WebResponse::Managing(_))).await
}

/// The body of `POST /api/account/show` and `/end`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionOnly {
    session: String,
}

/// `POST /api/account/show`: the account's page again.
pub(crate) async fn show(
    State(state): State<AppState>,
    Peer(from): Peer,
    JsonBody(body): JsonBody<SessionOnly>,
) -> Result<Response, ApiError> {
    let session = checked(&body.session)?;
    let request = WebRequest::ManageShow { session, from };
    ask(&state, request, |a| matches!(a, WebResponse::Managing(_))).await
}

/// The body of `POST /api/account/remove`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Remove {
    session: String,
    item: ManageItem,
}

/// `POST /api/account/remove`: removes one passkey, device or browser; the page again (or
/// `ended` when the passkey the session rests on was the one removed).
pub(crate) async fn remove(
    State(state): State<AppState>,
    Peer(from): Peer,
    JsonBody(body): JsonBody<Remove>,
) -> Result<Response, ApiError> {
    let session = checked(&body.session)?;
    let request = WebRequest::ManageRemove {
        session,
        item: body.item,
        from,
    };
    ask(&state, request, |a| {
        matches!(a, WebResponse::Managing(_) | WebResponse::Ended)
    })
    .await
}

/// `POST /api/account/end`: signs out.
pub(crate) async fn end(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<SessionOnly>,
) -> Result<Response, ApiError> {
    let session = checked(&body.session)?;
    let request = WebRequest::ManageEnd { session };
    ask(&state, request, |a| matches!(a, WebResponse::Ended)).await
}

fn checked(token: &str) -> Result<String, ApiError> {
    link::checked(token)
        .map(str::to_owned)
        .ok_or(ApiError::NotFound)
}
