//! The daemon's configuration: one TOML file, every key optional, unknown keys refused. One
//! file per section (`[policy]` in `policy.rs`, ...); this one holds the top-level keys,
//! reading the file and putting the sections' checks together.
//!
//! Errors name the file, the line and key, and what is wrong, so a sysadmin can fix the
//! file without reading source. Nothing here builds a provider or opens a store: the
//! `delivery` and `store` modules build theirs from a parsed [`Config`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod check;
mod delivery;
mod error;
mod hotp;
mod limits;
mod log_level;
mod otp;
mod policy;
mod radius;
mod store;
mod totp;
mod web;

pub use delivery::{
    DeliverySections, EmailSection, SmsProvider, SmsSection, SmtpTls, TwilioSection, WebhookSection,
};
pub use error::ConfigError;
pub(crate) use error::Invalid;
pub use hotp::{HotpConfig, MAX_HOTP_WINDOW};
pub use limits::LimitsConfig;
pub use log_level::LogLevel;
pub use mfa_proto::radius::RadiusSettings;
pub use mfa_proto::web::WebSettings;
pub use otp::{MAX_SEND_TIMEOUT, OtpCharset, OtpConfig};
pub use policy::{
    ApprovalChannel, PolicyConfig, PushSetting, RequireSetting, RuleConfig, UnenrolledSetting,
};
pub use store::{ConnectionStringError, Engine, StoreConfig, connection_string};
pub use totp::TotpConfig;

use check::{absolute, positive, range, shown};

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
    #[serde(deserialize_with = "check::duration")]
    pub answer_timeout: Duration,
    /// Least severe level of the diagnostic log on stderr (`RUST_LOG` overrides it).
    pub log_level: LogLevel,
    /// Authenticator app settings for new enrollments.
    pub totp: TotpConfig,
    /// How HOTP tokens are checked.
    pub hotp: HotpConfig,
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
    /// The pages `mfa-web` serves (passkeys, phone approval); none without the section.
    pub web: Option<WebSettings>,
    /// The RADIUS front end `mfa-radius`; none without the section.
    pub radius: Option<RadiusSettings>,
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
            hotp: HotpConfig::default(),
            limits: LimitsConfig::default(),
            otp: OtpConfig::default(),
            sms: None,
            twilio: None,
            webhook: None,
            email: None,
            policy: PolicyConfig::default(),
            store: StoreConfig::default(),
            web: None,
            radius: None,
        }
    }
}

impl Config {
    /// Reads and validates `path`. With `default_if_missing`, an absent file gives defaults.
    pub fn load(path: &Path, default_if_missing: bool) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && default_if_missing => {
                Ok(Config::default())
            }
            Err(e) => Err(ConfigError::unreadable(path, &e)),
        }
    }

    /// Parses and validates config text; `path` is only used in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let config: Config =
            toml::from_str(text).map_err(|e| ConfigError::syntax(path, text, &e))?;
        config
            .validate()
            .map_err(|invalid| ConfigError::invalid(path, text, invalid))?;
        Ok(config)
    }

    /// The top-level keys, then each section, in the order of the file as shipped.
    fn validate(&self) -> Result<(), Invalid> {
        absolute("socket", &self.socket)?;
        absolute("state_dir", &self.state_dir)?;
        if self.issuer.is_empty()
            || self.issuer.len() > 64
            || self.issuer.chars().any(|c| c == ':' || c.is_control())
        {
            return Err(Invalid::new(
                "issuer",
                "must be 1 to 64 characters without `:` or control characters",
            ));
        }
        range("max_tries", self.max_tries, 1, 10)?;
        positive("answer_timeout", self.answer_timeout)?;
        if self.answer_timeout > MAX_ANSWER_TIMEOUT {
            return Err(Invalid::new(
                "answer_timeout",
                format!(
                    "must be at most {} (each waiting login holds a connection), got {}",
                    shown(MAX_ANSWER_TIMEOUT),
                    shown(self.answer_timeout)
                ),
            ));
        }
        self.totp.validate()?;
        self.hotp.validate()?;
        self.limits.validate()?;
        self.otp.validate()?;
        self.store.validate()?;
        self.policy.validate()?;
        web::validate(self.web.as_ref())?;
        radius::validate(self.radius.as_ref())
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
}

#[cfg(test)]
mod tests;
