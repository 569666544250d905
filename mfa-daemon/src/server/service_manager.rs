//! Tells systemd where the daemon is in its life (`Type=notify`): ready once both sockets
//! accept, so that sshd and the login services ordered after it never find no daemon at
//! boot; reloading around a SIGHUP; stopping on SIGTERM. Without `$NOTIFY_SOCKET` (started
//! by hand, by the tests or by another supervisor) nothing is sent and nothing is said.

use sd_notify::NotifyState;

/// Both sockets accept connections: systemd may start what is ordered after the daemon.
pub(crate) fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A SIGHUP reload begins. The monotonic time lets systemd 253 and newer tell this reload
/// from an earlier one; older versions ignore it.
pub(crate) fn reloading() {
    let mut states = vec![NotifyState::Reloading];
    if let Ok(now) = NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    send(&states);
}

/// The reload is over, whether the new config runs or the old one was kept: `status` says
/// which.
pub(crate) fn reloaded(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// SIGTERM or SIGINT: the daemon stops serving.
pub(crate) fn stopping() {
    send(&[NotifyState::Stopping]);
}

fn send(states: &[NotifyState]) {
    // Only reached with $NOTIFY_SOCKET set (the crate returns Ok without it): a failure
    // then means systemd will not hear of the change, which the journal should show.
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("cannot notify the service manager through $NOTIFY_SOCKET: {e}");
    }
}
