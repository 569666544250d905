//! Codes on their way out: the send limits, the codes waiting for an answer, and the
//! providers. Nothing reaches a provider beyond a limit; a provider call is bounded and holds
//! no lock, so a slow provider delays only the conversation that asked.

mod ledger;
mod notice;
mod pending;
#[cfg(test)]
mod tests;

use std::sync::{Arc, PoisonError, RwLock};

use mfa_core::contact::{Contact, ContactError, CountryRules, Destination, DomainRules};
use mfa_core::factor::sent_code::{CodePolicy, SentCode};
pub use mfa_core::send_limits::CodePurpose;
use mfa_core::send_limits::{NoticeKind, SendLimits, SendPolicy, SendRefusal};
use mfa_proto::Channel;

use crate::config::OtpConfig;

use super::{Body, Delivery, Outgoing, SendError, SendErrorKind};

pub use ledger::{LedgerError, SendLedger};
pub use notice::{NoticeNotSent, NoticeResult};
pub use pending::{SentCheck, Ticket};

use ledger::SendCounter;
use notice::notice_channel;
use pending::PendingCodes;

/// Whatever carries messages to people: the configured providers ([`Delivery`]), or a fake
/// in tests.
pub trait Courier: Send + Sync {
    /// Whether a provider for `channel` is configured.
    fn can_send(&self, channel: Channel) -> bool;
    /// Sends one message, within the configured send timeout.
    fn send(
        &self,
        message: &Outgoing,
    ) -> impl std::future::Future<Output = Result<(), SendError>> + Send;
}

impl Courier for Delivery {
    fn can_send(&self, channel: Channel) -> bool {
        Delivery::can_send(self, channel)
    }

    async fn send(&self, message: &Outgoing) -> Result<(), SendError> {
        Delivery::send(self, message).await
    }
}

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
    /// The phone number's calling code is not allowed (`CountryRefused`).
    CountryRefused(ContactError),
    /// The send could not be counted against the limits (the store failed): not sent.
    Uncounted(LedgerError),
}

/// What a reload replaces: the providers and the rules of codes, domains and countries.
#[derive(Debug)]
struct Settings<C> {
    delivery: C,
    policy: CodePolicy,
    domains: DomainRules,
    countries: CountryRules,
}

impl<C> Settings<C> {
    /// Whether the domain and country rules in force let anything go to `destination`.
    fn allows(&self, destination: &Destination) -> Result<(), ContactError> {
        match destination {
            Destination::Email { address } => self.domains.check(address),
            Destination::Phone { number, .. } => self.countries.check(number),
        }
    }
}

/// The codes and limits of the whole daemon.
pub struct Outbox<C = Delivery> {
    settings: RwLock<Arc<Settings<C>>>,
    limits: RwLock<SendLimits>,
    counter: SendCounter,
    pending: PendingCodes,
}

impl<C: std::fmt::Debug> std::fmt::Debug for Outbox<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<C: Courier> Outbox<C> {
    /// An outbox sending through `delivery` with what `[otp]` sets: the codes' form, the
    /// send limits (counted in `ledger`), and the domain and country rules.
    pub fn with_otp(
        delivery: C,
        otp: &OtpConfig,
        ledger: Arc<dyn SendLedger>,
        hostname: &str,
    ) -> Self {
        Outbox::new(
            delivery,
            otp.code_policy(),
            otp.send_policy(),
            otp.domain_rules(),
            otp.country_rules(),
            ledger,
            hostname,
        )
    }

    /// Puts a reloaded `[otp]` and its providers in force (see [`Outbox::reload`]).
    pub fn reload_otp(&self, delivery: C, otp: &OtpConfig) {
        self.reload(
            delivery,
            otp.code_policy(),
            otp.send_policy(),
            otp.domain_rules(),
            otp.country_rules(),
        );
    }
}

