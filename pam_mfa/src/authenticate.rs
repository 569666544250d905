//! The authentication flow: tell the daemon what PAM knows, then relay its steps through the
//! PAM conversation until it says how the authentication ended.

use std::ffi::CStr;
use std::path::{Path, PathBuf};

use mfa_proto::{
    AuthRequest, Client, FrameError, ListenerError, Outcome, Request, Step, check_listener_uid,
    privileged_socket,
};
use pam::constants::{PAM_SILENT, PamFlag, PamResultCode};

use crate::error::{AuthError, ProtocolError, Unavailable, UserError};
use crate::handler::{ItemError, ItemProblem, LogLevel, MessageKind, PamHandler, PamItem};
use crate::options::ModuleOptions;
use crate::result_code::result_code;

/// sshd's record of the methods already passed (with `ExposeAuthInfo`).
const SSH_AUTH_INFO: &CStr = c"SSH_AUTH_INFO_0";
/// Most messages one authentication may take. The daemon asks at most 10 times, each with an
/// answer and an error, so this only stops a daemon that never says `Done`.
const MAX_STEPS: usize = 100;

/// `pam_sm_authenticate`: parses `args`, runs the conversation with the daemon, logs what
/// went wrong and returns the PAM code.
pub fn authenticate<H: PamHandler>(pam: &mut H, args: &[&CStr], flags: PamFlag) -> PamResultCode {
    let (end, options) = match ModuleOptions::parse(args) {
        Ok(options) => {
            let relay = Relay {
                pam: &mut *pam,
                options: &options,
                silent: flags & PAM_SILENT != 0,
                field: None,
            };
            (relay.run(), options)
        }
        Err(err) => (Err(AuthError::Options(err)), ModuleOptions::default()),
    };
    let failure = end.as_ref().err().map(|err| match err {
        AuthError::Unavailable(Unavailable::Absent { .. }) => (
            err.log_level(),
            format!("{err} (failmode={})", options.failmode),
        ),
        _ => (err.log_level(), err.to_string()),
    });
    let code = result_code(end, options.failmode);
    match failure {
        Some((level, line)) => pam.syslog(level, &format!("{line}; returning {code:?}")),
        None if options.debug => pam.syslog(LogLevel::Debug, &format!("returning {code:?}")),
        None => {}
    }
    code
}

/// One authentication in progress.
struct Relay<'a, H> {
    pam: &'a mut H,
    options: &'a ModuleOptions,
    silent: bool,
    /// The password field, with `code_in_password`.
    field: Option<combined::Field>,
}

/// Where the conversation is, for the log: a daemon that never starts it did not answer, one
/// that stops after the user has answered stalled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Opening,
    Conversing,
}

