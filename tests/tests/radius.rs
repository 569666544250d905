//! mfa-radius (issue 18) with real clients no one here wrote: FreeRADIUS's `radclient`, and
//! `pam_radius_auth` in a real sshd's PAM stack. The codes come from the enrolled app (as in
//! the other suites) and from the Twilio stand-in; what the server did is read from the
//! daemon's audit and from mfa-radius's own log.
//!
//! radclient cannot send an empty User-Password (it leaves the attribute out), nor the same
//! datagram twice on purpose; those requests are made with `mfa_radius::packet`'s client side
//! ([`RadiusSocket`]), and the answer is still checked with the response authenticators.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::thread;
use std::time::Duration;

use mfa_tests::radius::{
    AccessRequest, MfaRadius, Radclient, RadiusAnswer, RadiusClientSetup, RadiusCode, RadiusSetup,
};
use mfa_tests::text::{CODE_PROMPT, INVALID_CODE, MENU_PROMPT, SENT_CODE_PROMPT};
use mfa_tests::{
    Daemon, Enrollment, PamService, Providers, Sshd, TestUser, enroll_totp, is_sign_in, mfa_enroll,
    root_suite_ready, run,
};
use serde_json::Value;

/// One prompt per login and failure limits no test here reaches (30 racing requests fail 29
/// times).
const SETTINGS: &str = "max_tries = 1\n[limits]\nmax_failures = 100\naccount_max_failures = 100\n";
const PHONE: &str = "+14155554567";
/// The Unix password of the accounts in the `password = "pam"` tests; ends with digits, so
/// a split guessed from the field would take some of them.
const PASSWORD: &str = "Summer2024";

/// mfa-radius and the daemon it relays to. Fields drop in order: the server first.
struct Radius {
    radius: MfaRadius,
    daemon: Daemon,
}

impl Radius {
    /// A daemon started with `settings` (top-level keys and tables) and `setup`'s `[radius]`,
    /// and mfa-radius in front of it.
    fn start(setup: RadiusSetup, settings: &str) -> Radius {
        let daemon = Daemon::start_with(&format!("{settings}\n{}", setup.settings()));
        let radius = MfaRadius::start(&daemon, setup);
        Radius { radius, daemon }
    }

    /// One client `vpn1` on 127.0.0.1, `password = "none"`.
    fn one_client(settings: &str) -> Radius {
        Radius::start(
            RadiusSetup::new().client(RadiusClientSetup::new("vpn1", "127.0.0.1")),
            settings,
        )
    }

    fn radclient(&self) -> Radclient {
        self.radius.radclient("vpn1")
    }

    fn logs(&self) -> String {
        format!(
            "{}\n{}",
            self.radius.log_section(),
            self.daemon.log_section()
        )
    }

    fn sign_ins(&self, user: &str) -> Vec<Value> {
        self.daemon
            .audit_events()
            .into_iter()
            .filter(|event| is_sign_in(event) && event["user"] == user)
            .collect()
    }

    /// Neither log holds any of `secrets` as a word.
    fn assert_logs_omit(&self, secrets: &[String]) {
        self.daemon.assert_log_omits(secrets);
        let log = self.radius.log();
        for secret in secrets {
            assert!(
                !log.split(|c: char| !c.is_ascii_alphanumeric())
                    .any(|word| word == secret),
                "the mfa-radius log contains the secret or code {secret:?}:\n{log}"
            );
        }
    }
}

fn assert_code(answer: &RadiusAnswer, code: RadiusCode, radius: &Radius) {
    assert_eq!(answer.code, code, "{answer}\n{}", radius.logs());
}

#[test]
fn a_totp_code_is_accepted() {
    if !root_suite_ready() {
        return;
    }
    let r = Radius::one_client(SETTINGS);
    let user = TestUser::create();
    let enrollment = enroll_totp(&r.daemon, &user);
    let code = enrollment.authenticator.next_code();
    let answer = r
        .radclient()
        .send(&AccessRequest::new(user.name()).password(&code));
    assert_code(&answer, RadiusCode::Accept, &r);
    let success = r.daemon.auth_success();
    assert_eq!(success["user"], user.name(), "{success}");
    assert_eq!(success["service"], "radius:vpn1", "{success}");
    assert_eq!(success["rhost"], "radius:vpn1", "{success}");
    assert_eq!(success["factor"], "totp", "{success}");
    let mut secrets = enrollment.secrets();
    secrets.push(r.radius.setup().client_setup("vpn1").secret.clone());
    r.assert_logs_omit(&secrets);
}

