//! The daemon's configuration: one TOML file, every key optional, unknown keys refused.
//!
//! Errors name the file, the line and key, and what is wrong, so a sysadmin can fix the
//! file without reading source.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

use mfa_core::contact::{CallingPrefix, CountryRules, DomainRules};
use mfa_core::device::MAX_REMEMBER_SECS;
use mfa_core::factor::sent_code::{Charset, CodePolicy};
use mfa_core::factor::totp::Algorithm;
use mfa_core::lockout::LockoutPolicy;
use mfa_core::policy::{
    MAX_AUTHENTICATORS_RANGE, MIN_FACTORS_RANGE, Policy, Require, Rule, Unenrolled,
};
use mfa_core::send_limits::SendPolicy;

mod log_level;
mod store;

pub use log_level::LogLevel;
pub use store::{Engine, StoreConfig, connection_config};

use crate::delivery::{
    Delivery, DeliverySections, EmailSection, SmsSection, TwilioSection, WebhookSection,
};

/// Config file read when `--config` is not given; a missing default file means defaults.
pub const DEFAULT_CONFIG: &str = "/etc/mfa/config.toml";

/// Longest `answer_timeout` accepted.
pub const MAX_ANSWER_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Everything the daemon can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Unix socket the daemon listens on (mode 0666; every request is authorized by uid).
    pub socket: PathBuf,
    /// Directory holding one record per user; created 0700.
    pub state_dir: PathBuf,
    /// Name shown in authenticator apps.
    pub issuer: String,
    /// Prompts per authentication.
    pub max_tries: u32,
    /// How long the daemon waits for a person to answer a prompt.
    #[serde(deserialize_with = "duration")]
    pub answer_timeout: Duration,
    /// Least severe level of the diagnostic log on stderr (`RUST_LOG` overrides it).
    pub log_level: LogLevel,
    /// Authenticator app settings for new enrollments.
    pub totp: TotpConfig,
    /// Attempt limits.
    pub limits: LimitsConfig,
    /// Sent codes: their form, life and send limits.
    pub otp: OtpConfig,
    /// Which provider sends text messages and calls.
    pub sms: Option<SmsSection>,
    /// Twilio's Messages and Calls API.
    pub twilio: Option<TwilioSection>,
    /// An in-house gateway that takes a signed JSON POST.
    pub webhook: Option<WebhookSection>,
    /// Email through an SMTP server.
    pub email: Option<EmailSection>,
    /// Who must use a second factor.
    pub policy: PolicyConfig,
    /// Where records and attempt limits live.
    pub store: StoreConfig,
}

/// `[policy]`: who is asked, who is exempt, what happens to users without a factor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// `all`, or `groups` (only members of `require_groups` are asked).
    pub require: RequireSetting,
    /// With `require = "groups"`.
    pub require_groups: Vec<String>,
    /// Never asked (`PAM_IGNORE`).
    pub exempt_users: Vec<String>,
    /// Members are never asked.
    pub exempt_groups: Vec<String>,
    /// Networks (CIDR, or single addresses) whose logins are not asked, except for services
    /// in `always_ask`.
    pub exempt_sources: Vec<String>,
    /// Services that never honour `exempt_sources` and are never remembered (default: every
    /// service that gives another account's rights, `su-l` and `sudo-i` included).
    pub always_ask: Vec<String>,
    /// `deny`, `allow` or `enroll` users without a factor.
    pub unenrolled: UnenrolledSetting,
    /// With `unenrolled = "enroll"`: how long after the first enrollment prompt a user may
    /// still skip it (at most 90 days).
    #[serde(deserialize_with = "duration")]
    pub grace_period: Duration,
    /// Factors (apps, phones, addresses) a user must keep; 1 to 5.
    pub min_factors: usize,
    /// Authenticator apps per user; 1 to 5.
    pub max_authenticators: usize,
    /// How long a device that passed may skip the prompt (`"0s"`: never; at most 90 days).
    #[serde(deserialize_with = "duration")]
    pub remember: Duration,
    /// `[[policy.rule]]`: stricter settings for some groups or services.
    #[serde(rename = "rule")]
    pub rules: Vec<RuleConfig>,
}

