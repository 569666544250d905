//! The socket server: binds the sockets (or takes them from systemd), accepts connections,
//! reads peer credentials and hands each connection to the conversation it asks for.

pub(crate) mod connection_limits;
mod front_door;
mod peer_process;
mod service_manager;
pub mod socket_activation;

pub use front_door::{FrontDoor, FrontEnd};

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::stat::{Mode, umask};
use tokio::net::unix::UCred;
use tokio::net::{UnixListener, UnixStream};
use tokio::signal::unix::{SignalKind, signal};

use crate::app::Shared;
use crate::connection::{Caller, Connection, Door};
use crate::decisions::Deciders;
use crate::delivery::outbox::Outbox;
use crate::error::DaemonError;
use crate::handlers;
use crate::logging::Logging;
use crate::server::connection_limits::{
    Admission, ConnectionLimits, Holder, PRIVILEGED, PUBLIC, Refusal, Slot,
};
use crate::server::socket_activation::{ActivationError, PassedSockets};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The socket path is in use or unusable.
    #[error("{0}")]
    Socket(String),
    /// The sockets systemd passed are not the ones the config names.
    #[error("{0}")]
    Activation(#[source] ActivationError),
    /// Any other I/O error while setting up.
    #[error("{0}")]
    Io(#[source] io::Error),
}

/// The two sockets, ready before anything else starts.
#[derive(Debug)]
pub struct Listeners {
    public: std::os::unix::net::UnixListener,
    public_path: PathBuf,
    privileged: std::os::unix::net::UnixListener,
    privileged_path: PathBuf,
    origin: Origin,
}

/// Who made the socket files, and so who removes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// The daemon bound them and removes them when it stops.
    Bound,
    /// systemd's socket units hold them; they stay, still queueing connections, after the
    /// daemon stops.
    Passed,
}

impl Listeners {
    /// The sockets systemd passed (socket activation), checked against the config's socket
    /// path, or else both bound here as [`Listeners::bind`] does. Call this before any other
    /// thread starts.
    pub fn open(public_path: &Path, passed: PassedSockets) -> Result<Listeners, ServeError> {
        let privileged_path = mfa_proto::privileged_socket(public_path);
        let Some((public, privileged)) = passed
            .take(public_path, &privileged_path)
            .map_err(ServeError::Activation)?
        else {
            return Listeners::bind(public_path);
        };
        // The same trust as when binding: root's socket is reachable only through a 0700
        // directory of the daemon's own, whoever made it (tmpfiles.d, see mfa.tmpfiles).
        if let Some(private_dir) = privileged_path.parent() {
            check_private_directory(private_dir)?;
        }
        Ok(Listeners {
            public,
            public_path: public_path.to_owned(),
            privileged,
            privileged_path,
            origin: Origin::Passed,
        })
    }

    /// Binds the public socket (mode 0666: every request is authorized by the peer's uid)
    /// and the privileged one beside it in `private/` (directory 0700 and socket 0600: only
    /// root can connect, like SSSD's private pipes). Modes are set by the umask at `bind`,
    /// so no socket is ever reachable with looser permissions than its own. Call this
    /// before any other thread starts: the umask is process-wide.
    pub fn bind(public_path: &Path) -> Result<Listeners, ServeError> {
        let privileged_path = mfa_proto::privileged_socket(public_path);
        if let Some(parent) = public_path.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .map_err(|e| {
                    ServeError::Socket(format!("cannot create {}: {e}", parent.display()))
                })?;
        }
        if let Some(private_dir) = privileged_path.parent() {
            private_directory(private_dir)?;
        }
        let previous = umask(Mode::from_bits_truncate(0o111));
        let public = bind_one(public_path);
        umask(Mode::from_bits_truncate(0o177));
        let privileged = bind_one(&privileged_path);
        umask(previous);
        let public = public?;
        let privileged = match privileged {
            Ok(listener) => listener,
            Err(e) => {
                let _ = fs::remove_file(public_path);
                return Err(e);
            }
        };
        Ok(Listeners {
            public,
            public_path: public_path.to_owned(),
            privileged,
            privileged_path,
            origin: Origin::Bound,
        })
    }

    /// Removes the socket files the daemon made; systemd's stay, so that connections made
    /// while no daemon runs wait for the next one.
    fn remove(&self) {
        if self.origin == Origin::Bound {
            let _ = fs::remove_file(&self.public_path);
            let _ = fs::remove_file(&self.privileged_path);
        }
    }
}

/// Where the config came from, to read it again on SIGHUP.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    /// The file.
    pub path: PathBuf,
    /// Whether a missing file means the defaults (the default path, not given explicitly).
    pub default_if_missing: bool,
    /// The log, whose level follows the reloaded config's `log_level`.
    pub logging: Logging,
}

