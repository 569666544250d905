//! The real daemon binary under socket activation, with this test in systemd's place: the
//! test binds and listens on both sockets, and starts the daemon with them as descriptors 3
//! and 4 and `$LISTEN_PID`, `$LISTEN_FDS` and `$LISTEN_FDNAMES` set, as systemd does for
//! `mfa-daemon.socket` and `mfa-daemon-privileged.socket`.
//!
//! What it shows: the daemon serves on the sockets it was given; it leaves their files when
//! it stops; a client that connects while no daemon runs is queued by the kernel and answered
//! by the next daemon on the same sockets (a restart loses no login); and sockets with the
//! wrong names, paths or kind are refused with a line that says what is wrong.

use std::fs::{self, File};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mfa_proto::{Client, Request, Response};
use nix::sys::signal::{Signal, kill};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, bind, socket};
use nix::unistd::Pid;

/// How long the daemon may take to start, answer or stop.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The first descriptor systemd passes (SD_LISTEN_FDS_START).
const FIRST_FD: RawFd = 3;

/// A scratch directory with a config whose socket is `run/mfa.sock` (root's beside it in
/// `run/private/`), the layout mfa.tmpfiles and the socket units make under /run/mfa.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        fs::DirBuilder::new()
            .mode(0o755)
            .create(dir.path().join("run"))
            .unwrap();
        fs::DirBuilder::new()
            .mode(0o700)
            .create(dir.path().join("run/private"))
            .unwrap();
        fs::write(
            dir.path().join("config.toml"),
            format!(
                "socket = \"{}\"\nstate_dir = \"{}\"\n",
                dir.path().join("run/mfa.sock").display(),
                dir.path().join("state").display()
            ),
        )
        .unwrap();
        Setup { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn public_path(&self) -> PathBuf {
        self.path("run/mfa.sock")
    }

    fn privileged_path(&self) -> PathBuf {
        mfa_proto::privileged_socket(&self.public_path())
    }

    /// Both sockets, listening, as the socket units bind them.
    fn listen(&self) -> (UnixListener, UnixListener) {
        (
            UnixListener::bind(self.public_path()).unwrap(),
            UnixListener::bind(self.privileged_path()).unwrap(),
        )
    }

    /// Starts the daemon with `passed` as descriptors 3, 4, … named as given; `log` names its
    /// stderr file.
    fn start(&self, passed: &[(BorrowedFd<'_>, &str)], log: &str) -> Running {
        let log = self.path(log);
        let names: Vec<&str> = passed.iter().map(|(_, name)| *name).collect();
        let sources: Vec<RawFd> = passed.iter().map(|(fd, _)| fd.as_raw_fd()).collect();
        // $LISTEN_PID must be the daemon's own pid, known only after the fork: the shell
        // exports its own ($$) and execs the daemon, which keeps that pid.
        let mut command = Command::new("/bin/sh");
        command
            .args(["-c", "LISTEN_PID=$$; export LISTEN_PID; exec \"$0\" \"$@\""])
            .arg(env!("CARGO_BIN_EXE_mfa-daemon"))
            .arg("--config")
            .arg(self.path("config.toml"))
            .env("LISTEN_FDS", passed.len().to_string())
            .env("LISTEN_FDNAMES", names.join(":"))
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stderr(File::create(&log).unwrap());
        // SAFETY: the closure runs in the child between fork and exec and only calls fcntl
        // and dup2, which are async-signal-safe; it allocates nothing (`sources` was built
        // before the fork) and touches no lock.
        unsafe {
            command.pre_exec(move || place_descriptors(&sources));
        }
        Running {
            child: command.spawn().expect("run mfa-daemon"),
            log,
        }
    }
}

/// In the child: `sources` become descriptors 3, 4, … without close-on-exec. Each is first
/// copied above them, since a source may itself be 3 or 4 and be overwritten by the first
/// dup2.
fn place_descriptors(sources: &[RawFd]) -> std::io::Result<()> {
    let mut copies = [0 as RawFd; 8];
    assert!(sources.len() <= copies.len());
    for (copy, &source) in copies.iter_mut().zip(sources) {
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a descriptor this process holds; a failure is
        // reported by its return value.
        *copy = unsafe { libc::fcntl(source, libc::F_DUPFD_CLOEXEC, 10) };
        if *copy < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    for (target, &copy) in (FIRST_FD..).zip(&copies[..sources.len()]) {
        // SAFETY: dup2 onto a fixed number; the copy it replaces, if any, was this child's
        // own inheritance of a descriptor the parent still holds. dup2 clears close-on-exec
        // on the target.
        if unsafe { libc::dup2(copy, target) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Kills the daemon when the test ends, however it ends.
struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the daemon says it listens.
    fn wait_listening(&mut self) {
        let deadline = Instant::now() + TIMEOUT;
        while !self.log().contains("mfa-daemon: listening on ") {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the daemon exited ({status}):\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "not listening:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, as systemd stops it, and its exit.
    fn stop(&mut self) -> ExitStatus {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        kill(pid, Signal::SIGTERM).unwrap();
        self.wait()
    }

    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "still running:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The daemon refuses to start, and its log says `why`.
    fn assert_refused(mut self, why: &[&str]) {
        let status = self.wait();
        let log = self.log();
        assert_eq!(status.code(), Some(1), "{log}");
        for part in why {
            assert!(log.contains(part), "no {part:?} in:\n{log}");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status_request() -> Request {
    let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .map_or_else(|| "root".to_owned(), |u| u.name);
    Request::Status { user }
}

/// A request answered on `socket`.
fn answers(socket: &Path) {
    let mut client = Client::connect(socket, TIMEOUT)
        .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", socket.display()));
    let answer: Response = client
        .call(&status_request())
        .unwrap_or_else(|e| panic!("no answer on {}: {e}", socket.display()));
    assert!(matches!(answer, Response::Status(_)), "{answer:?}");
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn a_restart_between_two_socket_activated_daemons_loses_no_request() {
    let setup = Setup::new();
    let (public, privileged) = setup.listen();
    let passed = [
        (public.as_fd(), "public"),
        (privileged.as_fd(), "privileged"),
    ];

    let mut first = setup.start(&passed, "first.log");
    first.wait_listening();
    assert!(
        first
            .log()
            .contains("sockets passed by the service manager"),
        "{}",
        first.log()
    );
    answers(&setup.public_path());
    if is_root() {
        answers(&setup.privileged_path());
    }
    assert!(first.stop().success(), "{}", first.log());
    // The files are the socket units', not the daemon's: they stay for the next one.
    assert!(setup.public_path().exists());
    assert!(setup.privileged_path().exists());

    // No daemon runs: the kernel still accepts the connection into the listen queue, and
    // the request waits in the socket buffer.
    let mut waiting = vec![Client::connect(&setup.public_path(), TIMEOUT).unwrap()];
    if is_root() {
        waiting.push(Client::connect(&setup.privileged_path(), TIMEOUT).unwrap());
    }
    for client in &mut waiting {
        client.send(&status_request()).unwrap();
    }

    // The next daemon, on the same sockets, in the other order: names, not positions, count.
    let passed = [
        (privileged.as_fd(), "privileged"),
        (public.as_fd(), "public"),
    ];
    let mut second = setup.start(&passed, "second.log");
    for mut client in waiting {
        let answer: Response = client
            .recv()
            .unwrap_or_else(|e| panic!("no answer after the restart: {e}\n{}", second.log()));
        assert!(matches!(answer, Response::Status(_)), "{answer:?}");
    }
    second.wait_listening();
    answers(&setup.public_path());
    assert!(second.stop().success(), "{}", second.log());
    assert!(setup.public_path().exists());
}

#[test]
fn sockets_named_otherwise_or_missing_are_refused() {
    let setup = Setup::new();
    let (public, privileged) = setup.listen();
    setup
        .start(
            &[(public.as_fd(), "public"), (privileged.as_fd(), "root")],
            "unknown.log",
        )
        .assert_refused(&[
            "socket activation: descriptor 4 is named \"root\"",
            "FileDescriptorName=",
        ]);
    setup
        .start(&[(public.as_fd(), "public")], "missing.log")
        .assert_refused(&["no socket named \"privileged\" was passed"]);
    setup
        .start(
            &[(public.as_fd(), "public"), (privileged.as_fd(), "public")],
            "twice.log",
        )
        .assert_refused(&["two descriptors are named \"public\""]);
    // Without names systemd would say "unknown" for each; refused like any other name.
    setup
        .start(
            &[(public.as_fd(), "unknown"), (privileged.as_fd(), "unknown")],
            "unnamed.log",
        )
        .assert_refused(&["descriptor 3 is named \"unknown\""]);
    // Nothing was removed: the sockets are still the test's.
    assert!(setup.public_path().exists() && setup.privileged_path().exists());
}

#[test]
fn a_socket_at_another_path_than_the_configs_is_refused_with_both_paths() {
    let setup = Setup::new();
    let (public, _privileged) = setup.listen();
    let elsewhere = UnixListener::bind(setup.path("run/other.sock")).unwrap();
    setup
        .start(
            &[
                (public.as_fd(), "public"),
                (elsewhere.as_fd(), "privileged"),
            ],
            "path.log",
        )
        .assert_refused(&[
            &format!(
                "the socket named \"privileged\" (descriptor 4) is bound to {}",
                setup.path("run/other.sock").display()
            ),
            &format!(
                "but the config's socket puts it at {}",
                setup.privileged_path().display()
            ),
        ]);
}

#[test]
fn a_socket_that_does_not_listen_or_is_not_a_stream_is_refused() {
    let setup = Setup::new();
    let (public, _privileged) = setup.listen();

    // Bound where the privileged socket belongs, but never listen()ed on.
    fs::remove_file(setup.privileged_path()).unwrap();
    let idle: OwnedFd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )
    .unwrap();
    bind(
        idle.as_raw_fd(),
        &UnixAddr::new(&setup.privileged_path()).unwrap(),
    )
    .unwrap();
    setup
        .start(
            &[(public.as_fd(), "public"), (idle.as_fd(), "privileged")],
            "idle.log",
        )
        .assert_refused(&["the socket named \"privileged\" (descriptor 4) is not listening"]);

    let datagram = UnixDatagram::bind(setup.path("run/datagram.sock")).unwrap();
    setup
        .start(
            &[(datagram.as_fd(), "public"), (idle.as_fd(), "privileged")],
            "datagram.log",
        )
        .assert_refused(&["the socket named \"public\" (descriptor 3) is a Datagram socket"]);

    let file = File::create(setup.path("not-a-socket")).unwrap();
    setup
        .start(
            &[(public.as_fd(), "public"), (file.as_fd(), "privileged")],
            "file.log",
        )
        .assert_refused(&["the socket named \"privileged\" (descriptor 4) is not a socket"]);
}

#[test]
fn a_private_directory_of_another_user_is_refused_as_when_binding() {
    if !is_root() {
        // Only root can give the directory away.
        return;
    }
    let setup = Setup::new();
    let (public, privileged) = setup.listen();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    nix::unistd::chown(&setup.path("run/private"), Some(nobody.uid), None).unwrap();
    setup
        .start(
            &[
                (public.as_fd(), "public"),
                (privileged.as_fd(), "privileged"),
            ],
            "owner.log",
        )
        .assert_refused(&[
            &setup.path("run/private").display().to_string(),
            &format!("is owned by uid {}, not by the daemon's uid 0", nobody.uid),
        ]);
}

#[test]
fn listen_variables_for_another_process_are_ignored_and_the_daemon_binds_itself() {
    // $LISTEN_PID names some other process (the variables were inherited, not meant for
    // this daemon): it binds its own sockets and removes them when it stops, as ever.
    let setup = Setup::new();
    let log = setup.path("bound.log");
    let child = Command::new(env!("CARGO_BIN_EXE_mfa-daemon"))
        .arg("--config")
        .arg(setup.path("config.toml"))
        .env("LISTEN_PID", "1")
        .env("LISTEN_FDS", "2")
        .env("LISTEN_FDNAMES", "public:privileged")
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stderr(File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut daemon = Running { child, log };
    daemon.wait_listening();
    assert!(
        !daemon.log().contains("passed by the service manager"),
        "{}",
        daemon.log()
    );
    answers(&setup.public_path());
    assert!(daemon.stop().success(), "{}", daemon.log());
    assert!(!setup.public_path().exists());
    assert!(!setup.privileged_path().exists());
}
