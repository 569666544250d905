//! `Delivery::send` against the provider stand-ins of `mfa-tests`: a Twilio-API server, a
//! webhook receiver and a real SMTP server, all on 127.0.0.1.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mfa_daemon::delivery::{
    Body, Channel, Delivery, DeliverySections, EmailSection, Outgoing, SendErrorKind, SmsProvider,
    SmsSection, SmtpTls, TwilioSection, WebhookSection,
};
use mfa_tests::standins::{
    Failure, Kind, SmtpOptions, SmtpSecurity, SmtpStandin, TwilioStandin, WebhookStandin,
    extract_code,
};
use zeroize::Zeroizing;

const SID: &str = "AC00000000000000000000000000000001";
const TOKEN: &str = "test-auth-token-5f2c";
const FROM: &str = "+15005550006";
const HOST: &str = "db1.example.com";
const SEND_TIMEOUT: Duration = Duration::from_secs(3);
const WAIT: Duration = Duration::from_secs(5);

fn secret_file(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, contents).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn code(digits: &str) -> Outgoing {
    code_to(Channel::Sms, "+15005550001", digits)
}

fn code_to(channel: Channel, to: &str, digits: &str) -> Outgoing {
    Outgoing {
        channel,
        to: to.to_owned(),
        user: "alice".to_owned(),
        body: Body::Code {
            code: Zeroizing::new(digits.to_owned()),
            valid_for: Duration::from_secs(300),
        },
    }
}

/// A `Delivery` that sends SMS and voice to `standin` with `token`.
fn twilio_delivery(standin: &TwilioStandin, token: &str, dir: &Path) -> Delivery {
    let sections = DeliverySections {
        sms: Some(SmsSection {
            provider: SmsProvider::Twilio,
        }),
        twilio: Some(TwilioSection {
            account_sid: SID.to_owned(),
            auth_token_file: secret_file(dir, "twilio-token", &format!("{token}\n")),
            from: Some(FROM.to_owned()),
            messaging_service_sid: None,
            api_url: standin.url(),
            // The stand-in listens on a high port.
            insecure_loopback_plaintext_for_tests: true,
        }),
        ..Default::default()
    };
    Delivery::new(&sections, HOST, SEND_TIMEOUT).unwrap()
}

struct Twilio {
    standin: TwilioStandin,
    delivery: Delivery,
    _dir: tempfile::TempDir,
}

fn twilio() -> Twilio {
    let dir = tempfile::tempdir().unwrap();
    let standin = TwilioStandin::start(SID, TOKEN);
    let delivery = twilio_delivery(&standin, TOKEN, dir.path());
    Twilio {
        standin,
        delivery,
        _dir: dir,
    }
}

#[tokio::test]
async fn sms_reaches_twilio_with_sender_text_and_auth() {
    let t = twilio();
    t.delivery.send(&code("123456")).await.unwrap();
    let sms = t.standin.wait_for("+15005550001", WAIT);
    assert_eq!(sms.kind, Kind::Sms);
    assert_eq!(sms.from.as_deref(), Some(FROM));
    assert_eq!(sms.messaging_service_sid, None);
    assert_eq!(extract_code(&sms.body).as_deref(), Some("123456"));
    assert!(
        sms.body.contains(HOST) && sms.body.contains("5 minutes"),
        "{}",
        sms.body
    );
    assert!(sms.body.chars().count() <= 160, "{}", sms.body);
}

#[tokio::test]
async fn voice_call_reads_the_code_in_twiml() {
    let t = twilio();
    t.delivery
        .send(&code_to(Channel::Voice, "+15005550002", "908172"))
        .await
        .unwrap();
    let call = t.standin.wait_for("+15005550002", WAIT);
    assert_eq!(call.kind, Kind::Call);
    assert_eq!(call.from.as_deref(), Some(FROM));
    assert!(call.body.starts_with("<Response><Say>"), "{}", call.body);
    assert!(
        call.body
            .contains("9, 0, 8, 1, 7, 2. Again: 9, 0, 8, 1, 7, 2."),
        "{}",
        call.body
    );
    assert_eq!(extract_code(&call.body).as_deref(), Some("908172"));
}

