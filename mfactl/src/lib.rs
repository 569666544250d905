//! `mfactl`: the admin tool of pam-mfa, in the style of linux-pam's `faillock` and ntpd-rs's
//! `ntp-ctl`. Root lists every user mfa-daemon knows, shows one, removes every factor of
//! one, clears lockouts, and imports users from google-authenticator, pam_oath and PSKC.
//!
//! Like `mfa-enroll`, whose connection to the daemon it uses, it holds no secrets and
//! decides nothing: each request goes to the daemon's privileged socket, which only root can
//! reach, and the daemon checks the caller's uid again and audits every admin action.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod error;
mod import;
mod output;

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use clap::Parser;
use jiff::tz::TimeZone;
use mfa_enroll::account::runs_as_root;
use mfa_enroll::daemon::Daemon;

pub use cli::{Cli, Command, ImportFrom, ResetArgs, Target, UnlockArgs};
pub use error::CtlError;

use commands::Session;

/// Runs the tool with the process's arguments, terminal and environment.
///
/// Exit status: 0 on success, 1 on any error (one line `mfactl: ...` on stderr), 2 for bad
/// arguments (clap's usage message).
pub fn main() -> ExitCode {
    mfa_enroll::exit_code("mfactl", run(&Cli::parse()))
}

fn run(cli: &Cli) -> Result<(), CtlError> {
    if !runs_as_root() {
        return Err(CtlError::NotRoot);
    }
    let stdin = io::stdin();
    let mut session = Session {
        daemon: Daemon::for_caller(&cli.daemon.socket, &cli.daemon.daemon_user)?,
        interactive: stdin.is_terminal(),
        input: stdin.lock(),
        prompts: io::stderr(),
        out: io::stdout(),
        json: cli.json,
        tz: TimeZone::system(),
    };
    session.execute(&cli.command)
}
