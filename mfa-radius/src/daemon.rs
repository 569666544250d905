//! The daemon's radius socket: one connection per login, kept open while the RADIUS client
//! answers a challenge (the connection is the login, as for `pam_mfa.so`). The listener's
//! uid is checked before anything is sent, so that a process that bound the path in the
//! daemon's absence never sees a code.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mfa_proto::radius::radius_socket;
use mfa_proto::{
    FrameError, HEADER_LEN, ListenerError, Request, Step, check_listener_uid, decode_body,
    decode_header, encode,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use zeroize::Zeroizing;

/// How long connecting and the daemon's first answer may take.
pub(crate) const DAEMON_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the daemon is and whom to trust there.
#[derive(Debug, Clone)]
pub(crate) struct Daemon {
    socket: PathBuf,
    trusted: Vec<u32>,
}

/// Why a login could not be relayed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DaemonError {
    /// Nothing listens there (the daemon is stopped, or `[radius]` is not in its config).
    #[error("cannot connect to the daemon's radius socket {}: {source}", socket.display())]
    Connect {
        socket: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Something listens there that is not the daemon.
    #[error("refusing the daemon's radius socket {}: {source}", socket.display())]
    Listener {
        socket: PathBuf,
        #[source]
        source: ListenerError,
    },
    /// The exchange failed (closed, malformed, too large).
    #[error("the daemon's radius socket: {0}")]
    Frame(#[from] FrameError),
    /// No answer in time.
    #[error("the daemon did not answer within {0:?}")]
    Timeout(Duration),
}

impl Daemon {
    /// The daemon whose public socket is `public`, trusted when it listens as one of
    /// `trusted` (root and the daemon's user).
    pub(crate) fn new(public: &Path, trusted: Vec<u32>) -> Daemon {
        Daemon {
            socket: radius_socket(public),
            trusted,
        }
    }

    /// The radius socket's path.
    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }

    /// Connects and checks who listens.
    pub(crate) async fn connect(&self) -> Result<Login, DaemonError> {
        let connecting = UnixStream::connect(&self.socket);
        let stream = tokio::time::timeout(DAEMON_TIMEOUT, connecting)
            .await
            .map_err(|_| DaemonError::Timeout(DAEMON_TIMEOUT))?
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
        Ok(Login { stream })
    }
}

/// One login's connection to the daemon; dropping it ends the login (the daemon counts an
/// open question as abandoned).
#[derive(Debug)]
pub(crate) struct Login {
    stream: UnixStream,
}

impl Login {
    /// Sends one request (a frame holding a code is wiped once sent).
    pub(crate) async fn send(&mut self, request: &Request) -> Result<(), DaemonError> {
        let frame = encode(request)?;
        self.stream
            .write_all(&frame)
            .await
            .map_err(FrameError::from)?;
        Ok(())
    }

    /// Reads the daemon's next step, waiting at most `timeout`.
    pub(crate) async fn recv(&mut self, timeout: Duration) -> Result<Step, DaemonError> {
        tokio::time::timeout(timeout, self.read())
            .await
            .map_err(|_| DaemonError::Timeout(timeout))?
    }

    async fn read(&mut self) -> Result<Step, DaemonError> {
        let mut header = [0u8; HEADER_LEN];
        self.stream.read_exact(&mut header).await.map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                FrameError::Closed
            } else {
                FrameError::from(e)
            }
        })?;
        let mut body = Zeroizing::new(vec![0u8; decode_header(header)?]);
        self.stream
            .read_exact(&mut body)
            .await
            .map_err(FrameError::from)?;
        Ok(decode_body(&body)?)
    }
}

/// The uids a listener on the radius socket may run as: root, and the daemon's user when
/// the system knows it.
pub(crate) fn trusted_listeners() -> Vec<u32> {
    let mut trusted = vec![0];
    match nix::unistd::User::from_name(mfa_proto::DEFAULT_DAEMON_USER) {
        Ok(Some(user)) => trusted.push(user.uid.as_raw()),
        // A daemon run as root (no account of its own) is common and fine: not a warning.
        Ok(None) => tracing::debug!(
            "no user `{}`: only a daemon running as root is trusted on the radius socket",
            mfa_proto::DEFAULT_DAEMON_USER
        ),
        Err(e) => tracing::warn!(
            "cannot look up user `{}` ({e}): only a daemon running as root is trusted",
            mfa_proto::DEFAULT_DAEMON_USER
        ),
    }
    trusted
}
