use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mfa_core::contact::{
    Contact, CountryRules, Destination, DomainRules, EmailAddress, PhoneNumber,
};
use mfa_core::factor::sent_code::{CodeCheck, CodePolicy};
use mfa_core::send_book::{BucketFull, SendBucket};
use mfa_core::send_limits::{NoticeKind, SendPolicy, SendRefusal};
use mfa_proto::Channel;

use super::{
    CodePurpose, Courier, LedgerError, NotSent, NoticeNotSent, Outbox, SendLedger, SentCheck,
    Ticket,
};
use crate::delivery::{Body, Outgoing, SendError, SendErrorKind};

const NOW: u64 = 1_800_000_000;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

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
            Body::Notice { .. } | Body::ApprovalLink { .. } => {
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
        login_code(&outbox, "alice", &phone(), Channel::Sms, NOW + i).unwrap();
    }
    // A user choosing a text message over and over: the store is asked once more.
    for i in 0..50 {
        let refused = login_code(&outbox, "alice", &phone(), Channel::Sms, NOW + 2 + i);
        assert!(matches!(
            refused,
            Err(NotSent::Refused(SendRefusal::User { retry_at })) if retry_at == NOW + 3600
        ));
    }
    assert_eq!(ledger.asked.load(Ordering::SeqCst), 3);
    // Others are not held back by alice's full bucket.
    login_code(&outbox, "bob", &phone(), Channel::Sms, NOW + 60).unwrap();
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
    login_code(&outbox, "alice", &phone(), Channel::Sms, NOW + 61).unwrap();
    assert!(login_code(&outbox, "alice", &phone(), Channel::Sms, NOW + 62).is_err());
    assert!(login_code(&outbox, "alice", &phone(), Channel::Sms, NOW + 3599).is_err());
    assert_eq!(ledger.asked.load(Ordering::SeqCst), 6);
    // Once the first send has left the window, alice's bucket has room again.
    login_code(&outbox, "alice", &phone(), Channel::Sms, NOW + 3600).unwrap();
    assert_eq!(ledger.asked.load(Ordering::SeqCst), 7);
    assert_eq!(courier.calls.load(Ordering::SeqCst), 5);
}

/// A login code, the purpose most of these tests send.
fn login_code<C: Courier>(
    outbox: &Outbox<C>,
    user: &str,
    to: &Destination,
    channel: Channel,
    now: u64,
) -> Result<Ticket, NotSent> {
    block_on(outbox.send_code(user, to, channel, CodePurpose::Login, now))
}

fn outbox(send: SendPolicy, domains: DomainRules) -> (Outbox<Arc<FakeCourier>>, Arc<FakeCourier>) {
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
    let ticket = login_code(&outbox, "alice", &phone(), Channel::Sms, NOW).unwrap();
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
    let first = login_code(&outbox, "alice", &phone(), Channel::Sms, NOW).unwrap();
    let first_code = last_code(&courier);
    let second = login_code(&outbox, "alice", &phone(), Channel::Sms, NOW + 1).unwrap();
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
        login_code(&outbox, "alice", &phone(), Channel::Sms, NOW + i).unwrap();
    }
    let refused = login_code(&outbox, "alice", &phone(), Channel::Sms, NOW + 3);
    assert!(matches!(
        refused,
        Err(NotSent::Refused(SendRefusal::User { .. }))
    ));
    let elsewhere = Destination::Email {
        address: EmailAddress::parse("a@example.org").unwrap(),
    };
    let refused = login_code(&outbox, "bob", &elsewhere, Channel::Email, NOW);
    assert!(matches!(refused, Err(NotSent::DomainRefused(_))));
    assert_eq!(courier.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn a_failed_send_leaves_no_code_waiting() {
    let (outbox, courier) = outbox(SendPolicy::default(), DomainRules::default());
    let ticket = login_code(&outbox, "alice", &phone(), Channel::Sms, NOW).unwrap();
    let code = last_code(&courier);
    courier.failing.store(true, Ordering::SeqCst);
    assert!(login_code(&outbox, "alice", &phone(), Channel::Sms, NOW + 1).is_err());
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
    let refused = login_code(&outbox, "alice", &premium, Channel::Sms, NOW);
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
    login_code(&outbox, "alice", &uk, Channel::Sms, NOW).unwrap();
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
    let refused = login_code(&outbox, "alice", &uk, Channel::Sms, NOW + 1);
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
        let purpose = CodePurpose::Confirmation;
        block_on(outbox.send_code("mallory", &phone(), Channel::Sms, purpose, NOW + i)).unwrap();
    }
    let purpose = CodePurpose::Confirmation;
    let refused = block_on(outbox.send_code("mallory", &phone(), Channel::Sms, purpose, NOW + 2));
    assert!(
        matches!(
            refused,
            Err(NotSent::Refused(SendRefusal::HostShare { .. }))
        ),
        "{refused:?}"
    );
    for user in ["alice", "bob"] {
        login_code(&outbox, user, &phone(), Channel::Sms, NOW + 3).unwrap();
    }
}
