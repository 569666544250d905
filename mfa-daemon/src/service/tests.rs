//! The service's own rules, and logins driven through its API against a real file store
//! with a clock that moves only when the test moves it.

use std::sync::Arc;

use mfa_core::factor::totp::Generator;
use mfa_proto::{AuthRequest, Outcome, Secret};

use super::request::*;
use super::words::*;
use super::{Next, PhaseKind};
use crate::app::Shared;
use crate::clock::{Clock, ManualClock, UnixTime};
use crate::config::Config;
use crate::connection::{Caller, Connection, Door};
use crate::decisions::{Activation, Deciders};
use crate::delivery::Delivery;
use crate::delivery::outbox::Outbox;
use crate::store::CallerClass;
use crate::username;

fn auth(rhost: Option<&str>, tty: Option<&str>) -> AuthRequest {
    AuthRequest {
        user: "alice".into(),
        service: "sudo".into(),
        rhost: rhost.map(Into::into),
        tty: tty.map(Into::into),
        ruser: None,
        auth_info: None,
        nullok: false,
    }
}

const ROOT: Caller = Caller {
    uid: 0,
    door: crate::connection::Door::Privileged,
};

#[test]
fn source_is_rhost_else_service_and_tty_for_root() {
    assert_eq!(
        source_of(&auth(Some("10.1.2.3"), Some("/dev/pts/1")), ROOT),
        "10.1.2.3"
    );
    assert_eq!(
        source_of(&auth(Some(""), Some("/dev/pts/1")), ROOT),
        "sudo:/dev/pts/1"
    );
    assert_eq!(source_of(&auth(None, None), ROOT), "sudo:");
}

#[test]
fn a_non_root_caller_is_its_own_source_whatever_it_says() {
    let user = Caller {
        uid: 1000,
        door: crate::connection::Door::Public,
    };
    for rhost in [Some("10.1.2.3"), Some("forged.example"), None] {
        assert_eq!(
            source_of(&auth(rhost, Some("/dev/pts/9")), user),
            "uid:1000"
        );
    }
}

#[test]
fn oversized_and_odd_fields_are_refused() {
    assert_eq!(field_problem(&auth(Some("10.1.2.3"), None)), None);
    assert_eq!(field_problem(&auth(Some("fe80::1%eth0"), None)), None);
    assert_eq!(
        field_problem(&auth(Some("host-1.corp.example"), None)),
        None
    );
    let long = "a".repeat(MAX_RHOST + 1);
    for rhost in [long.as_str(), "a b", "evil/../x", "x\ny"] {
        let problem = field_problem(&auth(Some(rhost), None)).unwrap();
        assert!(problem.contains("rhost"), "{problem}");
    }
    let mut a = auth(None, None);
    a.user = "u".repeat(username::MAX_LEN + 1);
    assert!(field_problem(&a).unwrap().contains("user"));
    a.user = String::new();
    assert!(field_problem(&a).is_some());
}

#[test]
fn time_left_rounds_up_to_the_largest_unit() {
    for (secs, text) in [
        (1, "1 minute"),
        (60, "1 minute"),
        (61, "2 minutes"),
        (3599, "60 minutes"),
        (3600, "1 hour"),
        (3601, "2 hours"),
        (86_399, "24 hours"),
        (86_400, "1 day"),
        (3 * 86_400, "3 days"),
        (3 * 86_400 - 5, "3 days"),
    ] {
        assert_eq!(time_left(secs), text, "{secs}");
    }
}

#[test]
fn lockout_message_rounds_up() {
    assert_eq!(
        lockout_message(160, 100),
        "Too many failed attempts. Try again in 1 minute."
    );
    assert_eq!(
        lockout_message(221, 100),
        "Too many failed attempts. Try again in 3 minutes."
    );
    assert_eq!(
        lockout_message(100, 100),
        "Too many failed attempts. Try again in 1 minute."
    );
}