/// Serves until SIGTERM or SIGINT; SIGHUP reloads the config.
pub async fn serve(
    decisions: Deciders,
    outbox: Outbox,
    listeners: Listeners,
    source: ConfigSource,
    web: Option<(FrontDoor, crate::web::Web)>,
    radius: Option<FrontDoor>,
) -> Result<(), ServeError> {
    let into_tokio = |l: &std::os::unix::net::UnixListener| {
        l.set_nonblocking(true)
            .and_then(|()| l.try_clone())
            .and_then(UnixListener::from_std)
            .map_err(ServeError::Io)
    };
    let public = into_tokio(&listeners.public)?;
    let privileged = into_tokio(&listeners.privileged)?;
    let (web_door, web) = web.unzip();
    let doors: Vec<FrontDoor> = web_door.into_iter().chain(radius).collect();
    let shared = Arc::new(Shared::new(decisions, outbox).with_web(web));
    let mut sigterm = signal(SignalKind::terminate()).map_err(ServeError::Io)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(ServeError::Io)?;
    let mut sighup = signal(SignalKind::hangup()).map_err(ServeError::Io)?;
    if !peer_process::can_see_other_processes() {
        tracing::warn!(
            "cannot read other users' processes in /proc (hidepid, or systemd's \
             ProtectProc=invisible): every caller on root's socket counts as unidentified and \
             they share one share of {} connections, sshd included",
            PRIVILEGED.share
        );
    }
    let privileged_task = tokio::spawn(accept_privileged(shared.clone(), privileged));
    let public_task = tokio::spawn(accept_public(shared.clone(), public));
    let mut door_tasks = Vec::with_capacity(doors.len());
    for door in &doors {
        tracing::info!(
            "{}'s requests on {}",
            door.front_end().program(),
            door.path().display()
        );
        door_tasks.push(door.start(&shared)?);
    }
    let from = match listeners.origin {
        Origin::Bound => "",
        Origin::Passed => ", sockets passed by the service manager",
    };
    let listening = format!(
        "listening on {} (root's callers: {}{from})",
        listeners.public_path.display(),
        listeners.privileged_path.display()
    );
    tracing::info!("{listening}");
    // Both sockets were bound and listening before this function began, so a client that
    // connects from now on is queued until its door's task accepts it.
    service_manager::ready(&listening);
    loop {
        tokio::select! {
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
            _ = sighup.recv() => reload(&shared, &source).await,
        }
    }
    service_manager::stopping();
    privileged_task.abort();
    public_task.abort();
    for (task, door) in door_tasks.into_iter().zip(&doors) {
        task.abort();
        door.remove();
    }
    listeners.remove();
    tracing::info!("stopped");
    Ok(())
}

/// Reads the config again (SIGHUP) and says how that went, to the log and to systemd. A
/// refused config leaves the running one in place, its log level too.
async fn reload(shared: &Arc<Shared>, source: &ConfigSource) {
    service_manager::reloading();
    let (app, from) = (shared.clone(), source.clone());
    let done = tokio::task::spawn_blocking(move || app.reload(&from.path, from.default_if_missing))
        .await
        .unwrap_or_else(|e| Err(crate::app::ReloadError::Interrupted(e)));
    let status = match done {
        Ok(()) => {
            source.logging.follow(shared.decisions.config().log_level);
            let status = format!("reloaded {}", source.path.display());
            tracing::info!("{status}");
            status
        }
        Err(e) => {
            let status = format!("kept the running config, the new one is refused: {e}");
            tracing::error!("{status}");
            status
        }
    };
    service_manager::reloaded(&status);
}

/// Root's door: its own accept task and connection budget, so nothing done on the public
/// socket can delay it. A peer that is not root is closed at once. Root's callers are
/// budgeted by whom they serve (see `peer_process`): a user's setuid `su` prompts count
/// against that user, and sshd before the session keeps a reserve no user can take.
async fn accept_privileged(shared: Arc<Shared>, listener: UnixListener) {
    let limits = ConnectionLimits::new(PRIVILEGED);
    loop {
        let Some((stream, cred)) = accept(&shared, &listener).await else {
            continue;
        };
        let uid = cred.uid();
        if uid != 0 {
            shared.log_throttled(
                &format!("privileged:{uid}"),
                format_args!("refusing uid {uid} on the privileged socket: only root may use it"),
            );
            continue;
        }
        let holder = peer_process::holder_of(cred.pid());
        let Some(slot) = admit(&shared, &limits, &stream, holder, "root's socket") else {
            continue;
        };
        let caller = Caller {
            uid,
            door: Door::Privileged,
        };
        spawn_conversation(&shared, stream, caller, slot);
    }
}

