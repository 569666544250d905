//! The two attacks of the hardening review (issue 5), run by an unprivileged local user
//! against the daemon's public socket while root logs in (`bench/attack.sh`):
//!
//! - [`connections`]: many threads, in several processes, that `connect()`, send nothing, and
//!   reconnect as soon as the daemon drops them, to take every connection slot and fill the
//!   listen queue;
//! - [`recovery`]: conversations in which a user authenticates itself, with a forged remote
//!   host each time, and answers every prompt with a guess shaped like a recovery code, so
//!   that the daemon runs argon2 for each.
//!
//! Attackers run until their time is up or a stop file appears, then print what they did on
//! stderr. They never fail on what the daemon does to them: a refused or dropped connection
//! is counted, and the attacker comes straight back.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mfa_proto::{AuthRequest, Client, Outcome, Request, Secret, Step};

use crate::error::BenchError;

/// Stack of each attacking thread: they only connect and read.
const THREAD_STACK: usize = 64 * 1024;
/// How long an attacker waits before trying again after a connect error (the socket is
/// missing or its listen queue overflowed), so that it does not only spin.
const RETRY_PAUSE: Duration = Duration::from_millis(1);
/// How often a thread blocked on a held connection checks whether its time is up.
const POLL: Duration = Duration::from_millis(500);
/// How often the stop file is looked for.
const STOP_POLL: Duration = Duration::from_millis(100);
/// How long attacking threads get to finish what they are in once the attack is over.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// The PAM service a screen locker would name.
const SCREENLOCK: &str = "screenlock";
/// Recovery codes: 12 characters of this alphabet, shown in groups of 4.
const RECOVERY_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstvwxyz";

/// When an attack ends: after its time, or once the stop file exists, whichever is first.
#[derive(Debug, Clone)]
pub struct AttackEnd {
    /// The longest the attack runs.
    pub duration: Duration,
    /// A file whose appearance ends the attack.
    pub stop_file: Option<PathBuf>,
}

/// Whether the attack is over, and how many attacking threads still run.
#[derive(Debug)]
struct Over {
    flag: AtomicBool,
    running: AtomicUsize,
    started: Instant,
}

