//! Blocking client: one connection, timeouts on connect, read and write, no threads.
//!
//! It runs inside sshd, sudo and login, which need not ignore SIGPIPE: a daemon that hangs
//! up must give an error, never a signal that kills the host process. So every write is a
//! `send` with `MSG_NOSIGNAL`.

use std::io;
use std::path::Path;
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};

use crate::frame::{FrameError, encode, read_frame};
use serde::de::DeserializeOwned;

use crate::message::Request;

/// Where the daemon listens unless configured otherwise.
pub const DEFAULT_SOCKET: &str = "/run/mfa/mfa.sock";
/// Connect, read and write timeout unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to the daemon.
#[derive(Debug)]
pub struct Client {
    socket: Socket,
}

impl Client {
    /// Connects to the daemon's socket. Every later read and write on the connection times
    /// out after `timeout`. A listen queue that stays full for `timeout` is
    /// [`FrameError::Busy`].
    pub fn connect(path: &Path, timeout: Duration) -> Result<Client, FrameError> {
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.set_read_timeout(Some(timeout))?;
        // Set before connecting: a blocking connect to a Unix socket whose listen queue is
        // full waits up to the send timeout for room, then fails with EAGAIN. (A
        // non-blocking connect would fail at once, with no error to report.)
        socket.set_write_timeout(Some(timeout))?;
        let addr = SockAddr::unix(path)?;
        loop {
            match socket.connect(&addr) {
                Ok(()) => return Ok(Client { socket }),
                // An interrupted connect to a Unix socket leaves it unconnected: try again.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(FrameError::Busy),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Changes the read timeout, for answers that wait on a person rather than the daemon.
    pub fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.socket.set_read_timeout(Some(timeout))
    }

    /// Sends one request.
    pub fn send(&mut self, req: &Request) -> Result<(), FrameError> {
        let frame = encode(req)?;
        let mut unsent: &[u8] = &frame;
        while !unsent.is_empty() {
            match self.socket.send_with_flags(unsent, libc::MSG_NOSIGNAL) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                Ok(n) => unsent = unsent.get(n..).unwrap_or_default(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Reads the daemon's next message: a [`crate::Step`] during an authentication, a
    /// [`crate::Response`] after a management request.
    pub fn recv<T: DeserializeOwned>(&mut self) -> Result<T, FrameError> {
        read_frame(&mut self.socket)
    }

    /// Sends a request and reads one message.
    pub fn call<T: DeserializeOwned>(&mut self, req: &Request) -> Result<T, FrameError> {
        self.send(req)?;
        self.recv()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn temp_socket(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("mfa-proto-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("s.sock")
    }

    #[test]
    fn missing_socket_is_an_io_error() {
        let err = Client::connect(Path::new("/nonexistent/mfa.sock"), DEFAULT_TIMEOUT).unwrap_err();
        assert!(matches!(err, FrameError::Io(_)), "{err}");
    }

    #[test]
    fn silent_daemon_times_out() {
        let path = temp_socket("silent");
        let _listener = UnixListener::bind(&path).unwrap();
        let mut client = Client::connect(&path, Duration::from_millis(200)).unwrap();
        let err = client
            .call::<crate::Response>(&Request::Status {
                user: "alice".into(),
            })
            .unwrap_err();
        assert!(matches!(err, FrameError::Timeout), "{err}");
    }

    #[test]
    fn full_listen_queue_is_busy() {
        let path = temp_socket("busy");
        let listener = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
        listener.bind(&SockAddr::unix(&path).unwrap()).unwrap();
        listener.listen(0).unwrap();
        // Nothing is accepted: connections fill the queue until one cannot get in.
        let mut queued = Vec::new();
        let err = loop {
            match Client::connect(&path, Duration::from_millis(100)) {
                Ok(client) => queued.push(client),
                Err(err) => break err,
            }
            assert!(queued.len() < 100, "the listen queue never filled");
        };
        assert!(matches!(err, FrameError::Busy), "{err}");
        assert!(err.to_string().contains("listen queue"), "{err}");
    }
}
