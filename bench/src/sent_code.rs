//! Logins with a code sent by text message, through the daemon's menu, with the send itself
//! left out: each roster user is given a phone (`mfa-enroll phone … --unverified`, as root),
//! then logs in through the protocol pam_mfa.so speaks (Authenticate; the menu and its
//! prompt; the SMS option; `Code: `; the code; Done), with the code read from the files a
//! provider stand-in (`mfa-standin`) writes. Each step is timed apart, so that the provider
//! call (choice to `Code: `) and the wait for the message are not in the figure that
//! matters: connect to the menu prompt plus the code to Done.
//!
//! Every sent-code login is paired with a TOTP login of the same user at the same menu
//! prompt (in alternating order), so the report shows what a sent code adds over an app code
//! on the same daemon at the same moment.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use mfa_proto::{AuthRequest, Client, Outcome, Request, Secret, Step};
use serde_json::Value;

use crate::error::BenchError;
use crate::name_timing::root_socket;
use crate::roster::{self, BenchUser};
use crate::schedule;
use crate::stats::Summary;

/// Connect, read and write timeout of each connection (pam_mfa's default).
const TIMEOUT: Duration = mfa_proto::DEFAULT_TIMEOUT;
/// The PAM service the daemon is told about (it only shows up in audit lines).
const SERVICE: &str = "mfa-bench";
/// The menu entry the bench chooses.
const SMS_OPTION: &str = "Text message to";
/// The prompt of a sent code (mfa-daemon's `CODE_PROMPT`).
const CODE_PROMPT: &str = "Code: ";
/// The longest wait for the stand-in to write a message.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(1);
/// Logins at the start that warm caches and are not counted (of each kind).
const WARMUP: usize = 1;
/// Error messages shown in the report at most.
const ERRORS_SHOWN: usize = 5;

/// What the benchmark is given.
#[derive(Debug)]
pub struct SentCodePlan<'a> {
    /// The daemon's public socket; the privileged one beside it is used if it exists.
    pub socket: &'a Path,
    /// Users enrolled with TOTP; each is given a phone.
    pub roster: &'a Path,
    /// The mfa-enroll binary that adds the phones.
    pub mfa_enroll: &'a Path,
    /// The stand-in's directory: it writes each message as `messages/NNNN.json`.
    pub standin_dir: &'a Path,
    /// Rounds; each logs every user in once with a sent code and once with a TOTP code.
    pub rounds: usize,
}

/// The steps of one sent-code login.
#[derive(Debug, Clone, Copy)]
struct SentTimes {
    /// Connect to the menu prompt.
    opening: Duration,
    /// The menu choice to the `Code: ` prompt: the daemon's provider call.
    send: Duration,
    /// The code to Done: checking the sent code.
    verify: Duration,
}

/// The steps of one TOTP login at the same menu prompt.
#[derive(Debug, Clone, Copy)]
struct TotpTimes {
    /// Connect to the menu prompt.
    opening: Duration,
    /// The code to Done: checking it and recording its time step durably.
    verify: Duration,
}

/// Runs the benchmark and prints its report.
pub fn run(plan: &SentCodePlan<'_>) -> Result<(), BenchError> {
    let mut users = roster::read(plan.roster)?;
    if users.len() <= WARMUP {
        return Err(BenchError::Usage(format!(
            "the roster needs more than {WARMUP} users"
        )));
    }
    let phones: Vec<String> = (0..users.len()).map(phone_of).collect();
    eprintln!("mfa-bench: adding a phone to {} users", users.len());
    for (user, phone) in users.iter().zip(&phones) {
        add_phone(plan.mfa_enroll, plan.socket, &user.name, phone)?;
    }
    let socket = root_socket(plan.socket);
    let mut mailbox = Mailbox::new(plan.standin_dir)?;
    let mut sent = Vec::new();
    let mut totp = Vec::new();
    let mut errors = Vec::new();
    let started = Instant::now();
    for round in 0..plan.rounds {
        eprintln!(
            "mfa-bench: sent-code round {}/{} ({} users)",
            round + 1,
            plan.rounds,
            users.len()
        );
        for (index, (user, phone)) in users.iter_mut().zip(&phones).enumerate() {
            let counted = round > 0 || index >= WARMUP;
            // Alternates which kind goes first, so that neither always follows the other.
            for kind in if (round + index) % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            } {
                if kind {
                    match sent_code_login(&socket, &user.name, phone, &mut mailbox) {
                        Ok(times) if counted => sent.push(times),
                        Ok(_) => {}
                        Err(e) => errors.push(format!("sent code, {}: {e}", user.name)),
                    }
                } else {
                    match totp_login(&socket, user) {
                        Ok(times) if counted => totp.push(times),
                        Ok(_) => {}
                        Err(e) => errors.push(format!("TOTP, {}: {e}", user.name)),
                    }
                }
            }
        }
    }
    print_report(plan, users.len(), &sent, &totp, &errors, started.elapsed());
    Ok(())
}

