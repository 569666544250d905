//! Codes on their way out: the send limits, the codes waiting for an answer, and the
//! providers. Nothing reaches a provider beyond a limit; a provider call is bounded and holds
//! no lock, so a slow provider delays only the conversation that asked.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use mfa_core::contact::{Contact, Destination, DomainRules};
use mfa_core::factor::sent_code::{CodeCheck, CodePolicy, SentCode};
use mfa_core::send_limits::{SendLimits, SendPolicy, SendRefusal};
use mfa_proto::Channel;

use super::{Body, Delivery, Outgoing, SendError, SendErrorKind};

/// Most users with a code waiting; beyond it, dead codes are dropped first, then a new code
/// for a new user waits until one expires.
const MAX_PENDING: usize = 10_000;

/// Identifies one sent code, so that a conversation can tell its code from a newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

/// Why a code was not sent.
#[derive(Debug)]
pub enum NotSent {
    /// A send limit; nothing reached the provider.
    Refused(SendRefusal),
    /// No provider for this channel, or it failed.
    Failed(SendError),
    /// The OS RNG failed.
    Random(getrandom::Error),
    /// The email domain is not allowed.
    DomainRefused(String),
}

/// What checking an answer against a user's sent code found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentCheck {
    /// As the code itself decided.
    Checked(CodeCheck),
    /// A newer code was sent to the user since (or none is waiting): this one is dead.
    Superseded,
    /// Right, but the client left: nothing consumed.
    Abandoned,
}

struct Pending {
    ticket: Ticket,
    code: SentCode,
}

/// The codes and limits of the whole daemon.
pub struct Outbox {
    delivery: Delivery,
    policy: CodePolicy,
    domains: DomainRules,
    limits: Mutex<SendLimits>,
    pending: Mutex<HashMap<String, Pending>>,
    next_ticket: Mutex<u64>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("delivery", &self.delivery)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Outbox {
    /// An outbox over `delivery` with the config's code, send and domain rules.
    pub fn new(
        delivery: Delivery,
        policy: CodePolicy,
        send: SendPolicy,
        domains: DomainRules,
    ) -> Outbox {
        Outbox {
            delivery,
            policy,
            domains,
            limits: Mutex::new(SendLimits::new(send)),
            pending: Mutex::new(HashMap::new()),
            next_ticket: Mutex::new(0),
        }
    }

    /// Whether a provider for `channel` is configured.
    pub fn can_send(&self, channel: Channel) -> bool {
        self.delivery.can_send(channel)
    }

    /// The email domain rules.
    pub fn domains(&self) -> &DomainRules {
        &self.domains
    }

    /// Sends a new code for `user` to `destination` by `channel`, after the send limits and
    /// the domain rules allow it. The new code replaces any code the user had waiting.
    pub async fn send_code(
        &self,
        user: &str,
        contact: usize,
        destination: &Destination,
        channel: Channel,
        now: u64,
    ) -> Result<Ticket, NotSent> {
        if let Destination::Email { address } = destination {
            self.domains
                .check(address)
                .map_err(|_| NotSent::DomainRefused(address.domain().to_owned()))?;
        }
        if !self.delivery.can_send(channel) {
            return Err(NotSent::Failed(SendError::new(
                "none",
                SendErrorKind::NotConfigured,
            )));
        }
        lock(&self.limits)
            .admit(user, now)
            .map_err(NotSent::Refused)?;
        let code = SentCode::issue(&self.policy, channel, contact, now).map_err(NotSent::Random)?;
        let message = Outgoing {
            channel,
            to: destination.address().to_owned(),
            user: user.to_owned(),
            body: Body::Code {
                code: code.code().clone(),
                valid_for: self.policy.validity,
            },
        };
        // The old code dies as soon as a new one is asked for, sent or not.
        lock(&self.pending).remove(user);
        self.delivery
            .send(&message)
            .await
            .map_err(NotSent::Failed)?;
        let ticket = {
            let mut next = lock(&self.next_ticket);
            *next += 1;
            Ticket(*next)
        };
        let mut pending = lock(&self.pending);
        if pending.len() >= MAX_PENDING && !pending.contains_key(user) {
            pending.retain(|_, p| p.code.is_live(now));
        }
        if pending.len() < MAX_PENDING || pending.contains_key(user) {
            pending.insert(user.to_owned(), Pending { ticket, code });
        }
        Ok(ticket)
    }

    /// Checks `answer` against the code `ticket` names for `user`; a code that was used, is
    /// dead, or was replaced by a newer one is forgotten.
    pub fn check(
        &self,
        user: &str,
        ticket: Ticket,
        answer: &str,
        now: u64,
        still_wanted: &dyn Fn() -> bool,
    ) -> SentCheck {
        let mut pending = lock(&self.pending);
        let Some(entry) = pending.get_mut(user).filter(|p| p.ticket == ticket) else {
            return SentCheck::Superseded;
        };
        let Some(check) = entry.code.verify(answer, now, still_wanted) else {
            return SentCheck::Abandoned;
        };
        if !entry.code.is_live(now) {
            pending.remove(user);
        }
        SentCheck::Checked(check)
    }

    /// The contact `ticket`'s code went to, while it is waiting.
    pub fn contact_of(&self, user: &str, ticket: Ticket) -> Option<usize> {
        lock(&self.pending)
            .get(user)
            .filter(|p| p.ticket == ticket)
            .map(|p| p.code.contact)
    }

    /// Forgets any code waiting for `user`.
    pub fn forget(&self, user: &str) {
        lock(&self.pending).remove(user);
    }

    /// Tells `user` through each of `contacts` (each by its first channel) that `what`
    /// happened; sends beyond the host limit are skipped. Returns the failures for the log.
    pub async fn notify(
        &self,
        user: &str,
        contacts: &[Contact],
        text: &str,
        now: u64,
    ) -> Vec<(String, Result<(), String>)> {
        let mut results = Vec::new();
        for contact in contacts {
            let Some(&channel) = contact.destination.channels().first() else {
                continue;
            };
            let masked = contact.destination.masked();
            if !self.delivery.can_send(channel) {
                continue;
            }
            if let Err(refusal) = lock(&self.limits).admit_notice(now) {
                results.push((masked, Err(format!("not sent: {}", refusal.name()))));
                continue;
            }
            let message = Outgoing {
                channel,
                to: contact.destination.address().to_owned(),
                user: user.to_owned(),
                body: Body::Notice {
                    text: text.to_owned(),
                },
            };
            let sent = self
                .delivery
                .send(&message)
                .await
                .map_err(|e| e.to_string());
            results.push((masked, sent));
        }
        results
    }
}
