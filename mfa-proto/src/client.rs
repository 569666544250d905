//! Blocking client: one connection, timeouts on connect, read and write, no threads.
//!
//! It runs inside sshd, sudo and login, which need not ignore SIGPIPE: a daemon that hangs
//! up must give an error, never a signal that kills the host process. So every write is a
//! `send` with `MSG_NOSIGNAL`.
//!
//! The daemon listens on two sockets, like SSSD's public and `private/` pipes: the public
//! one, which every user can reach, and [`privileged_socket`] beside it, which only root can
//! reach. Root's callers (sshd, sudo, login, su, `mfa-enroll` run by root) use the privileged
//! one, so that nothing users do on the public socket can delay or deny their logins.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use socket2::{Domain, SockAddr, Socket, Type};

use crate::frame::{FrameError, encode, read_frame};
use serde::de::DeserializeOwned;

use crate::message::Request;

/// Where the daemon listens unless configured otherwise: its public socket.
pub const DEFAULT_SOCKET: &str = "/run/mfa/mfa.sock";
/// Connect, read and write timeout unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The account the daemon runs as unless configured otherwise; with root, the only uid a
/// client accepts as the listener on the daemon's sockets.
pub const DEFAULT_DAEMON_USER: &str = "mfa";
/// The directory beside the public socket that holds the privileged one, with its separator.
const PRIVATE_DIR: &str = "private/";

/// The privileged socket that goes with the public socket `public`: the same file name in a
/// `private` directory beside it, e.g. `/run/mfa/mfa.sock` → `/run/mfa/private/mfa.sock`.
/// The daemon makes that directory 0700 and the socket 0600, so only root can connect.
///
/// The file name is whatever follows the last `/` (a path with none gets `private/` in
/// front), so `public` must name a file, not end in `/`. Done on the bytes rather than with
/// `Path::parent` and `join`, whose component parsing would add about a kilobyte to the PAM
/// module.
pub fn privileged_socket(public: &Path) -> PathBuf {
    let public = public.as_os_str().as_bytes();
    let name_at = public
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |slash| slash + 1);
    let (dir, name) = public.split_at(name_at);
    let mut path = Vec::with_capacity(public.len() + PRIVATE_DIR.len());
    path.extend_from_slice(dir);
    path.extend_from_slice(PRIVATE_DIR.as_bytes());
    path.extend_from_slice(name);
    PathBuf::from(OsString::from_vec(path))
}

/// The process listening on the daemon's socket is not one the client may talk to.
#[derive(Debug)]
pub enum ListenerError {
    /// Its credentials could not be read.
    Unreadable(io::Error),
    /// It runs as this uid, which is neither root nor the daemon's user: whoever bound the
    /// socket path must not see what the user types or decide the outcome.
    Untrusted {
        /// The listener's uid.
        uid: u32,
    },
}

impl fmt::Display for ListenerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenerError::Unreadable(e) => write!(f, "cannot read the listener's uid: {e}"),
            ListenerError::Untrusted { uid } => write!(
                f,
                "the listener runs as uid {uid}, neither root nor the daemon's user"
            ),
        }
    }
}

impl std::error::Error for ListenerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ListenerError::Unreadable(e) => Some(e),
            ListenerError::Untrusted { .. } => None,
        }
    }
}

