//! What every response and request goes through: strict headers, a deadline, a per-address
//! rate limit on the API, and no API call from another site's page.

use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::client_addr::client_addr;
use crate::error::ApiError;
use crate::state::AppState;

/// Longest a request may take from its headers to its answer, its body included (against
/// clients that send a body a byte at a time).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Nothing loads from anywhere but here, no inline script or style, no framing, no form
/// posts: the pages are static, and the script talks only to this origin's API.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; manifest-src 'self'; worker-src 'self'; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// A year, the usual HSTS lifetime.
const HSTS: &str = "max-age=31536000";

/// Adds the security headers to every response; `hsts` when the pages are reached over TLS.
pub(crate) async fn headers(State(hsts): State<bool>, request: Request, next: Next) -> Response {
    let mut response = match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    };
    set_security_headers(response.headers_mut(), hsts);
    response
}

/// The headers [`headers`] sets.
pub(crate) fn set_security_headers(headers: &mut HeaderMap, hsts: bool) {
    let fixed: [(HeaderName, &'static str); 7] = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        // The pages carry links' state; nothing here is worth a cache's risk.
        (header::CACHE_CONTROL, "no-store"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
}

/// The API's guard: a POST that says it comes from another origin is refused (a browser
/// always sends `Origin` on a POST; a page elsewhere must not drive a user's approval), then
/// the client's bucket pays for the call.
pub(crate) async fn guard_api(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == Method::POST
        && let Some(origin) = request.headers().get(header::ORIGIN)
        && origin.as_bytes() != state.origin.as_bytes()
    {
        return ApiError::CrossOrigin.into_response();
    }
    let client = client_addr(state.forwarded_for, request.extensions(), request.headers());
    if let Err(wait) = state.limiter.take(client, Instant::now()) {
        tracing::debug!("rate limit: {client}");
        let retry_after = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return ApiError::RateLimited {
            retry_after: retry_after.max(1),
        }
        .into_response();
    }
    next.run(request).await
}
