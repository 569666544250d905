//! `mfa-enroll`: users enroll an authenticator app or a passkey, add phones and email addresses
//! that codes are sent to, renew recovery codes, remove their factors and see their status; root
//! does the same for any user and clears lockouts.
//!
//! The tool holds no secrets and decides nothing: every request goes to `mfa-daemon` over its
//! Unix socket (see `docs/CONTRACT.md`), which checks who is asking by peer credentials. This
//! crate only talks to the person (or script) at the terminal and shows what the daemon answers.
//!
//! `mfactl`, the admin tool, uses this library's connection to the daemon ([`daemon`]), its
//! caller checks ([`account`]), its way of showing a user's status ([`output`]) and of
//! ending a run ([`exit_code`]).
#![forbid(unsafe_code)]

pub mod account;
mod cli;
mod commands;
pub mod daemon;
mod error;
pub mod output;
mod prompt;
mod qr;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;

pub use cli::{
    Cli, Command, ContactArgs, DaemonArgs, EmailArgs, PasskeyArgs, PhoneArgs, RemoveArgs,
    RemovedContact, UserArg,
};
pub use error::{EnrollError, one_line};

use commands::Session;
use daemon::Daemon;
use output::{Mode, Output};
use prompt::{Prompter, Terminal};

/// Runs the tool with the process's arguments, terminal and environment.
///
/// Exit status: 0 on success, 1 on any error (one line `mfa-enroll: ...` on stderr), 2 for bad
/// arguments (clap's usage message).
pub fn main() -> ExitCode {
    exit_code("mfa-enroll", run(&Cli::parse()))
}

/// How a tool's run ends: 0 on success; on an error, one line `TOOL: <error>` on stderr
/// and 1. mfactl ends the same way.
pub fn exit_code(tool: &str, result: Result<(), impl std::fmt::Display>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Nothing useful is left to do if stderr itself is gone.
            let _ = writeln!(io::stderr(), "{tool}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Wires the real stdin, stdout and stderr to a session and runs the command.
fn run(cli: &Cli) -> Result<(), EnrollError> {
    let mode = if cli.json { Mode::Json } else { Mode::Human };
    let stdin = io::stdin();
    let interactive = stdin.is_terminal();
    // In JSON mode stdout carries only JSON lines, so prompts go to stderr.
    let prompts: Box<dyn Write> = match mode {
        Mode::Json => Box::new(io::stderr()),
        Mode::Human => Box::new(io::stdout()),
    };
    let terminal = Terminal::stdin().map_err(EnrollError::Input)?;
    let mut session = Session {
        daemon: Daemon::for_caller(&cli.daemon.socket, &cli.daemon.daemon_user)?,
        prompter: Prompter::new(stdin.lock(), prompts, interactive).hiding_answers_on(terminal),
        output: Output::new(mode, io::stdout(), io::stdout().is_terminal()),
    };
    session.execute(&cli.command)
}
