//! The one HTTP client of the HTTP providers (Twilio, webhook) and what they share: TLS with
//! rustls and the ring provider, the system's trust store, bounded time, and one retry when the
//! provider asks us to slow down.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

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

/// Runs `attempt`; if it fails with [`SendErrorKind::RateLimited`], waits `backoff` and runs it
/// once more. The caller bounds the whole with its send timeout.
pub(crate) async fn retry_once_if_rate_limited<F, Fut>(
    backoff: Duration,
    mut attempt: F,
) -> Result<(), SendError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), SendError>>,
{
    match attempt().await {
        Err(e) if e.kind == SendErrorKind::RateLimited => {
            tokio::time::sleep(backoff).await;
            attempt().await
        }
        done => done,
    }
}
