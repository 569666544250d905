//! The relay against a stand-in daemon on a scratch socket: each test scripts what the
//! daemon says and checks what it was sent.

use std::sync::Mutex;

use super::*;
use crate::testing::{FakeDaemon, recv, relay, send};

fn prompt(text: &str) -> Step {
    Step::Prompt {
        text: text.into(),
        echo: false,
    }
}

fn done(outcome: Outcome) -> Step {
    Step::Done { outcome }
}

fn info(text: &str) -> Step {
    Step::Info { text: text.into() }
}

fn auth() -> AuthRequest {
    AuthRequest {
        user: "alice".into(),
        service: "radius:vpn1".into(),
        rhost: Some("radius:vpn1".into()),
        tty: None,
        ruser: None,
        auth_info: None,
        nullok: false,
    }
}

fn field(bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(bytes.to_vec())
}

fn answer_of(request: Request) -> String {
    match request {
        Request::Answer { text } => text.expose().to_owned(),
        other => panic!("expected an answer, got {other:?}"),
    }
}

/// A PAM check that accepts `good` and records every password it was given.
fn pam(good: &'static [u8], seen: Arc<Mutex<Vec<Vec<u8>>>>) -> PamCheck {
    let slots = Arc::new(tokio::sync::Semaphore::new(1));
    PamCheck {
        checker: Arc::new(move |user: &str, password: &[u8], rhost: &str| {
            assert_eq!((user, rhost), ("alice", "radius:vpn1"));
            seen.lock().unwrap().push(password.to_vec());
            password == good
        }),
        rhost: "radius:vpn1".into(),
        slot: slots.try_acquire_owned().unwrap(),
    }
}

#[tokio::test]
async fn none_mode_the_field_answers_the_first_prompt() {
    let daemon = FakeDaemon::start(|conn| {
        let Request::Authenticate { auth: sent } = recv(conn) else {
            panic!("expected authenticate")
        };
        send(conn, info("1) sms  2) app"));
        send(conn, prompt("Choice: "));
        let first = answer_of(recv(conn));
        send(conn, info("Welcome"));
        send(conn, done(Outcome::Success));
        (sent, first)
    });
    let verdict = daemon.relay.start(auth(), field(b"492039")).await.unwrap();
    assert!(
        matches!(&verdict, Verdict::Accept { text } if text == "Welcome"),
        "{verdict:?}"
    );
    let (sent, first) = daemon.join();
    assert_eq!(sent, auth());
    assert_eq!(first, "492039");
}

#[tokio::test]
async fn none_mode_an_empty_field_gets_the_prompt_as_a_challenge() {
    let daemon = FakeDaemon::start(|conn| {
        recv(conn);
        send(conn, info("Code sent by SMS"));
        send(conn, prompt("Code: "));
        let answer = answer_of(recv(conn));
        send(
            conn,
            Step::Error {
                text: "Wrong code".into(),
            },
        );
        send(conn, done(Outcome::Failure));
        answer
    });
    let verdict = daemon.relay.start(auth(), field(b"")).await.unwrap();
    let Verdict::Challenge { text, echo, login } = verdict else {
        panic!("expected a challenge, got {verdict:?}")
    };
    assert_eq!((text.as_str(), echo), ("Code sent by SMS\nCode: ", false));
    let verdict = daemon
        .relay
        .answer(login, "alice", Secret::from("111111"))
        .await
        .unwrap();
    assert!(
        matches!(&verdict, Verdict::Reject { text } if text == "Wrong code"),
        "{verdict:?}"
    );
    assert_eq!(daemon.join(), "111111");
}

#[tokio::test]
async fn none_mode_a_keyword_alone_picks_the_delivery_and_its_prompt_is_a_challenge() {
    let daemon = FakeDaemon::start(|conn| {
        let Request::CodeInPassword { field_end, .. } = recv(conn) else {
            panic!("expected the field's end")
        };
        send(conn, Step::StripPassword { bytes: 4 });
        send(conn, info("Code sent to +1 *** 0123"));
        send(conn, prompt("Code: "));
        field_end.expose().to_owned()
    });
    let verdict = daemon.relay.start(auth(), field(b",sms")).await.unwrap();
    assert!(
        matches!(&verdict, Verdict::Challenge { text, .. } if text == "Code sent to +1 *** 0123\nCode: "),
        "{verdict:?}"
    );
    assert_eq!(daemon.join(), ",sms");
}