/// `[[policy.rule]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Applies to members of any of these groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Applies to any of these PAM services.
    #[serde(default)]
    pub services: Vec<String>,
    /// Users without a factor, where stricter than `[policy]`'s.
    pub unenrolled: Option<UnenrolledSetting>,
    /// A shorter `remember` for these groups or services.
    #[serde(default, deserialize_with = "optional_duration")]
    pub remember: Option<Duration>,
}

/// `policy.require`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequireSetting {
    /// Everyone.
    #[default]
    All,
    /// Members of `require_groups`.
    Groups,
}

/// `policy.unenrolled`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnenrolledSetting {
    /// Refused, like an unknown user.
    #[default]
    Deny,
    /// Skipped (`PAM_IGNORE`), like the module's `nullok`.
    Allow,
    /// Shown a QR code at login, and let in once they confirm a code from it.
    Enroll,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        let p = Policy::default();
        PolicyConfig {
            require: RequireSetting::All,
            require_groups: Vec::new(),
            exempt_users: Vec::new(),
            exempt_groups: Vec::new(),
            exempt_sources: Vec::new(),
            always_ask: p.always_ask,
            unenrolled: UnenrolledSetting::Deny,
            grace_period: Duration::ZERO,
            min_factors: p.min_factors,
            max_authenticators: p.max_authenticators,
            remember: Duration::ZERO,
            rules: Vec::new(),
        }
    }
}

/// A network as `exempt_sources` gives it: CIDR, or one address.
fn network(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
        .map(|net| net.trunc())
}

impl UnenrolledSetting {
    fn policy(self) -> Unenrolled {
        match self {
            UnenrolledSetting::Deny => Unenrolled::Deny,
            UnenrolledSetting::Allow => Unenrolled::Allow,
            UnenrolledSetting::Enroll => Unenrolled::Enroll,
        }
    }
}

impl PolicyConfig {
    /// Every group these settings name, with the key that names it.
    pub fn named_groups(&self) -> Vec<(&'static str, &str)> {
        let required = self
            .require_groups
            .iter()
            .map(|g| ("policy.require_groups", g));
        let exempting = self
            .exempt_groups
            .iter()
            .map(|g| ("policy.exempt_groups", g));
        let ruled = self
            .rules
            .iter()
            .flat_map(|r| r.groups.iter().map(|g| ("policy.rule.groups", g)));
        required
            .chain(exempting)
            .chain(ruled)
            .map(|(key, g)| (key, g.as_str()))
            .collect()
    }

    /// The policy these settings make (after [`Config::parse`] validated them).
    pub fn policy(&self) -> Policy {
        Policy {
            require: match self.require {
                RequireSetting::All => Require::All,
                RequireSetting::Groups => Require::Groups,
            },
            require_groups: self.require_groups.clone(),
            exempt_users: self.exempt_users.clone(),
            exempt_groups: self.exempt_groups.clone(),
            exempt_sources: self
                .exempt_sources
                .iter()
                .filter_map(|s| network(s))
                .collect(),
            always_ask: self.always_ask.clone(),
            unenrolled: self.unenrolled.policy(),
            remember: self.remember.as_secs(),
            grace_period: self.grace_period.as_secs(),
            min_factors: self.min_factors,
            max_authenticators: self.max_authenticators,
            rules: self
                .rules
                .iter()
                .map(|r| Rule {
                    groups: r.groups.clone(),
                    services: r.services.clone(),
                    unenrolled: r.unenrolled.map(UnenrolledSetting::policy),
                    remember: r.remember.map(|d| d.as_secs()),
                })
                .collect(),
        }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.require == RequireSetting::Groups && self.require_groups.is_empty() {
            return Err((
                "policy.require_groups",
                "must name at least one group when policy.require = \"groups\"".to_owned(),
            ));
        }
        for (key, names) in [
            ("policy.require_groups", &self.require_groups),
            ("policy.exempt_users", &self.exempt_users),
            ("policy.exempt_groups", &self.exempt_groups),
            ("policy.always_ask", &self.always_ask),
        ] {
            if let Some(bad) = names
                .iter()
                .find(|n| n.is_empty() || n.len() > 256 || n.chars().any(char::is_control))
            {
                return Err((key, format!("`{bad}` is not a name")));
            }
        }
        let longest = Duration::from_secs(MAX_REMEMBER_SECS);
        if self.remember > longest || self.rules.iter().any(|r| r.remember > Some(longest)) {
            return Err((
                "policy.remember",
                format!(
                    "may be at most 90 days, got {}",
                    humantime::format_duration(self.remember)
                ),
            ));
        }
        if self.grace_period > longest {
            return Err((
                "policy.grace_period",
                format!(
                    "may be at most 90 days, got {}",
                    humantime::format_duration(self.grace_period)
                ),
            ));
        }
        for (key, value, range) in [
            ("policy.min_factors", self.min_factors, MIN_FACTORS_RANGE),
            (
                "policy.max_authenticators",
                self.max_authenticators,
                MAX_AUTHENTICATORS_RANGE,
            ),
        ] {
            if !range.contains(&value) {
                return Err((
                    key,
                    format!(
                        "must be from {} to {}, got {value}",
                        range.start(),
                        range.end()
                    ),
                ));
            }
        }
        if let Some(bad) = self.exempt_sources.iter().find(|s| network(s).is_none()) {
            return Err((
                "policy.exempt_sources",
                format!(
                    "`{bad}` is not a network: write e.g. \"192.0.2.0/24\", \"2001:db8::/32\" or one address"
                ),
            ));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.groups.is_empty() && rule.services.is_empty() {
                return Err((
                    "policy.rule",
                    format!(
                        "rule {} applies to nothing: give it groups or services",
                        i + 1
                    ),
                ));
            }
            if rule.unenrolled.is_none() && rule.remember.is_none() {
                return Err((
                    "policy.rule",
                    format!(
                        "rule {} changes nothing: give it unenrolled or remember",
                        i + 1
                    ),
                ));
            }
        }
        Ok(())
    }
}

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

