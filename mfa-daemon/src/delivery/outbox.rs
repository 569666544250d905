//! Codes on their way out: the send limits, the codes waiting for an answer, and the
//! providers. Nothing reaches a provider beyond a limit; a provider call is bounded and holds
//! no lock, so a slow provider delays only the conversation that asked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use mfa_core::contact::{Contact, ContactError, CountryRules, Destination, DomainRules};
use mfa_core::factor::sent_code::{CodeCheck, CodePolicy, SentCode};
use mfa_core::send_book::{BucketFull, SendBucket};
use mfa_core::send_limits::{
    CodePurpose, NoticeKind, SendLimits, SendPlan, SendPolicy, SendRefusal,
};
use mfa_proto::Channel;

use super::{Body, Delivery, Outgoing, SendError, SendErrorKind};

/// Most full buckets remembered; beyond it, sends ask the store.
const MAX_KNOWN_FULL: usize = 10_000;
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

/// Why a send could not be counted (the store failed or is out of reach).
pub type LedgerError = Box<dyn std::error::Error + Send + Sync>;

/// Where the counts behind the send limits live: kept by the daemon's store, durably (files)
/// or shared by a fleet (PostgreSQL), so that neither a restart nor a second host starts
/// them afresh. Every method may block.
pub trait SendLedger: Send + Sync + std::fmt::Debug {
    /// Counts one send at `now` in every bucket if each has room, durably (or in the shared
    /// database) before it returns; otherwise counts nothing and names the first full
    /// bucket. An error means the send could not be counted, and it is not made.
    fn admit(
        &self,
        buckets: &[SendBucket],
        now: u64,
    ) -> Result<Result<(), BucketFull>, LedgerError>;
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
    /// The phone number's calling code is not allowed (`CountryRefused`).
    CountryRefused(ContactError),
    /// The send could not be counted against the limits (the store failed): not sent.
    Uncounted(LedgerError),
}

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

/// What a reload replaces: the providers and the rules of codes, domains and countries.
#[derive(Debug)]
struct Settings<C> {
    delivery: C,
    policy: CodePolicy,
    domains: DomainRules,
    countries: CountryRules,
}