#[test]
fn a_wrong_code_is_rejected_with_a_reply_message() {
    if !root_suite_ready() {
        return;
    }
    let r = Radius::one_client(SETTINGS);
    let user = TestUser::create();
    let enrollment = enroll_totp(&r.daemon, &user);
    let wrong = enrollment.authenticator.wrong_code();
    let answer = r
        .radclient()
        .send(&AccessRequest::new(user.name()).password(&wrong));
    assert_code(&answer, RadiusCode::Reject, &r);
    assert!(
        answer.reply_text().contains(INVALID_CODE),
        "the Reject does not say why: {answer}"
    );
    assert_eq!(r.daemon.auth_outcomes(user.name()), ["failure"]);
}

#[test]
fn an_empty_password_gets_the_prompt_as_a_challenge_and_the_code_answers_it() {
    if !root_suite_ready() {
        return;
    }
    let r = Radius::one_client(SETTINGS);
    let user = TestUser::create();
    let enrollment = enroll_totp(&r.daemon, &user);
    // radclient leaves an empty User-Password out; VPN clients send 16 NULs, as this does.
    let socket = r.radius.socket("vpn1", IpAddr::V4(Ipv4Addr::LOCALHOST));
    let empty = socket.request(1, user.name().as_bytes(), Some(b""), &[]);
    let challenge = socket.exchange(&empty);
    assert_code(&challenge, RadiusCode::Challenge, &r);
    assert!(
        challenge.reply_text().contains(CODE_PROMPT),
        "the challenge does not show the prompt: {challenge}"
    );
    assert_eq!(
        challenge.prompt,
        Some(0),
        "a code prompt is no-echo: {challenge}"
    );
    let state = challenge
        .state
        .clone()
        .expect("a challenge carries a State");
    assert_eq!(state.len(), 16, "{challenge}");

    let code = enrollment.authenticator.next_code();
    let answer = r.radclient().send(
        &AccessRequest::new(user.name())
            .password(&code)
            .state(&state),
    );
    assert_code(&answer, RadiusCode::Accept, &r);
    assert_eq!(r.daemon.auth_outcomes(user.name()), ["success"]);
}

#[test]
fn a_menu_choice_sends_a_text_whose_code_answers_the_challenge() {
    if !root_suite_ready() {
        return;
    }
    let providers = Providers::start();
    let r = Radius::one_client(&format!("{SETTINGS}{}", providers.config()));
    let user = TestUser::create();
    let _enrollment = enroll_totp(&r.daemon, &user);
    let saved = run(
        mfa_enroll(
            &r.daemon,
            None,
            &["phone", PHONE, "--unverified", "--user", user.name()],
        ),
        "",
    );
    assert!(saved.succeeded(), "{saved}");

    // Asking with an empty field shows the menu, as an SSH user sees it.
    let socket = r.radius.socket("vpn1", IpAddr::V4(Ipv4Addr::LOCALHOST));
    let menu = socket.exchange(&socket.request(1, user.name().as_bytes(), Some(b""), &[]));
    assert_code(&menu, RadiusCode::Challenge, &r);
    assert!(menu.reply_text().contains(MENU_PROMPT), "{menu}");

    let chosen = r.radclient().send(
        &AccessRequest::new(user.name())
            .password("1")
            .state(menu.state.as_deref().expect("a State")),
    );
    assert_code(&chosen, RadiusCode::Challenge, &r);
    assert!(chosen.reply_text().contains(SENT_CODE_PROMPT), "{chosen}");
    let code = providers.sms_code(PHONE);
    let answer = r.radclient().send(
        &AccessRequest::new(user.name())
            .password(&code)
            .state(chosen.state.as_deref().expect("a State")),
    );
    assert_code(&answer, RadiusCode::Accept, &r);
    assert_eq!(r.daemon.auth_success()["factor"], "sms");

    // The menu number as the first field works too, without the empty round.
    let direct = r
        .radclient()
        .send(&AccessRequest::new(user.name()).password("1"));
    assert_code(&direct, RadiusCode::Challenge, &r);
    assert!(direct.reply_text().contains(SENT_CODE_PROMPT), "{direct}");
    let code = providers.sms_code(PHONE);
    let answer = r.radclient().send(
        &AccessRequest::new(user.name())
            .password(&code)
            .state(direct.state.as_deref().expect("a State")),
    );
    assert_code(&answer, RadiusCode::Accept, &r);
    r.assert_logs_omit(&[code]);
}

