//! What became of a security notice to each contact, and the channel a notice takes.

use mfa_core::contact::{ContactError, Destination};
use mfa_core::send_limits::SendRefusal;
use mfa_proto::Channel;

use super::ledger::LedgerError;
use crate::delivery::SendError;

/// Why a security notice was not sent to a contact.
#[derive(Debug)]
pub enum NoticeNotSent {
    /// A phone that only takes calls: notices never go by voice call (a call costs more,
    /// and is the channel toll fraud pays best for).
    VoiceOnly,
    /// No provider for the contact's channel.
    NoProvider,
    /// The domain or country rules refuse the destination now.
    Destination(ContactError),
    /// Collapsed into an earlier notice, or a limit; nothing reached the provider.
    Refused(SendRefusal),
    /// The notice could not be counted against the limits (the store failed).
    Uncounted(LedgerError),
    /// The provider failed.
    Failed(SendError),
}

impl NoticeNotSent {
    /// Name in audit events.
    pub fn reason(&self) -> &'static str {
        match self {
            NoticeNotSent::VoiceOnly => "voice_only",
            NoticeNotSent::NoProvider => "no_provider",
            NoticeNotSent::Destination(ContactError::DomainRefused(_)) => "domain_refused",
            NoticeNotSent::Destination(_) => "country_refused",
            NoticeNotSent::Refused(refusal) => refusal.name(),
            NoticeNotSent::Uncounted(_) => "store_unavailable",
            NoticeNotSent::Failed(_) => "provider_error",
        }
    }
}

impl std::fmt::Display for NoticeNotSent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoticeNotSent::Failed(e) => write!(f, "{e}"),
            NoticeNotSent::Destination(e) => write!(f, "{e}"),
            NoticeNotSent::Uncounted(e) => write!(f, "not sent: cannot count it ({e})"),
            other => write!(f, "not sent: {}", other.reason()),
        }
    }
}

/// What became of the notice to one contact.
#[derive(Debug)]
pub struct NoticeResult {
    /// The contact, masked.
    pub to: String,
    /// The channel it went, or would have gone, by.
    pub channel: Option<Channel>,
    /// Sent, or why not.
    pub outcome: Result<(), NoticeNotSent>,
}

/// The channel a notice to `destination` goes by: a text message to a phone, an email to an
/// address, and none to a phone that only takes calls.
pub(super) fn notice_channel(destination: &Destination) -> Option<Channel> {
    match destination {
        Destination::Phone {
            voice_only: false, ..
        } => Some(Channel::Sms),
        Destination::Phone {
            voice_only: true, ..
        } => None,
        Destination::Email { .. } => Some(Channel::Email),
    }
}
