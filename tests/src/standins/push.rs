//! A Web Push service on 127.0.0.1 (RFC 8030) that also plays the browsers subscribed to it:
//! each subscription gets its own P-256 key pair and authentication secret, and every POST to
//! `/push/<id>` must carry a VAPID token (RFC 8292) signed by the key the subscription was made
//! for, for this service's origin, not expired and at most 24 hours ahead. The body is then
//! decrypted as the browser would (RFC 8291, `aes128gcm`) and the plaintext recorded. A bad
//! token gets 401, a body that does not decrypt 400; both are recorded as refusals.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use hkdf::Hkdf;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use ring::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;
use sha2::Sha256;

use super::http::{HttpServer, Reply, Request};

const B64: data_encoding::Encoding = data_encoding::BASE64URL_NOPAD;
/// The longest a VAPID token may be valid for (RFC 8292 section 2).
const MAX_TOKEN_LIFETIME: u64 = 24 * 3600;
const POINT_LEN: usize = 65;
const HEADER_LEN: usize = 16 + 4 + 1 + POINT_LEN;

/// What the browser hands the application server: `PushSubscription.toJSON()`'s parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscription {
    /// The id in the endpoint, `/push/<id>`.
    pub id: String,
    /// `http://127.0.0.1:PORT/push/<id>`
    pub endpoint: String,
    /// `keys.p256dh`: the browser's public key, base64url.
    pub p256dh: String,
    /// `keys.auth`: the authentication secret, base64url.
    pub auth: String,
}

impl PushSubscription {
    /// The browser's `JSON.stringify(subscription)`.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "endpoint": self.endpoint,
            "expirationTime": null,
            "keys": {"p256dh": self.p256dh, "auth": self.auth},
        })
        .to_string()
    }
}

/// Why the service refused a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushRefusal {
    /// No `Authorization: vapid t=…, k=…` header.
    NoVapidHeader,
    /// `k=` is not the key the subscription was made for.
    WrongKey,
    /// The token is not three base64url parts of JSON with `alg` ES256.
    MalformedToken,
    /// The signature does not verify with `k=`.
    BadSignature,
    /// `aud` is not this service's origin.
    WrongAudience,
    /// `exp` is not in the future.
    Expired,
    /// `exp` is more than 24 hours ahead.
    TooLongLived,
    /// `sub` is neither `mailto:` nor `https:`.
    BadSubject,
    /// No `Content-Encoding: aes128gcm` or no `TTL`.
    BadHeaders,
    /// The body does not decrypt with the subscription's keys.
    Undecryptable,
}

impl PushRefusal {
    fn status(self) -> u16 {
        match self {
            PushRefusal::BadHeaders | PushRefusal::Undecryptable => 400,
            _ => 401,
        }
    }
}

/// What the service did with one POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushVerdict {
    /// Accepted (201) and decrypted to this plaintext.
    Delivered(Vec<u8>),
    /// Refused with 401 or 400.
    Refused(PushRefusal),
    /// Answered 410, as told by [`PushStandin::answer_gone`].
    Gone,
    /// Answered 404: no such subscription.
    Unknown,
}

/// One POST the service got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReceived {
    /// The subscription id in the path.
    pub id: String,
    /// What the service made of it.
    pub verdict: PushVerdict,
    /// The `TTL` header.
    pub ttl: Option<u64>,
    /// The `Urgency` header.
    pub urgency: Option<String>,
}

/// The browser's side of one subscription.
#[derive(Debug)]
struct Browser {
    secret: SecretKey,
    public: [u8; POINT_LEN],
    auth: [u8; 16],
    server_key: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    browsers: HashMap<String, Browser>,
    gone: HashSet<String>,
    tamper: HashSet<String>,
    received: Vec<PushReceived>,
}

/// The running service; stops on drop.
#[derive(Debug)]
pub struct PushStandin {
    state: Arc<Mutex<State>>,
    server: HttpServer,
}

