//! Connections to mfa-daemon.

use std::path::PathBuf;
use std::time::Duration;

use mfa_proto::{Client, Request, Response};

use crate::error::EnrollError;

/// How long to wait for a reply. Generous: the daemon hashes recovery codes with argon2,
/// which takes about a second, longer on a busy host.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the daemon listens.
#[derive(Debug)]
pub struct Daemon {
    socket: PathBuf,
}

impl Daemon {
    /// The daemon listening on `socket`.
    pub fn new(socket: PathBuf) -> Self {
        Daemon { socket }
    }

    /// Opens a new connection (one per management request, as the daemon expects).
    pub fn connect(&self) -> Result<Connection, EnrollError> {
        match Client::connect(&self.socket, REPLY_TIMEOUT) {
            Ok(client) => Ok(Connection {
                client,
                socket: self.socket.clone(),
            }),
            Err(source) => Err(EnrollError::Unreachable {
                socket: self.socket.clone(),
                source,
            }),
        }
    }
}

/// One open connection.
#[derive(Debug)]
pub struct Connection {
    client: Client,
    socket: PathBuf,
}

impl Connection {
    /// Sends `request` and waits for the reply.
    pub fn call(&mut self, request: &Request) -> Result<Response, EnrollError> {
        self.client
            .call(request)
            .map_err(|source| EnrollError::Connection {
                socket: self.socket.clone(),
                source,
            })
    }
}

/// The error for a reply that is not the one hoped for: the daemon's refusal, or a reply that
/// does not fit `request` at all.
pub fn rejection(request: &Request, reply: Response) -> EnrollError {
    match reply {
        Response::Failed { kind, message } => EnrollError::Refused { kind, message },
        other => EnrollError::UnexpectedReply {
            request: request_name(request),
            reply: response_name(&other),
        },
    }
}

/// The wire name of a request, for messages.
fn request_name(request: &Request) -> &'static str {
    match request {
        Request::Authenticate { .. } => "authenticate",
        Request::Answer { .. } => "answer",
        Request::EnrollTotp { .. } => "enroll_totp",
        Request::ConfirmTotp { .. } => "confirm_totp",
        Request::NewRecoveryCodes { .. } => "new_recovery_codes",
        Request::RemoveFactors { .. } => "remove_factors",
        Request::Status { .. } => "status",
        Request::Unlock { .. } => "unlock",
    }
}

/// The wire name of a response, for messages; never its content, which may be secret.
fn response_name(response: &Response) -> &'static str {
    match response {
        Response::TotpEnrollment(_) => "totp_enrollment",
        Response::RecoveryCodes { .. } => "recovery_codes",
        Response::Status(_) => "status",
        Response::Ok { .. } => "ok",
        Response::Failed { .. } => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_proto::FailureKind;

    #[test]
    fn unexpected_reply_names_types_not_content() {
        let err = rejection(
            &Request::Status {
                user: "alice".into(),
            },
            Response::RecoveryCodes {
                codes: vec!["secret-code-1234".into()],
            },
        );
        let text = err.to_string();
        assert!(
            text.contains("status") && text.contains("recovery_codes"),
            "{text}"
        );
        assert!(!text.contains("secret-code"), "{text}");
    }

    #[test]
    fn refusal_carries_kind_and_message() {
        let err = rejection(
            &Request::Unlock { user: "bob".into() },
            Response::Failed {
                kind: FailureKind::NotAuthorized,
                message: "Only root may unlock accounts.".into(),
            },
        );
        assert!(matches!(
            err,
            EnrollError::Refused {
                kind: FailureKind::NotAuthorized,
                ..
            }
        ));
        assert_eq!(err.to_string(), "Only root may unlock accounts.");
    }
}
