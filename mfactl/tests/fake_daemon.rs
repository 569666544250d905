//! The real `mfactl` binary against a scripted stand-in for mfa-daemon on a Unix socket in a
//! temp dir: what goes on the wire and what is printed. Tests against the real daemon live in
//! the `tests` crate.

use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use mfa_proto::{
    FailureKind, Request, Response, StatusReport, privileged_socket, read_frame, write_frame,
};

/// For one connection: reads one request and writes every reply of `replies`.
struct FakeDaemon {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    thread: JoinHandle<Option<Request>>,
}

impl FakeDaemon {
    fn start(replies: Vec<Response>) -> FakeDaemon {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("mfa.sock");
        let private = privileged_socket(&socket);
        std::fs::create_dir_all(private.parent().unwrap()).unwrap();
        let listener = UnixListener::bind(&private).unwrap();
        let thread = thread::spawn(move || {
            let (mut stream, _) = listener.accept().ok()?;
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let request = read_frame::<_, Request>(&mut stream).ok()?;
            for reply in replies {
                write_frame(&mut stream, &reply).ok()?;
            }
            Some(request)
        });
        FakeDaemon {
            _dir: dir,
            socket,
            thread,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_mfactl"))
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .env_remove("MFA_SOCKET")
            // Root is always trusted; the fake daemon runs as root (see `runs_as_root`).
            .env("MFA_DAEMON_USER", "root")
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn received(self) -> Option<Request> {
        self.thread.join().unwrap()
    }
}

/// A report as the daemon sends it (from JSON, so that fields added later default).
fn report(user: &str) -> StatusReport {
    serde_json::from_value(serde_json::json!({
        "user": user,
        "authenticators": [],
        "recovery_codes_left": 0,
        "lockouts": [{ "source": "192.0.2.7", "until": 1_795_615_320 }],
        "account_locked_until": null,
    }))
    .unwrap()
}

/// mfactl runs only as root; elsewhere these tests check that it says so and stop.
fn runs_as_root() -> bool {
    if mfa_enroll::account::runs_as_root() {
        return true;
    }
    let output = Command::new(env!("CARGO_BIN_EXE_mfactl"))
        .arg("list")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("mfactl: must be run as root"));
    false
}

#[test]
fn list_reads_every_batch_until_the_empty_one() {
    if !runs_as_root() {
        return;
    }
    let daemon = FakeDaemon::start(vec![
        Response::Users(vec![report("alice"), report("bob")]),
        Response::Users(vec![report("carol")]),
        Response::Users(vec![]),
    ]);
    let output = daemon.run(&["--json", "list"]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    let users: Vec<String> = stdout
        .lines()
        .map(|l| serde_json::from_str::<StatusReport>(l).unwrap().user)
        .collect();
    assert_eq!(users, ["alice", "bob", "carol"]);
    assert_eq!(daemon.received(), Some(Request::ListUsers));
}

#[test]
fn unlock_sends_the_source_and_prints_the_answer() {
    if !runs_as_root() {
        return;
    }
    let daemon = FakeDaemon::start(vec![Response::Ok {
        message: "cleared bob from 192.0.2.7".into(),
    }]);
    let output = daemon.run(&["unlock", "bob", "--source", "192.0.2.7"]);
    assert!(output.status.success());
    assert_eq!(output.stdout, b"cleared bob from 192.0.2.7\n");
    assert_eq!(
        daemon.received(),
        Some(Request::Unlock {
            user: "bob".into(),
            source: Some("192.0.2.7".into()),
        })
    );
}

#[test]
fn a_refusal_is_one_line_and_exit_1() {
    if !runs_as_root() {
        return;
    }
    let daemon = FakeDaemon::start(vec![Response::Failed {
        kind: FailureKind::NotEnrolled,
        message: "bob has nothing enrolled".into(),
    }]);
    let output = daemon.run(&["reset", "--yes", "bob"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(output.stderr, b"mfactl: bob has nothing enrolled\n");
    assert_eq!(
        daemon.received(),
        Some(Request::RemoveFactors {
            user: "bob".into(),
            proof: None,
        })
    );
}

#[test]
fn list_refuses_a_reply_that_is_not_a_list() {
    if !runs_as_root() {
        return;
    }
    let daemon = FakeDaemon::start(vec![Response::Ok {
        message: "?".into(),
    }]);
    let output = daemon.run(&["list"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("list_users") && stderr.contains("ok"),
        "{stderr}"
    );
}
