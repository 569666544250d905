//! App passwords: for programs that cannot answer a second prompt (mail clients, scripts
//! over sftp, old VPN clients). One stands in for the whole login on the services it was
//! made for, so it is long and random (the daemon makes it), only its argon2id hash is
//! kept, and it can expire.
//!
//! Shape: 20 characters from the recovery codes' 30-letter alphabet without look-alikes,
//! shown as `xxxx-xxxx-xxxx-xxxx-xxxx`: 98.1 bits. Four groups (78.5 bits) would fall short
//! of the 80 bits asked for, hence five. The first group is the password's public ID, kept
//! in clear beside the hash (as recovery codes do): a login runs argon2 only against the
//! stored passwords whose ID matches, so a user with ten of them costs one argon2 run per
//! attempt, not ten. An online guess must still match all 20 characters; someone who can
//! read the state directory learns 4 of them and faces 78.5 bits behind argon2id (and
//! already holds the TOTP secrets). A user holds at most [`MAX_PER_USER`].
//!
//! Anything typed that does not have this shape (a user's Unix password, which the PAM
//! line hands over first) is "not an app password" without any hashing: see [`normalize`].

use zeroize::Zeroizing;

use crate::factor::recovery::{self, RecoveryError};

use serde::{Deserialize, Serialize};

/// A stored app password. Its `Debug` shows the hash's presence, never the hash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppPassword {
    /// The password's first group (public), which picks the one hash a login checks;
    /// `None` only for a hand-made record, which is then checked on every attempt.
    #[serde(default)]
    pub id: Option<String>,
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
            .field("id", &self.id)
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

/// App passwords one user may hold: bounds the argon2 work of a login even if every stored
/// ID matched, and the record's size.
pub const MAX_PER_USER: usize = 10;
/// Longest service list of one app password.
pub const MAX_SERVICES: usize = 16;
/// Longest PAM service name in a service list (a file name in /etc/pam.d).
const MAX_SERVICE_LEN: usize = 64;
const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstvwxyz";
const LEN: usize = 20;
const GROUP: usize = 4;
const ID_LEN: usize = GROUP;

/// A new app password in display form, `xxxx-xxxx-xxxx-xxxx-xxxx`.
pub fn generate() -> Result<Zeroizing<String>, RecoveryError> {
    let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
    let mut shown = Zeroizing::new(String::with_capacity(LEN + LEN / GROUP));
    let mut chosen = 0;
    let mut buf = Zeroizing::new([0u8; 32]);
    while chosen < LEN {
        getrandom::fill(&mut buf[..]).map_err(RecoveryError::Random)?;
        for &b in buf.iter() {
            // Rejection sampling keeps every letter equally likely.
            if b >= limit || chosen == LEN {
                continue;
            }
            if chosen > 0 && chosen % GROUP == 0 {
                shown.push('-');
            }
            shown.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            chosen += 1;
        }
    }
    Ok(shown)
}

