//! The real `mfa-enroll` binary against a scripted stand-in for mfa-daemon that speaks the
//! real framing on a Unix socket in a temp dir. These pin down the conversation on the wire
//! and what the tool prints; tests against the real daemon live in the `tests` crate.

use std::io::{ErrorKind, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mfa_proto::{
    Channel, ContactKind, ContactStatus, FailureKind, Lockout, NewContact, Request, Response,
    Secret, StatusReport, TotpEnrollment, read_frame, write_frame,
};
use serde_json::{Value, json};

const URI: &str = "otpauth://totp/pam-mfa:alice?secret=JBSWY3DPEHPK3PXP&issuer=pam-mfa&algorithm=SHA1&digits=6&period=30";
const SECRET: &str = "JBSWY3DPEHPK3PXP";
const CONFIRM_PROMPT: &str = "Code shown in your authenticator app: ";
const PROOF_PROMPT: &str = "Current verification code or recovery code: ";
const RECEIVED_PROMPT: &str = "Code you received: ";
/// 2026-11-25 14:02 UTC.
const ADDED_AT: u64 = 1_795_615_320;

/// Whether the tests run as root, and so mfa-enroll talks to the privileged socket.
fn root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Where mfa-enroll, run by this test process, connects for `--socket public`.
fn socket_used(public: &Path) -> PathBuf {
    if root() {
        mfa_proto::privileged_socket(public)
    } else {
        public.to_owned()
    }
}

/// Binds the socket mfa-enroll will use for `--socket public`, making `private/` if needed.
fn bind_for(public: &Path) -> UnixListener {
    let path = socket_used(public);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    UnixListener::bind(&path).unwrap()
}

/// A fake daemon: for each entry of its script it accepts one connection, and on it answers
/// each request it reads with the next scripted response (the one after a passkey link comes
/// unasked, as the daemon's does); then it closes the connection.
struct FakeDaemon {
    _dir: tempfile::TempDir,
    /// The public socket, as given to mfa-enroll.
    socket: PathBuf,
    thread: JoinHandle<Vec<Vec<Request>>>,
}

impl FakeDaemon {
    fn start(script: Vec<Vec<Response>>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("mfa.sock");
        let listener = bind_for(&socket);
        let thread = thread::spawn(move || serve(&listener, script));
        FakeDaemon {
            _dir: dir,
            socket,
            thread,
        }
    }

    /// The requests received, one list per connection.
    fn received(self) -> Vec<Vec<Request>> {
        self.thread.join().unwrap()
    }
}

fn serve(listener: &UnixListener, script: Vec<Vec<Response>>) -> Vec<Vec<Request>> {
    // Never hang the test run: give up on connections that do not come.
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut received = Vec::new();
    for replies in script {
        let mut stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(10));
                }
                Err(_) => return received,
            }
        };
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut requests = Vec::new();
        // After a passkey link the daemon answers again on its own, once the browser is done.
        let mut unasked = false;
        for reply in replies {
            if !unasked {
                match read_frame::<_, Request>(&mut stream) {
                    Ok(request) => requests.push(request),
                    Err(_) => break,
                }
            }
            unasked = matches!(reply, Response::PasskeyLink { .. });
            if write_frame(&mut stream, &reply).is_err() {
                break;
            }
        }
        received.push(requests);
    }
    received
}

/// Runs the binary with `args`, feeding `stdin`; `MFA_SOCKET` is cleared unless `env` sets it.
/// The fake daemons run as this test process, so it is named as the daemon's user.
fn run(args: &[&str], stdin: &str, env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mfa-enroll"));
    command
        .args(args)
        .env_remove("MFA_SOCKET")
        .env("MFA_DAEMON_USER", caller())
        .env("TZ", "UTC")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    // The tool may exit before reading everything; that is what some tests check.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn run_at(daemon: &FakeDaemon, args: &[&str], stdin: &str) -> Output {
    let socket = daemon.socket.to_str().unwrap();
    let mut all = vec!["--socket", socket];
    all.extend_from_slice(args);
    run(&all, stdin, &[])
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

/// Asserts exit status 1 and exactly one line `mfa-enroll: <message>` on stderr's last line.
fn assert_error(output: &Output, message: &str) {
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(output));
    let err = stderr(output);
    let last = err.lines().last().unwrap_or_default();
    assert_eq!(last, format!("mfa-enroll: {message}"), "stderr: {err}");
    assert_eq!(err.matches("mfa-enroll:").count(), 1, "stderr: {err}");
}

