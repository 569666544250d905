//! Counter-based one-time passwords (RFC 4226): hardware tokens and the HOTP entries that
//! imports bring in. The codes come from the TOTP generator, since TOTP is HOTP of the time
//! step; what HOTP adds is the counter: a code is accepted only at or after the stored
//! counter, and the counter moves past it, so each code works once.
//!
//! Nothing here stores anything. The caller holds the user's record lock around
//! [`HotpToken::verify`] and persists the moved counter before it answers; that is what
//! makes a code good for exactly one of several racing logins.

use serde::{Deserialize, Deserializer, Serialize};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::factor::totp::{self, Algorithm, Generator, Secret, TotpParams};
use crate::factor::{Decision, Factor, Rejection};

/// How many counters past the stored one a login code may be (`hotp.window`): a token
/// pressed a few times without logging in still works.
pub const DEFAULT_HOTP_WINDOW: u32 = 10;

/// How many counters past the stored one a resynchronisation searches for two consecutive
/// codes: far wider than a login may look, because two codes in a row are very unlikely to
/// match by chance where one is not.
pub const DEFAULT_RESYNC_WINDOW: u32 = 100;

/// Shortest HOTP code: RFC 4226 section 5.3 requires at least 6 digits.
pub const MIN_DIGITS: u8 = 6;
/// Longest HOTP code: section 5.3 allows 7 or 8, and no token makes longer ones.
pub const MAX_DIGITS: u8 = 8;

/// One HOTP token as a record stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotpToken {
    /// The user's name for it (`yubikey`, `token-1`); the same rules as app labels.
    pub label: String,
    /// The shared secret; its `Debug` shows no byte of it.
    pub secret: Secret,
    /// Code length, 6 to 8.
    #[serde(deserialize_with = "digits_in_range")]
    pub digits: u8,
    /// HMAC algorithm.
    pub algorithm: Algorithm,
    /// The next counter value to accept: every lower one has been used or skipped.
    pub counter: u64,
    /// Unix time of enrollment (or import).
    pub enrolled_at: u64,
    /// Unix time of the last accepted code.
    #[serde(default)]
    pub last_used: Option<u64>,
}

/// Why a token cannot be made from the parts given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HotpTokenError {
    /// The label breaks the label rules; the message says how.
    Label(String),
    /// A code length outside 6 to 8.
    Digits(u8),
    /// No secret bytes at all.
    EmptySecret,
}

impl std::fmt::Display for HotpTokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HotpTokenError::Label(problem) => f.write_str(problem),
            HotpTokenError::Digits(d) => write!(
                f,
                "HOTP digits must be {MIN_DIGITS} to {MAX_DIGITS}, got {d}"
            ),
            HotpTokenError::EmptySecret => f.write_str("HOTP secret is empty"),
        }
    }
}

impl std::error::Error for HotpTokenError {}

/// Why a login code was refused. A code below the stored counter (a replay) is simply
/// [`HotpRefusal::NoMatch`]: it is never looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HotpRefusal {
    /// Not `digits` ASCII digits; no code was computed.
    Malformed,
    /// No counter in the window gives this code.
    NoMatch,
}

impl std::fmt::Display for HotpRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HotpRefusal::Malformed => "not a code of this token's length",
            HotpRefusal::NoMatch => "no code of this token's window matches",
        })
    }
}

impl std::error::Error for HotpRefusal {}

/// Why a resynchronisation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResyncError {
    /// The first (`which` = 1) or second (2) code is not `digits` ASCII digits.
    Malformed {
        /// 1 or 2.
        which: u8,
    },
    /// No two consecutive counters in the window give these codes.
    NotFound,
    /// More than one place in the window gives these codes: the counter cannot be known.
    Ambiguous,
}

impl std::fmt::Display for ResyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResyncError::Malformed { which } => {
                write!(f, "code {which} is not a code of this token's length")
            }
            ResyncError::NotFound => {
                f.write_str("the two codes are not consecutive codes of this token's window")
            }
            ResyncError::Ambiguous => f.write_str(
                "the two codes match at more than one place in the window; try two newer codes",
            ),
        }
    }
}

impl std::error::Error for ResyncError {}

