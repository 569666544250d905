//! A daemon that hangs up must not kill the process hosting the client: sshd, sudo and login
//! load the module and need not ignore SIGPIPE. This is its own test binary because it sets
//! SIGPIPE, which is process-wide, back to its default action (killing the process), where
//! the Rust runtime had set it to be ignored.

use std::io;
use std::os::unix::net::UnixListener;
use std::time::Duration;

use mfa_proto::{Client, FrameError, MAX_FRAME_LEN, Request, Secret};

#[test]
fn sending_to_a_closed_connection_is_an_error_not_sigpipe() {
    // SAFETY: SIG_DFL is a valid disposition for SIGPIPE, and no other test in this binary
    // depends on SIGPIPE being ignored.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(previous, libc::SIG_ERR);

    // Removed on drop, also when an assertion below fails.
    let dir = tempfile::Builder::new()
        .prefix("mfa-proto-hang-up-")
        .tempdir()
        .unwrap();
    let path = dir.path().join("s.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let mut client = Client::connect(&path, Duration::from_secs(5)).unwrap();
    let (daemon_end, _) = listener.accept().unwrap();
    drop(daemon_end);
    drop(listener);

    // Bigger than a socket buffer's share of one write, so that nothing can hide in it.
    let big = Request::Answer {
        text: Secret::from("7".repeat(MAX_FRAME_LEN - 64)),
    };
    let first = client.send(&big);
    let second = client.send(&big);
    for result in [&first, &second] {
        match result {
            Err(FrameError::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                ) => {}
            other => panic!("expected a hang-up error, got {other:?}"),
        }
    }
}
