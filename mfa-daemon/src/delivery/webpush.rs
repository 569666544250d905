//! Web Push (RFC 8030) to the browsers a user subscribed on mfa-web's page. Each message is
//! encrypted for one subscription (RFC 8291: the `aes128gcm` content coding of RFC 8188) and
//! signed for the push service with this host's VAPID key (RFC 8292), so the push service
//! learns the endpoint and the size, never the text.
//!
//! Nothing here logs: not the payload, not a key, not the endpoint (a capability URL).
//! Errors name what is wrong and never quote those either.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use hkdf::Hkdf;
use p256::ecdsa::Signature;
use p256::ecdsa::signature::Signer;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use reqwest::{Client, StatusCode, Url};
use ring::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

mod vapid;

pub use vapid::{KeyProblem, VapidKey};

use super::config::DeliveryConfigError;
use crate::clock::UnixTime;
use crate::secret_file::SecretFileError;

/// Browsers and push services write keys in base64url without padding.
const B64: data_encoding::Encoding = data_encoding::BASE64URL_NOPAD;

/// The record size written in the header: one record holds any message we send.
const RECORD_SIZE: u32 = 4096;
/// Salt (16), record size (4), key id length (1), key id (an uncompressed P-256 point, 65).
const HEADER_LEN: usize = 16 + 4 + 1 + POINT_LEN;
const POINT_LEN: usize = 65;
const AUTH_LEN: usize = 16;
const TAG_LEN: usize = 16;
/// Longest payload: RFC 8291 section 4 has push services accept a body of 4096 bytes, of
/// which the header, the tag and the record delimiter take 103.
pub const MAX_PAYLOAD: usize = 4096 - HEADER_LEN - TAG_LEN - 1;
/// How long a VAPID token is good for; RFC 8292 allows at most 24 hours.
const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Longest endpoint accepted; the push services' are a few hundred characters.
const MAX_ENDPOINT_LEN: usize = 2048;

/// Why the Web Push sender cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum WebPushError {
    /// The key file cannot be read, or others could read or change it.
    #[error(transparent)]
    KeyFile(#[from] SecretFileError),
    /// The key file holds no usable key.
    #[error("{}: {problem}", path.display())]
    KeyInFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with what it holds.
        #[source]
        problem: KeyProblem,
    },
    /// The PEM text given holds no usable key.
    #[error(transparent)]
    Key(#[from] KeyProblem),
    /// The contact sent to push services is neither a `mailto:` nor an `https:` address.
    #[error(
        "the VAPID contact must be a mailto: address or an https: URL without spaces or \
         control characters"
    )]
    Contact,
    /// The HTTP client cannot be built.
    #[error("{}: {}", .0.key, .0.problem)]
    Client(DeliveryConfigError),
}

/// A browser's push subscription, as `PushSubscription.toJSON()` gives its parts: where to
/// send, the browser's P-256 public key and the authentication secret, both base64url.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// The push service's URL for this browser.
    pub endpoint: String,
    /// `keys.p256dh`: the browser's public key, an uncompressed P-256 point.
    pub p256dh: String,
    /// `keys.auth`: 16 bytes shared with the browser only.
    pub auth: String,
}

/// The browser's JSON, `{"endpoint": …, "expirationTime": …, "keys": {"p256dh": …, "auth":
/// …}}`.
#[derive(Deserialize)]
struct BrowserJson {
    endpoint: String,
    keys: BrowserKeys,
}

#[derive(Deserialize)]
struct BrowserKeys {
    p256dh: String,
    auth: String,
}

/// The part of a subscription that is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionField {
    /// The whole JSON text.
    Json,
    /// `endpoint`.
    Endpoint,
    /// `keys.p256dh`.
    P256dh,
    /// `keys.auth`.
    Auth,
}

impl fmt::Display for SubscriptionField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubscriptionField::Json => "JSON",
            SubscriptionField::Endpoint => "endpoint",
            SubscriptionField::P256dh => "keys.p256dh",
            SubscriptionField::Auth => "keys.auth",
        })
    }
}

