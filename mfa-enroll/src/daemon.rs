//! Connections to mfa-daemon, for mfa-enroll and mfactl.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mfa_proto::{Client, Request, Response, privileged_socket};

use crate::account::{runs_as_root, trusted_listeners};
use crate::error::EnrollError;

/// How long to wait for a reply. Generous: the daemon hashes recovery codes with argon2,
/// which takes about a second, longer on a busy host.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the daemon listens, and who may be listening there.
#[derive(Debug)]
pub struct Daemon {
    socket: PathBuf,
    trusted: Vec<u32>,
}

impl Daemon {
    /// The daemon for this process: root uses the privileged socket that goes with `public`
    /// (never the public one, which users can keep busy), others use `public`. Only a
    /// listener running as root or as `daemon_user` is talked to.
    pub fn for_caller(public: &Path, daemon_user: &str) -> Result<Self, EnrollError> {
        let socket = if runs_as_root() {
            privileged_socket(public)
        } else {
            public.to_owned()
        };
        Ok(Daemon::new(socket, trusted_listeners(daemon_user)?))
    }

    /// The daemon listening on `socket` as one of the uids in `trusted`.
    pub fn new(socket: PathBuf, trusted: Vec<u32>) -> Self {
        Daemon { socket, trusted }
    }

    /// Opens a new connection (one per management request, as the daemon expects), after
    /// checking who listens: nothing, not even the request, goes to anyone else.
    pub fn connect(&self) -> Result<Connection, EnrollError> {
        let client = Client::connect(&self.socket, REPLY_TIMEOUT).map_err(|source| {
            EnrollError::Unreachable {
                socket: self.socket.clone(),
                source,
            }
        })?;
        client
            .check_listener(&self.trusted)
            .map_err(|source| EnrollError::UntrustedListener {
                socket: self.socket.clone(),
                source,
            })?;
        Ok(Connection {
            client,
            socket: self.socket.clone(),
        })
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

    /// Waits up to `timeout` instead of [`REPLY_TIMEOUT`] for each reply from now on: for
    /// an answer that waits on a person elsewhere (a passkey link opened on a phone).
    pub fn wait_longer(&mut self, timeout: Duration) -> Result<(), EnrollError> {
        self.client
            .set_read_timeout(timeout)
            .map_err(|e| EnrollError::Connection {
                socket: self.socket.clone(),
                source: mfa_proto::FrameError::Io(e),
            })
    }

    /// Waits for one more reply to the request last sent (a list comes in several).
    pub fn next_reply(&mut self) -> Result<Response, EnrollError> {
        self.client
            .recv()
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
        Request::CodeInPassword { .. } => "code_in_password",
        Request::Answer { .. } => "answer",
        Request::EnrollTotp { .. } => "enroll_totp",
        Request::ConfirmTotp { .. } => "confirm_totp",
        Request::NewRecoveryCodes { .. } => "new_recovery_codes",
        Request::RemoveFactors { .. } => "remove_factors",
        Request::Status { .. } => "status",
        Request::Unlock { .. } => "unlock",
        Request::ListUsers => "list_users",
        Request::AddContact { .. } => "add_contact",
        Request::ConfirmContact { .. } => "confirm_contact",
        Request::RemoveContact { .. } => "remove_contact",
        Request::ForgetDevices { .. } => "forget_devices",
        Request::Exempt { .. } => "exempt",
        Request::RemoveTotp { .. } => "remove_totp",
        Request::Bypass { .. } => "bypass",
        Request::EnrollPasskey { .. } => "enroll_passkey",
        Request::RemovePasskey { .. } => "remove_passkey",
        Request::EnrollHotp { .. } => "enroll_hotp",
        Request::ConfirmHotp { .. } => "confirm_hotp",
        Request::RemoveHotp { .. } => "remove_hotp",
        Request::ResyncHotp { .. } => "resync_hotp",
        Request::Import { .. } => "import",
        Request::AddAppPassword { .. } => "add_app_password",
        Request::RemoveAppPassword { .. } => "remove_app_password",
        Request::AppPassword { .. } => "app_password",
    }
}

/// The wire name of a response, for messages; never its content, which may be secret.
fn response_name(response: &Response) -> &'static str {
    match response {
        Response::TotpEnrollment(_) => "totp_enrollment",
        Response::RecoveryCodes { .. } => "recovery_codes",
        Response::Status(_) => "status",
        Response::Users(_) => "users",
        Response::CodeSent { .. } => "code_sent",
        Response::ContactAdded(_) => "contact_added",
        Response::Ok { .. } => "ok",
        Response::BypassCode { .. } => "bypass_code",
        Response::Failed { .. } => "failed",
        Response::PasskeyLink { .. } => "passkey_link",
        Response::PasskeyEnrolled { .. } => "passkey_enrolled",
        Response::HotpEnrollment(_) => "hotp_enrollment",
        Response::Imported { .. } => "imported",
        Response::AppPassword { .. } => "app_password",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_proto::FailureKind;

    /// The uid this test process listens as, found without unsafe code: the owner of a
    /// file it creates.
    fn own_uid() -> u32 {
        use std::os::unix::fs::MetadataExt;
        let file = tempfile::NamedTempFile::new().unwrap();
        file.as_file().metadata().unwrap().uid()
    }

    #[test]
    fn only_a_trusted_listener_is_talked_to() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("mfa.sock");
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let me = own_uid();
        let other = me.wrapping_add(1);
        let err = Daemon::new(socket.clone(), vec![other])
            .connect()
            .unwrap_err();
        assert!(
            matches!(
                &err,
                EnrollError::UntrustedListener {
                    source: mfa_proto::ListenerError::Untrusted { uid },
                    ..
                } if *uid == me
            ),
            "{err}"
        );
        let text = err.to_string();
        assert!(text.contains(&socket.display().to_string()), "{text}");
        assert!(text.contains(&format!("uid {me}")), "{text}");
        assert!(text.contains("--daemon-user"), "{text}");
        // Nothing was sent before the check failed.
        let (mut stream, _) = listener.accept().unwrap();
        assert!(matches!(
            mfa_proto::read_frame::<_, Request>(&mut stream),
            Err(mfa_proto::FrameError::Closed)
        ));
        Daemon::new(socket, vec![other, me]).connect().unwrap();
    }

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
            &Request::Unlock {
                user: "bob".into(),
                source: None,
            },
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
