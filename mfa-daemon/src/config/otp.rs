//! `[otp]`: sent codes (text message, voice, email): their form and life, how many may be
//! sent, and which addresses and numbers may receive them.

use std::time::Duration;

use serde::Deserialize;

use mfa_core::contact::{CallingPrefix, CountryRules, DomainRules};
use mfa_core::factor::sent_code::{Charset, CodePolicy};
use mfa_core::send_limits::SendPolicy;

use super::Invalid;
use super::check::{duration, positive, range, shown};

/// Sent codes (SMS, voice, email), after IBM Verify's OTP settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtpConfig {
    /// Characters per code, 4 to 10.
    pub length: u8,
    /// `digits` or `alphanumeric` (no look-alike letters).
    pub charset: OtpCharset,
    /// How long a code may be used: 30 s to 30 min.
    #[serde(deserialize_with = "duration")]
    pub validity: Duration,
    /// Wrong answers per code.
    pub tries: u32,
    /// Codes per user within `send_window`.
    pub max_sends: u32,
    /// The per-user window.
    #[serde(deserialize_with = "duration")]
    pub send_window: Duration,
    /// Messages per hour from this host, all users together (against SMS pumping). Notices
    /// and the codes that confirm a new contact may use at most half (rounded up); the rest
    /// is kept for login codes.
    pub max_sends_per_hour: u32,
    /// Security notices per user per hour, all their contacts together; each contact gets
    /// at most one per burst of changes (`send_limits::NOTICE_BURST`, 5 minutes).
    pub max_notices: u32,
    /// Longest a provider call may take; below the module's per-message timeout (10 s).
    #[serde(deserialize_with = "duration")]
    pub send_timeout: Duration,
    /// If not empty, only email addresses at these domains (and their subdomains).
    pub allowed_domains: Vec<String>,
    /// Never email addresses at these domains (and their subdomains).
    pub denied_domains: Vec<String>,
    /// If not empty, only phone numbers under these calling codes (`+44`, or a longer prefix)
    /// or ISO 3166 regions (`GB`). International network and premium ranges (`+882`, ...)
    /// are refused unless named here.
    pub allowed_countries: Vec<String>,
    /// Never phone numbers under these calling codes or regions.
    pub denied_countries: Vec<String>,
}

/// The characters of sent codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OtpCharset {
    /// `0`-`9`.
    Digits,
    /// Digits and capitals without look-alikes.
    Alphanumeric,
}

/// Longest `otp.send_timeout`: the module waits 10 s for each message by default, and the
/// answer to a menu choice must reach it before that.
pub const MAX_SEND_TIMEOUT: Duration = Duration::from_secs(8);

impl Default for OtpConfig {
    fn default() -> Self {
        let code = CodePolicy::default();
        let send = SendPolicy::default();
        OtpConfig {
            length: code.length,
            charset: OtpCharset::Digits,
            validity: code.validity,
            tries: code.tries,
            max_sends: send.max_sends,
            send_window: send.window,
            max_sends_per_hour: send.max_per_hour,
            max_notices: send.max_notices,
            send_timeout: Duration::from_secs(5),
            allowed_domains: Vec::new(),
            denied_domains: Vec::new(),
            allowed_countries: Vec::new(),
            denied_countries: Vec::new(),
        }
    }
}

impl OtpConfig {
    /// What codes look like.
    pub fn code_policy(&self) -> CodePolicy {
        CodePolicy {
            length: self.length,
            charset: match self.charset {
                OtpCharset::Digits => Charset::Digits,
                OtpCharset::Alphanumeric => Charset::Alphanumeric,
            },
            validity: self.validity,
            tries: self.tries,
        }
    }

    /// How many may be sent.
    pub fn send_policy(&self) -> SendPolicy {
        SendPolicy {
            max_sends: self.max_sends,
            window: self.send_window,
            max_per_hour: self.max_sends_per_hour,
            max_notices: self.max_notices,
        }
    }

    /// The email domain rules.
    pub fn domain_rules(&self) -> DomainRules {
        DomainRules {
            allowed: self.allowed_domains.clone(),
            denied: self.denied_domains.clone(),
        }
    }

    /// The phone country rules; entries that do not parse were refused by `validate`.
    pub fn country_rules(&self) -> CountryRules {
        let parse = |list: &[String]| {
            list.iter()
                .filter_map(|entry| CallingPrefix::parse(entry).ok())
                .collect()
        };
        CountryRules {
            allowed: parse(&self.allowed_countries),
            denied: parse(&self.denied_countries),
        }
    }
}

impl OtpConfig {
    /// Refuses settings that cannot work, naming the key.
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        range("otp.length", self.length, 4, 10)?;
        if self.validity < Duration::from_secs(30) || self.validity > Duration::from_secs(30 * 60) {
            return Err(Invalid::new(
                "otp.validity",
                format!("must be between 30s and 30m, got {}", shown(self.validity)),
            ));
        }
        range("otp.tries", self.tries, 1, 10)?;
        range("otp.max_sends", self.max_sends, 1, 1000)?;
        positive("otp.send_window", self.send_window)?;
        range(
            "otp.max_sends_per_hour",
            self.max_sends_per_hour,
            1,
            1_000_000,
        )?;
        range("otp.max_notices", self.max_notices, 1, 1000)?;
        positive("otp.send_timeout", self.send_timeout)?;
        if self.send_timeout > MAX_SEND_TIMEOUT {
            return Err(Invalid::new(
                "otp.send_timeout",
                format!(
                    "must be at most {} (below the module's 10 s wait for each message), got {}",
                    shown(MAX_SEND_TIMEOUT),
                    shown(self.send_timeout)
                ),
            ));
        }
        self.check_destinations()
    }

    /// The domain and country lists: each entry a domain name, a calling code or a region.
    fn check_destinations(&self) -> Result<(), Invalid> {
        for (key, domains) in [
            ("otp.allowed_domains", &self.allowed_domains),
            ("otp.denied_domains", &self.denied_domains),
        ] {
            if let Some(bad) = domains.iter().find(|d| {
                d.is_empty()
                    || !d
                        .trim_start_matches('.')
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            }) {
                return Err(Invalid::new(key, format!("`{bad}` is not a domain name")));
            }
        }
        for (key, entries) in [
            ("otp.allowed_countries", &self.allowed_countries),
            ("otp.denied_countries", &self.denied_countries),
        ] {
            for entry in entries {
                CallingPrefix::parse(entry).map_err(|e| Invalid::new(key, e.to_string()))?;
            }
        }
        Ok(())
    }
}