#[tokio::test]
async fn messaging_service_sends_sms_without_from() {
    let dir = tempfile::tempdir().unwrap();
    let standin = TwilioStandin::start(SID, TOKEN);
    let service = "MG00000000000000000000000000000002";
    let sections = DeliverySections {
        sms: Some(SmsSection {
            provider: SmsProvider::Twilio,
        }),
        twilio: Some(TwilioSection {
            account_sid: SID.to_owned(),
            auth_token_file: secret_file(dir.path(), "token", TOKEN),
            from: None,
            messaging_service_sid: Some(service.to_owned()),
            api_url: standin.url(),
            // The stand-in listens on a high port.
            insecure_loopback_plaintext_for_tests: true,
        }),
        ..Default::default()
    };
    let delivery = Delivery::new(&sections, HOST, SEND_TIMEOUT).unwrap();
    assert!(!delivery.can_send(Channel::Voice));
    delivery.send(&code("222333")).await.unwrap();
    let sms = standin.wait_for("+15005550001", WAIT);
    assert_eq!(sms.messaging_service_sid.as_deref(), Some(service));
    assert_eq!(sms.from, None);
    let e = delivery
        .send(&code_to(Channel::Voice, "+15005550001", "1"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, SendErrorKind::NotConfigured);
}

#[tokio::test]
async fn wrong_token_is_a_credentials_error() {
    let dir = tempfile::tempdir().unwrap();
    let standin = TwilioStandin::start(SID, TOKEN);
    let delivery = twilio_delivery(&standin, "not-the-token", dir.path());
    let e = delivery.send(&code("123456")).await.unwrap_err();
    assert_eq!(
        (e.provider, e.kind, e.provider_code, e.http_status),
        ("twilio", SendErrorKind::Credentials, Some(20003), Some(401))
    );
    assert!(standin.messages().is_empty());
    assert!(!e.to_string().contains("not-the-token"), "{e}");
}

#[tokio::test]
async fn twilio_refusals_map_to_kinds() {
    let t = twilio();
    for (failure, kind, provider_code) in [
        (
            Failure::InvalidNumber,
            SendErrorKind::InvalidDestination,
            21211,
        ),
        (Failure::NotMobile, SendErrorKind::NotMobile, 21614),
        (Failure::Unverified, SendErrorKind::Undeliverable, 21608),
        (Failure::BadCredentials, SendErrorKind::Credentials, 20003),
        (Failure::ServerError, SendErrorKind::Provider, 20500),
    ] {
        t.standin.fail_next(1, failure);
        let e = t.delivery.send(&code("123456")).await.unwrap_err();
        assert_eq!(
            (e.kind, e.provider_code),
            (kind, Some(provider_code)),
            "{failure:?}"
        );
    }
    assert!(t.standin.messages().is_empty());
    assert_eq!(
        t.standin.requests(),
        5,
        "a refusal other than 429 is not retried"
    );
}

#[tokio::test]
async fn one_rate_limit_is_retried_and_delivered() {
    let t = twilio();
    t.standin.fail_next(1, Failure::TooManyRequests);
    t.delivery.send(&code("123456")).await.unwrap();
    assert_eq!(t.standin.requests(), 2);
    assert_eq!(t.standin.messages().len(), 1);
}

#[tokio::test]
async fn two_rate_limits_give_up() {
    let t = twilio();
    t.standin.fail_next(2, Failure::TooManyRequests);
    let e = t.delivery.send(&code("123456")).await.unwrap_err();
    assert_eq!(
        (e.kind, e.provider_code, e.http_status),
        (SendErrorKind::RateLimited, Some(20429), Some(429))
    );
    assert_eq!(t.standin.requests(), 2);
    assert!(t.standin.messages().is_empty());
}

/// A provider that never answers costs its send the send timeout and nothing more, and holds
/// up no other send on the same `Delivery`.
#[tokio::test]
async fn stalled_provider_times_out_without_blocking_other_sends() {
    let t = twilio();
    t.standin.fail_next(1, Failure::Stall);
    let started = Instant::now();
    let stalled = async {
        let result = t
            .delivery
            .send(&code_to(Channel::Sms, "+15005550003", "111111"))
            .await;
        (result, started.elapsed())
    };
    let other = async {
        // Starts once the first request has reached the stand-in and stalled there.
        while t.standin.requests() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let result = t
            .delivery
            .send(&code_to(Channel::Sms, "+15005550004", "222222"))
            .await;
        (result, started.elapsed())
    };
    let ((stalled, stalled_after), (other, other_after)) = tokio::join!(stalled, other);
    let e = stalled.unwrap_err();
    assert_eq!(e.kind, SendErrorKind::Timeout, "{e}");
    assert!(stalled_after >= SEND_TIMEOUT, "{stalled_after:?}");
    assert!(
        stalled_after < SEND_TIMEOUT + Duration::from_secs(1),
        "{stalled_after:?}"
    );
    other.unwrap();
    assert!(
        other_after < SEND_TIMEOUT,
        "the second send waited {other_after:?}"
    );
    assert_eq!(t.standin.wait_for("+15005550004", WAIT).kind, Kind::Sms);
}

fn webhook_delivery(standin: &WebhookStandin, secret: &str, dir: &Path) -> Delivery {
    let sections = DeliverySections {
        sms: Some(SmsSection {
            provider: SmsProvider::Webhook,
        }),
        webhook: Some(WebhookSection {
            url: standin.url(),
            secret_file: secret_file(dir, "webhook-secret", secret),
            insecure_loopback_plaintext_for_tests: true,
        }),
        ..Default::default()
    };
    Delivery::new(&sections, HOST, SEND_TIMEOUT).unwrap()
}

#[tokio::test]
async fn webhook_payload_is_signed_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let standin = WebhookStandin::start("shared-secret");
    let delivery = webhook_delivery(&standin, "shared-secret", dir.path());
    assert!(delivery.can_send(Channel::Sms) && delivery.can_send(Channel::Voice));
    delivery.send(&code("314159")).await.unwrap();
    let call = standin.wait_for("+15005550001", WAIT);
    assert!(call.verified);
    let payload = &call.payload;
    assert_eq!(payload["channel"], "sms");
    assert_eq!(payload["code"], "314159");
    assert_eq!(payload["user"], "alice");
    assert_eq!(payload["host"], HOST);
    assert_eq!(payload["valid_for_seconds"], 300);
    let text = payload["text"].as_str().unwrap();
    assert!(
        text.starts_with("314159 is your verification code for db1.example.com"),
        "{text}"
    );

    delivery
        .send(&Outgoing {
            channel: Channel::Voice,
            to: "+15005550009".to_owned(),
            user: "alice".to_owned(),
            body: Body::Notice {
                text: "Your authenticator app was removed.".to_owned(),
            },
        })
        .await
        .unwrap();
    let call = standin.wait_for("+15005550009", WAIT);
    assert!(call.verified);
    assert_eq!(call.payload["channel"], "voice");
    assert!(call.payload["code"].is_null());
    assert_eq!(call.payload["text"], "Your authenticator app was removed.");
}

