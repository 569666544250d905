//! One client connection: framed messages with timeouts, and who is on the other end.

use std::time::Duration;

use mfa_proto::{FrameError, HEADER_LEN, Request};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

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
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// Effective uid of the peer when it connected (SO_PEERCRED).
    pub uid: u32,
    /// The socket it came in on.
    pub door: Door,
}

/// A connection and who is on the other end.
#[derive(Debug)]
pub struct Connection {
    stream: UnixStream,
    /// The peer and its door.
    pub caller: Caller,
}

impl Connection {
    /// Wraps an accepted stream whose peer credentials were read at accept.
    pub fn new(stream: UnixStream, caller: Caller) -> Connection {
        Connection { stream, caller }
    }

    /// A check, usable from a blocking thread, of whether the peer is still connected: it
    /// has not closed its end. A success is committed only while it answers yes.
    pub fn presence(&self) -> Result<Presence, DaemonError> {
        use std::os::fd::AsFd;
        let fd = self
            .stream
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| DaemonError::Internal(format!("cannot watch the connection: {e}")))?;
        Ok(Presence(fd))
    }

    /// Reads one request, waiting at most `timeout`.
    pub async fn read(&mut self, timeout: Duration) -> Result<Request, FrameError> {
        tokio::time::timeout(timeout, self.read_frame())
            .await
            .unwrap_or(Err(FrameError::Timeout))
    }

    async fn read_frame(&mut self) -> Result<Request, FrameError> {
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