fn caller() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .unwrap()
        .unwrap()
        .name
}

fn enrollment() -> Response {
    Response::TotpEnrollment(TotpEnrollment {
        otpauth_uri: URI.into(),
        secret: SECRET.into(),
        algorithm: "SHA1".into(),
        digits: 6,
        period: 30,
    })
}

fn codes() -> Vec<Secret> {
    (0..10)
        .map(|i| Secret::from(format!("abcd-efgh-{i:04}")))
        .collect()
}

fn failed(kind: FailureKind, message: &str) -> Response {
    Response::Failed {
        kind,
        message: message.into(),
    }
}

fn confirm(code: &str) -> Request {
    Request::ConfirmTotp { code: code.into() }
}

fn confirm_contact(code: &str) -> Request {
    Request::ConfirmContact { code: code.into() }
}

fn phone_status(
    label: &str,
    masked: &str,
    channels: Vec<Channel>,
    verified: bool,
) -> ContactStatus {
    ContactStatus {
        kind: ContactKind::Phone,
        label: label.into(),
        masked: masked.into(),
        channels,
        verified,
        added_at: ADDED_AT,
    }
}

fn email_status(label: &str, masked: &str) -> ContactStatus {
    ContactStatus {
        kind: ContactKind::Email,
        label: label.into(),
        masked: masked.into(),
        channels: vec![Channel::Email],
        verified: true,
        added_at: ADDED_AT + 60,
    }
}

fn code_sent(channel: Channel, to: &str) -> Response {
    Response::CodeSent {
        channel,
        to: to.into(),
    }
}

/// Asserts that nothing the user typed (codes, proofs, the full number) was printed.
fn assert_not_shown(output: &Output, typed: &[&str]) {
    let (out, err) = (stdout(output), stderr(output));
    for t in typed {
        assert!(!out.contains(t), "{t:?} on stdout: {out}");
        assert!(!err.contains(t), "{t:?} on stderr: {err}");
    }
}

#[test]
fn totp_enrollment_in_json_mode_retries_a_wrong_code() {
    let daemon = FakeDaemon::start(vec![vec![
        enrollment(),
        failed(FailureKind::WrongCode, "Invalid verification code."),
        Response::RecoveryCodes { codes: codes() },
    ]]);
    let output = run_at(&daemon, &["--json", "totp"], " 000000 \n123456\n");
    assert!(output.status.success(), "stderr: {}", stderr(&output));

    let lines = json_lines(&stdout(&output));
    assert_eq!(
        lines,
        vec![
            json!({ "otpauth_uri": URI, "secret": SECRET }),
            json!({ "recovery_codes": codes() }),
        ]
    );
    let err = stderr(&output);
    assert_eq!(err.matches(CONFIRM_PROMPT).count(), 2, "{err}");
    assert!(err.contains("Invalid verification code.\n"), "{err}");
    assert!(!err.contains("mfa-enroll:"), "{err}");

    assert_eq!(
        daemon.received(),
        vec![vec![
            Request::EnrollTotp {
                user: caller(),
                proof: None,
                label: None,
            },
            confirm("000000"),
            confirm("123456"),
        ]]
    );
}

#[test]
fn totp_enrollment_for_a_person_shows_secret_then_codes() {
    let daemon = FakeDaemon::start(vec![vec![
        enrollment(),
        Response::RecoveryCodes { codes: codes() },
    ]]);
    let output = run_at(&daemon, &["totp", "--user", "alice"], "123456\n");
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let out = stdout(&output);
    // stdout is a pipe here: no QR code, no colours, but everything needed by hand.
    assert!(!out.contains('\x1b'), "{out}");
    let secret_at = out.find(&format!("Secret: {SECRET}\n")).unwrap();
    let prompt_at = out.find(CONFIRM_PROMPT).unwrap();
    assert!(out.contains(&format!("URI:    {URI}\n")));
    assert!(secret_at < prompt_at);
    for code in codes() {
        assert!(out.find(code.expose()).unwrap() > prompt_at);
    }
    assert!(out.contains("only this once"), "{out}");
    assert_eq!(stderr(&output), "");
    assert_eq!(
        daemon.received()[0][0],
        Request::EnrollTotp {
            user: "alice".into(),
            proof: None,
            label: None,
        }
    );
}

