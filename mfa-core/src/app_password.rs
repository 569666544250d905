//! App passwords: for programs that cannot answer a second prompt (mail clients, scripts
//! over sftp, old VPN clients). One stands in for the whole login on the services it was
//! made for, so it is long and random (the daemon makes it), only its argon2id hash is
//! kept, and it can expire.

use serde::{Deserialize, Serialize};

/// A stored app password. Its `Debug` shows the hash's presence, never the hash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppPassword {
    /// The user's name for it (`thunderbird`, `backup-rsync`); the same rules as app labels.
    pub label: String,
    /// argon2id PHC string of the password's canonical form.
    pub hash: String,
    /// PAM services it works for; empty means every service the policy allows app
    /// passwords on.
    #[serde(default)]
    pub services: Vec<String>,
    /// Unix time it was made.
    pub created_at: u64,
    /// Unix time after which it no longer works, if it expires.
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// Unix time of the last login it made.
    #[serde(default)]
    pub last_used: Option<u64>,
}

impl std::fmt::Debug for AppPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppPassword")
            .field("label", &self.label)
            .field("hash", &"<hidden>")
            .field("services", &self.services)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("last_used", &self.last_used)
            .finish()
    }
}

impl AppPassword {
    /// Whether it may be used at `now` on `service` (expiry and service list only; the
    /// policy's own say comes first).
    pub fn usable(&self, service: &str, now: u64) -> bool {
        let live = self.expires_at.is_none_or(|end| now < end);
        let for_service = self.services.is_empty() || self.services.iter().any(|s| s == service);
        live && for_service
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(services: &[&str], expires_at: Option<u64>) -> AppPassword {
        AppPassword {
            label: "mail".into(),
            hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            services: services.iter().map(|s| (*s).to_owned()).collect(),
            created_at: 10,
            expires_at,
            last_used: None,
        }
    }

    #[test]
    fn only_its_services_and_only_until_it_expires() {
        let any = password(&[], None);
        assert!(any.usable("sshd", 1_000));
        let mail = password(&["dovecot"], Some(100));
        assert!(mail.usable("dovecot", 99));
        assert!(!mail.usable("dovecot", 100), "expired at its end");
        assert!(!mail.usable("sshd", 50), "not one of its services");
    }

    #[test]
    fn debug_never_shows_the_hash() {
        let shown = format!("{:?}", password(&[], None));
        assert!(!shown.contains("argon2id"), "{shown}");
        assert!(shown.contains("mail"));
    }
}
