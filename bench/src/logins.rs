//! Root's logins while an attack runs (`bench/attack.sh`): one `pamtester` authentication
//! after another under pam_wrapper, each with a valid second factor (a fresh TOTP code of
//! the roster user whose next code is accepted soonest, or an unused recovery code), timed from spawn to exit, and how each ended: authenticated,
//! passed on `PAM_IGNORE` (the stack shows a marker line only when pam_mfa returned it), or
//! refused with the PAM error pamtester printed.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::error::BenchError;
use crate::pamtester::{self, Output};
use crate::roster::{self, BenchUser, RecoveryCode};
use crate::schedule;
use crate::stats::Summary;

/// What the logins are given.
#[derive(Debug)]
pub struct LoginPlan<'a> {
    /// pam_wrapper's service directory.
    pub pam_dir: &'a Path,
    /// The PAM service that holds the stack to log in through.
    pub service: &'a str,
    /// Roster of enrolled users; the steps used are written back to it.
    pub roster: &'a Path,
    /// With a file of unused recovery codes, every login uses the next one (and the file is
    /// rewritten without the codes tried); without, every login uses a fresh TOTP code.
    pub codes: Option<&'a Path>,
    /// How many logins.
    pub count: usize,
    /// Text the stack shows only when pam_mfa returned `PAM_IGNORE` (from `pam_echo`).
    pub ignore_marker: Option<&'a str>,
}

/// How one login ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ending {
    Authenticated,
    /// Passed without the second factor being checked.
    Ignored,
    /// Refused; the PAM error as pamtester printed it.
    Refused(String),
}

/// Runs the logins, one after another, and prints one line of Markdown table cells:
/// `logins | median ms | max ms | failures | PAM_IGNORE`.
pub fn run(plan: &LoginPlan<'_>) -> Result<(), BenchError> {
    let mut users = roster::read(plan.roster)?;
    let mut codes = plan.codes.map(roster::read_codes).transpose()?;
    if let Some(codes) = &codes {
        if codes.len() < plan.count {
            return Err(BenchError::Usage(format!(
                "{} recovery codes left, {} logins asked for",
                codes.len(),
                plan.count
            )));
        }
    }
    let mut times = Vec::with_capacity(plan.count);
    let mut endings = Vec::with_capacity(plan.count);
    let mut tried = 0;
    let result = (|| -> Result<(), BenchError> {
        for index in 0..plan.count {
            let (name, answer) = match &codes {
                Some(codes) => {
                    let code = codes
                        .get(index)
                        .ok_or_else(|| BenchError::Usage("ran out of recovery codes".to_owned()))?;
                    (code.user.clone(), code.code.clone())
                }
                None => next_totp(&mut users)?,
            };
            tried = index + 1;
            let run = pamtester::run(plan.pam_dir, plan.service, &name, &answer, Output::Capture)?;
            let ending = ending_of(&run, plan.ignore_marker);
            eprintln!(
                "mfa-bench: login {}/{} as {name}: {:.1} ms, {}",
                index + 1,
                plan.count,
                run.elapsed.as_secs_f64() * 1000.0,
                describe(&ending)
            );
            times.push(run.elapsed);
            endings.push(ending);
        }
        Ok(())
    })();
    // Whatever happened, a code that was tried may have been consumed: never offer it again.
    roster::write(plan.roster, &users)?;
    if let (Some(path), Some(codes)) = (plan.codes, codes.as_mut()) {
        let left: Vec<RecoveryCode> = codes.split_off(tried.min(codes.len()));
        roster::write_codes(path, &left)?;
    }
    result?;
    println!("{}", cells(&times, &endings));
    Ok(())
}

/// The user whose next code is accepted soonest (the least used one on a tie) and a fresh
/// code; the step counts as used from now on, since a login that timed out may still have
/// consumed it.
fn next_totp(users: &mut [BenchUser]) -> Result<(String, String), BenchError> {
    let now = schedule::now();
    let user = users
        .iter_mut()
        .min_by_key(|u| {
            let plan = schedule::plan(u.last_step, now);
            (plan.wait, plan.step)
        })
        .ok_or_else(|| BenchError::Usage("the roster has no users".to_owned()))?;
    let (step, code) = schedule::next_code(user);
    user.last_step = step;
    Ok((user.name.clone(), code))
}

