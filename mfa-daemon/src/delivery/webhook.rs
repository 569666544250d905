//! SMS and voice codes through a gateway of the site's own: each message is POSTed as JSON,
//! signed Stripe-style so that the receiver can check who sent it and reject replays:
//! `X-Mfa-Timestamp: <unix seconds>` and `X-Mfa-Signature: v1=<hex HMAC-SHA256 over
//! "<timestamp>.<body>">`.

use std::fmt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use reqwest::{Client, Url};
use serde::Serialize;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::config::{DeliveryConfigError, PlaintextRule, provider_url};
use super::credential::{Credential, read_credential};
use super::error::{SendError, SendErrorKind};
use super::http::exchange;
use super::message::{sms_text, voice_text};
use super::{Body, Channel, Outgoing};
use crate::config::WebhookSection;

const PROVIDER: &str = "webhook";
/// Header with the Unix time the signature covers.
pub const TIMESTAMP_HEADER: &str = "X-Mfa-Timestamp";
/// Header with `v1=` and the hex HMAC-SHA256 of `"{timestamp}.{body}"`.
pub const SIGNATURE_HEADER: &str = "X-Mfa-Signature";

/// A configured gateway.
pub(crate) struct Webhook {
    url: Url,
    secret: Credential,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url.as_str())
            .field("secret", &self.secret)
            .finish()
    }
}

/// The JSON a gateway receives.
#[derive(Serialize)]
struct Payload<'a> {
    channel: Channel,
    to: &'a str,
    /// The bare code, or `null` for a notice.
    code: Option<&'a str>,
    user: &'a str,
    host: &'a str,
    /// Seconds the code stays valid, or `null` for a notice.
    valid_for_seconds: Option<u64>,
    /// The whole message, ready to pass on: the SMS text, or the words to speak for voice.
    text: &'a str,
}

impl Webhook {
    pub(crate) fn new(
        section: &WebhookSection,
        credentials_dir: Option<&Path>,
        plaintext: PlaintextRule,
    ) -> Result<Webhook, DeliveryConfigError> {
        Ok(Webhook {
            url: provider_url(
                "webhook.url",
                &section.url,
                plaintext,
                section.insecure_loopback_plaintext_for_tests,
            )?,
            secret: read_credential("webhook.secret_file", &section.secret_file, credentials_dir)?,
        })
    }

    /// One signed attempt to send `message`, stamped with the time it leaves (the caller
    /// retries once when the webhook asks it to slow down).
    pub(crate) async fn send(
        &self,
        client: &Client,
        message: &Outgoing,
        host: &str,
    ) -> Result<(), SendError> {
        let text = Zeroizing::new(match message.channel {
            Channel::Voice => voice_text(&message.body, host),
            _ => sms_text(&message.body, host),
        });
        let (code, valid_for_seconds) = match &message.body {
            Body::Code { code, valid_for } => (Some(code.as_str()), Some(valid_for.as_secs())),
            Body::Notice { .. } | Body::ApprovalLink { .. } => (None, None),
        };
        let payload = Payload {
            channel: message.channel,
            to: &message.to,
            code,
            user: &message.user,
            host,
            valid_for_seconds,
            text: &text,
        };
        let body = Zeroizing::new(serde_json::to_vec(&payload).map_err(|e| {
            SendError::new(PROVIDER, SendErrorKind::Provider).with_source(e.to_string())
        })?);
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let signature = sign(self.secret.expose().as_bytes(), timestamp, &body);
        let request = client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(body.to_vec());
        let answer = exchange(PROVIDER, request).await?;
        let status = answer.status.as_u16();
        let kind = match status {
            200..=299 => return Ok(()),
            401 | 403 => SendErrorKind::Credentials,
            429 => SendErrorKind::RateLimited,
            _ => SendErrorKind::Provider,
        };
        Err(SendError::new(PROVIDER, kind).with_status(status))
    }
}

/// `v1=` and the lowercase hex HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`.
pub(crate) fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    // HMAC takes a key of any length; new_from_slice cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "v1={}",
        data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_over_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac key
        assert_eq!(
            sign(b"key", 1_700_000_000, br#"{"a":1}"#),
            "v1=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"
        );
    }
}
