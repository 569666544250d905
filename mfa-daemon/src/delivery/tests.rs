//! Tests of `Delivery::new`'s checks across sections and of what its errors and Debug show.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::*;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "tok-7f3a9c1e5b";
const SECRET: &str = "whsec-2d8e4b6a";
const PASSWORD: &str = "smtp-pw-9c1d";
const HOST: &str = "db1.example.com";

fn secret_file(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, contents).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn twilio(dir: &Path) -> TwilioSection {
    TwilioSection {
        account_sid: SID.to_owned(),
        auth_token_file: secret_file(dir, "token", &format!("{TOKEN}\n")),
        from: Some("+15005550006".to_owned()),
        messaging_service_sid: None,
        api_url: "https://api.twilio.com".to_owned(),
        insecure_loopback_plaintext_for_tests: false,
    }
}

fn email(dir: &Path) -> EmailSection {
    EmailSection {
        smtp_host: "127.0.0.1".to_owned(),
        smtp_port: Some(25),
        tls: SmtpTls::None,
        username: Some("mfa".to_owned()),
        password_file: Some(secret_file(dir, "smtp", PASSWORD)),
        from: "Login codes <mfa@example.com>".to_owned(),
        ca_file: None,
        insecure_loopback_plaintext_for_tests: false,
    }
}

fn sms(provider: SmsProvider) -> Option<SmsSection> {
    Some(SmsSection { provider })
}

/// The kernel's default: ports from 1024 up are anyone's.
fn default_rule() -> PlaintextRule {
    PlaintextRule::with_unprivileged_port_start(1024)
}

fn build(sections: &DeliverySections) -> Result<Delivery, DeliveryConfigError> {
    Delivery::with_credentials_dir(sections, HOST, Duration::from_secs(5), None, default_rule())
}

fn parse(text: &str) -> DeliverySections {
    toml::from_str(text).unwrap()
}

#[test]
fn sections_parse_with_defaults_and_refuse_unknown_keys() {
    let sections = parse(
        r#"
        [sms]
        provider = "twilio"
        [twilio]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token_file = "twilio-token"
        from = "+15005550006"
        [email]
        smtp_host = "mail.example.com"
        from = "mfa@example.com"
        "#,
    );
    let twilio = sections.twilio.unwrap();
    assert_eq!(twilio.api_url, "https://api.twilio.com");
    let email = sections.email.unwrap();
    assert_eq!(email.tls, SmtpTls::Starttls);
    assert_eq!(email.smtp_port, None);
    assert_eq!(
        [SmtpTls::Starttls, SmtpTls::Tls, SmtpTls::None].map(SmtpTls::default_port),
        [587, 465, 25]
    );
    let unknown = toml::from_str::<DeliverySections>(
        "[webhook]\nurl = \"https://h.example\"\nsecret_file = \"/s\"\nsecret = \"inline\"\n",
    );
    assert!(unknown.unwrap_err().to_string().contains("unknown field"));
    assert!(toml::from_str::<DeliverySections>("[sms]\nprovider = \"pigeon\"\n").is_err());
}

#[test]
fn nothing_configured_sends_nothing() {
    let delivery = build(&DeliverySections::default()).unwrap();
    for channel in [Channel::Sms, Channel::Voice, Channel::Email] {
        assert!(!delivery.can_send(channel));
    }
}

