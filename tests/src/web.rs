//! The real `mfa-web` in front of a test daemon's web socket, on 127.0.0.1 and reached as
//! `http://localhost:PORT` (a secure context for WebAuthn without TLS).

use std::fs::{self, File};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::artifacts::web_binary;
use crate::daemon::Daemon;
use crate::scratch::{ScratchDir, write_file};
use crate::user::TestUser;

/// How long mfa-web may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// The line mfa-web prints on stderr once it accepts connections.
const LISTENING: &str = "mfa-web: listening on ";

/// A port of 127.0.0.1 free right now, for `[web] listen` (another process could take it
/// before mfa-web binds it; mfa-web then says so and [`MfaWeb::start`] panics with its log).
pub fn free_web_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|e| panic!("no free port on 127.0.0.1: {e}"))
}

/// The daemon's `[web]` table for pages on `port` of 127.0.0.1, served by mfa-web running as
/// `web_user` (the only uid besides root the daemon answers on its web socket).
pub fn web_settings(port: u16, web_user: &str) -> String {
    format!(
        "[web]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://localhost:{port}\"\n\
         user = \"{web_user}\"\n"
    )
}

/// `mfa-web --config CONFIG` as an unprivileged account, CONFIG being a copy of the daemon's
/// (mfa-web reads only `socket` and `[web]` from it). Its stderr goes to a log; killed by PID
/// on drop.
#[derive(Debug)]
pub struct MfaWeb {
    scratch: ScratchDir,
    log: PathBuf,
    origin: String,
    process: Option<Child>,
}

impl MfaWeb {
    /// Starts mfa-web for `daemon` (whose config has [`web_settings`] with `port`) as `user`,
    /// and waits until it listens.
    pub fn start(daemon: &Daemon, port: u16, user: &TestUser) -> MfaWeb {
        let scratch = ScratchDir::create();
        let config = scratch.path().join("web.toml");
        let daemon_config = fs::read_to_string(daemon.config())
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", daemon.config().display()));
        write_file(&config, &daemon_config, 0o644);
        let log = scratch.path().join("mfa-web.log");
        let output =
            File::create(&log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let child = Command::new(web_binary())
            .arg("--config")
            .arg(&config)
            .uid(user.uid())
            .gid(user.gid())
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("clone log handle"))
            .stderr(output)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start mfa-web: {e}"));
        scratch.record_pid("mfa-web", child.id());
        let mut web = MfaWeb {
            scratch,
            log,
            origin: format!("http://localhost:{port}"),
            process: Some(child),
        };
        web.wait_until_listening();
        web
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.log().contains(LISTENING) {
            let exited = self
                .process
                .as_mut()
                .map(|child| child.try_wait().ok().flatten().is_some())
                .unwrap_or(true);
            assert!(!exited, "mfa-web exited before listening:\n{}", self.log());
            assert!(
                Instant::now() < deadline,
                "mfa-web did not print `{LISTENING}...` within {START_TIMEOUT:?}:\n{}",
                self.log()
            );
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// `http://localhost:PORT`, the daemon's `public_url`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// What mfa-web wrote so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log under a heading, to append to assertion messages.
    pub fn log_section(&self) -> String {
        format!("--- mfa-web log ---\n{}", self.log().trim_end())
    }

    /// The directory of its config copy and log.
    pub fn scratch(&self) -> &ScratchDir {
        &self.scratch
    }

    /// Its process id while it runs (the benchmarks read its memory from /proc).
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Child::id)
    }
}

impl Drop for MfaWeb {
    fn drop(&mut self) {
        if let Some(mut child) = self.process.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = child.wait();
        }
    }
}
