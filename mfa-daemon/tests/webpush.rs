//! `WebPush::send` against the Web Push stand-in of `mfa-tests` on 127.0.0.1, which checks the
//! VAPID token as a push service does and decrypts the message as the subscribed browser does.

use std::time::Duration;

use mfa_daemon::clock::{Clock, SystemClock, UnixTime};
use mfa_daemon::delivery::webpush::{EndpointRule, PushError, Subscription, VapidKey, WebPush};
use mfa_tests::standins::{PushRefusal, PushStandin, PushSubscription, PushVerdict};

const CONTACT: &str = "mailto:admin@example.org";
const SEND_TIMEOUT: Duration = Duration::from_secs(3);
const TTL: Duration = Duration::from_secs(60);
const PAYLOAD: &[u8] = br#"{"open":"https://mfa.example.org/a/Xy","host":"db1","service":"sshd"}"#;

// Two P-256 keys made by `openssl ecparam -name prime256v1 -genkey -noout` (SEC1) and
// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` (PKCS#8).
const KEY_A: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEINUYL1MkrECbYLCXwdnY7aA94kzrlCjbja7yZXn5AlDSoAoGCCqGSM49
AwEHoUQDQgAEe3tsRtsumT1FYvB+JSXUue1sjX0U+GiIgMi/2kw5wtYZoKI3lZzG
bFjtrCjMsCEjQCLxAaDJC3q7GeeZkX6HRA==
-----END EC PRIVATE KEY-----
";
const KEY_B: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgOtJvxKeJ6eE+BBC6
CyYR+RpeZZTIwaRDJvAbKEkqQeqhRANCAASY4+Cmy+RHOXjZkiis8eS3nRYu56pO
S0/juZdNS8bE1Ak4ruEVq0GFmjTyqg8ZBw7QUuRKK0HRf/2xFEmq+Xv9
-----END PRIVATE KEY-----
";

fn sender(pem: &str) -> WebPush {
    let key = VapidKey::from_pem(pem.as_bytes()).unwrap();
    WebPush::new(key, CONTACT, SEND_TIMEOUT, EndpointRule::LoopbackForTests).unwrap()
}

fn subscription(browser: &PushSubscription) -> Subscription {
    Subscription::from_browser_json(&browser.to_json()).unwrap()
}

fn now() -> UnixTime {
    SystemClock.now()
}

/// The one verdict the stand-in recorded for `browser`.
fn verdict(standin: &PushStandin, browser: &PushSubscription) -> PushVerdict {
    let received: Vec<_> = standin
        .received()
        .into_iter()
        .filter(|r| r.id == browser.id)
        .collect();
    assert_eq!(received.len(), 1, "{received:?}");
    received[0].verdict.clone()
}

#[tokio::test]
async fn a_push_is_decrypted_by_the_browser_with_its_headers() {
    let standin = PushStandin::start();
    let push = sender(KEY_A);
    let browser = standin.subscribe(&push.public_key_base64url());
    push.send(&subscription(&browser), PAYLOAD, TTL, now())
        .await
        .unwrap();
    assert_eq!(standin.messages(&browser.id), vec![PAYLOAD.to_vec()]);
    let received = &standin.received()[0];
    assert_eq!(received.ttl, Some(60));
    assert_eq!(received.urgency.as_deref(), Some("high"));

    // A second browser of the same user has its own keys: each gets only its own message.
    let other = standin.subscribe(&push.public_key_base64url());
    push.send(&subscription(&other), b"second", TTL, now())
        .await
        .unwrap();
    assert_eq!(standin.messages(&other.id), vec![b"second".to_vec()]);
    assert_eq!(standin.messages(&browser.id).len(), 1);
}

#[tokio::test]
async fn a_tampered_message_is_refused() {
    let standin = PushStandin::start();
    let push = sender(KEY_A);
    let browser = standin.subscribe(&push.public_key_base64url());
    standin.tamper_next(&browser.id);
    let e = push
        .send(&subscription(&browser), PAYLOAD, TTL, now())
        .await
        .unwrap_err();
    assert!(matches!(e, PushError::Refused { status: 400 }), "{e}");
    assert_eq!(
        verdict(&standin, &browser),
        PushVerdict::Refused(PushRefusal::Undecryptable)
    );
}

#[tokio::test]
async fn a_message_for_another_auth_secret_is_refused() {
    let standin = PushStandin::start();
    let push = sender(KEY_A);
    let browser = standin.subscribe(&push.public_key_base64url());
    let mut wrong = subscription(&browser);
    wrong.auth = "AAAAAAAAAAAAAAAAAAAAAA".to_owned();
    let e = push.send(&wrong, PAYLOAD, TTL, now()).await.unwrap_err();
    assert!(matches!(e, PushError::Refused { status: 400 }), "{e}");
    assert_eq!(
        verdict(&standin, &browser),
        PushVerdict::Refused(PushRefusal::Undecryptable)
    );
}

#[tokio::test]
async fn a_token_of_another_vapid_key_is_refused() {
    let standin = PushStandin::start();
    let browser = standin.subscribe(&sender(KEY_A).public_key_base64url());
    let e = sender(KEY_B)
        .send(&subscription(&browser), PAYLOAD, TTL, now())
        .await
        .unwrap_err();
    assert!(matches!(e, PushError::TokenRefused { status: 401 }), "{e}");
    assert_eq!(
        verdict(&standin, &browser),
        PushVerdict::Refused(PushRefusal::WrongKey)
    );
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let standin = PushStandin::start();
    let push = sender(KEY_A);
    let browser = standin.subscribe(&push.public_key_base64url());
    // A clock 13 hours behind makes a token that expired an hour ago.
    let behind = UnixTime::from_secs(now().secs() - 13 * 3600);
    let e = push
        .send(&subscription(&browser), PAYLOAD, TTL, behind)
        .await
        .unwrap_err();
    assert!(matches!(e, PushError::TokenRefused { status: 401 }), "{e}");
    assert_eq!(
        verdict(&standin, &browser),
        PushVerdict::Refused(PushRefusal::Expired)
    );
}

#[tokio::test]
async fn a_gone_subscription_is_told_apart() {
    let standin = PushStandin::start();
    let push = sender(KEY_A);
    let browser = standin.subscribe(&push.public_key_base64url());
    standin.answer_gone(&browser.id);
    let e = push
        .send(&subscription(&browser), PAYLOAD, TTL, now())
        .await
        .unwrap_err();
    assert!(matches!(e, PushError::Gone { status: 410 }), "{e}");
    assert_eq!(verdict(&standin, &browser), PushVerdict::Gone);

    let mut unknown = subscription(&browser);
    unknown.endpoint = format!("{}/push/nobody", standin.origin());
    let e = push.send(&unknown, PAYLOAD, TTL, now()).await.unwrap_err();
    assert!(matches!(e, PushError::Gone { status: 404 }), "{e}");
}

#[tokio::test]
async fn loopback_endpoints_are_refused_outside_tests() {
    let standin = PushStandin::start();
    let key = VapidKey::from_pem(KEY_A.as_bytes()).unwrap();
    let push = WebPush::new(key, CONTACT, SEND_TIMEOUT, EndpointRule::PublicOnly).unwrap();
    let browser = standin.subscribe(&push.public_key_base64url());
    let e = push
        .send(&subscription(&browser), PAYLOAD, TTL, now())
        .await
        .unwrap_err();
    assert!(matches!(e, PushError::Subscription(_)), "{e}");
    assert!(standin.received().is_empty());
}
