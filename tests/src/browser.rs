//! A real browser for the end-to-end suites: headless Chromium (Debian's `chromium`) driven
//! over the DevTools protocol (CDP), with WebAuthn virtual authenticators standing in for a
//! phone's passkeys.
//!
//! [`Browser::launch`] starts Chromium with a profile in a [`ScratchDir`], where its PID is
//! recorded so that a later run stops it if this one is killed; dropping the [`Browser`] kills
//! it (its whole process group, by PID) and removes the profile. [`Browser::new_page`] opens a
//! tab with a CDP connection of its own. Every command waits at most [`CALL_TIMEOUT`].

mod cdp;
mod webauthn;

use std::fs;
use std::io::{self, ErrorKind};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

use crate::scratch::ScratchDir;
use cdp::{Connection, exception_text};

pub use cdp::CALL_TIMEOUT;
pub use webauthn::{AuthenticatorId, AuthenticatorOptions, Credential};

/// The browser, as Debian installs it (`/usr/bin/chromium`).
const CHROMIUM: &str = "chromium";
/// How long Chromium may take to open its DevTools port.
pub const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a page may take to load.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How much of Chromium's own log an error quotes.
const LOG_TAIL_LINES: usize = 20;

/// Headless, as root (hence no sandbox), and quiet: no first-run pages, no GPU, and no
/// traffic of its own (updates, sync, safe browsing), since the tests have no internet.
const FLAGS: [&str; 14] = [
    "--headless=new",
    "--no-sandbox",
    "--remote-debugging-port=0",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--password-store=basic",
    "--use-mock-keychain",
    "--window-size=1280,900",
];

