//! The shapes of an answer: a recovery code (`recovery::normalize`), a bypass code
//! (`bypass::normalize`) or a TOTP code (`totp::looks_like_code`).
//!
//! A normalized recovery code is 12 letters of the recovery alphabet, is its own normal
//! form, and is the answer with only dashes and whitespace removed and ASCII letters lowered;
//! any answer that reduces so is accepted. A normalized bypass code is the answer with only
//! dashes and whitespace removed, and is accepted exactly when that is 12 ASCII digits with a
//! `0` or a `1`. `looks_like_code` holds exactly for `digits` ASCII digits. No answer has two
//! of the shapes, so the daemon never has to guess the factor from it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_core::factor::{bypass, recovery, totp};

const ALPHABET: &str = "23456789abcdefghjkmnpqrstvwxyz";
const CODE_LEN: usize = 12;
const BYPASS_LEN: usize = 12;

fuzz_target!(|data: &[u8]| {
    let Ok(answer) = std::str::from_utf8(data) else {
        return;
    };
    let reduced: String = answer
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let is_code =
        reduced.chars().count() == CODE_LEN && reduced.chars().all(|c| ALPHABET.contains(c));

    let normalized = recovery::normalize(answer);
    match &normalized {
        Some(code) => {
            assert!(is_code, "{answer:?} normalized to {:?}", code.as_str());
            assert_eq!(code.as_str(), reduced);
            assert_eq!(code.len(), CODE_LEN);
            assert!(
                code.chars().all(|c| ALPHABET.contains(c)),
                "{:?}",
                code.as_str()
            );
            let again = recovery::normalize(code).expect("a normal form is a code");
            assert_eq!(again.as_str(), code.as_str());
            let shown = format!("{}-{}-{}", &code[..4], &code[4..8], &code[8..]).to_uppercase();
            let typed = recovery::normalize(&shown).expect("the display form is a code");
            assert_eq!(typed.as_str(), code.as_str());
        }
        None => assert!(
            !is_code,
            "{answer:?} reduces to code {reduced:?} but was refused"
        ),
    }

    let bypass_code = bypass_shape(answer);
    if bypass_code {
        assert!(
            normalized.is_none(),
            "{answer:?} is both a bypass and a recovery code"
        );
    }

    let stored_digits = data.first().copied().unwrap_or(0);
    for digits in (6..=8).chain([stored_digits]) {
        let shaped = totp::looks_like_code(answer, digits);
        let expected =
            answer.len() == usize::from(digits) && answer.bytes().all(|b| b.is_ascii_digit());
        assert_eq!(shaped, expected, "{answer:?} with {digits} digits");
        if shaped && (6..=8).contains(&digits) {
            assert!(answer.parse::<u32>().is_ok());
            assert!(
                normalized.is_none(),
                "{answer:?} is both a TOTP and a recovery code"
            );
            assert!(!bypass_code, "{answer:?} is both a TOTP and a bypass code");
        }
    }
});

/// Checks `bypass::normalize` on `answer` and says whether it is a bypass code.
fn bypass_shape(answer: &str) -> bool {
    let reduced: String = answer
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .collect();
    let is_code = reduced.len() == BYPASS_LEN
        && reduced.bytes().all(|b| b.is_ascii_digit())
        && reduced.contains(['0', '1']);
    match bypass::normalize(answer) {
        Some(code) => {
            assert!(
                is_code,
                "{answer:?} normalized to bypass {:?}",
                code.as_str()
            );
            assert_eq!(code.as_str(), reduced);
            let again = bypass::normalize(&code).expect("a normal form is a bypass code");
            assert_eq!(again.as_str(), code.as_str());
            let shown = format!("{}-{}-{}", &code[..4], &code[4..8], &code[8..]);
            let typed = bypass::normalize(&shown).expect("the display form is a bypass code");
            assert_eq!(typed.as_str(), code.as_str());
            true
        }
        None => {
            assert!(
                !is_code,
                "{answer:?} reduces to bypass code {reduced:?} but was refused"
            );
            false
        }
    }
}
