//! Enrolls bench users in mfa-daemon the way an admin would: `mfa-enroll --json totp --user
//! NAME` as root, confirming with a code computed here. (A daemon that resolves names
//! through NSS enrolls only names NSS knows; `bench/run.sh` gives it a passwd file of its
//! own with nss_wrapper.)

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use serde_json::Value;

use crate::error::BenchError;
use crate::roster::{BenchUser, decode_secret};
use crate::schedule;

/// An enrolled bench user and the recovery codes the daemon showed once.
#[derive(Debug, Clone)]
pub struct Enrolled {
    /// Name, secret and last used step.
    pub user: BenchUser,
    /// The recovery codes, as shown (`xxxx-xxxx-xxxx`).
    pub recovery_codes: Vec<String>,
}

/// Enrolls `PREFIX{first}` .. `PREFIX{first+count-1}`, `jobs` at a time.
pub fn enroll_all(
    mfa_enroll: &Path,
    socket: &Path,
    prefix: &str,
    first: usize,
    count: usize,
    jobs: usize,
) -> Result<Vec<Enrolled>, BenchError> {
    let next = AtomicUsize::new(0);
    let enrolled: Mutex<Vec<Option<Enrolled>>> = Mutex::new(vec![None; count]);
    let first_error: Mutex<Option<BenchError>> = Mutex::new(None);
    thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count || lock(&first_error).is_some() {
                        break;
                    }
                    let name = format!("{prefix}{}", first + index);
                    match enroll_retrying(mfa_enroll, socket, &name) {
                        Ok(user) => {
                            if let Some(slot) = lock(&enrolled).get_mut(index) {
                                *slot = Some(user);
                            }
                        }
                        Err(e) => {
                            lock(&first_error).get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = into_inner(first_error) {
        return Err(e);
    }
    Ok(into_inner(enrolled).into_iter().flatten().collect())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn into_inner<T>(mutex: Mutex<T>) -> T {
    mutex
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Lookups through nss_wrapper (1.1.12) now and then find no account when several
/// processes read its passwd file at once: an enrollment refused for that, before any secret
/// was shown, is tried again this many times in all.
const ATTEMPTS: usize = 3;

fn enroll_retrying(mfa_enroll: &Path, socket: &Path, name: &str) -> Result<Enrolled, BenchError> {
    let mut attempt = 1;
    loop {
        match enroll_one(mfa_enroll, socket, name) {
            Err(BenchError::Enroll { why, .. })
                if attempt < ATTEMPTS && why.contains("no account named") =>
            {
                eprintln!("mfa-bench: {name}: {why}; trying again");
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// One enrollment: read the secret mfa-enroll shows, answer with the code for the oldest
/// accepted step (so the later ones stay free for the benchmarks), read the recovery codes.
fn enroll_one(mfa_enroll: &Path, socket: &Path, name: &str) -> Result<Enrolled, BenchError> {
    let failed = |why: String| BenchError::Enroll {
        user: name.to_owned(),
        why,
    };
    let mut child = Command::new(mfa_enroll)
        .arg("--json")
        .arg("--socket")
        .arg(socket)
        .args(["totp", "--user", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(BenchError::io(format!("run {}", mfa_enroll.display())))?;
    let result = converse(&mut child, name);
    // Closing stdin ends a conversation that went wrong; then the exit status and stderr
    // tell why.
    drop(child.stdin.take());
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    let status = child
        .wait()
        .map_err(BenchError::io(format!("wait for {}", mfa_enroll.display())))?;
    let stderr = stderr.trim();
    match result {
        Ok(user) if status.success() => Ok(user),
        Ok(_) => Err(failed(format!("mfa-enroll exited with {status}: {stderr}"))),
        Err(why) if stderr.is_empty() => Err(failed(why)),
        Err(why) => Err(failed(format!("{why}; mfa-enroll said: {stderr}"))),
    }
}

fn converse(child: &mut Child, name: &str) -> Result<Enrolled, String> {
    let (Some(stdin), Some(stdout)) = (child.stdin.as_mut(), child.stdout.take()) else {
        return Err("mfa-enroll's pipes are missing".to_owned());
    };
    let mut lines = BufReader::new(stdout).lines();
    let mut next_json = |what: &str| -> Result<Value, String> {
        let line = lines
            .next()
            .ok_or_else(|| format!("mfa-enroll ended before showing {what}"))?
            .map_err(|e| format!("cannot read mfa-enroll's output: {e}"))?;
        serde_json::from_str(&line).map_err(|e| format!("{what} is not a JSON line ({e})"))
    };
    let shown = next_json("the secret")?;
    let secret = shown
        .get("secret")
        .and_then(Value::as_str)
        .and_then(decode_secret)
        .ok_or("the first JSON line has no base32 \"secret\"")?;
    let mut user = BenchUser {
        name: name.to_owned(),
        secret,
        last_step: 0,
    };
    let (step, code) = schedule::next_code(&user);
    writeln!(stdin, "{code}").map_err(|e| format!("cannot answer mfa-enroll: {e}"))?;
    let shown = next_json("the recovery codes")?;
    let recovery_codes = shown
        .get("recovery_codes")
        .and_then(Value::as_array)
        .and_then(|codes| {
            codes
                .iter()
                .map(|c| c.as_str().map(str::to_owned))
                .collect::<Option<Vec<String>>>()
        })
        .ok_or_else(|| format!("expected a list of recovery codes, got {shown}"))?;
    // The daemon records the confirmation's step as used.
    user.last_step = step;
    Ok(Enrolled {
        user,
        recovery_codes,
    })
}