#[test]
fn twilio_needs_exactly_one_sender_and_voice_needs_from() {
    let dir = tempfile::tempdir().unwrap();
    let mut sections = DeliverySections {
        sms: sms(SmsProvider::Twilio),
        twilio: Some(twilio(dir.path())),
        ..Default::default()
    };
    let delivery = build(&sections).unwrap();
    assert!(delivery.can_send(Channel::Sms) && delivery.can_send(Channel::Voice));
    assert!(!delivery.can_send(Channel::Email));

    let section = sections.twilio.as_mut().unwrap();
    section.messaging_service_sid = Some("MG0123456789abcdef0123456789abcdef".to_owned());
    assert_eq!(build(&sections).unwrap_err().key, "twilio");
    let section = sections.twilio.as_mut().unwrap();
    section.from = None;
    let delivery = build(&sections).unwrap();
    assert!(delivery.can_send(Channel::Sms) && !delivery.can_send(Channel::Voice));
    let section = sections.twilio.as_mut().unwrap();
    section.messaging_service_sid = None;
    section.from = Some("ACME".to_owned());
    let delivery = build(&sections).unwrap();
    assert!(delivery.can_send(Channel::Sms) && !delivery.can_send(Channel::Voice));
    let section = sections.twilio.as_mut().unwrap();
    section.from = None;
    assert_eq!(build(&sections).unwrap_err().key, "twilio");
}

#[test]
fn provider_and_sections_must_agree() {
    let dir = tempfile::tempdir().unwrap();
    let only_twilio = DeliverySections {
        twilio: Some(twilio(dir.path())),
        ..Default::default()
    };
    assert_eq!(build(&only_twilio).unwrap_err().key, "twilio");
    let no_section = DeliverySections {
        sms: sms(SmsProvider::Webhook),
        ..Default::default()
    };
    let e = build(&no_section).unwrap_err();
    assert_eq!(
        e.to_string(),
        "sms.provider: is \"webhook\" but there is no [webhook] section"
    );
}

#[test]
fn plain_transports_only_to_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let mut section = twilio(dir.path());
    section.api_url = "http://10.0.0.1:8080".to_owned();
    let sections = DeliverySections {
        sms: sms(SmsProvider::Twilio),
        twilio: Some(section),
        ..Default::default()
    };
    assert_eq!(build(&sections).unwrap_err().key, "twilio.api_url");

    let webhook = |url: &str, for_tests: bool| DeliverySections {
        sms: sms(SmsProvider::Webhook),
        webhook: Some(WebhookSection {
            url: url.to_owned(),
            secret_file: secret_file(dir.path(), "secret", SECRET),
            insecure_loopback_plaintext_for_tests: for_tests,
        }),
        ..Default::default()
    };
    assert!(build(&webhook("http://127.0.0.1:9/hook", false)).is_ok());
    assert!(build(&webhook("http://[::1]:9/hook", false)).is_ok());
    assert_eq!(
        build(&webhook("http://example.com/hook", true))
            .unwrap_err()
            .key,
        "webhook.url"
    );
    // A port any local user may bind only with the test suites' setting.
    assert_eq!(
        build(&webhook("http://127.0.0.1:8080/hook", false))
            .unwrap_err()
            .key,
        "webhook.url"
    );
    assert!(build(&webhook("http://127.0.0.1:8080/hook", true)).is_ok());
    let mut section = twilio(dir.path());
    section.api_url = "http://127.0.0.1:8080".to_owned();
    let mut sections = DeliverySections {
        sms: sms(SmsProvider::Twilio),
        twilio: Some(section),
        ..Default::default()
    };
    assert_eq!(build(&sections).unwrap_err().key, "twilio.api_url");
    if let Some(twilio) = sections.twilio.as_mut() {
        twilio.insecure_loopback_plaintext_for_tests = true;
    }
    assert!(build(&sections).is_ok());
    assert_eq!(sections.plaintext_for_tests(), ["twilio"]);

    for (host, port, for_tests, ok) in [
        ("127.0.0.1", None, false, true),
        ("::1", Some(25), false, true),
        ("localhost", Some(25), false, true),
        ("127.0.0.1", Some(2525), false, false),
        ("127.0.0.1", Some(2525), true, true),
        ("10.0.0.1", Some(25), false, false),
        ("mail.example.com", Some(25), true, false),
    ] {
        let mut section = email(dir.path());
        section.smtp_host = host.to_owned();
        section.smtp_port = port;
        section.insecure_loopback_plaintext_for_tests = for_tests;
        let sections = DeliverySections {
            email: Some(section),
            ..Default::default()
        };
        match build(&sections) {
            Ok(delivery) => assert!(ok && delivery.can_send(Channel::Email), "{host}"),
            Err(e) => assert!(!ok && e.key == "email.tls", "{host} {port:?}: {e}"),
        }
    }
}

