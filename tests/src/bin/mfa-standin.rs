//! Runs one provider stand-in of `mfa_tests::standins` as a process of its own, for
//! `scripts/demo.sh` and `bench/run.sh`: Twilio's REST API or a signed-webhook receiver on
//! 127.0.0.1, until it is killed.
//!
//! ```text
//! mfa-standin twilio  --dir DIR --account-sid AC… --auth-token-file FILE
//! mfa-standin webhook --dir DIR --secret-file FILE
//! ```
//!
//! It prints its base URL (the value for `[twilio] api_url` or `[webhook] url`) on stdout and
//! writes it to `DIR/url` once it accepts connections. Every message it accepts becomes
//! `DIR/messages/NNNN.json` (written whole, then renamed into place), with the code a user
//! would read in it: `{"kind", "to", "body", "code"}` (and `from`, `sid` for Twilio).

#![forbid(unsafe_code)]

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use mfa_tests::standins::{Kind, TwilioStandin, WebhookStandin, extract_code};
use serde_json::{Value, json};

/// How often new messages are looked for; far below what a person takes to read one.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

const USAGE: &str = "usage: mfa-standin twilio --dir DIR --account-sid AC… --auth-token-file FILE\n       \
                     mfa-standin webhook --dir DIR --secret-file FILE";

/// The stand-in to run.
enum Provider {
    Twilio {
        account_sid: String,
        auth_token_file: PathBuf,
    },
    Webhook {
        secret_file: PathBuf,
    },
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args).and_then(|(provider, dir)| serve(&provider, &dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "mfa-standin: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> Result<(Provider, PathBuf), String> {
    let (kind, options) = args.split_first().ok_or(USAGE)?;
    let mut dir = None;
    let mut account_sid = None;
    let mut credential = None;
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        let value = rest
            .next()
            .ok_or_else(|| format!("{option} needs a value\n{USAGE}"))?;
        match (kind.as_str(), option.as_str()) {
            (_, "--dir") => dir = Some(PathBuf::from(value)),
            ("twilio", "--account-sid") => account_sid = Some(value.clone()),
            ("twilio", "--auth-token-file") | ("webhook", "--secret-file") => {
                credential = Some(PathBuf::from(value));
            }
            _ => return Err(format!("unknown option {option} for {kind}\n{USAGE}")),
        }
    }
    let dir = dir.ok_or_else(|| format!("--dir is missing\n{USAGE}"))?;
    let credential = credential.ok_or_else(|| format!("a credential file is missing\n{USAGE}"))?;
    let provider = match kind.as_str() {
        "twilio" => Provider::Twilio {
            account_sid: account_sid.ok_or_else(|| format!("--account-sid is missing\n{USAGE}"))?,
            auth_token_file: credential,
        },
        "webhook" => Provider::Webhook {
            secret_file: credential,
        },
        other => return Err(format!("unknown stand-in {other:?}\n{USAGE}")),
    };
    Ok((provider, dir))
}

/// The credential in `path`, without its trailing newline (as the daemon reads it).
fn read_credential(path: &Path) -> Result<String, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text.strip_suffix('\n').unwrap_or(&text).to_owned())
}

/// Runs the stand-in and records what it receives, until the process is killed.
fn serve(provider: &Provider, dir: &Path) -> Result<(), String> {
    let messages = dir.join("messages");
    fs::create_dir_all(&messages)
        .map_err(|e| format!("cannot create {}: {e}", messages.display()))?;
    match provider {
        Provider::Twilio {
            account_sid,
            auth_token_file,
        } => {
            let standin = TwilioStandin::start(account_sid, &read_credential(auth_token_file)?);
            announce(dir, &standin.url())?;
            record_forever(&messages, || {
                standin
                    .messages()
                    .into_iter()
                    .map(|m| {
                        json!({
                            "kind": match m.kind { Kind::Sms => "sms", Kind::Call => "call" },
                            "to": m.to,
                            "from": m.from,
                            "sid": m.sid,
                            "code": extract_code(&m.body),
                            "body": m.body,
                        })
                    })
                    .collect()
            })
        }
        Provider::Webhook { secret_file } => {
            let standin = WebhookStandin::start(&read_credential(secret_file)?);
            announce(dir, &standin.url())?;
            record_forever(&messages, || {
                standin
                    .calls()
                    .into_iter()
                    .map(|call| {
                        let payload = &call.payload;
                        json!({
                            "kind": payload["channel"],
                            "to": payload["to"],
                            "verified": call.verified,
                            "code": payload["code"],
                            "body": payload["text"],
                        })
                    })
                    .collect()
            })
        }
    }
}

/// Prints the URL and writes it to `DIR/url`, whole or not at all.
fn announce(dir: &Path, url: &str) -> Result<(), String> {
    write_whole(&dir.join("url"), &format!("{url}\n"))?;
    let mut stdout = io::stdout();
    writeln!(stdout, "{url}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))
}

/// Writes each message `received` lists, once, as `messages/NNNN.json` (from 0001).
fn record_forever(messages: &Path, received: impl Fn() -> Vec<Value>) -> Result<(), String> {
    let mut written = 0;
    loop {
        for message in received().into_iter().skip(written) {
            written += 1;
            write_whole(
                &messages.join(format!("{written:04}.json")),
                &format!("{message}\n"),
            )?;
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Writes `text` to a temp file beside `path` and renames it over `path`, so that a reader
/// never sees half of it.
fn write_whole(path: &Path, text: &str) -> Result<(), String> {
    let temp = path.with_extension("tmp");
    fs::write(&temp, text)
        .and_then(|()| fs::rename(&temp, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
