//! The whole flow against a fake PAM handle and a fake daemon speaking the real framing.

use std::ffi::CString;
use std::os::unix::net::UnixListener;
use std::time::Duration;

use mfa_proto::{FailureKind, MAX_FRAME_LEN, Outcome, encode};
use pam::constants::PAM_SILENT;

use super::*;
use crate::handler::ConvError;
use crate::testing::{Conn, FakeDaemon, FakePam, Shown, raw_frame};

/// A daemon that asks once and answers `outcome`, returning the opening request and the
/// answer it got.
fn one_prompt(outcome: Outcome) -> FakeDaemon<(AuthRequest, String)> {
    FakeDaemon::start(move |conn: &mut Conn| {
        let auth = conn.recv_auth();
        conn.prompt();
        let answer = conn.recv_answer();
        conn.done(outcome);
        (auth, answer)
    })
}

fn prompt_shown() -> Shown {
    Shown::Prompt {
        text: "Verification code: ".into(),
        echo: false,
    }
}

/// A socket path in a fresh directory where nothing listens.
fn dead_socket() -> (tempfile::TempDir, CString) {
    let dir = tempfile::tempdir().unwrap();
    let arg = format!("socket={}", dir.path().join("mfa.sock").display());
    (dir, CString::new(arg).unwrap())
}

#[test]
fn prompt_relays_the_answer_exactly() {
    let typed = " 123 456\t-é ";
    let daemon = one_prompt(Outcome::Success);
    let mut pam = FakePam::sshd().answering(&[typed]);
    let code = authenticate(&mut pam, &[&daemon.socket_arg()], 0);
    let (_, answer) = daemon.join();
    assert_eq!(code, PamResultCode::PAM_SUCCESS);
    assert_eq!(answer, typed);
    assert_eq!(pam.shown, vec![prompt_shown()]);
    assert_eq!(pam.get_user_calls, 0);
    assert!(pam.logs.is_empty(), "{}", pam.log_text());
}

#[test]
fn echo_on_prompt_is_shown_with_echo() {
    let daemon = FakeDaemon::start(|conn: &mut Conn| {
        conn.recv_auth();
        conn.send(&Step::Prompt {
            text: "Phone number: ".into(),
            echo: true,
        });
        let answer = conn.recv_answer();
        conn.done(Outcome::Failure);
        answer
    });
    let mut pam = FakePam::sshd().answering(&["+1 555"]);
    let code = authenticate(&mut pam, &[&daemon.socket_arg()], 0);
    assert_eq!(daemon.join(), "+1 555");
    assert_eq!(code, PamResultCode::PAM_AUTH_ERR);
    assert_eq!(
        pam.shown,
        vec![Shown::Prompt {
            text: "Phone number: ".into(),
            echo: true
        }]
    );
}

#[test]
fn sends_what_pam_knows() {
    let daemon = one_prompt(Outcome::Success);
    let mut pam = FakePam::sshd().answering(&["123456"]);
    pam.items.insert(PamItem::RUser, "bob".into());
    pam.env
        .insert(SSH_AUTH_INFO, "publickey ssh-ed25519 AAAA".into());
    authenticate(&mut pam, &[&daemon.socket_arg()], 0);
    let (auth, _) = daemon.join();
    assert_eq!(
        auth,
        AuthRequest {
            user: "alice".into(),
            service: "sshd".into(),
            rhost: Some("127.0.0.1".into()),
            tty: Some("ssh".into()),
            ruser: Some("bob".into()),
            auth_info: Some("publickey ssh-ed25519 AAAA".into()),
            nullok: false,
        }
    );
}

#[test]
fn unset_items_are_sent_as_absent() {
    let daemon = one_prompt(Outcome::Success);
    let mut pam = FakePam::default().answering(&["123456"]);
    pam.items.insert(PamItem::User, "alice".into());
    pam.items.insert(PamItem::Service, "sudo".into());
    authenticate(&mut pam, &[&daemon.socket_arg()], 0);
    let (auth, _) = daemon.join();
    assert_eq!((auth.rhost, auth.tty, auth.ruser), (None, None, None));
    assert_eq!(auth.auth_info, None);
}

