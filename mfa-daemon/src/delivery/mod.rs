//! TEMPORARY stand-in with the providers' interface; replaced by the real providers.
#![allow(
    missing_docs,
    dead_code,
    missing_debug_implementations,
    clippy::unused_async
)]

use std::path::PathBuf;
use std::time::Duration;

pub use mfa_proto::Channel;
use serde::Deserialize;
use zeroize::Zeroizing;

pub mod outbox;

#[derive(Debug, Clone, Deserialize, Default)]
pub struct DeliverySections {
    pub sms: Option<SmsSection>,
    pub twilio: Option<TwilioSection>,
    pub webhook: Option<WebhookSection>,
    pub email: Option<EmailSection>,
}
#[derive(Debug, Clone, Deserialize)]
pub struct SmsSection {}
#[derive(Debug, Clone, Deserialize)]
pub struct TwilioSection {}
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookSection {}
#[derive(Debug, Clone, Deserialize)]
pub struct EmailSection {
    pub from: String,
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug)]
pub struct Delivery {}
#[derive(Debug)]
pub struct DeliveryConfigError {
    pub key: String,
    pub problem: String,
}
impl std::fmt::Display for DeliveryConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}
pub struct Outgoing {
    pub channel: Channel,
    pub to: String,
    pub user: String,
    pub body: Body,
}
pub enum Body {
    Code {
        code: Zeroizing<String>,
        valid_for: Duration,
    },
    Notice {
        text: String,
    },
}
#[derive(Debug)]
pub struct SendError {
    pub provider: &'static str,
    pub kind: SendErrorKind,
    pub provider_code: Option<u32>,
}
impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {:?}", self.provider, self.kind)
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendErrorKind {
    InvalidDestination,
    NotMobile,
    Undeliverable,
    Credentials,
    RateLimited,
    Timeout,
    Provider,
    Network,
    NotConfigured,
}
impl Delivery {
    pub fn new(
        _sections: &DeliverySections,
        _host: &str,
        _send_timeout: Duration,
    ) -> Result<Delivery, DeliveryConfigError> {
        Ok(Delivery {})
    }
    pub fn can_send(&self, _channel: Channel) -> bool {
        false
    }
    pub async fn send(&self, _message: &Outgoing) -> Result<(), SendError> {
        Err(SendError {
            provider: "none",
            kind: SendErrorKind::NotConfigured,
            provider_code: None,
        })
    }
}
impl SendError {
    pub fn not_configured(_channel: Channel) -> SendError {
        SendError {
            provider: "none",
            kind: SendErrorKind::NotConfigured,
            provider_code: None,
        }
    }
}
