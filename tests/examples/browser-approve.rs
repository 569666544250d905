//! The phone of `scripts/demo.sh`: headless Chromium with a WebAuthn virtual authenticator
//! (a passkey as a phone's Face ID or screen lock would hold it) that opens a page of
//! `mfa-web` and does what a person would do there.
//!
//! ```text
//! browser-approve enroll URL KEY_FILE
//! browser-approve approve URL NUMBER KEY_FILE [--screenshot FILE]
//! ```
//!
//! `enroll` opens the link `mfa-enroll passkey` printed, presses "Add passkey" and saves the
//! passkey the authenticator made in KEY_FILE (mode 0600: it holds the private key). `approve`
//! puts that passkey into a fresh authenticator, opens the approval page, picks NUMBER (the
//! one the sign-in prompt shows) and confirms with the passkey, then saves it again (its
//! signature counter moved). Each run says what the page showed and exits 0 only if the page
//! ended in success. Chromium is this program's child and leads its own process group: a
//! script that has to kill this program stops that group too (`scripts/demo.sh` does).
//!
//! Build: `cargo build --release -p mfa-tests --example browser-approve`. Needs root (the
//! browser's profile goes where the test fixtures put theirs) and Debian's `chromium`.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use mfa_tests::browser::{
    AuthenticatorId, AuthenticatorOptions, Browser, BrowserError, Credential, Page,
};
use serde_json::Value;

const USAGE: &str = "usage: browser-approve enroll URL KEY_FILE\n       \
                     browser-approve approve URL NUMBER KEY_FILE [--screenshot FILE]";

/// How long a page may take to show what the daemon answered.
const PAGE_WAIT: Duration = Duration::from_secs(20);

/// The page has finished: `#status` says how.
const VERDICT: &str = "['done', 'error'].includes(document.getElementById('status').className)";