#[tokio::test]
async fn webhook_with_the_wrong_secret_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let standin = WebhookStandin::start("shared-secret");
    let delivery = webhook_delivery(&standin, "another-secret", dir.path());
    let e = delivery.send(&code("314159")).await.unwrap_err();
    assert_eq!(
        (e.provider, e.kind, e.http_status),
        ("webhook", SendErrorKind::Credentials, Some(401))
    );
    let calls = standin.calls();
    assert_eq!(calls.len(), 1);
    assert!(!calls[0].verified);
}

fn email_delivery(
    standin: &SmtpStandin,
    tls: SmtpTls,
    with_ca: bool,
    auth: Option<(&str, &str)>,
    dir: &Path,
) -> Result<Delivery, String> {
    let sections = DeliverySections {
        email: Some(EmailSection {
            smtp_host: if tls == SmtpTls::None {
                "127.0.0.1"
            } else {
                "localhost"
            }
            .to_owned(),
            smtp_port: Some(standin.port()),
            tls,
            username: auth.map(|(user, _)| user.to_owned()),
            password_file: auth.map(|(_, password)| secret_file(dir, "smtp-password", password)),
            from: "Login codes <mfa@db1.example.com>".to_owned(),
            ca_file: with_ca.then(|| standin.ca_file().unwrap().to_owned()),
            // The stand-in listens on a high port; with TLS the setting is not needed.
            insecure_loopback_plaintext_for_tests: tls == SmtpTls::None,
        }),
        ..Default::default()
    };
    Delivery::new(&sections, HOST, SEND_TIMEOUT).map_err(|e| e.to_string())
}