/// Everyone's door: each uid has its share of a total. A connection beyond its uid's share
/// is refused at once, with a message written without waiting (no slot is held for it); when
/// the total is reached, the uid holding the most connections gives one up instead of the
/// newcomer being refused.
async fn accept_public(shared: Arc<Shared>, listener: UnixListener) {
    let limits = ConnectionLimits::new(PUBLIC);
    loop {
        let Some((stream, cred)) = accept(&shared, &listener).await else {
            continue;
        };
        let uid = cred.uid();
        let Some(slot) = admit(&shared, &limits, &stream, Holder::User(uid), "the socket") else {
            continue;
        };
        let caller = Caller {
            uid,
            door: Door::Public,
        };
        spawn_conversation(&shared, stream, caller, slot);
    }
}

/// A slot for a new connection from `holder`, logging whose connection gave way for it; or
/// `None` after telling the peer why it is refused.
fn admit(
    shared: &Shared,
    limits: &Arc<ConnectionLimits>,
    stream: &UnixStream,
    holder: Holder,
    socket: &str,
) -> Option<Slot> {
    match limits.admit(holder) {
        Ok(Admission { slot, evicted_from }) => {
            if let Some(evicted) = evicted_from {
                shared.log_throttled(
                    &format!("evict:{evicted}"),
                    format_args!(
                        "{socket} is full: closing a connection of {evicted}, which holds the \
                         most, to serve {holder}"
                    ),
                );
            }
            Some(slot)
        }
        Err(refusal) => {
            refuse_busy(shared, stream, holder, refusal);
            None
        }
    }
}

/// Serves one connection on its own task; its `slot` is given back when the conversation
/// ends, and through it the budget can end the conversation early (see `Eviction`).
fn spawn_conversation(shared: &Arc<Shared>, stream: UnixStream, caller: Caller, slot: Slot) {
    let shared = shared.clone();
    tokio::spawn(async move {
        let connection = Connection::new(stream, caller).evictable(slot.eviction());
        handlers::serve(shared, connection).await;
        drop(slot);
    });
}

/// The next connection and its peer's credentials; `None` (after a pause for errors such as
/// running out of descriptors) when there is none to serve.
async fn accept(shared: &Shared, listener: &UnixListener) -> Option<(UnixStream, UCred)> {
    match listener.accept().await {
        Ok((stream, _)) => match stream.peer_cred() {
            Ok(cred) => Some((stream, cred)),
            Err(e) => {
                shared.log_throttled(
                    "peer_cred",
                    format_args!("cannot read peer credentials: {e}"),
                );
                None
            }
        },
        Err(e) => {
            shared.log_throttled("accept", format_args!("accept failed: {e}"));
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

/// Tells a caller that gets no slot why it is turned away and closes: the frame fits in an
/// empty socket buffer, so it is written at once or not at all, never waited for.
fn refuse_busy(shared: &Shared, stream: &UnixStream, holder: Holder, refusal: Refusal) {
    let message = match refusal {
        Refusal::OverShare => {
            shared.log_throttled(
                &format!("share:{holder}"),
                format_args!("refusing a connection from {holder}: it already holds its share"),
            );
            format!("too many open connections from {holder}; close some and try again")
        }
        Refusal::Full => {
            shared.log_throttled(
                &format!("full:{holder}"),
                format_args!(
                    "refusing a connection from {holder}: every slot is taken and no caller \
                     holds more than it"
                ),
            );
            "too many open connections to the daemon; try again later".to_owned()
        }
    };
    if let Ok(frame) = mfa_proto::encode(&DaemonError::BadRequest(message).response()) {
        let _ = stream.try_write(&frame);
    }
}

/// Makes the directory of the privileged socket: 0700 and the daemon's own.
fn private_directory(dir: &Path) -> Result<(), ServeError> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(ServeError::Socket(format!(
                "cannot create {}: {e}",
                dir.display()
            )));
        }
    }
    check_private_directory(dir)
}

/// The directory of the privileged socket must be a directory of the daemon's own, and is
/// made 0700 if it is looser. One owned by anyone else is refused, since its owner could swap
/// the socket.
fn check_private_directory(dir: &Path) -> Result<(), ServeError> {
    let refuse = |why: &str| Err(ServeError::Socket(format!("{}: {why}", dir.display())));
    let meta = match fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) => return refuse(&e.to_string()),
    };
    if !meta.is_dir() {
        return refuse("is not a directory (a symlink or file is not accepted)");
    }
    let own = nix::unistd::geteuid().as_raw();
    if meta.uid() != own {
        return refuse(&format!(
            "is owned by uid {}, not by the daemon's uid {own}; remove it (under systemd, \
             mfa.tmpfiles makes it 0700 for the daemon's user before the sockets are bound)",
            meta.uid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        if let Err(e) = fs::set_permissions(dir, fs::Permissions::from_mode(0o700)) {
            return refuse(&format!("is not 0700 and cannot be made so: {e}"));
        }
    }
    Ok(())
}

fn bind_one(path: &Path) -> Result<std::os::unix::net::UnixListener, ServeError> {
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
    std::os::unix::net::UnixListener::bind(path)
        .map_err(|e| ServeError::Socket(format!("cannot listen on {}: {e}", path.display())))
}
