//! The OTP providers a daemon sends through in the suites: the Twilio stand-in for text
//! messages and calls and the SMTP stand-in (STARTTLS, AUTH, the test CA) for email, their
//! credentials in 0600 files, the config that points the daemon at them, and enrolling a
//! phone or address through the real `mfa-enroll` with the code the stand-in received.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::daemon::Daemon;
use crate::enroll::mfa_enroll;
use crate::process::{Interaction, Run};
use crate::scratch::{ScratchDir, write_file};
use crate::standins::{
    Kind, SmtpOptions, SmtpSecurity, SmtpStandin, TwilioStandin, email_code, extract_code,
};
use crate::text::PROOF_PROMPT;

/// The Twilio account the stand-in serves (`AC` and 32 hex digits).
pub const TWILIO_ACCOUNT_SID: &str = "ACe2e00000000000000000000000000001";
/// The number text messages and calls come from.
pub const SMS_SENDER: &str = "+15005550006";
/// The SMTP AUTH user.
const SMTP_USER: &str = "mfa-relay";
/// The line a provider section needs for plain text to a stand-in on a high loopback port.
pub const PLAINTEXT_FOR_TESTS: &str = "insecure_loopback_plaintext_for_tests = true";
/// How long a message may take to reach a stand-in once the daemon has sent it.
pub const DELIVERY_WAIT: Duration = Duration::from_secs(10);

/// The two stand-ins and the credential files the daemon reads. Stopped and removed on drop.
#[derive(Debug)]
pub struct Providers {
    /// Text messages and calls.
    pub twilio: TwilioStandin,
    /// Email, over STARTTLS with AUTH.
    pub smtp: SmtpStandin,
    auth_token: String,
    smtp_password: String,
    token_file: PathBuf,
    password_file: PathBuf,
    scratch: ScratchDir,
}

impl Providers {
    /// Starts both stand-ins with fresh credentials, written to 0600 files.
    pub fn start() -> Providers {
        let auth_token = fresh_secret("tok");
        let smtp_password = fresh_secret("pw");
        let scratch = ScratchDir::create();
        let token_file = scratch.path().join("twilio-auth-token");
        let password_file = scratch.path().join("smtp-password");
        write_file(&token_file, &format!("{auth_token}\n"), 0o600);
        write_file(&password_file, &format!("{smtp_password}\n"), 0o600);
        let twilio = TwilioStandin::start(TWILIO_ACCOUNT_SID, &auth_token);
        let smtp = SmtpStandin::start(SmtpOptions {
            security: SmtpSecurity::StartTls,
            auth: Some((SMTP_USER.to_owned(), smtp_password.clone())),
        });
        Providers {
            twilio,
            smtp,
            auth_token,
            smtp_password,
            token_file,
            password_file,
            scratch,
        }
    }

    /// The `[sms]`, `[twilio]` and `[email]` tables that send through the stand-ins; goes
    /// after any top-level keys and other tables of a daemon's config. The Twilio stand-in
    /// speaks plain http on a high loopback port, which only the test suites' setting allows.
    pub fn config(&self) -> String {
        format!(
            "[sms]\nprovider = \"twilio\"\n\
             [twilio]\naccount_sid = \"{TWILIO_ACCOUNT_SID}\"\nauth_token_file = {}\n\
             from = \"{SMS_SENDER}\"\napi_url = \"{}\"\n{PLAINTEXT_FOR_TESTS}\n\
             [email]\nsmtp_host = \"localhost\"\nsmtp_port = {}\ntls = \"starttls\"\n\
             username = \"{SMTP_USER}\"\npassword_file = {}\n\
             from = \"Login codes <mfa@mfa-tests.example>\"\nca_file = {}\n",
            toml_path(&self.token_file),
            self.twilio.url(),
            self.smtp.port(),
            toml_path(&self.password_file),
            toml_path(
                self.smtp
                    .ca_file()
                    .expect("the SMTP stand-in runs with TLS")
            ),
        )
    }

    /// The file holding the Twilio auth token.
    pub fn token_file(&self) -> &Path {
        &self.token_file
    }

    /// A directory for files a test writes beside the credentials (config drafts).
    pub fn scratch(&self) -> &Path {
        self.scratch.path()
    }

    /// The credentials, for `assert_log_omits`.
    pub fn secrets(&self) -> Vec<String> {
        vec![self.auth_token.clone(), self.smtp_password.clone()]
    }

    /// The code of the oldest text message with a code to `number` that was not read yet.
    pub fn sms_code(&self, number: &str) -> String {
        let sms = self.twilio.wait_for_where(number, DELIVERY_WAIT, |m| {
            m.kind == Kind::Sms && m.body.contains("is your verification code")
        });
        extract_code(&sms.body).unwrap_or_else(|| panic!("no code in the text {:?}", sms.body))
    }

