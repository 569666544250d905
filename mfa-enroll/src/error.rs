//! Everything that can stop a command, each with a message the user can act on.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use mfa_proto::{FailureKind, FrameError, ListenerError};

/// Why a command failed. `crate::main` prints it as `mfa-enroll: <Display>` and exits 1
/// (mfactl as `mfactl: <Display>`).
#[derive(Debug)]
pub enum EnrollError {
    /// Could not connect to the daemon's socket.
    Unreachable {
        /// The socket tried.
        socket: PathBuf,
        /// Why the connection failed.
        source: FrameError,
    },
    /// The process listening on the daemon's socket runs as neither root nor the daemon's
    /// user (or its uid cannot be read): nothing is sent to it.
    UntrustedListener {
        /// The socket.
        socket: PathBuf,
        /// Who is listening.
        source: ListenerError,
    },
    /// Looking up the daemon's user failed.
    DaemonUserLookup {
        /// The name given by `--daemon-user` or `MFA_DAEMON_USER`.
        name: String,
        /// Why.
        source: nix::Error,
    },
    /// The connection broke, timed out or carried garbage in the middle of a request.
    Connection {
        /// The daemon's socket.
        socket: PathBuf,
        /// What went wrong.
        source: FrameError,
    },
    /// The daemon refused the request.
    Refused {
        /// The daemon's reason.
        kind: FailureKind,
        /// The daemon's explanation for a person.
        message: String,
    },
    /// The daemon answered something that does not fit the request.
    UnexpectedReply {
        /// What was asked.
        request: &'static str,
        /// What came back (only the message type: replies may carry secrets).
        reply: &'static str,
    },
    /// The calling uid has no passwd entry, so there is no user name to act for.
    UnknownCaller {
        /// The calling uid.
        uid: u32,
    },
    /// Looking up the calling uid failed.
    CallerLookup {
        /// The calling uid.
        uid: u32,
        /// Why.
        source: nix::Error,
    },
    /// Standard input ended where an answer was expected.
    NoAnswer {
        /// What was expected, e.g. "a code from the authenticator app".
        expected: &'static str,
    },
    /// An empty line on a non-terminal standard input where an answer was expected.
    EmptyAnswer {
        /// What was expected.
        expected: &'static str,
    },
    /// The person gave an empty answer for the code sent to a new phone or address, which
    /// means "stop": nothing was confirmed, so the daemon saved nothing.
    Cancelled,
    /// Reading standard input failed.
    Input(io::Error),
    /// Echo could not be turned off (or back on) on the terminal answers are typed at.
    Terminal(nix::Error),
    /// Writing output or a prompt failed.
    Output(io::Error),
}

impl fmt::Display for EnrollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnrollError::Unreachable { socket, source } => write!(
                f,
                "cannot reach mfa-daemon at {}: {source}{}",
                socket.display(),
                unreachable_hint(source)
            ),
            EnrollError::UntrustedListener { socket, source } => write!(
                f,
                "refusing to talk to the listener on {}: {source}{}",
                socket.display(),
                untrusted_hint(source)
            ),
            EnrollError::DaemonUserLookup { name, source } => {
                write!(f, "cannot look up the daemon's user {name:?}: {source}")
            }
            EnrollError::Connection { socket, source } => {
                write!(f, "{}", broken_connection(socket, source))
            }
            EnrollError::Refused { kind, message } => {
                let message = one_line(message);
                if message.is_empty() {
                    write!(f, "{}", default_refusal(*kind))
                } else {
                    write!(f, "{message}")
                }
            }
            EnrollError::UnexpectedReply { request, reply } => write!(
                f,
                "mfa-daemon answered {request} with {reply}, which this tool does not \
                 expect; are this tool and mfa-daemon from the same release?"
            ),
            EnrollError::UnknownCaller { uid } => write!(
                f,
                "uid {uid} has no user name (no passwd entry); root can name an account with --user"
            ),
            EnrollError::CallerLookup { uid, source } => {
                write!(f, "cannot look up the user name of uid {uid}: {source}")
            }
            EnrollError::NoAnswer { expected } => {
                write!(f, "standard input ended where {expected} was expected")
            }
            EnrollError::EmptyAnswer { expected } => {
                write!(
                    f,
                    "empty line on standard input where {expected} was expected"
                )
            }
            EnrollError::Cancelled => write!(f, "cancelled: no code was typed; nothing was saved"),
            EnrollError::Input(e) => write!(f, "cannot read the answer from standard input: {e}"),
            EnrollError::Terminal(e) => {
                write!(f, "cannot turn off echo on the terminal for a code: {e}")
            }
            EnrollError::Output(e) => write!(f, "cannot write output: {e}"),
        }
    }
}