impl<H: PamHandler> Relay<'_, H> {
    fn run(mut self) -> Result<Outcome, AuthError> {
        let auth = self.auth_request()?;
        let user = auth.user.clone();
        if self.options.app_password {
            // The whole field is an app password, or it stays for the next modules.
            // (`code_in_password` needs a line of its own: the options refuse both.)
            return Ok(match self.try_app_password(&auth)? {
                app_password::Tried::Accepted => Outcome::Success,
                app_password::Tried::NotOne => Outcome::Ignore,
            });
        }
        let opening = self.opening(auth)?;
        let (mut client, socket) = self.connect(&user)?;
        let mut stage = Stage::Opening;
        // Set when a request could not be sent. The daemon may have said why before hanging
        // up (too many connections, or it stopped waiting for the user), so its last
        // messages are still read.
        let mut unsent: Option<AuthError> = match client.send(&opening) {
            Ok(()) => None,
            Err(FrameError::TooLarge { len }) => return Err(AuthError::RequestTooLarge { len }),
            Err(err) => Some(self.daemon_error(err, stage, &socket)),
        };
        for _ in 0..MAX_STEPS {
            let step = match client.recv() {
                Ok(step) => step,
                Err(err) => {
                    return Err(unsent.unwrap_or_else(|| self.daemon_error(err, stage, &socket)));
                }
            };
            stage = Stage::Conversing;
            match step {
                Step::Prompt { text, echo } => {
                    if let Some(err) = unsent.take() {
                        return Err(err);
                    }
                    let echo_state = if echo { "on" } else { "off" };
                    self.debug(format_args!("step: prompt (echo {echo_state})"));
                    check_text(&text)?;
                    let answer = self
                        .pam
                        .prompt(&text, echo)
                        .map_err(AuthError::Conversation)?;
                    match client.send(&Request::Answer { text: answer }) {
                        Ok(()) => {}
                        Err(FrameError::TooLarge { .. }) => return Err(AuthError::AnswerTooLarge),
                        Err(err) => unsent = Some(self.daemon_error(err, stage, &socket)),
                    }
                }
                Step::StripPassword { bytes } => self.strip_password(bytes)?,
                Step::Info { text } => self.show(MessageKind::Info, &text)?,
                Step::Error { text } => self.show(MessageKind::Error, &text)?,
                Step::Done { outcome } => {
                    self.debug(format_args!("step: done ({outcome:?})"));
                    return Ok(outcome);
                }
                Step::Failed { kind, message } => {
                    return Err(AuthError::Protocol(ProtocolError::Refused {
                        kind,
                        message,
                    }));
                }
            }
        }
        Err(AuthError::Protocol(ProtocolError::TooManySteps(MAX_STEPS)))
    }

    /// Connects to the daemon's socket (the privileged one for root's callers) and checks
    /// who listens there.
    fn connect(&mut self, user: &str) -> Result<(Client, PathBuf), AuthError> {
        // Root's callers never fall back to the public socket: there any user could keep
        // the daemon busy, and a busy daemon must not delay or deny their logins.
        let socket = if self.pam.runs_as_root() {
            privileged_socket(&self.options.socket)
        } else {
            self.options.socket.clone()
        };
        self.debug(format_args!(
            "connecting to {} for user {:?}",
            socket.display(),
            user
        ));
        let client = match Client::connect(&socket, self.options.timeout) {
            Ok(client) => client,
            Err(source) => return Err(Unavailable::connecting(socket, source).into()),
        };
        // One SO_PEERCRED read: its uid decides whether the daemon's account is looked up.
        let checked = client
            .peer_uid()
            .map_err(ListenerError::Unreadable)
            .and_then(|uid| {
                let trusted = self.pam.trusted_listeners(&self.options.daemon_user, uid);
                check_listener_uid(uid, &trusted)
            });
        if let Err(source) = checked {
            return Err(Unavailable::WrongListener { socket, source }.into());
        }
        Ok((client, socket))
    }

    /// What PAM knows about this authentication.
    fn auth_request(&mut self) -> Result<AuthRequest, AuthError> {
        let user = match self.pam.item(PamItem::User).map_err(AuthError::Item)? {
            Some(user) => user,
            None => self
                .pam
                .get_user()
                .map_err(|code| AuthError::User(UserError::Lookup(code)))?,
        };
        if user.is_empty() {
            return Err(AuthError::User(UserError::Empty));
        }
        let service = self
            .pam
            .item(PamItem::Service)
            .map_err(AuthError::Item)?
            .ok_or(AuthError::Item(ItemError {
                name: PamItem::Service.name(),
                problem: ItemProblem::Missing,
            }))?;
        Ok(AuthRequest {
            user,
            service,
            rhost: self.pam.item(PamItem::RHost).map_err(AuthError::Item)?,
            tty: self.pam.item(PamItem::Tty).map_err(AuthError::Item)?,
            ruser: self.pam.item(PamItem::RUser).map_err(AuthError::Item)?,
            auth_info: self.pam.env(SSH_AUTH_INFO).map_err(AuthError::Item)?,
            nullok: self.options.nullok,
        })
    }

    fn show(&mut self, kind: MessageKind, text: &str) -> Result<(), AuthError> {
        let kind_name = match kind {
            MessageKind::Info => "info",
            MessageKind::Error => "error",
        };
        self.debug(format_args!("step: {kind_name}"));
        check_text(text)?;
        if self.silent {
            return Ok(());
        }
        self.pam.show(kind, text).map_err(AuthError::Conversation)
    }

    /// Sorts a failed read or write on `socket`: a timeout before the daemon's first message
    /// means it did not answer, later it has stalled; anything else breaks the protocol.
    fn daemon_error(&self, err: FrameError, stage: Stage, socket: &Path) -> AuthError {
        match (err, stage) {
            (FrameError::Timeout, Stage::Opening) => {
                AuthError::Unavailable(Unavailable::NoAnswer {
                    socket: PathBuf::from(socket),
                    timeout: self.options.timeout,
                })
            }
            (FrameError::Timeout, Stage::Conversing) => AuthError::Stalled {
                timeout: self.options.timeout,
            },
            (err, _) => AuthError::Protocol(ProtocolError::Frame(err)),
        }
    }

    /// Logs a step with `debug`; the line is only formatted then, not on every login.
    fn debug(&mut self, line: std::fmt::Arguments<'_>) {
        if self.options.debug {
            self.pam.syslog(LogLevel::Debug, &line.to_string());
        }
    }
}

fn check_text(text: &str) -> Result<(), AuthError> {
    if text.contains('\0') {
        Err(AuthError::Protocol(ProtocolError::NulInText))
    } else {
        Ok(())
    }
}

mod app_password;
mod combined;
#[cfg(test)]
mod tests;
