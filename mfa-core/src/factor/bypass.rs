//! Bypass codes: what an admin hands a user who lost their phone (`mfactl bypass`), like
//! Duo's. Twelve digits shown as `1234-5678-9012`, easy to read out over the phone; valid
//! for a few uses and a few hours; stored only as an argon2id hash.
//!
//! A bypass code always contains a `0` or a `1`, which recovery codes never do, so at the
//! prompt the two can never be taken for each other: a 12-digit answer made only of 2–9
//! is a recovery code's form.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::factor::recovery::{self, RecoveryError};
use crate::factor::{Decision, Factor, Rejection};

/// Digits in a code.
pub const DIGITS: usize = 12;
/// Most uses one code may be given.
pub const MAX_USES: u8 = 10;
/// Longest validity, in seconds (7 days).
pub const MAX_VALID_SECS: u64 = 7 * 86_400;
const GROUP: usize = 4;

/// The live bypass code of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BypassGrant {
    /// argon2id PHC string of the 12 digits.
    pub hash: String,
    /// Logins it still allows.
    pub uses_left: u8,
    /// Unix time after which it is refused.
    pub expires_at: u64,
    /// Unix time it was issued.
    pub issued_at: u64,
    /// The uid of the admin who issued it.
    pub issued_by: u32,
}

impl BypassGrant {
    /// Whether it still lets anyone in at `now`.
    pub fn is_live(&self, now: u64) -> bool {
        self.uses_left > 0 && now < self.expires_at
    }
}

/// A new code: its display form (shown once) and what is stored.
pub fn issue(
    uses: u8,
    valid_secs: u64,
    now: u64,
    issued_by: u32,
) -> Result<(Zeroizing<String>, BypassGrant), RecoveryError> {
    let digits = generate_digits()?;
    let hash = recovery::hash_canonical(&digits)?;
    let mut display = Zeroizing::new(String::with_capacity(DIGITS + 2));
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && i % GROUP == 0 {
            display.push('-');
        }
        display.push(c);
    }
    Ok((
        display,
        BypassGrant {
            hash,
            uses_left: uses.clamp(1, MAX_USES),
            expires_at: now.saturating_add(valid_secs.min(MAX_VALID_SECS)),
            issued_at: now,
            issued_by,
        },
    ))
}

fn generate_digits() -> Result<Zeroizing<String>, RecoveryError> {
    loop {
        let mut digits = Zeroizing::new(String::with_capacity(DIGITS));
        let mut buf = Zeroizing::new([0u8; 32]);
        while digits.len() < DIGITS {
            getrandom::fill(&mut buf[..]).map_err(RecoveryError::Random)?;
            // Rejection sampling keeps every digit equally likely (250 = 25 × 10).
            for &b in buf.iter().filter(|&&b| b < 250) {
                if digits.len() < DIGITS {
                    digits.push(char::from(b'0' + b % 10));
                }
            }
        }
        if digits.contains(['0', '1']) {
            return Ok(digits);
        }
    }
}

/// The canonical form of an answer that can be a bypass code (12 digits, one of them `0` or
/// `1`, with any dashes and spaces left out), or `None`.
pub fn normalize(answer: &str) -> Option<Zeroizing<String>> {
    let canonical: Zeroizing<String> = Zeroizing::new(
        answer
            .chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .collect(),
    );
    let valid = canonical.len() == DIGITS
        && canonical.bytes().all(|b| b.is_ascii_digit())
        && canonical.contains(['0', '1']);
    valid.then_some(canonical)
}

/// Whether `canonical` is the user's live bypass code at `now`. Always one argon2 run (on
/// `decoy` when there is no live code), whoever the user is.
pub fn matches(canonical: &str, grant: Option<&BypassGrant>, decoy: &str, now: u64) -> bool {
    match grant.filter(|g| g.is_live(now)) {
        Some(grant) => recovery::verify(canonical, &grant.hash),
        None => {
            recovery::verify(canonical, decoy);
            false
        }
    }
}

/// Uses one use of the code whose hash is `hash` (matched on a snapshot by [`matches`]), if
/// it is still live and `still_wanted()`; called under the record's lock, so N logins racing
/// with a one-use code give one success. The grant is dropped after its last use.
pub fn consume(
    slot: &mut Option<BypassGrant>,
    hash: &str,
    now: u64,
    still_wanted: &dyn Fn() -> bool,
) -> Decision {
    let Some(grant) = slot.as_mut().filter(|g| g.hash == hash) else {
        return Decision::Refuse(Rejection::Replayed);
    };
    if !grant.is_live(now) {
        *slot = None;
        return Decision::Refuse(Rejection::Expired);
    }
    if !still_wanted() {
        return Decision::Abandon(Factor::BypassCode);
    }
    grant.uses_left -= 1;
    if grant.uses_left == 0 {
        *slot = None;
    }
    Decision::Accept(Factor::BypassCode)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn codes_are_twelve_digits_never_a_recovery_code_and_typed_any_way() {
        for _ in 0..20 {
            let digits = generate_digits().unwrap();
            assert_eq!(digits.len(), DIGITS);
            assert!(
                recovery::normalize(&digits).is_none(),
                "{}",
                digits.as_str()
            );
            assert_eq!(normalize(&digits).unwrap().as_str(), digits.as_str());
        }
        assert_eq!(
            normalize("1234-5678 9012").unwrap().as_str(),
            "123456789012"
        );
        assert!(normalize("2345-6789-2345").is_none(), "no 0 or 1");
        assert!(normalize("12345678901").is_none());
        assert!(normalize("12345678901a").is_none());
        assert!(normalize("123456").is_none());
    }

    #[test]
    fn a_code_works_for_its_uses_then_not_and_never_after_expiry() {
        let (code, grant) = issue(2, 3600, NOW, 0).unwrap();
        let canonical = normalize(&code).unwrap();
        let decoy = recovery::hash_canonical("000000000000").unwrap();
        assert!(matches(&canonical, Some(&grant), &decoy, NOW));
        assert!(!matches("100000000000", Some(&grant), &decoy, NOW));
        assert!(!matches(&canonical, Some(&grant), &decoy, NOW + 3600));
        let hash = grant.hash.clone();
        let mut slot = Some(grant);
        assert_eq!(
            consume(&mut slot, &hash, NOW, &|| false),
            Decision::Abandon(Factor::BypassCode)
        );
        assert_eq!(
            slot.as_ref().unwrap().uses_left,
            2,
            "abandoned: nothing used"
        );
        for _ in 0..2 {
            assert_eq!(
                consume(&mut slot, &hash, NOW, &|| true),
                Decision::Accept(Factor::BypassCode)
            );
        }
        assert!(slot.is_none(), "dropped after its last use");
        assert_eq!(
            consume(&mut slot, &hash, NOW, &|| true),
            Decision::Refuse(Rejection::Replayed)
        );
        let (_, expired) = issue(1, 60, NOW, 0).unwrap();
        let hash = expired.hash.clone();
        let mut slot = Some(expired);
        assert_eq!(
            consume(&mut slot, &hash, NOW + 60, &|| true),
            Decision::Refuse(Rejection::Expired)
        );
        assert!(slot.is_none());
    }

    #[test]
    fn uses_and_validity_are_clamped() {
        let (_, g) = issue(0, 30 * 86_400, NOW, 0).unwrap();
        assert_eq!(g.uses_left, 1);
        assert_eq!(g.expires_at, NOW + MAX_VALID_SECS);
        let (_, g) = issue(200, 60, NOW, 0).unwrap();
        assert_eq!(g.uses_left, MAX_USES);
    }
}