/// `password = "none"`: the issue lets the client send `,sms` in User-Password instead of a
/// code, as a one-field client would; it picks the text message from the menu.
#[test]
fn a_comma_sms_field_sends_a_text_whose_code_answers_the_challenge() {
    if !root_suite_ready() {
        return;
    }
    let providers = Providers::start();
    let r = Radius::one_client(&format!("{SETTINGS}{}", providers.config()));
    let user = TestUser::create();
    let _enrollment = enroll_totp(&r.daemon, &user);
    let saved = run(
        mfa_enroll(
            &r.daemon,
            None,
            &["phone", PHONE, "--unverified", "--user", user.name()],
        ),
        "",
    );
    assert!(saved.succeeded(), "{saved}");
    let chosen = r
        .radclient()
        .send(&AccessRequest::new(user.name()).password(",sms"));
    assert_code(&chosen, RadiusCode::Challenge, &r);
    assert!(chosen.reply_text().contains(SENT_CODE_PROMPT), "{chosen}");
    let code = providers.sms_code(PHONE);
    let answer = r.radclient().send(
        &AccessRequest::new(user.name())
            .password(&code)
            .state(chosen.state.as_deref().expect("a State")),
    );
    assert_code(&answer, RadiusCode::Accept, &r);
    assert_eq!(r.daemon.auth_success()["factor"], "sms");
}

#[test]
fn a_request_without_message_authenticator_is_dropped_and_logged() {
    if !root_suite_ready() {
        return;
    }
    let r = Radius::one_client(SETTINGS);
    let user = TestUser::create();
    let enrollment = enroll_totp(&r.daemon, &user);
    let code = enrollment.authenticator.next_code();
    let answer = r.radclient().send(
        &AccessRequest::new(user.name())
            .password(&code)
            .without_message_authenticator(),
    );
    assert_code(&answer, RadiusCode::NoAnswer, &r);
    assert!(
        r.radius
            .log()
            .lines()
            .any(|line| line.contains("vpn1") && line.contains("Message-Authenticator")),
        "the drop is not logged with the client's name:\n{}",
        r.radius.log_section()
    );
    assert!(r.sign_ins(user.name()).is_empty(), "{}", r.logs());
    // The same code with a Message-Authenticator was never checked, so it still works.
    let answer = r
        .radclient()
        .send(&AccessRequest::new(user.name()).password(&code));
    assert_code(&answer, RadiusCode::Accept, &r);
}

#[test]
fn a_wrong_secret_gets_no_answer() {
    if !root_suite_ready() {
        return;
    }
    let r = Radius::one_client(SETTINGS);
    let user = TestUser::create();
    let enrollment = enroll_totp(&r.daemon, &user);
    let code = enrollment.authenticator.next_code();
    let answer = r
        .radclient()
        .with_secret("not-the-secret-of-vpn1-at-all")
        .send(&AccessRequest::new(user.name()).password(&code));
    assert_code(&answer, RadiusCode::NoAnswer, &r);
    assert!(r.sign_ins(user.name()).is_empty(), "{}", r.logs());
}