/// What went wrong while driving the browser.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// There is no `chromium` on `PATH`.
    #[error("`{CHROMIUM}` is not installed: run scripts/install-deps.sh (Debian package chromium)")]
    ChromiumMissing,
    /// Starting it failed otherwise.
    #[error("cannot start `{CHROMIUM}`: {0}")]
    Spawn(#[source] io::Error),
    /// It exited before it opened its DevTools port.
    #[error("chromium exited ({status}) before it opened its DevTools port; its log ends:\n{log}")]
    Exited {
        /// How it exited.
        status: ExitStatus,
        /// The end of its log.
        log: String,
    },
    /// It did not say which port it listens on in time.
    #[error("chromium wrote no port to {} within {timeout:?}; its log ends:\n{log}", path.display())]
    NoPort {
        /// The `DevToolsActivePort` file it should have written.
        path: PathBuf,
        /// How long it was given.
        timeout: Duration,
        /// The end of its log.
        log: String,
    },
    /// The DevTools websocket could not be opened.
    #[error("cannot connect to the DevTools socket {url}: {reason}")]
    Connect {
        /// The websocket's address.
        url: String,
        /// Why.
        reason: String,
    },
    /// The DevTools websocket failed after it was opened.
    #[error("DevTools socket: {0}")]
    Socket(#[source] Box<tungstenite::Error>),
    /// Chromium answered a command with an error.
    #[error("{method} failed: {message} (CDP error {code})")]
    Cdp {
        /// The command, e.g. `WebAuthn.addCredential`.
        method: String,
        /// CDP's error code.
        code: i64,
        /// CDP's error message.
        message: String,
    },
    /// Chromium did not answer a command in time.
    #[error("no answer to {method} within {timeout:?}")]
    NoAnswer {
        /// The command.
        method: String,
        /// How long it was given.
        timeout: Duration,
    },
    /// Chromium answered with something this driver does not understand.
    #[error("unexpected answer to {method}: {answer}")]
    Unexpected {
        /// The command.
        method: String,
        /// The answer.
        answer: String,
    },
    /// A script threw, or the promise it returned was rejected.
    #[error("the script threw {message}\n--- script ---\n{script}")]
    Script {
        /// The script.
        script: String,
        /// The exception: its description (name, message, stack) or the value thrown.
        message: String,
    },
    /// Something waited for did not happen in time.
    #[error("{what} did not happen within {timeout:?}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long it was given.
        timeout: Duration,
    },
    /// A navigation failed (no server, refused certificate, ...).
    #[error("cannot load {url}: {reason}")]
    Navigation {
        /// Where to.
        url: String,
        /// Chromium's reason, e.g. `net::ERR_CONNECTION_REFUSED`.
        reason: String,
    },
    /// An element to click or type into is not there, or not visible.
    #[error("element `{selector}`: {problem}")]
    Element {
        /// Its CSS selector.
        selector: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// The Chromium process and its profile; dropping it kills the process group and then
/// removes the profile.
#[derive(Debug)]
struct ChromiumProcess {
    child: Child,
    scratch: ScratchDir,
}

impl ChromiumProcess {
    fn profile(&self) -> PathBuf {
        self.scratch.path().join("profile")
    }

    fn log(&self) -> PathBuf {
        self.scratch.path().join("chromium.log")
    }

    fn start(extra_flags: &[&str]) -> Result<ChromiumProcess, BrowserError> {
        let scratch = ScratchDir::create();
        let log_path = scratch.path().join("chromium.log");
        let log = fs::File::create(&log_path).map_err(|source| BrowserError::Write {
            path: log_path,
            source,
        })?;
        let mut command = Command::new(CHROMIUM);
        command
            .args(FLAGS)
            .args(extra_flags)
            .arg(format!(
                "--user-data-dir={}",
                scratch.path().join("profile").display()
            ))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(BrowserError::Spawn)?)
            .stderr(log)
            // Its renderer, GPU and network processes share its group, and go with it.
            .process_group(0);
        let child = command.spawn().map_err(|e| match e.kind() {
            ErrorKind::NotFound => BrowserError::ChromiumMissing,
            _ => BrowserError::Spawn(e),
        })?;
        scratch.record_pid("chromium", child.id());
        Ok(ChromiumProcess { child, scratch })
    }

    /// Waits for `DevToolsActivePort` ("PORT\n/devtools/browser/ID") in the profile.
    fn devtools_address(&mut self) -> Result<(u16, String), BrowserError> {
        let path = self.profile().join("DevToolsActivePort");
        let deadline = Instant::now() + LAUNCH_TIMEOUT;
        loop {
            let text = fs::read_to_string(&path).unwrap_or_default();
            let mut lines = text.lines();
            if let (Some(Ok(port)), Some(browser)) = (lines.next().map(str::parse), lines.next()) {
                return Ok((port, browser.to_owned()));
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = log_tail(&self.log());
                return Err(BrowserError::Exited { status, log });
            }
            if Instant::now() >= deadline {
                let log = log_tail(&self.log());
                let timeout = LAUNCH_TIMEOUT;
                return Err(BrowserError::NoPort { path, timeout, log });
            }
            thread::sleep(POLL_INTERVAL);
        }
    }
}

impl Drop for ChromiumProcess {
    fn drop(&mut self) {
        let group = Pid::from_raw(-(self.child.id() as i32));
        let _ = kill(group, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// The last lines of Chromium's log, for error messages.
fn log_tail(path: &Path) -> String {
    let log = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// A headless Chromium, killed on drop.
#[derive(Debug)]
pub struct Browser {
    connection: Connection,
    port: u16,
    process: ChromiumProcess,
}

impl Browser {
    /// Starts Chromium and connects to it.
    pub fn launch() -> Result<Browser, BrowserError> {
        Browser::launch_with(&[])
    }

    /// Starts Chromium with `extra_flags` after the usual ones (say
    /// `--host-resolver-rules=MAP example.test 127.0.0.1` to reach a stand-in under the name
    /// a certificate or an RP ID needs) and connects to it.
    pub fn launch_with(extra_flags: &[&str]) -> Result<Browser, BrowserError> {
        crate::sweep_leftovers_once();
        let mut process = ChromiumProcess::start(extra_flags)?;
        let (port, path) = process.devtools_address()?;
        let connection = Connection::open(port, &path)?;
        Ok(Browser {
            connection,
            port,
            process,
        })
    }

    /// The browser's PID.
    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }

    /// Opens a new tab on `about:blank`. It stops working when the browser is dropped.
    pub fn new_page(&mut self) -> Result<Page, BrowserError> {
        let method = "Target.createTarget";
        let answer = self
            .connection
            .call(method, json!({"url": "about:blank"}))?;
        let Some(target) = answer["targetId"].as_str() else {
            return Err(BrowserError::Unexpected {
                method: method.to_owned(),
                answer: answer.to_string(),
            });
        };
        let mut connection = Connection::open(self.port, &format!("/devtools/page/{target}"))?;
        for domain in ["Page", "Runtime", "Log"] {
            connection.call(&format!("{domain}.enable"), json!({}))?;
        }
        Ok(Page { connection })
    }
}

/// One tab.
#[derive(Debug)]
pub struct Page {
    connection: Connection,
}

impl Page {
    /// Loads `url` and waits for its load event.
    pub fn navigate(&mut self, url: &str) -> Result<(), BrowserError> {
        self.connection.forget_events();
        let answer = self.connection.call("Page.navigate", json!({"url": url}))?;
        if let Some(reason) = answer["errorText"].as_str().filter(|text| !text.is_empty()) {
            return Err(BrowserError::Navigation {
                url: url.to_owned(),
                reason: reason.to_owned(),
            });
        }
        self.connection
            .wait_event("Page.loadEventFired", LOAD_TIMEOUT)
            .map(drop)
    }

    /// Runs `script` in the page and returns its value, after the promise it returns (if it
    /// does) settles. It runs as if the user had just clicked (WebAuthn may ask for that).
    pub fn evaluate(&mut self, script: &str) -> Result<Value, BrowserError> {
        let params = json!({
            "expression": script,
            "awaitPromise": true,
            "returnByValue": true,
            "userGesture": true,
        });
        let mut answer = self.connection.call("Runtime.evaluate", params)?;
        if let Some(details) = answer.get("exceptionDetails") {
            return Err(BrowserError::Script {
                script: script.to_owned(),
                message: exception_text(details),
            });
        }
        Ok(answer["result"]["value"].take())
    }

    /// Waits until `condition` (a JavaScript expression) is truthy. While it throws (the page
    /// is still loading, say) it counts as false; what it last threw is in the timeout error.
    pub fn wait_for(&mut self, condition: &str, timeout: Duration) -> Result<(), BrowserError> {
        let deadline = Instant::now() + timeout;
        let script = format!("Boolean({condition})");
        let mut last_exception = String::new();
        loop {
            match self.evaluate(&script) {
                Ok(Value::Bool(true)) => return Ok(()),
                Ok(_) => {}
                Err(BrowserError::Script { message, .. }) => last_exception = message,
                Err(other) => return Err(other),
            }
            if Instant::now() >= deadline {
                let thrown = match last_exception.as_str() {
                    "" => String::new(),
                    text => format!(" (it last threw {text})"),
                };
                let what = format!("`{condition}`{thrown}");
                return Err(BrowserError::Timeout { what, timeout });
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Clicks the middle of the first element `selector` matches with the mouse, as a user
    /// would (a trusted event, which user-activation checks accept).
    pub fn click(&mut self, selector: &str) -> Result<(), BrowserError> {
        let script = format!(
            "(() => {{ const e = document.querySelector({selector}); if (!e) return 'missing'; \
             e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
             if (r.width === 0 || r.height === 0) return 'hidden'; \
             return [r.x + r.width / 2, r.y + r.height / 2]; }})()",
            selector = json!(selector)
        );
        let point = self.evaluate(&script)?;
        let (Some(x), Some(y)) = (point[0].as_f64(), point[1].as_f64()) else {
            let problem = match point.as_str() {
                Some("hidden") => "is not visible",
                _ => "matches no element",
            };
            let selector = selector.to_owned();
            return Err(BrowserError::Element { selector, problem });
        };
        for event in ["mousePressed", "mouseReleased"] {
            let params = json!({"type": event, "x": x, "y": y, "button": "left", "clickCount": 1});
            self.connection.call("Input.dispatchMouseEvent", params)?;
        }
        Ok(())
    }

    /// Replaces the text of the field `selector` matches with `text`, typed as one input.
    pub fn type_into(&mut self, selector: &str, text: &str) -> Result<(), BrowserError> {
        let script = format!(
            "(() => {{ const e = document.querySelector({selector}); if (!e) return false; \
             e.focus(); if (e.select) e.select(); return true; }})()",
            selector = json!(selector)
        );
        if self.evaluate(&script)? != Value::Bool(true) {
            let selector = selector.to_owned();
            let problem = "matches no element";
            return Err(BrowserError::Element { selector, problem });
        }
        self.connection
            .call("Input.insertText", json!({"text": text}))
            .map(drop)
    }

    /// Saves what the page shows as a PNG file at `path`.
    pub fn screenshot(&mut self, path: &Path) -> Result<(), BrowserError> {
        let method = "Page.captureScreenshot";
        let answer = self.connection.call(method, json!({"format": "png"}))?;
        let png = answer["data"]
            .as_str()
            .and_then(|data| data_encoding::BASE64.decode(data.as_bytes()).ok())
            .ok_or_else(|| BrowserError::Unexpected {
                method: method.to_owned(),
                answer: answer.to_string(),
            })?;
        fs::write(path, png).map_err(|source| BrowserError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// What the page wrote to its console, what it threw uncaught and what Chromium logged
    /// about it (refused requests, Content-Security-Policy violations), one a line: for
    /// failure messages.
    pub fn console(&mut self) -> Vec<String> {
        self.connection.console()
    }
}
