//! The real daemon binary under a stand-in for systemd's notification socket: READY=1 comes
//! only once both sockets accept, a SIGHUP is bracketed by RELOADING=1 and READY=1 (whether
//! the new config is taken or refused), and SIGTERM says STOPPING=1.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mfa_proto::{Client, Request, Response};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long the daemon may take to say anything.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Kills the daemon when the test ends, however it ends.
struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        kill(pid, signal).unwrap();
    }

    /// What the daemon wrote to stderr so far, for failure messages.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The socket systemd would give the daemon as `$NOTIFY_SOCKET`.
struct NotifySocket {
    socket: UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket.set_read_timeout(Some(TIMEOUT)).unwrap();
        NotifySocket { socket, path }
    }

    /// The next notification from `daemon`, one `KEY=value` per line.
    fn next(&self, daemon: &Running) -> Vec<String> {
        let mut buffer = [0u8; 4096];
        let started = Instant::now();
        let len = loop {
            match self.socket.recv(&mut buffer) {
                Ok(len) => break len,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => panic!(
                    "no notification after {:?} (timeout {TIMEOUT:?}): {e}\n--- daemon ---\n{}",
                    started.elapsed(),
                    daemon.log()
                ),
            }
        };
        String::from_utf8(buffer[..len].to_vec())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Nothing is waiting: what was sent so far has been read.
    fn assert_drained(&self) {
        self.socket.set_nonblocking(true).unwrap();
        let mut buffer = [0u8; 4096];
        let extra = self.socket.recv(&mut buffer);
        self.socket.set_nonblocking(false).unwrap();
        if let Ok(len) = extra {
            panic!(
                "unexpected notification: {:?}",
                String::from_utf8_lossy(&buffer[..len])
            );
        }
    }
}

fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "socket = \"{}\"\nstate_dir = \"{}\"\n{extra}",
            dir.join("run/mfa.sock").display(),
            dir.join("state").display()
        ),
    )
    .unwrap();
    config
}

fn start(dir: &Path, notify_socket: &Path) -> Running {
    let log = dir.join("daemon.log");
    let child = Command::new(env!("CARGO_BIN_EXE_mfa-daemon"))
        .arg("--config")
        .arg(dir.join("config.toml"))
        .env("NOTIFY_SOCKET", notify_socket)
        .stdin(Stdio::null())
        .stderr(File::create(&log).unwrap())
        .spawn()
        .expect("run mfa-daemon");
    Running { child, log }
}

fn has(message: &[String], line: &str) -> bool {
    message.iter().any(|l| l == line)
}

fn status_of(message: &[String]) -> &str {
    message
        .iter()
        .find_map(|l| l.strip_prefix("STATUS="))
        .unwrap_or_else(|| panic!("no STATUS= in {message:?}"))
}

/// A request answered on `socket`: the daemon is serving there, not just bound.
fn answers(socket: &Path) {
    let mut client = Client::connect(socket, TIMEOUT)
        .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", socket.display()));
    let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .map_or_else(|| "root".to_owned(), |u| u.name);
    client
        .call::<Response>(&Request::Status { user })
        .unwrap_or_else(|e| panic!("no answer on {}: {e}", socket.display()));
}

#[test]
fn ready_once_both_sockets_answer_then_reloading_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let notify = NotifySocket::bind(dir.path());
    let daemon = start(dir.path(), &notify.path);

    // The first word the daemon says is READY=1; the moment it is read, both doors answer.
    let ready = notify.next(&daemon);
    assert!(has(&ready, "READY=1"), "{ready:?}");
    let public = dir.path().join("run/mfa.sock");
    let privileged = dir.path().join("run/private/mfa.sock");
    answers(&public);
    if nix::unistd::geteuid().is_root() {
        answers(&privileged);
    } else {
        // Only root may connect to it; that it is there and listening is what counts here.
        assert!(privileged.exists());
    }
    assert!(
        status_of(&ready).contains(&public.display().to_string()),
        "{ready:?}"
    );
    notify.assert_drained();

    // A good config: RELOADING=1 (with the time systemd 253+ wants), then READY=1.
    std::fs::write(
        &config,
        std::fs::read_to_string(&config).unwrap() + "max_tries = 2\n",
    )
    .unwrap();
    daemon.signal(Signal::SIGHUP);
    let reloading = notify.next(&daemon);
    assert!(has(&reloading, "RELOADING=1"), "{reloading:?}");
    assert!(
        reloading.iter().any(|l| l.starts_with("MONOTONIC_USEC=")),
        "{reloading:?}"
    );
    let reloaded = notify.next(&daemon);
    assert!(has(&reloaded, "READY=1"), "{reloaded:?}");
    assert!(
        status_of(&reloaded).starts_with("reloaded "),
        "{reloaded:?}"
    );
    answers(&public);

    // A broken config is refused, and the daemon is still ready with the old one.
    std::fs::write(&config, "no_such_key = 1\n").unwrap();
    daemon.signal(Signal::SIGHUP);
    assert!(has(&notify.next(&daemon), "RELOADING=1"));
    let kept = notify.next(&daemon);
    assert!(has(&kept, "READY=1"), "{kept:?}");
    assert!(
        status_of(&kept).contains("kept the running config"),
        "{kept:?}"
    );
    answers(&public);

    daemon.signal(Signal::SIGTERM);
    let stopping = notify.next(&daemon);
    assert_eq!(stopping, ["STOPPING=1"]);
    let mut daemon = daemon;
    assert!(daemon.child.wait().unwrap().success());
    notify.assert_drained();
}

#[test]
fn a_daemon_that_cannot_bind_never_says_ready() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "");
    std::fs::create_dir_all(dir.path().join("run")).unwrap();
    // A plain file where the socket belongs: the daemon refuses to replace it and exits.
    std::fs::write(dir.path().join("run/mfa.sock"), "").unwrap();
    let notify = NotifySocket::bind(dir.path());
    let mut daemon = start(dir.path(), &notify.path);
    assert!(!daemon.child.wait().unwrap().success());
    notify.assert_drained();
}

#[test]
fn without_notify_socket_the_daemon_serves_as_before() {
    // The other suites run the daemon without $NOTIFY_SOCKET; this one checks that an
    // unreachable one is no reason to stop serving either.
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "");
    let daemon = start(dir.path(), &dir.path().join("nobody-listens.sock"));
    let deadline = Instant::now() + TIMEOUT;
    while !daemon.log().contains("cannot notify the service manager") {
        assert!(Instant::now() < deadline, "{}", daemon.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(daemon.log().starts_with("mfa-daemon: listening on "));
    answers(&dir.path().join("run/mfa.sock"));
}