/// Whether a listener running as `uid` may be talked to: only when `trusted` holds its uid
/// (normally root and the daemon's user).
pub fn check_listener_uid(uid: u32, trusted: &[u32]) -> Result<(), ListenerError> {
    if trusted.contains(&uid) {
        Ok(())
    } else {
        Err(ListenerError::Untrusted { uid })
    }
}

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

    /// The uid of the process listening on the other end. On a connected Unix stream socket
    /// `SO_PEERCRED` gives the credentials the listener had when it called `listen`, so a
    /// client learns who it is talking to before it sends anything.
    pub fn peer_uid(&self) -> io::Result<u32> {
        Ok(getsockopt(&self.socket, PeerCredentials)?.uid())
    }

    /// Checks with [`check_listener_uid`] that the listener runs as one of `trusted`. Call it
    /// before sending anything.
    pub fn check_listener(&self, trusted: &[u32]) -> Result<(), ListenerError> {
        let uid = self.peer_uid().map_err(ListenerError::Unreadable)?;
        check_listener_uid(uid, trusted)
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
    ///
    /// A daemon that turns a connection away (too many from one uid) writes its reason at
    /// once and closes without reading, so the send fails with `EPIPE` or `ECONNRESET`. The
    /// reason is then already queued, and it is returned instead of that error.
    pub fn call<T: DeserializeOwned>(&mut self, req: &Request) -> Result<T, FrameError> {
        match self.send(req) {
            Ok(()) => self.recv(),
            Err(FrameError::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                ) =>
            {
                self.queued().ok_or(FrameError::Io(e))
            }
            Err(e) => Err(e),
        }
    }

    /// A whole message that is already queued, without waiting: after the daemon hung up, a
    /// partial frame will never be completed.
    fn queued<T: DeserializeOwned>(&mut self) -> Option<T> {
        self.socket.set_nonblocking(true).ok()?;
        let message = read_frame(&mut self.socket).ok();
        // The connection is useless after a hang-up; blocking again only keeps later calls
        // behaving as documented.
        let _ = self.socket.set_nonblocking(false);
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A socket path in a fresh directory, removed when the returned guard is dropped, also
    /// when an assertion fails (the test unwinds).
    fn temp_socket(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::Builder::new()
            .prefix(&format!("mfa-proto-{name}-"))
            .tempdir()
            .unwrap();
        let path = dir.path().join("s.sock");
        (dir, path)
    }

    #[test]
    fn temp_socket_dir_is_removed_after_a_failed_assertion() {
        let mut seen = None;
        let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let (_dir, path) = temp_socket("cleanup");
            let _listener = UnixListener::bind(&path).unwrap();
            seen = path.parent().map(Path::to_owned);
            panic!("a failed assertion");
        }));
        assert!(failed.is_err());
        let dir = seen.unwrap();
        assert!(!dir.exists(), "{} left behind", dir.display());
    }

    #[test]
    fn missing_socket_is_an_io_error() {
        let err = Client::connect(Path::new("/nonexistent/mfa.sock"), DEFAULT_TIMEOUT).unwrap_err();
        assert!(matches!(err, FrameError::Io(_)), "{err}");
    }

    #[test]
    fn silent_daemon_times_out() {
        let (_dir, path) = temp_socket("silent");
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
        let (_dir, path) = temp_socket("busy");
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

    #[test]
    fn privileged_socket_is_in_private_beside_the_public_one() {
        for (public, private) in [
            ("/run/mfa/mfa.sock", "/run/mfa/private/mfa.sock"),
            ("/tmp/x/other.sock", "/tmp/x/private/other.sock"),
            ("/mfa.sock", "/private/mfa.sock"),
            ("mfa.sock", "private/mfa.sock"),
            ("/run//mfa.sock", "/run//private/mfa.sock"),
        ] {
            assert_eq!(privileged_socket(Path::new(public)), Path::new(private));
        }
    }

    /// The uid this test process listens and connects as, without unsafe code: the owner of
    /// a file it creates.
    fn own_uid() -> u32 {
        use std::os::unix::fs::MetadataExt;
        let (_dir, socket) = temp_socket("own-uid");
        let path = socket.with_file_name("probe");
        std::fs::write(&path, b"").unwrap();
        std::fs::metadata(&path).unwrap().uid()
    }

    #[test]
    fn listener_uid_must_be_trusted() {
        assert!(check_listener_uid(0, &[0, 998]).is_ok());
        assert!(check_listener_uid(998, &[0, 998]).is_ok());
        assert!(check_listener_uid(0, &[0]).is_ok());
        for (uid, trusted) in [(1000, &[0, 998][..]), (998, &[0][..]), (0, &[998][..])] {
            let err = check_listener_uid(uid, trusted).unwrap_err();
            assert!(matches!(err, ListenerError::Untrusted { uid: u } if u == uid));
            assert!(err.to_string().contains(&format!("uid {uid}")), "{err}");
        }
    }

    #[test]
    fn peer_uid_is_the_listeners() {
        let (_dir, path) = temp_socket("peer-uid");
        let _listener = UnixListener::bind(&path).unwrap();
        let client = Client::connect(&path, DEFAULT_TIMEOUT).unwrap();
        let me = own_uid();
        assert_eq!(client.peer_uid().unwrap(), me);
        client.check_listener(&[me]).unwrap();
        let err = client.check_listener(&[me.wrapping_add(1)]).unwrap_err();
        assert!(
            matches!(err, ListenerError::Untrusted { uid } if uid == me),
            "{err}"
        );
    }

    #[test]
    fn refusal_written_at_accept_is_returned_instead_of_a_broken_pipe() {
        use std::io::Write;
        let (_dir, path) = temp_socket("refused-at-accept");
        let listener = UnixListener::bind(&path).unwrap();
        let refusal = crate::Response::Failed {
            kind: crate::FailureKind::BadRequest,
            message: "too many open connections from uid 1000; try again later".into(),
        };
        let sent = refusal.clone();
        let daemon = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(&encode(&sent).unwrap()).unwrap();
            // Closed without reading: the client's request is still unread, so its send
            // fails (EPIPE, or ECONNRESET once the unread data is dropped).
        });
        let mut client = Client::connect(&path, DEFAULT_TIMEOUT).unwrap();
        daemon.join().unwrap();
        // Bigger than the socket buffer, so that the send cannot succeed into it.
        let big = Request::Answer {
            text: crate::Secret::from("7".repeat(crate::MAX_FRAME_LEN - 64)),
        };
        let reply: crate::Response = client.call(&big).unwrap();
        assert_eq!(reply, refusal);
    }

    #[test]
    fn hang_up_without_a_message_stays_an_error() {
        let (_dir, path) = temp_socket("hang-up");
        let listener = UnixListener::bind(&path).unwrap();
        let mut client = Client::connect(&path, DEFAULT_TIMEOUT).unwrap();
        drop(listener.accept().unwrap());
        let big = Request::Answer {
            text: crate::Secret::from("7".repeat(crate::MAX_FRAME_LEN - 64)),
        };
        let err = client.call::<crate::Response>(&big).unwrap_err();
        assert!(
            matches!(&err, FrameError::Io(e) if matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            )),
            "{err:?}"
        );
    }
}