impl HotpToken {
    /// A token whose next accepted counter is `counter` (0 for a new token, the stored
    /// value for an import), checking the label, the length and the secret.
    pub fn new(
        label: &str,
        secret: Secret,
        algorithm: Algorithm,
        digits: u8,
        counter: u64,
        enrolled_at: u64,
    ) -> Result<HotpToken, HotpTokenError> {
        if let Some(problem) = crate::label::label_problem(label) {
            return Err(HotpTokenError::Label(problem));
        }
        if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits) {
            return Err(HotpTokenError::Digits(digits));
        }
        if secret.to_base32().is_empty() {
            return Err(HotpTokenError::EmptySecret);
        }
        Ok(HotpToken {
            label: label.to_owned(),
            secret,
            digits,
            algorithm,
            counter,
            enrolled_at,
            last_used: None,
        })
    }

    /// The code of counter value `counter`.
    pub fn code_at(&self, counter: u64) -> Zeroizing<String> {
        self.generator().code_for_step(counter)
    }

    /// The smallest counter in `[counter, counter + window)` whose code is `code`, if any.
    /// Every candidate is computed and compared in constant time whatever matches, so the
    /// time taken does not say where (or whether) the code was found.
    pub fn matching_counter(&self, code: &str, window: u32) -> Option<u64> {
        if !totp::looks_like_code(code, self.digits) {
            return None;
        }
        let generator = self.generator();
        let mut found = None;
        for c in self.counter..self.counter.saturating_add(u64::from(window)) {
            let candidate = generator.code_for_step(c);
            let equal: bool = candidate.as_bytes().ct_eq(code.as_bytes()).into();
            if equal && found.is_none() {
                found = Some(c);
            }
        }
        found
    }

    /// Checks a login code within `window` counters ([`DEFAULT_HOTP_WINDOW`] unless
    /// configured). On a match at counter `c` the token's counter becomes `c + 1` and
    /// `last_used` becomes `now`; the new counter is returned, and the caller must persist
    /// it before it answers the login. On a refusal nothing changes.
    pub fn verify(&mut self, code: &str, window: u32, now: u64) -> Result<u64, HotpRefusal> {
        if !totp::looks_like_code(code, self.digits) {
            return Err(HotpRefusal::Malformed);
        }
        // The window's end is saturated, so a match is below u64::MAX and c + 1 fits.
        let matched = self
            .matching_counter(code, window)
            .ok_or(HotpRefusal::NoMatch)?;
        self.counter = matched + 1;
        self.last_used = Some(now);
        Ok(self.counter)
    }

    /// Resynchronises a token pressed past its login window: finds the counter `c` in
    /// `[counter, counter + window)` with `code(c) == first` and `code(c + 1) == second`,
    /// sets the counter to `c + 2` (both codes count as used) and returns it. Refused when
    /// no place or more than one place matches; then nothing changes. Only later counters
    /// are searched, so codes already used cannot move the counter back.
    pub fn resync(&mut self, first: &str, second: &str, window: u32) -> Result<u64, ResyncError> {
        if !totp::looks_like_code(first, self.digits) {
            return Err(ResyncError::Malformed { which: 1 });
        }
        if !totp::looks_like_code(second, self.digits) {
            return Err(ResyncError::Malformed { which: 2 });
        }
        let generator = self.generator();
        // c + 2 must fit in the counter.
        let end = self
            .counter
            .saturating_add(u64::from(window))
            .min(u64::MAX - 1);
        let c = place_pair(
            self.counter..=end,
            |c| generator.code_for_step(c),
            first,
            second,
        )?;
        self.counter = c + 2;
        Ok(self.counter)
    }

    fn generator(&self) -> Generator {
        // TOTP of period 1 at "time" c signs the counter c itself: RFC 6238 defines TOTP
        // as HOTP of the step, so the same HMAC and truncation serve both.
        Generator::new(
            TotpParams {
                algorithm: self.algorithm,
                digits: self.digits,
                period: 1,
            },
            &self.secret,
        )
    }
}