#[test]
fn nullok_is_forwarded() {
    for (args_extra, nullok) in [(Some(c"nullok"), true), (None, false)] {
        let daemon = FakeDaemon::start(|conn: &mut Conn| {
            let auth = conn.recv_auth();
            conn.done(Outcome::Ignore);
            auth.nullok
        });
        let socket = daemon.socket_arg();
        let mut args = vec![socket.as_c_str()];
        args.extend(args_extra);
        let mut pam = FakePam::sshd();
        let code = authenticate(&mut pam, &args, 0);
        assert_eq!(daemon.join(), nullok);
        assert_eq!(code, PamResultCode::PAM_IGNORE);
        assert!(pam.shown.is_empty());
    }
}

#[test]
fn unset_pam_user_is_asked_with_pam_get_user() {
    let daemon = one_prompt(Outcome::Success);
    let mut pam = FakePam::sshd().answering(&["123456"]);
    pam.items.remove(&PamItem::User);
    pam.get_user = Some(Ok("carol".into()));
    let code = authenticate(&mut pam, &[&daemon.socket_arg()], 0);
    let (auth, _) = daemon.join();
    assert_eq!(code, PamResultCode::PAM_SUCCESS);
    assert_eq!(auth.user, "carol");
    assert_eq!(pam.get_user_calls, 1);
}

#[test]
fn pam_get_user_failure_is_returned() {
    let (_dir, socket) = dead_socket();
    let mut pam = FakePam::sshd();
    pam.items.remove(&PamItem::User);
    pam.get_user = Some(Err(PamResultCode::PAM_ABORT));
    assert_eq!(
        authenticate(&mut pam, &[&socket], 0),
        PamResultCode::PAM_ABORT
    );
    assert_eq!(pam.logged(LogLevel::Error).len(), 1, "{}", pam.log_text());
}

#[test]
fn empty_user_or_missing_service_is_refused_before_connecting() {
    let (_dir, socket) = dead_socket();
    let mut pam = FakePam::sshd();
    pam.items.insert(PamItem::User, String::new());
    assert_eq!(
        authenticate(&mut pam, &[&socket], 0),
        PamResultCode::PAM_USER_UNKNOWN
    );
    let mut pam = FakePam::sshd();
    pam.items.remove(&PamItem::Service);
    assert_eq!(
        authenticate(&mut pam, &[&socket], 0),
        PamResultCode::PAM_SYSTEM_ERR
    );
    assert!(pam.log_text().contains("PAM_SERVICE is not set"));
}

#[test]
fn info_and_error_are_shown_in_order() {
    let daemon = FakeDaemon::start(|conn: &mut Conn| {
        conn.recv_auth();
        conn.send(&Step::Info {
            text: "Code sent by SMS.".into(),
        });
        conn.prompt();
        conn.recv_answer();
        conn.send(&Step::Error {
            text: "Invalid verification code.".into(),
        });
        conn.done(Outcome::Failure);
    });
    let mut pam = FakePam::sshd().answering(&["000000"]);
    let code = authenticate(&mut pam, &[&daemon.socket_arg()], 0);
    daemon.join();
    assert_eq!(code, PamResultCode::PAM_AUTH_ERR);
    assert_eq!(
        pam.shown,
        vec![
            Shown::Info("Code sent by SMS.".into()),
            prompt_shown(),
            Shown::Error("Invalid verification code.".into()),
        ]
    );
}

#[test]
fn silent_suppresses_info_and_error_but_not_prompts() {
    let daemon = FakeDaemon::start(|conn: &mut Conn| {
        conn.recv_auth();
        conn.send(&Step::Info {
            text: "hello".into(),
        });
        conn.prompt();
        conn.recv_answer();
        conn.send(&Step::Error {
            text: "Too many failed attempts. Try again in 1 minutes.".into(),
        });
        conn.done(Outcome::LockedOut);
    });
    let mut pam = FakePam::sshd().answering(&["000000"]);
    let code = authenticate(&mut pam, &[&daemon.socket_arg()], PAM_SILENT);
    daemon.join();
    assert_eq!(code, PamResultCode::PAM_MAXTRIES);
    assert_eq!(pam.shown, vec![prompt_shown()]);
}

