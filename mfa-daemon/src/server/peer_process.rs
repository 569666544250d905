//! Whom a connection on root's socket serves, read from the peer process's /proc entry.
//!
//! Every peer there is root (its effective uid), but not every one acts for root: a setuid
//! `su` or `sudo` started by a user asks on that user's behalf. The kernel keeps two facts a
//! user cannot forge: the real uid (a setuid program keeps its invoker's; only root can
//! change it) and the login uid (set once by pam_loginuid when a session starts, inherited
//! by everything in it). They decide the [`Holder`]:
//!
//! - real uid not 0: the invoking user. A user's login uid is not consulted here: one whose
//!   processes have none (started outside any session) could set it to anyone's.
//! - real uid 0 and a login uid: the user whose session this root process runs in (root in
//!   `sudo -s`, `su` run from a root shell, or root's own session).
//! - real uid 0 and no login uid: a root service outside any session, such as sshd before
//!   the session opens. It keeps the reserve.
//! - anything unreadable: [`Holder::Unidentified`], never the reserve.
//!
//! The race. The peer's pid comes from SO_PEERCRED (fixed at connect), and /proc is read
//! just after accept. If the process exited in between, its pid may have been reused, and
//! the entry read is another process's, possibly a service's. That is harmless: a process
//! that exits closes its end of the socket (pam_mfa.so opens it close-on-exec and the
//! programs that load it do not fork during authentication), so the misread connection is
//! already dead and its conversation ends at its first read, giving the slot back. A process
//! that execs keeps its real uid and login uid, so an exec does not change its holder;
//! a setuid program that makes itself real root (su, sudo after authenticating) has already
//! done what the reserve protects. Reading through a pidfd (SO_PEERPIDFD) would close the
//! window but needs Linux 6.5.
//!
//! It costs two small reads of procfs, no NSS lookup: this is on every login's path.

use std::fs::File;
use std::io::{self, Read};
use std::sync::OnceLock;

use crate::server::connection_limits::Holder;

/// The login uid of a process that has none (`(uid_t)-1`).
const NO_LOGIN_UID: u32 = u32::MAX;

/// More than /proc/PID/status's lines up to `Uid:` can take (the name before it is at most
/// 64 bytes once escaped); the rest of the file is not needed.
const STATUS_PREFIX: usize = 1024;

/// Whom the process `pid` serves (see the module's documentation). `None` or 0 (a peer in
/// another pid namespace) is unidentified.
pub(crate) fn holder_of(pid: Option<i32>) -> Holder {
    let Some(pid) = pid.filter(|pid| *pid > 0) else {
        return Holder::Unidentified;
    };
    let mut status = [0u8; STATUS_PREFIX];
    let Some(real) = read_prefix(&format!("/proc/{pid}/status"), &mut status)
        .ok()
        .and_then(real_uid)
    else {
        return Holder::Unidentified;
    };
    if real != 0 {
        return Holder::User(real);
    }
    if !kernel_has_login_uids() {
        // A kernel built without audit has no login uids at all: every root process is
        // outside a session as far as anyone can tell.
        return Holder::Service;
    }
    let mut login = [0u8; 16];
    match read_prefix(&format!("/proc/{pid}/loginuid"), &mut login)
        .ok()
        .and_then(login_uid)
    {
        Some(NO_LOGIN_UID) => Holder::Service,
        Some(uid) => Holder::User(uid),
        None => Holder::Unidentified,
    }
}

/// Whether this daemon can read other users' processes' /proc entries; where it cannot
/// (`hidepid`, systemd's `ProtectProc=invisible`), every caller on root's socket is
/// unidentified and shares one share. Read once at start to warn.
pub(crate) fn can_see_other_processes() -> bool {
    let mut status = [0u8; STATUS_PREFIX];
    read_prefix("/proc/1/status", &mut status).is_ok()
}

fn kernel_has_login_uids() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| std::path::Path::new("/proc/self/loginuid").exists())
}

/// Reads at most `buf.len()` bytes from the start of `path`.
fn read_prefix<'b>(path: &str, buf: &'b mut [u8]) -> io::Result<&'b [u8]> {
    let mut file = File::open(path)?;
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(&buf[..filled])
}

/// The first field of the `Uid:` line (real, effective, saved, filesystem).
fn real_uid(status: &[u8]) -> Option<u32> {
    status
        .split(|byte| *byte == b'\n')
        .find_map(|line| line.strip_prefix(b"Uid:"))
        .and_then(|fields| std::str::from_utf8(fields).ok())
        .and_then(|fields| fields.split_whitespace().next())
        .and_then(|real| real.parse().ok())
}

fn login_uid(text: &[u8]) -> Option<u32> {
    std::str::from_utf8(text).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SU_STATUS: &str = "Name:\tsu\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\n\
        Ngid:\t0\nPid:\t4242\nPPid:\t4100\nTracerPid:\t0\nUid:\t1000\t0\t0\t0\n\
        Gid:\t1000\t1000\t1000\t1000\nFDSize:\t64\n";

    #[test]
    fn the_real_uid_is_the_first_field_of_the_uid_line() {
        assert_eq!(real_uid(SU_STATUS.as_bytes()), Some(1000));
        assert_eq!(real_uid(b"Name:\tx\nUid:\t0\t0\t0\t0\n"), Some(0));
        assert_eq!(real_uid(b"Name:\tx\nGid:\t0\t0\t0\t0\n"), None);
        assert_eq!(real_uid(b"Uid:\t\n"), None);
        assert_eq!(real_uid(b"Uid:\tx\t0\n"), None);
        // A status cut short before its Uid line reads as unknown, not as root.
        assert_eq!(real_uid(&SU_STATUS.as_bytes()[..60]), None);
    }

    #[test]
    fn a_process_name_cannot_forge_the_uid_line() {
        // The kernel escapes a newline in the name, so "Uid:" can only start a line of its own.
        let status = "Name:\tx\\nUid:\t0\nUmask:\t0022\nUid:\t1000\t0\t0\t0\n";
        assert_eq!(real_uid(status.as_bytes()), Some(1000));
    }

    #[test]
    fn login_uids_read_as_numbers_and_unset_is_all_ones() {
        assert_eq!(login_uid(b"1000"), Some(1000));
        assert_eq!(login_uid(b"4294967295"), Some(NO_LOGIN_UID));
        assert_eq!(login_uid(b""), None);
        assert_eq!(login_uid(b"-1"), None);
    }

    #[test]
    fn a_missing_or_foreign_pid_is_unidentified() {
        assert_eq!(holder_of(None), Holder::Unidentified);
        assert_eq!(holder_of(Some(0)), Holder::Unidentified);
        // Above any pid_max the kernel allows (2^22).
        assert_eq!(holder_of(Some(1 << 23)), Holder::Unidentified);
    }

    #[test]
    fn this_process_is_read_like_any_other() {
        let me = std::process::id() as i32;
        let expected = match nix::unistd::getuid().as_raw() {
            0 => {
                let mut login = [0u8; 16];
                match read_prefix("/proc/self/loginuid", &mut login)
                    .ok()
                    .and_then(login_uid)
                {
                    Some(NO_LOGIN_UID) | None => Holder::Service,
                    Some(uid) => Holder::User(uid),
                }
            }
            uid => Holder::User(uid),
        };
        assert_eq!(holder_of(Some(me)), expected);
    }
}
