//! `[hotp]`: how HOTP (counter-based) tokens are checked at login.

use serde::Deserialize;

use mfa_core::hotp::DEFAULT_HOTP_WINDOW;

use super::Invalid;
use super::check::range;

/// Largest `hotp.window`: every login computes this many codes per token, and a wider
/// window lets a guess match more codes.
pub const MAX_HOTP_WINDOW: u32 = 50;

/// HOTP settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HotpConfig {
    /// How many counters from a token's stored one a login code may be (look-ahead).
    pub window: u32,
}

impl Default for HotpConfig {
    fn default() -> Self {
        HotpConfig {
            window: DEFAULT_HOTP_WINDOW,
        }
    }
}

impl HotpConfig {
    /// Refuses a window that accepts nothing (0) or too much, naming the key.
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        range("hotp.window", self.window, 1, MAX_HOTP_WINDOW)
    }
}