#[tokio::test]
async fn none_mode_a_password_that_is_not_text_is_rejected_unsent() {
    let dir = tempfile::tempdir().unwrap();
    // No daemon listens: a relay that tried to connect would fail.
    let relay = relay(&dir.path().join("mfa.sock"));
    let verdict = relay.start(auth(), field(b"\xff\xfe")).await.unwrap();
    assert!(matches!(verdict, Verdict::Reject { .. }));
}

#[tokio::test]
async fn pam_mode_the_code_is_stripped_and_the_rest_checked() {
    for (good, accepted) in [(&b"hunter2"[..], true), (&b"other"[..], false)] {
        let daemon = FakeDaemon::start(|conn| {
            let Request::CodeInPassword { field_end, .. } = recv(conn) else {
                panic!("expected the field's end")
            };
            send(conn, Step::StripPassword { bytes: 6 });
            send(conn, done(Outcome::Success));
            field_end.expose().to_owned()
        });
        let seen = Arc::new(Mutex::new(Vec::new()));
        let check = pam(good, Arc::clone(&seen));
        let verdict = daemon
            .relay
            .start_with_password(auth(), field(b"hunter2492039"), &check)
            .await
            .unwrap();
        assert_eq!(
            matches!(verdict, Verdict::Accept { .. }),
            accepted,
            "{verdict:?}"
        );
        assert_eq!(daemon.join(), "hunter2492039");
        assert_eq!(*seen.lock().unwrap(), vec![b"hunter2".to_vec()]);
    }
}

