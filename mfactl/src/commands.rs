//! The subcommands: what is asked of the daemon and what is shown. The daemon decides and
//! audits everything; mfactl only asks, confirms a reset, and shows.

use std::io::{BufRead, Write};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use mfa_enroll::daemon::{Daemon, rejection};
use mfa_proto::{Request, Response, Secret, StatusReport};

use crate::cli::{BypassArgs, Command, ResetArgs, UnlockArgs};
use crate::error::CtlError;
use crate::output::{bypass_text, list_text, ok_text, report_json, show_text};

/// Everything a command needs.
#[derive(Debug)]
pub struct Session<R, P, O> {
    /// Where requests go.
    pub daemon: Daemon,
    /// Where a confirmation is read from.
    pub input: R,
    /// Whether `input` is a terminal a person types at.
    pub interactive: bool,
    /// Where the confirmation question goes.
    pub prompts: P,
    /// Results.
    pub out: O,
    /// Results as JSON lines.
    pub json: bool,
    /// How times are shown.
    pub tz: TimeZone,
}

impl<R: BufRead, P: Write, O: Write> Session<R, P, O> {
    /// Runs one subcommand to its end.
    pub fn execute(&mut self, command: &Command) -> Result<(), CtlError> {
        match command {
            Command::List => self.list(),
            Command::Show(target) => self.show(&target.user),
            Command::Reset(args) => self.reset(args),
            Command::Unlock(args) => self.unlock(args),
            Command::Exempt(args) => {
                let request = Request::Exempt {
                    user: args.target.user.clone(),
                    until: if args.end { None } else { args.until },
                };
                self.ask_ok(&request)
            }
            Command::Forget(target) => {
                let request = Request::ForgetDevices {
                    user: target.user.clone(),
                    proof: None,
                };
                self.ask_ok(&request)
            }
            Command::Bypass(args) => self.bypass(args),
            Command::Resync(args) => self.ask_ok(&Request::ResyncHotp {
                user: args.user.clone(),
                label: args.label.clone(),
                first: Secret::from(args.first.clone()),
                second: Secret::from(args.second.clone()),
            }),
            Command::Import(from) => self.import(from),
        }
    }

    fn bypass(&mut self, args: &BypassArgs) -> Result<(), CtlError> {
        let request = Request::Bypass {
            user: args.target.user.clone(),
            uses: args.uses,
            valid_secs: args.valid,
        };
        match self.daemon.connect()?.call(&request)? {
            Response::BypassCode {
                code,
                uses,
                expires_at,
            } => {
                let text = bypass_text(
                    &args.target.user,
                    &code,
                    uses,
                    expires_at,
                    self.json,
                    &self.tz,
                );
                self.write(&text)
            }
            other => Err(rejection(&request, other).into()),
        }
    }

    fn list(&mut self) -> Result<(), CtlError> {
        let reports = self.list_users()?;
        if self.json {
            let lines: String = reports.iter().map(report_json).collect();
            self.write(&lines)
        } else {
            let text = list_text(&reports, &self.tz);
            self.write(&text)
        }
    }

    /// Every report the daemon sends, in as many `users` replies as it takes; an empty one
    /// ends the list.
    fn list_users(&mut self) -> Result<Vec<StatusReport>, CtlError> {
        let request = Request::ListUsers;
        let mut connection = self.daemon.connect()?;
        let mut reply = connection.call(&request)?;
        let mut reports = Vec::new();
        loop {
            match reply {
                Response::Users(batch) if batch.is_empty() => return Ok(reports),
                Response::Users(batch) => reports.extend(batch),
                other => return Err(rejection(&request, other).into()),
            }
            reply = connection.next_reply()?;
        }
    }

    fn show(&mut self, user: &str) -> Result<(), CtlError> {
        let request = Request::Status {
            user: user.to_owned(),
        };
        let report = match self.daemon.connect()?.call(&request)? {
            Response::Status(report) => report,
            other => return Err(rejection(&request, other).into()),
        };
        let text = if self.json {
            report_json(&report)
        } else {
            show_text(&report, Timestamp::now(), &self.tz)
        };
        self.write(&text)
    }

