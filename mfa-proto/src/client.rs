//! Blocking client: one connection, timeouts on connect, read and write, no threads.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};

use crate::frame::{FrameError, read_frame, write_frame};
use crate::message::{Request, Response};

/// Where the daemon listens unless configured otherwise.
pub const DEFAULT_SOCKET: &str = "/run/mfa/mfa.sock";
/// Connect, read and write timeout unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to the daemon.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
}

impl Client {
    /// Connects to the daemon's socket. Every later read and write on the connection times
    /// out after `timeout`.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Client, FrameError> {
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        let addr = SockAddr::unix(path)?;
        socket.connect_timeout(&addr, timeout)?;
        let stream = UnixStream::from(OwnedFd::from(socket));
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Client { stream })
    }

    /// Changes the read timeout, for answers that wait on a person rather than the daemon.
    pub fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(Some(timeout))
    }

    /// Sends one request.
    pub fn send(&mut self, req: &Request) -> Result<(), FrameError> {
        write_frame(&mut self.stream, req)
    }

    /// Reads the daemon's next message.
    pub fn recv(&mut self) -> Result<Response, FrameError> {
        read_frame(&mut self.stream)
    }

    /// Sends a request and reads one response.
    pub fn call(&mut self, req: &Request) -> Result<Response, FrameError> {
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
            .call(&Request::Status {
                user: "alice".into(),
            })
            .unwrap_err();
        assert!(matches!(err, FrameError::Timeout), "{err}");
    }
}
