//! Passkeys (WebAuthn credentials) and the browsers that asked to be told of sign-ins by
//! Web Push, as the record keeps them.
//!
//! The core does not verify WebAuthn: the daemon's verifier does, and keeps its own form of
//! each credential (public key, sign count, flags) in [`PasskeyFactor::credential`], which
//! this crate stores without reading. What the core decides about passkeys is what it
//! decides for every factor: labels, how many, and which one is meant.

use serde::{Deserialize, Serialize};

/// Most Web Push subscriptions kept per user; the oldest goes when a new one comes.
pub const MAX_PUSH_SUBSCRIPTIONS: usize = 5;

/// A registered passkey or security key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeyFactor {
    /// The user's name for it (`phone`, `yubikey`); each label once among the passkeys.
    pub label: String,
    /// The credential id, base64url without padding, as browsers name it.
    pub id: String,
    /// The authenticator's model (AAGUID) as a UUID, when the verifier reported one.
    #[serde(default)]
    pub aaguid: Option<String>,
    /// Unix time of registration.
    pub enrolled_at: u64,
    /// Unix time of the last approval it signed.
    #[serde(default)]
    pub last_used: Option<u64>,
    /// The verifier's own record of the credential (public key, sign count, flags), kept
    /// as it wrote it.
    pub credential: serde_json::Value,
}

/// A browser that subscribed to Web Push on the approval page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushTarget {
    /// The push service's URL for this browser.
    pub endpoint: String,
    /// The browser's P-256 public key, base64url.
    pub p256dh: String,
    /// The browser's authentication secret, base64url.
    pub auth: String,
    /// Unix time it subscribed.
    pub added_at: u64,
}

/// Adds `target`, replacing one with the same endpoint, and keeps at most
/// [`MAX_PUSH_SUBSCRIPTIONS`], dropping the oldest.
pub fn add_push_target(targets: &mut Vec<PushTarget>, target: PushTarget) {
    targets.retain(|t| t.endpoint != target.endpoint);
    targets.push(target);
    if targets.len() > MAX_PUSH_SUBSCRIPTIONS {
        let extra = targets.len() - MAX_PUSH_SUBSCRIPTIONS;
        targets.drain(..extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(endpoint: &str, at: u64) -> PushTarget {
        PushTarget {
            endpoint: endpoint.to_owned(),
            p256dh: "k".to_owned(),
            auth: "a".to_owned(),
            added_at: at,
        }
    }

    #[test]
    fn a_push_endpoint_is_kept_once_and_the_oldest_go_first() {
        let mut targets = Vec::new();
        for i in 0..7 {
            add_push_target(&mut targets, target(&format!("e{i}"), i));
        }
        add_push_target(&mut targets, target("e4", 99));
        let kept: Vec<_> = targets.iter().map(|t| t.endpoint.as_str()).collect();
        assert_eq!(kept, ["e2", "e3", "e5", "e6", "e4"]);
        assert_eq!(targets.last().map(|t| t.added_at), Some(99));
    }
}