#[test]
fn a_retransmission_gets_the_same_bytes_and_the_code_is_checked_once() {
    if !root_suite_ready() {
        return;
    }
    let r = Radius::one_client(SETTINGS);
    let user = TestUser::create();
    let enrollment = enroll_totp(&r.daemon, &user);
    let code = enrollment.authenticator.next_code();
    let socket = r.radius.socket("vpn1", IpAddr::V4(Ipv4Addr::LOCALHOST));
    let request = socket.request(7, user.name().as_bytes(), Some(code.as_bytes()), &[]);
    socket.send_raw(&request.bytes);
    let first = socket.receive(Duration::from_secs(3)).expect("an answer");
    socket.send_raw(&request.bytes);
    let second = socket
        .receive(Duration::from_secs(3))
        .expect("an answer to the retransmission");
    assert_eq!(first, second, "a retransmission got other bytes");
    let answer = RadiusAnswer::from_packet(
        &mfa_radius::packet::verify_response(
            &first,
            &request.authenticator,
            r.radius.setup().client_setup("vpn1").secret.as_bytes(),
        )
        .expect("a valid response"),
    );
    assert_code(&answer, RadiusCode::Accept, &r);
    assert_eq!(
        r.daemon.auth_outcomes(user.name()),
        ["success"],
        "the code was checked more than once\n{}",
        r.logs()
    );
    // A new request (another authenticator) with the used code is refused as usual.
    let again =
        socket.exchange(&socket.request(7, user.name().as_bytes(), Some(code.as_bytes()), &[]));
    assert_code(&again, RadiusCode::Reject, &r);
    assert_eq!(r.daemon.auth_outcomes(user.name()), ["success", "failure"]);
}

#[test]
fn an_unknown_client_gets_no_answer() {
    if !root_suite_ready() {
        return;
    }
    // The only client is elsewhere (TEST-NET-1); 127.0.0.1 is nobody's.
    let setup = RadiusSetup::new().client(RadiusClientSetup::new("far", "192.0.2.10"));
    let far_secret = setup.client_setup("far").secret.clone();
    let r = Radius::start(setup, SETTINGS);
    let user = TestUser::create();
    let enrollment = enroll_totp(&r.daemon, &user);
    let code = enrollment.authenticator.next_code();
    let answer = Radclient::new(r.radius.address(), &far_secret)
        .send(&AccessRequest::new(user.name()).password(&code));
    assert_code(&answer, RadiusCode::NoAnswer, &r);
    assert!(r.sign_ins(user.name()).is_empty(), "{}", r.logs());
    assert!(
        r.radius.log().contains("127.0.0.1"),
        "the unknown client's address is not logged:\n{}",
        r.radius.log_section()
    );
}

#[test]
fn thirty_racing_requests_with_one_code_give_one_accept() {
    if !root_suite_ready() {
        return;
    }
    let r = Radius::one_client(SETTINGS);
    let user = TestUser::create();
    let enrollment = enroll_totp(&r.daemon, &user);
    let code = enrollment.authenticator.next_code();
    let request = AccessRequest::new(user.name()).password(&code);
    let client = r.radclient();
    let racing: Vec<_> = (0..30).map(|_| client.spawn(&request)).collect();
    let answers: Vec<RadiusAnswer> = racing.into_iter().map(Radclient::finish).collect();
    let accepted = answers
        .iter()
        .filter(|a| a.code == RadiusCode::Accept)
        .count();
    let rejected = answers
        .iter()
        .filter(|a| a.code == RadiusCode::Reject)
        .count();
    assert_eq!(
        (accepted, rejected),
        (1, 29),
        "{:?}\n{}",
        answers.iter().map(|a| a.code).collect::<Vec<_>>(),
        r.logs()
    );
    let outcomes = r.daemon.auth_outcomes(user.name());
    assert_eq!(outcomes.iter().filter(|o| *o == "success").count(), 1);
}

/// `password = "pam"`: an account with a Unix password, a PAM service of pam_unix for
/// mfa-radius (run in group shadow), one client `vpn1`.
struct PamRadius {
    r: Radius,
    enrollment: Enrollment,
    user: TestUser,
    _service: PamService,
}

