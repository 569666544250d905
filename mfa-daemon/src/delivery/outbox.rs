//! Codes on their way out: the send limits, the codes waiting for an answer, and the
//! providers. Nothing reaches a provider beyond a limit; a provider call is bounded and holds
//! no lock, so a slow provider delays only the conversation that asked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use mfa_core::contact::{Contact, Destination, DomainRules};
use mfa_core::factor::sent_code::{CodeCheck, CodePolicy, SentCode};
use mfa_core::send_limits::{SendLimits, SendPolicy, SendRefusal};
use mfa_proto::Channel;

use super::{Body, Delivery, Outgoing, SendError, SendErrorKind};

/// Most users with a code waiting; beyond it, dead codes are dropped first, then a new code
/// for a new user waits until one expires.
const MAX_PENDING: usize = 10_000;

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

/// What a reload replaces: the providers and the rules of codes and domains.
#[derive(Debug)]
struct Settings<C> {
    delivery: C,
    policy: CodePolicy,
    domains: DomainRules,
}

/// The codes and limits of the whole daemon.
pub struct Outbox<C = Delivery> {
    settings: RwLock<Arc<Settings<C>>>,
    limits: Mutex<SendLimits>,
    pending: Mutex<HashMap<String, Pending>>,
    next_ticket: Mutex<u64>,
}