#[test]
fn real_service_names_pass_and_floods_do_not() {
    for service in [
        "sshd",
        "sudo-i",
        "su-l",
        "runuser-l",
        "systemd-user",
        "polkit-1",
        "gdm-password",
        "gdm-fingerprint",
        "cinnamon-screensaver",
        "xfce4-screensaver",
        "kde-fingerprint",
        "mfat-4242-7",
    ] {
        assert_eq!(service_problem(service, public(1000)), None, "{service}");
    }
    let long = "s".repeat(MAX_USER_SERVICE + 1);
    for bad in [
        "",
        long.as_str(),
        "a b",
        "../sshd",
        ".hidden",
        "x\u{7}",
        "ä",
        "a/b",
    ] {
        let problem = service_problem(bad, public(1000)).unwrap_or_default();
        assert!(problem.starts_with("service must be"), "{bad:?}: {problem}");
    }
    assert_eq!(
        service_problem(&"s".repeat(MAX_USER_SERVICE), public(1000)),
        None
    );
    // Root's callers pass what their application gave pam_start, only bounded in length.
    assert_eq!(service_problem("Weird Service", public(0)), None);
    assert_eq!(service_problem(&long, public(0)), None);
    assert!(service_problem(&"s".repeat(MAX_ROOT_SERVICE + 1), public(0)).is_some());
    // mfa-radius's `radius:NAME` (its door checked the name) is bounded like root's.
    let radius = Caller {
        uid: 1000,
        door: Door::Radius,
    };
    assert_eq!(service_problem("radius:vpn1", radius), None);
    assert!(service_problem("radius:vpn1", public(1000)).is_some());
}

fn public(uid: u32) -> Caller {
    Caller {
        uid,
        door: Door::Public,
    }
}

/// A service over a file store in `dir` whose clock stands at `clock`.
pub(super) fn service(dir: &std::path::Path, clock: Arc<ManualClock>) -> Arc<Shared> {
    let config = Config {
        state_dir: dir.to_owned(),
        ..Config::default()
    };
    let delivery = Delivery::from_config(&config, dir, "test-host").unwrap();
    let otp = config.otp.clone();
    let decisions = Deciders::open(config, clock).unwrap();
    let ledger = decisions.for_class(CallerClass::Root).send_ledger();
    let outbox = Outbox::with_otp(delivery, &otp, ledger, "test-host");
    Arc::new(Shared::new(decisions, outbox))
}

/// Enrolls root (an account every machine has) with a new app; its generator.
pub(super) fn enroll_root(shared: &Shared) -> Generator {
    let d = shared.decisions.for_class(CallerClass::Root);
    let now = d.now().secs();
    let (pending, _) = d.begin_totp("root", "app").unwrap();
    let generator = Generator::new(pending.params, &pending.secret);
    let step = generator.step_at(now) - 1;
    let code = generator.code_for_step(step);
    let step = d.pending_code_step(&pending, &code, now).unwrap();
    let Activation::Done(_) = d.activate_totp("root", &pending, step, now).unwrap() else {
        panic!("enrollment conflicted")
    };
    generator
}

/// A login of root from 192.0.2.7 by sshd, answered with `code`; how it ended.
async fn login_with(shared: &Arc<Shared>, code: &str) -> Outcome {
    const SSHD: Caller = Caller {
        uid: 0,
        door: Door::Privileged,
    };
    let request = AuthRequest {
        user: "root".into(),
        service: "sshd".into(),
        rhost: Some("192.0.2.7".into()),
        tty: None,
        ruser: None,
        auth_info: None,
        nullok: false,
    };
    let Next::Ask(question) = super::start(shared, request, SSHD).await.unwrap() else {
        panic!("no question")
    };
    assert_eq!(question.kind(), PhaseKind::Menu);
    assert_eq!(question.prompt.as_str(), PROMPT);
    // The client's end stays open while the answer is checked: it is there to be told.
    let (ours, _theirs) = tokio::net::UnixStream::pair().unwrap();
    let presence = Connection::new(ours, SSHD).presence().unwrap();
    match question.answer(Secret::from(code), presence).await {
        Next::Done(done) => done.outcome,
        Next::Ask(again) => {
            assert_eq!(again.kind(), PhaseKind::Menu, "{:?}", again.notices);
            assert!(
                again
                    .notices
                    .iter()
                    .any(|n| matches!(n, super::Notice::Error(_)))
            );
            Outcome::Failure
        }
        Next::Gone => panic!("the client was there"),
    }
}

