//! The socket server: binds the socket, accepts connections, reads peer credentials and
//! hands each connection to the conversation it asks for.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use mfa_proto::{FailureKind, FrameError, Request, Response};
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Semaphore;

use crate::audit::AuditLog;
use crate::authority::{Authority, AuthorityError};
use crate::connection::{Connection, REQUEST_TIMEOUT};
use crate::connection_limits::{ConnectionLimits, ROOT_CONNECTIONS, USER_CONNECTIONS};
use crate::{auth, manage};

/// How long a connection beyond its caller's share may take to send the request it is
/// refused.
const BUSY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Connections served at once (both pools of [`ConnectionLimits`]); more wait in the listen
/// backlog.
const MAX_CONNECTIONS: usize = ROOT_CONNECTIONS + USER_CONNECTIONS;

/// What every connection shares.
#[derive(Debug)]
pub struct Shared {
    /// Policy and state.
    pub authority: Authority,
    /// Audit events.
    pub audit: AuditLog,
    /// Bounds concurrent argon2 work (19 MiB and tens of ms each) to the number of cores.
    pub hashing: Semaphore,
}

impl Shared {
    /// Runs `work` on a blocking thread; a panic there becomes an internal error, never a
    /// crash of the daemon.
    pub async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Authority) -> Result<T, AuthorityError> + Send + 'static,
    ) -> Result<T, String> {
        let shared = self.clone();
        match tokio::task::spawn_blocking(move || work(&shared.authority)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("internal error: {e}")),
        }
    }

    /// Like [`Shared::blocking`], for work that runs argon2: at most one such job per core
    /// runs at once, which bounds both CPU and memory (19 MiB per hash) whatever the number
    /// of clients.
    pub async fn blocking_hashing<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Authority) -> Result<T, AuthorityError> + Send + 'static,
    ) -> Result<T, String> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| format!("internal error: {e}"))?;
        self.blocking(work).await
    }
}

/// Why the server could not start.
#[derive(Debug)]
pub enum ServeError {
    /// The socket path is in use or unusable.
    Socket(String),
    /// Any other I/O error while setting up.
    Io(io::Error),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Socket(why) => write!(f, "{why}"),
            ServeError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Serves until SIGTERM or SIGINT.
pub async fn serve(authority: Authority) -> Result<(), ServeError> {
    let socket_path = authority.config().socket.clone();
    let listener = bind(&socket_path)?;
    let shared = Arc::new(Shared {
        authority,
        audit: AuditLog::open(),
        hashing: Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())),
    });
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let limits = Arc::new(ConnectionLimits::default());
    let mut sigterm = signal(SignalKind::terminate()).map_err(ServeError::Io)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(ServeError::Io)?;
    eprintln!("mfa-daemon: listening on {}", socket_path.display());
    loop {
        let Ok(permit) = connections.clone().acquire_owned().await else {
            break;
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let shared = shared.clone();
                    let limits = limits.clone();
                    tokio::spawn(async move {
                        match Connection::new(stream) {
                            Ok(mut conn) => match limits.try_take(conn.peer_uid) {
                                Some(_slot) => handle(shared, conn).await,
                                None => refuse_busy(&mut conn).await,
                            },
                            Err(e) => eprintln!("mfa-daemon: cannot read peer credentials: {e}"),
                        }
                        drop(permit);
                    });
                }
                Err(e) => {
                    eprintln!("mfa-daemon: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
        }
    }
    let _ = fs::remove_file(&socket_path);
    eprintln!("mfa-daemon: stopped");
    Ok(())
}

fn bind(path: &Path) -> Result<UnixListener, ServeError> {
    if let Some(parent) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(|e| ServeError::Socket(format!("cannot create {}: {e}", parent.display())))?;
    }
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ServeError::Socket(format!(
                    "another mfa-daemon is already listening on {}",
                    path.display()
                )));
            }
            fs::remove_file(path).map_err(|e| {
                ServeError::Socket(format!(
                    "cannot remove stale socket {}: {e}",
                    path.display()
                ))
            })?;
        }
        Ok(_) => {
            return Err(ServeError::Socket(format!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            )));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(ServeError::Io(e)),
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| ServeError::Socket(format!("cannot listen on {}: {e}", path.display())))?;
    // Anyone may connect; every request is authorized by the peer's uid.
    fs::set_permissions(path, fs::Permissions::from_mode(0o666)).map_err(ServeError::Io)?;
    Ok(listener)
}

async fn handle(shared: Arc<Shared>, mut conn: Connection) {
    let request = match conn.read(REQUEST_TIMEOUT).await {
        Ok(request) => request,
        Err(FrameError::Closed) => return,
        Err(e) => return refuse_frame(&mut conn, &e).await,
    };
    let result = match request {
        Request::Authenticate { auth } => auth::authenticate(&shared, &mut conn, auth).await,
        Request::Answer { .. } | Request::ConfirmTotp { .. } => {
            conn.send(&bad_request(
                "this message only answers a prompt; start with a request",
            ))
            .await
        }
        other => manage::handle(&shared, &mut conn, other).await,
    };
    if let Err(e) = result {
        match e {
            FrameError::Closed | FrameError::Truncated => {}
            e => refuse_frame(&mut conn, &e).await,
        }
    }
}

/// Turns away a connection from a caller who already holds its share of connections.
async fn refuse_busy(conn: &mut Connection) {
    eprintln!(
        "mfa-daemon: refusing a connection from uid {}: it already holds its share",
        conn.peer_uid
    );
    // Answer the request rather than the bare connection, so the client is not writing into
    // a socket we already closed; a client that says nothing waits at most this long.
    let _ = conn.read(BUSY_READ_TIMEOUT).await;
    let message = format!(
        "too many open connections from uid {}; close some and try again",
        conn.peer_uid
    );
    let _ = conn.send(&bad_request(&message)).await;
}

/// Tells the peer what was wrong with its frame (best effort) before the connection closes.
async fn refuse_frame(conn: &mut Connection, e: &FrameError) {
    eprintln!(
        "mfa-daemon: closing connection from uid {}: {}",
        conn.peer_uid,
        loggable(e)
    );
    if !matches!(e, FrameError::Timeout | FrameError::Io(_)) {
        // The peer sent it, so the peer may see the parser's full explanation.
        let _ = conn.send(&bad_request(&e.to_string())).await;
    }
}

/// A frame error as it may appear in the log: the JSON parser's message can quote what was
/// sent (`invalid type: integer 123456`), and what was sent may be a code.
fn loggable(e: &FrameError) -> String {
    match e {
        FrameError::Malformed(_) => "malformed message (details go to the client only)".to_owned(),
        other => other.to_string(),
    }
}

/// A `Failed{bad_request}` response.
pub fn bad_request(message: &str) -> Response {
    Response::Failed {
        kind: FailureKind::BadRequest,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_messages_that_quote_input_are_not_logged() {
        let body = br#"{"v":1,"msg":{"answer":{"text":987654}}}"#;
        let err = mfa_proto::decode_body::<Request>(body).unwrap_err();
        assert!(
            err.to_string().contains("987654"),
            "premise: serde quotes input: {err}"
        );
        assert!(!loggable(&err).contains("987654"));
        let too_large = FrameError::TooLarge { len: 70_000 };
        assert_eq!(loggable(&too_large), too_large.to_string());
    }
}