#[test]
fn proof_is_asked_for_and_sent_on_a_new_connection() {
    let daemon = FakeDaemon::start(vec![
        vec![failed(
            FailureKind::ProofRequired,
            "bob already has an authenticator app; give a current code or a recovery code.",
        )],
        vec![Response::RecoveryCodes { codes: codes() }],
    ]);
    let output = run_at(
        &daemon,
        &["--json", "recovery-codes", "--user", "bob"],
        "abcd-efgh-ijkl\n",
    );
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    assert_eq!(
        json_lines(&stdout(&output)),
        vec![json!({ "recovery_codes": codes() })]
    );
    let err = stderr(&output);
    assert!(err.contains(PROOF_PROMPT), "{err}");
    assert!(
        err.contains("bob already has an authenticator app"),
        "{err}"
    );
    assert_eq!(
        daemon.received(),
        vec![
            vec![Request::NewRecoveryCodes {
                user: "bob".into(),
                proof: None,
            }],
            vec![Request::NewRecoveryCodes {
                user: "bob".into(),
                proof: Some("abcd-efgh-ijkl".into()),
            }],
        ]
    );
}

#[test]
fn wrong_proof_is_an_error() {
    let daemon = FakeDaemon::start(vec![
        vec![failed(FailureKind::ProofRequired, "")],
        vec![failed(FailureKind::WrongCode, "Invalid verification code.")],
    ]);
    let output = run_at(&daemon, &["remove"], "999999\n");
    assert_error(&output, "Invalid verification code.");
    let received = daemon.received();
    assert_eq!(
        received[1],
        vec![Request::RemoveFactors {
            user: caller(),
            proof: Some("999999".into()),
        }]
    );
}

#[test]
fn end_of_input_while_a_code_is_expected_is_an_error() {
    let daemon = FakeDaemon::start(vec![vec![enrollment()]]);
    let output = run_at(&daemon, &["--json", "totp"], "");
    assert_error(
        &output,
        "standard input ended where a code from the authenticator app was expected",
    );
    // The secret was shown before the question, nothing after it.
    assert_eq!(json_lines(&stdout(&output)).len(), 1);
    daemon.received();
}

#[test]
fn empty_answer_from_a_pipe_is_an_error() {
    let daemon = FakeDaemon::start(vec![vec![enrollment()]]);
    let output = run_at(&daemon, &["--json", "totp"], "\n123456\n");
    assert_error(
        &output,
        "empty line on standard input where a code from the authenticator app was expected",
    );
    daemon.received();
}

#[test]
fn daemon_giving_up_on_confirmation_ends_the_tool() {
    let daemon = FakeDaemon::start(vec![vec![
        enrollment(),
        failed(FailureKind::WrongCode, "Invalid verification code."),
        failed(
            FailureKind::LockedOut,
            "Too many wrong codes; nothing was enrolled.",
        ),
    ]]);
    let output = run_at(&daemon, &["--json", "totp"], "1\n2\n3\n");
    assert_error(&output, "Too many wrong codes; nothing was enrolled.");
    assert_eq!(daemon.received()[0].len(), 3);

    // A daemon that just hangs up after a wrong code: one clear line about the connection
    // (closed or broken pipe, depending on timing), exit 1.
    let daemon = FakeDaemon::start(vec![vec![
        enrollment(),
        failed(FailureKind::WrongCode, "Invalid verification code."),
    ]]);
    let output = run_at(&daemon, &["--json", "totp"], "1\n2\n");
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));
    let err = stderr(&output);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("mfa-enroll: mfa-daemon at ")
            || last.starts_with("mfa-enroll: talking to mfa-daemon at "),
        "stderr: {err}"
    );
    assert_eq!(err.matches("mfa-enroll:").count(), 1, "stderr: {err}");
    daemon.received();
}

