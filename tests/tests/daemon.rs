//! The daemon on its own: config checking, permissions, shutdown, state that survives restarts
//! and kill -9, and connections that send garbage.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Duration;

use mfa_proto::{Client, MAX_FRAME_LEN, Outcome, Request, Response, Step};
use mfa_tests::text::{CODE_PROMPT, TOO_MANY_FAILURES};
use mfa_tests::{
    Daemon, LoginSetup, ONE_PROMPT_NO_LOCKOUT, Pamtester, ScratchDir, TestUser, daemon_binary,
    enroll_totp, root_suite_ready, run, status, test_binary_as,
};

/// How long the daemon gets to close a connection that sent garbage.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

fn check_config(path: &Path) -> mfa_tests::Run {
    let mut command = Command::new(daemon_binary());
    command.arg("--check-config").arg(path);
    run(command, "")
}

#[test]
fn check_config_accepts_a_good_file_and_names_file_and_key_of_a_bad_one() {
    if !root_suite_ready() {
        return;
    }
    let scratch = ScratchDir::create();
    let good = scratch.path().join("good.toml");
    fs::write(
        &good,
        "max_tries = 3\nanswer_timeout = \"90s\"\n[totp]\nalgorithm = \"SHA256\"\ndigits = 8\n\
         [limits]\nlockout = \"1m\"\nmax_lockout = \"1h\"\n",
    )
    .expect("write good config");
    let accepted = check_config(&good);
    assert!(accepted.succeeded(), "{accepted}");
    assert!(
        accepted.mentions(&format!("{}: ok", good.display())),
        "{accepted}"
    );

    let bad_configs = [
        ("unknown-key.toml", "colour = \"blue\"\n", "colour"),
        ("out-of-range.toml", "max_tries = 99\n", "max_tries"),
        (
            "bad-algorithm.toml",
            "[totp]\nalgorithm = \"MD5\"\n",
            "algorithm",
        ),
        (
            "bad-duration.toml",
            "[limits]\nlockout = \"soon\"\n",
            "lockout",
        ),
        ("wrong-type.toml", "[totp]\ndigits = \"six\"\n", "digits"),
    ];
    for (file, contents, key) in bad_configs {
        let path = scratch.path().join(file);
        fs::write(&path, contents).expect("write bad config");
        let refused = check_config(&path);
        assert_eq!(
            refused.status.and_then(|s| s.code()),
            Some(2),
            "{file}: {refused}"
        );
        let message = refused.stderr.trim();
        assert_eq!(
            message.lines().count(),
            1,
            "{file}: not one line: {refused}"
        );
        assert!(
            message.contains(&path.display().to_string()) && message.contains(key),
            "{file}: the message does not name the file and `{key}`: {refused}"
        );
    }

    let missing = scratch.path().join("missing.toml");
    let mut command = Command::new(daemon_binary());
    command.arg("--config").arg(&missing);
    let refused = run(command, "");
    assert!(
        !refused.succeeded(),
        "started without its explicit config: {refused}"
    );
    assert!(
        refused.mentions(&missing.display().to_string()),
        "{refused}"
    );
}

#[test]
fn socket_is_0666_and_state_is_private() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start();
    let user = TestUser::create();
    let enrollment = enroll_totp(&daemon, &user);

    let socket = fs::symlink_metadata(daemon.socket()).expect("stat socket");
    assert!(socket.file_type().is_socket());
    assert_eq!(socket.permissions().mode() & 0o7777, 0o666, "socket mode");
    let state_dir = fs::metadata(daemon.state_dir()).expect("stat state dir");
    assert_eq!(
        state_dir.permissions().mode() & 0o7777,
        0o700,
        "state dir mode"
    );

    let mut pending = vec![daemon.state_dir().to_owned()];
    let mut record_files = 0;
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("read state dir") {
            let path = entry.expect("dir entry").path();
            let meta = fs::symlink_metadata(&path).expect("stat state entry");
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                assert_eq!(
                    mode & 0o077,
                    0,
                    "{} is open to others: {mode:o}",
                    path.display()
                );
                pending.push(path);
            } else {
                assert!(meta.is_file(), "{} is not a plain file", path.display());
                assert_eq!(mode, 0o600, "{} has mode {mode:o}", path.display());
                record_files += 1;
            }
        }
    }
    assert!(
        record_files > 0,
        "enrolling wrote no file under the state dir"
    );
    daemon.assert_log_omits(&enrollment.secrets());
}

#[test]
fn sigterm_removes_the_socket_and_exits_zero() {
    if !root_suite_ready() {
        return;
    }
    let mut daemon = Daemon::start();
    let exit = daemon.stop();
    assert!(
        exit.success(),
        "exit after SIGTERM: {exit}\n{}",
        daemon.log_section()
    );
    assert!(!daemon.socket().exists(), "the socket is left behind");
}

