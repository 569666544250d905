//! Enrollment through the real `mfa-enroll`, and an [`Authenticator`] that plays the user's
//! authenticator app afterwards.

use std::collections::HashSet;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use data_encoding::BASE32_NOPAD;
use mfa_proto::StatusReport;
use serde_json::Value;
use totp_rs::{Algorithm, TOTP};

use crate::artifacts::enroll_binary;
use crate::clock::Clock;
use crate::daemon::Daemon;
use crate::process::{Interaction, Run, command_as, run};
use crate::text::PROOF_PROMPT;
use crate::user::TestUser;

/// Time steps the daemon accepts either side of now; the contract's default.
const SKEW: u64 = 1;
/// A code for the previous time step is only handed out while at least this much of the
/// current step remains, so that it is still inside the window when the daemon checks it.
const STEP_SAFETY_MARGIN_MS: u64 = 5_000;

/// `mfa-enroll --json --socket SOCKET ARGS...`, run as `caller` or root.
pub fn mfa_enroll(daemon: &Daemon, caller: Option<&str>, args: &[&str]) -> Command {
    let mut command = command_as(caller, enroll_binary());
    command
        .args(["--json", "--socket"])
        .arg(daemon.socket())
        .args(args);
    command
}

/// `mfa-enroll status --user USER` as root, parsed; panics if it fails.
pub fn status(daemon: &Daemon, user: &str) -> StatusReport {
    let done = run(mfa_enroll(daemon, None, &["status", "--user", user]), "");
    assert!(done.succeeded(), "mfa-enroll status failed: {done}");
    serde_json::from_str(done.stdout.trim())
        .unwrap_or_else(|e| panic!("status output is not a StatusReport ({e}): {done}"))
}

/// Enrolls `user` as root and confirms with a code; panics (with the daemon log) on failure.
pub fn enroll_totp(daemon: &Daemon, user: &TestUser) -> Enrollment {
    EnrollTotp::new(daemon)
        .for_user(user.name())
        .run()
        .unwrap_or_else(|done| {
            panic!(
                "enrolling {} failed: {done}\n--- daemon log ---\n{}",
                user.name(),
                daemon.log()
            )
        })
}

/// One `mfa-enroll --json totp` run: as root or as an account, for a named user or for the
/// caller, with or without the proof that replacing an enrollment needs.
#[derive(Debug, Clone, Copy)]
pub struct EnrollTotp<'a> {
    daemon: &'a Daemon,
    user: Option<&'a str>,
    caller: Option<&'a str>,
    proof: Option<&'a str>,
    label: Option<&'a str>,
    replaces: Option<&'a Authenticator>,
}