#[test]
fn status_from_mfa_socket_in_both_modes() {
    let report = StatusReport {
        user: "alice".into(),
        authenticators: Vec::new(),
        recovery_codes_left: 3,
        lockouts: vec![Lockout {
            source: "10.0.0.7".into(),
            until: 4_102_444_800, // 2100-01-01 00:00 UTC
        }],
        account_locked_until: None,
        contacts: vec![],
        trusted_devices: Vec::new(),
        exempt_until: None,
        last_success: None,
        grace_until: None,
        bypass: None,
        passkeys: Vec::new(),
        hotp: Vec::new(),
        app_passwords: Vec::new(),
    };
    let daemon = FakeDaemon::start(vec![
        vec![Response::Status(report.clone())],
        vec![Response::Status(report.clone())],
    ]);
    let env = [("MFA_SOCKET", daemon.socket.as_path())];
    let human = run(&["status", "--user", "alice"], "", &env);
    assert!(human.status.success(), "stderr: {}", stderr(&human));
    let out = stdout(&human);
    assert!(out.contains("Recovery codes left: 3\n"), "{out}");
    assert!(
        out.contains("10.0.0.7: locked until 2100-01-01 00:00 UTC (in "),
        "{out}"
    );
    let json = run(&["status", "--json", "--user", "alice"], "", &env);
    assert!(json.status.success(), "stderr: {}", stderr(&json));
    let lines = json_lines(&stdout(&json));
    assert_eq!(lines.len(), 1);
    assert_eq!(
        serde_json::from_value::<StatusReport>(lines[0].clone()).unwrap(),
        report
    );
    assert_eq!(
        daemon.received(),
        vec![
            vec![Request::Status {
                user: "alice".into()
            }];
            2
        ]
    );
}

#[test]
fn ok_and_refusals() {
    let daemon = FakeDaemon::start(vec![
        vec![Response::Ok {
            message: "Unlocked bob.".into(),
        }],
        vec![failed(
            FailureKind::NotAuthorized,
            "Only root may unlock accounts.",
        )],
    ]);
    let ok = run_at(&daemon, &["--json", "unlock", "--user", "bob"], "");
    assert!(ok.status.success(), "stderr: {}", stderr(&ok));
    assert_eq!(
        json_lines(&stdout(&ok)),
        vec![json!({ "ok": "Unlocked bob." })]
    );
    let refused = run_at(&daemon, &["unlock", "--user", "bob"], "");
    assert_error(&refused, "Only root may unlock accounts.");
    assert_eq!(stdout(&refused), "");
    assert_eq!(
        daemon.received(),
        vec![
            vec![Request::Unlock {
                user: "bob".into(),
                source: None
            }];
            2
        ]
    );
}

#[test]
fn absent_daemon_is_one_clear_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nobody-listens.sock");
    let output = run(&["--socket", socket.to_str().unwrap(), "status"], "", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "mfa-enroll: cannot reach mfa-daemon at {}: ",
            socket_used(&socket).display()
        )),
        "{err}"
    );
    assert!(err.contains("is mfa-daemon running?"), "{err}");
}

#[test]
fn root_uses_only_the_privileged_socket() {
    let dir = tempfile::tempdir().unwrap();
    let public = dir.path().join("mfa.sock");
    let listener = UnixListener::bind(&public).unwrap();
    listener.set_nonblocking(true).unwrap();
    let output = run(&["--socket", public.to_str().unwrap(), "status"], "", &[]);
    if !root() {
        // Run by a user the public socket is the one: the listener here gets the request.
        assert!(listener.accept().is_ok(), "stderr: {}", stderr(&output));
        return;
    }
    let private = mfa_proto::privileged_socket(&public);
    assert_eq!(private, dir.path().join("private/mfa.sock"));
    assert_error(
        &output,
        &format!(
            "cannot reach mfa-daemon at {}: No such file or directory (os error 2) \
             (is mfa-daemon running?)",
            private.display()
        ),
    );
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == ErrorKind::WouldBlock),
        "root connected to the public socket"
    );
}

#[test]
fn refusal_at_accept_is_shown_not_a_broken_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("mfa.sock");
    let listener = bind_for(&socket);
    let message = "too many open connections from uid 1000; wait for some to finish";
    let daemon = thread::spawn(move || {
        // What the daemon does beyond a uid's share: say why at once and close unread.
        let (mut stream, _) = listener.accept().unwrap();
        write_frame(&mut stream, &failed(FailureKind::BadRequest, message)).unwrap();
    });
    // The daemon has closed by the time mfa-enroll sends (it checks the listener first), so
    // the send fails with EPIPE; the reason queued before that must be shown instead.
    let output = run(
        &[
            "--socket",
            socket.to_str().unwrap(),
            "status",
            "--user",
            "alice",
        ],
        "",
        &[],
    );
    daemon.join().unwrap();
    assert_error(&output, message);
}

