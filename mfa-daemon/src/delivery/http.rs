//! The one HTTP client of the HTTP providers (Twilio, webhook) and what they share: TLS with
//! rustls and the ring provider, the system's trust store, bounded time, and one retry when the
//! provider asks us to slow down.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use reqwest::{Client, StatusCode, redirect};
use rustls_platform_verifier::BuilderVerifierExt;

use super::config::DeliveryConfigError;
use super::error::{SendError, SendErrorKind};

/// Pause before the one retry after a rate-limit answer.
pub(crate) const RATE_LIMIT_BACKOFF: Duration = Duration::from_millis(500);

/// Builds the client: HTTP/1.1, no redirects (a redirect could carry our credentials
/// elsewhere), every request bounded by `send_timeout`.
pub(crate) fn client(send_timeout: Duration) -> Result<Client, DeliveryConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_platform_verifier())
        .map_err(|e| {
            DeliveryConfigError::new("delivery", format!("cannot set up TLS for HTTPS: {e}"))
        })?
        .with_no_client_auth();
    Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(redirect::Policy::none())
        .timeout(send_timeout)
        .connect_timeout(send_timeout)
        .user_agent(concat!("pam-mfa/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            DeliveryConfigError::new("delivery", format!("cannot build the HTTP client: {e}"))
        })
}

/// An HTTP answer read in full.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
}

/// Longest answer body read; Twilio's resources and errors are a few KB.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Sends one request and reads its answer (up to [`MAX_ANSWER_BYTES`]).
pub(crate) async fn exchange(
    provider: &'static str,
    request: reqwest::RequestBuilder,
) -> Result<Answer, SendError> {
    let mut response = request
        .send()
        .await
        .map_err(|e| SendError::from_http(provider, e))?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| SendError::from_http(provider, e))?
    {
        let room = MAX_ANSWER_BYTES.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if room <= chunk.len() {
            break;
        }
    }
    Ok(Answer { status, body })
}

/// Runs `attempt`; if it fails with [`SendErrorKind::RateLimited`], waits
/// [`RATE_LIMIT_BACKOFF`] and runs it once more, unless that pause would end past `deadline`
/// (the end of the send timeout): then the rate limit is the answer, not a timeout.
pub(crate) async fn retry_once_if_rate_limited<F, Fut>(
    deadline: Instant,
    mut attempt: F,
) -> Result<(), SendError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), SendError>>,
{
    match attempt().await {
        Err(e)
            if e.kind == SendErrorKind::RateLimited
                && Instant::now() + RATE_LIMIT_BACKOFF < deadline =>
        {
            tokio::time::sleep(RATE_LIMIT_BACKOFF).await;
            attempt().await
        }
        done => done,
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn rate_limited() -> Result<(), SendError> {
        Err(SendError::new("twilio", SendErrorKind::RateLimited))
    }

    #[tokio::test]
    async fn a_rate_limit_is_retried_once_after_a_pause() {
        let tries = Cell::new(0);
        let started = Instant::now();
        let result = retry_once_if_rate_limited(started + Duration::from_secs(5), || {
            tries.set(tries.get() + 1);
            async { rate_limited() }
        })
        .await;
        assert_eq!(result.unwrap_err().kind, SendErrorKind::RateLimited);
        assert_eq!(tries.get(), 2);
        assert!(started.elapsed() >= RATE_LIMIT_BACKOFF);
    }

    #[tokio::test]
    async fn no_retry_that_would_outlast_the_deadline_or_after_other_errors() {
        let tries = Cell::new(0);
        let deadline = Instant::now() + RATE_LIMIT_BACKOFF / 2;
        let result = retry_once_if_rate_limited(deadline, || {
            tries.set(tries.get() + 1);
            async { rate_limited() }
        })
        .await;
        assert_eq!(result.unwrap_err().kind, SendErrorKind::RateLimited);
        assert_eq!(tries.get(), 1);

        let far = Instant::now() + Duration::from_secs(60);
        let result = retry_once_if_rate_limited(far, || {
            tries.set(tries.get() + 1);
            async { Err(SendError::new("twilio", SendErrorKind::Provider)) }
        })
        .await;
        assert_eq!(result.unwrap_err().kind, SendErrorKind::Provider);
        assert_eq!(tries.get(), 2);
    }
}
