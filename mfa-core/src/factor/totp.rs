//! Time-based one-time passwords (RFC 6238) on top of `totp-rs`: secret generation, the
//! `otpauth://` URI, and verification that reports *which* time step matched, so the caller
//! can refuse a step that was already used.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use totp_rs::TOTP;
use zeroize::Zeroizing;

/// HMAC algorithm of a TOTP factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Algorithm {
    /// HMAC-SHA-1: what every authenticator app supports.
    #[serde(rename = "SHA1")]
    Sha1,
    /// HMAC-SHA-256.
    #[serde(rename = "SHA256")]
    Sha256,
    /// HMAC-SHA-512.
    #[serde(rename = "SHA512")]
    Sha512,
}

impl Algorithm {
    /// Name used in `otpauth://` URIs and messages.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }

    /// Secret length: the HMAC output size, and never under 160 bits.
    pub fn secret_len(self) -> usize {
        match self {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }

    fn to_totp_rs(self) -> totp_rs::Algorithm {
        match self {
            Algorithm::Sha1 => totp_rs::Algorithm::SHA1,
            Algorithm::Sha256 => totp_rs::Algorithm::SHA256,
            Algorithm::Sha512 => totp_rs::Algorithm::SHA512,
        }
    }
}

/// The parameters of one TOTP factor (stored with it, so a config change never breaks an
/// existing enrollment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpParams {
    /// HMAC algorithm.
    pub algorithm: Algorithm,
    /// Code length.
    pub digits: u8,
    /// Seconds per step.
    pub period: u32,
}

/// A TOTP secret; zeroized when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A fresh secret of the algorithm's length from the OS RNG.
    pub fn generate(algorithm: Algorithm) -> Result<Secret, getrandom::Error> {
        let mut bytes = Zeroizing::new(vec![0u8; algorithm.secret_len()]);
        getrandom::fill(&mut bytes)?;
        Ok(Secret(bytes))
    }

    /// Wraps raw bytes (RFC test vectors, stored records).
    pub fn from_bytes(bytes: Vec<u8>) -> Secret {
        Secret(Zeroizing::new(bytes))
    }

    /// The secret in unpadded base32, as authenticator apps expect.
    pub fn to_base32(&self) -> Zeroizing<String> {
        Zeroizing::new(data_encoding::BASE32_NOPAD.encode(&self.0))
    }

    /// Parses unpadded base32.
    pub fn from_base32(text: &str) -> Option<Secret> {
        data_encoding::BASE32_NOPAD
            .decode(text.as_bytes())
            .ok()
            .map(Secret::from_bytes)
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base32())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        Secret::from_base32(&text).ok_or_else(|| serde::de::Error::custom("secret is not base32"))
    }
}

/// A secret with its parameters: everything needed to compute codes.
#[derive(Debug, Clone)]
pub struct Generator {
    params: TotpParams,
    totp: TOTP,
}

impl Generator {
    /// A generator for `secret` with `params`.
    pub fn new(params: TotpParams, secret: &Secret) -> Generator {
        // new_unchecked: the length checks of TOTP::new would refuse the RFC 4226 vectors'
        // 160-bit secret for SHA-512 tests; our own secrets are always long enough.
        let totp = TOTP::new_unchecked(
            params.algorithm.to_totp_rs(),
            usize::from(params.digits),
            0,
            u64::from(params.period),
            secret.0.to_vec(),
        );
        Generator { params, totp }
    }

    /// The time step containing `unix_time`.
    pub fn step_at(&self, unix_time: u64) -> u64 {
        unix_time / u64::from(self.params.period)
    }

    /// The code of time step `step`.
    pub fn code_for_step(&self, step: u64) -> Zeroizing<String> {
        Zeroizing::new(self.totp.generate(step * u64::from(self.params.period)))
    }