/// The codes and limits of the whole daemon.
pub struct Outbox<C = Delivery> {
    settings: RwLock<Arc<Settings<C>>>,
    limits: RwLock<SendLimits>,
    ledger: Arc<dyn SendLedger>,
    /// Buckets the ledger found full, by key, and until when (see [`Outbox::known_full`]).
    known_full: Mutex<HashMap<String, u64>>,
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
            ledger,
            known_full: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            next_ticket: Mutex::new(0),
        }
    }

    fn limits(&self) -> SendLimits {
        self.limits
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Counts a message in the ledger, on a blocking thread (the store may write a file or
    /// ask the database), unless one of its buckets is already known to be full.
    async fn count(
        &self,
        plan: SendPlan,
        now: u64,
    ) -> Result<Result<(), SendRefusal>, LedgerError> {
        if let Some(full) = self.known_full(&plan, now) {
            return Ok(Err(plan.refusal(full)));
        }
        let ledger = self.ledger.clone();
        let buckets = plan.buckets().to_vec();
        let counted = tokio::task::spawn_blocking(move || ledger.admit(&buckets, now))
            .await
            .unwrap_or_else(|e| Err(format!("counting the send failed: {e}").into()))?;
        Ok(counted.map_err(|full| {
            self.remember_full(&plan, full, now);
            plan.refusal(full)
        }))
    }

    /// The first of `plan`'s buckets that a refusal found full until after `now`. A full
    /// bucket stays full at least until then (its sends only age, and a send can only be
    /// added), so such a send is refused without asking the store: a user choosing a text
    /// message from the menu over and over costs the database nothing.
    fn known_full(&self, plan: &SendPlan, now: u64) -> Option<BucketFull> {
        let known = lock(&self.known_full);
        plan.buckets()
            .iter()
            .enumerate()
            .find_map(|(index, bucket)| {
                known
                    .get(&bucket.key)
                    .filter(|&&until| until > now)
                    .map(|&retry_at| BucketFull {
                        index,
                        retry_at,
                        crowded: false,
                    })
            })
    }

    fn remember_full(&self, plan: &SendPlan, full: BucketFull, now: u64) {
        let Some(bucket) = plan.buckets().get(full.index).filter(|_| !full.crowded) else {
            return;
        };
        let mut known = lock(&self.known_full);
        if known.len() >= MAX_KNOWN_FULL {
            known.retain(|_, until| *until > now);
        }
        if known.len() < MAX_KNOWN_FULL {
            known.insert(bucket.key.clone(), full.retry_at);
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
        // New limits may give a full bucket room again.
        lock(&self.known_full).clear();
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

    /// Sends a new login code for `user` to `destination` by `channel`, after the send
    /// limits and the domain and country rules allow it. A login code may use the whole
    /// host budget. The new code replaces any code the user had waiting.
    pub async fn send_code(
        &self,
        user: &str,
        destination: &Destination,
        channel: Channel,
        now: u64,
    ) -> Result<Ticket, NotSent> {
        self.send(user, destination, channel, CodePurpose::Login, now)
            .await
    }

    /// Sends a code that confirms a contact being added, like [`Outbox::send_code`] but
    /// within the host budget's shared part: the user decides when and how often.
    pub async fn send_confirmation_code(
        &self,
        user: &str,
        destination: &Destination,
        channel: Channel,
        now: u64,
    ) -> Result<Ticket, NotSent> {
        self.send(user, destination, channel, CodePurpose::Confirmation, now)
            .await
    }

    async fn send(
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
        match self.count(plan, now).await {
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
            let channel = match destination {
                Destination::Phone {
                    voice_only: false, ..
                } => Some(Channel::Sms),
                Destination::Phone {
                    voice_only: true, ..
                } => None,
                Destination::Email { .. } => Some(Channel::Email),
            };
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
        self.count(plan, now)
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

impl<C> Settings<C> {
    /// Whether the domain and country rules in force let anything go to `destination`.
    fn allows(&self, destination: &Destination) -> Result<(), ContactError> {
        match destination {
            Destination::Email { address } => self.domains.check(address),
            Destination::Phone { number, .. } => self.countries.check(number),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use mfa_core::contact::{EmailAddress, PhoneNumber};

    use super::*;

    const NOW: u64 = 1_800_000_000;

    /// Keeps the codes it is given and the channels of notices; fails while `failing` is
    /// set.
    #[derive(Default)]
    struct FakeCourier {
        sent: Mutex<Vec<String>>,
        notices: Mutex<Vec<(Channel, String)>>,
        calls: AtomicUsize,
        failing: std::sync::atomic::AtomicBool,
    }

    impl Courier for Arc<FakeCourier> {
        fn can_send(&self, _channel: Channel) -> bool {
            true
        }

        async fn send(&self, message: &Outgoing) -> Result<(), SendError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.failing.load(Ordering::SeqCst) {
                return Err(SendError::new("fake", SendErrorKind::Provider));
            }
            match &message.body {
                Body::Code { code, .. } => lock(&self.sent).push(code.to_string()),
                Body::Notice { .. } => {
                    lock(&self.notices).push((message.channel, message.to.clone()));
                }
            }
            Ok(())
        }
    }

    /// The counts in memory, as a store would keep them; counts how often it is asked.
    #[derive(Debug, Default)]
    struct MemoryLedger {
        book: Mutex<mfa_core::send_book::SendBook>,
        asked: AtomicUsize,
    }

    impl SendLedger for MemoryLedger {
        fn admit(
            &self,
            buckets: &[SendBucket],
            now: u64,
        ) -> Result<Result<(), BucketFull>, LedgerError> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            Ok(lock(&self.book).admit(buckets, now))
        }
    }

    impl SendLedger for Arc<MemoryLedger> {
        fn admit(
            &self,
            buckets: &[SendBucket],
            now: u64,
        ) -> Result<Result<(), BucketFull>, LedgerError> {
            self.as_ref().admit(buckets, now)
        }
    }

    #[test]
    fn a_full_bucket_is_refused_from_memory_until_it_has_room_or_the_limits_change() {
        let courier = Arc::new(FakeCourier::default());
        let ledger = Arc::new(MemoryLedger::default());
        let send = SendPolicy {
            max_sends: 2,
            ..SendPolicy::default()
        };
        let outbox = Outbox::new(
            courier.clone(),
            CodePolicy::default(),
            send,
            DomainRules::default(),
            CountryRules::default(),
            Arc::new(ledger.clone()),
            "host",
        );
        for i in 0..2 {
            block_on(outbox.send_code("alice", &phone(), Channel::Sms, NOW + i)).unwrap();
        }
        // A user choosing a text message over and over: the store is asked once more.
        for i in 0..50 {
            let refused = block_on(outbox.send_code("alice", &phone(), Channel::Sms, NOW + 2 + i));
            assert!(matches!(
                refused,
                Err(NotSent::Refused(SendRefusal::User { retry_at })) if retry_at == NOW + 3600
            ));
        }
        assert_eq!(ledger.asked.load(Ordering::SeqCst), 3);
        // Others are not held back by alice's full bucket.
        block_on(outbox.send_code("bob", &phone(), Channel::Sms, NOW + 60)).unwrap();
        // New limits: the store decides again.
        outbox.reload(
            courier.clone(),
            CodePolicy::default(),
            SendPolicy {
                max_sends: 3,
                ..send
            },
            DomainRules::default(),
            CountryRules::default(),
        );
        block_on(outbox.send_code("alice", &phone(), Channel::Sms, NOW + 61)).unwrap();
        assert!(block_on(outbox.send_code("alice", &phone(), Channel::Sms, NOW + 62)).is_err());
        assert!(block_on(outbox.send_code("alice", &phone(), Channel::Sms, NOW + 3599)).is_err());
        assert_eq!(ledger.asked.load(Ordering::SeqCst), 6);
        // Once the first send has left the window, alice's bucket has room again.
        block_on(outbox.send_code("alice", &phone(), Channel::Sms, NOW + 3600)).unwrap();
        assert_eq!(ledger.asked.load(Ordering::SeqCst), 7);
        assert_eq!(courier.calls.load(Ordering::SeqCst), 5);
    }

    fn outbox(
        send: SendPolicy,
        domains: DomainRules,
    ) -> (Outbox<Arc<FakeCourier>>, Arc<FakeCourier>) {
        let courier = Arc::new(FakeCourier::default());
        (
            Outbox::new(
                courier.clone(),
                CodePolicy::default(),
                send,
                domains,
                CountryRules::default(),
                Arc::new(MemoryLedger::default()),
                "host",
            ),
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

    fn contact(destination: Destination) -> Contact {
        Contact {
            destination,
            label: "x".into(),
            verified: true,
            added_at: 0,
        }
    }

    fn number(n: &str, voice_only: bool) -> Destination {
        Destination::Phone {
            number: PhoneNumber::parse(n).unwrap(),
            voice_only,
        }
    }

    #[test]
    fn notices_go_by_text_or_email_never_by_call_and_collapse_per_contact() {
        let (outbox, courier) = outbox(SendPolicy::default(), DomainRules::default());
        let contacts = [
            contact(number("+14155550101", false)),
            contact(number("+14155550102", true)),
            contact(Destination::Email {
                address: EmailAddress::parse("a@example.com").unwrap(),
            }),
        ];
        let mut reasons = Vec::new();
        for round in 0..25 {
            let results = block_on(outbox.notify(
                "mallory",
                &contacts,
                NoticeKind::Change,
                "Security notice",
                NOW + round,
            ));
            assert_eq!(results.len(), 3);
            reasons.extend(
                results
                    .iter()
                    .map(|r| r.outcome.as_ref().err().map(NoticeNotSent::reason)),
            );
        }
        assert_eq!(
            *lock(&courier.notices),
            [
                (Channel::Sms, "+14155550101".to_owned()),
                (Channel::Email, "a@example.com".to_owned())
            ]
        );
        assert_eq!(reasons[..3], [None, Some("voice_only"), None]);
        assert!(
            reasons[3..]
                .iter()
                .all(|r| matches!(r, Some("notice_collapsed" | "voice_only"))),
            "{reasons:?}"
        );
    }

    #[test]
    fn country_rules_stop_codes_and_notices_to_numbers_already_stored() {
        let (outbox, courier) = outbox(SendPolicy::default(), DomainRules::default());
        let premium = number("+88216123456", false);
        let refused = block_on(outbox.send_code("alice", &premium, Channel::Sms, NOW));
        assert!(
            matches!(refused, Err(NotSent::CountryRefused(_))),
            "{refused:?}"
        );
        let results = block_on(outbox.notify(
            "alice",
            &[contact(premium)],
            NoticeKind::Farewell,
            "Security notice",
            NOW,
        ));
        assert_eq!(
            results[0].outcome.as_ref().err().map(NoticeNotSent::reason),
            Some("country_refused")
        );
        // A rule added by a reload holds for a number stored before it.
        let uk = number("+447700900123", false);
        block_on(outbox.send_code("alice", &uk, Channel::Sms, NOW)).unwrap();
        outbox.reload(
            courier.clone(),
            CodePolicy::default(),
            SendPolicy::default(),
            DomainRules::default(),
            CountryRules {
                allowed: vec![],
                denied: vec![mfa_core::contact::CallingPrefix::parse("GB").unwrap()],
            },
        );
        let refused = block_on(outbox.send_code("alice", &uk, Channel::Sms, NOW + 1));
        assert!(
            matches!(refused, Err(NotSent::CountryRefused(_))),
            "{refused:?}"
        );
        assert_eq!(courier.calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn confirmations_cannot_take_the_logins_part_of_the_host_budget() {
        let send = SendPolicy {
            max_sends: 100,
            max_per_hour: 4,
            ..SendPolicy::default()
        };
        let (outbox, _courier) = outbox(send, DomainRules::default());
        for i in 0..2 {
            block_on(outbox.send_confirmation_code("mallory", &phone(), Channel::Sms, NOW + i))
                .unwrap();
        }
        let refused =
            block_on(outbox.send_confirmation_code("mallory", &phone(), Channel::Sms, NOW + 2));
        assert!(
            matches!(
                refused,
                Err(NotSent::Refused(SendRefusal::HostShare { .. }))
            ),
            "{refused:?}"
        );
        for user in ["alice", "bob"] {
            block_on(outbox.send_code(user, &phone(), Channel::Sms, NOW + 3)).unwrap();
        }
    }
}