#[test]
fn failures_and_lockout_survive_restarts() {
    const SOURCE: &str = "127.0.0.5";
    const OTHER_SOURCE: &str = "127.0.0.6";
    if !root_suite_ready() {
        return;
    }
    let mut setup = LoginSetup::through_pam_service(
        "max_tries = 1\n[limits]\nmax_failures = 3\nlockout = \"1m\"\n",
    );
    let service = &setup.via;
    let from = |rhost| Pamtester::new(service, setup.user.name()).from_rhost(rhost);

    for attempt in 1..=3 {
        if attempt > 1 {
            setup.daemon.stop();
            setup.daemon.restart();
        }
        let wrong = setup.enrollment.authenticator.wrong_code();
        let login = from(SOURCE).authenticate(&[&wrong]);
        assert!(!login.succeeded(), "attempt {attempt}: {login}");
    }
    let locked_sources = |daemon: &Daemon| -> Vec<String> {
        let report = status(daemon, setup.user.name());
        report.lockouts.into_iter().map(|l| l.source).collect()
    };
    assert_eq!(
        locked_sources(&setup.daemon),
        [SOURCE],
        "3 failures with restarts between them did not lock {SOURCE}: failure counts were \
         lost on restart\n{}",
        setup.daemon.log_section()
    );

    setup.daemon.stop();
    setup.daemon.restart();
    assert_eq!(
        locked_sources(&setup.daemon),
        [SOURCE],
        "the lockout was lost on restart"
    );
    let code = setup.enrollment.authenticator.next_code();
    let locked = from(SOURCE).authenticate(&[&code]);
    assert!(
        !locked.succeeded(),
        "locked source logged in after a restart: {locked}"
    );
    assert!(locked.mentions(TOO_MANY_FAILURES), "{locked}");
    assert_eq!(locked.count(CODE_PROMPT), 0, "{locked}");

    let other = from(OTHER_SOURCE).authenticate(&[&code]);
    assert!(other.succeeded(), "{other}\n{}", setup.daemon.log_section());
    setup.daemon.assert_log_omits(&setup.enrollment.secrets());
}

#[test]
fn kill_9_during_parallel_logins_leaves_state_that_loads() {
    const LOGINS: usize = 30;
    if !root_suite_ready() {
        return;
    }
    let mut setup = LoginSetup::through_pam_service(ONE_PROMPT_NO_LOCKOUT);
    let service = &setup.via;
    let code = setup.enrollment.authenticator.next_code();

    // All logins are prompted, then all answer at once and the daemon is killed right after,
    // while it verifies and records.
    let logins = Pamtester::new(service, setup.user.name()).answer_together(LOGINS, &code, || {
        thread::sleep(Duration::from_millis(5));
        setup.daemon.kill();
    });
    let accepted = logins.iter().filter(|run| run.succeeded()).count();
    assert!(accepted <= 1, "{accepted} logins accepted one code");

    setup.daemon.restart();
    let report = status(&setup.daemon, setup.user.name());
    assert!(
        !report.authenticators.is_empty(),
        "the enrollment was lost: {report:?}"
    );
    assert_eq!(report.recovery_codes_left, 10, "{report:?}");
    let fresh = setup.enrollment.authenticator.next_code();
    let login = Pamtester::new(service, setup.user.name()).authenticate(&[&fresh]);
    assert!(
        login.succeeded(),
        "cannot log in after kill -9 and restart: {login}\n{}",
        setup.daemon.log_section()
    );
    if accepted == 1 {
        let replay = Pamtester::new(service, setup.user.name()).authenticate(&[&code]);
        assert!(
            !replay.succeeded(),
            "the code accepted before kill -9 was forgotten: {replay}"
        );
    }
    setup.daemon.assert_log_omits(&setup.enrollment.secrets());
}

/// Sends `bytes` without closing our side and reports whether the daemon then closed the
/// connection (EOF or reset) within [`CLOSE_TIMEOUT`].
fn daemon_closes_after(socket: &Path, bytes: &[u8]) -> bool {
    let mut stream = UnixStream::connect(socket).expect("connect to the daemon");
    stream
        .set_read_timeout(Some(CLOSE_TIMEOUT))
        .expect("read timeout");
    // The daemon may close before reading everything; that is a pass, not a write error.
    let _ = stream.write_all(bytes);
    let mut sink = [0u8; 4096];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut bytes = u32::try_from(body.len())
        .expect("small body")
        .to_be_bytes()
        .to_vec();
    bytes.extend_from_slice(body);
    bytes
}