#[test]
fn phone_enrollment_retries_a_wrong_code_then_saves() {
    let added = phone_status("desk", "+1 •••-•••-0123", vec![Channel::Voice], true);
    let daemon = FakeDaemon::start(vec![vec![
        code_sent(Channel::Voice, "+1 •••-•••-0123"),
        failed(
            FailureKind::WrongCode,
            "That is not the code that was sent.",
        ),
        Response::ContactAdded(added),
    ]]);
    let output = run_at(
        &daemon,
        &["phone", "+14155550123", "--voice-only", "--label", "desk"],
        "111111\n222222\n",
    );
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!(
            "A phone call to +1 •••-•••-0123 will read out a code.\n\
             Type it below, or press Enter alone to cancel.\n\
             {RECEIVED_PROMPT}\n\
             That is not the code that was sent.\n\
             {RECEIVED_PROMPT}\n\
             Saved phone desk: +1 •••-•••-0123 (call only).\n"
        )
    );
    assert_eq!(stderr(&output), "");
    assert_not_shown(&output, &["111111", "222222", "+14155550123"]);
    assert_eq!(
        daemon.received(),
        vec![vec![
            Request::AddContact {
                user: caller(),
                contact: NewContact::Phone {
                    number: "+14155550123".into(),
                    voice_only: true,
                    label: Some("desk".into()),
                },
                proof: None,
                unverified: false,
            },
            confirm_contact("111111"),
            confirm_contact("222222"),
        ]]
    );
}

#[test]
fn email_in_json_mode_prints_sent_then_enrolled() {
    let added = email_status("personal", "a•••@example.com");
    let daemon = FakeDaemon::start(vec![vec![
        code_sent(Channel::Email, "a•••@example.com"),
        Response::ContactAdded(added.clone()),
    ]]);
    let output = run_at(
        &daemon,
        &[
            "--json",
            "email",
            "alice@example.com",
            "--label",
            "personal",
        ],
        " 314159 \n",
    );
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let lines = json_lines(&stdout(&output));
    assert_eq!(
        lines,
        vec![
            json!({ "sent": { "channel": "email", "to": "a•••@example.com" } }),
            json!({ "enrolled": {
                "kind": "email",
                "label": "personal",
                "masked": "a•••@example.com",
                "channels": ["email"],
                "verified": true,
                "added_at": ADDED_AT + 60,
            } }),
        ]
    );
    assert_eq!(
        serde_json::from_value::<ContactStatus>(lines[1]["enrolled"].clone()).unwrap(),
        added
    );
    let err = stderr(&output);
    assert_eq!(err.matches(RECEIVED_PROMPT).count(), 1, "{err}");
    assert_not_shown(&output, &["314159", "alice@example.com"]);
    assert_eq!(
        daemon.received(),
        vec![vec![
            Request::AddContact {
                user: caller(),
                contact: NewContact::Email {
                    address: "alice@example.com".into(),
                    label: Some("personal".into()),
                },
                proof: None,
                unverified: false,
            },
            confirm_contact("314159"),
        ]]
    );
}

#[test]
fn contact_proof_is_asked_for_and_sent_on_a_new_connection() {
    let daemon = FakeDaemon::start(vec![
        vec![failed(
            FailureKind::ProofRequired,
            "alice already has a factor; give a current code or a recovery code.",
        )],
        vec![
            code_sent(Channel::Sms, "+1 •••-•••-4567"),
            Response::ContactAdded(phone_status(
                "+1 •••-•••-4567",
                "+1 •••-•••-4567",
                vec![Channel::Sms, Channel::Voice],
                true,
            )),
        ],
    ]);
    let output = run_at(
        &daemon,
        &["--json", "phone", "+14155554567", "--user", "alice"],
        "abcd-efgh-ijkl\n123456\n",
    );
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let err = stderr(&output);
    let proof_at = err.find(PROOF_PROMPT).unwrap();
    assert!(
        err.find("alice already has a factor").unwrap() < proof_at,
        "{err}"
    );
    assert!(err.find(RECEIVED_PROMPT).unwrap() > proof_at, "{err}");
    let lines = json_lines(&stdout(&output));
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0],
        json!({ "sent": { "channel": "sms", "to": "+1 •••-•••-4567" } })
    );
    assert_eq!(lines[1]["enrolled"]["channels"], json!(["sms", "voice"]));
    assert_not_shown(&output, &["abcd-efgh-ijkl", "123456", "+14155554567"]);
    let add = |proof: Option<&str>| Request::AddContact {
        user: "alice".into(),
        contact: NewContact::Phone {
            number: "+14155554567".into(),
            voice_only: false,
            label: None,
        },
        proof: proof.map(Into::into),
        unverified: false,
    };
    assert_eq!(
        daemon.received(),
        vec![
            vec![add(None)],
            vec![add(Some("abcd-efgh-ijkl")), confirm_contact("123456")],
        ]
    );
}

