//! Why a message was not delivered, typed so that the caller can pick what to tell the user and
//! what to tell the admin. Nothing here can hold a code, a token or a password.

use std::error::Error;
use std::fmt;

/// What went wrong with one send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendErrorKind {
    /// The number or address is not valid (Twilio 21211).
    InvalidDestination,
    /// The number cannot receive SMS (Twilio 21614).
    NotMobile,
    /// The provider will not deliver to this destination (Twilio 21608: unverified number on
    /// a trial account; 21610: the recipient replied STOP; 21612, 21408: no route).
    Undeliverable,
    /// The provider refused our credentials (Twilio 20003, HTTP 401/403): an admin error.
    Credentials,
    /// The provider asked us to slow down (Twilio 20429, HTTP 429), again after one retry.
    RateLimited,
    /// No answer within the send timeout.
    Timeout,
    /// Any other refusal or failure on the provider's side.
    Provider,
    /// The provider could not be reached (DNS, connection, TLS).
    Network,
    /// No provider is configured for this channel.
    NotConfigured,
}

impl SendErrorKind {
    fn describe(self) -> &'static str {
        match self {
            SendErrorKind::InvalidDestination => "invalid destination",
            SendErrorKind::NotMobile => "destination is not a mobile number",
            SendErrorKind::Undeliverable => "the provider cannot deliver to this destination",
            SendErrorKind::Credentials => "the provider refused our credentials (check them)",
            SendErrorKind::RateLimited => "rate limited by the provider",
            SendErrorKind::Timeout => "no answer within the send timeout",
            SendErrorKind::Provider => "the provider refused or failed",
            SendErrorKind::Network => "cannot reach the provider",
            SendErrorKind::NotConfigured => "no provider is configured for this channel",
        }
    }
}

/// A failed send, for the log and for choosing what the user sees.
#[derive(Debug)]
pub struct SendError {
    /// `"twilio"`, `"webhook"` or `"smtp"`, or `"delivery"` when no provider was asked.
    pub provider: &'static str,
    /// What went wrong.
    pub kind: SendErrorKind,
    /// The provider's own error code (Twilio's `code`, an SMTP reply code), if it gave one.
    pub provider_code: Option<u32>,
    /// The HTTP status of the provider's answer, for HTTP providers.
    pub http_status: Option<u16>,
    source: Option<Box<dyn Error + Send + Sync>>,
}

impl SendError {
    pub(crate) fn new(provider: &'static str, kind: SendErrorKind) -> Self {
        SendError {
            provider,
            kind,
            provider_code: None,
            http_status: None,
            source: None,
        }
    }

    pub(crate) fn with_code(mut self, code: Option<u32>) -> Self {
        self.provider_code = code;
        self
    }

    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.http_status = Some(status);
        self
    }

    /// Adds the underlying error. Callers pass only errors that carry no secret: reqwest errors
    /// stripped of their URL, lettre and I/O errors.
    pub(crate) fn with_source(mut self, source: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// A reqwest failure: timeouts and unreachable hosts are told apart.
    pub(crate) fn from_http(provider: &'static str, error: reqwest::Error) -> Self {
        let kind = if error.is_timeout() {
            SendErrorKind::Timeout
        } else {
            SendErrorKind::Network
        };
        SendError::new(provider, kind).with_source(error.without_url())
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.provider, self.kind.describe())?;
        match (self.provider_code, self.http_status) {
            (Some(code), Some(status)) => write!(f, " (code {code}, HTTP {status})")?,
            (Some(code), None) => write!(f, " (code {code})")?,
            (None, Some(status)) => write!(f, " (HTTP {status})")?,
            (None, None) => {}
        }
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
            let mut next = source.source();
            while let Some(cause) = next {
                write!(f, ": {cause}")?;
                next = cause.source();
            }
        }
        Ok(())
    }
}

impl Error for SendError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn Error + 'static))
    }
}