impl PushStandin {
    /// Serves on a free port of 127.0.0.1.
    pub fn start() -> PushStandin {
        let state = Arc::new(Mutex::new(State::default()));
        let origin = Arc::new(OnceLock::<String>::new());
        let server = {
            let state = Arc::clone(&state);
            let origin = Arc::clone(&origin);
            HttpServer::start(move |request| {
                let origin = origin.get().map_or("", String::as_str);
                handle(&state, origin, request)
            })
        };
        origin
            .set(server.url())
            .expect("the origin is set once, before any request");
        PushStandin { state, server }
    }

    /// `http://127.0.0.1:PORT`, the `aud` tokens must name.
    pub fn origin(&self) -> String {
        self.server.url()
    }

    /// A new browser subscribing with `application_server_key` (base64url): only tokens
    /// signed by that key will be accepted for it.
    pub fn subscribe(&self, application_server_key: &str) -> PushSubscription {
        let server_key = B64
            .decode(application_server_key.as_bytes())
            .expect("an application server key in base64url");
        let secret = random_secret_key();
        let mut public = [0; POINT_LEN];
        public.copy_from_slice(secret.public_key().to_encoded_point(false).as_bytes());
        let mut auth = [0; 16];
        SystemRandom::new()
            .fill(&mut auth)
            .expect("random bytes for the auth secret");
        let mut state = self.state.lock().expect("push service state");
        let id = format!("s{}", state.browsers.len() + 1);
        let subscription = PushSubscription {
            endpoint: format!("{}/push/{id}", self.server.url()),
            p256dh: B64.encode(&public),
            auth: B64.encode(&auth),
            id: id.clone(),
        };
        state.browsers.insert(
            id,
            Browser {
                secret,
                public,
                auth,
                server_key,
            },
        );
        subscription
    }

    /// From now on, answers 410 Gone for `id`, as for a browser that unsubscribed.
    pub fn answer_gone(&self, id: &str) {
        let mut state = self.state.lock().expect("push service state");
        state.gone.insert(id.to_owned());
    }

    /// Flips a bit of the next body for `id` before reading it, as an attacker on the path
    /// would.
    pub fn tamper_next(&self, id: &str) {
        let mut state = self.state.lock().expect("push service state");
        state.tamper.insert(id.to_owned());
    }

    /// Every POST so far, oldest first.
    pub fn received(&self) -> Vec<PushReceived> {
        self.state
            .lock()
            .expect("push service state")
            .received
            .clone()
    }

    /// The plaintexts delivered to `id`, oldest first.
    pub fn messages(&self, id: &str) -> Vec<Vec<u8>> {
        self.received()
            .into_iter()
            .filter(|received| received.id == id)
            .filter_map(|received| match received.verdict {
                PushVerdict::Delivered(plaintext) => Some(plaintext),
                _ => None,
            })
            .collect()
    }
}

fn random_secret_key() -> SecretKey {
    let random = SystemRandom::new();
    loop {
        let mut bytes = [0; 32];
        random.fill(&mut bytes).expect("random bytes for a key");
        if let Ok(key) = SecretKey::from_slice(&bytes) {
            return key;
        }
    }
}

fn handle(state: &Mutex<State>, origin: &str, request: &Request) -> Reply {
    let Some(id) = request.path.strip_prefix("/push/") else {
        return Reply::Json(404, String::new());
    };
    if request.method != "POST" {
        return Reply::Json(405, String::new());
    }
    let mut state = state.lock().expect("push service state");
    let verdict = if state.gone.contains(id) {
        PushVerdict::Gone
    } else if let Some(browser) = state.browsers.get(id) {
        let mut body = request.body.clone();
        if state.tamper.contains(id)
            && let Some(last) = body.last_mut()
        {
            *last ^= 1;
        }
        match accept(browser, origin, request, &body) {
            Ok(plaintext) => PushVerdict::Delivered(plaintext),
            Err(refusal) => PushVerdict::Refused(refusal),
        }
    } else {
        PushVerdict::Unknown
    };
    state.tamper.remove(id);
    let status = match &verdict {
        PushVerdict::Delivered(_) => 201,
        PushVerdict::Refused(refusal) => refusal.status(),
        PushVerdict::Gone => 410,
        PushVerdict::Unknown => 404,
    };
    state.received.push(PushReceived {
        id: id.to_owned(),
        verdict,
        ttl: request.header("TTL").and_then(|ttl| ttl.parse().ok()),
        urgency: request.header("Urgency").map(str::to_owned),
    });
    Reply::Json(status, String::new())
}