#[tokio::test]
async fn a_used_code_passes_again_only_after_the_clock_moves_to_the_next_step() {
    let dir = tempfile::tempdir().unwrap();
    // The middle of a step, so that neither end of the skew window is near.
    let clock = Arc::new(ManualClock::at(UnixTime::from_secs(1_700_000_015)));
    let shared = service(dir.path(), clock.clone());
    let generator = enroll_root(&shared);
    let now = clock.now().secs();
    let code = generator.code_for_step(generator.step_at(now));
    assert_eq!(login_with(&shared, &code).await, Outcome::Success);
    assert_eq!(
        login_with(&shared, &code).await,
        Outcome::Failure,
        "replayed"
    );
    clock.advance(30);
    let next = generator.code_for_step(generator.step_at(now + 30));
    assert_eq!(login_with(&shared, &next).await, Outcome::Success);
}

#[tokio::test]
async fn a_code_from_before_the_skew_window_is_refused_once_time_has_moved_on() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::at(UnixTime::from_secs(1_700_000_015)));
    let shared = service(dir.path(), clock.clone());
    let generator = enroll_root(&shared);
    let old = generator.code_for_step(generator.step_at(clock.now().secs()));
    // Two steps later the code is outside `totp.skew = 1`.
    clock.advance(60);
    assert_eq!(login_with(&shared, &old).await, Outcome::Failure);
}

/// A service whose web pages are on `http://localhost:8443`, and root with an app and a
/// passkey (its stored form is never read: the page's verification is not part of this).
fn service_with_passkey(
    dir: &std::path::Path,
    clock: Arc<ManualClock>,
) -> (Arc<Shared>, Generator) {
    let options = crate::web::WebOptions {
        public_url: url::Url::parse("http://localhost:8443").unwrap(),
        rp_id: "localhost".into(),
        approval_timeout: std::time::Duration::from_secs(60),
        host: "test-host".into(),
    };
    let web = crate::web::Web::new(options, None).unwrap();
    let shared = service(dir, clock);
    let shared = Arc::new(Arc::into_inner(shared).unwrap().with_web(Some(web)));
    let generator = enroll_root(&shared);
    let key = mfa_core::passkey::PasskeyFactor {
        label: "phone".into(),
        id: "AAEC".into(),
        aaguid: None,
        enrolled_at: 1,
        last_used: None,
        credential: serde_json::json!({}),
    };
    shared
        .decisions
        .for_class(CallerClass::Root)
        .add_passkey("root", key)
        .unwrap();
    (shared, generator)
}

pub(super) const SSHD: Caller = Caller {
    uid: 0,
    door: Door::Privileged,
};

pub(super) fn sshd_login() -> AuthRequest {
    AuthRequest {
        user: "root".into(),
        service: "sshd".into(),
        rhost: Some("192.0.2.7".into()),
        tty: None,
        ruser: None,
        auth_info: None,
        nullok: false,
    }
}

fn presence() -> (crate::connection::Presence, tokio::net::UnixStream) {
    let (ours, theirs) = tokio::net::UnixStream::pair().unwrap();
    (Connection::new(ours, SSHD).presence().unwrap(), theirs)
}

/// Starts root's login and picks "1. Approve on your phone": the question, the request's
/// id (from the link shown) and the number in the prompt.
async fn ask_approval(shared: &Arc<Shared>) -> (Box<super::Question>, String, u8) {
    let Next::Ask(menu) = super::start(shared, sshd_login(), SSHD).await.unwrap() else {
        panic!("no menu")
    };
    let menu_text = format!("{:?}", menu.notices);
    assert!(
        menu_text.contains("1. Approve on your phone"),
        "{menu_text}"
    );
    assert!(menu.prompt.contains("choose 1"), "{}", menu.prompt.as_str());
    let (p, _peer) = presence();
    let Next::Ask(waiting) = menu.answer(Secret::from("1"), p).await else {
        panic!("no approval prompt")
    };
    assert_eq!(waiting.kind(), PhaseKind::Approval);
    let shown = format!("{:?}", waiting.notices);
    let id = shown
        .split("/approve/")
        .nth(1)
        .and_then(|rest| rest.split(['"', ')']).next())
        .expect("a link in the notices")
        .to_owned();
    let number: u8 = waiting
        .prompt
        .split("number ")
        .nth(1)
        .and_then(|rest| rest.split('.').next())
        .and_then(|n| n.parse().ok())
        .expect("a number in the prompt");
    (waiting, id, number)
}

