//! The importers' parsers (`mfa_import`): `~/.google_authenticator`, pam_oath's users file
//! and RFC 6030 PSKC, each fed bytes an admin's site could hold (a user writes their own
//! google-authenticator file, so it is untrusted input to a root tool).
//!
//! The first byte picks the parser; for PSKC the next 16 bytes are the pre-shared key when
//! the second byte is odd. What must hold whatever the input: no panic, and anything
//! accepted is usable as imported: a non-empty secret, 6 to 8 digits, a positive time step,
//! a GA window of at least 1, scratch codes of 8 ASCII digits. An error's text never
//! carries the secret line of a google-authenticator file (its first line, when it is
//! base32).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_import::{google_authenticator, oath, pskc};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => google(rest),
        1 => users_file(rest),
        _ => batch(rest),
    }
});

fn google(input: &[u8]) {
    match google_authenticator::parse(input) {
        Ok(file) => {
            assert!(!file.secret.is_empty());
            match file.kind {
                google_authenticator::OtpKind::Totp { step, window } => {
                    assert!(step > 0);
                    assert!(window >= 1);
                }
                google_authenticator::OtpKind::Hotp { window, .. } => assert!(window >= 1),
            }
            for code in &file.scratch_codes {
                let code = code.expose();
                assert!(code.len() == 8 && code.bytes().all(|b| b.is_ascii_digit()));
            }
        }
        Err(error) => {
            let first = input.split(|&b| b == b'\n').next().unwrap_or_default();
            let shown = error.to_string();
            if let Ok(line) = std::str::from_utf8(first) {
                let line = line.trim();
                // Only a line that could be a secret: error texts are made of words.
                let base32 = line
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b"234567=".contains(&b));
                // A later line may repeat it (an option's value is quoted, escaped).
                let once = line.len() >= 16
                    && input
                        .windows(line.len())
                        .filter(|w| *w == line.as_bytes())
                        .count()
                        == 1;
                if line.len() >= 16 && base32 && once {
                    assert!(!shown.contains(line), "error quotes the secret: {shown}");
                }
            }
        }
    }
}

fn users_file(input: &[u8]) {
    if let Ok(file) = oath::parse(input) {
        for token in &file.tokens {
            assert!(!token.secret.is_empty());
            assert!((6..=8).contains(&token.digits));
            assert!(!token.user.is_empty());
        }
    }
}

fn batch(input: &[u8]) {
    let (key, document) = match input.split_first() {
        Some((flag, rest)) if flag % 2 == 1 && rest.len() >= 16 => (Some(&rest[..16]), &rest[16..]),
        Some((_, rest)) => (None, rest),
        None => return,
    };
    if let Ok(tokens) = pskc::parse(document, key) {
        for token in &tokens {
            assert!(!token.secret.is_empty());
            assert!((6..=8).contains(&token.digits));
            if let pskc::PskcKind::Totp { step, .. } = token.kind {
                assert!(step > 0);
            }
        }
    }
}