impl PamRadius {
    fn start(settings: &str) -> PamRadius {
        let service = PamService::with_auth_stack(&[
            // nodelay: pam_unix's two-second delay after a failure only slows the suite.
            "auth required pam_unix.so nodelay".to_owned(),
        ]);
        let setup = RadiusSetup::new()
            .client(RadiusClientSetup::new("vpn1", "127.0.0.1"))
            .password_by_pam(service.name());
        let r = Radius::start(setup, settings);
        let user = TestUser::create();
        set_password(&user, PASSWORD);
        let enrollment = enroll_totp(&r.daemon, &user);
        PamRadius {
            r,
            enrollment,
            user,
            _service: service,
        }
    }

    fn send(&self, field: &str) -> RadiusAnswer {
        self.r
            .radclient()
            .send(&AccessRequest::new(self.user.name()).password(field))
    }

    fn code(&self) -> String {
        self.enrollment.authenticator.next_code()
    }
}

/// Sets the account's Unix password; chpasswd fails rather than wait for a lock.
fn set_password(user: &TestUser, password: &str) {
    for _ in 0..20 {
        let mut chpasswd = Command::new("chpasswd");
        chpasswd.stdin(std::process::Stdio::piped());
        if run(chpasswd, &format!("{}:{password}\n", user.name())).succeeded() {
            return;
        }
        thread::sleep(Duration::from_millis(200));
    }
    panic!("chpasswd could not set the password of {}", user.name());
}

#[test]
fn pam_password_and_code_in_one_field_are_accepted() {
    if !root_suite_ready() {
        return;
    }
    let p = PamRadius::start(SETTINGS);
    let answer = p.send(&format!("{PASSWORD}{}", p.code()));
    assert_code(&answer, RadiusCode::Accept, &p.r);
    assert_eq!(p.r.daemon.auth_success()["factor"], "totp");
    let mut secrets = p.enrollment.secrets();
    secrets.push(PASSWORD.to_owned());
    p.r.assert_logs_omit(&secrets);
}

#[test]
fn pam_right_code_with_a_wrong_password_is_rejected() {
    if !root_suite_ready() {
        return;
    }
    let p = PamRadius::start(SETTINGS);
    let right = p.send(&format!("Winter2024{}", p.code()));
    assert_code(&right, RadiusCode::Reject, &p.r);
    let wrong = p.send(&format!(
        "Winter2024{}",
        p.enrollment.authenticator.wrong_code()
    ));
    assert_code(&wrong, RadiusCode::Reject, &p.r);
    // The client learns nothing about which part was wrong.
    assert_eq!(
        right.reply_messages, wrong.reply_messages,
        "{right}\n{wrong}"
    );
    let mut secrets = p.enrollment.secrets();
    secrets.push("Winter2024".to_owned());
    p.r.assert_logs_omit(&secrets);
}

#[test]
fn pam_password_alone_gets_a_challenge_and_the_code_answers_it() {
    if !root_suite_ready() {
        return;
    }
    let p = PamRadius::start(SETTINGS);
    let challenge = p.send(PASSWORD);
    assert_code(&challenge, RadiusCode::Challenge, &p.r);
    assert!(challenge.reply_text().contains(CODE_PROMPT), "{challenge}");
    let answer = p.r.radclient().send(
        &AccessRequest::new(p.user.name())
            .password(&p.code())
            .state(challenge.state.as_deref().expect("a State")),
    );
    assert_code(&answer, RadiusCode::Accept, &p.r);
    // A wrong password alone is refused before any challenge.
    let refused = p.send("Winter2024");
    assert_code(&refused, RadiusCode::Reject, &p.r);
}

#[test]
fn pam_password_comma_sms_sends_a_text_whose_code_answers_the_challenge() {
    if !root_suite_ready() {
        return;
    }
    let providers = Providers::start();
    let p = PamRadius::start(&format!("{SETTINGS}{}", providers.config()));
    let saved = run(
        mfa_enroll(
            &p.r.daemon,
            None,
            &["phone", PHONE, "--unverified", "--user", p.user.name()],
        ),
        "",
    );
    assert!(saved.succeeded(), "{saved}");
    let challenge = p.send(&format!("{PASSWORD},sms"));
    assert_code(&challenge, RadiusCode::Challenge, &p.r);
    let code = providers.sms_code(PHONE);
    let answer = p.r.radclient().send(
        &AccessRequest::new(p.user.name())
            .password(&code)
            .state(challenge.state.as_deref().expect("a State")),
    );
    assert_code(&answer, RadiusCode::Accept, &p.r);
    assert_eq!(p.r.daemon.auth_success()["factor"], "sms");
    // A wrong password with ,sms sends nothing.
    let texts = providers.twilio.messages_to(PHONE).len();
    let refused = p.send("Winter2024,sms");
    assert_code(&refused, RadiusCode::Reject, &p.r);
    thread::sleep(Duration::from_millis(500));
    assert_eq!(providers.twilio.messages_to(PHONE).len(), texts);
}