#[test]
fn empty_code_cancels_and_confirms_nothing() {
    for json in [false, true] {
        let daemon = FakeDaemon::start(vec![vec![
            code_sent(Channel::Sms, "+1 •••-•••-4567"),
            Response::ContactAdded(phone_status("x", "x", vec![Channel::Sms], true)),
        ]]);
        let mut args = vec!["phone", "+14155554567"];
        if json {
            args.insert(0, "--json");
        }
        let output = run_at(&daemon, &args, "  \n123456\n");
        assert_error(&output, "cancelled: no code was typed; nothing was saved");
        let out = stdout(&output);
        assert!(!out.contains("Saved"), "{out}");
        if json {
            assert_eq!(json_lines(&out).len(), 1, "only `sent`: {out}");
        }
        // The daemon never saw a confirmation, so it saved nothing.
        assert_eq!(daemon.received()[0].len(), 1);
    }
}

#[test]
fn daemon_giving_up_on_a_contact_code_ends_the_tool() {
    let daemon = FakeDaemon::start(vec![vec![
        code_sent(Channel::Email, "a•••@example.com"),
        failed(
            FailureKind::WrongCode,
            "That is not the code that was sent.",
        ),
        failed(
            FailureKind::LockedOut,
            "Too many wrong codes; the address was not saved.",
        ),
    ]]);
    let output = run_at(&daemon, &["email", "a@example.com"], "1\n2\n3\n");
    assert_error(&output, "Too many wrong codes; the address was not saved.");
    assert_eq!(daemon.received()[0].len(), 3);
}

#[test]
fn refusals_to_send_a_code_are_explained() {
    let daemon = FakeDaemon::start(vec![
        vec![failed(FailureKind::RateLimited, "")],
        vec![failed(FailureKind::DeliveryFailed, "")],
        vec![failed(
            FailureKind::DeliveryFailed,
            "no provider is configured for phone calls; nothing was saved",
        )],
        vec![failed(
            FailureKind::BadRequest,
            "a phone number is + and 8 to 15 digits, e.g. +14155550123",
        )],
    ]);
    let cases = [
        (
            &["phone", "+14155554567"][..],
            "too many codes were sent recently; try again later",
        ),
        (
            &["email", "a@example.com"][..],
            "the code could not be sent; nothing was saved",
        ),
        (
            &["phone", "--voice-only", "+14155554567"][..],
            "no provider is configured for phone calls; nothing was saved",
        ),
        (
            &["phone", "555-0123"][..],
            "a phone number is + and 8 to 15 digits, e.g. +14155550123",
        ),
    ];
    for (args, message) in cases {
        let output = run_at(&daemon, args, "123456\n");
        assert_error(&output, message);
        assert_eq!(stdout(&output), "", "{args:?}");
    }
    let received = daemon.received();
    assert_eq!(received.len(), 4);
    assert!(
        received
            .iter()
            .all(|c| matches!(c[..], [Request::AddContact { .. }])),
        "{received:?}"
    );
}

#[test]
fn unverified_contact_is_saved_at_once_without_a_prompt() {
    let daemon = FakeDaemon::start(vec![vec![Response::ContactAdded(phone_status(
        "desk",
        "+44 ••••-••••21",
        vec![Channel::Voice],
        false,
    ))]]);
    let output = run_at(
        &daemon,
        &[
            "phone",
            "+442071234521",
            "--voice-only",
            "--unverified",
            "--user",
            "bob",
            "--label",
            "desk",
        ],
        "",
    );
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "Saved phone desk: +44 ••••-••••21 (call only), unverified: no code was sent to \
         check that it works.\n"
    );
    assert_eq!(
        daemon.received(),
        vec![vec![Request::AddContact {
            user: "bob".into(),
            contact: NewContact::Phone {
                number: "+442071234521".into(),
                voice_only: true,
                label: Some("desk".into()),
            },
            proof: None,
            unverified: true,
        }]]
    );
}