#[test]
fn the_test_setting_parses_in_each_section() {
    let sections = parse(
        r#"
        [sms]
        provider = "webhook"
        [webhook]
        url = "http://127.0.0.1:8080/mfa"
        secret_file = "s"
        insecure_loopback_plaintext_for_tests = true
        [email]
        smtp_host = "127.0.0.1"
        from = "a@b.example"
        "#,
    );
    assert_eq!(sections.plaintext_for_tests(), ["webhook"]);
    assert!(
        parse("[twilio]\naccount_sid = \"AC\"\nauth_token_file = \"t\"\n")
            .plaintext_for_tests()
            .is_empty()
    );
}

#[test]
fn email_auth_needs_both_user_and_password_and_a_readable_ca() {
    let dir = tempfile::tempdir().unwrap();
    let mut section = email(dir.path());
    section.password_file = None;
    let sections = DeliverySections {
        email: Some(section),
        ..Default::default()
    };
    assert_eq!(build(&sections).unwrap_err().key, "email.password_file");

    let mut section = email(dir.path());
    section.tls = SmtpTls::Starttls;
    section.ca_file = Some(secret_file(dir.path(), "ca.pem", "not a certificate"));
    let sections = DeliverySections {
        email: Some(section),
        ..Default::default()
    };
    assert_eq!(build(&sections).unwrap_err().key, "email.ca_file");

    let mut section = email(dir.path());
    section.from = "not an address".to_owned();
    let sections = DeliverySections {
        email: Some(section),
        ..Default::default()
    };
    assert_eq!(build(&sections).unwrap_err().key, "email.from");
}

#[test]
fn credential_files_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let section = twilio(dir.path());
    fs::set_permissions(&section.auth_token_file, fs::Permissions::from_mode(0o644)).unwrap();
    let sections = DeliverySections {
        sms: sms(SmsProvider::Twilio),
        twilio: Some(section),
        ..Default::default()
    };
    let e = build(&sections).unwrap_err();
    assert_eq!(e.key, "twilio.auth_token_file");
    assert!(e.problem.contains("0644"), "{e}");

    let mut section = twilio(dir.path());
    section.auth_token_file = PathBuf::from("twilio-token");
    let sections = DeliverySections {
        sms: sms(SmsProvider::Twilio),
        twilio: Some(section),
        ..Default::default()
    };
    assert!(build(&sections).is_err());
    secret_file(dir.path(), "twilio-token", TOKEN);
    let delivery = Delivery::with_credentials_dir(
        &sections,
        HOST,
        Duration::from_secs(5),
        Some(dir.path()),
        default_rule(),
    );
    assert!(delivery.is_ok());
}

/// The caller keeps one `Delivery` in shared state and sends from spawned tasks.
#[test]
fn delivery_is_shareable_and_its_sends_can_be_spawned() {
    fn shareable<T: Send + Sync + 'static>() {}
    fn spawnable<T: Send>(_: &T) {}
    shareable::<Delivery>();
    let delivery = build(&DeliverySections::default()).unwrap();
    let message = Outgoing {
        channel: Channel::Sms,
        to: "+15005550006".to_owned(),
        user: "alice".to_owned(),
        body: Body::Notice {
            text: "hello".to_owned(),
        },
    };
    spawnable(&delivery.send(&message));
}

#[test]
fn e164_numbers() {
    for ok in ["+15005550006", "+4930123456", "+123456789012345"] {
        assert!(is_e164(ok), "{ok}");
    }
    for bad in [
        "15005550006",
        "+1234567",
        "+1234567890123456",
        "+0123456789",
        "+1 500 555",
        "",
    ] {
        assert!(!is_e164(bad), "{bad}");
    }
}