    fn reset(&mut self, args: &ResetArgs) -> Result<(), CtlError> {
        let user = &args.target.user;
        if !args.yes {
            self.confirm(user)?;
        }
        // As root, no proof is asked; the daemon tells the user's phones and addresses.
        let request = Request::RemoveFactors {
            user: user.clone(),
            proof: None,
        };
        self.ask_ok(&request)
    }

    /// Asks on the terminal; anything but `yes` changes nothing.
    fn confirm(&mut self, user: &str) -> Result<(), CtlError> {
        if !self.interactive {
            return Err(CtlError::ConfirmationNeeded {
                user: user.to_owned(),
            });
        }
        write!(
            self.prompts,
            "Remove every factor of {} (authenticator app, recovery codes, phones and email \
             addresses)? Type yes to confirm: ",
            mfa_enroll::one_line(user)
        )
        .and_then(|()| self.prompts.flush())
        .map_err(CtlError::Output)?;
        let mut answer = String::new();
        self.input.read_line(&mut answer).map_err(CtlError::Input)?;
        if answer.trim().eq_ignore_ascii_case("yes") {
            Ok(())
        } else {
            Err(CtlError::NotConfirmed)
        }
    }

    fn unlock(&mut self, args: &UnlockArgs) -> Result<(), CtlError> {
        let request = Request::Unlock {
            user: args.target.user.clone(),
            source: args.source.clone(),
        };
        self.ask_ok(&request)
    }

    /// Sends `request` on a new connection and shows the daemon's `ok` message.
    fn ask_ok(&mut self, request: &Request) -> Result<(), CtlError> {
        match self.daemon.connect()?.call(request)? {
            Response::Ok { message } => {
                let text = ok_text(&message, self.json);
                self.write(&text)
            }
            other => Err(rejection(request, other).into()),
        }
    }

    /// Writes and flushes at once.
    pub(crate) fn write(&mut self, text: &str) -> Result<(), CtlError> {
        self.out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush())
            .map_err(CtlError::Output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Target;
    use std::io::Cursor;
    use std::path::PathBuf;

    /// A session whose daemon cannot be reached: only what happens before connecting runs.
    fn session(input: &str, interactive: bool) -> Session<Cursor<Vec<u8>>, Vec<u8>, Vec<u8>> {
        Session {
            daemon: Daemon::new(PathBuf::from("/nonexistent/mfactl-test.sock"), vec![0]),
            input: Cursor::new(input.as_bytes().to_vec()),
            interactive,
            prompts: Vec::new(),
            out: Vec::new(),
            json: false,
            tz: TimeZone::UTC,
        }
    }

    fn reset(yes: bool) -> Command {
        Command::Reset(ResetArgs {
            target: Target { user: "bob".into() },
            yes,
        })
    }

    #[test]
    fn reset_without_a_terminal_needs_yes() {
        let mut s = session("yes\n", false);
        let err = s.execute(&reset(false)).unwrap_err();
        assert!(matches!(err, CtlError::ConfirmationNeeded { .. }), "{err}");
        assert!(s.prompts.is_empty());
        // With --yes it goes on to the daemon (unreachable here).
        let err = session("", false).execute(&reset(true)).unwrap_err();
        assert!(matches!(err, CtlError::Daemon(_)), "{err}");
    }

    #[test]
    fn reset_on_a_terminal_asks_and_only_yes_goes_on() {
        for answer in ["no\n", "y\n", "\n", ""] {
            let mut s = session(answer, true);
            let err = s.execute(&reset(false)).unwrap_err();
            assert!(matches!(err, CtlError::NotConfirmed), "{answer:?}: {err}");
            let asked = String::from_utf8(s.prompts).unwrap();
            assert!(asked.contains("every factor of bob"), "{asked}");
        }
        for answer in ["yes\n", " YES \n"] {
            let err = session(answer, true).execute(&reset(false)).unwrap_err();
            assert!(matches!(err, CtlError::Daemon(_)), "{answer:?}: {err}");
        }
    }
}
