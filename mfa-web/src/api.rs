//! The JSON API: each call is one [`WebRequest`] to the daemon, with the browser's address,
//! and its answer as JSON. Links and bodies are checked for shape here, so that a malformed
//! call never reaches the daemon; what they mean is the daemon's to decide.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::Response;
use mfa_proto::web::{WebRequest, WebResponse};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::client_addr::client_addr;
use crate::error::{ApiError, json as json_response};
use crate::link;
use crate::state::AppState;

/// The browser's address, as the daemon gets it in `from`.
pub(crate) struct Peer(pub(crate) String);

impl FromRequestParts<AppState> for Peer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ip = client_addr(state.forwarded_for, &parts.extensions, &parts.headers);
        Ok(Peer(ip.to_string()))
    }
}

/// A link's token or id from the path, of a shape the daemon could have made.
pub(crate) struct Link(String);

impl FromRequestParts<AppState> for Link {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let path: Result<Path<String>, PathRejection> =
            Path::from_request_parts(parts, state).await;
        let Ok(Path(text)) = path else {
            return Err(ApiError::NotFound);
        };
        link::checked(&text)
            .map(|t| Link(t.to_owned()))
            .ok_or(ApiError::NotFound)
    }
}

/// A JSON body of type `T`, sent as `application/json` (which a page of another site cannot
/// send without asking first) and within the body limit.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::NotJson);
        }
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
                    _ => ApiError::BadRequest("the body could not be read".to_owned()),
                })?;
        let bad = |e: serde_json::Error| {
            ApiError::BadRequest(format!("the body is not the JSON this call takes: {e}"))
        };
        // An object only: serde would also take `[47]` for `{"number": 47}`.
        let value: Value = serde_json::from_slice(&bytes).map_err(bad)?;
        if !value.is_object() {
            return Err(ApiError::BadRequest(
                "the body must be a JSON object".to_owned(),
            ));
        }
        serde_json::from_value(value).map(JsonBody).map_err(bad)
    }
}

/// Asks the daemon and turns its answer into the response; `fits` says which answers the
/// call takes.
pub(crate) async fn ask(
    state: &AppState,
    request: WebRequest,
    fits: fn(&WebResponse) -> bool,
) -> Result<Response, ApiError> {
    let answer = state
        .daemon
        .call(&request)
        .await
        .map_err(ApiError::Unavailable)?;
    if let WebResponse::Failed { kind, message } = answer {
        return Err(ApiError::Refused { kind, message });
    }
    if !fits(&answer) {
        return Err(ApiError::OutOfTurn);
    }
    Ok(json_response(StatusCode::OK, &answer_json(answer)))
}

/// The JSON a page gets for an answer.
fn answer_json(answer: WebResponse) -> Value {
    match answer {
        WebResponse::Enrollment {
            user,
            host,
            label,
            options,
        } => json!({"user": user, "host": host, "label": label, "options": options}),
        WebResponse::Enrolled { label } => json!({"status": "enrolled", "label": label}),
        WebResponse::Approval(view) => json!({"status": "open", "approval": view}),
        WebResponse::Challenge { options } => json!({"status": "challenge", "options": options}),
        WebResponse::Approved => json!({"status": "approved"}),
        WebResponse::Denied => json!({"status": "denied"}),
        WebResponse::Subscribed => json!({"status": "subscribed"}),
        WebResponse::PushKey { key } => json!({"key": key}),
        WebResponse::ManageChallenge { token, options } => {
            json!({"status": "challenge", "token": token, "options": options})
        }
        WebResponse::Managing(view) => json!({"status": "account", "account": view}),
        WebResponse::Ended => json!({"status": "ended"}),
        WebResponse::Failed { kind, message } => json!({"error": kind, "message": message}),
    }
}

/// `POST /api/enroll/{token}`: who enrolls, and the options for `credentials.create`.
pub(crate) async fn enrollment_open(
    State(state): State<AppState>,
    Link(token): Link,
    Peer(from): Peer,
) -> Result<Response, ApiError> {
    let request = WebRequest::EnrollmentOpen { token, from };
    ask(&state, request, |a| {
        matches!(a, WebResponse::Enrollment { .. })
    })
    .await
}

/// The body of `POST /api/enroll/{token}/finish`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrollmentFinish {
    credential: Value,
}