/// What is wrong with one field of a subscription. Never quotes the value: an endpoint is a
/// capability.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionProblem {
    /// Not the browser's PushSubscription JSON.
    #[error("not a PushSubscription (endpoint, keys.p256dh and keys.auth)")]
    NotJson,
    /// Not an absolute URL.
    #[error("is not an absolute URL")]
    NotUrl,
    /// Longer than any push service's.
    #[error("is {len} bytes long, more than {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The most accepted.
        max: usize,
    },
    /// A scheme other than https (or http to loopback in tests).
    #[error("must be an https: URL, not {scheme}:")]
    Scheme {
        /// The scheme it has.
        scheme: String,
    },
    /// An address rather than a host name, or plain http, where only public push services
    /// are allowed.
    #[error(
        "must name a push service by its host name over https (an address, or plain http to \
         loopback, is for test suites only)"
    )]
    NotPublic,
    /// A user name or password in the URL, which would be sent as credentials.
    #[error("must not carry a user name or password")]
    Credentials,
    /// Not base64url.
    #[error("is not base64url")]
    NotBase64Url,
    /// Decodes to the wrong number of bytes.
    #[error("decodes to {len} bytes, not {want}")]
    WrongLength {
        /// Bytes it decodes to.
        len: usize,
        /// Bytes it must decode to.
        want: usize,
    },
    /// 65 bytes, but not an uncompressed point on P-256.
    #[error("is not an uncompressed P-256 point")]
    NotAPoint,
}

/// A refused subscription: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("push subscription {field} {problem}")]
pub struct SubscriptionError {
    /// The field.
    pub field: SubscriptionField,
    /// What is wrong with it.
    pub problem: SubscriptionProblem,
}

/// Which endpoints a sender accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointRule {
    /// `https://` to a host name: what browsers' push services give. An address would let a
    /// subscription aim the daemon's requests at hosts of the local network.
    PublicOnly,
    /// Also `http://` or `https://` to a loopback address: for stand-ins in test suites.
    LoopbackForTests,
}

/// A subscription whose parts have been checked and decoded.
#[derive(Debug, Clone)]
struct Recipient {
    endpoint: Url,
    public: PublicKey,
    public_bytes: [u8; POINT_LEN],
    auth: [u8; AUTH_LEN],
}

impl Subscription {
    /// The browser's `JSON.stringify(subscription)`; `expirationTime` and other fields are
    /// ignored.
    pub fn from_browser_json(json: &str) -> Result<Subscription, SubscriptionError> {
        let parsed: BrowserJson = serde_json::from_str(json).map_err(|_| SubscriptionError {
            field: SubscriptionField::Json,
            problem: SubscriptionProblem::NotJson,
        })?;
        Ok(Subscription {
            endpoint: parsed.endpoint,
            p256dh: parsed.keys.p256dh,
            auth: parsed.keys.auth,
        })
    }

    /// Checks every field: the endpoint under `rule`, `p256dh` a 65-byte uncompressed P-256
    /// point, `auth` 16 bytes (base64url, padded or not).
    pub fn check(&self, rule: EndpointRule) -> Result<(), SubscriptionError> {
        self.recipient(rule).map(drop)
    }

    fn recipient(&self, rule: EndpointRule) -> Result<Recipient, SubscriptionError> {
        let endpoint =
            check_endpoint(&self.endpoint, rule).map_err(|problem| SubscriptionError {
                field: SubscriptionField::Endpoint,
                problem,
            })?;
        let fail = |field| move |problem| SubscriptionError { field, problem };
        let public_bytes: [u8; POINT_LEN] =
            decode_exact(&self.p256dh).map_err(fail(SubscriptionField::P256dh))?;
        let public = (public_bytes[0] == 0x04)
            .then(|| PublicKey::from_sec1_bytes(&public_bytes).ok())
            .flatten()
            .ok_or(SubscriptionError {
                field: SubscriptionField::P256dh,
                problem: SubscriptionProblem::NotAPoint,
            })?;
        let auth = decode_exact(&self.auth).map_err(fail(SubscriptionField::Auth))?;
        Ok(Recipient {
            endpoint,
            public,
            public_bytes,
            auth,
        })
    }
}

fn check_endpoint(endpoint: &str, rule: EndpointRule) -> Result<Url, SubscriptionProblem> {
    if endpoint.len() > MAX_ENDPOINT_LEN {
        return Err(SubscriptionProblem::TooLong {
            len: endpoint.len(),
            max: MAX_ENDPOINT_LEN,
        });
    }
    let url = Url::parse(endpoint).map_err(|_| SubscriptionProblem::NotUrl)?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(SubscriptionProblem::Scheme {
            scheme: url.scheme().to_owned(),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SubscriptionProblem::Credentials);
    }
    let host = url.host_str().ok_or(SubscriptionProblem::NotUrl)?;
    let address = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    let allowed = match (rule, address) {
        (EndpointRule::LoopbackForTests, Some(address)) if address.is_loopback() => true,
        (_, None) => url.scheme() == "https" && host != "localhost",
        (_, Some(_)) => false,
    };
    if !allowed {
        return Err(SubscriptionProblem::NotPublic);
    }
    Ok(url)
}