impl std::error::Error for EnrollError {}

/// What to check when the daemon's socket cannot be reached, after a space: the daemon
/// itself when nothing listens, the permissions when the socket is there but closed to us.
fn unreachable_hint(source: &FrameError) -> &'static str {
    let FrameError::Io(e) = source else {
        return "";
    };
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => " (is mfa-daemon running?)",
        io::ErrorKind::PermissionDenied => {
            " (check the permissions of the socket and its directory)"
        }
        _ => "",
    }
}

/// How to trust a listener that runs as an unexpected account, after a space.
fn untrusted_hint(source: &ListenerError) -> &'static str {
    match source {
        ListenerError::Untrusted { .. } => {
            " (if mfa-daemon runs as another account, name it with --daemon-user \
             or MFA_DAEMON_USER)"
        }
        _ => "",
    }
}

/// What a connection that broke in the middle of a request says: where to look next.
fn broken_connection(socket: &Path, source: &FrameError) -> String {
    let socket = socket.display();
    match source {
        FrameError::Closed | FrameError::Truncated => format!(
            "mfa-daemon at {socket} closed the connection before answering; its log says why"
        ),
        FrameError::Timeout => {
            format!("mfa-daemon at {socket} did not answer in time; it may be overloaded or stuck")
        }
        other => format!("talking to mfa-daemon at {socket} failed: {other}"),
    }
}

/// What to say when the daemon refused without an explanation.
fn default_refusal(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::BadRequest => "mfa-daemon rejected the request as malformed",
        FailureKind::NotAuthorized => {
            "not authorized: only root may act for another user or unlock accounts"
        }
        FailureKind::NotEnrolled => {
            "nothing is enrolled for this user; run `mfa-enroll totp` first"
        }
        FailureKind::ProofRequired => "a current verification code or a recovery code is needed",
        FailureKind::WrongCode => "wrong verification code or recovery code",
        FailureKind::LockedOut => "too many failed attempts; try again later",
        FailureKind::Internal => "mfa-daemon failed and changed nothing; its log says why",
        FailureKind::RateLimited => "too many codes were sent recently; try again later",
        FailureKind::DeliveryFailed => "the code could not be sent; nothing was saved",
        FailureKind::Policy => "the daemon's policy does not allow this; nothing was changed",
    }
}

/// Makes text from the daemon fit on one line of our output, whatever it contains.
pub fn one_line(text: &str) -> String {
    text.trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_uses_the_daemons_words_on_one_line() {
        let e = EnrollError::Refused {
            kind: FailureKind::WrongCode,
            message: "Invalid code.\nTry again.\u{1b}[31m".into(),
        };
        let text = e.to_string();
        assert_eq!(text, "Invalid code. Try again. [31m");
        let e = EnrollError::Refused {
            kind: FailureKind::NotAuthorized,
            message: "  ".into(),
        };
        assert!(e.to_string().starts_with("not authorized"));
    }

    #[test]
    fn silent_refusals_about_sending_codes_say_what_happened() {
        let silent = |kind| {
            EnrollError::Refused {
                kind,
                message: String::new(),
            }
            .to_string()
        };
        assert_eq!(
            silent(FailureKind::RateLimited),
            "too many codes were sent recently; try again later"
        );
        assert_eq!(
            silent(FailureKind::DeliveryFailed),
            "the code could not be sent; nothing was saved"
        );
    }

    #[test]
    fn missing_socket_hints_at_the_daemon() {
        let e = EnrollError::Unreachable {
            socket: "/run/mfa/mfa.sock".into(),
            source: FrameError::Io(io::Error::from(io::ErrorKind::NotFound)),
        };
        let text = e.to_string();
        assert!(
            text.starts_with("cannot reach mfa-daemon at /run/mfa/mfa.sock: "),
            "{text}"
        );
        assert!(text.contains("is mfa-daemon running?"), "{text}");
    }

    #[test]
    fn every_message_is_one_line() {
        let errors = [
            EnrollError::Connection {
                socket: "/s".into(),
                source: FrameError::Timeout,
            },
            EnrollError::UnknownCaller { uid: 4242 },
            EnrollError::NoAnswer { expected: "a code" },
            EnrollError::EmptyAnswer { expected: "a code" },
            EnrollError::Cancelled,
            EnrollError::UnexpectedReply {
                request: "status",
                reply: "recovery_codes",
            },
        ];
        for e in errors {
            let text = e.to_string();
            assert!(!text.contains('\n') && !text.is_empty(), "{text:?}");
        }
    }
}