#[test]
fn a_policy_rule_applies_to_one_client() {
    if !root_suite_ready() {
        return;
    }
    let setup = RadiusSetup::new()
        .with_ipv6()
        .client(RadiusClientSetup::new("relaxed", "127.0.0.1"))
        .client(RadiusClientSetup::new("strict", "::1"));
    let r = Radius::start(
        setup,
        &format!(
            "{SETTINGS}[policy]\nunenrolled = \"allow\"\n[[policy.rule]]\n\
             services = [\"radius:strict\"]\nunenrolled = \"deny\"\n"
        ),
    );
    let user = TestUser::create();
    let request = AccessRequest::new(user.name()).password("000000");
    let relaxed = r.radius.radclient("relaxed").send(&request);
    assert_code(&relaxed, RadiusCode::Accept, &r);
    let strict = r.radius.radclient_v6("strict").send(&request);
    assert_code(&strict, RadiusCode::Reject, &r);
    let services: Vec<Value> = r
        .sign_ins(user.name())
        .iter()
        .map(|event| event["service"].clone())
        .collect();
    assert_eq!(
        services,
        ["radius:relaxed", "radius:strict"],
        "{}",
        r.logs()
    );
}

#[test]
fn calling_station_id_is_part_of_the_audit_source() {
    if !root_suite_ready() {
        return;
    }
    let r = Radius::one_client(SETTINGS);
    let user = TestUser::create();
    let enrollment = enroll_totp(&r.daemon, &user);
    let answer = r.radclient().send(
        &AccessRequest::new(user.name())
            .password(&enrollment.authenticator.next_code())
            .calling_station("02-00-5E-10-00-01"),
    );
    assert_code(&answer, RadiusCode::Accept, &r);
    let success = r.daemon.auth_success();
    assert_eq!(
        success["rhost"], "radius:vpn1:02-00-5E-10-00-01",
        "{success}"
    );
    // Bytes outside the safe alphabet become '_', so a caller id cannot forge a field.
    let wrong = enrollment.authenticator.wrong_code();
    let answer = r.radclient().send(
        &AccessRequest::new(user.name())
            .password(&wrong)
            .calling_station("a b\"c/d"),
    );
    assert_code(&answer, RadiusCode::Reject, &r);
    let failure = r
        .sign_ins(user.name())
        .into_iter()
        .find(|e| e["outcome"] == "failure")
        .expect("a failure");
    assert_eq!(failure["rhost"], "radius:vpn1:a_b_c_d", "{failure}");
}

#[test]
fn check_config_accepts_a_good_config_and_refuses_bad_secret_files() {
    if !root_suite_ready() {
        return;
    }
    let setup = RadiusSetup::new().client(RadiusClientSetup::new("vpn1", "127.0.0.1"));
    let good = setup.check_config(&setup.standalone_config());
    assert!(good.succeeded(), "{good}");

    let open = RadiusSetup::new()
        .client(RadiusClientSetup::new("loose", "127.0.0.1").with_secret_mode(0o644));
    let refused = open.check_config(&open.standalone_config());
    let file = open.secret_file("loose").display().to_string();
    assert!(
        !refused.succeeded() && refused.mentions(&file) && refused.mentions("loose"),
        "a 0644 secret file is not refused by name: {refused}"
    );

    let short = RadiusSetup::new()
        .client(RadiusClientSetup::new("short", "127.0.0.1").with_secret("0123456789"));
    let refused = short.check_config(&short.standalone_config());
    let file = short.secret_file("short").display().to_string();
    assert!(
        !refused.succeeded() && refused.mentions(&file) && refused.mentions("short"),
        "a 10-byte secret is not refused by name: {refused}"
    );
}

