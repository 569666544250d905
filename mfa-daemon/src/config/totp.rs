//! `[totp]`: the authenticator-app parameters given to new enrollments.

use serde::Deserialize;

use mfa_core::factor::totp::Algorithm;

use super::Invalid;
use super::check::range;

/// TOTP parameters. Existing enrollments keep the parameters they were made with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TotpConfig {
    /// HMAC algorithm.
    pub algorithm: Algorithm,
    /// Code length, 6 to 8.
    pub digits: u8,
    /// Seconds per code.
    pub period: u32,
    /// Time steps accepted either side of now.
    pub skew: u8,
}

impl Default for TotpConfig {
    fn default() -> Self {
        TotpConfig {
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: 30,
            skew: 1,
        }
    }
}

impl TotpConfig {
    /// Refuses parameters authenticator apps do not support, naming the key.
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        range("totp.digits", self.digits, 6, 8)?;
        range("totp.period", self.period, 15, 300)?;
        range("totp.skew", self.skew, 0, 10)
    }
}
