//! Running the programs under test: capture their output, answer their prompts, and never
//! wait forever (a program still running after [`RUN_TIMEOUT`] is killed by its PID).

use std::ffi::OsStr;
use std::fmt;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::user::TestUser;

/// How long one program may run before it is killed.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// After a program exits, how long to wait for output still buffered in its pipes.
const OUTPUT_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// What a finished program did.
#[derive(Debug)]
pub struct Run {
    /// The command line, for messages.
    pub command: String,
    /// How it exited; `None` when it ran past [`RUN_TIMEOUT`] and was killed.
    pub status: Option<ExitStatus>,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl Run {
    /// Whether it exited with status 0.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|status| status.success())
    }

    /// How often `text` appears in its stdout and stderr.
    pub fn count(&self, text: &str) -> usize {
        self.stdout.matches(text).count() + self.stderr.matches(text).count()
    }

    /// Whether `text` appears in its stdout or stderr.
    pub fn mentions(&self, text: &str) -> bool {
        self.count(text) > 0
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => writeln!(f, "`{}` exited with {status}", self.command)?,
            None => writeln!(f, "`{}` timed out and was killed", self.command)?,
        }
        writeln!(f, "--- stdout ---\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr.trim_end())
    }
}

/// A command run as `caller` through `runuser`, or as root when `caller` is `None`.
pub fn command_as(caller: Option<&str>, program: impl AsRef<OsStr>) -> Command {
    match caller {
        Some(user) => {
            let mut command = Command::new("runuser");
            command.args(["-u", user, "--"]).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// This test binary again, run as `user` (its uid and primary gid, no supplementary groups)
/// with only the `#[ignore]`d test `helper_test` selected: how a suite plays an unprivileged
/// local user who speaks to the daemon directly. The helper reads what it needs from
/// environment variables the caller adds.
pub fn test_binary_as(user: &TestUser, helper_test: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary's path"));
    command
        .args(["--ignored", "--exact", helper_test, "--nocapture"])
        .uid(user.uid())
        .gid(user.gid());
    command
}

/// Runs `command` with `input` on its stdin, then EOF.
pub fn run(command: Command, input: &str) -> Run {
    let mut interaction = Interaction::spawn(command);
    interaction.send(input);
    interaction.finish()
}

/// Runs `command`, typing one of `answers` each time `prompt` appears once more in its output
/// (programs that read a prompt's answer with one `read()` would lose answers sent ahead).
/// Stdin is closed after the last answer, or once the program has closed its output.
pub fn run_answering(command: Command, prompt: &str, answers: &[&str]) -> Run {
    let mut interaction = Interaction::spawn(command);
    for (asked, answer) in answers.iter().enumerate() {
        if !interaction.wait_for(prompt, asked + 1) {
            break;
        }
        interaction.send(&format!("{answer}\n"));
    }
    interaction.finish()
}

#[derive(Debug, Default)]
struct CapturedOutput {
    stdout: Mutex<Vec<u8>>,
    stderr: Mutex<Vec<u8>>,
    open_pipes: AtomicUsize,
}

impl CapturedOutput {
    fn text(buffer: &Mutex<Vec<u8>>) -> String {
        String::from_utf8_lossy(&buffer.lock().expect("output buffer lock")).into_owned()
    }
}

/// A running program whose output is captured while the test talks to it.
#[derive(Debug)]
pub struct Interaction {
    command: String,
    child: Child,
    stdin: Option<ChildStdin>,
    output: Arc<CapturedOutput>,
    deadline: Instant,
}

impl Interaction {
    /// Starts `command` with piped stdin, stdout and stderr.
    pub fn spawn(mut command: Command) -> Interaction {
        let description = describe(&command);
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{description}`: {e}"));
        let output = Arc::new(CapturedOutput::default());
        output.open_pipes.store(2, Ordering::SeqCst);
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        capture(stdout, Arc::clone(&output), |out| &out.stdout);
        capture(stderr, Arc::clone(&output), |out| &out.stderr);
        Interaction {
            command: description,
            stdin: child.stdin.take(),
            child,
            output,
            deadline: Instant::now() + RUN_TIMEOUT,
        }
    }

    /// The program's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it has written to stdout so far.
    pub fn stdout(&self) -> String {
        CapturedOutput::text(&self.output.stdout)
    }

    /// What it has written to stderr so far.
    pub fn stderr(&self) -> String {
        CapturedOutput::text(&self.output.stderr)
    }

    /// Waits until `text` has appeared `times` times in stdout and stderr together. Returns
    /// `false` if the program closed its output or the run timed out first.
    pub fn wait_for(&self, text: &str, times: usize) -> bool {
        self.wait_until(|output| output.matches(text).count() >= times)
    }

    /// Waits until `seen` holds for everything written so far (stdout, then stderr). Returns
    /// `false` if the program closed its output or the run timed out first.
    pub fn wait_until(&self, seen: impl Fn(&str) -> bool) -> bool {
        loop {
            let finished = self.output.open_pipes.load(Ordering::SeqCst) == 0
                || Instant::now() >= self.deadline;
            if seen(&format!("{}\n{}", self.stdout(), self.stderr())) {
                return true;
            }
            if finished {
                return false;
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Writes `input` to its stdin. A program that already stopped reading is not an error
    /// here: what it did shows in the finished [`Run`].
    pub fn send(&mut self, input: &str) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin
                .write_all(input.as_bytes())
                .and_then(|()| stdin.flush());
        }
    }

    /// Closes stdin, waits for the program to exit (killing it at the deadline) and returns
    /// what it did.
    pub fn finish(mut self) -> Run {
        self.stdin = None;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < self.deadline => thread::sleep(POLL_INTERVAL),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        let drained_by = Instant::now() + OUTPUT_DRAIN_TIMEOUT;
        while self.output.open_pipes.load(Ordering::SeqCst) > 0 && Instant::now() < drained_by {
            thread::sleep(POLL_INTERVAL);
        }
        Run {
            command: self.command.clone(),
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Interaction {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Copies `pipe` into the buffer `select` picks, on a thread of its own.
fn capture(
    mut pipe: impl Read + Send + 'static,
    output: Arc<CapturedOutput>,
    select: fn(&CapturedOutput) -> &Mutex<Vec<u8>>,
) {
    thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut chunk) {
            if n == 0 {
                break;
            }
            select(&output)
                .lock()
                .expect("output buffer lock")
                .extend_from_slice(&chunk[..n]);
        }
        output.open_pipes.fetch_sub(1, Ordering::SeqCst);
    });
}

/// `program arg arg ...`, for messages.
pub(crate) fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a setup command (ssh-keygen, useradd, visudo, ...) and panics with its output if it
/// fails.
pub(crate) fn run_setup(program: impl AsRef<OsStr>, args: &[&str]) -> Run {
    let mut command = Command::new(program);
    command.args(args);
    let done = run(command, "");
    assert!(done.succeeded(), "setup step failed: {done}");
    done
}
