//! A webhook receiver on 127.0.0.1 that does what a site's gateway should: checks
//! `X-Mfa-Signature: v1=<hex HMAC-SHA256 of "{X-Mfa-Timestamp}.{body}">` with the shared
//! secret, refuses stale timestamps, and records every payload with the verdict.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::http::{HttpServer, Reply, Request};

/// How far a timestamp may be from now before the receiver calls it a replay.
pub const MAX_CLOCK_DIFFERENCE: Duration = Duration::from_secs(300);
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// One POST the receiver got.
#[derive(Debug, Clone)]
pub struct WebhookCall {
    /// The JSON body, or `Value::Null` if it was not JSON.
    pub payload: Value,
    /// Whether the signature matched the secret and the timestamp was fresh; the receiver
    /// answered 204 if so and 401 otherwise.
    pub verified: bool,
}

/// The running receiver; stops on drop.
#[derive(Debug)]
pub struct WebhookStandin {
    calls: Arc<Mutex<Vec<WebhookCall>>>,
    server: HttpServer,
}

impl WebhookStandin {
    /// Receives on a free port of 127.0.0.1, verifying with `secret`.
    pub fn start(secret: &str) -> WebhookStandin {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let server = {
            let calls = Arc::clone(&calls);
            let secret = secret.as_bytes().to_vec();
            HttpServer::start(move |request| {
                let verified = request.method == "POST" && verify(&secret, request);
                let payload = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                calls
                    .lock()
                    .expect("receiver state")
                    .push(WebhookCall { payload, verified });
                if verified {
                    Reply::Json(204, String::new())
                } else {
                    Reply::Json(401, r#"{"error":"bad signature"}"#.to_owned())
                }
            })
        };
        WebhookStandin { calls, server }
    }

    /// The URL to configure as `[webhook] url`.
    pub fn url(&self) -> String {
        format!("{}/mfa", self.server.url())
    }

    /// Every call so far, oldest first.
    pub fn calls(&self) -> Vec<WebhookCall> {
        self.calls.lock().expect("receiver state").clone()
    }

    /// Waits up to `timeout` for a call whose payload's `to` is `to`; panics if none comes.
    pub fn wait_for(&self, to: &str, timeout: Duration) -> WebhookCall {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(call) = self
                .calls()
                .into_iter()
                .find(|call| call.payload["to"] == to)
            {
                return call;
            }
            assert!(
                Instant::now() < deadline,
                "no webhook call to {to} within {timeout:?}"
            );
            thread::sleep(POLL_INTERVAL);
        }
    }
}

fn verify(secret: &[u8], request: &Request) -> bool {
    let (Some(timestamp), Some(signature)) = (
        request.header("X-Mfa-Timestamp"),
        request.header("X-Mfa-Signature"),
    ) else {
        return false;
    };
    let Ok(sent_at) = timestamp.parse::<u64>() else {
        return false;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if now.abs_diff(sent_at) > MAX_CLOCK_DIFFERENCE.as_secs() {
        return false;
    }
    let Some(Ok(claimed)) = signature
        .strip_prefix("v1=")
        .map(|hex| data_encoding::HEXLOWER_PERMISSIVE.decode(hex.as_bytes()))
    else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret) else {
        return false;
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&request.body);
    mac.verify_slice(&claimed).is_ok()
}
