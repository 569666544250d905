//! Recovery codes: single-use codes for when the authenticator app is lost.
//!
//! Each code is 12 characters from a 30-letter alphabet without look-alikes (no 0/o, 1/l/i,
//! no u), shown as `xxxx-xxxx-xxxx`: 58.9 bits. Only argon2id hashes are stored, each with the
//! code's first group as its public ID: checking an answer runs argon2 once, against the one
//! code whose ID matches (or a decoy), so a guess costs the daemon what it costs the attacker
//! (one try against the attempt limits) instead of ten hashes. The ID says nothing an online
//! attacker can use: a guess must still match all 12 characters. Someone who can read the
//! state directory learns 4 of the 12 characters, and 39 bits behind argon2id remain; that
//! reader already holds the TOTP secrets.
//!
//! Codes imported from google-authenticator-libpam (its 8-digit scratch codes) are kept the
//! same way. Their ID is `#` and their first 2 digits: it keeps a guess to about one argon2
//! run (10 codes among 100 IDs), and leaves 6 digits (20 bits) behind argon2id for a reader
//! of the state directory, where google-authenticator kept them in plain text. An 8-digit
//! answer can also be an 8-digit app code: the caller tries it as a scratch code only when
//! the user holds some ([`holds_scratch_codes`]).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::factor::{Decision, Factor, Rejection};

/// Codes in a set.
pub const CODES_PER_SET: usize = 10;
const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstvwxyz";
const CODE_LEN: usize = 12;
const GROUP: usize = 4;
/// Characters of a code's canonical form that are its public ID.
const ID_LEN: usize = GROUP;
/// Length of an imported google-authenticator scratch code (digits only).
pub const SCRATCH_LEN: usize = 8;
/// Digits of a scratch code that are its public ID (after [`SCRATCH_ID_MARK`]).
const SCRATCH_ID_LEN: usize = 2;
/// Starts a scratch code's ID, so that it never equals a letter code's (whose alphabet has
/// digits too).
const SCRATCH_ID_MARK: char = '#';

/// A stored recovery code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredCode")]
pub struct RecoveryCode {
    /// The code's first group (public), `None` for codes made before IDs existed, which
    /// each need an argon2 check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// argon2id PHC string of the whole canonical code.
    pub hash: String,
}

/// Record version 1 stored a bare hash per code; version 2 stores `{id, hash}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredCode {
    Bare(String),
    WithId(KeyedCode),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyedCode {
    #[serde(default)]
    id: Option<String>,
    hash: String,
}

impl From<StoredCode> for RecoveryCode {
    fn from(stored: StoredCode) -> Self {
        match stored {
            StoredCode::Bare(hash) => RecoveryCode { id: None, hash },
            StoredCode::WithId(KeyedCode { id, hash }) => RecoveryCode { id, hash },
        }
    }
}

/// Why a hash could not be made.
#[derive(Debug)]
pub enum RecoveryError {
    /// The OS RNG failed.
    Random(getrandom::Error),
    /// argon2 refused its input (never expected with our fixed parameters).
    Hash(argon2::password_hash::Error),
}

impl std::error::Error for RecoveryError {}

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

/// The canonical form of something typed as an imported scratch code (8 digits, dashes and
/// spaces dropped), or `None` if it cannot be one.
pub fn normalize_scratch(answer: &str) -> Option<Zeroizing<String>> {
    let canonical: Zeroizing<String> = Zeroizing::new(
        answer
            .chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .collect(),
    );
    let valid = canonical.len() == SCRATCH_LEN && canonical.bytes().all(|b| b.is_ascii_digit());
    valid.then_some(canonical)
}

/// Whether `codes` hold an imported scratch code (so an 8-digit answer may be one).
pub fn holds_scratch_codes(codes: &[RecoveryCode]) -> bool {
    codes.iter().any(|c| {
        c.id.as_deref()
            .is_some_and(|id| id.starts_with(SCRATCH_ID_MARK))
    })
}