#[test]
fn each_outcome_from_the_daemon_gives_its_code() {
    for (outcome, code) in crate::result_code::tests::OUTCOME_CODES {
        for failmode in [c"failmode=secure", c"failmode=safe"] {
            let daemon = FakeDaemon::start(move |conn: &mut Conn| {
                conn.recv_auth();
                conn.done(outcome);
            });
            let mut pam = FakePam::sshd();
            let got = authenticate(&mut pam, &[&daemon.socket_arg(), failmode], 0);
            daemon.join();
            assert_eq!(got, code, "{outcome:?} {failmode:?}");
        }
    }
}

#[test]
fn unreachable_daemon_follows_failmode() {
    let (dir, missing) = dead_socket();
    // A socket file nobody listens on: connection refused rather than not found.
    let refused_path = dir.path().join("refused.sock");
    drop(UnixListener::bind(&refused_path).unwrap());
    let refused = CString::new(format!("socket={}", refused_path.display())).unwrap();
    for socket in [&missing, &refused] {
        for (failmode, code) in [
            (None, PamResultCode::PAM_AUTHINFO_UNAVAIL),
            (
                Some(c"failmode=secure"),
                PamResultCode::PAM_AUTHINFO_UNAVAIL,
            ),
            (Some(c"failmode=safe"), PamResultCode::PAM_IGNORE),
        ] {
            let mut args = vec![socket.as_c_str()];
            args.extend(failmode);
            let mut pam = FakePam::sshd();
            assert_eq!(authenticate(&mut pam, &args, 0), code, "{args:?}");
            let errors = pam.logged(LogLevel::Error);
            assert_eq!(errors.len(), 1, "{}", pam.log_text());
            let line = errors.first().unwrap();
            assert!(line.contains("mfa-daemon is not running at"), "{line}");
            assert!(line.contains(&format!("{code:?}")), "{line}");
            assert!(pam.shown.is_empty());
        }
    }
}

/// A daemon that reads the request and never answers; returns how the module hung up.
fn silent_daemon() -> FakeDaemon<FrameError> {
    FakeDaemon::start(|conn: &mut Conn| {
        conn.recv_auth();
        conn.wait_for_hangup()
    })
}

#[test]
fn silent_daemon_fails_closed_whatever_the_failmode() {
    for failmode in [c"failmode=secure", c"failmode=safe"] {
        let daemon = silent_daemon();
        let mut pam = FakePam::sshd();
        let code = authenticate(&mut pam, &[&daemon.socket_arg(), c"timeout=1", failmode], 0);
        assert!(matches!(daemon.join(), FrameError::Closed));
        assert_eq!(code, PamResultCode::PAM_AUTHINFO_UNAVAIL, "{failmode:?}");
        let log = pam.log_text();
        assert!(log.contains("did not answer within 1 s"), "{log}");
    }
}

/// A listener that accepts but never reads or answers: the flood's effect on a daemon.
#[test]
fn listener_that_never_answers_fails_closed_when_safe() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mfa.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let socket = CString::new(format!("socket={}", path.display())).unwrap();
    let accepter = std::thread::spawn(move || listener.accept().unwrap());
    let mut pam = FakePam::sshd();
    let code = authenticate(&mut pam, &[&socket, c"timeout=1", c"failmode=safe"], 0);
    drop(accepter.join().unwrap());
    assert_eq!(code, PamResultCode::PAM_AUTHINFO_UNAVAIL);
    let log = pam.log_text();
    assert!(log.contains("did not answer within 1 s"), "{log}");
    assert!(!log.contains("failmode=safe"), "{log}");
}

#[test]
fn full_listen_queue_fails_closed_when_safe() {
    use socket2::{Domain, SockAddr, Socket, Type};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mfa.sock");
    let listener = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
    listener.bind(&SockAddr::unix(&path).unwrap()).unwrap();
    listener.listen(0).unwrap();
    // Nothing is accepted: other connections fill the queue, as a flood of users would.
    let mut queued = Vec::new();
    while let Ok(client) = mfa_proto::Client::connect(&path, Duration::from_millis(100)) {
        queued.push(client);
        assert!(queued.len() < 100, "the listen queue never filled");
    }
    let socket = CString::new(format!("socket={}", path.display())).unwrap();
    let mut pam = FakePam::sshd();
    let code = authenticate(&mut pam, &[&socket, c"timeout=1", c"failmode=safe"], 0);
    assert_eq!(code, PamResultCode::PAM_AUTHINFO_UNAVAIL);
    let errors = pam.logged(LogLevel::Error);
    assert_eq!(errors.len(), 1, "{}", pam.log_text());
    let line = errors.first().unwrap();
    assert!(line.contains("is busy"), "{line}");
    assert!(line.contains(&path.display().to_string()), "{line}");
}