/// `POST /api/enroll/{token}/finish`: the new credential, for the daemon to check and store.
pub(crate) async fn enrollment_finish(
    State(state): State<AppState>,
    Link(token): Link,
    Peer(from): Peer,
    JsonBody(body): JsonBody<EnrollmentFinish>,
) -> Result<Response, ApiError> {
    let credential = object(body.credential, "credential")?;
    let request = WebRequest::EnrollmentFinish {
        token,
        credential,
        from,
    };
    ask(&state, request, |a| {
        matches!(a, WebResponse::Enrolled { .. })
    })
    .await
}

/// `POST /api/approve/{id}`: what is being approved.
pub(crate) async fn approval_open(
    State(state): State<AppState>,
    Link(id): Link,
    Peer(from): Peer,
) -> Result<Response, ApiError> {
    let request = WebRequest::ApprovalOpen { id, from };
    ask(&state, request, |a| matches!(a, WebResponse::Approval(_))).await
}

/// The body of `POST /api/approve/{id}/number`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Number {
    number: u8,
}

/// `POST /api/approve/{id}/number`: the number the user read at the sign-in prompt; the
/// options for `credentials.get` when it is right.
pub(crate) async fn approval_number(
    State(state): State<AppState>,
    Link(id): Link,
    Peer(from): Peer,
    JsonBody(body): JsonBody<Number>,
) -> Result<Response, ApiError> {
    let request = WebRequest::ApprovalNumber {
        id,
        number: body.number,
        from,
    };
    ask(&state, request, |a| {
        matches!(a, WebResponse::Challenge { .. } | WebResponse::Denied)
    })
    .await
}

/// The body of `POST /api/approve/{id}/finish`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApprovalFinish {
    assertion: Value,
}

/// `POST /api/approve/{id}/finish`: the signed challenge.
pub(crate) async fn approval_finish(
    State(state): State<AppState>,
    Link(id): Link,
    Peer(from): Peer,
    JsonBody(body): JsonBody<ApprovalFinish>,
) -> Result<Response, ApiError> {
    let assertion = object(body.assertion, "assertion")?;
    let request = WebRequest::ApprovalFinish {
        id,
        assertion,
        from,
    };
    ask(&state, request, |a| matches!(a, WebResponse::Approved)).await
}

/// The body of `POST /api/approve/{id}/deny`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Deny {
    #[serde(default)]
    not_me: bool,
}

/// `POST /api/approve/{id}/deny`: "Deny", or "This wasn't me" with `not_me`.
pub(crate) async fn approval_deny(
    State(state): State<AppState>,
    Link(id): Link,
    Peer(from): Peer,
    JsonBody(body): JsonBody<Deny>,
) -> Result<Response, ApiError> {
    let request = WebRequest::ApprovalDeny {
        id,
        not_me: body.not_me,
        from,
    };
    ask(&state, request, |a| matches!(a, WebResponse::Denied)).await
}

/// The body of `POST /api/push/subscribe`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Subscribe {
    link: String,
    subscription: Value,
}

/// `POST /api/push/subscribe`: this browser's push subscription, for the user of the link
/// the page was opened with.
pub(crate) async fn push_subscribe(
    State(state): State<AppState>,
    Peer(from): Peer,
    JsonBody(body): JsonBody<Subscribe>,
) -> Result<Response, ApiError> {
    let link = link::checked(&body.link)
        .ok_or(ApiError::NotFound)?
        .to_owned();
    let subscription = object(body.subscription, "subscription")?;
    let request = WebRequest::PushSubscribe {
        link,
        subscription,
        from,
    };
    ask(&state, request, |a| matches!(a, WebResponse::Subscribed)).await
}

/// `GET /api/push/key`: the key to subscribe with, or `null` without Web Push.
pub(crate) async fn push_key(State(state): State<AppState>) -> Result<Response, ApiError> {
    ask(&state, WebRequest::PushKey, |a| {
        matches!(a, WebResponse::PushKey { .. })
    })
    .await
}

/// `value` if it is a JSON object: the browser's objects are, and anything else is a page
/// that is not ours.
pub(crate) fn object(value: Value, field: &str) -> Result<Value, ApiError> {
    if value.is_object() {
        Ok(value)
    } else {
        Err(ApiError::BadRequest(format!("`{field}` must be an object")))
    }
}
