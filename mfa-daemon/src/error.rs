//! One error type for everything a request can end in short of success, and the one
//! function that maps it to what the wire says ([`DaemonError::response`]).

use mfa_core::contact::ContactError;
use mfa_core::factor::recovery::RecoveryError;
use mfa_proto::{FailureKind, Response};

use crate::store::StoreError;

/// Why a request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The request is malformed or not valid at this point; the text says what is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// The caller may not do this; the text says who may.
    #[error("{0}")]
    NotAuthorized(String),
    /// Nothing is enrolled that the request needs; the text says what.
    #[error("{0}")]
    NotEnrolled(String),
    /// A factor exists: a current code or a recovery code must come with the request.
    #[error("{0}")]
    ProofRequired(&'static str),
    /// The code given is wrong; the text says what to check.
    #[error("{0}")]
    WrongCode(&'static str),
    /// Too many failures; the text says for how long.
    #[error("{0}")]
    LockedOut(String),
    /// A phone number, address or label that cannot be used.
    #[error("{0}")]
    Contact(#[from] ContactError),
    /// Too many codes sent; the text says until when.
    #[error("{0}")]
    RateLimited(String),
    /// The policy forbids it (`min_factors`, `max_authenticators`); the text names the key.
    #[error("{0}")]
    Policy(String),
    /// The code could not be sent; the text says why in words for the user (the provider's
    /// answer is logged, not sent).
    #[error("{0}")]
    DeliveryFailed(&'static str),
    /// Storage failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// Recovery or bypass codes could not be made or hashed (random numbers, argon2).
    #[error("{0}")]
    Hashing(#[from] RecoveryError),
    /// A new secret (an app's key, a sent code) could not be drawn: the random number
    /// generator failed.
    #[error("random number generator failed: {0}")]
    Random(getrandom::Error),
    /// The work's blocking task ended before it answered (it panicked).
    #[error("a blocking task failed: {0}")]
    TaskFailed(#[source] tokio::task::JoinError),
    /// The connection could not be watched for the client going away.
    #[error("cannot watch the connection: {0}")]
    Watch(#[source] std::io::Error),
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