/// The checks of a push service and then of the browser: the token, the headers, the body.
fn accept(
    browser: &Browser,
    origin: &str,
    request: &Request,
    body: &[u8],
) -> Result<Vec<u8>, PushRefusal> {
    check_vapid(
        request.header("Authorization"),
        &browser.server_key,
        origin,
        unix_now(),
    )?;
    if request.header("Content-Encoding") != Some("aes128gcm") || request.header("TTL").is_none() {
        return Err(PushRefusal::BadHeaders);
    }
    decrypt(&browser.secret, &browser.public, &browser.auth, body).ok_or(PushRefusal::Undecryptable)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// RFC 8292: `vapid t=<JWT>, k=<key>`, the key the subscription was made for, an ES256
/// signature by it, `aud` our origin, `exp` in (now, now + 24 h], `sub` a contact.
fn check_vapid(
    authorization: Option<&str>,
    server_key: &[u8],
    origin: &str,
    now: u64,
) -> Result<(), PushRefusal> {
    let params = authorization
        .and_then(|value| value.strip_prefix("vapid "))
        .ok_or(PushRefusal::NoVapidHeader)?;
    let param = |name: &str| {
        params
            .split(',')
            .find_map(|part| part.trim().strip_prefix(name))
    };
    let (Some(token), Some(key)) = (param("t="), param("k=")) else {
        return Err(PushRefusal::NoVapidHeader);
    };
    if B64.decode(key.as_bytes()).ok().as_deref() != Some(server_key) {
        return Err(PushRefusal::WrongKey);
    }
    let verifying = VerifyingKey::from_sec1_bytes(server_key).map_err(|_| PushRefusal::WrongKey)?;
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err(PushRefusal::MalformedToken);
    };
    let json = |part: &str| -> Result<Value, PushRefusal> {
        let bytes = B64
            .decode(part.as_bytes())
            .map_err(|_| PushRefusal::MalformedToken)?;
        serde_json::from_slice(&bytes).map_err(|_| PushRefusal::MalformedToken)
    };
    if json(header)?["alg"] != "ES256" {
        return Err(PushRefusal::MalformedToken);
    }
    let signature = B64
        .decode(signature.as_bytes())
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or(PushRefusal::MalformedToken)?;
    verifying
        .verify(format!("{header}.{claims}").as_bytes(), &signature)
        .map_err(|_| PushRefusal::BadSignature)?;
    check_claims(&json(claims)?, origin, now)
}

fn check_claims(claims: &Value, origin: &str, now: u64) -> Result<(), PushRefusal> {
    if claims["aud"] != origin {
        return Err(PushRefusal::WrongAudience);
    }
    let exp = claims["exp"].as_u64().ok_or(PushRefusal::MalformedToken)?;
    if exp <= now {
        return Err(PushRefusal::Expired);
    }
    if exp > now + MAX_TOKEN_LIFETIME {
        return Err(PushRefusal::TooLongLived);
    }
    let sub = claims["sub"].as_str().unwrap_or_default();
    if !(sub.starts_with("mailto:") || sub.starts_with("https:")) {
        return Err(PushRefusal::BadSubject);
    }
    Ok(())
}

