//! What the authentication flow needs from PAM and the host, as a trait: `ffi` implements it
//! over the real handle and system calls, the tests over a fake one.

use std::ffi::CStr;
use std::fmt;

use mfa_proto::Secret;
use pam::constants::PamResultCode;
use zeroize::Zeroizing;

/// The PAM items the module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PamItem {
    /// `PAM_SERVICE`.
    Service,
    /// `PAM_USER`.
    User,
    /// `PAM_RHOST`.
    RHost,
    /// `PAM_TTY`.
    Tty,
    /// `PAM_RUSER`.
    RUser,
}

impl PamItem {
    /// The item's name in PAM's documentation, for messages.
    pub fn name(self) -> &'static CStr {
        match self {
            PamItem::Service => c"PAM_SERVICE",
            PamItem::User => c"PAM_USER",
            PamItem::RHost => c"PAM_RHOST",
            PamItem::Tty => c"PAM_TTY",
            PamItem::RUser => c"PAM_RUSER",
        }
    }
}

/// How a message is shown to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// `PAM_TEXT_INFO`.
    Info,
    /// `PAM_ERROR_MSG`.
    Error,
}

/// Syslog priority of a log line (the facility is PAM's: authpriv).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// `LOG_ERR`: the module could not do its job.
    Error,
    /// `LOG_NOTICE`: the user went away or gave something unusable.
    Notice,
    /// `LOG_DEBUG`: conversation steps, with the `debug` option.
    Debug,
}

/// A PAM item or environment variable could not be read.
#[derive(Debug)]
pub struct ItemError {
    /// Name of the item (`PAM_RHOST`) or variable (`SSH_AUTH_INFO_0`).
    pub name: &'static CStr,
    /// What went wrong.
    pub problem: ItemProblem,
}

/// What went wrong reading a PAM item.
#[derive(Debug)]
pub enum ItemProblem {
    /// A required item is not set.
    Missing,
    /// The value is not UTF-8 and cannot be sent to the daemon.
    NotUtf8,
    /// PAM refused to give the item.
    Pam(PamResultCode),
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name.to_string_lossy();
        match &self.problem {
            ItemProblem::Missing => write!(f, "{name} is not set"),
            ItemProblem::NotUtf8 => write!(f, "{name} is not valid UTF-8"),
            ItemProblem::Pam(code) => write!(f, "cannot read {name}: {code:?}"),
        }
    }
}

impl std::error::Error for ItemError {}

/// The conversation with the user failed.
#[derive(Debug)]
pub enum ConvError {
    /// The application registered no conversation function.
    NoConversation,
    /// The conversation function (or PAM) returned this error.
    Pam(PamResultCode),
    /// The application returned no answer to a prompt.
    NoAnswer,
    /// The answer is not UTF-8.
    AnswerNotUtf8,
}

impl fmt::Display for ConvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConvError::NoConversation => write!(f, "the application has no conversation function"),
            ConvError::Pam(code) => write!(f, "the conversation failed with {code:?}"),
            ConvError::NoAnswer => write!(f, "the application returned no answer to a prompt"),
            ConvError::AnswerNotUtf8 => write!(f, "the answer is not valid UTF-8"),
        }
    }
}

impl std::error::Error for ConvError {}

/// The PAM and host services the authentication flow uses.
pub trait PamHandler {
    /// A string item, `None` when unset.
    fn item(&mut self, item: PamItem) -> Result<Option<String>, ItemError>;

    /// `pam_get_user`: the user, asking the application (or the user) when `PAM_USER` is
    /// unset. Errors are the PAM codes `pam_get_user` returned.
    fn get_user(&mut self) -> Result<String, PamResultCode>;

    /// `pam_getenv`: a variable of the PAM environment, `None` when unset.
    fn env(&mut self, name: &'static CStr) -> Result<Option<String>, ItemError>;

    /// Shows a prompt (`PAM_PROMPT_ECHO_ON` when `echo`, else `PAM_PROMPT_ECHO_OFF`) and
    /// returns the answer, which is wiped when dropped.
    fn prompt(&mut self, text: &str, echo: bool) -> Result<Secret, ConvError>;

    /// Shows a prompt with echo off and returns the answer as bytes (a Unix password need
    /// not be UTF-8), wiped when dropped.
    fn prompt_bytes(&mut self, text: &str) -> Result<Zeroizing<Vec<u8>>, ConvError>;

    /// `PAM_AUTHTOK` as an earlier module set it, `None` when unset; wiped when dropped.
    fn authtok(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, ItemError>;

    /// Sets `PAM_AUTHTOK` (PAM keeps its own copy) for the modules after this one
    /// (`pam_unix use_first_pass`).
    fn set_authtok(&mut self, token: &[u8]) -> Result<(), ItemError>;

    /// Shows a message that needs no answer.
    fn show(&mut self, kind: MessageKind, text: &str) -> Result<(), ConvError>;

    /// `pam_syslog`. Never given anything the user typed.
    fn syslog(&mut self, level: LogLevel, message: &str);

    /// Whether the module runs with effective uid 0, as in sshd, sudo, login and su (a screen
    /// locker runs PAM as the user). Root's callers use the daemon's privileged socket.
    fn runs_as_root(&mut self) -> bool;

    /// The uids that may listen on the daemon's socket: root, and `daemon_user`'s uid when
    /// the user database knows it (root twice when it does not, or cannot be read). The
    /// user database is not asked when the `listener` is root.
    fn trusted_listeners(&mut self, daemon_user: &str, listener: u32) -> [u32; 2];
}