fn email(to: &str, digits: &str) -> Outgoing {
    code_to(Channel::Email, to, digits)
}

#[tokio::test]
async fn email_over_plain_smtp_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let standin = SmtpStandin::start(SmtpOptions::default());
    let delivery = email_delivery(&standin, SmtpTls::None, false, None, dir.path()).unwrap();
    assert!(delivery.can_send(Channel::Email) && !delivery.can_send(Channel::Sms));
    delivery
        .send(&email("alice@example.com", "271828"))
        .await
        .unwrap();
    let mail = standin.wait_for("alice@example.com", WAIT);
    assert!(!mail.tls);
    assert_eq!(mail.mail_from, "mfa@db1.example.com");
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("Verification code for db1.example.com")
    );
    let body = mail.body();
    for part in [
        "271828",
        "alice on db1.example.com",
        "5 minutes",
        "tell your administrator",
    ] {
        assert!(body.contains(part), "{part} missing in {body}");
    }
}

#[tokio::test]
async fn email_over_starttls_with_the_test_ca_and_auth() {
    let dir = tempfile::tempdir().unwrap();
    let standin = SmtpStandin::start(SmtpOptions {
        security: SmtpSecurity::StartTls,
        auth: Some(("mfa".to_owned(), "smtp-password-1".to_owned())),
    });
    let delivery = email_delivery(
        &standin,
        SmtpTls::Starttls,
        true,
        Some(("mfa", "smtp-password-1")),
        dir.path(),
    )
    .unwrap();
    delivery
        .send(&email("bob@example.com", "161803"))
        .await
        .unwrap();
    let mail = standin.wait_for("bob@example.com", WAIT);
    assert!(mail.tls);
    assert_eq!(mail.auth_user.as_deref(), Some("mfa"));
    assert!(mail.body().contains("161803"));

    let wrong = email_delivery(
        &standin,
        SmtpTls::Starttls,
        true,
        Some(("mfa", "wrong-password")),
        dir.path(),
    )
    .unwrap();
    let e = wrong
        .send(&email("bob@example.com", "161803"))
        .await
        .unwrap_err();
    assert_eq!(
        (e.provider, e.kind, e.provider_code),
        ("smtp", SendErrorKind::Credentials, Some(535))
    );
    assert!(!e.to_string().contains("wrong-password"), "{e}");
}

#[tokio::test]
async fn email_over_implicit_tls_with_the_test_ca() {
    let dir = tempfile::tempdir().unwrap();
    let standin = SmtpStandin::start(SmtpOptions {
        security: SmtpSecurity::ImplicitTls,
        auth: None,
    });
    let delivery = email_delivery(&standin, SmtpTls::Tls, true, None, dir.path()).unwrap();
    delivery
        .send(&email("carol@example.com", "141421"))
        .await
        .unwrap();
    assert!(standin.wait_for("carol@example.com", WAIT).tls);
}

#[tokio::test]
async fn starttls_without_the_ca_fails() {
    let dir = tempfile::tempdir().unwrap();
    let standin = SmtpStandin::start(SmtpOptions {
        security: SmtpSecurity::StartTls,
        auth: None,
    });
    let delivery = email_delivery(&standin, SmtpTls::Starttls, false, None, dir.path()).unwrap();
    let e = delivery
        .send(&email("dave@example.com", "173205"))
        .await
        .unwrap_err();
    assert_eq!(
        (e.provider, e.kind),
        ("smtp", SendErrorKind::Network),
        "{e}"
    );
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    assert!(standin.messages().is_empty());
}