    /// The step within `skew` steps of `unix_time` whose code equals `code`, if any. Every
    /// candidate is compared in constant time, and all are compared whatever matches.
    pub fn matching_step(&self, code: &str, unix_time: u64, skew: u8) -> Option<u64> {
        let now = self.step_at(unix_time);
        let first = now.saturating_sub(u64::from(skew));
        let mut found = None;
        for step in first..=now + u64::from(skew) {
            let candidate = self.code_for_step(step);
            let equal: bool = candidate.as_bytes().ct_eq(code.as_bytes()).into();
            if equal && found.is_none() {
                found = Some(step);
            }
        }
        found
    }
}

/// Whether `answer` has the shape of a TOTP code of `digits` digits.
pub fn looks_like_code(answer: &str, digits: u8) -> bool {
    answer.len() == usize::from(digits) && answer.bytes().all(|b| b.is_ascii_digit())
}

/// The `otpauth://totp/` URI an authenticator app scans. It contains the secret, so it is
/// wiped when dropped.
pub fn otpauth_uri(
    issuer: &str,
    account: &str,
    params: TotpParams,
    secret: &Secret,
) -> Zeroizing<String> {
    let kind = OtpauthKind::Totp {
        period: params.period,
    };
    otpauth(
        kind,
        issuer,
        account,
        secret,
        params.algorithm,
        params.digits,
    )
}

/// Which `otpauth://` URI: an app's (`totp`, with its period) or a soft HOTP token's (with
/// the counter its first code is at).
#[derive(Debug, Clone, Copy)]
pub(crate) enum OtpauthKind {
    Totp { period: u32 },
    Hotp { counter: u64 },
}