impl Over {
    fn get(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// Waits for the end, then gives the threads `STOP_GRACE` to finish what they are in.
    fn wait_for(&self, end: &AttackEnd) {
        let deadline = self.started + end.duration;
        while Instant::now() < deadline && !end.stop_file.as_deref().is_some_and(Path::exists) {
            thread::sleep(STOP_POLL.min(deadline.saturating_duration_since(Instant::now())));
        }
        self.flag.store(true, Ordering::Relaxed);
        let grace = Instant::now() + STOP_GRACE;
        while self.running.load(Ordering::Relaxed) > 0 && Instant::now() < grace {
            thread::sleep(STOP_POLL);
        }
    }
}

/// Runs `threads` copies of `attack` until `end`; returns how long it ran. Threads still
/// blocked (in a `connect` the daemon does not accept) after the grace period are left
/// behind: the process ends right after.
fn attack_threads(
    threads: usize,
    stack: usize,
    end: &AttackEnd,
    attack: impl Fn(&Over) + Send + Sync + 'static,
) -> Duration {
    let over = Arc::new(Over {
        flag: AtomicBool::new(false),
        running: AtomicUsize::new(0),
        started: Instant::now(),
    });
    let attack = Arc::new(attack);
    for _ in 0..threads {
        over.running.fetch_add(1, Ordering::Relaxed);
        let started = thread::Builder::new().stack_size(stack).spawn({
            let (over, attack) = (over.clone(), attack.clone());
            move || {
                attack(&over);
                over.running.fetch_sub(1, Ordering::Relaxed);
            }
        });
        if let Err(e) = started {
            over.running.fetch_sub(1, Ordering::Relaxed);
            // The threads already running go on; the attack is only smaller.
            eprintln!("mfa-bench: cannot start an attacking thread: {e}");
            break;
        }
    }
    over.wait_for(end);
    over.started.elapsed()
}

/// The connection flood: `processes` processes (this one re-executed) of `threads` threads
/// each, until `end`.
pub fn connections(
    socket: &Path,
    processes: usize,
    threads: usize,
    end: &AttackEnd,
) -> Result<(), BenchError> {
    if processes > 1 {
        return in_processes(socket, processes, threads, end);
    }
    let counts = Arc::new(ConnectionCounts::default());
    let elapsed = attack_threads(threads, THREAD_STACK, end, {
        let (socket, counts) = (socket.to_owned(), counts.clone());
        move |over| hold_connections(&socket, over, &counts)
    });
    report(format_args!(
        "mfa-bench: flood-connections (pid {}, {threads} threads, {:.0} s): {} connections, \
         {} dropped by the daemon, {} still held at the end, {} connect errors",
        std::process::id(),
        elapsed.as_secs_f64(),
        counts.connected.load(Ordering::Relaxed),
        counts.dropped.load(Ordering::Relaxed),
        counts.held_at_end.load(Ordering::Relaxed),
        counts.connect_errors.load(Ordering::Relaxed),
    ));
    Ok(())
}

#[derive(Debug, Default)]
struct ConnectionCounts {
    connected: AtomicU64,
    dropped: AtomicU64,
    held_at_end: AtomicU64,
    connect_errors: AtomicU64,
}

/// Runs the flood in `processes` copies of this program, one process each, as the same user.
fn in_processes(
    socket: &Path,
    processes: usize,
    threads: usize,
    end: &AttackEnd,
) -> Result<(), BenchError> {
    let exe = std::env::current_exe().map_err(BenchError::io("find this program"))?;
    let mut children = Vec::with_capacity(processes);
    for _ in 0..processes {
        let mut command = Command::new(&exe);
        command
            .arg("flood-connections")
            .arg("--socket")
            .arg(socket)
            .args(["--processes", "1", "--threads", &threads.to_string()])
            .args(["--seconds", &end.duration.as_secs().to_string()]);
        if let Some(stop_file) = &end.stop_file {
            command.arg("--stop-file").arg(stop_file);
        }
        let child = command
            .spawn()
            .map_err(BenchError::io(format!("run {}", exe.display())))?;
        children.push(child);
    }
    for mut child in children {
        child
            .wait()
            .map_err(BenchError::io("wait for an attacking process"))?;
    }
    Ok(())
}

/// One thread of the connection flood: connect, send nothing, wait to be dropped, again.
fn hold_connections(socket: &Path, over: &Over, counts: &ConnectionCounts) {
    let mut buf = [0u8; 512];
    while !over.get() {
        let mut stream = match UnixStream::connect(socket) {
            Ok(stream) => stream,
            Err(_) => {
                counts.connect_errors.fetch_add(1, Ordering::Relaxed);
                thread::sleep(RETRY_PAUSE);
                continue;
            }
        };
        counts.connected.fetch_add(1, Ordering::Relaxed);
        if stream.set_read_timeout(Some(POLL)).is_err() {
            continue;
        }
        // Whatever the daemon writes (a refusal) is read and ignored; the end of the stream
        // or an error is the drop this thread waits for.
        loop {
            match stream.read(&mut buf) {
                Ok(0) => {
                    counts.dropped.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {
                    if over.get() {
                        counts.held_at_end.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
                Err(_) => {
                    counts.dropped.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
}

/// Writes one line to stderr in a single write, so that the lines of attackers sharing one
/// log file never interleave.
fn report(line: std::fmt::Arguments<'_>) {
    let line = format!("{line}\n");
    // Nothing useful is left to do if stderr itself is gone.
    let _ = io::stderr().write_all(line.as_bytes());
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The argon2 flood: `threads` conversations at a time in which `user` (the caller's own
/// account) authenticates with a forged remote host and answers every prompt with a random
/// recovery-shaped guess; each ended conversation is replaced at once. Runs until `end`.
pub fn recovery(
    socket: &Path,
    user: &str,
    threads: usize,
    end: &AttackEnd,
) -> Result<(), BenchError> {
    let counts = Arc::new(RecoveryCounts::default());
    let elapsed = attack_threads(threads, THREAD_STACK * 4, end, {
        let (socket, user, counts) = (socket.to_owned(), user.to_owned(), counts.clone());
        move |over| guess_recovery_codes(&socket, &user, over, &counts)
    });
    report(format_args!(
        "mfa-bench: flood-recovery as {user} ({threads} conversations at a time, {:.0} s): \
         {} conversations, {} guesses sent, {} ended locked out, {} refused, \
         {} errors",
        elapsed.as_secs_f64(),
        counts.conversations.load(Ordering::Relaxed),
        counts.guesses.load(Ordering::Relaxed),
        counts.locked_out.load(Ordering::Relaxed),
        counts.refused.load(Ordering::Relaxed),
        counts.errors.load(Ordering::Relaxed),
    ));
    Ok(())
}

#[derive(Debug, Default)]
struct RecoveryCounts {
    conversations: AtomicU64,
    /// Guesses sent in answer to a prompt.
    guesses: AtomicU64,
    locked_out: AtomicU64,
    refused: AtomicU64,
    errors: AtomicU64,
}

fn guess_recovery_codes(socket: &Path, user: &str, over: &Over, counts: &RecoveryCounts) {
    while !over.get() {
        counts.conversations.fetch_add(1, Ordering::Relaxed);
        match guess_once(socket, user, counts) {
            Ok(()) => {}
            Err(Ended::ConnectFailed) => {
                counts.errors.fetch_add(1, Ordering::Relaxed);
                thread::sleep(RETRY_PAUSE);
            }
            Err(Ended::Broken) => {
                counts.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

enum Ended {
    ConnectFailed,
    Broken,
}

/// One conversation to its end.
fn guess_once(socket: &Path, user: &str, counts: &RecoveryCounts) -> Result<(), Ended> {
    let mut client =
        Client::connect(socket, mfa_proto::DEFAULT_TIMEOUT).map_err(|_| Ended::ConnectFailed)?;
    client
        .send(&Request::Authenticate {
            auth: AuthRequest {
                user: user.to_owned(),
                service: SCREENLOCK.to_owned(),
                rhost: Some(random_host()),
                tty: None,
                ruser: None,
                auth_info: None,
                nullok: false,
            },
        })
        .map_err(|_| Ended::Broken)?;
    loop {
        match client.recv::<Step>().map_err(|_| Ended::Broken)? {
            Step::Prompt { .. } => {
                client
                    .send(&Request::Answer {
                        text: Secret::from(random_recovery_code()),
                    })
                    .map_err(|_| Ended::Broken)?;
                counts.guesses.fetch_add(1, Ordering::Relaxed);
            }
            Step::Info { .. } | Step::Error { .. } | Step::StripPassword { .. } => {}
            Step::Done {
                outcome: Outcome::LockedOut,
            } => {
                counts.locked_out.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Step::Done { .. } => return Ok(()),
            Step::Failed { .. } => {
                counts.refused.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        }
    }
}

/// Random bytes; all zero if the system has none to give (a weaker attack, not an error).
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    let _ = getrandom::fill(&mut bytes);
    bytes
}

/// A random address in 10.0.0.0/8, forged as the remote host.
fn random_host() -> String {
    let [a, b, c] = random_bytes::<3>();
    format!("10.{a}.{b}.{c}")
}

/// A random answer shaped like a recovery code, `xxxx-xxxx-xxxx`.
pub fn random_recovery_code() -> String {
    let bytes = random_bytes::<12>();
    let mut code = String::with_capacity(14);
    for (index, byte) in bytes.iter().enumerate() {
        if index > 0 && index % 4 == 0 {
            code.push('-');
        }
        let at = usize::from(*byte) % RECOVERY_ALPHABET.len();
        code.push(char::from(
            RECOVERY_ALPHABET.get(at).copied().unwrap_or(b'2'),
        ));
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_are_shaped_like_recovery_codes() {
        for _ in 0..100 {
            let code = random_recovery_code();
            assert_eq!(code.len(), 14, "{code}");
            let groups: Vec<&str> = code.split('-').collect();
            assert_eq!(groups.len(), 3, "{code}");
            assert!(
                groups
                    .iter()
                    .all(|g| g.len() == 4 && g.bytes().all(|b| RECOVERY_ALPHABET.contains(&b))),
                "{code}"
            );
        }
    }

    #[test]
    fn forged_hosts_are_addresses() {
        let host = random_host();
        assert!(host.starts_with("10."), "{host}");
        assert!(host.parse::<std::net::Ipv4Addr>().is_ok(), "{host}");
    }
}
