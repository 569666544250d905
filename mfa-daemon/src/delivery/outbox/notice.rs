//! Security notices: telling a user through each of their contacts that something changed,
//! within the notice limits.

use mfa_core::contact::{Contact, ContactError, Destination};
use mfa_core::send_limits::{NoticeKind, SendRefusal};
use mfa_proto::Channel;

use super::{Courier, Outbox, Settings};
use crate::delivery::{Body, Outgoing, SendError};

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
    Uncounted(super::LedgerError),
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
fn notice_channel(destination: &Destination) -> Option<Channel> {
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

impl<C: Courier> Outbox<C> {
    /// Tells `user` through each of `contacts` that `what` happened: by text message to a
    /// phone, by email to an address, never by call (a voice-only phone is skipped). Each
    /// notice counts toward the user's notice limit and the host budget's shared part, and a
    /// [`NoticeKind::Change`] to a contact that had one within the burst is collapsed into
    /// it. Returns what became of each, for the audit.
    pub async fn notify(
        &self,
        user: &str,
        contacts: &[Contact],
        kind: NoticeKind,
        text: &str,
        now: u64,
    ) -> Vec<NoticeResult> {
        let settings = self.settings();
        let mut results = Vec::new();
        for contact in contacts {
            let destination = &contact.destination;
            let channel = notice_channel(destination);
            let outcome = match channel {
                None => Err(NoticeNotSent::VoiceOnly),
                Some(channel) => {
                    self.notify_one(&settings, user, destination, channel, kind, text, now)
                        .await
                }
            };
            results.push(NoticeResult {
                to: destination.masked(),
                channel,
                outcome,
            });
        }
        results
    }

    #[allow(clippy::too_many_arguments)]
    async fn notify_one(
        &self,
        settings: &Settings<C>,
        user: &str,
        destination: &Destination,
        channel: Channel,
        kind: NoticeKind,
        text: &str,
        now: u64,
    ) -> Result<(), NoticeNotSent> {
        if !settings.delivery.can_send(channel) {
            return Err(NoticeNotSent::NoProvider);
        }
        settings
            .allows(destination)
            .map_err(NoticeNotSent::Destination)?;
        let plan = self.limits().notice(user, destination.address(), kind);
        self.counter
            .count(plan, now)
            .await
            .map_err(NoticeNotSent::Uncounted)?
            .map_err(NoticeNotSent::Refused)?;
        let message = Outgoing {
            channel,
            to: destination.address().to_owned(),
            user: user.to_owned(),
            body: Body::Notice {
                text: text.to_owned(),
            },
        };
        settings
            .delivery
            .send(&message)
            .await
            .map_err(NoticeNotSent::Failed)
    }
}