/// Decodes base64url (with or without padding) to exactly `N` bytes.
fn decode_exact<const N: usize>(text: &str) -> Result<[u8; N], SubscriptionProblem> {
    let bytes = B64
        .decode(text.trim_end_matches('=').as_bytes())
        .map_err(|_| SubscriptionProblem::NotBase64Url)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| SubscriptionProblem::WrongLength {
        len: bytes.len(),
        want: N,
    })
}

/// Why a push message was not accepted by the push service.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The subscription is malformed.
    #[error(transparent)]
    Subscription(#[from] SubscriptionError),
    /// The payload does not fit in one message.
    #[error("the push message is {len} bytes, more than the {max} every push service takes")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The most that fits.
        max: usize,
    },
    /// 404 or 410: the browser unsubscribed or the push service dropped the subscription;
    /// the caller should forget it.
    #[error("the subscription is gone (HTTP {status})")]
    Gone {
        /// 404 or 410.
        status: u16,
    },
    /// 401 or 403: the push service refused our token, because the subscription was made
    /// for another VAPID key or this host's clock is wrong.
    #[error("the push service refused the VAPID token (HTTP {status})")]
    TokenRefused {
        /// 401 or 403.
        status: u16,
    },
    /// 429: the push service asked us to slow down.
    #[error("rate limited by the push service (HTTP 429)")]
    RateLimited,
    /// 5xx: the push service failed; a later attempt may work.
    #[error("the push service failed (HTTP {status})")]
    ServiceFailed {
        /// The status.
        status: u16,
    },
    /// Any other refusal (400, 413, …).
    #[error("the push service refused the message (HTTP {status})")]
    Refused {
        /// The status.
        status: u16,
    },
    /// No answer within the send timeout.
    #[error("no answer from the push service within the send timeout")]
    Timeout,
    /// The push service cannot be reached (DNS, connection, TLS).
    #[error("cannot reach the push service")]
    Network(#[source] reqwest::Error),
    /// The system's random number generator failed.
    #[error("no randomness for the message key: {0}")]
    Random(getrandom::Error),
    /// Signing or encrypting failed, which the keys checked above rule out.
    #[error("cannot sign or encrypt the push message")]
    Crypto,
}

/// Sends push messages as this host: a VAPID key, a contact for the push services' operators,
/// and an HTTP client with the send timeout.
pub struct WebPush {
    client: Client,
    key: VapidKey,
    contact: String,
    rule: EndpointRule,
}

impl fmt::Debug for WebPush {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebPush")
            .field("key", &self.key)
            .field("contact", &self.contact)
            .field("rule", &self.rule)
            .finish_non_exhaustive()
    }
}

impl WebPush {
    /// A sender signing with `key`, naming `contact` (`mailto:…` or `https://…`, RFC 8292
    /// `sub`) to push services, giving up on each request after `send_timeout`, and sending
    /// only to endpoints `rule` accepts.
    pub fn new(
        key: VapidKey,
        contact: &str,
        send_timeout: Duration,
        rule: EndpointRule,
    ) -> Result<WebPush, WebPushError> {
        check_contact(contact)?;
        let client = super::http::client(send_timeout).map_err(WebPushError::Client)?;
        Ok(WebPush {
            client,
            key,
            contact: contact.to_owned(),
            rule,
        })
    }

    /// The `applicationServerKey` browsers must subscribe with.
    pub fn public_key_base64url(&self) -> String {
        self.key.public_key_base64url()
    }

    /// Whether this sender would send to `subscription` (see [`Subscription::check`]).
    pub fn accepts(&self, subscription: &Subscription) -> Result<(), SubscriptionError> {
        subscription.check(self.rule)
    }

    /// Sends `payload` to one browser, for the push service to keep `ttl` while the browser
    /// is offline; `now` is the daemon's clock, which dates the VAPID token. Ok means the
    /// push service took the message (201, or any 2xx), not that the browser showed it.
    pub async fn send(
        &self,
        subscription: &Subscription,
        payload: &[u8],
        ttl: Duration,
        now: UnixTime,
    ) -> Result<(), PushError> {
        let recipient = subscription.recipient(self.rule)?;
        let body = encrypt(payload, &recipient)?;
        let token = vapid_token(&self.key, &recipient.endpoint, &self.contact, now)?;
        let request = self
            .client
            .post(recipient.endpoint)
            .header("TTL", ttl.as_secs().to_string())
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .header("Urgency", "high")
            .header(
                "Authorization",
                format!("vapid t={token}, k={}", self.key.public_key_base64url()),
            )
            .body(body);
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                PushError::Timeout
            } else {
                PushError::Network(e.without_url())
            }
        })?;
        classify(response.status())
    }
}

