//! The web socket (`web.sock` beside the public one): `mfa-web`'s own door, answered only
//! for root and the `[web] user` account. Bound 0666 like the public socket, because the
//! peer's uid, read at accept, is what authorizes; every other uid is closed at once.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::sys::stat::{Mode, umask};
use tokio::net::UnixListener;

use super::connection_limits::{ConnectionLimits, Holder, WEB};
use super::{ServeError, accept, admit, bind_one};
use crate::app::Shared;
use crate::connection::{Caller, Connection, Door};
use crate::handlers;

/// The bound web socket and whom it answers.
#[derive(Debug)]
pub struct WebDoor {
    listener: std::os::unix::net::UnixListener,
    path: PathBuf,
    uid: u32,
}

impl WebDoor {
    /// Binds `web.sock` beside `public_path`, for `mfa-web` running as `uid`. Call it
    /// while this is the only thread: the umask is process-wide.
    pub fn bind(public_path: &Path, uid: u32) -> Result<WebDoor, ServeError> {
        let path = mfa_proto::web::web_socket(public_path);
        let previous = umask(Mode::from_bits_truncate(0o111));
        let listener = bind_one(&path);
        umask(previous);
        Ok(WebDoor {
            listener: listener?,
            path,
            uid,
        })
    }

    /// Where it listens.
    pub fn path(&self) -> &Path {
        &self.path
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
        Ok(tokio::spawn(accept_web(shared.clone(), listener, self.uid)))
    }

    /// Removes the socket file, if it is still ours.
    pub(super) fn remove(&self) {
        let ours = std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.file_type().is_socket());
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

async fn accept_web(shared: Arc<Shared>, listener: UnixListener, web_uid: u32) {
    let limits = ConnectionLimits::new(WEB);
    loop {
        let Some((stream, cred)) = accept(&shared, &listener).await else {
            continue;
        };
        let uid = cred.uid();
        if uid != 0 && uid != web_uid {
            shared.log_throttled(
                &format!("web:{uid}"),
                format_args!("refusing uid {uid} on the web socket: only mfa-web may use it"),
            );
            continue;
        }
        let Some(slot) = admit(
            &shared,
            &limits,
            &stream,
            Holder::User(uid),
            "the web socket",
        ) else {
            continue;
        };
        let caller = Caller {
            uid,
            door: Door::Public,
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            handlers::web::serve(shared, Connection::new(stream, caller)).await;
            drop(slot);
        });
    }
}