/// The stored form of a code in display or canonical form (a recovery code, or an 8-digit
/// scratch code being imported): its ID and argon2id hash.
pub fn hash(code: &str) -> Result<RecoveryCode, RecoveryError> {
    let canonical = normalize(code)
        .or_else(|| normalize_scratch(code))
        .unwrap_or_else(|| Zeroizing::new(code.to_owned()));
    let hash = hash_canonical(&canonical)?;
    Ok(RecoveryCode {
        id: id_of(&canonical),
        hash,
    })
}

/// The public ID of a code in canonical form.
fn id_of(canonical: &str) -> Option<String> {
    if normalize_scratch(canonical).is_some() {
        let digits = canonical.get(..SCRATCH_ID_LEN)?;
        return Some(format!("{SCRATCH_ID_MARK}{digits}"));
    }
    canonical.get(..ID_LEN).map(str::to_owned)
}

/// The stored codes an answer in `canonical` form could be: those whose ID matches, and
/// those without an ID.
fn candidates<'a>(
    canonical: &str,
    codes: &'a [RecoveryCode],
) -> impl Iterator<Item = &'a RecoveryCode> {
    let id = id_of(canonical);
    codes.iter().filter(move |c| c.id.is_none() || c.id == id)
}

/// The stored hash that `canonical` matches, if any. Only [`candidates`] are checked; when
/// there is none, `decoy` is, so every answer costs at least one argon2 run whoever the user
/// is and whatever they have enrolled.
pub fn find_match<'a>(canonical: &str, codes: &'a [RecoveryCode], decoy: &str) -> Option<&'a str> {
    let mut found = None;
    let mut checked = 0;
    for code in candidates(canonical, codes) {
        checked += 1;
        if verify(canonical, &code.hash) && found.is_none() {
            found = Some(code.hash.as_str());
        }
    }
    if checked == 0 {
        verify(canonical, decoy);
    }
    found
}