fn ending_of(run: &pamtester::PamRun, ignore_marker: Option<&str>) -> Ending {
    if run.succeeded {
        let ignored = ignore_marker.is_some_and(|marker| run.stdout.contains(marker));
        return if ignored {
            Ending::Ignored
        } else {
            Ending::Authenticated
        };
    }
    let message = run
        .stderr
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("pamtester: "))
        .unwrap_or("no message")
        .trim();
    Ending::Refused(pam_error_name(message))
}

/// The PAM result code behind one of Linux-PAM's `pam_strerror` texts, with the text.
fn pam_error_name(message: &str) -> String {
    const CODES: &[(&str, &str)] = &[
        ("Authentication failure", "PAM_AUTH_ERR"),
        (
            "Authentication service cannot retrieve authentication info",
            "PAM_AUTHINFO_UNAVAIL",
        ),
        (
            "Have exhausted maximum number of retries for service",
            "PAM_MAXTRIES",
        ),
        ("Permission denied", "PAM_PERM_DENIED"),
        ("System error", "PAM_SYSTEM_ERR"),
        ("Conversation error", "PAM_CONV_ERR"),
        ("Error in service module", "PAM_SERVICE_ERR"),
        (
            "User not known to the underlying authentication module",
            "PAM_USER_UNKNOWN",
        ),
        (
            "Insufficient credentials to access authentication data",
            "PAM_CRED_INSUFFICIENT",
        ),
    ];
    match CODES.iter().find(|(text, _)| *text == message) {
        Some((_, code)) => (*code).to_owned(),
        None => format!("\"{message}\""),
    }
}

fn describe(ending: &Ending) -> String {
    match ending {
        Ending::Authenticated => "authenticated".to_owned(),
        Ending::Ignored => "PAM_IGNORE: passed without a code".to_owned(),
        Ending::Refused(error) => format!("refused: {error}"),
    }
}

/// `logins | median ms | max ms | failures | PAM_IGNORE`, over every login whatever its end.
fn cells(times: &[Duration], endings: &[Ending]) -> String {
    let mut refused: BTreeMap<&str, usize> = BTreeMap::new();
    for ending in endings {
        if let Ending::Refused(error) = ending {
            *refused.entry(error).or_default() += 1;
        }
    }
    let failures: usize = refused.values().sum();
    let failures = if failures == 0 {
        "0".to_owned()
    } else {
        let kinds: Vec<String> = refused
            .iter()
            .map(|(error, n)| format!("{n}× {error}"))
            .collect();
        format!("{failures} ({})", kinds.join(", "))
    };
    let ignored = endings.iter().filter(|e| **e == Ending::Ignored).count();
    match Summary::of(times) {
        Some(s) => format!(
            "{} | {:.1} | {:.1} | {failures} | {ignored}",
            s.count, s.p50, s.max
        ),
        None => format!("0 | - | - | {failures} | {ignored}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(succeeded: bool, stdout: &str, stderr: &str) -> pamtester::PamRun {
        pamtester::PamRun {
            elapsed: Duration::from_millis(5),
            succeeded,
            stdout: stdout.to_owned(),
            stderr: stderr.to_owned(),
        }
    }

    #[test]
    fn endings_are_told_apart() {
        let marker = Some("mfa-bench: PAM_IGNORE");
        assert_eq!(
            ending_of(
                &run(true, "pamtester: successfully authenticated\n", ""),
                marker
            ),
            Ending::Authenticated
        );
        assert_eq!(
            ending_of(&run(true, "mfa-bench: PAM_IGNORE\n", ""), marker),
            Ending::Ignored
        );
        assert_eq!(
            ending_of(&run(true, "mfa-bench: PAM_IGNORE\n", ""), None),
            Ending::Authenticated
        );
        assert_eq!(
            ending_of(
                &run(
                    false,
                    "",
                    "pamtester: Authentication service cannot retrieve authentication info\n"
                ),
                marker
            ),
            Ending::Refused("PAM_AUTHINFO_UNAVAIL".to_owned())
        );
        assert_eq!(
            ending_of(&run(false, "", "pamtester: Odd\n"), marker),
            Ending::Refused("\"Odd\"".to_owned())
        );
    }

    #[test]
    fn cells_count_failures_by_error() {
        let times = [1, 2, 3, 40].map(Duration::from_millis);
        let endings = [
            Ending::Authenticated,
            Ending::Ignored,
            Ending::Refused("PAM_AUTH_ERR".to_owned()),
            Ending::Refused("PAM_AUTH_ERR".to_owned()),
        ];
        assert_eq!(
            cells(&times, &endings),
            "4 | 2.5 | 40.0 | 2 (2× PAM_AUTH_ERR) | 1"
        );
    }
}
