//! The daemon's web socket: one connection per request, a deadline on each, and the
//! listener's uid checked before anything is sent, so that a process that bound the path in
//! the daemon's absence never sees what a browser sent.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mfa_proto::web::{WebRequest, WebResponse, web_socket};
use mfa_proto::{
    FrameError, HEADER_LEN, ListenerError, check_listener_uid, decode_body, decode_header, encode,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// How long one request may take, connecting included. The daemon answers from memory and
/// its store; a WebAuthn check is a signature verification.
pub(crate) const DAEMON_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the daemon is and whom to trust there.
#[derive(Debug, Clone)]
pub(crate) struct Daemon {
    socket: PathBuf,
    trusted: Vec<u32>,
    timeout: Duration,
}

/// Why the daemon could not be asked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DaemonError {
    /// Nothing listens there (the daemon is stopped), or the connection was refused.
    #[error("cannot connect to the daemon's web socket {}: {source}", socket.display())]
    Connect {
        socket: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Something listens there that is not the daemon.
    #[error("refusing the daemon's web socket {}: {source}", socket.display())]
    Listener {
        socket: PathBuf,
        #[source]
        source: ListenerError,
    },
    /// The exchange failed (closed, malformed, too large).
    #[error("the daemon's web socket: {0}")]
    Frame(#[from] FrameError),
    /// No answer in time.
    #[error("the daemon did not answer within {0:?}")]
    Timeout(Duration),
}

impl Daemon {
    /// The daemon whose public socket is `public`, trusted when it listens as one of
    /// `trusted` (root and the daemon's user).
    pub(crate) fn new(public: &Path, trusted: Vec<u32>, timeout: Duration) -> Daemon {
        Daemon {
            socket: web_socket(public),
            trusted,
            timeout,
        }
    }

    /// Sends `request` and reads the answer.
    pub(crate) async fn call(&self, request: &WebRequest) -> Result<WebResponse, DaemonError> {
        tokio::time::timeout(self.timeout, self.exchange(request))
            .await
            .map_err(|_| DaemonError::Timeout(self.timeout))?
    }

    async fn exchange(&self, request: &WebRequest) -> Result<WebResponse, DaemonError> {
        let mut stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| DaemonError::Connect {
                    socket: self.socket.clone(),
                    source,
                })?;
        let listener = stream
            .peer_cred()
            .map_err(ListenerError::Unreadable)
            .and_then(|cred| check_listener_uid(cred.uid(), &self.trusted));
        if let Err(source) = listener {
            return Err(DaemonError::Listener {
                socket: self.socket.clone(),
                source,
            });
        }
        let frame = encode(request)?;
        stream.write_all(&frame).await.map_err(FrameError::from)?;
        let mut header = [0u8; HEADER_LEN];
        stream.read_exact(&mut header).await.map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                FrameError::Closed
            } else {
                FrameError::from(e)
            }
        })?;
        let mut body = vec![0u8; decode_header(header)?];
        stream
            .read_exact(&mut body)
            .await
            .map_err(FrameError::from)?;
        Ok(decode_body(&body)?)
    }
}

/// The uids a listener on the web socket may run as: root, and the daemon's user when the
/// system knows it.
pub(crate) fn trusted_listeners() -> Vec<u32> {
    let mut trusted = vec![0];
    match nix::unistd::User::from_name(mfa_proto::DEFAULT_DAEMON_USER) {
        Ok(Some(user)) => trusted.push(user.uid.as_raw()),
        Ok(None) => tracing::warn!(
            "no user `{}`: only a daemon running as root is trusted on the web socket",
            mfa_proto::DEFAULT_DAEMON_USER
        ),
        Err(e) => tracing::warn!(
            "cannot look up user `{}` ({e}): only a daemon running as root is trusted",
            mfa_proto::DEFAULT_DAEMON_USER
        ),
    }
    trusted
}