/// The phone of the bench user at `index`: +1 415 555 and four digits (nothing reaches it:
/// the stand-in only records what it is asked to send).
fn phone_of(index: usize) -> String {
    format!("+1415555{:04}", index % 10_000)
}

/// `mfa-enroll --json --socket SOCKET phone PHONE --user NAME --unverified`, as root: the
/// phone is saved without a code.
fn add_phone(mfa_enroll: &Path, socket: &Path, user: &str, phone: &str) -> Result<(), BenchError> {
    let output = Command::new(mfa_enroll)
        .arg("--json")
        .arg("--socket")
        .arg(socket)
        .args(["phone", phone, "--user", user, "--unverified"])
        .stdin(Stdio::null())
        .output()
        .map_err(BenchError::io(format!("run {}", mfa_enroll.display())))?;
    if output.status.success() {
        return Ok(());
    }
    Err(BenchError::Enroll {
        user: user.to_owned(),
        why: format!(
            "mfa-enroll phone {phone} --unverified: {} {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    })
}

/// The messages a stand-in wrote, read in order as they come.
struct Mailbox {
    messages: PathBuf,
    /// The number of the next file to read.
    next: usize,
}

impl Mailbox {
    /// Starts after the messages already there.
    fn new(standin_dir: &Path) -> Result<Mailbox, BenchError> {
        let messages = standin_dir.join("messages");
        let existing = fs::read_dir(&messages)
            .map_err(BenchError::io(format!("read {}", messages.display())))?
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .count();
        Ok(Mailbox {
            messages,
            next: existing + 1,
        })
    }

    /// The code of the next message to `to`, skipping messages to anyone else.
    fn code_for(&mut self, to: &str) -> Result<String, String> {
        let deadline = Instant::now() + MESSAGE_TIMEOUT;
        loop {
            let path = self.messages.join(format!("{:04}.json", self.next));
            match fs::read_to_string(&path) {
                Ok(text) => {
                    self.next += 1;
                    let message: Value = serde_json::from_str(&text)
                        .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
                    if message["to"] == to {
                        return message["code"]
                            .as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| format!("no code in {}", path.display()));
                    }
                }
                Err(_) if Instant::now() < deadline => thread::sleep(POLL_INTERVAL),
                Err(e) => return Err(format!("no message to {to}: {}: {e}", path.display())),
            }
        }
    }
}

/// A conversation as root, up to its first prompt: connects and sends Authenticate; returns
/// the client, the menu shown and the time from connect to the prompt.
fn open(socket: &Path, user: &str) -> Result<(Client, String, Duration), String> {
    let started = Instant::now();
    let mut client = Client::connect(socket, TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    client
        .send(&Request::Authenticate {
            auth: AuthRequest {
                user: user.to_owned(),
                service: SERVICE.to_owned(),
                rhost: None,
                tty: None,
                ruser: None,
                auth_info: None,
                nullok: false,
            },
        })
        .map_err(|e| format!("send: {e}"))?;
    let mut menu = String::new();
    let prompt = until_prompt(&mut client, &mut menu)?;
    if !prompt.contains("or choose") {
        return Err(format!("no menu; prompted {prompt:?}"));
    }
    Ok((client, menu, started.elapsed()))
}

/// Reads steps up to the next prompt and returns its text; Info texts are appended to
/// `shown`.
fn until_prompt(client: &mut Client, shown: &mut String) -> Result<String, String> {
    loop {
        match next_step(client)? {
            Step::Prompt { text, .. } => return Ok(text),
            Step::Info { text } => {
                shown.push_str(&text);
                shown.push('\n');
            }
            other => return Err(format!("expected a prompt, got {other:?}")),
        }
    }
}

/// Reads steps up to Done; `Ok` on success.
fn until_done(client: &mut Client) -> Result<(), String> {
    loop {
        match next_step(client)? {
            Step::Info { .. } => {}
            Step::Done {
                outcome: Outcome::Success,
            } => return Ok(()),
            other => return Err(format!("expected success, got {other:?}")),
        }
    }
}

fn next_step(client: &mut Client) -> Result<Step, String> {
    match client.recv::<Step>().map_err(|e| format!("receive: {e}"))? {
        Step::Error { text } => Err(format!("daemon: {text}")),
        Step::Failed { message, .. } => Err(format!("refused: {message}")),
        step => Ok(step),
    }
}

fn answer(client: &mut Client, text: &str) -> Result<(), String> {
    client
        .send(&Request::Answer {
            text: Secret::from(text.to_owned()),
        })
        .map_err(|e| format!("send answer: {e}"))
}

/// The number of the menu entry that starts with `option`, from lines like
/// `  1. Text message to +1 •••-•••-0123`.
fn menu_number(menu: &str, option: &str) -> Option<String> {
    menu.lines().find_map(|line| {
        let (number, rest) = line.trim_start().split_once(". ")?;
        (rest.starts_with(option) && number.bytes().all(|b| b.is_ascii_digit()))
            .then(|| number.to_owned())
    })
}

fn sent_code_login(
    socket: &Path,
    user: &str,
    phone: &str,
    mailbox: &mut Mailbox,
) -> Result<SentTimes, String> {
    let (mut client, menu, opening) = open(socket, user)?;
    let choice = menu_number(&menu, SMS_OPTION)
        .ok_or_else(|| format!("no {SMS_OPTION:?} in the menu: {menu:?}"))?;
    let chosen = Instant::now();
    answer(&mut client, &choice)?;
    let prompt = until_prompt(&mut client, &mut String::new())?;
    let send = chosen.elapsed();
    if prompt != CODE_PROMPT {
        return Err(format!("expected {CODE_PROMPT:?}, got {prompt:?}"));
    }
    let code = mailbox.code_for(phone)?;
    let answered = Instant::now();
    answer(&mut client, &code)?;
    until_done(&mut client)?;
    Ok(SentTimes {
        opening,
        send,
        verify: answered.elapsed(),
    })
}

fn totp_login(socket: &Path, user: &mut BenchUser) -> Result<TotpTimes, String> {
    let (step, code) = schedule::next_code(user);
    let (mut client, _menu, opening) = open(socket, &user.name)?;
    let answered = Instant::now();
    answer(&mut client, &code)?;
    until_done(&mut client)?;
    user.last_step = step;
    Ok(TotpTimes {
        opening,
        verify: answered.elapsed(),
    })
}

fn print_report(
    plan: &SentCodePlan<'_>,
    users: usize,
    sent: &[SentTimes],
    totp: &[TotpTimes],
    errors: &[String],
    elapsed: Duration,
) {
    println!(
        "{} rounds x {users} users, each with a phone; per user and round one login with a code \
         sent by text message and one with a TOTP code at the same menu prompt, in alternating \
         order; the first {WARMUP} of each kind not counted; {} errors; {:.0} s.\n",
        plan.rounds,
        errors.len(),
        elapsed.as_secs_f64()
    );
    println!("| login | step | logins | median ms | p90 ms | p99 ms | max ms |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    let row = |login: &str, step: &str, samples: Vec<Duration>| match Summary::of(&samples) {
        Some(s) => println!(
            "| {login} | {step} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
            s.count, s.p50, s.p90, s.p99, s.max
        ),
        None => println!("| {login} | {step} | 0 | - | - | - | - |"),
    };
    let by_text = "code by text message";
    row(
        by_text,
        "**added latency, send excluded: connect to menu prompt + code to Done**",
        sent.iter().map(|t| t.opening + t.verify).collect(),
    );
    row(
        by_text,
        "code to Done (checking the sent code)",
        sent.iter().map(|t| t.verify).collect(),
    );
    row(
        by_text,
        "connect to menu prompt",
        sent.iter().map(|t| t.opening).collect(),
    );
    row(
        by_text,
        "(excluded) menu choice to `Code:` prompt: the provider call",
        sent.iter().map(|t| t.send).collect(),
    );
    let by_app = "TOTP code at the menu prompt";
    row(
        by_app,
        "connect to menu prompt + code to Done",
        totp.iter().map(|t| t.opening + t.verify).collect(),
    );
    row(
        by_app,
        "code to Done (checking it, recording its step durably)",
        totp.iter().map(|t| t.verify).collect(),
    );
    for error in errors.iter().take(ERRORS_SHOWN) {
        println!("- error: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_numbers_are_found_by_option() {
        let menu = "Verification options:\n  1. Text message to +1 •••-•••-0123\n  2. Phone \
                    call to +1 •••-•••-0123\n  3. Email to a•••@example.com\n";
        assert_eq!(menu_number(menu, SMS_OPTION).as_deref(), Some("1"));
        assert_eq!(menu_number(menu, "Email to").as_deref(), Some("3"));
        assert_eq!(menu_number(menu, "Fax to"), None);
    }

    #[test]
    fn phones_are_e164_and_distinct() {
        assert_eq!(phone_of(7), "+14155550007");
        assert_ne!(phone_of(1), phone_of(2));
    }
}