impl<'a> EnrollTotp<'a> {
    /// Enrolls the caller (root unless [`EnrollTotp::as_caller`]) with no `--user`.
    pub fn new(daemon: &'a Daemon) -> EnrollTotp<'a> {
        EnrollTotp {
            daemon,
            user: None,
            caller: None,
            proof: None,
            label: None,
            replaces: None,
        }
    }

    /// Passes `--user NAME`.
    pub fn for_user(self, user: &'a str) -> EnrollTotp<'a> {
        EnrollTotp {
            user: Some(user),
            ..self
        }
    }

    /// Runs mfa-enroll as `caller` (through runuser).
    pub fn as_caller(self, caller: &'a str) -> EnrollTotp<'a> {
        EnrollTotp {
            caller: Some(caller),
            ..self
        }
    }

    /// Answers the proof question with `proof`.
    pub fn with_proof(self, proof: &'a str) -> EnrollTotp<'a> {
        EnrollTotp {
            proof: Some(proof),
            ..self
        }
    }

    /// Passes `--label LABEL`: adds an app under that label, or replaces the app that has it.
    pub fn with_label(self, label: &'a str) -> EnrollTotp<'a> {
        EnrollTotp {
            label: Some(label),
            ..self
        }
    }

    /// Says that this enrollment replaces the one `previous` plays: the daemon may keep the
    /// user's last accepted time step across enrollments, so the new app's codes start after
    /// the old app's last one.
    pub fn replacing(self, previous: &'a Authenticator) -> EnrollTotp<'a> {
        EnrollTotp {
            replaces: Some(previous),
            ..self
        }
    }

    /// Runs the enrollment, confirming it with a code for the secret shown. `Err` holds the
    /// run when mfa-enroll did not show a secret and a `recovery_codes` line and exit 0. An
    /// app added while recovery codes are left gets an empty list: the codes are unchanged.
    pub fn run(&self) -> Result<Enrollment, Run> {
        let mut args = vec!["totp"];
        if let Some(label) = self.label {
            args.extend(["--label", label]);
        }
        if let Some(user) = self.user {
            args.extend(["--user", user]);
        }
        let mut enroll = Interaction::spawn(mfa_enroll(self.daemon, self.caller, &args));
        let secret_shown = |output: &str| output.contains("\"secret\"");
        if !enroll.wait_until(|output| secret_shown(output) || output.contains(PROOF_PROMPT)) {
            return Err(enroll.finish());
        }
        if !secret_shown(&enroll.stdout()) {
            // Asked for proof: without one, stdin closes and mfa-enroll must give up.
            let Some(proof) = self.proof else {
                return Err(enroll.finish());
            };
            enroll.send(&format!("{proof}\n"));
            if !enroll.wait_until(secret_shown) {
                return Err(enroll.finish());
            }
        }
        let shown = json_line_with(&enroll.stdout(), "secret")
            .unwrap_or_else(|| panic!("no JSON line with the secret in:\n{}", enroll.stdout()));
        let otpauth_uri = shown["otpauth_uri"]
            .as_str()
            .unwrap_or_else(|| panic!("no otpauth_uri string in {shown}"))
            .to_owned();
        let secret = shown["secret"]
            .as_str()
            .unwrap_or_else(|| panic!("no secret string in {shown}"));
        let authenticator =
            Authenticator::from_enrollment(secret, &otpauth_uri).on_clock(self.daemon.clock());
        if let Some(previous) = self.replaces {
            authenticator.continue_after(previous);
        }
        enroll.send(&format!("{}\n", authenticator.next_code()));
        // Closing stdin after the one confirmation code makes a second ask fail at once.
        let done = enroll.finish();
        let Some(listed) = json_line_with(&done.stdout, "recovery_codes") else {
            return Err(done);
        };
        if !done.succeeded() {
            return Err(done);
        }
        let recovery_codes = listed["recovery_codes"]
            .as_array()
            .unwrap_or_else(|| panic!("recovery_codes is not a list: {listed}"))
            .iter()
            .map(|code| {
                code.as_str()
                    .expect("recovery codes are strings")
                    .to_owned()
            })
            .collect();
        Ok(Enrollment {
            authenticator,
            otpauth_uri,
            recovery_codes,
        })
    }
}

/// The first line of `output` that is a JSON object with `key`.
pub fn json_line_with(output: &str, key: &str) -> Option<Value> {
    output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .find(|value| value.get(key).is_some())
}

/// What an enrollment gave the user.
#[derive(Debug)]
pub struct Enrollment {
    /// The app, set up with the secret shown.
    pub authenticator: Authenticator,
    /// The `otpauth://totp/...` URI shown.
    pub otpauth_uri: String,
    /// The recovery codes shown.
    pub recovery_codes: Vec<String>,
}

impl Enrollment {
    /// Everything secret this enrollment showed or typed so far: the base32 secret, every code
    /// handed out (right or wrong) and every recovery code, with and without dashes.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![self.authenticator.secret.clone()];
        secrets.extend(self.authenticator.codes_handed_out());
        for code in &self.recovery_codes {
            secrets.push(code.clone());
            secrets.push(code.replace('-', ""));
        }
        secrets
    }
}

/// The user's authenticator app: computes codes with totp-rs from the enrolled secret.
///
/// Per user the daemon accepts a TOTP code only for a time step later than the last one it
/// accepted, within `SKEW` steps of now; [`Authenticator::next_code`] therefore hands out
/// strictly increasing steps and waits for the clock when the window is used up: it moves
/// the daemon's clock when that is a moving one (see [`Clock`]), and sleeps otherwise.
#[derive(Debug)]
pub struct Authenticator {
    totp: TOTP,
    clock: Clock,
    secret: String,
    period: u64,
    digits: u32,
    last_step: Mutex<Option<u64>>,
    handed_out: Mutex<Vec<String>>,
}

impl Authenticator {
    /// Sets up the app from the base32 `secret` and the parameters in `otpauth_uri`
    /// (`algorithm`, `digits`, `period`; the otpauth defaults SHA1, 6, 30 when absent).
    pub fn from_enrollment(secret: &str, otpauth_uri: &str) -> Authenticator {
        let parameter = |name: &str| -> Option<&str> {
            let query = otpauth_uri.split_once('?')?.1;
            query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value)
        };
        let algorithm = match parameter("algorithm").unwrap_or("SHA1") {
            "SHA1" => Algorithm::SHA1,
            "SHA256" => Algorithm::SHA256,
            "SHA512" => Algorithm::SHA512,
            other => panic!("unknown algorithm {other:?} in {otpauth_uri}"),
        };
        let digits: u32 = parameter("digits")
            .unwrap_or("6")
            .parse()
            .unwrap_or_else(|e| panic!("bad digits in {otpauth_uri}: {e}"));
        let period: u64 = parameter("period")
            .unwrap_or("30")
            .parse()
            .unwrap_or_else(|e| panic!("bad period in {otpauth_uri}: {e}"));
        let normalized: String = secret
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '=')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let key = BASE32_NOPAD
            .decode(normalized.as_bytes())
            .unwrap_or_else(|e| panic!("secret {secret:?} is not base32: {e}"));
        Authenticator {
            totp: TOTP::new_unchecked(algorithm, digits as usize, SKEW as u8, period, key),
            clock: Clock::real(),
            secret: secret.to_owned(),
            period,
            digits,
            last_step: Mutex::new(None),
            handed_out: Mutex::new(Vec::new()),
        }
    }

    /// Computes codes at the time of `clock` (the clock of the daemon the app was enrolled
    /// with) rather than the real one, and moves it instead of sleeping.
    pub fn on_clock(self, clock: Clock) -> Authenticator {
        Authenticator { clock, ..self }
    }

    /// The base32 secret as shown at enrollment.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// A code the daemon has not seen accepted yet, for the earliest usable time step after
    /// the last one handed out; waits for the next period when the window is used up.
    pub fn next_code(&self) -> String {
        let mut last_step = self.last_step.lock().expect("authenticator lock");
        loop {
            let now_ms = self.clock.unix_time_ms();
            let period_ms = self.period * 1000;
            let current = now_ms / period_ms;
            let left_in_step = period_ms - now_ms % period_ms;
            let earliest_safe = if left_in_step > STEP_SAFETY_MARGIN_MS {
                current - SKEW
            } else {
                current
            };
            let step = last_step.map_or(earliest_safe, |last| (last + 1).max(earliest_safe));
            if step <= current + SKEW {
                *last_step = Some(step);
                return self.hand_out(self.totp.generate(step * self.period));
            }
            let usable_from_ms = (step - SKEW) * period_ms;
            self.clock
                .advance(Duration::from_millis(usable_from_ms - now_ms + 100));
        }
    }

    /// A code for the latest time step the daemon accepts now (the current one plus the
    /// skew), later than every step [`Authenticator::next_code`] handed out so far in this
    /// period, whichever app handed it out: for a code that must not collide with one another
    /// app of the same user used a moment ago.
    ///
    /// Waits for the next period (moves the clock or sleeps) when this app already handed out
    /// that latest step.
    pub fn latest_code(&self) -> String {
        let mut last_step = self.last_step.lock().expect("authenticator lock");
        loop {
            let now_ms = self.clock.unix_time_ms();
            let period_ms = self.period * 1000;
            let step = now_ms / period_ms + SKEW;
            if last_step.is_none_or(|last| last < step) {
                *last_step = Some(step);
                return self.hand_out(self.totp.generate(step * self.period));
            }
            self.clock
                .advance(Duration::from_millis(period_ms - now_ms % period_ms + 100));
        }
    }

    /// Makes this app's codes start after the last time step `previous` handed out.
    fn continue_after(&self, previous: &Authenticator) {
        let previous_step = *previous.last_step.lock().expect("authenticator lock");
        *self.last_step.lock().expect("authenticator lock") = previous_step;
    }

    /// A well-formed code that is wrong for every time step near now.
    pub fn wrong_code(&self) -> String {
        let current = self.clock.unix_time_ms() / (self.period * 1000);
        let near: HashSet<String> = (current.saturating_sub(5)..=current + 5)
            .map(|step| self.totp.generate(step * self.period))
            .collect();
        let modulus = 10u64.pow(self.digits);
        let wrong = (0..)
            .map(|n: u64| {
                format!(
                    "{:0width$}",
                    (123_457 + n) % modulus,
                    width = self.digits as usize
                )
            })
            .find(|candidate| !near.contains(candidate))
            .expect("some code is wrong");
        self.hand_out(wrong)
    }

    /// Every code handed out so far, right or wrong.
    pub fn codes_handed_out(&self) -> Vec<String> {
        self.handed_out.lock().expect("authenticator lock").clone()
    }

    fn hand_out(&self, code: String) -> String {
        self.handed_out
            .lock()
            .expect("authenticator lock")
            .push(code.clone());
        code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str =
        "otpauth://totp/pam-mfa:alice?secret=JBSWY3DPEHPK3PXP&issuer=pam-mfa&period=30";

    #[test]
    fn codes_go_to_strictly_later_steps() {
        let app = Authenticator::from_enrollment("JBSWY3DPEHPK3PXP", URI);
        let first = app.next_code();
        let second = app.next_code();
        assert_ne!(first, second);
        assert_eq!(app.codes_handed_out(), vec![first, second]);
        let last = app.last_step.lock().unwrap().unwrap();
        let current = Clock::real().unix_time_ms() / 30_000;
        assert!(
            last <= current + SKEW && last + 1 >= current,
            "step {last} vs {current}"
        );
    }

    /// Two codes handed out late in a step use up the step `latest_code` would give: it
    /// waits (here: moves the clock) for the next period instead of handing out a replay.
    #[test]
    fn latest_code_comes_after_every_step_handed_out() {
        if !crate::root_suite_ready() {
            return;
        }
        let scratch = crate::scratch::ScratchDir::create();
        let clock = Clock::moving(&scratch.path().join("clock-offset"));
        let app = Authenticator::from_enrollment("JBSWY3DPEHPK3PXP", URI).on_clock(clock.clone());
        let left_in_step = 30_000 - clock.unix_time_ms() % 30_000;
        clock.advance(Duration::from_millis(left_in_step.saturating_sub(3_000)));
        app.next_code();
        app.next_code();
        let before_latest = app.last_step.lock().unwrap().unwrap();
        app.latest_code();
        let latest = app.last_step.lock().unwrap().unwrap();
        assert!(
            latest > before_latest,
            "step {latest} after {before_latest}"
        );
        assert_eq!(latest, clock.unix_time_ms() / 30_000 + SKEW);
    }

    #[test]
    fn wrong_code_is_wrong_near_now() {
        let app = Authenticator::from_enrollment("jbsw y3dp ehpk 3pxp", URI);
        let wrong = app.wrong_code();
        assert_eq!(wrong.len(), 6);
        let current = Clock::real().unix_time_ms() / 30_000;
        for step in current - 2..=current + 2 {
            assert_ne!(app.totp.generate(step * 30), wrong);
        }
    }

    #[test]
    fn rfc6238_vector_through_the_uri_parameters() {
        let secret = BASE32_NOPAD.encode(b"12345678901234567890");
        let uri = format!("otpauth://totp/x?secret={secret}&algorithm=SHA1&digits=8&period=30");
        let app = Authenticator::from_enrollment(&secret, &uri);
        assert_eq!(app.totp.generate(59), "94287082");
    }
}