#[test]
fn refusal_at_accept_fails_closed_with_the_daemons_reason() {
    let daemon = FakeDaemon::start(|conn: &mut Conn| {
        // What the daemon does for a connection beyond its uid's share: say why and close
        // without reading anything.
        conn.send(&mfa_proto::Response::Failed {
            kind: FailureKind::BadRequest,
            message: "too many open connections from uid 1000; try again later".into(),
        });
    });
    let mut pam = FakePam::sshd();
    let code = authenticate(&mut pam, &[&daemon.socket_arg(), c"failmode=safe"], 0);
    daemon.join();
    assert_eq!(code, PamResultCode::PAM_AUTHINFO_UNAVAIL);
    let log = pam.log_text();
    assert!(
        log.contains("too many open connections from uid 1000"),
        "{log}"
    );
}

#[test]
fn root_uses_the_privileged_socket() {
    let daemon = FakeDaemon::start_on(true, |conn: &mut Conn| {
        let auth = conn.recv_auth();
        conn.done(Outcome::Success);
        auth.user
    });
    let mut pam = FakePam::sshd();
    pam.root = true;
    let code = authenticate(&mut pam, &[&daemon.socket_arg(), c"debug"], 0);
    let private = mfa_proto::privileged_socket(&daemon.socket);
    assert_eq!(daemon.join(), "alice");
    assert_eq!(code, PamResultCode::PAM_SUCCESS);
    let connecting = format!("connecting to {}", private.display());
    assert!(pam.log_text().contains(&connecting), "{}", pam.log_text());
}

#[test]
fn root_never_falls_back_to_the_public_socket() {
    let dir = tempfile::tempdir().unwrap();
    let public = dir.path().join("mfa.sock");
    let listener = UnixListener::bind(&public).unwrap();
    listener.set_nonblocking(true).unwrap();
    let socket = CString::new(format!("socket={}", public.display())).unwrap();
    for (failmode, code) in [
        (c"failmode=secure", PamResultCode::PAM_AUTHINFO_UNAVAIL),
        (c"failmode=safe", PamResultCode::PAM_IGNORE),
    ] {
        let mut pam = FakePam::sshd();
        pam.root = true;
        assert_eq!(authenticate(&mut pam, &[&socket, failmode], 0), code);
        let private = mfa_proto::privileged_socket(&public);
        let line = format!("mfa-daemon is not running at {}", private.display());
        assert!(pam.log_text().contains(&line), "{}", pam.log_text());
    }
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "root connected to the public socket: {accepted:?}"
    );
}

#[test]
fn listener_that_is_neither_root_nor_the_daemon_user_gets_nothing() {
    let daemon = FakeDaemon::start(|conn: &mut Conn| conn.recv());
    let me = crate::testing::own_uid();
    let other = me.wrapping_add(1);
    let mut pam = FakePam::sshd().answering(&["123456"]);
    pam.trusted = Some([other, other]);
    let code = authenticate(&mut pam, &[&daemon.socket_arg(), c"failmode=safe"], 0);
    let socket = daemon.socket.display().to_string();
    assert!(
        matches!(daemon.join(), Err(FrameError::Closed)),
        "the module sent something to an untrusted listener"
    );
    assert_eq!(code, PamResultCode::PAM_AUTHINFO_UNAVAIL);
    assert!(pam.shown.is_empty());
    let errors = pam.logged(LogLevel::Error);
    assert_eq!(errors.len(), 1, "{}", pam.log_text());
    let line = errors.first().unwrap();
    assert!(line.contains(&socket), "{line}");
    assert!(line.contains(&format!("uid {me}")), "{line}");
}

#[test]
fn daemon_user_option_chooses_the_trusted_listener() {
    for (extra, user) in [(None, "mfa"), (Some(c"daemon_user=_mfa"), "_mfa")] {
        let daemon = one_prompt(Outcome::Success);
        let socket = daemon.socket_arg();
        let mut args = vec![socket.as_c_str()];
        args.extend(extra);
        let mut pam = FakePam::sshd().answering(&["123456"]);
        assert_eq!(authenticate(&mut pam, &args, 0), PamResultCode::PAM_SUCCESS);
        daemon.join();
        assert_eq!(pam.daemon_users, vec![user.to_owned()]);
    }
}

