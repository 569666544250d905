//! Stand-ins for the unit tests: a daemon on a scratch radius socket whose answers each test
//! scripts.

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use mfa_proto::radius::radius_socket;
use mfa_proto::{Request, Step, read_frame, write_frame};

use crate::daemon::Daemon;
use crate::login::Relay;

/// A daemon that accepts one connection and runs `script` on it.
pub(crate) struct FakeDaemon<T> {
    _dir: tempfile::TempDir,
    /// A relay to it.
    pub(crate) relay: Relay,
    thread: JoinHandle<T>,
}

impl<T: Send + 'static> FakeDaemon<T> {
    /// Listens and runs `script` on the first connection.
    pub(crate) fn start(
        script: impl FnOnce(&mut UnixStream) -> T + Send + 'static,
    ) -> FakeDaemon<T> {
        let dir = tempfile::tempdir().unwrap();
        let public = dir.path().join("mfa.sock");
        let listener = UnixListener::bind(radius_socket(&public)).unwrap();
        let thread = thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            script(&mut conn)
        });
        FakeDaemon {
            relay: relay(&public),
            _dir: dir,
            thread,
        }
    }

    /// What the script returned.
    pub(crate) fn join(self) -> T {
        self.thread.join().unwrap()
    }
}

/// A daemon that runs `script` on every connection, each in a thread, and counts them.
pub(crate) struct ServingDaemon {
    _dir: tempfile::TempDir,
    /// Its public socket (radius.sock is beside it).
    pub(crate) public: PathBuf,
    connections: Arc<AtomicUsize>,
}

impl ServingDaemon {
    /// Listens until the test ends.
    pub(crate) fn start(script: fn(&mut UnixStream)) -> ServingDaemon {
        let dir = tempfile::tempdir().unwrap();
        let public = dir.path().join("mfa.sock");
        let listener = UnixListener::bind(radius_socket(&public)).unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&connections);
        thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                thread::spawn(move || script(&mut conn));
            }
        });
        ServingDaemon {
            _dir: dir,
            public,
            connections,
        }
    }

    /// How many logins it was asked.
    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// A relay to it.
    pub(crate) fn relay(&self) -> Relay {
        relay(&self.public)
    }
}

/// A relay to the daemon whose public socket is `public`, trusting our own uid there.
pub(crate) fn relay(public: &Path) -> Relay {
    Relay {
        daemon: Daemon::new(public, vec![nix::unistd::geteuid().as_raw()]),
        answer_timeout: Duration::from_secs(5),
    }
}

/// The front end's next request.
pub(crate) fn recv(conn: &mut UnixStream) -> Request {
    read_frame(conn).unwrap()
}

/// Sends a step.
pub(crate) fn send(conn: &mut UnixStream, step: Step) {
    write_frame(conn, &step).unwrap();
}