/// What went wrong.
#[derive(Debug, thiserror::Error)]
enum PhoneError {
    /// The command line is wrong.
    #[error("{0}\n{USAGE}")]
    Usage(String),
    /// The browser failed.
    #[error("{0}")]
    Browser(#[from] BrowserError),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The key file holds no passkey this program saved.
    #[error("{}: not a list of credentials saved by `browser-approve enroll`", .0.display())]
    KeyFile(PathBuf),
    /// The page refused or failed; its own words.
    #[error("the page says: {0}")]
    Refused(String),
    /// The approval page does not offer the number.
    #[error("the page offers {offered:?}, not {number:02}")]
    NoSuchChoice {
        /// The number asked for.
        number: u8,
        /// What the page shows.
        offered: Vec<String>,
    },
}

/// What to do.
#[derive(Debug)]
enum Task {
    Enroll {
        url: String,
        keys: PathBuf,
    },
    Approve {
        url: String,
        number: u8,
        keys: PathBuf,
        screenshot: Option<PathBuf>,
    },
}

fn parse(args: &[String]) -> Result<Task, PhoneError> {
    let mut positional = Vec::new();
    let mut screenshot = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg != "--screenshot" {
            positional.push(arg.as_str());
            continue;
        }
        let value = rest
            .next()
            .ok_or_else(|| PhoneError::Usage(format!("{arg} needs a file")))?;
        screenshot = Some(PathBuf::from(value));
    }
    let task = match positional.as_slice() {
        ["enroll", url, keys] => Task::Enroll {
            url: (*url).to_owned(),
            keys: PathBuf::from(keys),
        },
        ["approve", url, number, keys] => Task::Approve {
            url: (*url).to_owned(),
            number: number
                .parse()
                .ok()
                .filter(|n| *n < 100)
                .ok_or_else(|| PhoneError::Usage(format!("NUMBER `{number}` is not 0-99")))?,
            keys: PathBuf::from(keys),
            screenshot,
        },
        _ => return Err(PhoneError::Usage("wrong arguments".to_owned())),
    };
    Ok(task)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = parse(&args).and_then(run);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("browser-approve: {e}");
            match e {
                PhoneError::Usage(_) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn run(task: Task) -> Result<(), PhoneError> {
    let mut browser = Browser::launch()?;
    let mut page = browser.new_page()?;
    page.navigate("about:blank")?;
    let authenticator = page.add_virtual_authenticator(AuthenticatorOptions::default())?;
    match task {
        Task::Enroll { url, keys } => enroll(&mut page, &authenticator, &url, &keys),
        Task::Approve {
            url,
            number,
            keys,
            screenshot,
        } => {
            for credential in load(&keys)? {
                page.add_credential(&authenticator, &credential)?;
            }
            approve(&mut page, &url, number, screenshot.as_deref())?;
            save(&mut page, &authenticator, &keys)
        }
    }
}

/// Opens the enrollment link, adds the passkey and saves it.
fn enroll(
    page: &mut Page,
    authenticator: &AuthenticatorId,
    url: &str,
    keys: &Path,
) -> Result<(), PhoneError> {
    page.navigate(url)?;
    page.wait_for(
        "!document.getElementById('enroll-form').hidden \
         || document.getElementById('status').className === 'error'",
        PAGE_WAIT,
    )?;
    refused_yet(page)?;
    let shown = texts(page, &["user", "host", "label"])?;
    say(&format!(
        "the page shows \"Add a passkey\": account {}, host {}, passkey name {}",
        shown[0], shown[1], shown[2]
    ));
    say("\"Add passkey\" pressed; the authenticator verifies the user and makes the passkey");
    page.click("#add-passkey")?;
    page.wait_for(VERDICT, PAGE_WAIT)?;
    let done = finished(page)?;
    say(&format!("the page says: {done}"));
    save(page, authenticator, keys)
}

/// Opens the approval page, picks `number` and confirms with the passkey.
fn approve(
    page: &mut Page,
    url: &str,
    number: u8,
    screenshot: Option<&Path>,
) -> Result<(), PhoneError> {
    page.navigate(url)?;
    page.wait_for(
        "!document.getElementById('details').hidden \
         || document.getElementById('status').className === 'error'",
        PAGE_WAIT,
    )?;
    refused_yet(page)?;
    let shown = texts(page, &["user", "host", "service", "source"])?;
    let choices = texts(page, &["choice-0", "choice-1", "choice-2"])?;
    say(&format!(
        "the page shows \"Approve a sign-in?\": account {}, host {}, service {}, from {}",
        shown[0], shown[1], shown[2], shown[3]
    ));
    say(&format!(
        "\"Which number does the sign-in screen show?\" {}",
        choices.join(" ")
    ));
    if let Some(path) = screenshot {
        page.screenshot(path)?;
    }
    let wanted = format!("{number:02}");
    let Some(at) = choices.iter().position(|c| *c == wanted) else {
        return Err(PhoneError::NoSuchChoice {
            number,
            offered: choices,
        });
    };
    say(&format!("{wanted} picked; the passkey signs the request"));
    page.click(&format!("#choice-{at}"))?;
    page.wait_for(VERDICT, PAGE_WAIT)?;
    let done = finished(page)?;
    say(&format!("the page says: {done}"));
    Ok(())
}

/// Fails with the page's words if it already shows an error (an unknown or expired link).
fn refused_yet(page: &mut Page) -> Result<(), PhoneError> {
    let status = page.evaluate(
        "(() => { const s = document.getElementById('status'); \
         return s.className === 'error' ? s.textContent : null; })()",
    )?;
    match status.as_str() {
        Some(text) => Err(PhoneError::Refused(text.to_owned())),
        None => Ok(()),
    }
}

/// `#status`'s text if the page ended in success, else its words as the error.
fn finished(page: &mut Page) -> Result<String, PhoneError> {
    let status = page.evaluate(
        "(() => { const s = document.getElementById('status'); \
         return [s.className, s.textContent]; })()",
    )?;
    let text = status[1].as_str().unwrap_or_default().to_owned();
    match status[0].as_str() {
        Some("done") => Ok(text),
        _ => Err(PhoneError::Refused(text)),
    }
}

/// The text of the elements with these ids.
fn texts(page: &mut Page, ids: &[&str]) -> Result<Vec<String>, PhoneError> {
    let script = format!(
        "{}.map((id) => document.getElementById(id).textContent)",
        serde_json::json!(ids)
    );
    let value = page.evaluate(&script)?;
    Ok(ids
        .iter()
        .enumerate()
        .map(|(i, _)| value[i].as_str().unwrap_or_default().to_owned())
        .collect())
}

fn say(line: &str) {
    println!("   phone: {line}");
}

/// Writes the authenticator's credentials (private keys included) to `path`.
fn save(page: &mut Page, authenticator: &AuthenticatorId, path: &Path) -> Result<(), PhoneError> {
    let credentials: Vec<Value> = page
        .credentials(authenticator)?
        .iter()
        .map(|c| c.as_json().clone())
        .collect();
    let text = Value::Array(credentials).to_string();
    write_file(path, text.as_bytes())
}

fn load(path: &Path) -> Result<Vec<Credential>, PhoneError> {
    let text = fs::read_to_string(path).map_err(|source| PhoneError::File {
        path: path.to_owned(),
        source,
    })?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(list)) if !list.is_empty() => {
            Ok(list.into_iter().map(Credential::from_json).collect())
        }
        _ => Err(PhoneError::KeyFile(path.to_owned())),
    }
}

/// Replaces `path` with `contents`, readable by its owner only.
fn write_file(path: &Path, contents: &[u8]) -> Result<(), PhoneError> {
    let error = |source| PhoneError::File {
        path: path.to_owned(),
        source,
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(error)?;
    file.write_all(contents).map_err(error)
}
