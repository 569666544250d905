//! The config sections of OTP delivery and the rules every one of them must pass before the
//! daemon starts: which provider serves SMS, loopback-only plain transports, credential files.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use reqwest::Url;
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
    /// Base URL of the API; tests point it at a stand-in on loopback.
    #[serde(default = "default_twilio_api_url")]
    pub api_url: String,
}

fn default_twilio_api_url() -> String {
    "https://api.twilio.com".to_owned()
}

/// `[webhook]`: a gateway that receives each message as signed JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    /// Where to POST; https, or http to a loopback host.
    pub url: String,
    /// File holding the HMAC-SHA256 key (relative: inside `$CREDENTIALS_DIRECTORY`).
    pub secret_file: PathBuf,
}

/// `[email]`: the SMTP server that relays email codes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSection {
    /// Host name or IP address of the SMTP server; also the name its certificate must carry.
    pub smtp_host: String,
    /// Defaults by `tls`: 587 for starttls, 465 for tls, 25 for none.
    pub smtp_port: Option<u16>,
    /// How the connection is protected; `none` only to a loopback host.
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
    /// No TLS at all: only to a loopback host.
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

/// A delivery setting that cannot work, found before the daemon starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfigError {
    /// The dotted key, e.g. `twilio.api_url`, or a section name such as `twilio`.
    pub key: String,
    /// What is wrong, in words a sysadmin can act on.
    pub problem: String,
}

impl DeliveryConfigError {
    pub(crate) fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
        DeliveryConfigError {
            key: key.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for DeliveryConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

impl std::error::Error for DeliveryConfigError {}

/// Whether `host` (a URL host or an SMTP host name) is this machine's loopback: the literal
/// `localhost`, an address in 127.0.0.0/8, or `::1`. Names are not resolved, so a name that
/// happens to resolve to loopback does not count.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `number` is a phone number in E.164 form: `+` and 8 to 15 digits, the first not zero.
pub(crate) fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

/// Parses the provider URL at `key`: https anywhere, plain http only to a loopback host, no
/// user name or password in it (credentials come from files), no fragment.
pub(crate) fn provider_url(key: &str, text: &str) -> Result<Url, DeliveryConfigError> {
    let url = Url::parse(text)
        .map_err(|e| DeliveryConfigError::new(key, format!("not a URL ({e}): {text}")))?;
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(host) => {}
        "http" => {
            return Err(DeliveryConfigError::new(
                key,
                format!(
                    "plain http:// is allowed only to a loopback host (127.0.0.1, ::1, \
                     localhost), got {text}"
                ),
            ));
        }
        other => {
            return Err(DeliveryConfigError::new(
                key,
                format!("the URL must start with https://, not {other}://"),
            ));
        }
    }
    if host.is_empty() {
        return Err(DeliveryConfigError::new(key, "the URL has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(DeliveryConfigError::new(
            key,
            "the URL must not carry a user name or password: credentials come from files",
        ));
    }
    if url.fragment().is_some() {
        return Err(DeliveryConfigError::new(
            key,
            "the URL must not have a #fragment",
        ));
    }
    Ok(url)
}

/// Checks a Twilio SID: `prefix` followed by 32 hex digits (it becomes part of a URL path).
pub(crate) fn twilio_sid(key: &str, prefix: &str, sid: &str) -> Result<(), DeliveryConfigError> {
    let hex = sid.strip_prefix(prefix).unwrap_or_default();
    if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(DeliveryConfigError::new(
            key,
            format!("expected {prefix} followed by 32 hex digits, got {sid:?}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "[::1]",
            "localhost",
            "LocalHost",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "10.0.0.1",
            "example.com",
            "localhost.example.com",
            "128.0.0.1",
            "::2",
            "0.0.0.0",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://[::1]:9/hook",
            "http://localhost/x",
            "https://api.twilio.com",
            "https://10.0.0.1/hook",
        ] {
            assert!(provider_url("webhook.url", ok).is_ok(), "{ok}");
        }
        let refused = provider_url("twilio.api_url", "http://x.example").unwrap_err();
        assert_eq!(
            refused.to_string(),
            "twilio.api_url: plain http:// is allowed only to a loopback host (127.0.0.1, ::1, \
             localhost), got http://x.example"
        );
        for bad in [
            "http://10.0.0.1",
            "http://example.com:80",
            "http://127.0.0.1.example.com",
        ] {
            let e = provider_url("webhook.url", bad).unwrap_err();
            assert!(e.problem.contains("loopback"), "{bad}: {e}");
        }
        for bad in [
            "ftp://127.0.0.1",
            "https://user:pw@example.com",
            "https://e.com/#x",
            "nonsense",
        ] {
            let e = provider_url("webhook.url", bad).unwrap_err();
            assert_eq!(e.key, "webhook.url");
        }
    }

    #[test]
    fn twilio_sids() {
        let good = format!("AC{}", "0123456789abcdef".repeat(2));
        assert!(twilio_sid("twilio.account_sid", "AC", &good).is_ok());
        for bad in [
            "AC123",
            "MG0123456789abcdef0123456789abcdef",
            "AC0123456789abcdef0123456789abcde/",
            "",
        ] {
            assert!(
                twilio_sid("twilio.account_sid", "AC", bad).is_err(),
                "{bad}"
            );
        }
    }
}
