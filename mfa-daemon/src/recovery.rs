//! Recovery codes: single-use codes for when the authenticator app is lost.
//!
//! Each code is 12 characters from a 30-letter alphabet without look-alikes (no 0/o, 1/l/i,
//! no u), shown as `xxxx-xxxx-xxxx`: 58.9 bits. Only argon2id hashes are stored.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};
use zeroize::Zeroizing;

/// Codes in a set.
pub const CODES_PER_SET: usize = 10;
const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstvwxyz";
const CODE_LEN: usize = 12;
const GROUP: usize = 4;

/// Why a hash could not be made.
#[derive(Debug)]
pub enum RecoveryError {
    /// The OS RNG failed.
    Random(getrandom::Error),
    /// argon2 refused its input (never expected with our fixed parameters).
    Hash(argon2::password_hash::Error),
}

impl std::fmt::Display for RecoveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecoveryError::Random(e) => write!(f, "random number generator failed: {e}"),
            RecoveryError::Hash(e) => write!(f, "argon2 failed: {e}"),
        }
    }
}

fn argon2() -> Argon2<'static> {
    // OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.
    Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        Params::DEFAULT,
    )
}

/// A new set of codes in display form, e.g. `k7qm-x2pd-9rtw`.
pub fn generate_set() -> Result<Vec<Zeroizing<String>>, RecoveryError> {
    (0..CODES_PER_SET).map(|_| generate_code()).collect()
}

fn generate_code() -> Result<Zeroizing<String>, RecoveryError> {
    let letters = ALPHABET;
    let limit = (256 / letters.len() * letters.len()) as u8;
    let mut code = Zeroizing::new(String::with_capacity(CODE_LEN + 2));
    let mut chosen = 0;
    let mut buf = Zeroizing::new([0u8; 32]);
    while chosen < CODE_LEN {
        getrandom::fill(&mut buf[..]).map_err(RecoveryError::Random)?;
        for &b in buf.iter() {
            // Rejection sampling keeps every letter equally likely.
            if b >= limit || chosen == CODE_LEN {
                continue;
            }
            if chosen > 0 && chosen % GROUP == 0 {
                code.push('-');
            }
            code.push(char::from(letters[usize::from(b) % letters.len()]));
            chosen += 1;
        }
    }
    Ok(code)
}

/// The canonical form of something typed as a recovery code (lower case, without dashes
/// and spaces), or `None` if it cannot be one.
pub fn normalize(answer: &str) -> Option<Zeroizing<String>> {
    let canonical: Zeroizing<String> = Zeroizing::new(
        answer
            .chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .map(|c| c.to_ascii_lowercase())
            .collect(),
    );
    let valid = canonical.len() == CODE_LEN && canonical.bytes().all(|b| ALPHABET.contains(&b));
    valid.then_some(canonical)
}

/// An argon2id hash (PHC string) of a code in display or canonical form.
pub fn hash(code: &str) -> Result<String, RecoveryError> {
    let canonical = normalize(code).unwrap_or_else(|| Zeroizing::new(code.to_owned()));
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(RecoveryError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(RecoveryError::Hash)?;
    argon2()
        .hash_password(canonical.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(RecoveryError::Hash)
}

/// The stored hash that `canonical` matches, if any. Every hash is checked, padded with
/// `decoy` up to a full set, so the time taken says nothing about how many codes a user has
/// or which one matched.
pub fn find_match<'a>(canonical: &str, hashes: &'a [String], decoy: &str) -> Option<&'a str> {
    let mut found = None;
    let padding = CODES_PER_SET.saturating_sub(hashes.len());
    for stored in hashes.iter().map(String::as_str) {
        if verify(canonical, stored) && found.is_none() {
            found = Some(stored);
        }
    }
    for _ in 0..padding {
        verify(canonical, decoy);
    }
    found
}

fn verify(canonical: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => argon2()
            .verify_password(canonical.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_the_advertised_shape_and_entropy() {
        let set = generate_set().unwrap();
        assert_eq!(set.len(), CODES_PER_SET);
        for code in &set {
            assert_eq!(code.len(), 14, "{}", code.as_str());
            assert_eq!(&code[4..5], "-");
            assert_eq!(&code[9..10], "-");
            assert!(normalize(code).is_some());
        }
        let bits = (ALPHABET.len() as f64).log2() * CODE_LEN as f64;
        assert!(bits >= 50.0, "{bits}");
        let mut unique: Vec<&str> = set.iter().map(|c| c.as_str()).collect();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), CODES_PER_SET);
    }

    #[test]
    fn alphabet_has_no_look_alikes() {
        for c in b"01ilou" {
            assert!(!ALPHABET.contains(c), "{}", *c as char);
        }
        assert_eq!(ALPHABET.len(), 30);
    }

    #[test]
    fn normalize_accepts_typing_variants_only() {
        let c = normalize("K7QM-X2PD-9RTW").unwrap();
        assert_eq!(c.as_str(), "k7qmx2pd9rtw");
        assert_eq!(
            normalize(" k7qm x2pd 9rtw ").unwrap().as_str(),
            "k7qmx2pd9rtw"
        );
        assert!(normalize("k7qm-x2pd-9rt").is_none());
        assert!(normalize("k7qm-x2pd-9rt0").is_none());
        assert!(normalize("123456").is_none());
    }

    #[test]
    fn hash_verifies_only_its_code() {
        let set = generate_set().unwrap();
        let hashes: Vec<String> = set.iter().take(2).map(|c| hash(c).unwrap()).collect();
        assert!(hashes[0].starts_with("$argon2id$"));
        assert!(!hashes[0].contains(set[0].as_str()));
        let decoy = hash("decoy").unwrap();
        let first = normalize(&set[0]).unwrap();
        assert_eq!(
            find_match(&first, &hashes, &decoy),
            Some(hashes[0].as_str())
        );
        let third = normalize(&set[2]).unwrap();
        assert_eq!(find_match(&third, &hashes, &decoy), None);
        assert_eq!(find_match(&first, &[], &decoy), None);
        assert_eq!(find_match(&first, &["garbage".to_owned()], &decoy), None);
    }
}