#[test]
fn garbage_and_oversized_frames_close_the_connection_and_the_daemon_keeps_serving() {
    if !root_suite_ready() {
        return;
    }
    let mut daemon = Daemon::start();
    let user = TestUser::create();
    let oversized = u32::try_from(MAX_FRAME_LEN + 1)
        .expect("fits")
        .to_be_bytes();
    let cases: [(&str, Vec<u8>); 7] = [
        ("4 GiB length", vec![0xff, 0xff, 0xff, 0xff, b'{']),
        (
            "one byte over the limit",
            [&oversized[..], b"{\"v\":1}"].concat(),
        ),
        ("empty frame", vec![0, 0, 0, 0]),
        (
            "HTTP request",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        ("not JSON", frame(b"\x00\x01hello, daemon\xff")),
        (
            "other version",
            frame(br#"{"v":99,"msg":{"type":"status","user":"root"}}"#),
        ),
        (
            "unknown request",
            frame(br#"{"v":1,"msg":{"type":"format_disk"}}"#),
        ),
    ];

    // A connection that stalls in the middle of a frame must not hold anyone else up.
    let mut stalled = UnixStream::connect(daemon.socket()).expect("connect");
    stalled
        .write_all(&[0, 0, 0, 100, b'{'])
        .expect("write half a frame");

    for (what, bytes) in &cases {
        assert!(
            daemon_closes_after(daemon.socket(), bytes),
            "{what}: the daemon kept the connection open\n{}",
            daemon.log_section()
        );
    }
    assert!(
        daemon.is_running(),
        "the daemon died:\n{}",
        daemon.log_section()
    );
    let mut client = Client::connect(daemon.socket(), Duration::from_secs(5)).expect("connect");
    let answer = client
        .call(&Request::Status {
            user: user.name().to_owned(),
        })
        .unwrap_or_else(|e| panic!("status after garbage: {e}\n{}", daemon.log_section()));
    assert!(matches!(answer, Response::Status(_)), "{answer:?}");
    drop(stalled);
}

#[test]
fn an_unanswered_prompt_ends_with_a_message_and_a_failure() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start_with("answer_timeout = \"1s\"\n");
    let user = TestUser::create();
    let _enrollment = enroll_totp(&daemon, &user);
    let mut client = Client::connect(daemon.socket(), Duration::from_secs(10)).expect("connect");
    client
        .send(&Request::Authenticate {
            auth: mfa_proto::AuthRequest {
                user: user.name().to_owned(),
                service: "mfat-timeout".to_owned(),
                rhost: Some("127.0.0.1".to_owned()),
                tty: None,
                ruser: None,
                auth_info: None,
                nullok: false,
            },
        })
        .expect("send");
    let prompt: Step = client.recv().expect("prompt");
    assert!(matches!(prompt, Step::Prompt { .. }), "{prompt:?}");
    // Say nothing; the daemon gives up after answer_timeout and says why.
    let error: Step = client.recv().expect("error step");
    assert_eq!(
        error,
        Step::Error {
            text: "No code was entered in time.".to_owned()
        }
    );
    let done: Step = client.recv().expect("done");
    assert_eq!(
        done,
        Step::Done {
            outcome: Outcome::Failure
        }
    );
    assert_eq!(daemon.auth_outcomes(user.name()), ["failure"]);
}

/// Set for the child run of [`hold_connections_as_the_current_user`]: the daemon's socket.
const HOLDER_SOCKET_ENV: &str = "MFAT_HOLDER_SOCKET";
/// Connections one non-root user may hold (the daemon's `CONNECTIONS_PER_USER`).
const CONNECTIONS_PER_USER: usize = 8;

/// Not a test of its own: [`one_user_cannot_hold_every_connection`] runs this test binary
/// again, as an unprivileged user, with only this test selected.
#[test]
#[ignore = "run as another user by one_user_cannot_hold_every_connection"]
fn hold_connections_as_the_current_user() {
    let Ok(socket) = std::env::var(HOLDER_SOCKET_ENV) else {
        return;
    };
    let held: Vec<UnixStream> = (0..CONNECTIONS_PER_USER)
        .map(|_| UnixStream::connect(&socket).expect("connect within the share"))
        .collect();
    // The daemon counts a connection once it has read its peer credentials.
    thread::sleep(Duration::from_millis(300));
    let mut one_more =
        Client::connect(Path::new(&socket), Duration::from_secs(5)).expect("connect");
    let answer: Response = one_more
        .call(&Request::Status {
            user: "root".to_owned(),
        })
        .expect("an answer");
    println!("ONE MORE: {answer:?}");
    drop(held);
}

#[test]
fn one_user_cannot_hold_every_connection() {
    if !root_suite_ready() {
        return;
    }
    let daemon = Daemon::start();
    let user = TestUser::create();
    let mut child = test_binary_as(&user, "hold_connections_as_the_current_user");
    child.env(HOLDER_SOCKET_ENV, daemon.socket());
    let held = run(child, "");
    assert!(
        held.mentions("ONE MORE: Failed { kind: BadRequest, message: \"too many open connections"),
        "a connection beyond the user's share was served: {held}\n{}",
        daemon.log_section()
    );
    // The slots come back when the user's connections close, and root was never refused.
    let report = status(&daemon, user.name());
    assert_eq!(report.user, user.name());
    assert!(
        daemon
            .log()
            .contains(&format!("refusing a connection from uid {}", user.uid()))
    );
}
