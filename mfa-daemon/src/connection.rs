//! One client connection: framed messages with timeouts, and who is on the other end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mfa_proto::{FrameError, HEADER_LEN, Request};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::Notify;

use crate::error::DaemonError;

/// How long a client may take to send a message that a program (not a person) writes.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Which socket a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// The privileged socket: only root (sshd, sudo, login, su) can connect.
    Privileged,
    /// The public socket: any local user.
    Public,
    /// The RADIUS socket: only `mfa-radius` (and root), which relays logins of any user
    /// through the RADIUS clients in `[radius]`; every login it starts is checked to name
    /// one of them (see `handlers::radius`).
    Radius,
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// Effective uid of the peer when it connected (SO_PEERCRED).
    pub uid: u32,
    /// The socket it came in on.
    pub door: Door,
}

impl Caller {
    /// Whose share of the store's connections this caller's work draws on.
    pub fn class(&self) -> crate::store::CallerClass {
        crate::store::CallerClass::of(self.uid)
    }

    /// Whether the caller may start logins of any user and name their source: root's
    /// callers (sshd, sudo, login) and `mfa-radius`, whose every login names a configured
    /// RADIUS client as its service and source.
    pub fn relays_for_anyone(&self) -> bool {
        self.uid == 0 || self.door == Door::Radius
    }

    /// Whether what the request says about the remote host and sshd's first step is the
    /// word of a root process that saw them (sshd): trusted for exempt networks, trusted
    /// devices and security keys. `mfa-radius` is not such a witness even when run as root:
    /// its source is a name and a caller id the RADIUS client chose.
    pub fn is_root_witness(&self) -> bool {
        self.uid == 0 && self.door != Door::Radius
    }
}

/// A connection and who is on the other end.
#[derive(Debug)]
pub struct Connection {
    stream: UnixStream,
    /// The peer and its door.
    pub caller: Caller,
    eviction: Option<Arc<Eviction>>,
}

/// The server's request that a conversation end, because its slot went to a caller who
/// held fewer connections (see `server::connection_limits`). It takes effect while the
/// conversation waits for its peer, for a first message or an answer at a prompt: the read
/// ends as if the peer had hung up, so the conversation ends the way it does for any client
/// that leaves, never in the middle of its own work.
#[derive(Debug, Default)]
pub struct Eviction {
    requested: AtomicBool,
    waiting: AtomicBool,
    notify: Notify,
}

impl Eviction {
    /// Asks the conversation to end at its current or next wait for the peer.
    pub(crate) fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        // Stores a permit when no read is waiting, so the next one sees it at once.
        self.notify.notify_one();
    }

    /// Whether [`Eviction::request`] was called.
    pub(crate) fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Whether the conversation is waiting for its peer now (the cheapest to end).
    pub(crate) fn is_waiting(&self) -> bool {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Marks the conversation as waiting for its peer until the guard is dropped.
    pub(crate) fn waiting(&self) -> Waiting<'_> {
        self.waiting.store(true, Ordering::SeqCst);
        Waiting(self)
    }
}

/// A conversation waiting for its peer; see [`Eviction::waiting`].
#[derive(Debug)]
pub(crate) struct Waiting<'a>(&'a Eviction);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.store(false, Ordering::SeqCst);
    }
}

impl Connection {
    /// Wraps an accepted stream whose peer credentials were read at accept.
    pub fn new(stream: UnixStream, caller: Caller) -> Connection {
        Connection {
            stream,
            caller,
            eviction: None,
        }
    }

    /// Lets the server end this conversation through `eviction` (see [`Eviction`]).
    pub(crate) fn evictable(self, eviction: Arc<Eviction>) -> Connection {
        Connection {
            eviction: Some(eviction),
            ..self
        }
    }

    /// A check, usable from a blocking thread, of whether the peer is still connected: it
    /// has not closed its end. A success is committed only while it answers yes.
    pub fn presence(&self) -> Result<Presence, DaemonError> {
        use std::os::fd::AsFd;
        let fd = self
            .stream
            .as_fd()
            .try_clone_to_owned()
            .map_err(DaemonError::Watch)?;
        Ok(Presence(fd))
    }

    /// Reads one request, waiting at most `timeout`. An eviction (see [`Eviction`]) ends
    /// the wait as [`FrameError::Closed`].
    pub async fn read(&mut self, timeout: Duration) -> Result<Request, FrameError> {
        self.read_as::<Request>(timeout).await
    }