impl<C: Courier> Outbox<C> {
    /// An outbox over `delivery` with the config's code, send, domain and country rules; the
    /// send limits of `send` count in `ledger` (the store's), under this host's name.
    pub fn new(
        delivery: C,
        policy: CodePolicy,
        send: SendPolicy,
        domains: DomainRules,
        countries: CountryRules,
        ledger: Arc<dyn SendLedger>,
        hostname: &str,
    ) -> Self {
        Outbox {
            settings: RwLock::new(Arc::new(Settings {
                delivery,
                policy,
                domains,
                countries,
            })),
            limits: RwLock::new(SendLimits::new(send, hostname)),
            counter: SendCounter::new(ledger),
            pending: PendingCodes::default(),
        }
    }

    fn limits(&self) -> SendLimits {
        self.limits
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The providers and rules in force; a send keeps the ones it started with.
    fn settings(&self) -> Arc<Settings<C>> {
        self.settings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts new providers and rules in force for sends from now on (SIGHUP); the counts of
    /// recent sends and the codes waiting for an answer stay.
    pub fn reload(
        &self,
        delivery: C,
        policy: CodePolicy,
        send: SendPolicy,
        domains: DomainRules,
        countries: CountryRules,
    ) {
        self.limits
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .set_policy(send);
        self.counter.forget_full();
        *self
            .settings
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(Settings {
            delivery,
            policy,
            domains,
            countries,
        });
    }

    /// Whether a provider for `channel` is configured.
    pub fn can_send(&self, channel: Channel) -> bool {
        self.settings().delivery.can_send(channel)
    }

    /// The email domain rules.
    pub fn domains(&self) -> DomainRules {
        self.settings().domains.clone()
    }

    /// The phone country rules.
    pub fn countries(&self) -> CountryRules {
        self.settings().countries.clone()
    }

    /// Sends a new code for `user` to `destination` by `channel`, after the send limits and
    /// the domain and country rules allow it. A login code may use the whole host budget; a
    /// code that confirms a contact being added stays within its shared part, because the user
    /// decides when and how often. The new code replaces any code the user had waiting.
    pub async fn send_code(
        &self,
        user: &str,
        destination: &Destination,
        channel: Channel,
        purpose: CodePurpose,
        now: u64,
    ) -> Result<Ticket, NotSent> {
        let settings = self.settings();
        match settings.allows(destination) {
            Ok(()) => {}
            Err(ContactError::DomainRefused(domain)) => return Err(NotSent::DomainRefused(domain)),
            Err(e) => return Err(NotSent::CountryRefused(e)),
        }
        if !settings.delivery.can_send(channel) {
            return Err(NotSent::Failed(SendError::new(
                "none",
                SendErrorKind::NotConfigured,
            )));
        }
        let plan = self.limits().code(user, purpose);
        match self.counter.count(plan, now).await {
            Ok(Ok(())) => {}
            Ok(Err(refusal)) => return Err(NotSent::Refused(refusal)),
            Err(e) => return Err(NotSent::Uncounted(e)),
        }
        let code = SentCode::issue(&settings.policy, now).map_err(NotSent::Random)?;
        let message = Outgoing {
            channel,
            to: destination.address().to_owned(),
            user: user.to_owned(),
            body: Body::Code {
                code: code.code().clone(),
                valid_for: settings.policy.validity,
            },
        };
        // The old code dies as soon as a new one is asked for, sent or not.
        self.pending.forget(user);
        settings
            .delivery
            .send(&message)
            .await
            .map_err(NotSent::Failed)?;
        Ok(self.pending.keep(user, code, now))
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
        self.pending.check(user, ticket, answer, now, still_wanted)
    }

    /// Forgets any code waiting for `user`.
    pub fn forget(&self, user: &str) {
        self.pending.forget(user);
    }

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
            body: match kind {
                NoticeKind::ApprovalLink { .. } => Body::ApprovalLink {
                    text: text.to_owned(),
                },
                _ => Body::Notice {
                    text: text.to_owned(),
                },
            },
        };
        settings
            .delivery
            .send(&message)
            .await
            .map_err(NoticeNotSent::Failed)
    }
}