/// The argon2id PHC string of `canonical` (already in canonical form), with a fresh salt.
pub(crate) fn hash_canonical(canonical: &str) -> Result<String, RecoveryError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(RecoveryError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(RecoveryError::Hash)?;
    argon2()
        .hash_password(canonical.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(RecoveryError::Hash)
}

/// Whether `canonical` is what `stored` (an argon2 PHC string) hashes; constant-time inside
/// argon2's verifier.
pub(crate) fn verify(canonical: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => argon2()
            .verify_password(canonical.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Uses up the code whose hash is `hash` (found by [`find_match`] on a snapshot), if it is
/// still unused and `still_wanted()` says the client is still there to be told. Called under
/// the record's lock, so two logins racing with one code cannot both win.
pub fn consume(
    codes: &mut Vec<RecoveryCode>,
    hash: &str,
    still_wanted: &dyn Fn() -> bool,
) -> Decision {
    let Some(index) = codes.iter().position(|c| c.hash == hash) else {
        return Decision::Refuse(Rejection::Replayed);
    };
    let left = codes.len() - 1;
    if !still_wanted() {
        return Decision::Abandon(Factor::RecoveryCode { left: left + 1 });
    }
    codes.remove(index);
    Decision::Accept(Factor::RecoveryCode { left })
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
        let codes: Vec<RecoveryCode> = set.iter().take(2).map(|c| hash(c).unwrap()).collect();
        assert!(codes[0].hash.starts_with("$argon2id$"));
        assert!(!codes[0].hash.contains(set[0].as_str()));
        assert_eq!(codes[0].id.as_deref(), Some(&set[0][..4]));
        let decoy = hash("decoy").unwrap().hash;
        let first = normalize(&set[0]).unwrap();
        assert_eq!(
            find_match(&first, &codes, &decoy),
            Some(codes[0].hash.as_str())
        );
        let third = normalize(&set[2]).unwrap();
        assert_eq!(find_match(&third, &codes, &decoy), None);
        assert_eq!(find_match(&first, &[], &decoy), None);
        let garbage = RecoveryCode {
            id: None,
            hash: "garbage".to_owned(),
        };
        assert_eq!(find_match(&first, &[garbage], &decoy), None);
    }

    #[test]
    fn one_argon2_run_per_answer_with_ids() {
        let set = generate_set().unwrap();
        let codes: Vec<RecoveryCode> = set.iter().map(|c| hash(c).unwrap()).collect();
        // A guess matches no ID (the decoy is checked instead); a right code matches its own
        // ID only (a clash of first groups within one set is possible but rare, and costs one
        // more run).
        let guess = normalize("2222-3333-4444").unwrap();
        let right = normalize(&set[5]).unwrap();
        let clashes = |c: &str| {
            codes
                .iter()
                .filter(|k| k.id.as_deref() == Some(&c[..4]))
                .count()
        };
        assert_eq!(candidates(&guess, &codes).count(), clashes(&guess));
        assert_eq!(candidates(&right, &codes).count(), clashes(&right));
        assert!(clashes(&right) >= 1);
    }

    #[test]
    fn imported_scratch_codes_verify_with_one_argon2_run_and_keep_apart() {
        assert_eq!(
            normalize_scratch(" 1234-5678 ").unwrap().as_str(),
            "12345678"
        );
        for bad in ["1234567", "123456789", "1234567a", "k7qm-x2pd-9rtw"] {
            assert!(normalize_scratch(bad).is_none(), "{bad}");
        }
        // A scratch code is never taken for a recovery code, nor the other way round.
        assert!(normalize("12345678").is_none());
        let scratch = ["12345678", "12999999", "98765432"];
        let codes: Vec<RecoveryCode> = scratch.iter().map(|c| hash(c).unwrap()).collect();
        assert_eq!(codes[0].id.as_deref(), Some("#12"));
        assert!(holds_scratch_codes(&codes));
        assert!(!holds_scratch_codes(&[hash("k7qm-x2pd-9rtw").unwrap()]));
        let decoy = hash("decoy").unwrap().hash;
        assert_eq!(
            find_match("98765432", &codes, &decoy),
            Some(codes[2].hash.as_str())
        );
        assert_eq!(find_match("98765431", &codes, &decoy), None);
        // Only the codes of the answer's ID are hashed: two share "#12" here, none "#55".
        assert_eq!(candidates("12000000", &codes).count(), 2);
        assert_eq!(candidates("98765432", &codes).count(), 1);
        assert_eq!(candidates("55555555", &codes).count(), 0);
        // Letter codes keep their 4-character IDs; a letter code starting with digits never
        // shares an ID with a scratch code.
        let letters = hash("2345-abcd-efgh").unwrap();
        assert_eq!(letters.id.as_deref(), Some("2345"));
        let mixed = [letters.clone(), hash("23456789").unwrap()];
        assert_eq!(candidates("2345abcdefgh", &mixed).count(), 1);
        assert_eq!(
            find_match("2345abcdefgh", &mixed, &decoy),
            Some(letters.hash.as_str())
        );
    }

    #[test]
    fn stored_codes_refuse_unknown_fields() {
        let stored = r#"[{"id":"abcd","hash":"h","junk":1}]"#;
        assert!(serde_json::from_str::<Vec<RecoveryCode>>(stored).is_err());
    }

    #[test]
    fn version_1_bare_hashes_still_verify() {
        let set = generate_set().unwrap();
        let stored = hash(&set[0]).unwrap();
        let json = format!("[{:?}]", stored.hash);
        let legacy: Vec<RecoveryCode> = serde_json::from_str(&json).unwrap();
        assert_eq!(legacy[0].id, None);
        let decoy = hash("decoy").unwrap().hash;
        let first = normalize(&set[0]).unwrap();
        assert_eq!(
            find_match(&first, &legacy, &decoy),
            Some(stored.hash.as_str())
        );
        let written = serde_json::to_string(&stored).unwrap();
        let back: RecoveryCode = serde_json::from_str(&written).unwrap();
        assert_eq!(back, stored);
    }
}