impl<C: std::fmt::Debug> std::fmt::Debug for Outbox<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<C: Courier> Outbox<C> {
    /// An outbox over `delivery` with the config's code, send and domain rules.
    pub fn new(delivery: C, policy: CodePolicy, send: SendPolicy, domains: DomainRules) -> Self {
        Outbox {
            settings: RwLock::new(Arc::new(Settings {
                delivery,
                policy,
                domains,
            })),
            limits: Mutex::new(SendLimits::new(send)),
            pending: Mutex::new(HashMap::new()),
            next_ticket: Mutex::new(0),
        }
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
    pub fn reload(&self, delivery: C, policy: CodePolicy, send: SendPolicy, domains: DomainRules) {
        lock(&self.limits).set_policy(send);
        *self
            .settings
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(Settings {
            delivery,
            policy,
            domains,
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

    /// Sends a new code for `user` to `destination` by `channel`, after the send limits and
    /// the domain rules allow it. The new code replaces any code the user had waiting.
    pub async fn send_code(
        &self,
        user: &str,
        destination: &Destination,
        channel: Channel,
        now: u64,
    ) -> Result<Ticket, NotSent> {
        let settings = self.settings();
        if let Destination::Email { address } = destination {
            settings
                .domains
                .check(address)
                .map_err(|_| NotSent::DomainRefused(address.domain().to_owned()))?;
        }
        if !settings.delivery.can_send(channel) {
            return Err(NotSent::Failed(SendError::new(
                "none",
                SendErrorKind::NotConfigured,
            )));
        }
        lock(&self.limits)
            .admit(user, now)
            .map_err(NotSent::Refused)?;
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
        lock(&self.pending).remove(user);
        settings
            .delivery
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
        let settings = self.settings();
        let mut results = Vec::new();
        for contact in contacts {
            let Some(&channel) = contact.destination.channels().first() else {
                continue;
            };
            let masked = contact.destination.masked();
            if !settings.delivery.can_send(channel) {
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
            let sent = settings
                .delivery
                .send(&message)
                .await
                .map_err(|e| e.to_string());
            results.push((masked, sent));
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use mfa_core::contact::{EmailAddress, PhoneNumber};

    use super::*;

    const NOW: u64 = 1_800_000_000;

    /// Keeps the codes it is given; fails while `failing` is set.
    #[derive(Default)]
    struct FakeCourier {
        sent: Mutex<Vec<String>>,
        calls: AtomicUsize,
        failing: std::sync::atomic::AtomicBool,
    }

    impl Courier for Arc<FakeCourier> {
        fn can_send(&self, channel: Channel) -> bool {
            channel != Channel::Voice
        }

        async fn send(&self, message: &Outgoing) -> Result<(), SendError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.failing.load(Ordering::SeqCst) {
                return Err(SendError::new("fake", SendErrorKind::Provider));
            }
            if let Body::Code { code, .. } = &message.body {
                lock(&self.sent).push(code.to_string());
            }
            Ok(())
        }
    }

    fn outbox(
        send: SendPolicy,
        domains: DomainRules,
    ) -> (Outbox<Arc<FakeCourier>>, Arc<FakeCourier>) {
        let courier = Arc::new(FakeCourier::default());
        (
            Outbox::new(courier.clone(), CodePolicy::default(), send, domains),
            courier,
        )
    }

    fn phone() -> Destination {
        Destination::Phone {
            number: PhoneNumber::parse("+14155550123").unwrap(),
            voice_only: false,
        }
    }

    fn last_code(c: &FakeCourier) -> String {
        lock(&c.sent).last().unwrap().clone()
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn thirty_racing_answers_with_one_sent_code_give_one_success() {
        let (outbox, courier) = outbox(SendPolicy::default(), DomainRules::default());
        let ticket = block_on(outbox.send_code("alice", &phone(), Channel::Sms, NOW)).unwrap();
        let code = last_code(&courier);
        let outbox = Arc::new(outbox);
        let threads: Vec<_> = (0..30)
            .map(|_| {
                let outbox = outbox.clone();
                let code = code.clone();
                std::thread::spawn(move || outbox.check("alice", ticket, &code, NOW, &|| true))
            })
            .collect();
        let accepted = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|c| *c == SentCheck::Checked(CodeCheck::Accepted))
            .count();
        assert_eq!(accepted, 1);
    }

    #[test]
    fn a_newer_code_kills_the_older_one_and_only_the_newer_works() {
        let (outbox, courier) = outbox(SendPolicy::default(), DomainRules::default());
        let first = block_on(outbox.send_code("alice", &phone(), Channel::Sms, NOW)).unwrap();
        let first_code = last_code(&courier);
        let second = block_on(outbox.send_code("alice", &phone(), Channel::Sms, NOW + 1)).unwrap();
        let second_code = last_code(&courier);
        assert_eq!(
            outbox.check("alice", first, &first_code, NOW + 2, &|| true),
            SentCheck::Superseded
        );
        assert_eq!(
            outbox.check("alice", second, &second_code, NOW + 2, &|| true),
            SentCheck::Checked(CodeCheck::Accepted)
        );
        // Another user's ticket never opens alice's code.
        assert_eq!(
            outbox.check("bob", second, &second_code, NOW + 2, &|| true),
            SentCheck::Superseded
        );
    }

    #[test]
    fn limits_and_domain_rules_stop_sends_before_the_provider() {
        let send = SendPolicy {
            max_sends: 2,
            ..SendPolicy::default()
        };
        let domains = DomainRules {
            allowed: vec!["example.com".into()],
            denied: vec![],
        };
        let (outbox, courier) = outbox(send, domains);
        for i in 0..2 {
            block_on(outbox.send_code("alice", &phone(), Channel::Sms, NOW + i)).unwrap();
        }
        let refused = block_on(outbox.send_code("alice", &phone(), Channel::Sms, NOW + 3));
        assert!(matches!(
            refused,
            Err(NotSent::Refused(SendRefusal::User { .. }))
        ));
        let elsewhere = Destination::Email {
            address: EmailAddress::parse("a@example.org").unwrap(),
        };
        let refused = block_on(outbox.send_code("bob", &elsewhere, Channel::Email, NOW));
        assert!(matches!(refused, Err(NotSent::DomainRefused(_))));
        let no_voice = block_on(outbox.send_code("carol", &phone(), Channel::Voice, NOW));
        assert!(matches!(no_voice, Err(NotSent::Failed(_))));
        assert_eq!(courier.calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_failed_send_leaves_no_code_waiting() {
        let (outbox, courier) = outbox(SendPolicy::default(), DomainRules::default());
        let ticket = block_on(outbox.send_code("alice", &phone(), Channel::Sms, NOW)).unwrap();
        let code = last_code(&courier);
        courier.failing.store(true, Ordering::SeqCst);
        assert!(block_on(outbox.send_code("alice", &phone(), Channel::Sms, NOW + 1)).is_err());
        assert_eq!(
            outbox.check("alice", ticket, &code, NOW + 2, &|| true),
            SentCheck::Superseded
        );
    }
}