#[tokio::test]
async fn refused_before_any_provider_is_asked() {
    let dir = tempfile::tempdir().unwrap();
    let sections = DeliverySections {
        sms: sms(SmsProvider::Twilio),
        twilio: Some(twilio(dir.path())),
        ..Default::default()
    };
    let delivery = build(&sections).unwrap();
    let message = |channel, to: &str| Outgoing {
        channel,
        to: to.to_owned(),
        user: "alice".to_owned(),
        body: Body::Code {
            code: Zeroizing::new("123456".to_owned()),
            valid_for: Duration::from_secs(300),
        },
    };
    let e = delivery
        .send(&message(Channel::Sms, "0049 30 1234"))
        .await
        .unwrap_err();
    assert_eq!(
        (e.provider, e.kind),
        ("twilio", SendErrorKind::InvalidDestination)
    );
    let e = delivery
        .send(&message(Channel::Email, "a@example.com"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, SendErrorKind::NotConfigured);
}

/// Every error a bad config or a failed send can show, and the Debug of a fully configured
/// `Delivery` and of a message, must leave out tokens, passwords, secrets and codes.
#[test]
fn no_secret_or_code_in_any_error_or_debug() {
    let dir = tempfile::tempdir().unwrap();
    let code = "424242";
    let forbidden = [TOKEN, SECRET, PASSWORD, code];
    let check = |shown: String| {
        for secret in forbidden {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
    };

    let twilio_sections = DeliverySections {
        sms: sms(SmsProvider::Twilio),
        twilio: Some(twilio(dir.path())),
        email: Some(email(dir.path())),
        ..Default::default()
    };
    let delivery = build(&twilio_sections).unwrap();
    check(format!("{delivery:?}"));
    check(format!("{twilio_sections:?}"));
    let webhook_sections = DeliverySections {
        sms: sms(SmsProvider::Webhook),
        webhook: Some(WebhookSection {
            url: "https://hooks.example.com/mfa".to_owned(),
            secret_file: secret_file(dir.path(), "secret", SECRET),
            insecure_loopback_plaintext_for_tests: false,
        }),
        ..Default::default()
    };
    check(format!("{:?}", build(&webhook_sections).unwrap()));

    let outgoing = Outgoing {
        channel: Channel::Sms,
        to: "+15005550006".to_owned(),
        user: "alice".to_owned(),
        body: Body::Code {
            code: Zeroizing::new(code.to_owned()),
            valid_for: Duration::from_secs(300),
        },
    };
    check(format!("{outgoing:?}"));

    for mode in [0o644, 0o660] {
        for contents in [TOKEN, SECRET, PASSWORD] {
            let path = secret_file(dir.path(), "exposed", contents);
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let e = credential::read_credential("k", &path, None).unwrap_err();
            check(format!("{e} {e:?}"));
        }
    }
    let bad_utf8 = dir.path().join("binary");
    fs::write(&bad_utf8, [0xff, 0xfe, b'x']).unwrap();
    fs::set_permissions(&bad_utf8, fs::Permissions::from_mode(0o600)).unwrap();
    let e = credential::read_credential("k", &bad_utf8, None).unwrap_err();
    check(format!("{e} {e:?}"));

    for kind in [
        SendErrorKind::InvalidDestination,
        SendErrorKind::NotMobile,
        SendErrorKind::Undeliverable,
        SendErrorKind::Credentials,
        SendErrorKind::RateLimited,
        SendErrorKind::Timeout,
        SendErrorKind::Provider,
        SendErrorKind::Network,
        SendErrorKind::NotConfigured,
    ] {
        let e = SendError::new("twilio", kind)
            .with_code(Some(20003))
            .with_status(401);
        check(format!("{e} {e:?}"));
    }
    let e = twilio::classify(
        400,
        format!(r#"{{"code":21211,"message":"{TOKEN} {code}","status":400}}"#).as_bytes(),
    );
    check(format!("{e} {e:?}"));
}
