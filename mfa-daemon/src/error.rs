//! One error type for everything a request can end in short of success, and the one
//! function that maps it to what the wire says ([`DaemonError::response`]).

use std::fmt;

use mfa_core::contact::ContactError;
use mfa_core::factor::recovery::RecoveryError;
use mfa_proto::{FailureKind, Response};

use crate::store::StoreError;

/// Why a request was refused or failed.
#[derive(Debug)]
pub enum DaemonError {
    /// The request is malformed or not valid at this point; the text says what is wrong.
    BadRequest(String),
    /// The caller may not do this; the text says who may.
    NotAuthorized(String),
    /// Nothing is enrolled that the request needs; the text says what.
    NotEnrolled(String),
    /// A factor exists: a current code or a recovery code must come with the request.
    ProofRequired(&'static str),
    /// The code given is wrong; the text says what to check.
    WrongCode(&'static str),
    /// Too many failures; the text says for how long.
    LockedOut(String),
    /// A phone number, address or label that cannot be used.
    Contact(ContactError),
    /// Too many codes sent; the text says until when.
    RateLimited(String),
    /// The policy forbids it (`min_factors`, `max_authenticators`); the text names the key.
    Policy(String),
    /// The code could not be sent; the text says why in words for the user (the provider's
    /// answer is logged, not sent).
    DeliveryFailed(&'static str),
    /// Storage failed.
    Store(StoreError),
    /// Recovery or bypass codes could not be made or hashed (random numbers, argon2).
    Hashing(RecoveryError),
    /// A new secret (an app's key, a sent code) could not be drawn: the random number
    /// generator failed.
    Random(getrandom::Error),
    /// The work's blocking task ended before it answered (it panicked).
    TaskFailed(tokio::task::JoinError),
    /// The connection could not be watched for the client going away.
    Watch(std::io::Error),
}

impl DaemonError {
    /// Whether this is a store out of reach (a shared database down), rather than a
    /// failure of this host.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, DaemonError::Store(e) if e.is_unavailable())
    }
}

/// What a user is told when a provider did not take a code.
pub const SEND_FAILED: &str =
    "the code could not be sent; nothing was saved (the daemon's log says why)";
/// What a user is told when no provider serves the channel.
pub const NO_PROVIDER: &str =
    "this host has no provider configured to send codes this way; ask the administrator";

impl DaemonError {
    /// The one mapping from errors to the wire: a `Failed{kind, message}` a person can act
    /// on. Internal errors say only that nothing changed; their cause goes to the log.
    pub fn response(&self) -> Response {
        let (kind, message) = match self {
            DaemonError::BadRequest(m) => (FailureKind::BadRequest, m.clone()),
            DaemonError::NotAuthorized(m) => (FailureKind::NotAuthorized, m.clone()),
            DaemonError::NotEnrolled(m) => (FailureKind::NotEnrolled, m.clone()),
            DaemonError::ProofRequired(m) => (FailureKind::ProofRequired, (*m).to_owned()),
            DaemonError::WrongCode(m) => (FailureKind::WrongCode, (*m).to_owned()),
            DaemonError::LockedOut(m) => (FailureKind::LockedOut, m.clone()),
            DaemonError::Contact(e) => (FailureKind::BadRequest, e.to_string()),
            DaemonError::RateLimited(m) => (FailureKind::RateLimited, m.clone()),
            DaemonError::Policy(m) => (FailureKind::Policy, m.clone()),
            DaemonError::DeliveryFailed(m) => (FailureKind::DeliveryFailed, (*m).to_owned()),
            DaemonError::Store(_)
            | DaemonError::Hashing(_)
            | DaemonError::Random(_)
            | DaemonError::TaskFailed(_)
            | DaemonError::Watch(_) => (
                FailureKind::Internal,
                "the daemon could not complete the request; nothing was changed (see its log)"
                    .to_owned(),
            ),
        };
        Response::Failed { kind, message }
    }

    /// Whether this is the daemon's own failure (logged), not a refusal of the request.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            DaemonError::Store(_)
                | DaemonError::Hashing(_)
                | DaemonError::Random(_)
                | DaemonError::TaskFailed(_)
                | DaemonError::Watch(_)
        )
    }
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonError::BadRequest(m)
            | DaemonError::NotAuthorized(m)
            | DaemonError::NotEnrolled(m)
            | DaemonError::LockedOut(m)
            | DaemonError::RateLimited(m)
            | DaemonError::Policy(m) => f.write_str(m),
            DaemonError::ProofRequired(m) | DaemonError::WrongCode(m) => f.write_str(m),
            DaemonError::Contact(e) => write!(f, "{e}"),
            DaemonError::DeliveryFailed(m) => f.write_str(m),
            DaemonError::Store(e) => write!(f, "{e}"),
            DaemonError::Hashing(e) => write!(f, "{e}"),
            DaemonError::Random(e) => write!(f, "random number generator failed: {e}"),
            DaemonError::TaskFailed(e) => write!(f, "a blocking task failed: {e}"),
            DaemonError::Watch(e) => write!(f, "cannot watch the connection: {e}"),
        }
    }
}

impl std::error::Error for DaemonError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DaemonError::Store(e) => Some(e),
            DaemonError::Contact(e) => Some(e),
            DaemonError::Hashing(e) => Some(e),
            DaemonError::TaskFailed(e) => Some(e),
            DaemonError::Watch(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for DaemonError {
    fn from(e: StoreError) -> Self {
        DaemonError::Store(e)
    }
}

impl From<RecoveryError> for DaemonError {
    fn from(e: RecoveryError) -> Self {
        DaemonError::Hashing(e)
    }
}

impl From<ContactError> for DaemonError {
    fn from(e: ContactError) -> Self {
        DaemonError::Contact(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_reveal_nothing_and_refusals_keep_their_words() {
        let io = StoreError::InvalidUser;
        let Response::Failed { kind, message } = DaemonError::Store(io).response() else {
            panic!()
        };
        assert_eq!(kind, FailureKind::Internal);
        assert!(!message.contains("invalid user"));
        let Response::Failed { kind, message } =
            DaemonError::Contact(ContactError::BadPhone).response()
        else {
            panic!()
        };
        assert_eq!(kind, FailureKind::BadRequest);
        assert!(message.contains("+14155550123"));
        let Response::Failed { kind, .. } = DaemonError::DeliveryFailed(SEND_FAILED).response()
        else {
            panic!()
        };
        assert_eq!(kind, FailureKind::DeliveryFailed);
    }
}
