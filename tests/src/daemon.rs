//! The real `mfa-daemon` on a private socket and state directory.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::artifacts::daemon_binary;
use crate::clock::Clock;
use crate::scratch::{ScratchDir, write_file};

/// How long the daemon may take to start listening or to exit on SIGTERM.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// The line the daemon prints on stderr once its socket accepts connections.
const LISTENING: &str = "mfa-daemon: listening on ";
/// Start of every audit line's JSON.
const AUDIT_PREFIX: &str = "audit: ";

/// Config that prompts once per authentication, so that a login given one answer ends with
/// that answer's verdict.
pub const ONE_PROMPT_PER_LOGIN: &str = "max_tries = 1\n";

/// [`ONE_PROMPT_PER_LOGIN`] with failure limits far above what a burst of a few dozen
/// parallel logins with one code causes, so that the replays lock nothing out.
pub const ONE_PROMPT_NO_LOCKOUT: &str =
    "max_tries = 1\n[limits]\nmax_failures = 100\naccount_max_failures = 100\n";

/// `mfa-daemon --config <scratch>/config.toml` with its socket and state directory in a scratch
/// directory. Its stdout and stderr go to one log that survives restarts, for audit
/// assertions. Killed by PID and removed on drop.
#[derive(Debug)]
pub struct Daemon {
    scratch: ScratchDir,
    config: PathBuf,
    socket: PathBuf,
    state_dir: PathBuf,
    log: PathBuf,
    env: Vec<(String, String)>,
    clock: Clock,
    process: Option<Child>,
}

impl Daemon {
    /// Starts a daemon with the contract's defaults.
    pub fn start() -> Daemon {
        Daemon::start_with("")
    }

    /// Starts a daemon whose config adds `settings` (TOML: top-level keys, then tables) after
    /// the fixture's own `socket` and `state_dir`.
    pub fn start_with(settings: &str) -> Daemon {
        Daemon::start_with_env(settings, &[])
    }

    /// Like [`Daemon::start_with`], with `env` added to the daemon's environment (for example
    /// `LD_PRELOAD` and the variables of nss_wrapper); restarts keep it.
    pub fn start_with_env(settings: &str, env: &[(String, String)]) -> Daemon {
        Daemon::start_on(settings, env, false)
    }

    /// Like [`Daemon::start_with`], on a clock the test moves with [`Daemon::clock`] instead of
    /// sleeping (see [`Clock`]): libfaketime in the daemon's process, offset 0 at the start.
    /// Codes of an app enrolled through [`crate::EnrollTotp`] follow the moved clock.
    pub fn start_on_moving_clock(settings: &str) -> Daemon {
        Daemon::start_on(settings, &[], true)
    }

    fn start_on(settings: &str, env: &[(String, String)], moving_clock: bool) -> Daemon {
        let scratch = ScratchDir::create();
        let clock = if moving_clock {
            Clock::moving(&scratch.path().join("clock-offset"))
        } else {
            Clock::real()
        };
        let config = scratch.path().join("config.toml");
        let socket = scratch.path().join("mfa.sock");
        let state_dir = scratch.path().join("state");
        let log = scratch.path().join("daemon.log");
        write_file(
            &config,
            &format!(
                "socket = {}\nstate_dir = {}\n{settings}\n",
                toml_string(&socket),
                toml_string(&state_dir)
            ),
            0o644,
        );
        let mut daemon = Daemon {
            scratch,
            config,
            socket,
            state_dir,
            log,
            env: with_env_of(env, &clock),
            clock,
            process: None,
        };
        daemon.launch();
        daemon
    }

