//! OTP delivery providers: SMS and voice through Twilio or a signed webhook, email through
//! SMTP. [`Delivery::from_config`] checks the config's sections and reads the credential files
//! once at start; [`Delivery::send`] delivers one message within the send timeout.
//!
//! This module knows nothing of users, limits or conversations: the caller decides whether a
//! message may be sent and what the user is told when it fails.

mod config;
pub(crate) mod credential;
mod error;
mod http;
mod message;
pub mod outbox;
mod smtp;
mod twilio;
mod webhook;
pub mod webpush;

use std::fmt;
use std::path::Path;
use std::time::Duration;

pub use mfa_proto::Channel;
use zeroize::Zeroizing;

use crate::config::{Config, ConfigError};
pub use crate::config::{
    DeliverySections, EmailSection, SmsProvider, SmsSection, SmtpTls, TwilioSection, WebhookSection,
};
pub use config::DeliveryConfigError;
pub use error::{SendError, SendErrorKind};
pub use webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER};

use config::{PlaintextRule, is_e164};
use http::retry_once_if_rate_limited;
use smtp::Smtp;
use twilio::Twilio;
use webhook::Webhook;

/// What a message says.
pub enum Body {
    /// A one-time code and how long it stays valid.
    Code {
        /// The digits, wiped when dropped.
        code: Zeroizing<String>,
        /// How long the code is accepted; the text rounds it up to whole minutes.
        valid_for: Duration,
    },
    /// A security notice (say, a factor was removed), sent as it is.
    Notice {
        /// The text.
        text: String,
    },
    /// The link of an approval request (no code, not the number), sent as it is.
    ApprovalLink {
        /// The text.
        text: String,
    },
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Code { valid_for, .. } => f
                .debug_struct("Code")
                .field("code", &"<redacted>")
                .field("valid_for", valid_for)
                .finish(),
            Body::Notice { text } => f.debug_struct("Notice").field("text", text).finish(),
            Body::ApprovalLink { .. } => f
                .debug_struct("ApprovalLink")
                .field("text", &"<link>")
                .finish(),
        }
    }
}

/// One message to one destination.
#[derive(Debug)]
pub struct Outgoing {
    /// How it travels.
    pub channel: Channel,
    /// A phone number in E.164 form (`+` and 8 to 15 digits) or an email address.
    pub to: String,
    /// The account the message is about.
    pub user: String,
    /// What it says.
    pub body: Body,
}

/// Who delivers SMS and voice.
#[derive(Debug)]
enum PhoneRoute {
    Twilio(Twilio),
    Webhook(Webhook),
}

impl PhoneRoute {
    /// One attempt to send `message` by text or call.
    async fn send(
        &self,
        client: &reqwest::Client,
        message: &Outgoing,
        host: &str,
    ) -> Result<(), SendError> {
        match self {
            PhoneRoute::Twilio(twilio) => twilio.send(client, message, host).await,
            PhoneRoute::Webhook(webhook) => webhook.send(client, message, host).await,
        }
    }
}

/// The configured providers, ready to send. Cheap to share: sends run concurrently and hold
/// no lock while they wait on a provider.
pub struct Delivery {
    phone: Option<PhoneRoute>,
    email: Option<Smtp>,
    http: Option<reqwest::Client>,
    host: String,
    send_timeout: Duration,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("phone", &self.phone)
            .field("email", &self.email)
            .field("host", &self.host)
            .field("send_timeout", &self.send_timeout)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// The providers `config` (read from `path`) sets up: [`Delivery::new`] with its
    /// sections and send timeout, a refusal naming the file, the line and the key. `host`
    /// names this machine in messages.
    pub fn from_config(config: &Config, path: &Path, host: &str) -> Result<Delivery, ConfigError> {
        Delivery::new(&config.delivery_sections(), host, config.otp.send_timeout)
            .map_err(|e| ConfigError::for_key(path, &e.key, e.problem))
    }

    /// Checks the sections, reads the credential files (relative names inside
    /// `$CREDENTIALS_DIRECTORY`) and builds the HTTP and SMTP clients. `host` names this
    /// machine in messages; every send gives up after `send_timeout`. A section that sets
    /// `insecure_loopback_plaintext_for_tests` is warned about on stderr each time.
    pub fn new(
        sections: &DeliverySections,
        host: &str,
        send_timeout: Duration,
    ) -> Result<Delivery, DeliveryConfigError> {
        let delivery = Delivery::with_credentials_dir(
            sections,
            host,
            send_timeout,
            credential::credentials_directory().as_deref(),
            PlaintextRule::from_kernel(),
        )?;
        for section in sections.plaintext_for_tests() {
            tracing::warn!(
                "WARNING: [{section}] insecure_loopback_plaintext_for_tests = true: \
                 credentials and codes may go in plain text to any loopback port, where any \
                 local user can listen. This setting is for test suites only; remove it on a \
                 real host."
            );
        }
        Ok(delivery)
    }