/// Failure counting and lockout.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Failures per user and source within `failure_window` before that source is locked out.
    pub max_failures: u32,
    /// Window in which failures are counted.
    #[serde(deserialize_with = "duration")]
    pub failure_window: Duration,
    /// First lockout; doubles with each further round.
    #[serde(deserialize_with = "duration")]
    pub lockout: Duration,
    /// Cap of the doubling lockout.
    #[serde(deserialize_with = "duration")]
    pub max_lockout: Duration,
    /// Failures per user across all sources within `failure_window` before only recovery
    /// codes are accepted for that user.
    pub account_max_failures: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            socket: PathBuf::from(mfa_proto::DEFAULT_SOCKET),
            state_dir: PathBuf::from("/var/lib/mfa"),
            issuer: "pam-mfa".to_owned(),
            max_tries: 3,
            answer_timeout: Duration::from_secs(180),
            log_level: LogLevel::Info,
            totp: TotpConfig::default(),
            limits: LimitsConfig::default(),
            otp: OtpConfig::default(),
            sms: None,
            twilio: None,
            webhook: None,
            email: None,
            policy: PolicyConfig::default(),
            store: StoreConfig::default(),
        }
    }
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

impl Default for LimitsConfig {
    fn default() -> Self {
        let p = LockoutPolicy::default();
        LimitsConfig {
            max_failures: p.max_failures,
            failure_window: p.failure_window,
            lockout: p.lockout,
            max_lockout: p.max_lockout,
            account_max_failures: p.account_max_failures,
        }
    }
}

impl LimitsConfig {
    /// The policy these settings make.
    pub fn policy(&self) -> LockoutPolicy {
        LockoutPolicy {
            max_failures: self.max_failures,
            failure_window: self.failure_window,
            lockout: self.lockout,
            max_lockout: self.max_lockout,
            account_max_failures: self.account_max_failures,
        }
    }
}

fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "`{text}` is not a duration ({e}); write e.g. \"90s\", \"15m\" or \"1h\""
        ))
    })
}

/// A config file that cannot be used.
#[derive(Debug)]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// Line (1-based) where the problem is, when known.
    pub line: Option<usize>,
    /// The key, when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config {}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ", key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error about `key` of the file at `path`, on the line that sets it if there is one.
    pub fn for_key(path: &Path, key: &str, message: String) -> ConfigError {
        ConfigError {
            path: path.to_owned(),
            line: std::fs::read_to_string(path)
                .ok()
                .and_then(|text| find_key_line(&text, key)),
            key: Some(key.to_owned()),
            message,
        }
    }
}

