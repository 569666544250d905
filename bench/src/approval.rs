//! Approval on the phone (issue 16): how long after the page says "Approved" the login
//! that waits for it ends, and how much memory `mfa-web` holds.
//!
//! Built on the end-to-end fixtures of `mfa-tests` (a daemon with `[web]` and the real
//! `mfa-web`, headless Chromium with a virtual authenticator as the phone, a pamtester
//! login), so that the bench drives exactly what the approval suite checks. Each login
//! chooses approval, the phone opens the page, Enter is pressed (the daemon now waits for
//! the verdict), then the phone picks the number and signs. The page records, with
//! `performance.timeOrigin + performance.now()`, when the answer to
//! `/api/approve/ID/finish` arrives; mfa-bench records the wall clock when pamtester's
//! success line appears (polled every millisecond). Both clocks are the host's.

use std::fs;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mfa_tests::approval::{ApprovalLogin, Phone, WebSite};
use mfa_tests::text::PAMTESTER_SUCCESS;
use mfa_tests::{PamService, TestUser, root_suite_ready};
use serde_json::Value;

use crate::error::BenchError;
use crate::stats::{Summary, ms};

/// The approval target of docs/DESIGN.md, "Performance targets": median under this.
const TARGET_MS: f64 = 200.0;
/// Each login opens a request; the default (5 an hour per user) would refuse the sixth.
/// 60 is the most the daemon accepts, so rounds are capped there.
const SETTINGS: &str = "[policy]\nmax_pushes_per_hour = 60\n";
/// The most rounds one user can approve in an hour (see [`SETTINGS`]).
pub const MAX_ROUNDS: usize = 60;
/// mfa-web allows a burst of 20 API calls per address, then one per 2 s. Enrollment takes
/// about 3 and a login 3 (open, number, finish), so the first rounds run back to back and
/// the later ones are spaced to stay within the limit (a 429 would be a failed login).
const FREE_ROUNDS: usize = 4;
const ROUND_SPACING: Duration = Duration::from_secs(8);
/// Time for Enter to reach the daemon before the phone approves.
const ENTER_SETTLE: Duration = Duration::from_millis(100);
/// The daemon waits up to 4 s for the page after Enter.
const SUCCESS_WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(1);
/// Memory is read once the process has been idle this long.
const IDLE: Duration = Duration::from_secs(1);

/// Wraps the page's `fetch`: when the answer to `…/finish` arrives, its wall-clock time (ms
/// since the epoch) goes to `window.mfabApproved`.
const RECORD_APPROVED: &str = "(() => { const real = window.fetch.bind(window); \
     window.mfabApproved = null; \
     window.fetch = async (path, init) => { const answer = await real(path, init); \
       if (String(path).endsWith('/finish')) \
         window.mfabApproved = performance.timeOrigin + performance.now(); \
       return answer; }; return true; })()";

/// One login's figures, in ms.
struct Timed {
    /// From the page's "Approved" to PAM_SUCCESS (negative if the login ended first).
    approved_to_success: f64,
    /// From the click on the number to PAM_SUCCESS.
    click_to_success: f64,
}

/// Runs `rounds` approvals and prints the section's Markdown.
pub fn run(rounds: usize) -> Result<(), BenchError> {
    if !root_suite_ready() {
        return Err(BenchError::Usage(
            "the approval bench needs root (it adds accounts and a pam.d service)".to_owned(),
        ));
    }
    if rounds == 0 || rounds > MAX_ROUNDS {
        return Err(BenchError::Usage(format!(
            "--rounds must be 1 to {MAX_ROUNDS} (policy.max_pushes_per_hour caps one user)"
        )));
    }
    let site = WebSite::start(SETTINGS, "");
    let pid = site
        .web_pid()
        .ok_or_else(|| BenchError::Usage("mfa-web is not running".into()))?;
    thread::sleep(IDLE);
    let rss_idle = rss_kib(pid)?;
    let user = TestUser::create();
    let mut phone = Phone::new();
    site.enroll_passkey(&mut phone, &user, "bench");
    let service = PamService::mfa(site.daemon.socket(), "");

    let mut timed = Vec::new();
    let mut failures = Vec::new();
    let mut last_start: Option<Instant> = None;
    for round in 0..rounds {
        if let Some(last) = last_start.filter(|_| round >= FREE_ROUNDS) {
            thread::sleep(ROUND_SPACING.saturating_sub(last.elapsed()));
        }
        last_start = Some(Instant::now());
        match one_login(&site, &mut phone, &service, user.name()) {
            Ok(t) => timed.push(t),
            Err(why) => {
                eprintln!("mfa-bench: approval round {round}: {why}");
                failures.push(why);
            }
        }
    }
    thread::sleep(IDLE);
    let rss_after = rss_kib(pid)?;
    report(rounds, &timed, &failures, rss_idle, rss_after);
    Ok(())
}