/// The `otpauth://` URI of either kind, wiped when dropped.
pub(crate) fn otpauth(
    kind: OtpauthKind,
    issuer: &str,
    account: &str,
    secret: &Secret,
    algorithm: Algorithm,
    digits: u8,
) -> Zeroizing<String> {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    use std::fmt::Write;
    const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    /// The fixed parts and the parameters: fewer than this many bytes.
    const REST: usize = 128;
    let issuer = utf8_percent_encode(issuer, COMPONENT).to_string();
    let account = utf8_percent_encode(account, COMPONENT).to_string();
    let secret = secret.to_base32();
    // Sized up front: growing the string would leave an unwiped copy of the secret behind.
    let mut uri = Zeroizing::new(String::with_capacity(
        REST + 2 * issuer.len() + account.len() + secret.len(),
    ));
    let (scheme, moving, value) = match kind {
        OtpauthKind::Totp { period } => ("totp", "period", u64::from(period)),
        OtpauthKind::Hotp { counter } => ("hotp", "counter", counter),
    };
    let _ = write!(
        uri,
        "otpauth://{scheme}/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm={alg}&digits={digits}&{moving}={value}",
        secret = secret.as_str(),
        alg = algorithm.name(),
    );
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA1_SEED: &[u8] = b"12345678901234567890";
    const SHA256_SEED: &[u8] = b"12345678901234567890123456789012";
    const SHA512_SEED: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    fn generator(algorithm: Algorithm, seed: &[u8], digits: u8, period: u32) -> Generator {
        Generator::new(
            TotpParams {
                algorithm,
                digits,
                period,
            },
            &Secret::from_bytes(seed.to_vec()),
        )
    }

    /// RFC 4226 appendix D: HOTP values for counters 0..9 (a TOTP with period 1 at time
    /// t is HOTP with counter t).
    #[test]
    fn rfc4226_hotp_vectors() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        let g = generator(Algorithm::Sha1, SHA1_SEED, 6, 1);
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(
                g.code_for_step(counter as u64).as_str(),
                *want,
                "counter {counter}"
            );
        }
    }

    /// RFC 6238 appendix B, all three algorithms, 8 digits, 30 s.
    #[test]
    fn rfc6238_vectors() {
        let table: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        let sha1 = generator(Algorithm::Sha1, SHA1_SEED, 8, 30);
        let sha256 = generator(Algorithm::Sha256, SHA256_SEED, 8, 30);
        let sha512 = generator(Algorithm::Sha512, SHA512_SEED, 8, 30);
        for (time, c1, c256, c512) in table {
            assert_eq!(
                sha1.code_for_step(sha1.step_at(time)).as_str(),
                c1,
                "SHA1 {time}"
            );
            assert_eq!(
                sha256.code_for_step(sha256.step_at(time)).as_str(),
                c256,
                "SHA256 {time}"
            );
            assert_eq!(
                sha512.code_for_step(sha512.step_at(time)).as_str(),
                c512,
                "SHA512 {time}"
            );
        }
    }

    #[test]
    fn skew_edges() {
        let g = generator(Algorithm::Sha1, SHA1_SEED, 6, 30);
        let now = 1_700_000_015; // inside step 56666667
        let step = g.step_at(now);
        let prev = g.code_for_step(step - 1);
        let next = g.code_for_step(step + 1);
        let two_back = g.code_for_step(step - 2);
        let two_ahead = g.code_for_step(step + 2);
        assert_eq!(g.matching_step(&prev, now, 1), Some(step - 1));
        assert_eq!(g.matching_step(&next, now, 1), Some(step + 1));
        assert_eq!(g.matching_step(&two_back, now, 1), None);
        assert_eq!(g.matching_step(&two_ahead, now, 1), None);
        assert_eq!(g.matching_step(&two_ahead, now, 2), Some(step + 2));
        assert_eq!(g.matching_step(&prev, now, 0), None);
        // The last second of a step and the first of the next.
        let boundary = (step + 1) * 30;
        let current = g.code_for_step(step);
        assert_eq!(g.matching_step(&current, boundary - 1, 0), Some(step));
        assert_eq!(g.matching_step(&current, boundary, 0), None);
        assert_eq!(g.matching_step(&current, boundary, 1), Some(step));
    }

    #[test]
    fn wrong_and_malformed_codes_do_not_match() {
        let g = generator(Algorithm::Sha1, SHA1_SEED, 6, 30);
        let now = 1_700_000_000;
        let right = g.code_for_step(g.step_at(now));
        let mut wrong = right.to_string();
        let last = wrong.pop().unwrap();
        wrong.push(if last == '0' { '1' } else { '0' });
        assert_eq!(g.matching_step(&wrong, now, 1), None);
        assert_eq!(g.matching_step("", now, 1), None);
        assert_eq!(
            g.matching_step(&format!("{}0", right.as_str()), now, 1),
            None
        );
    }

    #[test]
    fn code_shape() {
        assert!(looks_like_code("123456", 6));
        assert!(!looks_like_code("12345", 6));
        assert!(!looks_like_code("12345a", 6));
        assert!(!looks_like_code("１２３４５６", 6));
        assert!(looks_like_code("12345678", 8));
    }

    #[test]
    fn secrets_are_long_random_and_round_trip() {
        for alg in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512] {
            let a = Secret::generate(alg).unwrap();
            let b = Secret::generate(alg).unwrap();
            assert!(a.0.len() * 8 >= 160);
            assert_ne!(a, b);
            assert_eq!(Secret::from_base32(&a.to_base32()).unwrap(), a);
        }
        assert!(Secret::from_base32("not base32!").is_none());
        assert_eq!(
            format!("{:?}", Secret::from_bytes(vec![1, 2])),
            "Secret(..)"
        );
    }

    #[test]
    fn uri_is_what_apps_expect() {
        let params = TotpParams {
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: 30,
        };
        let secret = Secret::from_bytes(SHA1_SEED.to_vec());
        let uri = otpauth_uri("Example Corp", "alice@host-1", params, &secret);
        assert_eq!(
            uri.as_str(),
            "otpauth://totp/Example%20Corp:alice%40host-1?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example%20Corp&algorithm=SHA1&digits=6&period=30"
        );
    }
}