/// The canonical form of something typed as an app password (lower case, dashes dropped),
/// or `None` when it cannot be one: then it is someone's ordinary password, and is not
/// looked at any further (no hash, no failure counted).
pub fn normalize(typed: &str) -> Option<Zeroizing<String>> {
    // A cheap bound first: the shape allows 20 letters and at most 19 dashes.
    if typed.len() > 2 * LEN {
        return None;
    }
    let canonical: Zeroizing<String> = Zeroizing::new(
        typed
            .chars()
            .filter(|c| *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect(),
    );
    let valid = canonical.len() == LEN && canonical.bytes().all(|b| ALPHABET.contains(&b));
    valid.then_some(canonical)
}

/// What is wrong with a service list for a new app password, if anything: each a PAM
/// service name (letters, digits and `-_.+@`, at most 64 bytes), no repeats, at most
/// [`MAX_SERVICES`].
pub fn services_problem(services: &[String]) -> Option<String> {
    if services.len() > MAX_SERVICES {
        return Some(format!(
            "at most {MAX_SERVICES} services per app password, got {}",
            services.len()
        ));
    }
    for (i, service) in services.iter().enumerate() {
        let shaped = !service.is_empty()
            && service.len() <= MAX_SERVICE_LEN
            && !service.starts_with('.')
            && service
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.+@".contains(&b));
        if !shaped {
            return Some(format!(
                "service {service:?} is not a PAM service name (1 to {MAX_SERVICE_LEN} letters, \
                 digits and `-_.+@`, as in /etc/pam.d)"
            ));
        }
        if services[..i].contains(service) {
            return Some(format!("service {service:?} is listed twice"));
        }
    }
    None
}

impl AppPassword {
    /// The stored form of `password` (display or canonical form): its public ID and
    /// argon2id hash, and what it is for.
    pub fn new(
        label: &str,
        password: &str,
        services: Vec<String>,
        created_at: u64,
        expires_at: Option<u64>,
    ) -> Result<AppPassword, RecoveryError> {
        let canonical = normalize(password).unwrap_or_else(|| Zeroizing::new(password.to_owned()));
        Ok(AppPassword {
            id: canonical.get(..ID_LEN).map(str::to_owned),
            label: label.to_owned(),
            hash: recovery::hash_canonical(&canonical)?,
            services,
            created_at,
            expires_at,
            last_used: None,
        })
    }
}

/// Whether any of `stored` works on `service` at `now`: if none does, a login does not look
/// at what was typed at all.
pub fn any_usable(stored: &[AppPassword], service: &str, now: u64) -> bool {
    stored.iter().any(|p| p.usable(service, now))
}

/// The label of the stored app password `canonical` is, among those usable on `service` at
/// `now`. Only those whose ID matches are hashed (at most [`MAX_PER_USER`], nearly always
/// one); when none matches, `decoy` is, so a wrong guess takes as long as a near miss and
/// the timing does not tell an ID.
pub fn find_match<'a>(
    canonical: &str,
    stored: &'a [AppPassword],
    service: &str,
    now: u64,
    decoy: &str,
) -> Option<&'a str> {
    let id = canonical.get(..ID_LEN);
    let mut found = None;
    let mut checked = 0;
    let candidates = stored
        .iter()
        .filter(|p| p.usable(service, now))
        .filter(|p| p.id.is_none() || p.id.as_deref() == id)
        .take(MAX_PER_USER);
    for password in candidates {
        checked += 1;
        if recovery::verify(canonical, &password.hash) && found.is_none() {
            found = Some(password.label.as_str());
        }
    }
    if checked == 0 {
        recovery::verify(canonical, decoy);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(services: &[&str], expires_at: Option<u64>) -> AppPassword {
        AppPassword {
            id: None,
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
    #[test]
    fn new_passwords_have_the_advertised_shape_and_entropy() {
        let shown = generate().unwrap();
        assert_eq!(shown.len(), 24, "{}", shown.as_str());
        for dash in [4, 9, 14, 19] {
            assert_eq!(&shown[dash..=dash], "-");
        }
        assert!(normalize(&shown).is_some());
        let bits = (ALPHABET.len() as f64).log2() * LEN as f64;
        assert!(bits >= 80.0, "{bits}");
        let behind_the_id = (ALPHABET.len() as f64).log2() * (LEN - ID_LEN) as f64;
        assert!(behind_the_id > 78.0, "{behind_the_id}");
        assert_ne!(generate().unwrap(), shown);
    }

    #[test]
    fn ordinary_passwords_are_not_app_passwords() {
        for typed in [
            "hunter2",
            "Correct-Horse-Battery-Staple",
            "k7qm-x2pd-9rtw",
            "k7qm-x2pd-9rtw-k7qm-x2pd-9rtw",
            "k7qm-x2pd-9rtw-k7qm-x2p0",
            "k7qm x2pd 9rtw k7qm x2pd",
            &"-".repeat(100),
        ] {
            assert!(normalize(typed).is_none(), "{typed}");
        }
        assert_eq!(
            normalize("K7QM-X2PD-9RTW-K7QM-X2PD").unwrap().as_str(),
            "k7qmx2pd9rtwk7qmx2pd"
        );
    }

    #[test]
    fn a_password_matches_itself_only_where_usable() {
        let shown = generate().unwrap();
        let stored =
            AppPassword::new("mail", &shown, vec!["dovecot".into()], 10, Some(100)).unwrap();
        assert!(stored.hash.starts_with("$argon2id$"));
        assert!(!stored.hash.contains(&normalize(&shown).unwrap()[..]));
        assert_eq!(stored.id.as_deref(), Some(&shown[..4]));
        let decoy = recovery::hash("decoy").unwrap().hash;
        let typed = normalize(&shown).unwrap();
        let all = [stored];
        assert_eq!(
            find_match(&typed, &all, "dovecot", 50, &decoy),
            Some("mail")
        );
        assert_eq!(find_match(&typed, &all, "sshd", 50, &decoy), None);
        assert_eq!(find_match(&typed, &all, "dovecot", 100, &decoy), None);
        let other = normalize(&generate().unwrap()).unwrap();
        assert_eq!(find_match(&other, &all, "dovecot", 50, &decoy), None);
        assert!(any_usable(&all, "dovecot", 50));
        assert!(!any_usable(&all, "sshd", 50));
    }

    #[test]
    fn services_must_be_pam_service_names() {
        let ok: Vec<String> = vec!["sshd".into(), "dovecot".into()];
        assert_eq!(services_problem(&ok), None);
        let bad: Vec<String> = vec!["../sshd".into()];
        assert!(services_problem(&bad).unwrap().contains("../sshd"));
        let twice: Vec<String> = vec!["sshd".into(), "sshd".into()];
        assert!(services_problem(&twice).unwrap().contains("twice"));
    }
}
