//! What an API call answers when it does not succeed: an HTTP status and
//! `{"error": kind, "message": words}`. [`ApiError::into_response`] is the one place a
//! failure becomes a status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mfa_proto::web::WebFailure;
use serde::Serialize;

use crate::daemon::DaemonError;

/// A refused or failed API call.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// The daemon refused.
    #[error("{message}")]
    Refused { kind: WebFailure, message: String },
    /// The daemon could not be asked.
    #[error("the sign-in service is not answering; try again in a minute")]
    Unavailable(#[source] DaemonError),
    /// The daemon answered with something this call does not take.
    #[error("the sign-in service gave an answer this page does not understand")]
    OutOfTurn,
    /// The link's token or id cannot be one the daemon made.
    #[error("this link is not valid: it may have expired or been used already")]
    NotFound,
    /// The body is not the JSON the call takes.
    #[error("{0}")]
    BadRequest(String),
    /// The body is over the limit.
    #[error("the request is too large")]
    TooLarge,
    /// A POST from a page of another site.
    #[error("requests from other sites are refused")]
    CrossOrigin,
    /// A JSON call without a JSON body.
    #[error("the body must be application/json")]
    NotJson,
    /// Too many requests from this address.
    #[error("too many requests; try again in {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// The request took too long.
    #[error("the request took too long")]
    Timeout,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: String,
}

impl ApiError {
    /// The status and the `error` word.
    fn status(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Refused { kind, .. } => failure_status(*kind),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::OutOfTurn => (StatusCode::BAD_GATEWAY, "internal"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::CrossOrigin => (StatusCode::FORBIDDEN, "cross_origin"),
            ApiError::NotJson => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "not_json"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Timeout => (StatusCode::REQUEST_TIMEOUT, "timeout"),
        }
    }
}

/// The status and `error` word for a daemon's refusal. `NotAuthorized` means the daemon does
/// not take this process as `mfa-web` (a misconfigured `[web] user`): the server's fault.
pub(crate) fn failure_status(kind: WebFailure) -> (StatusCode, &'static str) {
    match kind {
        WebFailure::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        WebFailure::WrongNumber => (StatusCode::FORBIDDEN, "wrong_number"),
        WebFailure::NotVerified => (StatusCode::FORBIDDEN, "not_verified"),
        WebFailure::BadRequest => (StatusCode::BAD_REQUEST, "bad_request"),
        WebFailure::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        WebFailure::NotAuthorized => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        WebFailure::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error) = self.status();
        match &self {
            ApiError::Unavailable(cause) => tracing::error!("{cause}"),
            ApiError::Refused {
                kind: WebFailure::NotAuthorized,
                message,
            } => tracing::error!(
                "the daemon does not take this process as mfa-web ({message}): check [web] user"
            ),
            ApiError::OutOfTurn => tracing::error!("the daemon answered out of turn"),
            _ => {}
        }
        let retry_after = match &self {
            ApiError::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        };
        let message = self.to_string();
        let mut response = json(status, &Body { error, message });
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// `value` as a JSON response with `status`.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        // Our own types always serialize; a failure is a bug, not the client's.
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
