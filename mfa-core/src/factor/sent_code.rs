//! Codes sent by text message, phone call or email: made from the OS RNG, held only in the
//! daemon's memory in a zeroizing buffer, compared in constant time, usable once, dead after
//! their validity, after their tries, or when a newer one is sent to the same user.

use std::time::Duration;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Letters of alphanumeric codes: digits and capitals without look-alikes (0/O, 1/I/L).
const ALPHANUMERIC: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// What sent codes look like and how long they live (the config's `[otp]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodePolicy {
    /// Characters, 4 to 10.
    pub length: u8,
    /// Digits only, or digits and letters.
    pub charset: Charset,
    /// How long a code may be used.
    pub validity: Duration,
    /// Wrong answers a code survives; the last one kills it.
    pub tries: u32,
}

impl Default for CodePolicy {
    fn default() -> Self {
        CodePolicy {
            length: 6,
            charset: Charset::Digits,
            validity: Duration::from_secs(5 * 60),
            tries: 3,
        }
    }
}

/// The characters of a sent code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// `0`–`9`.
    Digits,
    /// Digits and capital letters without look-alikes; answers are compared ignoring case.
    Alphanumeric,
}

/// One code that was sent.
#[derive(Debug)]
pub struct SentCode {
    code: Zeroizing<String>,
    expires_at: u64,
    tries_left: u32,
    charset: Charset,
}

/// What checking an answer against a sent code found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// Right; the code is now used up.
    Accepted,
    /// Wrong; `tries_left` more answers are accepted for this code.
    Wrong {
        /// Answers left; 0 means the code is dead.
        tries_left: u32,
    },
    /// Past its validity (also after it was used or exhausted): a new one must be sent.
    Expired,
}

impl SentCode {
    /// A fresh code from the OS RNG.
    pub fn issue(policy: &CodePolicy, now: u64) -> Result<SentCode, getrandom::Error> {
        let alphabet: &[u8] = match policy.charset {
            Charset::Digits => b"0123456789",
            Charset::Alphanumeric => ALPHANUMERIC,
        };
        let mut code = Zeroizing::new(String::with_capacity(usize::from(policy.length)));
        let mut byte = Zeroizing::new([0u8; 1]);
        while code.len() < usize::from(policy.length) {
            getrandom::fill(&mut byte[..])?;
            // Rejection sampling: no character is likelier than another.
            let limit = 256 - (256 % alphabet.len());
            if usize::from(byte[0]) < limit {
                code.push(char::from(alphabet[usize::from(byte[0]) % alphabet.len()]));
            }
        }
        Ok(SentCode {
            code,
            expires_at: now.saturating_add(policy.validity.as_secs()),
            tries_left: policy.tries.max(1),
            charset: policy.charset,
        })
    }

    /// The code, to hand to the provider.
    pub fn code(&self) -> &Zeroizing<String> {
        &self.code
    }

    /// Whether it can still be used at `now`.
    pub fn is_live(&self, now: u64) -> bool {
        self.tries_left > 0 && now <= self.expires_at
    }

    /// Checks `answer`, consuming the code if it is right and `still_wanted()` says the
    /// client is still there to be told (otherwise `None`: nothing consumed, nothing counted).
    pub fn verify(
        &mut self,
        answer: &str,
        now: u64,
        still_wanted: &dyn Fn() -> bool,
    ) -> Option<CodeCheck> {
        if !self.is_live(now) {
            return Some(CodeCheck::Expired);
        }
        let answer: Zeroizing<String> = Zeroizing::new(match self.charset {
            Charset::Digits => answer.trim().to_owned(),
            Charset::Alphanumeric => answer.trim().to_ascii_uppercase(),
        });
        let right = answer.len() == self.code.len()
            && bool::from(answer.as_bytes().ct_eq(self.code.as_bytes()));
        if right {
            if !still_wanted() {
                return None;
            }
            self.tries_left = 0;
            return Some(CodeCheck::Accepted);
        }
        self.tries_left -= 1;
        Some(CodeCheck::Wrong {
            tries_left: self.tries_left,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn issue(policy: &CodePolicy) -> SentCode {
        SentCode::issue(policy, NOW).unwrap()
    }

    #[test]
    fn codes_have_the_configured_shape_and_vary() {
        let digits = issue(&CodePolicy::default());
        assert_eq!(digits.code().len(), 6);
        assert!(digits.code().bytes().all(|b| b.is_ascii_digit()));
        let policy = CodePolicy {
            length: 10,
            charset: Charset::Alphanumeric,
            ..CodePolicy::default()
        };
        let codes: Vec<String> = (0..50).map(|_| issue(&policy).code().to_string()).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 10 && c.bytes().all(|b| ALPHANUMERIC.contains(&b)))
        );
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), 50);
    }

    #[test]
    fn a_code_works_once() {
        let mut c = issue(&CodePolicy::default());
        let code = c.code().to_string();
        assert_eq!(c.verify(&code, NOW, &|| true), Some(CodeCheck::Accepted));
        assert_eq!(c.verify(&code, NOW, &|| true), Some(CodeCheck::Expired));
    }

    #[test]
    fn a_code_dies_after_its_tries_and_its_validity() {
        let mut c = issue(&CodePolicy::default());
        let code = c.code().to_string();
        let wrong = if code == "000000" { "111111" } else { "000000" };
        assert_eq!(
            c.verify(wrong, NOW, &|| true),
            Some(CodeCheck::Wrong { tries_left: 2 })
        );
        assert_eq!(
            c.verify("12", NOW, &|| true),
            Some(CodeCheck::Wrong { tries_left: 1 })
        );
        assert_eq!(
            c.verify(wrong, NOW, &|| true),
            Some(CodeCheck::Wrong { tries_left: 0 })
        );
        assert_eq!(c.verify(&code, NOW, &|| true), Some(CodeCheck::Expired));

        let mut c = issue(&CodePolicy::default());
        let code = c.code().to_string();
        assert_eq!(
            c.verify(&code, NOW + 301, &|| true),
            Some(CodeCheck::Expired)
        );
        assert_eq!(
            c.verify(&code, NOW + 300, &|| true),
            Some(CodeCheck::Accepted)
        );
    }

    #[test]
    fn alphanumeric_answers_ignore_case_and_a_gone_client_consumes_nothing() {
        let policy = CodePolicy {
            charset: Charset::Alphanumeric,
            ..CodePolicy::default()
        };
        let mut c = issue(&policy);
        let lower = c.code().to_ascii_lowercase();
        assert_eq!(c.verify(&lower, NOW, &|| false), None);
        assert_eq!(
            c.verify(&format!(" {lower} "), NOW, &|| true),
            Some(CodeCheck::Accepted)
        );
    }
}
