//! The daemon's RADIUS socket (`radius.sock`), spoken to directly as `mfa-radius` would and
//! as anyone else: the door that lets one account start logins of every user must hold
//! that account to logins through a configured RADIUS client, and must not let it pass for
//! sshd. Each test says how it would fail without the check it covers.
//!
//! The `mfa-radius` account (and a stranger) are played by this test binary run again as a
//! test account with only its `#[ignore]`d helper selected (as in tests/adversarial.rs).

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use mfa_proto::radius::radius_socket;
use mfa_proto::{AuthRequest, FrameError, Request, Secret, Step, encode, read_frame};
use mfa_tests::{Daemon, TestUser, enroll_totp, root_suite_ready, run, test_binary_as};
use serde_json::Value;

/// The helper test that speaks on the RADIUS socket as whoever runs it.
const RADIUS_SOCKET_CLIENT: &str = "radius_socket_client";
/// Where the helper connects, and what it asks (JSON of an `AuthRequest`).
const SOCKET_ENV: &str = "MFAT_RADIUS_SOCKET";
const AUTH_ENV: &str = "MFAT_RADIUS_AUTH";
/// The code the helper answers a prompt with.
const ANSWER_ENV: &str = "MFAT_RADIUS_ANSWER";

/// A daemon with one RADIUS client `vpn` whose `mfa-radius` runs as `radius_user`.
fn daemon_for(radius_user: &TestUser) -> Daemon {
    Daemon::start_with(&format!(
        "[radius]\nuser = \"{}\"\n[[radius.client]]\nname = \"vpn\"\naddress = \"127.0.0.1\"\n\
         secret_file = \"/nonexistent/the-daemon-never-reads-it\"\n",
        radius_user.name()
    ))
}

fn login(user: &str, service: &str, rhost: Option<&str>) -> AuthRequest {
    AuthRequest {
        user: user.to_owned(),
        service: service.to_owned(),
        rhost: rhost.map(str::to_owned),
        tty: None,
        ruser: None,
        auth_info: None,
        nullok: false,
    }
}

/// Runs the helper as `who`: it sends `auth` on the RADIUS socket, answers a prompt with
/// `answer`, and prints each frame it got back (one per line) or how the daemon closed.
fn speak_as(who: &TestUser, daemon: &Daemon, auth: &AuthRequest, answer: &str) -> String {
    let mut helper = test_binary_as(who, RADIUS_SOCKET_CLIENT);
    helper.env(SOCKET_ENV, radius_socket(daemon.socket()));
    helper.env(AUTH_ENV, serde_json::to_string(auth).unwrap());
    helper.env(ANSWER_ENV, answer);
    let done = run(helper, "");
    format!("{}\n{}", done.stdout, done.stderr)
}

fn sign_ins(daemon: &Daemon, user: &str) -> Vec<Value> {
    daemon
        .audit_events()
        .into_iter()
        .filter(|e| {
            e["user"] == user
                && e["event"]
                    .as_str()
                    .is_some_and(|k| k.starts_with("sign_in"))
        })
        .collect()
}

// mfa-radius's account starts a login of another user through client `vpn`: it is asked,
// and the login is counted and audited as `radius:vpn` from the caller the client named.
// Without Door::Radius's right to act for anyone, the daemon would answer "not authorized"
// (a non-root uid may only log in as itself); without its source rule, the source would be
// `uid:N`, one bucket for every RADIUS caller.
#[test]
fn mfa_radius_logs_in_other_users_as_its_client() {
    if !root_suite_ready() {
        return;
    }
    let radius = TestUser::create();
    let daemon = daemon_for(&radius);
    let victim = TestUser::create();
    enroll_totp(&daemon, &victim);
    let auth = login(
        victim.name(),
        "radius:vpn",
        Some("radius:vpn:00-11-22-33-44-55"),
    );
    let said = speak_as(&radius, &daemon, &auth, "000000");
    assert!(said.contains("PROMPT"), "{said}");
    assert!(said.contains("DONE"), "{said}");
    let events = sign_ins(&daemon, victim.name());
    let failed = events
        .iter()
        .find(|e| e["event"] == "sign_in_failed")
        .unwrap_or_else(|| panic!("no sign_in_failed: {events:?}"));
    assert_eq!(failed["service"], "radius:vpn", "{failed}");
    assert_eq!(failed["source"], "radius:vpn:00-11-22-33-44-55", "{failed}");
}