    /// Like [`Connection::read`], for a message of another protocol (the web socket's).
    pub async fn read_as<T: serde::de::DeserializeOwned>(
        &mut self,
        timeout: Duration,
    ) -> Result<T, FrameError> {
        let Some(eviction) = self.eviction.clone() else {
            return self.read_within(timeout).await;
        };
        if eviction.is_requested() {
            return Err(FrameError::Closed);
        }
        let _waiting = eviction.waiting();
        tokio::select! {
            biased;
            () = eviction.notify.notified() => Err(FrameError::Closed),
            read = self.read_within(timeout) => read,
        }
    }

    async fn read_within<T: serde::de::DeserializeOwned>(
        &mut self,
        timeout: Duration,
    ) -> Result<T, FrameError> {
        tokio::time::timeout(timeout, self.read_frame())
            .await
            .unwrap_or(Err(FrameError::Timeout))
    }

    async fn read_frame<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, FrameError> {
        let mut header = [0u8; HEADER_LEN];
        match self.stream.read_exact(&mut header).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(FrameError::Closed);
            }
            Err(e) => return Err(e.into()),
        }
        let len = mfa_proto::decode_header(header)?;
        let mut body = zeroize::Zeroizing::new(vec![0u8; len]);
        self.stream.read_exact(&mut body).await?;
        mfa_proto::decode_body(&body)
    }

    /// Sends one message: a `Step` during an authentication, a `Response` otherwise.
    pub async fn send<T: Serialize>(&mut self, message: &T) -> Result<(), FrameError> {
        let bytes = mfa_proto::encode(message)?;
        tokio::time::timeout(REQUEST_TIMEOUT, self.stream.write_all(&bytes))
            .await
            .unwrap_or(Err(std::io::ErrorKind::TimedOut.into()))?;
        Ok(())
    }
}

/// A duplicate of a connection's descriptor, to ask whether the peer is still there.
#[derive(Debug)]
pub struct Presence(std::os::fd::OwnedFd);

impl Presence {
    /// Whether the peer still holds its end open. Never waits: nothing to read means it is
    /// still there, end of stream or an error means it has gone.
    pub fn still_there(&self) -> bool {
        use nix::sys::socket::{MsgFlags, recv};
        use std::os::fd::AsRawFd;
        let mut byte = [0u8; 1];
        match recv(
            self.0.as_raw_fd(),
            &mut byte,
            MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => e == nix::errno::Errno::EAGAIN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evictable_pair() -> (Connection, UnixStream, Arc<Eviction>) {
        let (ours, peer) = UnixStream::pair().expect("socket pair");
        let eviction = Arc::new(Eviction::default());
        let caller = Caller {
            uid: 1000,
            door: Door::Public,
        };
        let conn = Connection::new(ours, caller).evictable(eviction.clone());
        (conn, peer, eviction)
    }

    #[tokio::test]
    async fn an_eviction_ends_a_wait_for_the_peer_as_a_hang_up() {
        let (mut conn, _peer, eviction) = evictable_pair();
        let waiting = eviction.clone();
        let evict = tokio::spawn(async move {
            while !waiting.is_waiting() {
                tokio::task::yield_now().await;
            }
            waiting.request();
        });
        let read = conn.read(Duration::from_secs(3600)).await;
        assert!(matches!(read, Err(FrameError::Closed)), "{read:?}");
        evict.await.expect("evicting task");
        assert!(!eviction.is_waiting());
    }

    #[tokio::test]
    async fn an_eviction_while_busy_ends_the_next_wait() {
        let (mut conn, _peer, eviction) = evictable_pair();
        eviction.request();
        for _ in 0..2 {
            let read = conn.read(Duration::from_secs(3600)).await;
            assert!(matches!(read, Err(FrameError::Closed)), "{read:?}");
        }
    }

    #[tokio::test]
    async fn without_an_eviction_a_message_is_read() {
        let (mut conn, mut peer, eviction) = evictable_pair();
        let frame = mfa_proto::encode(&Request::ListUsers).expect("encode");
        peer.write_all(&frame).await.expect("write");
        let read = conn.read(Duration::from_secs(5)).await;
        assert!(matches!(read, Ok(Request::ListUsers)), "{read:?}");
        assert!(!eviction.is_waiting() && !eviction.is_requested());
    }
}