    fn launch(&mut self) {
        assert!(self.process.is_none(), "the daemon is already running");
        let listening_before = self.log().matches(LISTENING).count();
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", self.log.display()));
        let child = Command::new(daemon_binary())
            .arg("--config")
            .arg(&self.config)
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start mfa-daemon: {e}"));
        self.scratch.record_pid("daemon", child.id());
        self.process = Some(child);
        let deadline = Instant::now() + DAEMON_TIMEOUT;
        while self.log().matches(LISTENING).count() == listening_before {
            if !self.is_running() {
                panic!("mfa-daemon exited before listening:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "mfa-daemon did not print `{LISTENING}...` within {DAEMON_TIMEOUT:?}:\n{}",
                self.log()
            );
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// The daemon's wall clock: real, or moving for [`Daemon::start_on_moving_clock`].
    pub fn clock(&self) -> Clock {
        self.clock.clone()
    }

    /// The socket the daemon listens on.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The daemon's privileged socket, which only root can reach: see [`privileged_socket`].
    pub fn privileged_socket(&self) -> PathBuf {
        privileged_socket(&self.socket)
    }

    /// The socket for requests a test sends as root: the privileged one, which is what
    /// root's own clients (pam_mfa.so in sshd or sudo, mfa-enroll run by root) use. A daemon
    /// without one (before the two sockets existed) is reached on its only socket, so that a
    /// test fails on the behaviour it checks rather than on the missing path.
    pub fn root_socket(&self) -> PathBuf {
        let privileged = self.privileged_socket();
        if privileged.exists() {
            privileged
        } else {
            self.socket.clone()
        }
    }

    /// The directory that holds one record file per user.
    pub fn users_dir(&self) -> PathBuf {
        self.state_dir.join("users")
    }

    /// The names of the files in [`Daemon::users_dir`], sorted (none if it does not exist).
    pub fn user_files(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.users_dir())
            .map(|entries| {
                entries
                    .flatten()
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The daemon's state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The config file the daemon was started with.
    pub fn config(&self) -> &Path {
        &self.config
    }

    /// The PID of the running daemon.
    pub fn pid(&self) -> u32 {
        self.process
            .as_ref()
            .map(Child::id)
            .expect("the daemon is not running")
    }

    /// Whether the daemon process is still running (reaps it if it exited).
    pub fn is_running(&mut self) -> bool {
        match self.process.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.process = None;
                false
            }
            None => false,
        }
    }

    /// Sends SIGTERM and waits for the daemon to exit; returns how it exited.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.process.take().expect("the daemon is not running");
        signal(&child, Signal::SIGTERM);
        let deadline = Instant::now() + DAEMON_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("wait for mfa-daemon") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "mfa-daemon did not exit within {DAEMON_TIMEOUT:?} of SIGTERM:\n{}",
                    self.log()
                );
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Kills the daemon with SIGKILL, as a crash or the OOM killer would.
    pub fn kill(&mut self) {
        let mut child = self.process.take().expect("the daemon is not running");
        signal(&child, Signal::SIGKILL);
        let _ = child.wait();
    }

    /// Starts the daemon again on the same config and state (after [`Daemon::stop`] or
    /// [`Daemon::kill`]).
    pub fn restart(&mut self) {
        self.launch();
    }

    /// Everything the daemon wrote to stdout and stderr, across restarts.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log under a heading, to append to assertion messages.
    pub fn log_section(&self) -> String {
        format!("--- daemon log ---\n{}", self.log().trim_end())
    }

    /// Every audit event logged so far, in order.
    pub fn audit_events(&self) -> Vec<Value> {
        self.log()
            .lines()
            .filter_map(|line| {
                let json = &line[line.find(AUDIT_PREFIX)? + AUDIT_PREFIX.len()..];
                Some(
                    serde_json::from_str(json)
                        .unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {line}")),
                )
            })
            .collect()
    }

    /// The first `sign_in_succeeded` audit event; panics (with the log) if there is none.
    pub fn auth_success(&self) -> Value {
        self.audit_events()
            .into_iter()
            .find(|event| event["event"] == "sign_in_succeeded")
            .unwrap_or_else(|| panic!("no auth success in the audit log\n{}", self.log_section()))
    }

    /// Waits up to the fixture's timeout for an audit event that `wanted` accepts and returns
    /// it; panics with the log if none comes.
    pub fn wait_for_audit(&self, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + DAEMON_TIMEOUT;
        loop {
            if let Some(event) = self.audit_events().into_iter().find(|event| wanted(event)) {
                return event;
            }
            assert!(
                Instant::now() < deadline,
                "no such audit event within {DAEMON_TIMEOUT:?}\n{}",
                self.log_section()
            );
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// The outcomes of the sign-in audit events for `user`, in order: `sign_in_*`, and
    /// `locked_out` for a login refused because its source was locked (not the event that
    /// says a failure started a lockout, which carries `until`).
    pub fn auth_outcomes(&self, user: &str) -> Vec<String> {
        self.audit_events()
            .iter()
            .filter(|event| is_sign_in(event) && event["user"] == user)
            .map(|event| event["outcome"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Panics if the log contains any of `secrets` (codes, base32 secrets, recovery codes).
    /// A secret only counts where it stands as a whole word, so that a six-digit code is not
    /// "found" inside a timestamp.
    pub fn assert_log_omits(&self, secrets: &[String]) {
        let log = self.log();
        for secret in secrets {
            assert!(
                !contains_word(&log, secret),
                "the daemon log contains the secret or code {secret:?}:\n{log}"
            );
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(child: &Child, signal: Signal) {
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("PIDs fit in i32"));
    kill(pid, signal).unwrap_or_else(|e| panic!("cannot send {signal} to mfa-daemon: {e}"));
}

/// The privileged socket that goes with the public socket `public`: the same file name in a
/// `private` directory beside it (`/run/mfa/mfa.sock` → `/run/mfa/private/mfa.sock`). The
/// daemon listens on both; pam_mfa.so and mfa-enroll running as root connect to this one.
/// Written out here rather than taken from mfa-proto, so that the suites check the path
/// that is promised, not whatever the client code computes.
pub fn privileged_socket(public: &Path) -> PathBuf {
    let dir = public.parent().expect("a socket path has a directory");
    let name = public.file_name().expect("a socket path has a file name");
    dir.join("private").join(name)
}

/// `env` with the variables of `clock` added; two `LD_PRELOAD` lists are joined.
fn with_env_of(env: &[(String, String)], clock: &Clock) -> Vec<(String, String)> {
    let mut merged = env.to_vec();
    for (key, value) in clock.daemon_env() {
        match merged.iter_mut().find(|(existing, _)| *existing == key) {
            Some((_, existing)) if key == "LD_PRELOAD" => *existing = format!("{existing} {value}"),
            Some(_) => panic!("{key} is set by the daemon's clock and by the test"),
            None => merged.push((key, value)),
        }
    }
    merged
}

/// `path` as a TOML basic string.
fn toml_string(path: &Path) -> String {
    Value::String(path.to_string_lossy().into_owned()).to_string()
}

/// Whether `needle` occurs in `haystack` with no letter or digit right before or after it.
fn contains_word(haystack: &str, needle: &str) -> bool {
    haystack.match_indices(needle).any(|(at, _)| {
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// Whether an audit event is about one login's outcome: `sign_in_succeeded`,
/// `sign_in_failed`, `sign_in_skipped`, `sign_in_abandoned`, or a `locked_out` refusal of a
/// login (without `until`).
pub fn is_sign_in(event: &Value) -> bool {
    let kind = event["event"].as_str().unwrap_or_default();
    kind.starts_with("sign_in_") || (kind == "locked_out" && event.get("until").is_none())
}

#[cfg(test)]
mod tests {
    use super::contains_word;

    #[test]
    fn words_are_found_only_whole() {
        assert!(contains_word(r#"{"answer":"123456"}"#, "123456"));
        assert!(contains_word("code 123456", "123456"));
        assert!(!contains_word("at 1712345678", "123456"));
        assert!(!contains_word("x123456", "123456"));
        assert!(contains_word("abcd-efgh-ijkl.", "abcd-efgh-ijkl"));
    }
}
