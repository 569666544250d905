//! One whole PAM authentication: `pamtester SERVICE USER authenticate` under pam_wrapper (a
//! private service directory, so /etc/pam.d is untouched), timed from spawn to exit, every
//! prompt answered with the same line on stdin.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::BenchError;

/// What to keep of pamtester's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Nothing: the timing is not disturbed by reading pipes.
    Discard,
    /// stdout (messages the stack showed) and stderr (pamtester's verdict on failure).
    Capture,
}

/// One pamtester run.
#[derive(Debug)]
pub struct PamRun {
    /// From spawn to exit.
    pub elapsed: Duration,
    /// Whether it authenticated (exit status 0).
    pub succeeded: bool,
    /// What the stack showed (PAM_TEXT_INFO and PAM_ERROR_MSG); empty with [`Output::Discard`].
    pub stdout: String,
    /// pamtester's verdict, e.g. `pamtester: Authentication failure`; empty with
    /// [`Output::Discard`].
    pub stderr: String,
}

/// Runs pamtester once, answering every prompt with `answer`.
pub fn run(
    pam_dir: &Path,
    service: &str,
    user: &str,
    answer: &str,
    output: Output,
) -> Result<PamRun, BenchError> {
    let pipe = || match output {
        Output::Discard => Stdio::null(),
        Output::Capture => Stdio::piped(),
    };
    let started = Instant::now();
    let mut child = Command::new("pamtester")
        .args([service, user, "authenticate"])
        .env("LD_PRELOAD", "libpam_wrapper.so")
        .env("PAM_WRAPPER", "1")
        .env("PAM_WRAPPER_SERVICE_DIR", pam_dir)
        .stdin(Stdio::piped())
        .stdout(pipe())
        .stderr(pipe())
        .spawn()
        .map_err(BenchError::io("run pamtester"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A stack that asks nothing may exit before reading: a broken pipe is no error here.
        let _ = writeln!(stdin, "{answer}");
    }
    // pamtester writes a few lines at most, far less than a pipe holds, so reading after
    // the exit cannot block it.
    let status = child.wait().map_err(BenchError::io("wait for pamtester"))?;
    let elapsed = started.elapsed();
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        let _ = pipe.read_to_string(&mut stdout);
    }
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    Ok(PamRun {
        elapsed,
        succeeded: status.success(),
        stdout,
        stderr,
    })
}