#[tokio::test]
async fn an_approval_on_the_phone_signs_in_and_a_denial_ends_the_login() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::at(UnixTime::from_secs(1_700_000_015)));
    let (shared, _) = service_with_passkey(dir.path(), clock.clone());
    let web = shared.web.as_ref().unwrap();

    let (waiting, id, number) = ask_approval(&shared).await;
    let view = web
        .approvals
        .view(&id, clock.now())
        .expect("the page can show it");
    assert!(view.choices.contains(&number));
    assert_eq!(
        (view.service.as_str(), view.source.as_str()),
        ("sshd", "192.0.2.7")
    );
    web.approvals.end(
        &id,
        crate::web::ApprovalEnd::Approved("phone".into()),
        clock.now(),
    );
    let (p, _peer) = presence();
    let Next::Done(done) = waiting.answer(Secret::from(""), p).await else {
        panic!("not done")
    };
    assert_eq!(done.outcome, Outcome::Success);
    // The last success is written in the background.
    let root =
        crate::decisions::Subject::Account(username::UserName::of_stored("root".into()).unwrap());
    let mut factor = None;
    for _ in 0..100 {
        factor = shared
            .decisions
            .for_class(CallerClass::Root)
            .record(&root)
            .unwrap()
            .last_success
            .map(|l| l.factor);
        if factor.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(factor.as_deref(), Some("passkey"));

    let (waiting, id, _) = ask_approval(&shared).await;
    web.approvals.end(
        &id,
        crate::web::ApprovalEnd::Denied { not_me: false },
        clock.now(),
    );
    let (p, _peer) = presence();
    let Next::Done(done) = waiting.answer(Secret::from(""), p).await else {
        panic!("not done")
    };
    assert_eq!(done.outcome, Outcome::Failure);
    assert_eq!(
        done.notices,
        vec![super::Notice::Error(APPROVAL_DENIED.into())]
    );
}

#[tokio::test]
async fn enter_before_the_phone_asks_again_and_an_expired_request_goes_back_to_the_menu() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::at(UnixTime::from_secs(1_700_000_015)));
    let (shared, _) = service_with_passkey(dir.path(), clock.clone());
    let (waiting, id, number) = ask_approval(&shared).await;
    let (p, _peer) = presence();
    let Next::Ask(again) = waiting.answer(Secret::from(""), p).await else {
        panic!("not asked again")
    };
    assert_eq!(again.kind(), PhaseKind::Approval);
    assert_eq!(again.prompt.as_str(), approval_prompt(number));
    clock.advance(60);
    let (p, _peer) = presence();
    let Next::Ask(menu) = again.answer(Secret::from(""), p).await else {
        panic!("not back to the menu")
    };
    assert_eq!(menu.kind(), PhaseKind::Menu);
    assert!(format!("{:?}", menu.notices).contains(APPROVAL_EXPIRED));
    let web = shared.web.as_ref().unwrap();
    assert!(web.approvals.view(&id, clock.now()).is_none());
}

#[tokio::test]
async fn a_code_typed_at_the_approval_prompt_signs_in_and_withdraws_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::at(UnixTime::from_secs(1_700_000_015)));
    let (shared, generator) = service_with_passkey(dir.path(), clock.clone());
    let (waiting, id, _) = ask_approval(&shared).await;
    let code = generator.code_for_step(generator.step_at(clock.now().secs()));
    let (p, _peer) = presence();
    let Next::Done(done) = waiting.answer(Secret::from(code.as_str()), p).await else {
        panic!("not done")
    };
    assert_eq!(done.outcome, Outcome::Success);
    let web = shared.web.as_ref().unwrap();
    assert!(web.approvals.view(&id, clock.now()).is_none(), "withdrawn");
}
