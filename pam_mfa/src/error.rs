//! Why an authentication ended without an outcome from the daemon.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use mfa_proto::{FailureKind, FrameError, ListenerError};
use pam::constants::PamResultCode;

use crate::handler::{ConvError, ItemError, LogLevel};
use crate::options::OptionError;

/// Everything that can stop an authentication before the daemon's `Done`. Turned into a PAM
/// code only by [`crate::result_code::result_code`].
#[derive(Debug)]
pub enum AuthError {
    /// The module line in the PAM configuration is wrong.
    Options(OptionError),
    /// The user being authenticated is unknown to PAM.
    User(UserError),
    /// A PAM item or environment variable could not be read.
    Item(ItemError),
    /// The daemon could not be used. Only [`Unavailable::Absent`] is the case `failmode`
    /// decides.
    Unavailable(Unavailable),
    /// The daemon stopped answering after the conversation had begun.
    Stalled {
        /// How long the module waited.
        timeout: Duration,
    },
    /// The daemon broke the protocol.
    Protocol(ProtocolError),
    /// The conversation with the user failed.
    Conversation(ConvError),
    /// The user's answer does not fit in a frame; it cannot be a valid code.
    AnswerTooLarge,
    /// The opening request does not fit in a frame (for example a huge `SSH_AUTH_INFO_0`).
    RequestTooLarge {
        /// Size of the encoded request.
        len: usize,
    },
}

impl AuthError {
    /// How loudly to log this error.
    pub fn log_level(&self) -> LogLevel {
        match self {
            AuthError::Conversation(_) | AuthError::AnswerTooLarge => LogLevel::Notice,
            _ => LogLevel::Error,
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Options(e) => write!(f, "{e}"),
            AuthError::User(e) => write!(f, "{e}"),
            AuthError::Item(e) => write!(f, "{e}"),
            AuthError::Unavailable(e) => write!(f, "{e}"),
            AuthError::Stalled { timeout } => write!(
                f,
                "mfa-daemon stopped answering for {} s in the middle of the conversation",
                timeout.as_secs()
            ),
            AuthError::Protocol(e) => write!(f, "mfa-daemon broke the protocol: {e}"),
            AuthError::Conversation(e) => write!(f, "{e}"),
            AuthError::AnswerTooLarge => write!(f, "the answer is too long to send"),
            AuthError::RequestTooLarge { len } => write!(
                f,
                "the request to mfa-daemon is too large ({len} bytes); check SSH_AUTH_INFO_0"
            ),
        }
    }
}

impl std::error::Error for AuthError {}

impl From<Unavailable> for AuthError {
    fn from(err: Unavailable) -> Self {
        AuthError::Unavailable(err)
    }
}

/// The user being authenticated is unknown to PAM.
#[derive(Debug)]
pub enum UserError {
    /// `pam_get_user` failed with this code.
    Lookup(PamResultCode),
    /// The user name is empty.
    Empty,
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserError::Lookup(code) => write!(f, "cannot determine the user: {code:?}"),
            UserError::Empty => write!(f, "the user name is empty"),
        }
    }
}

/// The daemon is not there to decide, or cannot be trusted to.
#[derive(Debug)]
pub enum Unavailable {
    /// No daemon: the socket is missing (`ENOENT`) or nothing listens on it
    /// (`ECONNREFUSED`). The only case `failmode` decides.
    Absent {
        /// The socket tried.
        socket: PathBuf,
        /// Which of the two.
        source: io::Error,
    },
    /// A daemon is there but did not take the connection in time: its listen queue stayed
    /// full, as under a connection flood.
    Busy {
        /// The socket tried.
        socket: PathBuf,
    },
    /// Connecting failed for another reason, such as permissions.
    Connect {
        /// The socket tried.
        socket: PathBuf,
        /// Why.
        source: FrameError,
    },
    /// The listener is not root or the daemon's user, or its uid cannot be read.
    WrongListener {
        /// The socket.
        socket: PathBuf,
        /// Who is listening.
        source: ListenerError,
    },
    /// The daemon accepted but did not answer the opening request in time.
    NoAnswer {
        /// The socket.
        socket: PathBuf,
        /// How long the module waited.
        timeout: Duration,
    },
}

impl Unavailable {
    /// Sorts a failed connect: only a missing socket or a refused connection mean that no
    /// daemon is running; anything else may be a daemon kept busy on purpose.
    pub fn connecting(socket: PathBuf, source: FrameError) -> Unavailable {
        match source {
            FrameError::Io(e)
                if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ECONNREFUSED)) =>
            {
                Unavailable::Absent { socket, source: e }
            }
            FrameError::Busy | FrameError::Timeout => Unavailable::Busy { socket },
            source => Unavailable::Connect { socket, source },
        }
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::Absent { socket, source } => {
                write!(
                    f,
                    "mfa-daemon is not running at {}: {source}",
                    socket.display()
                )
            }
            Unavailable::Busy { socket } => write!(
                f,
                "mfa-daemon at {} is busy: {}",
                socket.display(),
                FrameError::Busy
            ),
            Unavailable::Connect { socket, source } => {
                write!(
                    f,
                    "cannot reach mfa-daemon at {}: {source}",
                    socket.display()
                )
            }
            Unavailable::WrongListener { socket, source } => {
                write!(f, "refusing the listener on {}: {source}", socket.display())
            }
            Unavailable::NoAnswer { socket, timeout } => write!(
                f,
                "mfa-daemon at {} did not answer within {} s",
                socket.display(),
                timeout.as_secs()
            ),
        }
    }
}

/// How the daemon broke the protocol.
#[derive(Debug)]
pub enum ProtocolError {
    /// A frame could not be read or written: garbage, oversized, wrong version, or the
    /// connection closed or failed before `Done`.
    Frame(FrameError),
    /// The daemon refused the request instead of answering it with `Done`.
    Refused {
        /// Its reason.
        kind: FailureKind,
        /// Its explanation.
        message: String,
    },
    /// A text to show contains a NUL byte, which PAM cannot carry.
    NulInText,
    /// The conversation went on for more than this many messages.
    TooManySteps(usize),
    /// The daemon asked to strip more of the password field than it was sent, a second
    /// time, or without being sent one (`code_in_password`).
    BadStrip {
        /// Bytes it asked to strip.
        bytes: u16,
        /// Bytes of the field's end it was sent.
        sent: usize,
    },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Frame(e) => write!(f, "{e}"),
            ProtocolError::Refused { kind, message } => {
                write!(f, "request refused ({kind:?}): {message}")
            }
            ProtocolError::NulInText => write!(f, "a text to show contains a NUL byte"),
            ProtocolError::TooManySteps(n) => write!(f, "no outcome after {n} messages"),
            ProtocolError::BadStrip { bytes, sent } => write!(
                f,
                "asked to strip {bytes} bytes off the password field, having been sent {sent} \
                 (or asked twice)"
            ),
        }
    }
}