impl Config {
    /// Reads and validates `path`. With `default_if_missing`, an absent file gives defaults.
    pub fn load(path: &Path, default_if_missing: bool) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && default_if_missing => {
                return Ok(Config::default());
            }
            Err(e) => {
                return Err(ConfigError {
                    path: path.to_owned(),
                    line: None,
                    key: None,
                    message: format!("cannot read: {e}"),
                });
            }
        };
        Config::parse(path, &text)
    }

    /// Parses and validates config text; `path` is only used in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let (line, key) = match e.span() {
                Some(span) => locate(text, span.start),
                None => (None, None),
            };
            ConfigError {
                path: path.to_owned(),
                line,
                key,
                message: e.message().trim().to_owned(),
            }
        })?;
        config.validate().map_err(|(key, message)| ConfigError {
            path: path.to_owned(),
            line: find_key_line(text, key),
            key: Some(key.to_owned()),
            message,
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        fn range<T: PartialOrd + fmt::Display + Copy>(
            key: &'static str,
            value: T,
            min: T,
            max: T,
        ) -> Result<(), (&'static str, String)> {
            if value < min || value > max {
                Err((key, format!("must be between {min} and {max}, got {value}")))
            } else {
                Ok(())
            }
        }
        fn absolute(key: &'static str, path: &Path) -> Result<(), (&'static str, String)> {
            if path.is_absolute() {
                Ok(())
            } else {
                Err((
                    key,
                    format!("must be an absolute path, got `{}`", path.display()),
                ))
            }
        }
        fn positive(key: &'static str, d: Duration) -> Result<(), (&'static str, String)> {
            if d.is_zero() {
                Err((key, "must be longer than zero".to_owned()))
            } else {
                Ok(())
            }
        }
        absolute("socket", &self.socket)?;
        absolute("state_dir", &self.state_dir)?;
        if self.issuer.is_empty()
            || self.issuer.len() > 64
            || self.issuer.chars().any(|c| c == ':' || c.is_control())
        {
            return Err((
                "issuer",
                "must be 1 to 64 characters without `:` or control characters".to_owned(),
            ));
        }
        range("max_tries", self.max_tries, 1, 10)?;
        positive("answer_timeout", self.answer_timeout)?;
        if self.answer_timeout > MAX_ANSWER_TIMEOUT {
            return Err((
                "answer_timeout",
                format!(
                    "must be at most {} (each waiting login holds a connection), got {}",
                    humantime::format_duration(MAX_ANSWER_TIMEOUT),
                    humantime::format_duration(self.answer_timeout)
                ),
            ));
        }
        range("totp.digits", self.totp.digits, 6, 8)?;
        range("totp.period", self.totp.period, 15, 300)?;
        range("totp.skew", self.totp.skew, 0, 10)?;
        range("limits.max_failures", self.limits.max_failures, 1, 1000)?;
        positive("limits.failure_window", self.limits.failure_window)?;
        positive("limits.lockout", self.limits.lockout)?;
        if self.limits.max_lockout < self.limits.lockout {
            return Err((
                "limits.max_lockout",
                "must not be shorter than limits.lockout".to_owned(),
            ));
        }
        range(
            "limits.account_max_failures",
            self.limits.account_max_failures,
            self.limits.max_failures,
            100_000,
        )?;
        let otp = &self.otp;
        range("otp.length", otp.length, 4, 10)?;
        if otp.validity < Duration::from_secs(30) || otp.validity > Duration::from_secs(30 * 60) {
            return Err((
                "otp.validity",
                format!(
                    "must be between 30s and 30m, got {}",
                    humantime::format_duration(otp.validity)
                ),
            ));
        }
        range("otp.tries", otp.tries, 1, 10)?;
        range("otp.max_sends", otp.max_sends, 1, 1000)?;
        positive("otp.send_window", otp.send_window)?;
        range(
            "otp.max_sends_per_hour",
            otp.max_sends_per_hour,
            1,
            1_000_000,
        )?;
        range("otp.max_notices", otp.max_notices, 1, 1000)?;
        positive("otp.send_timeout", otp.send_timeout)?;
        if otp.send_timeout > MAX_SEND_TIMEOUT {
            return Err((
                "otp.send_timeout",
                format!(
                    "must be at most {} (below the module's 10 s wait for each message), got {}",
                    humantime::format_duration(MAX_SEND_TIMEOUT),
                    humantime::format_duration(otp.send_timeout)
                ),
            ));
        }
        for (key, domains) in [
            ("otp.allowed_domains", &otp.allowed_domains),
            ("otp.denied_domains", &otp.denied_domains),
        ] {
            if let Some(bad) = domains.iter().find(|d| {
                d.is_empty()
                    || !d
                        .trim_start_matches('.')
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            }) {
                return Err((key, format!("`{bad}` is not a domain name")));
            }
        }
        for (key, entries) in [
            ("otp.allowed_countries", &otp.allowed_countries),
            ("otp.denied_countries", &otp.denied_countries),
        ] {
            for entry in entries {
                CallingPrefix::parse(entry).map_err(|e| (key, e.to_string()))?;
            }
        }
        self.store.validate()?;
        self.policy.validate()
    }

    /// Refuses a group name that `known` (NSS, from the daemon) does not know, naming the key
    /// and the group: a policy keyed on a group nobody is in asks nobody (`require_groups`)
    /// or nothing (a rule). `--check-config` and SIGHUP call it; the daemon's start only
    /// warns (see [`Config::unknown_groups`]), as a directory may answer late at boot.
    pub fn check_groups(
        &self,
        path: &Path,
        known: impl Fn(&str) -> bool,
    ) -> Result<(), ConfigError> {
        match self.unknown_groups(known).first() {
            None => Ok(()),
            Some((key, group)) => Err(ConfigError::for_key(
                path,
                key,
                format!(
                    "group `{group}` is not known to NSS (getent group {group} finds nothing): \
                     create it, or take it out of {key}"
                ),
            )),
        }
    }

    /// Every group the config names that `known` does not know, with its key.
    pub fn unknown_groups(&self, known: impl Fn(&str) -> bool) -> Vec<(&'static str, String)> {
        self.policy
            .named_groups()
            .into_iter()
            .filter(|(_, group)| !known(group))
            .map(|(key, group)| (key, group.to_owned()))
            .collect()
    }

    /// The provider sections, as the delivery module takes them.
    pub fn delivery_sections(&self) -> DeliverySections {
        DeliverySections {
            sms: self.sms.clone(),
            twilio: self.twilio.clone(),
            webhook: self.webhook.clone(),
            email: self.email.clone(),
        }
    }

    /// Builds the providers: checks the loopback rule and reads the credential files.
    pub fn delivery(&self, path: &Path, host: &str) -> Result<Delivery, ConfigError> {
        Delivery::new(&self.delivery_sections(), host, self.otp.send_timeout).map_err(|e| {
            let line = std::fs::read_to_string(path)
                .ok()
                .and_then(|text| find_key_line(&text, &e.key));
            ConfigError {
                path: path.to_owned(),
                line,
                key: Some(e.key.clone()),
                message: e.problem.clone(),
            }
        })
    }
}