/// Checks a login code against every token of a user: accepted by the first token whose
/// window shows it (its counter then moves past the match and `last_used` becomes `now`),
/// if `still_wanted()` says, right before the change, that the client is still there to be
/// told; otherwise [`Decision::Abandon`] and nothing changes. Every token's whole window is
/// computed whatever matched, so the time taken does not say which token (if any) matched.
/// A code below a token's counter (a replay) is simply not found: `Refuse(Invalid)`.
pub fn verify_tokens(
    tokens: &mut [HotpToken],
    code: &str,
    window: u32,
    now: u64,
    still_wanted: &dyn Fn() -> bool,
) -> Decision {
    let mut first = None;
    for (i, token) in tokens.iter().enumerate() {
        if let Some(c) = token.matching_counter(code, window)
            && first.is_none()
        {
            first = Some((i, c));
        }
    }
    let Some((i, c)) = first else {
        return Decision::Refuse(Rejection::Invalid);
    };
    if !still_wanted() {
        return Decision::Abandon(Factor::Hotp);
    }
    // matching_counter's window end is saturated, so a match is below u64::MAX.
    tokens[i].counter = c + 1;
    tokens[i].last_used = Some(now);
    Decision::Accept(Factor::Hotp)
}

/// Spends the work [`verify_tokens`] would on `tokens` without changing anything: for a
/// code another factor already accepted, so the time taken does not say which one did.
pub fn spend_same_work(tokens: &[HotpToken], code: &str, window: u32) {
    for token in tokens {
        let _ = token.matching_counter(code, window);
    }
}

/// The `otpauth://hotp/` URI a soft token app scans, starting at `token.counter`. It
/// contains the secret, so it is wiped when dropped.
pub fn otpauth_uri(issuer: &str, account: &str, token: &HotpToken) -> Zeroizing<String> {
    totp::otpauth(
        totp::OtpauthKind::Hotp {
            counter: token.counter,
        },
        issuer,
        account,
        &token.secret,
        token.algorithm,
        token.digits,
    )
}

/// The one `c` in `counters` (but not its last value) with `code_at(c) == first` and
/// `code_at(c + 1) == second`. Each code in the range is computed once and compared in
/// constant time to both, whatever matched before.
fn place_pair(
    counters: std::ops::RangeInclusive<u64>,
    code_at: impl Fn(u64) -> Zeroizing<String>,
    first: &str,
    second: &str,
) -> Result<u64, ResyncError> {
    let mut found = None;
    let mut matches = 0u32;
    let mut previous_was_first = false;
    for c in counters {
        let candidate = code_at(c);
        let is_second: bool = candidate.as_bytes().ct_eq(second.as_bytes()).into();
        if previous_was_first && is_second {
            matches = matches.saturating_add(1);
            // previous_was_first is only set after the range's first value, so c > 0.
            found.get_or_insert(c - 1);
        }
        previous_was_first = candidate.as_bytes().ct_eq(first.as_bytes()).into();
    }
    match (matches, found) {
        (1, Some(c)) => Ok(c),
        (0, _) => Err(ResyncError::NotFound),
        _ => Err(ResyncError::Ambiguous),
    }
}