// What mfa-radius may not say. Each request below is answered with a refusal naming the
// field, and no login starts (no audit event for the user). Without the door's checks, the
// first would be a login decided as sshd's (a rule for sshd, sshd's always_ask), the second
// would count its failures against another client, and the third would carry an SSH
// security key's `auth_info`, which a root-run mfa-radius could use to skip the prompt.
#[test]
fn mfa_radius_cannot_pass_for_sshd_or_another_client() {
    if !root_suite_ready() {
        return;
    }
    let radius = TestUser::create();
    let daemon = daemon_for(&radius);
    let victim = TestUser::create();
    enroll_totp(&daemon, &victim);
    let mut with_key = login(victim.name(), "radius:vpn", Some("radius:vpn"));
    with_key.auth_info = Some("publickey sk-ssh-ed25519@openssh.com AAAA".to_owned());
    let mut with_tty = login(victim.name(), "radius:vpn", Some("radius:vpn"));
    with_tty.tty = Some("/dev/pts/0".to_owned());
    for (auth, words) in [
        (
            login(victim.name(), "sshd", Some("192.0.2.1")),
            "service must be radius:NAME",
        ),
        (
            login(victim.name(), "radius:other", Some("radius:other")),
            "service must be radius:NAME",
        ),
        (
            login(victim.name(), "radius:vpn", Some("radius:other")),
            "rhost must be",
        ),
        (login(victim.name(), "radius:vpn", None), "rhost must be"),
        (
            login(victim.name(), "radius:vpn", Some("192.0.2.1")),
            "rhost must be",
        ),
        (with_key, "no auth_info"),
        (with_tty, "no auth_info, tty"),
    ] {
        let said = speak_as(&radius, &daemon, &auth, "000000");
        assert!(
            said.contains("FAILED") && said.contains(words),
            "{auth:?}: {said}"
        );
        assert!(!said.contains("PROMPT"), "{auth:?}: {said}");
    }
    assert!(sign_ins(&daemon, victim.name()).is_empty());
}

// Any other local account on radius.sock (it is 0666: the peer's uid authorizes) is closed
// at once and logged. Without the uid check at accept, any local user could start logins
// of anyone, with sources of their choosing.
#[test]
fn another_local_account_is_refused_on_the_radius_socket() {
    if !root_suite_ready() {
        return;
    }
    let radius = TestUser::create();
    let daemon = daemon_for(&radius);
    let stranger = TestUser::create();
    let victim = TestUser::create();
    enroll_totp(&daemon, &victim);
    let auth = login(victim.name(), "radius:vpn", Some("radius:vpn"));
    let said = speak_as(&stranger, &daemon, &auth, "000000");
    assert!(said.contains("CLOSED"), "{said}");
    assert!(!said.contains("PROMPT"), "{said}");
    assert!(
        daemon.log().contains(&format!(
            "refusing uid {} on the RADIUS socket",
            stranger.uid()
        )),
        "{}",
        daemon.log()
    );
    assert!(sign_ins(&daemon, victim.name()).is_empty());
}

/// The helper: sends `$MFAT_RADIUS_AUTH` on `$MFAT_RADIUS_SOCKET`, answers the first prompt
/// with `$MFAT_RADIUS_ANSWER`, and prints what came back.
#[test]
#[ignore = "run by the tests of this file"]
fn radius_socket_client() {
    let (Some(socket), Some(auth)) = (std::env::var_os(SOCKET_ENV), std::env::var(AUTH_ENV).ok())
    else {
        return;
    };
    let auth: AuthRequest = serde_json::from_str(&auth).unwrap();
    let answer = std::env::var(ANSWER_ENV).unwrap_or_default();
    match converse(Path::new(&socket), auth, &answer) {
        Ok(()) => {}
        Err(e) => println!("CLOSED: {e}"),
    }
}

fn converse(socket: &Path, auth: AuthRequest, answer: &str) -> Result<(), FrameError> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(&encode(&Request::Authenticate { auth })?)?;
    loop {
        match read_frame::<_, Step>(&mut stream)? {
            Step::Prompt { .. } => {
                println!("PROMPT");
                let text = Secret::from(answer);
                stream.write_all(&encode(&Request::Answer { text })?)?;
            }
            Step::Done { outcome } => {
                println!("DONE {outcome:?}");
                return Ok(());
            }
            Step::Failed { message, .. } => {
                println!("FAILED {message}");
                return Ok(());
            }
            other => println!("STEP {other:?}"),
        }
    }
}