#[test]
fn status_lists_contacts_masked_in_both_modes() {
    let report = StatusReport {
        user: "alice".into(),
        authenticators: Vec::new(),
        recovery_codes_left: 10,
        lockouts: vec![],
        account_locked_until: None,
        contacts: vec![
            phone_status(
                "work",
                "+1 •••-•••-4567",
                vec![Channel::Sms, Channel::Voice],
                true,
            ),
            phone_status("desk", "+44 ••••-••••21", vec![Channel::Voice], false),
            email_status("personal", "a•••@example.com"),
        ],
        trusted_devices: Vec::new(),
        exempt_until: None,
        last_success: None,
        grace_until: None,
        bypass: None,
        passkeys: Vec::new(),
        hotp: Vec::new(),
        app_passwords: Vec::new(),
    };
    let daemon = FakeDaemon::start(vec![
        vec![Response::Status(report.clone())],
        vec![Response::Status(report.clone())],
    ]);
    let human = run_at(&daemon, &["status"], "");
    assert!(human.status.success(), "stderr: {}", stderr(&human));
    let out = stdout(&human);
    assert!(
        out.contains(
            "Phones and email addresses:\n  \
             work      +1 •••-•••-4567   text, call  added 2026-11-25 14:02 UTC\n  \
             desk      +44 ••••-••••21   call only   added 2026-11-25 14:02 UTC, unverified\n  \
             personal  a•••@example.com  email       added 2026-11-25 14:03 UTC\n"
        ),
        "{out}"
    );
    assert!(!out.contains("Nothing is enrolled"), "{out}");
    let json = run_at(&daemon, &["--json", "status"], "");
    assert!(json.status.success(), "stderr: {}", stderr(&json));
    let lines = json_lines(&stdout(&json));
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["contacts"][0]["masked"], "+1 •••-•••-4567");
    assert_eq!(lines[0]["contacts"][1]["verified"], false);
    assert_eq!(
        serde_json::from_value::<StatusReport>(lines[0].clone()).unwrap(),
        report
    );
}

#[test]
fn remove_one_contact_by_label_or_mask() {
    let daemon = FakeDaemon::start(vec![
        vec![failed(FailureKind::ProofRequired, "")],
        vec![Response::Ok {
            message: "Removed phone work.".into(),
        }],
        vec![Response::Ok {
            message: "Removed email address a•••@example.com of bob.".into(),
        }],
    ]);
    let output = run_at(&daemon, &["--json", "remove", "phone", "work"], "654321\n");
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    assert_eq!(
        json_lines(&stdout(&output)),
        vec![json!({ "ok": "Removed phone work." })]
    );
    assert!(stderr(&output).contains(PROOF_PROMPT));
    assert_not_shown(&output, &["654321"]);
    let output = run_at(
        &daemon,
        &["remove", "email", "a•••@example.com", "--user", "bob"],
        "",
    );
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "Removed email address a•••@example.com of bob.\n"
    );
    let remove_work = |proof: Option<&str>| Request::RemoveContact {
        user: caller(),
        kind: ContactKind::Phone,
        which: "work".into(),
        proof: proof.map(Into::into),
    };
    assert_eq!(
        daemon.received(),
        vec![
            vec![remove_work(None)],
            vec![remove_work(Some("654321"))],
            vec![Request::RemoveContact {
                user: "bob".into(),
                kind: ContactKind::Email,
                which: "a•••@example.com".into(),
                proof: None,
            }],
        ]
    );
}

#[test]
fn remove_alone_still_removes_every_factor() {
    let daemon = FakeDaemon::start(vec![vec![Response::Ok {
        message: "Removed every factor of bob.".into(),
    }]]);
    let output = run_at(&daemon, &["remove", "--user", "bob"], "");
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    assert_eq!(
        daemon.received(),
        vec![vec![Request::RemoveFactors {
            user: "bob".into(),
            proof: None,
        }]]
    );
}