/// One pamtester login approved on the phone after Enter; `Err` says what went wrong.
fn one_login(
    site: &WebSite,
    phone: &mut Phone,
    service: &PamService,
    user: &str,
) -> Result<Timed, String> {
    let mut login = ApprovalLogin::start(service, user);
    let asked = login.choose_approval();
    let shown = phone.open_approval(&asked.link);
    if !shown.details {
        return Err(format!("the page did not show the request: {shown:?}"));
    }
    if phone.evaluate(RECORD_APPROVED) != Value::Bool(true) {
        return Err("cannot wrap the page's fetch".to_owned());
    }
    login.send("");
    thread::sleep(ENTER_SETTLE);
    let clicked = Instant::now();
    phone.pick(asked.number);
    let deadline = clicked + SUCCESS_WAIT;
    while !login.output().contains(PAMTESTER_SUCCESS) {
        if Instant::now() > deadline {
            let out = login.output();
            drop(login.finish());
            return Err(format!("no PAM_SUCCESS:\n{out}\n{}", site.logs()));
        }
        thread::sleep(POLL);
    }
    let success_at = now_ms();
    let click_to_success = ms(clicked.elapsed());
    let verdict = phone.verdict();
    let approved_at = phone.evaluate("window.mfabApproved").as_f64();
    let done = login.finish();
    if verdict.kind != "done" || !done.succeeded() {
        return Err(format!("{verdict:?}\n{done}"));
    }
    let approved_at = approved_at.ok_or("the page recorded no answer to /finish")?;
    Ok(Timed {
        approved_to_success: success_at - approved_at,
        click_to_success,
    })
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(ms)
        .unwrap_or_default()
}

/// VmRSS of process `pid`, in KiB.
fn rss_kib(pid: u32) -> Result<u64, BenchError> {
    let path = format!("/proc/{pid}/status");
    let status = fs::read_to_string(&path).map_err(BenchError::io(format!("read {path}")))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .ok_or_else(|| BenchError::Usage(format!("{path} has no VmRSS line")))
}

fn report(rounds: usize, timed: &[Timed], failures: &[String], idle: u64, after: u64) {
    let approved: Vec<f64> = timed.iter().map(|t| t.approved_to_success).collect();
    let clicked: Vec<f64> = timed.iter().map(|t| t.click_to_success).collect();
    println!(
        "{} of {rounds} logins approved and ended with PAM_SUCCESS ({} failed).",
        timed.len(),
        failures.len()
    );
    println!();
    println!("| measure | logins | median ms | p90 ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    for (label, samples) in [
        (
            "page \"Approved\" (answer to /finish) -> PAM_SUCCESS",
            &approved,
        ),
        (
            "click on the number -> PAM_SUCCESS (number check, WebAuthn ceremony)",
            &clicked,
        ),
    ] {
        match Summary::of_ms(samples) {
            Some(s) => println!(
                "| {label} | {} | {:.1} | {:.1} | {:.1} |",
                s.count, s.p50, s.p90, s.max
            ),
            None => println!("| {label} | 0 | - | - | - |"),
        }
    }
    println!();
    println!("| mfa-web VmRSS | KiB |");
    println!("|---|---:|");
    println!("| idle, 1 s after start | {idle} |");
    println!("| idle, 1 s after the {rounds} approvals | {after} |");
    println!();
    match Summary::of_ms(&approved) {
        Some(s) => println!(
            "Target: \"Approved\" on the page to PAM_SUCCESS under {TARGET_MS:.0} ms at the \
             median: {} (median {:.1} ms, p90 {:.1} ms, max {:.1} ms).",
            if s.p50 < TARGET_MS { "MET" } else { "NOT MET" },
            s.p50,
            s.p90,
            s.max
        ),
        None => println!("Target: approval to PAM_SUCCESS: no successful logins to judge."),
    }
}