/// Line number and key of the `key = value` line containing byte offset `at`.
fn locate(text: &str, at: usize) -> (Option<usize>, Option<String>) {
    let at = at.min(text.len());
    let line_no = text.get(..at).map_or(0, |s| s.matches('\n').count()) + 1;
    let key = text
        .lines()
        .nth(line_no - 1)
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim().to_owned())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    (Some(line_no), key)
}

/// Line where a dotted key such as `totp.digits` is set, if it is set in the file.
fn find_key_line(text: &str, dotted: &str) -> Option<usize> {
    let (table, key) = match dotted.rsplit_once('.') {
        Some((t, k)) => (t, k),
        None => ("", dotted),
    };
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().to_owned();
        } else if let Some((k, _)) = line.split_once('=')
            && current == table
            && k.trim() == key
        {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/mfa/test.toml"), text)
    }

    #[test]
    fn groups_nss_does_not_know_are_refused_by_key_and_name() {
        let c = parse(
            "[policy]\nrequire = \"groups\"\nrequire_groups = [\"ssh-users\", \"gone\"]\n\
             exempt_groups = [\"robots\"]\n[[policy.rule]]\ngroups = [\"wheel\"]\n\
             unenrolled = \"deny\"\n",
        )
        .unwrap();
        let path = Path::new("/etc/mfa/test.toml");
        let all_known = |_: &str| true;
        assert!(c.check_groups(path, all_known).is_ok());
        let err = c.check_groups(path, |g| g != "gone").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("policy.require_groups"));
        assert!(err.message.contains("group `gone` is not known"), "{err}");
        for (missing, key) in [
            ("robots", "policy.exempt_groups"),
            ("wheel", "policy.rule.groups"),
        ] {
            let err = c.check_groups(path, |g| g != missing).unwrap_err();
            assert_eq!(err.key.as_deref(), Some(key), "{err}");
            assert!(err.to_string().contains(missing), "{err}");
        }
        assert_eq!(
            c.unknown_groups(|g| g == "wheel"),
            [
                ("policy.require_groups", "ssh-users".to_owned()),
                ("policy.require_groups", "gone".to_owned()),
                ("policy.exempt_groups", "robots".to_owned()),
            ]
        );
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = parse("").unwrap();
        assert_eq!(format!("{c:?}"), format!("{:?}", Config::default()));
        assert_eq!(c.totp.algorithm, Algorithm::Sha1);
        assert_eq!((c.totp.digits, c.totp.period, c.totp.skew), (6, 30, 1));
        assert_eq!(c.limits.max_failures, 5);
        assert_eq!(c.limits.failure_window, Duration::from_secs(900));
    }

    #[test]
    fn full_file_parses() {
        let c = parse(
            r#"
socket = "/tmp/x.sock"
state_dir = "/tmp/state"
issuer = "Example Corp"
max_tries = 2
answer_timeout = "2m"
[totp]
algorithm = "SHA512"
digits = 8
period = 60
skew = 2
[limits]
max_failures = 3
failure_window = "10m"
lockout = "30s"
max_lockout = "2h"
account_max_failures = 9
"#,
        )
        .unwrap();
        assert_eq!(c.totp.algorithm, Algorithm::Sha512);
        assert_eq!(c.limits.max_lockout, Duration::from_secs(7200));
        assert_eq!(c.answer_timeout, Duration::from_secs(120));
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let e = parse("issuer = \"x\"\n[totp]\ndigts = 6\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("/etc/mfa/test.toml"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.contains("digts"), "{msg}");
    }

    #[test]
    fn out_of_range_digits_names_key() {
        let e = parse("[totp]\ndigits = 9\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("totp.digits"));
        assert_eq!(e.line, Some(2));
        assert!(e.to_string().contains("between 6 and 8, got 9"), "{e}");
    }

    #[test]
    fn otp_settings_parse_and_their_ranges_name_the_key() {
        let c = parse(
            "[otp]\nlength = 8\ncharset = \"alphanumeric\"\nvalidity = \"2m\"\nmax_sends = 9\nallowed_domains = [\"example.com\"]\n",
        )
        .unwrap();
        let policy = c.otp.code_policy();
        assert_eq!((policy.length, policy.charset), (8, Charset::Alphanumeric));
        assert_eq!(policy.validity, Duration::from_secs(120));
        assert_eq!(c.otp.send_policy().max_sends, 9);
        assert_eq!(c.otp.domain_rules().allowed, ["example.com"]);
        let c = parse("[otp]\nallowed_countries = [\"GB\", \"+1876\"]\nmax_notices = 3\n").unwrap();
        let countries = c.otp.country_rules();
        let shown: Vec<String> = countries.allowed.iter().map(|p| p.to_string()).collect();
        assert_eq!(shown, ["+44", "+1876"]);
        assert_eq!(c.otp.send_policy().max_notices, 3);
        for (text, key, words) in [
            ("[otp]\nlength = 3\n", "otp.length", "between 4 and 10"),
            (
                "[otp]\nvalidity = \"10s\"\n",
                "otp.validity",
                "between 30s and 30m",
            ),
            (
                "[otp]\nvalidity = \"1h\"\n",
                "otp.validity",
                "between 30s and 30m",
            ),
            (
                "[otp]\nsend_timeout = \"9s\"\n",
                "otp.send_timeout",
                "at most 8s",
            ),
            ("[otp]\ntries = 0\n", "otp.tries", "between 1 and 10"),
            (
                "[otp]\ndenied_domains = [\"a b\"]\n",
                "otp.denied_domains",
                "not a domain",
            ),
            (
                "[otp]\nallowed_countries = [\"+44\", \"US\"]\n",
                "otp.allowed_countries",
                "shares the calling code +1",
            ),
            (
                "[otp]\ndenied_countries = [\"44\"]\n",
                "otp.denied_countries",
                "neither a calling code",
            ),
            (
                "[otp]\nmax_notices = 0\n",
                "otp.max_notices",
                "between 1 and 1000",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
            assert_eq!(e.line, Some(2), "{e}");
            assert!(e.to_string().contains(words), "{e}");
        }
        let e = parse("[otp]\ncharset = \"emoji\"\n").unwrap_err();
        assert!(e.to_string().contains("emoji"), "{e}");
    }

    #[test]
    fn policy_parses_into_the_core_policy_and_bad_values_name_the_key() {
        let c = parse(
            "[policy]\nrequire = \"groups\"\nrequire_groups = [\"ssh-users\"]\nexempt_sources = [\"192.0.2.0/24\", \"10.1.2.3\", \"2001:db8::/32\"]\n[[policy.rule]]\ngroups = [\"wheel\"]\nunenrolled = \"deny\"\n",
        )
        .unwrap();
        let p = c.policy.policy();
        assert_eq!(p.require, Require::Groups);
        assert_eq!(p.exempt_sources.len(), 3);
        assert_eq!(p.always_ask, mfa_core::policy::DEFAULT_ALWAYS_ASK);
        assert_eq!(p.rules[0].unenrolled, Some(Unenrolled::Deny));
        for (text, key, words) in [
            (
                "[policy]\nrequire = \"groups\"\n",
                "policy.require_groups",
                "at least one group",
            ),
            (
                "[policy]\nexempt_sources = [\"10.0.0.0/33\"]\n",
                "policy.exempt_sources",
                "not a network",
            ),
            (
                "[policy]\nexempt_users = [\"\"]\n",
                "policy.exempt_users",
                "not a name",
            ),
            (
                "[[policy.rule]]\nunenrolled = \"deny\"\n",
                "policy.rule",
                "applies to nothing",
            ),
            (
                "[[policy.rule]]\ngroups = [\"x\"]\n",
                "policy.rule",
                "changes nothing",
            ),
            (
                "[policy]\nmin_factors = 0\n",
                "policy.min_factors",
                "from 1 to 5, got 0",
            ),
            (
                "[policy]\nmax_authenticators = 6\n",
                "policy.max_authenticators",
                "from 1 to 5, got 6",
            ),
            (
                "[policy]\ngrace_period = \"100d\"\n",
                "policy.grace_period",
                "at most 90 days",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
            assert!(e.to_string().contains(words), "{e}");
        }
        let e = parse("[policy]\nunenrolled = \"ask\"\n").unwrap_err();
        assert!(e.to_string().contains("ask"), "{e}");
        let p = parse("[policy]\nunenrolled = \"enroll\"\ngrace_period = \"7d\"\n")
            .unwrap()
            .policy
            .policy();
        assert_eq!(p.unenrolled, Unenrolled::Enroll);
        assert_eq!(p.grace_period, 7 * 86_400);
        assert_eq!((p.min_factors, p.max_authenticators), (1, 5));
    }

    #[test]
    fn bad_algorithm_and_duration_are_explained() {
        let e = parse("[totp]\nalgorithm = \"MD5\"\n").unwrap_err();
        assert!(e.to_string().contains("MD5"), "{e}");
        assert_eq!(e.line, Some(2));
        let e = parse("[limits]\nlockout = \"soon\"\n").unwrap_err();
        assert!(e.to_string().contains("not a duration"), "{e}");
        assert_eq!(e.key.as_deref(), Some("lockout"));
    }

    #[test]
    fn wrong_type_and_syntax_errors() {
        let e = parse("answer_timeout = \"2h\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("answer_timeout"));
        assert!(e.message.contains("at most 10m"), "{e}");
        let e = parse("max_tries = \"three\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("max_tries"));
        let e = parse("socket = \n").unwrap_err();
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn log_level_is_one_of_five_names() {
        assert_eq!(parse("").unwrap().log_level, LogLevel::Info);
        assert_eq!(
            parse("log_level = \"debug\"\n").unwrap().log_level,
            LogLevel::Debug
        );
        let e = parse("issuer = \"x\"\nlog_level = \"verbose\"\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert_eq!(e.key.as_deref(), Some("log_level"), "{e}");
        assert!(
            e.message.contains("verbose") && e.message.contains("`trace`"),
            "{e}"
        );
    }

    #[test]
    fn relative_paths_and_inconsistent_limits_are_refused() {
        let e = parse("state_dir = \"var/lib/mfa\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("state_dir"));
        let e = parse("[limits]\nlockout = \"2h\"\nmax_lockout = \"1h\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("limits.max_lockout"));
        let e = parse("[limits]\nmax_failures = 10\naccount_max_failures = 5\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("limits.account_max_failures"));
        let e = parse("issuer = \"a:b\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("issuer"));
    }

    #[test]
    fn missing_default_file_is_defaults_but_missing_explicit_file_is_error() {
        let missing = Path::new("/nonexistent/mfa/config.toml");
        assert_eq!(
            format!("{:?}", Config::load(missing, true).unwrap()),
            format!("{:?}", Config::default())
        );
        let e = Config::load(missing, false).unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
    }

    #[test]
    fn store_settings_are_checked_and_each_refusal_names_its_key() {
        let pg = "[store]\nengine = \"postgres\"\nkey_file = \"/etc/mfa/store.key\"\n";
        for (text, key, words) in [
            (
                "[store]\nurl = \"host=db user=mfa\"\n".to_owned(),
                "store.url",
                "the engine is \"files\"",
            ),
            (pg.to_owned(), "store.engine", "needs `url` or `url_file`"),
            (
                "[store]\nengine = \"postgres\"\nurl_file = \"/etc/mfa/db\"\n".to_owned(),
                "store.key_file",
                "head -c 32 /dev/urandom",
            ),
            (
                format!("{pg}url = \"host=127.0.0.1 user=mfa password=hunter2\"\n"),
                "store.url",
                "url_file",
            ),
            (
                format!("{pg}url = \"host=db.example user=mfa dbname=mfa\"\n"),
                "store.url",
                "sslmode=verify-full",
            ),
            (
                format!("{pg}url = \"host=127.0.0.1 user=mfa sslmode=prefer\"\n"),
                "store.url",
                "turn TLS off",
            ),
            (
                format!("{pg}url = \"host=127.0.0.1 dbname=mfa\"\n"),
                "store.url",
                "names no user",
            ),
            (
                format!("{pg}url_file = \"/etc/mfa/db\"\npool_size = 0\n"),
                "store.pool_size",
                "between 1 and 64, got 0",
            ),
            (
                format!("{pg}url_file = \"/etc/mfa/db\"\ntimeout = \"1m\"\n"),
                "store.timeout",
                "between 100ms and 30s",
            ),
            (
                format!("{pg}url_file = \"/etc/mfa/db\"\nurl = \"host=127.0.0.1 user=mfa\"\n"),
                "store.url",
                "not both",
            ),
        ] {
            let e = parse(&text).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{text}: {e}");
            assert!(e.to_string().contains(words), "{text}: {e}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
        let e = parse("[store]\nengine = \"sqlite\"\n").unwrap_err();
        assert!(e.to_string().contains("sqlite"), "{e}");
        for url in [
            "host=db.example user=mfa dbname=mfa sslmode=verify-full",
            "postgresql://mfa@db.example/mfa?sslmode=require",
            "host=127.0.0.1 port=5433 user=mfa dbname=mfa",
            "host=/run/postgresql user=mfa dbname=mfa",
        ] {
            let c = parse(&format!("{pg}url = \"{url}\"\n")).unwrap();
            assert_eq!(c.store.engine, Engine::Postgres, "{url}");
        }
        let c = parse(&format!("{pg}url_file = \"store-url\"\n")).unwrap();
        assert_eq!(c.store.pool_size, 8);
        assert_eq!(parse("").unwrap().store, StoreConfig::default());
    }
}