#[tokio::test]
async fn pam_mode_a_wrong_code_still_checks_the_password_and_says_nothing() {
    let daemon = FakeDaemon::start(|conn| {
        recv(conn);
        send(conn, Step::StripPassword { bytes: 6 });
        send(conn, done(Outcome::Failure));
    });
    let seen = Arc::new(Mutex::new(Vec::new()));
    let check = pam(b"hunter2", Arc::clone(&seen));
    let verdict = daemon
        .relay
        .start_with_password(auth(), field(b"hunter2000000"), &check)
        .await
        .unwrap();
    assert!(
        matches!(&verdict, Verdict::Reject { text } if text.is_empty()),
        "{verdict:?}"
    );
    daemon.join();
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn pam_mode_a_keyword_is_sent_only_after_the_password_passed() {
    // A wrong password: the daemon is never asked (nothing listens).
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let check = pam(b"hunter2", Arc::clone(&seen));
    let verdict = relay(&dir.path().join("mfa.sock"))
        .start_with_password(auth(), field(b"wrong,sms"), &check)
        .await
        .unwrap();
    assert!(
        matches!(&verdict, Verdict::Reject { text } if text.is_empty()),
        "{verdict:?}"
    );
    assert_eq!(*seen.lock().unwrap(), vec![b"wrong".to_vec()]);

    let daemon = FakeDaemon::start(|conn| {
        let Request::CodeInPassword { field_end, .. } = recv(conn) else {
            panic!("expected the field's end")
        };
        send(conn, Step::StripPassword { bytes: 4 });
        send(conn, info("Code sent to +1 *** 0123"));
        send(conn, prompt("Code: "));
        field_end.expose().to_owned()
    });
    let seen = Arc::new(Mutex::new(Vec::new()));
    let check = pam(b"hunter2", Arc::clone(&seen));
    let verdict = daemon
        .relay
        .start_with_password(auth(), field(b"hunter2,SMS"), &check)
        .await
        .unwrap();
    assert!(
        matches!(&verdict, Verdict::Challenge { text, .. } if text == "Code sent to +1 *** 0123\nCode: "),
        "{verdict:?}"
    );
    assert_eq!(daemon.join(), ",SMS");
    assert_eq!(*seen.lock().unwrap(), vec![b"hunter2".to_vec()]);
}

#[tokio::test]
async fn pam_mode_a_prompt_before_any_strip_checks_the_whole_field_first() {
    let daemon = FakeDaemon::start(|conn| {
        recv(conn);
        send(conn, info("Approve on your phone, or:"));
        send(conn, prompt("Code: "));
    });
    let seen = Arc::new(Mutex::new(Vec::new()));
    let check = pam(b"right", Arc::clone(&seen));
    let verdict = daemon
        .relay
        .start_with_password(auth(), field(b"hunter2"), &check)
        .await
        .unwrap();
    // No challenge for a wrong password: nothing tells whether a code was wanted.
    assert!(
        matches!(&verdict, Verdict::Reject { text } if text.is_empty()),
        "{verdict:?}"
    );
    daemon.join();
    assert_eq!(*seen.lock().unwrap(), vec![b"hunter2".to_vec()]);
}

#[tokio::test]
async fn pam_mode_a_password_that_is_not_text_keeps_its_bytes() {
    let daemon = FakeDaemon::start(|conn| {
        let Request::CodeInPassword { field_end, .. } = recv(conn) else {
            panic!("expected the field's end")
        };
        send(conn, Step::StripPassword { bytes: 6 });
        send(conn, done(Outcome::Success));
        field_end.expose().to_owned()
    });
    let seen = Arc::new(Mutex::new(Vec::new()));
    let check = pam(b"passw\xf6rt", Arc::clone(&seen));
    let verdict = daemon
        .relay
        .start_with_password(auth(), field(b"passw\xf6rt492039"), &check)
        .await
        .unwrap();
    assert!(matches!(verdict, Verdict::Accept { .. }), "{verdict:?}");
    assert_eq!(daemon.join(), "rt492039");
}

#[tokio::test]
async fn a_daemon_that_strips_more_than_it_was_sent_is_refused() {
    let daemon = FakeDaemon::start(|conn| {
        recv(conn);
        send(conn, Step::StripPassword { bytes: 14 });
    });
    let check = pam(b"", Arc::new(Mutex::new(Vec::new())));
    let e = daemon
        .relay
        .start_with_password(auth(), field(b"pw123456"), &check)
        .await
        .unwrap_err();
    assert!(
        matches!(e, RelayError::BadStrip { bytes: 14, sent: 8 }),
        "{e}"
    );
    daemon.join();
}

#[tokio::test]
async fn an_absent_daemon_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = relay(&dir.path().join("mfa.sock"))
        .start(auth(), field(b"123456"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("radius.sock"), "{e}");
}

#[test]
fn the_field_is_split_at_a_keyword_or_its_end() {
    assert_eq!(
        pam_plan(b"hunter2,sms"),
        PamPlan::Keyword {
            password_len: 7,
            field_end: ",sms".into()
        }
    );
    assert_eq!(
        pam_plan(b"a,b,Push"),
        PamPlan::Keyword {
            password_len: 3,
            field_end: ",Push".into()
        }
    );
    // Not a keyword: the whole end goes, the daemon finds the code in it.
    assert_eq!(
        pam_plan(b"hunter2,smss"),
        PamPlan::Tail {
            field_end: "hunter2,smss".into()
        }
    );
    let long = [b'p'; 40];
    let PamPlan::Tail { field_end: end } = pam_plan(&long) else {
        panic!()
    };
    assert_eq!(end.expose().len(), FIELD_END_MAX);
    // Bytes that are not text before the code stay out of what is sent.
    assert_eq!(
        pam_plan(b"passw\xf6rt492039"),
        PamPlan::Tail {
            field_end: "rt492039".into()
        }
    );
    // A multi-byte character at the cut is left out whole.
    let mut field = "é".as_bytes().to_vec();
    field.extend_from_slice(&[b'a'; 31]);
    assert_eq!(field_end(&field).expose(), "a".repeat(31));
}

#[test]
fn the_password_is_the_field_less_the_strip() {
    let mut unchecked = Unchecked::new(field(b"hunter2492039"), 13);
    assert_eq!(&unchecked.password()[..], b"hunter2492039");
    unchecked.strip(6).unwrap();
    assert_eq!(&unchecked.password()[..], b"hunter2");
    assert!(unchecked.strip(1).is_err());
    let mut unchecked = Unchecked::new(field(b"pw123456"), 8);
    assert!(unchecked.strip(9).is_err());
    unchecked.strip(8).unwrap();
    assert_eq!(&unchecked.password()[..], b"");
}