fn digits_in_range<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let digits = u8::deserialize(d)?;
    if (MIN_DIGITS..=MAX_DIGITS).contains(&digits) {
        Ok(digits)
    } else {
        Err(serde::de::Error::custom(HotpTokenError::Digits(digits)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &[u8] = b"12345678901234567890";
    /// RFC 4226 appendix D: HOTP values for counters 0..9.
    const RFC4226: [&str; 10] = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
        "520489",
    ];

    fn token(counter: u64) -> HotpToken {
        HotpToken::new(
            "token",
            Secret::from_bytes(SEED.to_vec()),
            Algorithm::Sha1,
            6,
            counter,
            1_000,
        )
        .unwrap()
    }

    #[test]
    fn rfc4226_appendix_d_vectors() {
        let t = token(0);
        for (counter, want) in RFC4226.iter().enumerate() {
            assert_eq!(
                t.code_at(counter as u64).as_str(),
                *want,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn each_vector_is_accepted_in_turn_and_moves_the_counter() {
        let mut t = token(0);
        for (counter, code) in RFC4226.iter().enumerate() {
            let next = t.verify(code, DEFAULT_HOTP_WINDOW, 2_000 + counter as u64);
            assert_eq!(next, Ok(counter as u64 + 1));
            assert_eq!(t.counter, counter as u64 + 1);
            assert_eq!(t.last_used, Some(2_000 + counter as u64));
        }
    }

    #[test]
    fn window_edges() {
        let window = 5;
        // counter + window - 1 is the last one accepted.
        let mut t = token(2);
        assert_eq!(t.verify(RFC4226[6], window, 5), Ok(7));
        // counter + window is refused, and nothing changes.
        let mut t = token(2);
        assert_eq!(t.verify(RFC4226[7], window, 5), Err(HotpRefusal::NoMatch));
        assert_eq!((t.counter, t.last_used), (2, None));
        // The stored counter itself is accepted.
        assert_eq!(t.verify(RFC4226[2], window, 5), Ok(3));
        // A window of 0 accepts nothing.
        let mut t = token(0);
        assert_eq!(t.verify(RFC4226[0], 0, 5), Err(HotpRefusal::NoMatch));
    }

    #[test]
    fn a_code_is_accepted_once_and_skipped_codes_die_with_it() {
        let mut t = token(0);
        assert_eq!(t.verify(RFC4226[3], DEFAULT_HOTP_WINDOW, 5), Ok(4));
        // The same code again: below the counter now.
        assert_eq!(
            t.verify(RFC4226[3], DEFAULT_HOTP_WINDOW, 6),
            Err(HotpRefusal::NoMatch)
        );
        // Codes skipped over never come back.
        for old in &RFC4226[..3] {
            assert_eq!(
                t.verify(old, DEFAULT_HOTP_WINDOW, 6),
                Err(HotpRefusal::NoMatch)
            );
        }
        assert_eq!(t.counter, 4);
        assert_eq!(t.verify(RFC4226[4], DEFAULT_HOTP_WINDOW, 7), Ok(5));
    }

    #[test]
    fn the_smallest_matching_counter_wins() {
        // Find, by search, two counters in a window with the same code, and check the
        // earlier one is taken (so the counter moves as little as possible).
        let t = token(0);
        let mut seen = std::collections::HashMap::new();
        let (a, b) = (0..100_000u64)
            .find_map(|c| match seen.insert(t.code_at(c).to_string(), c) {
                Some(earlier) if c - earlier < 1_000 => Some((earlier, c)),
                _ => None,
            })
            .expect("a code repeated within 1000 counters");
        let code = t.code_at(b);
        let t = token(a);
        assert_eq!(t.matching_counter(&code, 1000), Some(a));
        assert_eq!(token(a + 1).matching_counter(&code, 1000), Some(b));
    }

    #[test]
    fn wrong_shapes_are_refused_before_any_code_is_computed() {
        let mut t = token(0);
        for bad in [
            "",
            "75522",
            "7552245",
            "75522a",
            "７５５２２４",
            " 755224",
            "755224\n",
        ] {
            assert_eq!(
                t.verify(bad, DEFAULT_HOTP_WINDOW, 5),
                Err(HotpRefusal::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(t.counter, 0);
        // An 8-digit token takes 8 digits only.
        let mut t8 = HotpToken::new(
            "t8",
            Secret::from_bytes(SEED.to_vec()),
            Algorithm::Sha1,
            8,
            0,
            1,
        )
        .unwrap();
        assert_eq!(
            t8.verify(RFC4226[0], DEFAULT_HOTP_WINDOW, 5),
            Err(HotpRefusal::Malformed)
        );
        // RFC 4226's 8-digit form of counter 0 is the last 8 digits of the truncated value.
        assert_eq!(t8.verify("84755224", DEFAULT_HOTP_WINDOW, 5), Ok(1));
    }

    #[test]
    fn other_algorithms_use_their_hmac() {
        let t256 = HotpToken::new(
            "t",
            Secret::from_bytes(SEED.to_vec()),
            Algorithm::Sha256,
            6,
            0,
            1,
        )
        .unwrap();
        let t1 = token(0);
        let differ = (0..10).any(|c| t256.code_at(c) != t1.code_at(c));
        assert!(differ);
        let mut t = t256.clone();
        assert_eq!(t.verify(&t256.code_at(4), DEFAULT_HOTP_WINDOW, 5), Ok(5));
    }

    #[test]
    fn resync_finds_two_consecutive_codes_past_the_login_window() {
        let mut t = token(0);
        let (first, second) = (t.code_at(57), t.code_at(58));
        assert_eq!(
            t.verify(&first, DEFAULT_HOTP_WINDOW, 5),
            Err(HotpRefusal::NoMatch)
        );
        assert_eq!(t.resync(&first, &second, DEFAULT_RESYNC_WINDOW), Ok(59));
        assert_eq!(t.counter, 59);
        // Both resync codes are used; the next one works at login.
        assert_eq!(
            t.verify(&second, DEFAULT_HOTP_WINDOW, 6),
            Err(HotpRefusal::NoMatch)
        );
        let next = t.code_at(59);
        assert_eq!(t.verify(&next, DEFAULT_HOTP_WINDOW, 6), Ok(60));
    }

    #[test]
    fn resync_edges() {
        // The pair may start at counter + window - 1 (its second code one past the window).
        let mut t = token(0);
        let (a, b) = (t.code_at(99), t.code_at(100));
        assert_eq!(t.resync(&a, &b, 100), Ok(101));
        // One later is out of the window.
        let mut t = token(0);
        let (a, b) = (t.code_at(100), t.code_at(101));
        assert_eq!(t.resync(&a, &b, 100), Err(ResyncError::NotFound));
        assert_eq!(t.counter, 0);
    }

    #[test]
    fn resync_refuses_what_it_cannot_place() {
        let mut t = token(10);
        // Reversed order, a gap, and codes from before the counter are not found.
        let (c20, c21, c22) = (t.code_at(20), t.code_at(21), t.code_at(22));
        assert_eq!(t.resync(&c21, &c20, 100), Err(ResyncError::NotFound));
        assert_eq!(t.resync(&c20, &c22, 100), Err(ResyncError::NotFound));
        assert_eq!(
            t.resync(RFC4226[3], RFC4226[4], 100),
            Err(ResyncError::NotFound)
        );
        assert_eq!(
            t.resync("12345", &c21, 100),
            Err(ResyncError::Malformed { which: 1 })
        );
        assert_eq!(
            t.resync(&c20, "1234567", 100),
            Err(ResyncError::Malformed { which: 2 })
        );
        assert_eq!(t.counter, 10);
    }

    #[test]
    fn resync_refuses_an_ambiguous_pair() {
        // Two places with the same two 6-digit codes are about one in 10^12 for a real
        // token, so the search is fed a made-up token whose codes repeat every 10 counters.
        let code_at = |c: u64| Zeroizing::new(format!("{:06}", c % 10));
        assert_eq!(
            place_pair(0..=30, code_at, "000003", "000004"),
            Err(ResyncError::Ambiguous)
        );
        // In a range holding only one of the places, it is found.
        assert_eq!(place_pair(0..=12, code_at, "000003", "000004"), Ok(3));
        assert_eq!(place_pair(5..=20, code_at, "000003", "000004"), Ok(13));
        // The pair's second code must be in the range too.
        assert_eq!(
            place_pair(0..=3, code_at, "000003", "000004"),
            Err(ResyncError::NotFound)
        );
        // Pairs that overlap (first == second) are each counted: 5,5 appears at 0 and 1.
        let flat = |c: u64| Zeroizing::new(if c < 3 { "555555" } else { "000000" }.to_owned());
        assert_eq!(
            place_pair(0..=5, flat, "555555", "555555"),
            Err(ResyncError::Ambiguous)
        );
    }

    #[test]
    fn counter_at_the_top_neither_overflows_nor_matches() {
        let mut t = token(u64::MAX);
        let code = t.code_at(u64::MAX);
        assert_eq!(
            t.verify(&code, DEFAULT_HOTP_WINDOW, 5),
            Err(HotpRefusal::NoMatch)
        );
        let mut t = token(u64::MAX - 3);
        let (a, b) = (t.code_at(u64::MAX - 3), t.code_at(u64::MAX - 2));
        assert_eq!(t.resync(&a, &b, 100), Ok(u64::MAX - 1));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let t = token(0);
        let shown = format!("{t:?} {:#?}", t);
        let base32 = t.secret.to_base32();
        assert!(!shown.contains(base32.as_str()), "{shown}");
        assert!(!shown.contains("12345678901234567890"), "{shown}");
        assert!(!shown.contains("49, 50, 51"), "{shown}");
        assert!(shown.contains("Secret(..)"));
    }

    #[test]
    fn stored_form_round_trips_and_is_strict() {
        let mut t = token(7);
        t.last_used = Some(9);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(
            json,
            r#"{"label":"token","secret":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ","digits":6,"algorithm":"SHA1","counter":7,"enrolled_at":1000,"last_used":9}"#
        );
        assert_eq!(serde_json::from_str::<HotpToken>(&json).unwrap(), t);
        let without_last_used = json.replace(r#","last_used":9"#, "");
        assert_eq!(
            serde_json::from_str::<HotpToken>(&without_last_used)
                .unwrap()
                .last_used,
            None
        );
        let unknown = json.replace(r#""counter""#, r#""period":30,"counter""#);
        assert!(serde_json::from_str::<HotpToken>(&unknown).is_err());
        for bad in [5, 9] {
            let wrong = json.replace(r#""digits":6"#, &format!(r#""digits":{bad}"#));
            let err = serde_json::from_str::<HotpToken>(&wrong).unwrap_err();
            assert!(
                err.to_string().contains("HOTP digits must be 6 to 8"),
                "{err}"
            );
        }
    }

    #[test]
    fn new_checks_its_parts() {
        let secret = || Secret::from_bytes(SEED.to_vec());
        assert!(matches!(
            HotpToken::new("bad label!", secret(), Algorithm::Sha1, 6, 0, 1),
            Err(HotpTokenError::Label(_))
        ));
        for digits in [0, 5, 9] {
            assert_eq!(
                HotpToken::new("t", secret(), Algorithm::Sha1, digits, 0, 1),
                Err(HotpTokenError::Digits(digits))
            );
        }
        assert_eq!(
            HotpToken::new(
                "t",
                Secret::from_bytes(Vec::new()),
                Algorithm::Sha1,
                6,
                0,
                1
            ),
            Err(HotpTokenError::EmptySecret)
        );
        assert_eq!(
            HotpTokenError::Digits(9).to_string(),
            "HOTP digits must be 6 to 8, got 9"
        );
    }

    #[test]
    fn an_imported_token_starts_at_its_counter() {
        // An import brings the next counter to accept (7): its code works, earlier ones
        // (used on the old system) do not.
        let mut tokens = vec![token(7)];
        for old in &RFC4226[..7] {
            assert_eq!(
                verify_tokens(&mut tokens, old, DEFAULT_HOTP_WINDOW, 5, &|| true),
                Decision::Refuse(Rejection::Invalid)
            );
        }
        assert_eq!(
            verify_tokens(&mut tokens, RFC4226[7], DEFAULT_HOTP_WINDOW, 5, &|| true),
            Decision::Accept(Factor::Hotp)
        );
        assert_eq!((tokens[0].counter, tokens[0].last_used), (8, Some(5)));
    }

    #[test]
    fn the_first_token_that_shows_a_code_takes_it_and_no_other_moves() {
        // Two tokens with one secret: both show every code; only the first is consumed.
        let mut tokens = vec![token(0), token(0)];
        tokens[1].label = "second".to_owned();
        assert_eq!(
            verify_tokens(&mut tokens, RFC4226[2], DEFAULT_HOTP_WINDOW, 9, &|| true),
            Decision::Accept(Factor::Hotp)
        );
        assert_eq!((tokens[0].counter, tokens[1].counter), (3, 0));
        assert_eq!(tokens[1].last_used, None);
    }

    #[test]
    fn an_abandoned_code_consumes_nothing() {
        let mut tokens = vec![token(0)];
        assert_eq!(
            verify_tokens(&mut tokens, RFC4226[1], DEFAULT_HOTP_WINDOW, 9, &|| false),
            Decision::Abandon(Factor::Hotp)
        );
        assert_eq!((tokens[0].counter, tokens[0].last_used), (0, None));
        assert_eq!(
            verify_tokens(&mut tokens, RFC4226[1], DEFAULT_HOTP_WINDOW, 9, &|| true),
            Decision::Accept(Factor::Hotp)
        );
        assert_eq!(
            verify_tokens(&mut [], RFC4226[1], DEFAULT_HOTP_WINDOW, 9, &|| true),
            Decision::Refuse(Rejection::Invalid)
        );
    }

    #[test]
    fn the_uri_names_the_counter_and_the_parameters() {
        let t = token(0);
        let uri = otpauth_uri("pam-mfa", "bob@host", &t);
        assert_eq!(
            uri.as_str(),
            "otpauth://hotp/pam-mfa:bob%40host?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=pam-mfa&algorithm=SHA1&digits=6&counter=0"
        );
    }
}