    fn with_credentials_dir(
        sections: &DeliverySections,
        host: &str,
        send_timeout: Duration,
        credentials_dir: Option<&std::path::Path>,
        plaintext: PlaintextRule,
    ) -> Result<Delivery, DeliveryConfigError> {
        if send_timeout.is_zero() {
            return Err(DeliveryConfigError::new(
                "send_timeout",
                "must be longer than zero",
            ));
        }
        let wanted = sections.sms.as_ref().map(|sms| sms.provider);
        let unused = |name: &str| {
            DeliveryConfigError::new(
                name,
                format!("the section is set but [sms] provider is not \"{name}\""),
            )
        };
        let missing = |name: &str| {
            DeliveryConfigError::new(
                "sms.provider",
                format!("is \"{name}\" but there is no [{name}] section"),
            )
        };
        if sections.twilio.is_some() && wanted != Some(SmsProvider::Twilio) {
            return Err(unused("twilio"));
        }
        if sections.webhook.is_some() && wanted != Some(SmsProvider::Webhook) {
            return Err(unused("webhook"));
        }
        let phone = match wanted {
            None => None,
            Some(SmsProvider::Twilio) => {
                let section = sections.twilio.as_ref().ok_or_else(|| missing("twilio"))?;
                Some(PhoneRoute::Twilio(Twilio::new(
                    section,
                    credentials_dir,
                    plaintext,
                )?))
            }
            Some(SmsProvider::Webhook) => {
                let section = sections
                    .webhook
                    .as_ref()
                    .ok_or_else(|| missing("webhook"))?;
                Some(PhoneRoute::Webhook(Webhook::new(
                    section,
                    credentials_dir,
                    plaintext,
                )?))
            }
        };
        let email = sections
            .email
            .as_ref()
            .map(|section| Smtp::new(section, credentials_dir, send_timeout, plaintext))
            .transpose()?;
        let http = phone
            .is_some()
            .then(|| http::client(send_timeout))
            .transpose()?;
        Ok(Delivery {
            phone,
            email,
            http,
            host: host.to_owned(),
            send_timeout,
        })
    }

    /// Whether a provider is configured for `channel`: SMS needs `[sms]`, voice needs `[sms]`
    /// with a provider that can call (Twilio with `from`, or a webhook), email needs `[email]`.
    pub fn can_send(&self, channel: Channel) -> bool {
        match channel {
            Channel::Sms => self.phone.is_some(),
            Channel::Voice => match &self.phone {
                Some(PhoneRoute::Twilio(twilio)) => twilio.can_call(),
                Some(PhoneRoute::Webhook(_)) => true,
                None => false,
            },
            Channel::Email => self.email.is_some(),
        }
    }

    /// Delivers `message`, taking no longer than the send timeout in total (a rate-limit retry
    /// included). A destination of the wrong form is refused before any provider is asked.
    pub async fn send(&self, message: &Outgoing) -> Result<(), SendError> {
        if !self.can_send(message.channel) {
            return Err(SendError::new("delivery", SendErrorKind::NotConfigured));
        }
        let provider = self.provider_name(message.channel);
        if message.channel != Channel::Email && !is_e164(&message.to) {
            return Err(SendError::new(provider, SendErrorKind::InvalidDestination));
        }
        let deadline = tokio::time::Instant::now() + self.send_timeout;
        let sending = async {
            match (&message.channel, &self.phone, &self.http, &self.email) {
                (Channel::Email, _, _, Some(smtp)) => smtp.send(message, &self.host).await,
                (_, Some(phone), Some(http), _) => {
                    retry_once_if_rate_limited(deadline, || phone.send(http, message, &self.host))
                        .await
                }
                _ => Err(SendError::new(provider, SendErrorKind::NotConfigured)),
            }
        };
        tokio::time::timeout_at(deadline, sending)
            .await
            .unwrap_or_else(|_| Err(SendError::new(provider, SendErrorKind::Timeout)))
    }

    fn provider_name(&self, channel: Channel) -> &'static str {
        match (channel, &self.phone) {
            (Channel::Email, _) => "smtp",
            (_, Some(PhoneRoute::Twilio(_))) => "twilio",
            (_, Some(PhoneRoute::Webhook(_))) => "webhook",
            (_, None) => "delivery",
        }
    }
}

#[cfg(test)]
mod tests;