#[test]
fn bad_arguments_exit_2() {
    for args in [
        &["unlock"][..],
        &["frobnicate"][..],
        &[][..],
        &["phone"][..],
        &["email", "a@example.com", "--voice-only"][..],
        &["remove", "phone"][..],
        &["remove", "work"][..],
    ] {
        let output = run(args, "", &[]);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(stdout(&output), "", "{args:?}");
    }
}

const PASSKEY_LINK: &str = "https://mfa.example.com/enroll/AbCdEfGhIjKlMnOpQrStUv";

fn passkey_link() -> Response {
    Response::PasskeyLink {
        open: PASSKEY_LINK.into(),
        expires_at: ADDED_AT + 600,
    }
}

fn enroll_passkey(label: Option<&str>, proof: Option<&str>) -> Request {
    Request::EnrollPasskey {
        user: "bob".into(),
        label: label.map(Into::into),
        proof: proof.map(Into::into),
    }
}

#[test]
fn passkey_enrollment_asks_for_proof_prints_the_link_and_waits_for_the_browser() {
    let daemon = FakeDaemon::start(vec![
        vec![failed(
            FailureKind::ProofRequired,
            "bob already has an authenticator app; give a current code or a recovery code.",
        )],
        vec![
            passkey_link(),
            Response::PasskeyEnrolled {
                label: "iphone".into(),
            },
        ],
    ]);
    let output = run_at(
        &daemon,
        &["--json", "passkey", "--label", "iphone", "--user", "bob"],
        "123456\n",
    );
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    assert_eq!(
        json_lines(&stdout(&output)),
        vec![
            json!({ "open": PASSKEY_LINK, "expires_at": ADDED_AT + 600 }),
            json!({ "enrolled": { "kind": "passkey", "label": "iphone" } }),
        ]
    );
    assert!(
        stderr(&output).contains(PROOF_PROMPT),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        daemon.received(),
        vec![
            vec![enroll_passkey(Some("iphone"), None)],
            vec![enroll_passkey(Some("iphone"), Some("123456"))],
        ]
    );
}

#[test]
fn passkey_link_for_a_person_then_the_daemons_refusal() {
    let why = "the link expired before a passkey was added; run `mfa-enroll passkey` again";
    let daemon = FakeDaemon::start(vec![
        vec![
            passkey_link(),
            Response::PasskeyEnrolled {
                label: "passkey".into(),
            },
        ],
        vec![passkey_link(), failed(FailureKind::Policy, why)],
        vec![failed(
            FailureKind::Policy,
            "passkeys need the web pages: set [web] in the daemon's config (see the README)",
        )],
    ]);
    let added = run_at(&daemon, &["passkey", "--user", "bob"], "");
    assert!(added.status.success(), "stderr: {}", stderr(&added));
    let text = stdout(&added);
    assert!(text.contains(&format!("\n    {PASSKEY_LINK}\n")), "{text}");
    assert!(
        text.contains("It works once, until 2026-11-25 14:12 UTC."),
        "{text}"
    );
    assert!(text.ends_with("Passkey \"passkey\" added.\n"), "{text}");
    // Not a terminal: no QR code.
    assert!(!text.contains('\x1b'), "{text}");
    let expired = run_at(&daemon, &["passkey", "--user", "bob"], "");
    assert_error(&expired, why);
    assert!(stdout(&expired).contains(PASSKEY_LINK));
    let no_web = run_at(&daemon, &["passkey", "--user", "bob"], "");
    assert_error(
        &no_web,
        "passkeys need the web pages: set [web] in the daemon's config (see the README)",
    );
    assert_eq!(stdout(&no_web), "");
    assert_eq!(daemon.received(), vec![vec![enroll_passkey(None, None)]; 3]);
}

#[test]
fn remove_passkey_sends_its_label() {
    let daemon = FakeDaemon::start(vec![vec![Response::Ok {
        message: "removed the passkey `iphone` of bob".into(),
    }]]);
    let output = run_at(
        &daemon,
        &["--json", "remove", "passkey", "iphone", "--user", "bob"],
        "",
    );
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    assert_eq!(
        json_lines(&stdout(&output)),
        vec![json!({ "ok": "removed the passkey `iphone` of bob" })]
    );
    assert_eq!(
        daemon.received(),
        vec![vec![Request::RemovePasskey {
            user: "bob".into(),
            label: "iphone".into(),
            proof: None,
        }]]
    );
}