    /// The code read out in the oldest call to `number` that was not read yet.
    pub fn call_code(&self, number: &str) -> String {
        let call = self.twilio.wait_for_where(number, DELIVERY_WAIT, |m| {
            m.kind == Kind::Call && m.body.contains("Your verification code")
        });
        extract_code(&call.body).unwrap_or_else(|| panic!("no code in the call {:?}", call.body))
    }

    /// The code in the oldest email with a code to `address` that was not read yet.
    pub fn email_code(&self, address: &str) -> String {
        let mail = self.smtp.wait_for_where(address, DELIVERY_WAIT, |m| {
            m.header("Subject")
                .is_some_and(|s| s.starts_with("Verification code"))
        });
        email_code(&mail.body()).unwrap_or_else(|| panic!("no code in the mail {:?}", mail.data))
    }

    /// The oldest security notice to `number` (a text message) not read yet.
    pub fn sms_notice(&self, number: &str) -> String {
        self.twilio
            .wait_for_where(number, DELIVERY_WAIT, |m| {
                m.kind == Kind::Sms && m.body.starts_with("Security notice")
            })
            .body
    }

    /// The body of the oldest security notice to `address` not read yet.
    pub fn email_notice(&self, address: &str) -> String {
        self.smtp
            .wait_for_where(address, DELIVERY_WAIT, |m| {
                m.header("Subject")
                    .is_some_and(|s| s.starts_with("Security notice"))
            })
            .body()
    }

    /// Adds `number` to `user` as root, typing back the code texted to it; panics if that
    /// fails. Returns the enrollment run.
    pub fn add_phone(&self, daemon: &Daemon, user: &str, number: &str) -> ContactEnrollment {
        let added = add_contact(
            daemon,
            None,
            &["phone", number, "--user", user],
            None,
            || self.sms_code(number),
        );
        added.assert_enrolled(daemon);
        added
    }

    /// Adds `address` to `user` as root, typing back the code mailed to it; panics if that
    /// fails.
    pub fn add_email(&self, daemon: &Daemon, user: &str, address: &str) -> ContactEnrollment {
        let added = add_contact(
            daemon,
            None,
            &["email", address, "--user", user],
            None,
            || self.email_code(address),
        );
        added.assert_enrolled(daemon);
        added
    }
}

/// What one `mfa-enroll phone|email` run did, and the code typed back, if one was sent.
#[derive(Debug)]
pub struct ContactEnrollment {
    /// The mfa-enroll run.
    pub run: Run,
    /// The code read from the stand-in and typed back.
    pub code: Option<String>,
}

impl ContactEnrollment {
    /// Panics (with the daemon log) unless mfa-enroll exited 0 and printed `{"enrolled":…}`.
    pub fn assert_enrolled(&self, daemon: &Daemon) {
        assert!(
            self.run.succeeded() && self.run.stdout.contains("{\"enrolled\""),
            "adding a contact failed: {}\n{}",
            self.run,
            daemon.log_section()
        );
    }
}

/// Runs `mfa-enroll --json ARGS` (`phone …` or `email …`) as `caller`, root when `None`. Answers
/// the proof question with `proof` if asked (without one, stdin closes and mfa-enroll must
/// give up); once it prints `{"sent":…}`, types back what `receive` returns, then closes
/// stdin, so that a second question fails at once.
pub fn add_contact(
    daemon: &Daemon,
    caller: Option<&str>,
    args: &[&str],
    proof: Option<&str>,
    receive: impl FnOnce() -> String,
) -> ContactEnrollment {
    let mut enroll = Interaction::spawn(mfa_enroll(daemon, caller, args));
    let sent = |output: &str| output.contains("{\"sent\"");
    let settled = |output: &str| sent(output) || output.contains("{\"enrolled\"");
    if !enroll.wait_until(|output| settled(output) || output.contains(PROOF_PROMPT)) {
        return ContactEnrollment {
            run: enroll.finish(),
            code: None,
        };
    }
    if !settled(&enroll.stdout()) {
        let Some(proof) = proof else {
            return ContactEnrollment {
                run: enroll.finish(),
                code: None,
            };
        };
        enroll.send(&format!("{proof}\n"));
        if !enroll.wait_until(settled) {
            return ContactEnrollment {
                run: enroll.finish(),
                code: None,
            };
        }
    }
    if !sent(&enroll.stdout()) {
        return ContactEnrollment {
            run: enroll.finish(),
            code: None,
        };
    }
    let code = receive();
    enroll.send(&format!("{code}\n"));
    ContactEnrollment {
        run: enroll.finish(),
        code: Some(code),
    }
}

/// A secret no earlier run used: `prefix`, this process's PID and the clock, in hex.
fn fresh_secret(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("{prefix}{:x}x{nanos:x}", std::process::id())
}

/// `path` as a TOML basic string.
fn toml_path(path: &Path) -> String {
    serde_json::Value::String(path.to_string_lossy().into_owned()).to_string()
}