/// RFC 8291 on the browser's side: the header's salt and sender key, ECDH with the
/// subscription's private key, the same key derivation, one `aes128gcm` record.
fn decrypt(
    secret: &SecretKey,
    public: &[u8; POINT_LEN],
    auth: &[u8; 16],
    body: &[u8],
) -> Option<Vec<u8>> {
    let (header, ciphertext) = body.split_at_checked(HEADER_LEN)?;
    let (salt, rest) = header.split_at(16);
    let record_size = u32::from_be_bytes(rest[..4].try_into().ok()?) as usize;
    let sender_bytes = &rest[5..];
    if usize::from(rest[4]) != POINT_LEN || ciphertext.len() > record_size {
        return None;
    }
    let sender = PublicKey::from_sec1_bytes(sender_bytes).ok()?;
    let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), sender.as_affine());
    let mut key_info = b"WebPush: info\0".to_vec();
    key_info.extend_from_slice(public);
    key_info.extend_from_slice(sender_bytes);
    let mut ikm = [0; 32];
    Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes())
        .expand(&key_info, &mut ikm)
        .ok()?;
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let (mut cek, mut nonce) = ([0; 16], [0; 12]);
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .ok()?;
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce).ok()?;
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).ok()?);
    let mut record = ciphertext.to_vec();
    let plain_len = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut record,
        )
        .ok()?
        .len();
    record.truncate(plain_len);
    // Padding is zeros after the delimiter; 2 marks the last (here the only) record.
    while record.last() == Some(&0) {
        record.pop();
    }
    (record.pop() == Some(2)).then_some(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8291 section 5.
    const UA_PRIVATE: &str = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
    const UA_PUBLIC: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
    const MESSAGE: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgD\
                           ll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVB\
                           St2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

    fn b64(text: &str) -> Vec<u8> {
        B64.decode(text.as_bytes()).unwrap()
    }

    fn rfc_decrypt(message: &[u8]) -> Option<Vec<u8>> {
        let secret = SecretKey::from_slice(&b64(UA_PRIVATE)).unwrap();
        let public = b64(UA_PUBLIC).try_into().unwrap();
        let auth = b64(AUTH).try_into().unwrap();
        decrypt(&secret, &public, &auth, message)
    }

    #[test]
    fn the_rfc_8291_example_decrypts_and_a_changed_byte_does_not() {
        let message = b64(MESSAGE);
        assert_eq!(
            rfc_decrypt(&message).unwrap(),
            b"When I grow up, I want to be a watermelon"
        );
        // The salt, the key id's length, the sender's key, the ciphertext, the tag.
        for at in [0, 20, 30, HEADER_LEN + 3, message.len() - 1] {
            let mut changed = message.clone();
            changed[at] ^= 0x40;
            assert_eq!(rfc_decrypt(&changed), None, "byte {at}");
        }
        assert_eq!(rfc_decrypt(&message[..HEADER_LEN - 1]), None);
        // A record size smaller than the record: more records than the one there is.
        let mut short = message.clone();
        short[16..20].copy_from_slice(&18u32.to_be_bytes());
        assert_eq!(rfc_decrypt(&short), None);
    }

    #[test]
    fn vapid_claims_are_checked() {
        let origin = "http://127.0.0.1:9";
        let claims = |aud: &str, exp: u64, sub: &str| serde_json::json!({"aud": aud, "exp": exp, "sub": sub});
        let now = 1_800_000_000;
        let good = claims(origin, now + 3600, "mailto:a@example.org");
        assert_eq!(check_claims(&good, origin, now), Ok(()));
        for (claims, refusal) in [
            (
                claims("http://127.0.0.1:10", now + 60, "mailto:a@b"),
                PushRefusal::WrongAudience,
            ),
            (claims(origin, now, "mailto:a@b"), PushRefusal::Expired),
            (
                claims(origin, now + 86_401, "mailto:a@b"),
                PushRefusal::TooLongLived,
            ),
            (claims(origin, now + 60, "a@b"), PushRefusal::BadSubject),
        ] {
            assert_eq!(check_claims(&claims, origin, now), Err(refusal));
        }
        assert_eq!(
            check_vapid(Some("Bearer x"), &[4; 65], origin, now),
            Err(PushRefusal::NoVapidHeader)
        );
        assert_eq!(
            check_vapid(Some("vapid t=a.b.c, k=AAAA"), &[4; 65], origin, now),
            Err(PushRefusal::WrongKey)
        );
    }
}
