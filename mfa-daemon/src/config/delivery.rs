//! `[sms]`, `[twilio]`, `[webhook]` and `[email]`: what the file says about delivering sent
//! codes. The delivery module checks these sections and builds its providers from them
//! (`Delivery::from_config`); nothing here reads a credential or resolves a host.

use std::path::PathBuf;

use serde::Deserialize;

/// `[sms]`: who delivers SMS and voice codes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSection {
    /// `"twilio"` (needs `[twilio]`) or `"webhook"` (needs `[webhook]`).
    pub provider: SmsProvider,
}

/// The value of `[sms] provider`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsProvider {
    /// Twilio's Programmable Messaging and Voice REST API.
    Twilio,
    /// A signed JSON POST to a gateway of the site's own.
    Webhook,
}

/// `[twilio]`: the account that sends SMS and places voice calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioSection {
    /// `AC` followed by 32 hex digits.
    pub account_sid: String,
    /// File holding the auth token (relative: inside `$CREDENTIALS_DIRECTORY`).
    pub auth_token_file: PathBuf,
    /// Sender: a number in E.164 form or an alphanumeric sender ID. Voice calls need it.
    pub from: Option<String>,
    /// `MG` followed by 32 hex digits; instead of `from`, for SMS only.
    pub messaging_service_sid: Option<String>,
    /// Base URL of the API; https, or http to a loopback host on a privileged port.
    #[serde(default = "default_twilio_api_url")]
    pub api_url: String,
    /// Test suites only: plain http to any loopback port, where a stand-in listens.
    #[serde(default)]
    pub insecure_loopback_plaintext_for_tests: bool,
}

fn default_twilio_api_url() -> String {
    "https://api.twilio.com".to_owned()
}

/// `[webhook]`: a gateway that receives each message as signed JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    /// Where to POST; https, or http to a loopback host on a privileged port.
    pub url: String,
    /// File holding the HMAC-SHA256 key (relative: inside `$CREDENTIALS_DIRECTORY`).
    pub secret_file: PathBuf,
    /// Test suites only: plain http to any loopback port, where a stand-in listens.
    #[serde(default)]
    pub insecure_loopback_plaintext_for_tests: bool,
}

/// `[email]`: the SMTP server that relays email codes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSection {
    /// Host name or IP address of the SMTP server; also the name its certificate must carry.
    pub smtp_host: String,
    /// Defaults by `tls`: 587 for starttls, 465 for tls, 25 for none.
    pub smtp_port: Option<u16>,
    /// How the connection is protected; `none` only to a loopback host on a privileged port.
    #[serde(default)]
    pub tls: SmtpTls,
    /// User name for SMTP AUTH; needs `password_file`.
    pub username: Option<String>,
    /// File holding the SMTP password (relative: inside `$CREDENTIALS_DIRECTORY`).
    pub password_file: Option<PathBuf>,
    /// The `From:` mailbox, e.g. `"Login codes <mfa@example.com>"`.
    pub from: String,
    /// A PEM file with extra root certificates (a private CA), trusted beside the system's.
    pub ca_file: Option<PathBuf>,
    /// Test suites only: `tls = "none"` to any loopback port, where a stand-in listens.
    #[serde(default)]
    pub insecure_loopback_plaintext_for_tests: bool,
}

/// The value of `[email] tls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS at all: only to a loopback host on a privileged port.
    None,
}

impl SmtpTls {
    /// The port used when `smtp_port` is not set.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        }
    }
}

/// Every delivery section of the config file; each is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySections {
    /// `[sms]`
    pub sms: Option<SmsSection>,
    /// `[twilio]`
    pub twilio: Option<TwilioSection>,
    /// `[webhook]`
    pub webhook: Option<WebhookSection>,
    /// `[email]`
    pub email: Option<EmailSection>,
}

impl DeliverySections {
    /// The sections that set `insecure_loopback_plaintext_for_tests`.
    pub(crate) fn plaintext_for_tests(&self) -> Vec<&'static str> {
        [
            (
                "twilio",
                self.twilio
                    .as_ref()
                    .map(|s| s.insecure_loopback_plaintext_for_tests),
            ),
            (
                "webhook",
                self.webhook
                    .as_ref()
                    .map(|s| s.insecure_loopback_plaintext_for_tests),
            ),
            (
                "email",
                self.email
                    .as_ref()
                    .map(|s| s.insecure_loopback_plaintext_for_tests),
            ),
        ]
        .into_iter()
        .filter(|(_, set)| *set == Some(true))
        .map(|(name, _)| name)
        .collect()
    }
}