fn check_contact(contact: &str) -> Result<(), WebPushError> {
    let plain = !contact.is_empty() && !contact.chars().any(|c| c.is_control() || c == ' ');
    let form = match contact.strip_prefix("mailto:") {
        Some(address) => address.contains('@'),
        None => Url::parse(contact).is_ok_and(|url| url.scheme() == "https"),
    };
    if plain && form {
        Ok(())
    } else {
        Err(WebPushError::Contact)
    }
}

/// What the push service's answer means (RFC 8030 section 5, RFC 8292 section 4.2).
fn classify(status: StatusCode) -> Result<(), PushError> {
    let code = status.as_u16();
    match code {
        _ if status.is_success() => Ok(()),
        404 | 410 => Err(PushError::Gone { status: code }),
        401 | 403 => Err(PushError::TokenRefused { status: code }),
        429 => Err(PushError::RateLimited),
        500..=599 => Err(PushError::ServiceFailed { status: code }),
        _ => Err(PushError::Refused { status: code }),
    }
}

/// The RFC 8292 token: ES256 over `aud` (the endpoint's origin), `exp` and `sub`.
fn vapid_token(
    key: &VapidKey,
    endpoint: &Url,
    contact: &str,
    now: UnixTime,
) -> Result<String, PushError> {
    let header = B64.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
    let claims = serde_json::json!({
        "aud": endpoint.origin().ascii_serialization(),
        "exp": now.secs() + TOKEN_LIFETIME.as_secs(),
        "sub": contact,
    });
    let claims = B64.encode(claims.to_string().as_bytes());
    let signed = format!("{header}.{claims}");
    let signature: Signature = key
        .signing
        .try_sign(signed.as_bytes())
        .map_err(|_| PushError::Crypto)?;
    Ok(format!("{signed}.{}", B64.encode(&signature.to_bytes())))
}

/// Encrypts `payload` for `recipient` under a new key pair and salt.
fn encrypt(payload: &[u8], recipient: &Recipient) -> Result<Vec<u8>, PushError> {
    let mut salt = [0; 16];
    getrandom::fill(&mut salt).map_err(PushError::Random)?;
    encrypt_with(payload, recipient, &ephemeral_key()?, &salt)
}

/// A random P-256 private key: 32 random bytes, drawn again in the rare case they are not
/// below the group order.
fn ephemeral_key() -> Result<SecretKey, PushError> {
    loop {
        let mut bytes = Zeroizing::new([0; 32]);
        getrandom::fill(&mut *bytes).map_err(PushError::Random)?;
        if let Ok(key) = SecretKey::from_slice(&*bytes) {
            return Ok(key);
        }
    }
}

/// RFC 8291 section 3 with the sender's key and the salt given (the tests give the RFC's):
/// one `aes128gcm` record, no padding.
fn encrypt_with(
    payload: &[u8],
    recipient: &Recipient,
    sender: &SecretKey,
    salt: &[u8; 16],
) -> Result<Vec<u8>, PushError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(PushError::TooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD,
        });
    }
    let sender_public = sender.public_key().to_encoded_point(false);
    let shared =
        p256::ecdh::diffie_hellman(sender.to_nonzero_scalar(), recipient.public.as_affine());
    let mut key_info = b"WebPush: info\0".to_vec();
    key_info.extend_from_slice(&recipient.public_bytes);
    key_info.extend_from_slice(sender_public.as_bytes());
    let mut ikm = Zeroizing::new([0; 32]);
    Hkdf::<Sha256>::new(Some(&recipient.auth), shared.raw_secret_bytes())
        .expand(&key_info, &mut *ikm)
        .map_err(|_| PushError::Crypto)?;
    let prk = Hkdf::<Sha256>::new(Some(salt), &*ikm);
    let mut cek = Zeroizing::new([0; 16]);
    let mut nonce = [0; 12];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut *cek)
        .and_then(|()| prk.expand(b"Content-Encoding: nonce\0", &mut nonce))
        .map_err(|_| PushError::Crypto)?;
    let key = UnboundKey::new(&AES_128_GCM, &*cek).map_err(|_| PushError::Crypto)?;
    // The record: the payload, then 0x02, the delimiter of the last record (RFC 8188).
    let mut record = Zeroizing::new(Vec::with_capacity(payload.len() + 1 + TAG_LEN));
    record.extend_from_slice(payload);
    record.push(2);
    LessSafeKey::new(key)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut *record,
        )
        .map_err(|_| PushError::Crypto)?;
    let mut body = Vec::with_capacity(HEADER_LEN + record.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(POINT_LEN as u8);
    body.extend_from_slice(sender_public.as_bytes());
    body.extend_from_slice(&record);
    Ok(body)
}

#[cfg(test)]
mod tests;
