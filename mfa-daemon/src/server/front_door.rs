//! The front ends' own sockets beside the public one: `web.sock` for `mfa-web` and
//! `radius.sock` for `mfa-radius`, each answered only for root and its front end's account.
//! Bound 0666 like the public socket, because the peer's uid, read at accept, is what
//! authorizes; every other uid is closed at once.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::sys::stat::{Mode, umask};
use tokio::net::UnixListener;

use super::connection_limits::{Budget, ConnectionLimits, Holder, RADIUS, WEB};
use super::{ServeError, accept, admit, bind_one};
use crate::app::Shared;
use crate::connection::{Caller, Connection, Door};
use crate::handlers;

/// Which front end a socket serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontEnd {
    /// `mfa-web`: enrollment links and approval pages (`handlers::web`).
    Web,
    /// `mfa-radius`: logins through RADIUS clients (`handlers::radius`).
    Radius,
}

impl FrontEnd {
    fn socket(self, public: &Path) -> PathBuf {
        match self {
            FrontEnd::Web => mfa_proto::web::web_socket(public),
            FrontEnd::Radius => mfa_proto::radius::radius_socket(public),
        }
    }

    /// The socket's name in log lines.
    pub fn name(self) -> &'static str {
        match self {
            FrontEnd::Web => "the web socket",
            FrontEnd::Radius => "the RADIUS socket",
        }
    }

    /// The front end's program.
    pub fn program(self) -> &'static str {
        match self {
            FrontEnd::Web => "mfa-web",
            FrontEnd::Radius => "mfa-radius",
        }
    }

    fn budget(self) -> Budget {
        match self {
            FrontEnd::Web => WEB,
            FrontEnd::Radius => RADIUS,
        }
    }

    fn door(self) -> Door {
        match self {
            FrontEnd::Web => Door::Public,
            FrontEnd::Radius => Door::Radius,
        }
    }
}

/// A bound front-end socket and whom it answers.
#[derive(Debug)]
pub struct FrontDoor {
    listener: std::os::unix::net::UnixListener,
    path: PathBuf,
    uid: u32,
    front_end: FrontEnd,
}

impl FrontDoor {
    /// Binds `front_end`'s socket beside `public_path`, for the front end running as `uid`.
    /// Call it while this is the only thread: the umask is process-wide.
    pub fn bind(
        public_path: &Path,
        uid: u32,
        front_end: FrontEnd,
    ) -> Result<FrontDoor, ServeError> {
        let path = front_end.socket(public_path);
        let previous = umask(Mode::from_bits_truncate(0o111));
        let listener = bind_one(&path);
        umask(previous);
        Ok(FrontDoor {
            listener: listener?,
            path,
            uid,
            front_end,
        })
    }

    /// Where it listens.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Which front end it serves.
    pub fn front_end(&self) -> FrontEnd {
        self.front_end
    }

    /// Starts answering on the runtime; the task ends with the daemon.
    pub(super) fn start(
        &self,
        shared: &Arc<Shared>,
    ) -> Result<tokio::task::JoinHandle<()>, ServeError> {
        let listener = self
            .listener
            .set_nonblocking(true)
            .and_then(|()| self.listener.try_clone())
            .and_then(UnixListener::from_std)
            .map_err(ServeError::Io)?;
        Ok(tokio::spawn(accept_front_end(
            shared.clone(),
            listener,
            self.uid,
            self.front_end,
        )))
    }

    /// Removes the socket file, if it is still ours.
    pub(super) fn remove(&self) {
        let ours = std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.file_type().is_socket());
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

async fn accept_front_end(
    shared: Arc<Shared>,
    listener: UnixListener,
    front_uid: u32,
    front_end: FrontEnd,
) {
    let limits = ConnectionLimits::new(front_end.budget());
    loop {
        let Some((stream, cred)) = accept(&shared, &listener).await else {
            continue;
        };
        let uid = cred.uid();
        if uid != 0 && uid != front_uid {
            shared.log_throttled(
                &format!("{}:{uid}", front_end.program()),
                format_args!(
                    "refusing uid {uid} on {}: only {} may use it",
                    front_end.name(),
                    front_end.program()
                ),
            );
            continue;
        }
        let Some(slot) = admit(
            &shared,
            &limits,
            &stream,
            Holder::User(uid),
            front_end.name(),
        ) else {
            continue;
        };
        let caller = Caller {
            uid,
            door: front_end.door(),
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let conn = Connection::new(stream, caller);
            match front_end {
                FrontEnd::Web => handlers::web::serve(shared, conn).await,
                FrontEnd::Radius => handlers::radius::serve(shared, conn).await,
            }
            drop(slot);
        });
    }
}
