//! One client connection: framed messages with timeouts, and who is on the other end.

use std::time::Duration;

use mfa_proto::{FrameError, HEADER_LEN, Request};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// How long a client may take to send a message that a program (not a person) writes.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection and its peer's uid from SO_PEERCRED.
#[derive(Debug)]
pub struct Connection {
    stream: UnixStream,
    /// Effective uid of the peer when it connected.
    pub peer_uid: u32,
}

impl Connection {
    /// Wraps an accepted stream, reading its peer credentials.
    pub fn new(stream: UnixStream) -> std::io::Result<Connection> {
        let peer_uid = stream.peer_cred()?.uid();
        Ok(Connection { stream, peer_uid })
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