#[test]
fn daemon_stalling_after_an_answer_fails_closed_even_when_safe() {
    let daemon = FakeDaemon::start(|conn: &mut Conn| {
        conn.recv_auth();
        conn.prompt();
        conn.recv_answer();
        conn.wait_for_hangup()
    });
    let mut pam = FakePam::sshd().answering(&["123456"]);
    let code = authenticate(
        &mut pam,
        &[&daemon.socket_arg(), c"timeout=1", c"failmode=safe"],
        0,
    );
    daemon.join();
    assert_eq!(code, PamResultCode::PAM_AUTHINFO_UNAVAIL);
    assert!(pam.log_text().contains("stopped answering"));
}

#[test]
fn daemon_giving_up_on_a_slow_user_is_heard_out() {
    let (hung_up, before_answer) = std::sync::mpsc::channel();
    let daemon = FakeDaemon::start(move |conn: &mut Conn| {
        conn.recv_auth();
        conn.prompt();
        conn.send(&Step::Error {
            text: "Timed out.".into(),
        });
        conn.done(Outcome::Failure);
        conn.stream.shutdown(std::net::Shutdown::Both).unwrap();
        hung_up.send(()).unwrap();
    });
    let mut pam = FakePam::sshd().answering(&["123456"]);
    pam.before_answer = Some(before_answer);
    let code = authenticate(&mut pam, &[&daemon.socket_arg(), c"failmode=safe"], 0);
    daemon.join();
    assert_eq!(code, PamResultCode::PAM_AUTH_ERR, "{}", pam.log_text());
    assert_eq!(
        pam.shown,
        vec![prompt_shown(), Shown::Error("Timed out.".into())]
    );
}

#[test]
fn answer_that_cannot_be_sent_fails_closed_without_done() {
    let (hung_up, before_answer) = std::sync::mpsc::channel();
    let daemon = FakeDaemon::start(move |conn: &mut Conn| {
        conn.recv_auth();
        conn.prompt();
        conn.prompt();
        conn.stream.shutdown(std::net::Shutdown::Both).unwrap();
        hung_up.send(()).unwrap();
    });
    let mut pam = FakePam::sshd().answering(&["123456", "654321"]);
    pam.before_answer = Some(before_answer);
    let code = authenticate(&mut pam, &[&daemon.socket_arg(), c"failmode=safe"], 0);
    daemon.join();
    assert_eq!(code, PamResultCode::PAM_AUTHINFO_UNAVAIL);
    // The second prompt is not shown: its answer could not reach the daemon either.
    assert_eq!(pam.shown, vec![prompt_shown()]);
}