/// pam_radius_auth (Debian's libpam-radius-auth) as sshd's only auth module, asking
/// mfa-radius with `password = "pam"`: the user types password and code at the one
/// keyboard-interactive prompt.
#[test]
fn pam_radius_auth_in_sshd_logs_in_with_password_and_code() {
    if !root_suite_ready() {
        return;
    }
    let service = PamService::with_auth_stack(&["auth required pam_unix.so nodelay".to_owned()]);
    // pam_radius_auth 2.0.0 sends no Message-Authenticator (checked below from the log), so
    // this client needs the pre-BlastRADIUS setting.
    let setup = RadiusSetup::new()
        .client(RadiusClientSetup::new("sshgw", "127.0.0.1").without_message_authenticator())
        .password_by_pam(service.name());
    let secret = setup.client_setup("sshgw").secret.clone();
    let r = Radius::start(setup, SETTINGS);
    let user = TestUser::create();
    set_password(&user, PASSWORD);
    let enrollment = enroll_totp(&r.daemon, &user);

    let conf = r.radius.config().with_file_name("pam_radius_auth.conf");
    std::fs::write(
        &conf,
        format!("127.0.0.1:{} {secret} 5\n", r.radius.address().port()),
    )
    .expect("write pam_radius_auth.conf");
    let sshd = Sshd::start_with_auth_stack(
        &[format!(
            "auth required pam_radius_auth.so conf={}",
            conf.display()
        )],
        "",
    );
    sshd.authorize(&user);

    let login = sshd.login(
        user.name(),
        "127.0.0.1",
        &format!("{PASSWORD}{}", enrollment.authenticator.next_code()),
    );
    assert!(
        login.run.succeeded(),
        "{}\n--- sshd ---\n{}\n{}",
        login.run,
        sshd.log(),
        r.logs()
    );
    let success = r.daemon.auth_success();
    assert_eq!(success["service"], "radius:sshgw", "{success}");

    let refused = sshd.login(
        user.name(),
        "127.0.0.1",
        &format!("{PASSWORD}{}", enrollment.authenticator.wrong_code()),
    );
    assert!(!refused.run.succeeded(), "{}", refused.run);
    assert_eq!(
        r.daemon.auth_outcomes(user.name()),
        ["success", "failure"],
        "{}",
        r.logs()
    );
}

/// A client with the default `require_message_authenticator = true` gets nothing from
/// pam_radius_auth 2.0.0: it sends no Message-Authenticator, so the request is dropped
/// (and logged). This is why its client block needs the setting off.
#[test]
fn pam_radius_auth_without_message_authenticator_is_dropped_by_default() {
    if !root_suite_ready() {
        return;
    }
    let service = PamService::with_auth_stack(&["auth required pam_unix.so nodelay".to_owned()]);
    let setup = RadiusSetup::new()
        .client(RadiusClientSetup::new("sshgw", "127.0.0.1"))
        .password_by_pam(service.name());
    let secret = setup.client_setup("sshgw").secret.clone();
    let r = Radius::start(setup, SETTINGS);
    let user = TestUser::create();
    set_password(&user, PASSWORD);
    let enrollment = enroll_totp(&r.daemon, &user);
    let conf = r.radius.config().with_file_name("pam_radius_auth.conf");
    std::fs::write(
        &conf,
        format!("127.0.0.1:{} {secret} 2\n", r.radius.address().port()),
    )
    .expect("write pam_radius_auth.conf");
    let sshd = Sshd::start_with_auth_stack(
        &[format!(
            "auth required pam_radius_auth.so conf={}",
            conf.display()
        )],
        "",
    );
    sshd.authorize(&user);
    let login = sshd.login(
        user.name(),
        "127.0.0.1",
        &format!("{PASSWORD}{}", enrollment.authenticator.next_code()),
    );
    assert!(!login.run.succeeded(), "{}", login.run);
    assert!(r.sign_ins(user.name()).is_empty(), "{}", r.logs());
    assert!(
        r.radius.log().contains("Message-Authenticator"),
        "{}",
        r.radius.log_section()
    );
}