/// Bytes a broken daemon might send instead of a frame.
fn bad_frames() -> Vec<(&'static str, Vec<u8>)> {
    let oversized = u32::try_from(MAX_FRAME_LEN + 1)
        .unwrap()
        .to_be_bytes()
        .to_vec();
    let mut truncated = encode(&Step::Done {
        outcome: Outcome::Success,
    })
    .unwrap()
    .to_vec();
    truncated.truncate(truncated.len() - 2);
    vec![
        ("garbage", raw_frame(b"not json at all")),
        ("binary", raw_frame(&[0xff, 0x00, 0x13])),
        ("oversized", oversized),
        ("empty", vec![0, 0, 0, 0]),
        ("truncated", truncated),
        (
            "other version",
            raw_frame(br#"{"v":2,"msg":{"done":{"outcome":"success"}}}"#),
        ),
        (
            "unknown outcome",
            raw_frame(br#"{"v":1,"msg":{"done":{"outcome":"maybe"}}}"#),
        ),
        (
            "request type",
            raw_frame(br#"{"v":1,"msg":{"answer":{"text":"1"}}}"#),
        ),
    ]
}

#[test]
fn bad_frame_first_fails_closed_whatever_the_failmode() {
    for (what, bytes) in bad_frames() {
        let daemon = FakeDaemon::start(move |conn: &mut Conn| {
            conn.recv_auth();
            conn.send_raw(&bytes);
        });
        let mut pam = FakePam::sshd();
        let code = authenticate(&mut pam, &[&daemon.socket_arg(), c"failmode=safe"], 0);
        daemon.join();
        assert_eq!(code, PamResultCode::PAM_AUTHINFO_UNAVAIL, "{what}");
        assert!(
            pam.log_text().contains("broke the protocol"),
            "{what}: {}",
            pam.log_text()
        );
    }
}

#[test]
fn bad_frame_mid_conversation_fails_closed() {
    for (what, bytes) in bad_frames() {
        let daemon = FakeDaemon::start(move |conn: &mut Conn| {
            conn.recv_auth();
            conn.prompt();
            conn.recv_answer();
            conn.send_raw(&bytes);
        });
        let mut pam = FakePam::sshd().answering(&["123456"]);
        let code = authenticate(&mut pam, &[&daemon.socket_arg(), c"failmode=safe"], 0);
        daemon.join();
        assert_eq!(code, PamResultCode::PAM_AUTHINFO_UNAVAIL, "{what}");
    }
}

#[test]
fn daemon_hanging_up_without_done_fails_closed() {
    for prompt_first in [false, true] {
        let daemon = FakeDaemon::start(move |conn: &mut Conn| {
            conn.recv_auth();
            if prompt_first {
                conn.prompt();
                conn.recv_answer();
            }
        });
        let mut pam = FakePam::sshd().answering(&["123456"]);
        let code = authenticate(&mut pam, &[&daemon.socket_arg(), c"failmode=safe"], 0);
        daemon.join();
        assert_eq!(code, PamResultCode::PAM_AUTHINFO_UNAVAIL, "{prompt_first}");
    }
}

#[test]
fn messages_outside_an_authentication_fail_closed() {
    let unexpected = [
        mfa_proto::Response::Ok {
            message: "done".into(),
        },
        mfa_proto::Response::Failed {
            kind: FailureKind::BadRequest,
            message: "no".into(),
        },
        mfa_proto::Response::RecoveryCodes {
            codes: vec!["aaaa-bbbb-cccc".into()],
        },
    ];
    for response in unexpected {
        let sent = response.clone();
        let daemon = FakeDaemon::start(move |conn: &mut Conn| {
            conn.recv_auth();
            conn.send(&sent);
        });
        let mut pam = FakePam::sshd();
        let code = authenticate(&mut pam, &[&daemon.socket_arg(), c"failmode=safe"], 0);
        daemon.join();
        assert_eq!(code, PamResultCode::PAM_AUTHINFO_UNAVAIL, "{response:?}");
    }
}

#[test]
fn text_with_nul_fails_closed() {
    let daemon = FakeDaemon::start(|conn: &mut Conn| {
        conn.recv_auth();
        conn.send(&Step::Info {
            text: "a\0b".into(),
        });
    });
    let mut pam = FakePam::sshd();
    let code = authenticate(&mut pam, &[&daemon.socket_arg()], 0);
    daemon.join();
    assert_eq!(code, PamResultCode::PAM_AUTHINFO_UNAVAIL);
    assert!(pam.shown.is_empty());
}

#[test]
fn daemon_that_never_ends_is_stopped() {
    let daemon = FakeDaemon::start(|conn: &mut Conn| {
        let _ = conn.recv_auth();
        let info = Step::Info { text: "…".into() };
        let mut sent = 0;
        while mfa_proto::write_frame(&mut conn.stream, &info).is_ok() {
            sent += 1;
        }
        sent
    });
    let mut pam = FakePam::sshd();
    let code = authenticate(&mut pam, &[&daemon.socket_arg()], PAM_SILENT);
    // The module reads MAX_STEPS messages and hangs up; the daemon may or may not have
    // written one more before it sees the hang-up.
    assert!(daemon.join() >= MAX_STEPS);
    assert_eq!(code, PamResultCode::PAM_AUTHINFO_UNAVAIL);
    assert!(pam.log_text().contains("no outcome after 100 messages"));
}

#[test]
fn conversation_failure_is_conv_err_and_nothing_is_answered() {
    let daemon = FakeDaemon::start(|conn: &mut Conn| {
        conn.recv_auth();
        conn.prompt();
        conn.wait_for_hangup()
    });
    let mut pam = FakePam::sshd();
    pam.answers
        .push_back(Err(ConvError::Pam(PamResultCode::PAM_CONV_ERR)));
    let code = authenticate(&mut pam, &[&daemon.socket_arg(), c"failmode=safe"], 0);
    assert!(matches!(daemon.join(), FrameError::Closed));
    assert_eq!(code, PamResultCode::PAM_CONV_ERR);
    assert_eq!(pam.logged(LogLevel::Notice).len(), 1, "{}", pam.log_text());
}

#[test]
fn missing_answer_or_failed_message_is_conv_err() {
    let daemon = FakeDaemon::start(|conn: &mut Conn| {
        conn.recv_auth();
        conn.prompt();
        conn.wait_for_hangup()
    });
    let mut pam = FakePam::sshd();
    pam.answers.push_back(Err(ConvError::NoAnswer));
    let code = authenticate(&mut pam, &[&daemon.socket_arg()], 0);
    daemon.join();
    assert_eq!(code, PamResultCode::PAM_CONV_ERR);

    let daemon = FakeDaemon::start(|conn: &mut Conn| {
        conn.recv_auth();
        conn.send(&Step::Error {
            text: "Invalid verification code.".into(),
        });
        conn.wait_for_hangup()
    });
    let mut pam = FakePam::sshd();
    pam.show_fails = true;
    let code = authenticate(&mut pam, &[&daemon.socket_arg()], 0);
    daemon.join();
    assert_eq!(code, PamResultCode::PAM_CONV_ERR);
}

#[test]
fn oversized_answer_fails_without_reaching_the_daemon() {
    let daemon = FakeDaemon::start(|conn: &mut Conn| {
        conn.recv_auth();
        conn.prompt();
        conn.wait_for_hangup()
    });
    let huge = "1".repeat(MAX_FRAME_LEN);
    let mut pam = FakePam::sshd().answering(&[&huge]);
    let code = authenticate(&mut pam, &[&daemon.socket_arg()], 0);
    assert!(matches!(daemon.join(), FrameError::Closed));
    assert_eq!(code, PamResultCode::PAM_AUTH_ERR);
}

#[test]
fn unknown_option_denies_without_contacting_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mfa.sock");
    let listener = UnixListener::bind(&path).unwrap();
    listener.set_nonblocking(true).unwrap();
    let socket = CString::new(format!("socket={}", path.display())).unwrap();
    let mut pam = FakePam::sshd().answering(&["123456"]);
    let code = authenticate(&mut pam, &[&socket, c"failmode=safe", c"no_such_option"], 0);
    assert_eq!(code, PamResultCode::PAM_SERVICE_ERR);
    let errors = pam.logged(LogLevel::Error);
    assert_eq!(errors.len(), 1, "{}", pam.log_text());
    assert!(errors.first().unwrap().contains("\"no_such_option\""));
    assert!(pam.shown.is_empty());
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the module connected: {accepted:?}"
    );
}

#[test]
fn debug_logs_each_step_but_never_the_answer() {
    let secret = "314159";
    let daemon = FakeDaemon::start(|conn: &mut Conn| {
        conn.recv_auth();
        conn.send(&Step::Info { text: "i".into() });
        conn.prompt();
        conn.recv_answer();
        conn.send(&Step::Error { text: "e".into() });
        conn.prompt();
        conn.recv_answer();
        conn.done(Outcome::Success);
    });
    let mut pam = FakePam::sshd().answering(&[secret, secret]);
    let code = authenticate(&mut pam, &[&daemon.socket_arg(), c"debug"], 0);
    daemon.join();
    assert_eq!(code, PamResultCode::PAM_SUCCESS);
    let debug = pam.logged(LogLevel::Debug);
    for step in [
        "step: info",
        "step: prompt (echo off)",
        "step: error",
        "step: done (Success)",
        "returning PAM_SUCCESS",
    ] {
        assert!(debug.iter().any(|l| l.contains(step)), "{step}: {debug:?}");
    }
    assert!(!pam.log_text().contains(secret), "{}", pam.log_text());
}

#[test]
fn without_debug_a_success_logs_nothing() {
    let daemon = one_prompt(Outcome::Success);
    let mut pam = FakePam::sshd().answering(&["123456"]);
    authenticate(&mut pam, &[&daemon.socket_arg()], 0);
    daemon.join();
    assert!(pam.logs.is_empty(), "{}", pam.log_text());
}
